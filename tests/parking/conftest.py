"""Parking tests arrange through one reused superuser connection per module (tests/support/pg.py), and
most share one car park per module (tests/support/parking.py)."""

from __future__ import annotations

import pytest

from tests.support.parking import car_park
from tests.support.pg import ArrangingDb


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def park(db) -> dict:
    return car_park(db)
