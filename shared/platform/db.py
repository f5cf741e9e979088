"""The only home of connections, transactions and locks.

Functions act as the caller, exactly as PostgREST does: per transaction
`set local role <anon|authenticated|service_role>` and the JWT claims in
`request.jwt.claims`, so row-level security applies to functions too.
Privileged steps (webhooks, cron) use `as_service()` and stay small.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from shared.platform import errors

Role = Literal["anon", "authenticated", "service_role"]
T = TypeVar("T")


@dataclass(frozen=True)
class Caller:
    """Who is asking: the role PostgREST would switch to and the JWT claims."""

    role: Role
    claims: dict[str, Any] = field(default_factory=dict)
    ip: str | None = None  # the client's address, when a request came over HTTP (rate limits count guests by it)

    @property
    def user_id(self) -> str | None:
        return self.claims.get("sub") if self.role == "authenticated" else None

    @property
    def email(self) -> str | None:
        return self.claims.get("email")

    @classmethod
    def anon(cls) -> "Caller":
        return cls("anon", {"role": "anon"})

    @classmethod
    def service(cls) -> "Caller":
        return cls("service_role", {"role": "service_role"})

    @classmethod
    def user(cls, user_id: str, email: str | None = None, **claims: Any) -> "Caller":
        return cls("authenticated", {"sub": user_id, "role": "authenticated", "email": email, **claims})


_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


def pool(database_url: str | None = None) -> ConnectionPool:
    """One pool per database URL per process, opened on first use."""
    from shared.platform.config import settings

    url = database_url or settings().database.url
    if not url:
        raise RuntimeError("DATABASE_URL is not set (run `bookwell dev`, or export it)")
    with _pools_lock:
        found = _pools.get(url)
        if found is None:
            found = ConnectionPool(
                url, min_size=1, max_size=settings().database.pool_max_size, open=True,
                timeout=settings().database.pool_timeout_seconds,
                kwargs={"autocommit": True, "prepare_threshold": None},
                name="bookwell",
            )
            _pools[url] = found
        return found


def close_pools() -> None:
    with _pools_lock:
        for p in _pools.values():
            p.close()
        _pools.clear()


def act_as(cur: psycopg.Cursor, caller: Caller, *, lock_timeout_ms: int | None = None) -> None:
    """Inside an open transaction: become the caller for the rest of it.

    As PostgREST does, the role's own statement_timeout (`alter role … set`,
    migrations/*_platform_statement_timeouts.sql) applies for the transaction.
    The client's address goes where PostgREST puts it, `request.headers`
    x-forwarded-for, so SQL reads one place whichever way a request came.
    A lock timeout, when given, is set in the same round trip."""
    cur.execute(ACT_AS, (caller.role, json.dumps(caller.claims),
                         json.dumps({"x-forwarded-for": caller.ip} if caller.ip else {}), caller.role,
                         None if lock_timeout_ms is None else str(int(lock_timeout_ms))))


ACT_AS = """
select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),
       set_config('request.headers', %s, true),
       set_config('statement_timeout', coalesce(
         (select substr(setting, length('statement_timeout=') + 1)
          from pg_roles r, unnest(r.rolconfig) setting
          where r.rolname = %s and setting like 'statement_timeout=%%'),
         current_setting('statement_timeout')), true),
       set_config('lock_timeout', coalesce(%s, current_setting('lock_timeout')), true)
"""


@contextmanager
def transaction(caller: Caller, *, database_url: str | None = None,
                lock_timeout_ms: int | None = None) -> Iterator[psycopg.Cursor]:
    """A transaction acting as `caller`; database refusals become DomainErrors."""
    with pool(database_url).connection() as conn:
        try:
            with conn.transaction():
                cur = conn.cursor(row_factory=dict_row)
                act_as(cur, caller, lock_timeout_ms=lock_timeout_ms)
                yield cur
        except psycopg.Error as exc:
            translated = errors.from_database(exc)
            if translated is None:
                raise
            raise translated from exc


def run(caller: Caller, work: "Callable[[psycopg.Cursor], T]", *, attempts: int = 3,
        lock_timeout_ms: int = 5000, **kw: Any) -> T:
    """Run `work` in one transaction as `caller`, retried when Postgres reports
    a deadlock, a serialization failure or a lock timeout; then 503 busy."""
    for attempt in range(attempts):
        try:
            with transaction(caller, lock_timeout_ms=lock_timeout_ms, **kw) as cur:
                return work(cur)
        except errors.DomainError as exc:
            retryable = isinstance(exc.__cause__, errors.RETRYABLE)
            if not retryable or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def as_anon(**kw: Any):
    return transaction(Caller.anon(), **kw)


def as_service(**kw: Any):
    return transaction(Caller.service(), **kw)


# ---------------------------------------------------------------------------
# Advisory locks with key spaces (pretix's lock_objects, in Postgres terms):
# each kind of object gets its own 32-bit space so keys never collide, keys
# are taken sorted (no deadlocks between two lockers of the same set), and
# only inside a transaction (xact locks release at commit or rollback).
# ---------------------------------------------------------------------------
KEY_SPACES = {
    "organization": 1,
    "ticket_tier": 2,
    "staff": 3,
    "vehicle": 4,
    "driver": 5,
    "parking_lot": 6,
    "order": 7,
}


def lock_objects(cur: psycopg.Cursor, space: str, ids: list[str], *, timeout_ms: int = 3000) -> None:
    if cur.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        raise RuntimeError("lock_objects needs an open transaction")
    keys = sorted({zlib.crc32(str(i).encode()) - 2**31 for i in ids})
    cur.execute(f"set local lock_timeout = {int(timeout_ms)}")
    cur.execute(
        "select pg_advisory_xact_lock(%s, k) from unnest(%s::int[]) k order by k",
        (KEY_SPACES[space], keys),
    )
