"""Fixtures shared by the ticketing tests."""

import pytest

from tests.support import ticketing as tk


@pytest.fixture
def sale(db):
    """A published event with one £25 tier of 10 seats."""
    event = tk.event(db)
    general = tk.tier(db, event, name="General", price_minor=2500, capacity=10)
    return event, general
