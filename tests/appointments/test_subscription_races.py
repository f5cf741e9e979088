"""Concurrent subscription generators never book an occurrence twice
(routines/appointments/subscriptions.sql).

The guarantee is the claim: one row per (subscription, occurrence) in
public.subscription_occurrences, unique, inserted before anything is booked.
A second run that reaches an occurrence another run is booking waits on that
key and then skips it. Proven three ways: several runs released together; a
fixed interleaving (run A holds its transaction open while run B starts);
and, last in this module (its own database), the canary: the same
interleaving with the unique keys dropped books the occurrences again.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from shared.platform.db import Caller, act_as
from tests.support.appointments import make_service, make_staff
from tests.support.subscriptions import (
    ALL_WEEK, db_now, expected_visits, raw_subscription, visit_day)
from tests.support import factories
from tests.support.pg import ArrangingDb

GENERATE = "select private.generate_subscription_appointments('4 weeks'::interval, %s) as counts"


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


def new_shop(db) -> dict:
    organization = factories.org(db, timezone="Europe/London")
    db.sql("insert into public.appointment_settings (org_id, slot_interval_minutes, min_notice_minutes,"
           " max_days_ahead) values (%s, 30, 0, 400)", (organization["id"],))
    service = make_service(db, organization, 60)
    val = make_staff(db, organization, [service], hours=ALL_WEEK)
    return {"org": organization, "service": service, "val": val}


def duplicates(db, org_id) -> dict:
    """Live appointments per (subscription, occurrence) beyond the first, and ledger rows likewise."""
    return {
        "appointments": db.value(
            "select coalesce(sum(n - 1), 0) from (select count(*) as n from public.appointments"
            " where org_id = %s and subscription_id is not null and status = 'booked'"
            " group by subscription_id, subscription_occurrence) x", (org_id,)),
        "ledger": db.value(
            "select coalesce(sum(n - 1), 0) from (select count(*) as n from public.subscription_occurrences"
            " where org_id = %s group by subscription_id, occurrence) x", (org_id,)),
    }


def run_generator(db, now) -> dict:
    with db.connect() as conn, conn.transaction():
        cur = conn.cursor()
        act_as(cur, Caller.service())
        cur.execute(GENERATE, (now,))
        return cur.fetchone()["counts"]


def interleaved(db, subscription_id, now) -> tuple[dict, dict, bool]:
    """Run A generates one subscription and keeps its transaction open; run B starts meanwhile; A commits.
    Both run with the clock `now`. Returns (A's counts, B's counts, whether B was still waiting when A committed)."""
    statement = "select private.generate_for_subscription(%s, '4 weeks'::interval, %s) as counts"
    with db.connect() as conn_a:
        with conn_a.transaction():
            cur = conn_a.cursor()
            act_as(cur, Caller.service())
            cur.execute(statement, (subscription_id, now))
            a = cur.fetchone()["counts"]
            result: dict = {}

            def run_b():
                with db.connect() as conn_b, conn_b.transaction():
                    cur_b = conn_b.cursor()
                    act_as(cur_b, Caller.service())
                    cur_b.execute(statement, (subscription_id, now))
                    result["b"] = cur_b.fetchone()["counts"]

            thread = threading.Thread(target=run_b)
            thread.start()
            time.sleep(1.0)
            waiting = thread.is_alive()
        thread.join(timeout=60)
    return a, result["b"], waiting


def test_runs_released_together_book_each_occurrence_once(db):
    shop = new_shop(db)
    now, first = db_now(db), visit_day(db)
    subs = [raw_subscription(db, shop, first, f"{9 + k:02}:00", months=2) for k in range(6)]
    barrier = threading.Barrier(4)

    def contender(_):
        barrier.wait()
        return run_generator(db, now)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(contender, range(4)))
    assert duplicates(db, shop["org"]["id"]) == {"appointments": 0, "ledger": 0}
    booked = db.value("select count(*) from public.appointments where org_id = %s", (shop["org"]["id"],))
    assert booked == sum(len(expected_visits(first, f"{9 + k:02}:00", now=now, months=2)) for k in range(6)) == 18
    # Every occurrence was booked by exactly one of the runs, at its wanted time (nothing was "moved").
    assert sum(r["generated"] for r in results) >= booked and sum(r["moved"] for r in results) == 0
    assert db.value("select count(*) from public.subscription_occurrences where org_id = %s and status = 'generated'",
                    (shop["org"]["id"],)) == booked


def test_a_run_that_starts_while_another_is_booking_waits_and_skips(db):
    shop = new_shop(db)
    sub = raw_subscription(db, shop, visit_day(db), "10:00", months=2)
    a, b, waiting = interleaved(db, sub["id"], db_now(db))
    assert waiting, "run B should wait on run A's claim"
    assert a["generated"] == 3 and b == {"generated": 0, "moved": 0, "needs_attention": 0}
    assert duplicates(db, shop["org"]["id"]) == {"appointments": 0, "ledger": 0}


def test_canary_without_the_unique_claims_the_same_interleaving_books_twice(db):
    """Last in this module: it drops the keys for good (this module's own database)."""
    shop = new_shop(db)
    sub = raw_subscription(db, shop, visit_day(db), "10:00", months=2)
    db.sql("alter table public.subscription_occurrences drop constraint subscription_occurrences_once")
    db.sql("drop index public.appointments_subscription_occurrence_key")
    a, b, waiting = interleaved(db, sub["id"], db_now(db))
    assert waiting  # B waited on A's appointments (the exclusion constraint), not on a claim ...
    assert a["generated"] == 3 and b["moved"] == a["generated"], (a, b)  # ... and then booked them all again
    dupes = duplicates(db, shop["org"]["id"])
    assert dupes["appointments"] == a["generated"] and dupes["ledger"] == a["generated"], dupes
