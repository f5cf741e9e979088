"""Chauffeur tests arrange through one reused superuser connection per module (tests/support/pg.py), and
most share one chauffeur company per module (tests/support/chauffeur.py)."""

from __future__ import annotations

import pytest

from tests.support.chauffeur import company
from tests.support.pg import ArrangingDb


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def firm(db) -> dict:
    return company(db)
