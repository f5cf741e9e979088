"""Member tests arrange through one reused superuser connection per module (tests/support/pg.py)."""

from __future__ import annotations

import pytest

from tests.support.pg import ArrangingDb


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()
