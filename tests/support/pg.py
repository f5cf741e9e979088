"""Acting on the test database exactly as PostgREST would.

`Db` wraps one test database: superuser SQL for arranging state, and
transactions that `set local role` + `request.jwt.claims` for asserting what
anon, a user or service_role may do. Nothing here bypasses RLS unless it says
`sql` (superuser) or `service`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from shared.platform import auth, users
from shared.platform.config import settings
from shared.platform.db import Caller, act_as


@dataclass(frozen=True)
class User:
    id: str
    email: str

    @property
    def caller(self) -> Caller:
        return Caller.user(self.id, self.email)

    @property
    def token(self) -> str:
        return auth.mint(settings(), role="authenticated", sub=self.id, email=self.email)

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


class Db:
    def __init__(self, url: str):
        self.url = url

    def connect(self, **kw: Any) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, row_factory=dict_row, **kw)

    # -- superuser arrangement ---------------------------------------------
    def sql(self, query: str, params: Any = None) -> list[dict]:
        with self.connect() as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def one(self, query: str, params: Any = None) -> dict | None:
        rows = self.sql(query, params)
        return rows[0] if rows else None

    def value(self, query: str, params: Any = None) -> Any:
        row = self.one(query, params)
        return next(iter(row.values())) if row else None

    def user(self, email: str | None = None, full_name: str | None = None, *, confirmed: bool = False) -> User:
        """A new user as Supabase Auth creates one (shared/platform/users.py); its email unconfirmed unless asked."""
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        with self.connect() as conn, conn.transaction():
            user_id = users.create_in_database(conn, email, full_name=full_name, confirmed=confirmed)
        return User(user_id, email.lower())

    # -- acting as someone ---------------------------------------------------
    @contextmanager
    def acting(self, caller: Caller) -> Iterator[psycopg.Cursor]:
        """A transaction as `caller`, committed on success."""
        with self.connect() as conn, conn.transaction():
            cur = conn.cursor()
            act_as(cur, caller)
            yield cur

    def as_user(self, user: User):
        return self.acting(user.caller)

    def as_anon(self):
        return self.acting(Caller.anon())

    def as_service(self):
        return self.acting(Caller.service())

    def attempt(self, caller: Caller, query: str, params: Any = None) -> list[dict] | psycopg.Error:
        """Run one statement as `caller`; return its rows, or the error it raised."""
        try:
            with self.acting(caller) as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            return exc


def call(db, caller: Caller, statement: str, *params):
    """One statement as `caller` in its own transaction: its first value, or the error."""
    result = db.attempt(caller, statement, params)
    if isinstance(result, psycopg.Error):
        return result
    return next(iter(result[0].values())) if result else None


def refused(result, sqlstate: str, detail: str) -> None:
    """The statement was refused with this SQLSTATE and our error code (the DETAIL)."""
    assert isinstance(result, psycopg.Error), result
    assert (result.sqlstate, result.diag.message_detail) == (sqlstate, detail), result


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
