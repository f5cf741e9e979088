"""No double booking, whatever path writes the appointment, however many at once;
and appointments follow their order (routines/appointments/core.sql,
routines/appointments/orders.sql, routines/appointments/booking.sql).

The races are real: each contender runs in its own thread on its own psycopg
connection, switched to its role (a manager, as PostgREST does, or
service_role) before a `threading.Barrier` releases all of them into the
statement under test at once.

The first test is the canary (STYLE.md 1.6): the same booking written as the
application-level check-then-insert that Cal.com and Easy!Appointments rely
on, into a copy of the appointments table without the EXCLUDE constraint,
does double book under this harness. That is what makes "exactly one" below
mean something.

The constraint is the guarantee; the staff member's booking lock (an advisory
lock every writer of a live appointment takes, trigger appointments_lock_staff)
is what makes the losers queue and get a clean 23P01 instead of deadlocking:
Postgres checks an exclusion constraint after inserting the index entry, so
unlocked inserters that see each other's entries wait for each other until the
deadlock detector ends one (40P01). Section 2 runs with the default
deadlock_timeout (1 s) and counts deadlocks in pg_stat_database; the canaries
in section 2b switch the lock off (ALTER TABLE ... DISABLE TRIGGER, in this
module's own database only) and see the deadlocks come back, while the
constraint alone still allows exactly one booking.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from shared.platform.db import Caller, act_as, lock_objects
from tests.support import factories
from tests.support.pg import ArrangingDb
from tests.support.races import TIMEOUT, deadlocks, label, race, waiting_on_advisory


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


pytestmark = pytest.mark.slow

LANES = 50
PRICE = 4800
DEADLOCK_RETRIES = Counter()  # how often a contender retried a 40P01 (only the lock-less tests retry)
LOCK_TRIGGER = "appointments_lock_staff"


# ---------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------
@contextmanager
def lock_switched_off(db):
    """Test-only: this module's database without the booking-lock trigger (the product keeps it)."""
    db.sql(f"alter table public.appointments disable trigger {LOCK_TRIGGER}")
    try:
        yield
    finally:
        db.sql(f"alter table public.appointments enable trigger {LOCK_TRIGGER}")


@pytest.fixture(scope="module")
def world(db) -> dict:
    org = factories.org(db)
    manager = factories.member(db, org, role="manager")
    service = db.one("insert into public.services (org_id, name, duration_minutes, price_minor)"
                     " values (%s, 'Regular clean', 60, %s) returning id", (org["id"], PRICE))["id"]
    staff = []
    for name in ("Val", "Sam"):
        sid = db.one("insert into public.staff (org_id, display_name) values (%s, %s) returning id",
                     (org["id"], name))["id"]
        db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
               (sid, service, org["id"]))
        staff.append(sid)
    return {"org_id": org["id"], "manager": manager.caller, "service_id": service, "staff_id": staff[0],
            "other_staff_id": staff[1]}


BOOK = ("insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period,"
        " buffer_before_minutes, buffer_after_minutes)"
        " values (%(org_id)s, %(service_id)s, %(staff_id)s, %(name)s, 'booked', %(period)s::tstzrange,"
        " %(before)s, %(after)s) returning id")


def book(db, world, period: str, *, staff_id=None, before: int = 0, after: int = 0,
         caller: Caller | None = None, barrier: threading.Barrier | None = None,
         retries: int = 0, deadlock_timeout: str | None = None, pids: list | None = None) -> tuple[str, Any]:
    """One booking in its own transaction as `caller` (the manager by default).

    Returns ("ok", id) or (SQLSTATE, None). With `retries`, a deadlock (40P01) is
    retried, as a client retries any serialization failure, and counted in
    DEADLOCK_RETRIES; by default it is an outcome like any other. `pids`
    collects the backends used (for `deadlocks`)."""
    params = {"org_id": world["org_id"], "service_id": world["service_id"],
              "staff_id": staff_id or world["staff_id"], "name": f"c-{uuid.uuid4().hex[:6]}",
              "period": period, "before": before, "after": after}
    for attempt in range(retries + 1):
        try:
            with db.connect() as conn, conn.transaction():
                cur = conn.cursor()
                if pids is not None:
                    pids.append(conn.info.backend_pid)
                if deadlock_timeout:  # superuser-only: before we drop to the API role
                    cur.execute(f"set local deadlock_timeout = '{deadlock_timeout}'")
                act_as(cur, caller or world["manager"])
                cur.execute("set local lock_timeout = '20s'")
                if barrier is not None and attempt == 0:
                    barrier.wait()
                row = cur.execute(BOOK, params).fetchone()
                return "ok", row["id"]
        except psycopg.errors.DeadlockDetected:
            if attempt == retries:
                return "40P01", None
            DEADLOCK_RETRIES[threading.current_thread().name.split("_")[0]] += 1
            time.sleep(random.uniform(0, 0.05 * (attempt + 1)))  # back off, as a client would
        except psycopg.Error as exc:
            return label(exc), None
    raise AssertionError("unreachable")


def live_on(db, staff_id, period: str) -> int:
    return db.value("select count(*) from public.appointments where staff_id = %s"
                    " and status in ('held', 'booked', 'in_progress') and blocked && %s::tstzrange",
                    (staff_id, period))


def slot(date: str, start: str, end: str) -> str:
    return f"[{date} {start}+00, {date} {end}+00)"


_dates = iter(f"2031-{m:02d}-{d:02d}" for m in range(7, 13) for d in range(1, 29))


@pytest.fixture
def date() -> str:
    """A fresh date per test, so tests never see each other's bookings."""
    return next(_dates)


# ---------------------------------------------------------------------------
# 1. Canary: check-then-insert without the constraint double books.
# ---------------------------------------------------------------------------
def test_canary_check_then_insert_without_the_constraint_double_books(db, world):
    """A copy of public.appointments (columns and defaults, no constraints, no
    triggers, so `blocked` is written by hand): each contender asks "is the staff member free?",
    hesitates a moment (the window the constraint closes), then inserts.
    Several are told yes for the same slot."""
    db.sql("create schema if not exists canary")
    db.sql("drop table if exists canary.appointments")
    db.sql("create table canary.appointments (like public.appointments including defaults)")
    constraints = db.value("select count(*) from pg_constraint where conrelid = 'canary.appointments'::regclass"
                           " and contype = 'x'")
    assert constraints == 0
    period = "[2031-06-01 10:00+00, 2031-06-01 11:00+00)"
    try:
        def naive(lane: int, barrier: threading.Barrier):
            with db.connect() as conn, conn.transaction():
                barrier.wait()
                busy = conn.execute(
                    "select count(*) as n from canary.appointments where staff_id = %s"
                    " and status in ('held', 'booked', 'in_progress') and blocked && %s::tstzrange",
                    (world["staff_id"], period)).fetchone()["n"]
                if busy:
                    return False
                time.sleep(0.01)
                conn.execute(
                    "insert into canary.appointments (org_id, service_id, staff_id, customer_name, status,"
                    " period, blocked) values (%s, %s, %s, %s, 'booked', %s::tstzrange, %s::tstzrange)",
                    (world["org_id"], world["service_id"], world["staff_id"], f"canary {lane}", period, period))
                return True

        told_yes = sum(race(LANES, naive))
        stored = db.value("select count(*) from canary.appointments where staff_id = %s and blocked && %s::tstzrange",
                          (world["staff_id"], period))
        print(f"canary: {told_yes} of {LANES} contenders booked the same slot")
        assert stored == told_yes and told_yes > 1, (
            f"the canary should double book ({told_yes} booked); the harness is not concurrent")
    finally:
        db.sql("drop schema canary cascade")


# ---------------------------------------------------------------------------
# 2. The constraint under fire.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["manager", "service_role"])
def test_fifty_concurrent_bookings_of_one_slot_make_exactly_one_appointment(db, world, date, who):
    """Raw INSERTs (a manager through RLS, or the server key), default deadlock_timeout, no
    retries: the booking lock queues them, so one books, 49 get 23P01 and nobody deadlocks."""
    period = slot(date, "10:00", "11:00")
    caller = world["manager"] if who == "manager" else Caller.service()
    pids: list[int] = []
    before = deadlocks(db)
    results = race(LANES, lambda lane, barrier: book(db, world, period, caller=caller, barrier=barrier, pids=pids))
    outcomes = Counter(status for status, _ in results)
    print(f"{who}: {dict(outcomes)}")
    assert outcomes == {"ok": 1, "23P01": LANES - 1}
    assert deadlocks(db, pids) - before == 0
    assert live_on(db, world["staff_id"], period) == 1
    winner = next(i for s, i in results if s == "ok")
    assert db.value("select id from public.appointments where staff_id = %s and period = %s::tstzrange",
                    (world["staff_id"], period)) == winner


def test_the_lock_key_is_shared_db_lock_objects_staff_key(db, world, date):
    """private.staff_lock_key is the key shared.platform.db.lock_objects(cur, 'staff', [id]) takes: a
    booking waits while Python code holds that lock, and books once it is released."""
    period = slot(date, "10:00", "11:00")
    assert db.value("select private.staff_lock_key(%s)", (world["staff_id"],)) == \
        zlib.crc32(str(world["staff_id"]).encode()) - 2**31
    with ThreadPoolExecutor(max_workers=1) as pool:
        with db.connect() as holder, holder.transaction():
            lock_objects(holder.cursor(), "staff", [str(world["staff_id"])])
            pending = pool.submit(book, db, world, period)
            waiting_on_advisory(db, 1)
            assert not pending.done()
        assert pending.result(timeout=TIMEOUT)[0] == "ok"


# ---------------------------------------------------------------------------
# 2b. Canaries: without the lock the same race deadlocks; the constraint alone still holds.
# ---------------------------------------------------------------------------
def two_jobs(db, world, periods: list[str], lane: int, pids: list[int],
             between: Callable[[], None]) -> str:
    """One raw transaction booking Val for both periods in the order given, calling
    `between()` after the first insert. Returns "ok" or the refusal."""
    try:
        with db.connect() as conn, conn.transaction():
            pids.append(conn.info.backend_pid)
            cur = conn.cursor()
            act_as(cur, world["manager"])
            cur.execute("set local lock_timeout = '20s'")
            for n, period in enumerate(periods):
                cur.execute(BOOK, {"org_id": world["org_id"], "service_id": world["service_id"],
                                   "staff_id": world["staff_id"], "name": f"lane {lane}", "period": period,
                                   "before": 0, "after": 0})
                if n == 0:
                    between()
            return "ok"
    except psycopg.Error as exc:
        return label(exc)


def test_canary_without_the_lock_two_jobs_booked_in_opposite_orders_deadlock(db, world, date):
    """Lock off (this module's database only), default deadlock_timeout: two customers each
    book Val for 10:00 and 11:00, in opposite orders. Each waits on the other's uncommitted
    row, and only the deadlock detector ends it (40P01, which the functions answer 503)."""
    periods = [slot(date, "10:00", "11:00"), slot(date, "11:00", "12:00")]
    pids: list[int] = []
    before = deadlocks(db)
    with lock_switched_off(db):
        outcomes = race(2, lambda lane, barrier: two_jobs(
            db, world, periods if lane == 0 else periods[::-1], lane, pids, barrier.wait))
    assert sorted(outcomes) == ["40P01", "ok"], outcomes
    assert deadlocks(db, pids) - before == 1
    assert live_on(db, world["staff_id"], slot(date, "10:00", "12:00")) == 2


def test_with_the_lock_two_jobs_booked_in_opposite_orders_queue(db, world, date):
    """The same two customers with the lock: the second waits for Val's lock at its first row
    (not on a row), then is refused cleanly by the constraint; nobody deadlocks."""
    periods = [slot(date, "10:00", "11:00"), slot(date, "11:00", "12:00")]
    pids: list[int] = []
    before = deadlocks(db)
    first_row = threading.Event()
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(two_jobs, db, world, periods, 0, pids,
                            lambda: (first_row.set(), waiting_on_advisory(db, 1)))
        assert first_row.wait(TIMEOUT)
        second = pool.submit(two_jobs, db, world, periods[::-1], 1, pids, lambda: None)
        outcomes = [first.result(timeout=TIMEOUT), second.result(timeout=TIMEOUT)]
    assert outcomes == ["ok", "23P01"], outcomes
    assert deadlocks(db, pids) - before == 0
    assert live_on(db, world["staff_id"], slot(date, "10:00", "12:00")) == 2


def test_without_the_lock_the_constraint_alone_still_makes_exactly_one(db, world, date):
    """The constraint is the guarantee: lock off, 50 raw inserts at one slot, contenders
    retrying any deadlock (short deadlock_timeout, test-only, so a pile-up cannot take
    minutes) with a growing random back-off: one books. (Whether single-row inserts at one slot
    deadlock is timing: none in 500 tries on an idle machine, dozens per round under the full
    suite's load; the two-row canary above is the deterministic one.)"""
    period = slot(date, "10:00", "11:00")
    DEADLOCK_RETRIES.clear()
    with lock_switched_off(db):
        results = race(LANES, lambda lane, barrier: book(db, world, period, barrier=barrier, retries=40,
                                                         deadlock_timeout="100ms"))
    outcomes = Counter(status for status, _ in results)
    print(f"constraint alone: {dict(outcomes)}, deadlock retries {sum(DEADLOCK_RETRIES.values())}")
    assert outcomes == {"ok": 1, "23P01": LANES - 1}
    assert live_on(db, world["staff_id"], period) == 1


def test_canary_row_order_locking_across_two_staff_deadlocks(db, world, date):
    """Why multi-row paths lock their staff sorted first: two raw transactions each booking
    Val and Sam, in opposite orders, lock in row order through the trigger and deadlock
    (Postgres ends one: 40P01): the limit of the trigger alone, stated in the migration.
    private.place_appointment_order locks sorted first and does not (test_booking.py)."""
    staff = [world["staff_id"], world["other_staff_id"]]
    periods = [slot(date, "10:00", "11:00"), slot(date, "14:00", "15:00")]
    pids: list[int] = []
    before = deadlocks(db)

    def both(lane: int, barrier: threading.Barrier):
        # lane 0: Val 10:00 then Sam 14:00; lane 1: Sam 10:00 then Val 14:00 (no overlap between them)
        order = staff if lane == 0 else staff[::-1]
        params = [{"org_id": world["org_id"], "service_id": world["service_id"], "staff_id": s,
                   "name": f"lane {lane}", "period": p, "before": 0, "after": 0}
                  for s, p in zip(order, periods)]
        try:
            with db.connect() as conn, conn.transaction():
                pids.append(conn.info.backend_pid)
                cur = conn.cursor()
                act_as(cur, world["manager"])
                cur.execute(BOOK, params[0])
                barrier.wait()  # each holds its first staff member's lock
                cur.execute(BOOK, params[1])
                return "ok"
        except psycopg.Error as exc:
            return label(exc)

    outcomes = sorted(race(2, both))
    assert outcomes == ["40P01", "ok"], outcomes
    assert deadlocks(db, pids) - before == 1


def test_concurrent_bookings_that_overlap_only_through_buffers_make_exactly_one(db, world, date):
    """Half the contenders want 10:00-11:00 with 30 minutes after; half want
    11:15-12:00 with no buffers. The periods never overlap across the halves,
    the blocked periods all do."""
    first, second = slot(date, "10:00", "11:00"), slot(date, "11:15", "12:00")

    def contender(lane: int, barrier: threading.Barrier):
        if lane % 2:
            return book(db, world, second, barrier=barrier)
        return book(db, world, first, after=30, barrier=barrier)

    outcomes = Counter(status for status, _ in race(LANES, contender))
    assert outcomes == {"ok": 1, "23P01": LANES - 1}
    assert live_on(db, world["staff_id"], slot(date, "09:00", "13:00")) == 1


@pytest.mark.parametrize(("existing", "attempt", "outcome"), [
    # (period, before, after) of the booking in place, then of the attempt.
    (("10:00", "11:00", 0, 30), ("11:15", "12:00", 0, 0), "23P01"),   # inside its after-buffer
    (("10:00", "11:00", 15, 0), ("09:00", "09:50", 0, 0), "23P01"),   # inside its before-buffer
    (("10:00", "11:00", 0, 0), ("11:10", "12:00", 15, 0), "23P01"),   # the attempt's buffer reaches back
    (("10:00", "11:00", 0, 0), ("08:00", "09:55", 0, 10), "23P01"),   # the attempt's after-buffer reaches on
    (("10:00", "11:00", 0, 30), ("11:30", "12:00", 0, 0), "ok"),      # starts as the buffer ends
    (("10:00", "11:00", 15, 15), ("11:15", "12:00", 0, 0), "ok"),
    (("10:00", "11:00", 0, 0), ("11:00", "12:00", 0, 0), "ok"),       # touching, zero buffers
    (("10:00", "11:00", 0, 0), ("09:00", "10:00", 0, 0), "ok"),
    (("10:00", "11:00", 0, 0), ("10:59", "12:00", 0, 0), "23P01"),    # one minute of overlap
])
def test_buffers_widen_what_a_booking_blocks(db, world, date, existing, attempt, outcome):
    s, e, b, a = existing
    assert book(db, world, slot(date, s, e), before=b, after=a)[0] == "ok"
    s, e, b, a = attempt
    assert book(db, world, slot(date, s, e), before=b, after=a)[0] == outcome


def test_touching_periods_with_zero_buffers_are_both_booked(db, world, date):
    assert book(db, world, slot(date, "10:00", "11:00"))[0] == "ok"
    assert book(db, world, slot(date, "11:00", "12:00"))[0] == "ok"
    assert live_on(db, world["staff_id"], slot(date, "09:00", "13:00")) == 2


def test_touching_periods_race_and_both_are_booked(db, world, date):
    periods = [slot(date, "10:00", "11:00"), slot(date, "11:00", "12:00")]
    results = race(2, lambda lane, barrier: book(db, world, periods[lane], barrier=barrier))
    assert [s for s, _ in results] == ["ok", "ok"]


def test_two_staff_members_at_the_same_time_are_both_booked(db, world, date):
    period = slot(date, "10:00", "11:00")
    staff = [world["staff_id"], world["other_staff_id"]] * 10
    results = race(len(staff), lambda lane, barrier: book(db, world, period, staff_id=staff[lane], barrier=barrier))
    outcomes = Counter(status for status, _ in results)
    assert outcomes == {"ok": 2, "23P01": len(staff) - 2}
    assert live_on(db, world["staff_id"], period) == 1 and live_on(db, world["other_staff_id"], period) == 1


def test_a_cancelled_appointment_frees_its_slot_and_cannot_come_back_over_another(db, world, date):
    period = slot(date, "10:00", "11:00")
    status, first = book(db, world, period)
    assert status == "ok"
    assert book(db, world, period)[0] == "23P01"
    with db.acting(world["manager"]) as cur:
        cur.execute("update public.appointments set status = 'cancelled' where id = %s", (first,))
    status, second = book(db, world, period)
    assert status == "ok"
    with pytest.raises(psycopg.errors.ExclusionViolation):  # no coming back over the new booking
        with db.acting(world["manager"]) as cur:
            cur.execute("update public.appointments set status = 'booked' where id = %s", (first,))
    for dead in ("completed", "no_show"):
        # Arranged as superuser: the job lifecycle (staff_portal migration) only reaches these
        # from a started job, and this test is about the constraint, not the lifecycle.
        db.sql("update public.appointments set status = %s where id = %s", (dead, second))
        assert live_on(db, world["staff_id"], period) == 0
        assert book(db, world, period)[0] == "ok"
        db.sql("update public.appointments set status = 'cancelled' where staff_id = %s and period = %s::tstzrange"
               " and status = 'booked'", (world["staff_id"], period))


def test_held_and_in_progress_appointments_also_block(db, world, date):
    period = slot(date, "10:00", "11:00")
    status, held = book(db, world, period)
    db.sql("update public.appointments set status = 'held', hold_expires_at = now() + interval '5 minutes'"
           " where id = %s", (held,))
    assert book(db, world, period)[0] == "23P01"
    db.sql("update public.appointments set status = 'in_progress' where id = %s", (held,))
    assert book(db, world, period)[0] == "23P01"


def test_moving_an_appointment_onto_a_busy_slot_is_refused(db, world, date):
    assert book(db, world, slot(date, "10:00", "11:00"))[0] == "ok"
    status, other = book(db, world, slot(date, "13:00", "14:00"))
    with pytest.raises(psycopg.errors.ExclusionViolation):
        with db.acting(world["manager"]) as cur:
            cur.execute("update public.appointments set period = %s::tstzrange where id = %s",
                        (slot(date, "10:30", "11:30"), other))
    _, sam = book(db, world, slot(date, "10:00", "11:00"), staff_id=world["other_staff_id"])
    with pytest.raises(psycopg.errors.ExclusionViolation):
        with db.acting(world["manager"]) as cur:
            cur.execute("update public.appointments set staff_id = %s where id = %s", (world["staff_id"], sam))


# ---------------------------------------------------------------------------
# 3. Appointments follow their order.
# ---------------------------------------------------------------------------
def place(db, world, periods: list[str], *, staff_id=None) -> dict:
    """An appointments order as checkout makes one (arranged as superuser): pending with a hold,
    one item per appointment, each appointment held until the order's hold runs out."""
    n = len(periods)
    order = db.one(
        "insert into public.orders (org_id, number, kind, buyer_email, buyer_name, currency, subtotal_minor,"
        " total_minor, tracking_token_hash, hold_expires_at) values (%s, private.new_order_number(),"
        " 'appointments', %s, 'Casey Customer', 'GBP', %s, %s, sha256(%s::bytea), now() + interval '10 minutes')"
        " returning *", (world["org_id"], f"casey-{uuid.uuid4().hex[:6]}@example.com", PRICE * n, PRICE * n,
                         uuid.uuid4().hex))
    for period in periods:
        item = db.one("insert into public.order_items (order_id, org_id, description, quantity, unit_price_minor)"
                      " values (%s, %s, 'Regular clean', 1, %s) returning id", (order["id"], world["org_id"], PRICE))
        db.sql("insert into public.appointments (org_id, service_id, staff_id, order_id, order_item_id,"
               " customer_name, customer_email, status, period, hold_expires_at)"
               " values (%s, %s, %s, %s, %s, 'Casey Customer', %s, 'held', %s::tstzrange, %s)",
               (world["org_id"], world["service_id"], staff_id or world["staff_id"], order["id"], item["id"],
                order["buyer_email"], period, order["hold_expires_at"]))
    return order


def service_call(db, statement: str, *params) -> Any:
    with db.as_service() as cur:
        cur.execute(statement, params)
        row = cur.fetchone()
        return next(iter(row.values())) if row else None


def pay(db, order: dict, payment_id: str | None = None) -> str:
    return service_call(db, "select private.record_payment(%s, 'stripe', %s, %s, 'gbp') as outcome",
                        order["id"], payment_id or f"pi_{uuid.uuid4().hex[:16]}", order["total_minor"])


def close(db, order: dict, status: str = "expired") -> bool:
    return service_call(db, "select private.close_unpaid_order(%s, %s, 'hold_expired') as changed",
                        order["id"], status)


def statuses(db, order: dict) -> list[str]:
    return [r["status"] for r in db.sql("select status::text as status from public.appointments"
                                        " where order_id = %s order by lower(period)", (order["id"],))]


def emails(db, order: dict, template: str) -> int:
    return db.value("select count(*) from public.notification_outbox where template = %s"
                    " and payload ->> 'order_id' = %s", (template, str(order["id"])))


def order_status(db, order: dict) -> str:
    return db.value("select status::text from public.orders where id = %s", (order["id"],))


def test_payment_books_the_held_appointments_and_queues_one_confirmation(db, world, date):
    order = place(db, world, [slot(date, "09:00", "10:00"), slot(date, "10:00", "11:00")])
    assert statuses(db, order) == ["held", "held"]
    payment = f"pi_{uuid.uuid4().hex[:16]}"
    assert pay(db, order, payment) == "fulfilled"
    assert statuses(db, order) == ["booked", "booked"]
    assert db.value("select count(*) from public.appointments where order_id = %s and hold_expires_at is null",
                    (order["id"],)) == 2
    assert pay(db, order, payment) == "already_paid"
    assert emails(db, order, "appointment_confirmed") == 1
    email = db.one("select recipient, dedupe_key from public.notification_outbox"
                   " where template = 'appointment_confirmed' and payload ->> 'order_id' = %s", (str(order["id"]),))
    assert email == {"recipient": order["buyer_email"], "dedupe_key": f"appointment_confirmed:{order['id']}"}


def test_a_second_different_payment_is_refunded_and_books_nothing_twice(db, world, date):
    order = place(db, world, [slot(date, "10:00", "11:00")])
    assert pay(db, order) == "fulfilled"
    assert pay(db, order) == "duplicate_refunded"
    assert statuses(db, order) == ["booked"] and emails(db, order, "appointment_confirmed") == 1


@pytest.mark.parametrize(("via", "closed_as"), [
    ("pending", "expired"), ("pending", "cancelled"), ("processing", "expired")])
def test_an_unpaid_order_closing_cancels_its_holds_and_frees_the_slot(db, world, date, via, closed_as):
    period = slot(date, "10:00", "11:00")
    order = place(db, world, [period])
    assert book(db, world, period)[0] == "23P01"  # the hold blocks
    if via == "processing":
        assert service_call(db, "select private.mark_order_processing(%s, 'pi_async') as ok", order["id"]) is True
        assert statuses(db, order) == ["held"]
    assert close(db, order, closed_as) is True
    assert statuses(db, order) == ["cancelled"]
    assert emails(db, order, "appointment_confirmed") == 0
    assert book(db, world, period)[0] == "ok"


def test_a_late_payment_with_the_slot_still_free_books_again(db, world, date):
    order = place(db, world, [slot(date, "10:00", "11:00"), slot(date, "14:00", "15:00")])
    assert close(db, order) is True
    assert statuses(db, order) == ["cancelled", "cancelled"]
    assert pay(db, order) == "late_fulfilled"
    assert order_status(db, order) == "paid"
    assert statuses(db, order) == ["booked", "booked"]
    assert emails(db, order, "appointment_confirmed") == 1
    assert db.value("select count(*) from public.refunds where order_id = %s", (order["id"],)) == 0


def test_a_late_payment_after_someone_else_took_the_slot_is_refunded(db, world, date):
    taken, free = slot(date, "10:00", "11:00"), slot(date, "14:00", "15:00")
    order = place(db, world, [taken, free])
    assert close(db, order) is True
    status, other = book(db, world, taken)
    assert status == "ok"
    assert pay(db, order) == "late_refunded"
    row = db.one("select status::text as status, close_reason from public.orders where id = %s", (order["id"],))
    assert row == {"status": "refunded", "close_reason": "late_payment_no_capacity"}
    refunds = db.sql("select amount_minor, status::text as status, reason from public.refunds where order_id = %s",
                     (order["id"],))
    assert refunds == [{"amount_minor": order["total_minor"], "status": "pending",
                        "reason": "late_payment_no_capacity"}]
    # All or nothing: the free slot was not taken back either, and the other booking stands.
    assert statuses(db, order) == ["cancelled", "cancelled"]
    assert db.value("select status::text from public.appointments where id = %s", (other,)) == "booked"
    assert emails(db, order, "appointment_confirmed") == 0
    assert emails(db, order, "late_payment_refunded") == 1


def test_a_late_payment_racing_a_new_booking_for_the_slot_ends_with_one_of_them(db, world, date):
    period = slot(date, "10:00", "11:00")
    order = place(db, world, [period])
    assert close(db, order) is True

    def contender(lane: int, barrier: threading.Barrier):
        if lane == 0:
            # The webhook; both queue on the staff member's booking lock, so neither deadlocks.
            try:
                with db.as_service() as cur:
                    barrier.wait()
                    cur.execute("select private.record_payment(%s, 'stripe', %s, %s, 'gbp') as outcome",
                                (order["id"], f"pi_{uuid.uuid4().hex[:16]}", order["total_minor"]))
                    return cur.fetchone()["outcome"]
            except psycopg.Error as exc:
                return label(exc)
        return book(db, world, period, barrier=barrier)[0]

    paid, booked = race(2, contender)
    assert (paid, booked) in {("late_fulfilled", "23P01"), ("late_refunded", "ok")}, (paid, booked)
    assert live_on(db, world["staff_id"], period) == 1


def refund(db, order: dict, amount_minor: int | None = None) -> dict:
    with db.as_service() as cur:
        cur.execute("select amount_minor, status::text as status from private.request_refund(%s, %s, 'asked')",
                    (order["id"], amount_minor))
        return cur.fetchone()


def test_a_refund_cancels_the_booked_appointments_and_frees_the_slots(db, world, date):
    period = slot(date, "10:00", "11:00")
    order = place(db, world, [period, slot(date, "12:00", "13:00")])
    assert pay(db, order) == "fulfilled"
    assert refund(db, order) == {"amount_minor": order["total_minor"], "status": "pending"}
    assert order_status(db, order) == "refunded"
    assert statuses(db, order) == ["cancelled", "cancelled"]
    assert book(db, world, period)[0] == "ok"


def test_a_partial_refund_keeps_the_appointments(db, world, date):
    order = place(db, world, [slot(date, "10:00", "11:00")])
    assert pay(db, order) == "fulfilled"
    refund(db, order, 1000)
    assert order_status(db, order) == "paid" and statuses(db, order) == ["booked"]


def test_a_refund_leaves_work_already_done_as_it_was(db, world, date):
    order = place(db, world, [slot(date, "10:00", "11:00"), slot(date, "12:00", "13:00")])
    assert pay(db, order) == "fulfilled"
    db.sql("update public.appointments set status = 'completed' where order_id = %s"
           " and lower(period) = %s::timestamptz", (order["id"], f"{date} 10:00+00"))
    refund(db, order)
    assert statuses(db, order) == ["completed", "cancelled"]


def test_another_kind_of_order_leaves_appointments_alone(db, world, date):
    """Only order kind 'appointments' moves appointments (a stray link from another kind does nothing)."""
    order = place(db, world, [slot(date, "10:00", "11:00")])
    db.sql("update public.orders set kind = 'parking' where id = %s", (order["id"],))
    assert pay(db, order) == "fulfilled"
    assert statuses(db, order) == ["held"] and emails(db, order, "appointment_confirmed") == 0
