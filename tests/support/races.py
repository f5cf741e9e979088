"""Races on real connections: contenders released together through a barrier, the deadlocks a
run saw, and who is waiting on whose advisory lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

TIMEOUT = 30  # seconds: a barrier or lock wait longer than this is a hang, not a race


def race(lanes: int, body: Callable[[int, threading.Barrier], Any]) -> list[Any]:
    """Run `body(lane, barrier)` in `lanes` threads at once; results in lane order.

    Each body opens its own connection and transaction, then waits at the
    barrier right before the statement under test. A body that dies before the
    barrier breaks it, so the others fail fast instead of hanging."""
    barrier = threading.Barrier(lanes, timeout=TIMEOUT)

    def run(lane: int) -> Any:
        try:
            return body(lane, barrier)
        except BaseException:
            barrier.abort()
            raise

    with ThreadPoolExecutor(max_workers=lanes) as pool:
        futures = [pool.submit(run, lane) for lane in range(lanes)]
        return [f.result(timeout=TIMEOUT * 8) for f in futures]

def deadlocks(db, pids: Iterable[int] = ()) -> int:
    """pg_stat_database.deadlocks of this database. A backend reports its deadlocks when it
    exits (or idles): wait until the contenders' backends (`pids`) are gone first."""
    pids = list(pids)
    deadline = time.monotonic() + TIMEOUT
    while pids and db.value("select count(*) from pg_stat_activity where pid = any(%s)", (pids,)):
        if time.monotonic() > deadline:
            pytest.fail(f"contender backends still connected: {pids}")
        time.sleep(0.05)
    return db.value("select deadlocks from pg_stat_database where datname = current_database()")

def label(exc: psycopg.Error) -> str:
    if (exc.sqlstate or "").startswith("PT"):
        return f"{exc.sqlstate}:{exc.diag.message_detail}"
    return exc.sqlstate or "?"

def waiting_on_advisory(db, n: int) -> None:
    """Until n backends of this database wait for an advisory lock."""
    deadline = time.monotonic() + TIMEOUT
    while db.value("select count(*) from pg_locks l join pg_database d on d.oid = l.database"
                   " where d.datname = current_database() and l.locktype = 'advisory' and not l.granted") < n:
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {n} bookings queued on the booking lock")
        time.sleep(0.02)
