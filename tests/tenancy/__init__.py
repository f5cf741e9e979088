"""Tests for tenancy and identity: migrations/*_tenancy.sql and policies/tenancy.sql."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from tests.support.pg import Db


class ArrangingDb(Db):
    """`Db` whose superuser arrangement (`sql`/`one`/`value`/`user`) reuses one
    connection instead of opening one per statement. Acting as a caller still
    gets a fresh connection and transaction every time, exactly as before."""

    def __init__(self, url: str):
        super().__init__(url)
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def sql(self, query: str, params: Any = None) -> list[dict]:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = self.connect()
            cur = self._conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
