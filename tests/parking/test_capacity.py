"""Per-day capacity: never more live bookings than spaces on any day of any stay.

The first test is the canary (STYLE.md 1.6): the same race written as
check-then-insert, with no trigger and no constraint, oversells, which shows
the harness really races. Then the real thing: 200 buyers with overlapping
stays for the last 10 spaces of one day get exactly 10 bookings, with no
deadlock, and the day counts equal the bookings. Then the calendar's rules
one by one: a closed day or a full day refuses the stay and names the day,
online bookings stop at the released share while staff may fill the lot,
and the counts follow expiry, cancellation, late payment and amendment.
"""

from __future__ import annotations

import json
import random
import threading
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from shared.platform.db import Caller, act_as
from tests.support import parking as P
from tests.support.pg import refused
from tests.support.races import deadlocks, label, race

pytestmark = pytest.mark.slow

BUYERS = 200
LAST = 10


def fresh_lot(db, park, *, spaces: int, share: int = 100) -> dict:
    """A lot of its own in the module's org, with the module's flexible prices."""
    lot = P.lot(db, park["org_id"], spaces=spaces, share=share)
    flex = P.product(db, lot, name="Park & Ride", prices=P.FLEX_PRICES, extra_day=P.FLEX_EXTRA_DAY)
    return {**park, "lot": lot, "flex": flex}


def test_canary_check_then_insert_without_the_guard_oversells(db, park):
    """Check-then-insert without the trigger and the checks: the race the guard exists for."""
    db.sql("create schema if not exists canary")
    db.sql("drop table if exists canary.parking_bookings")
    db.sql("create table canary.parking_bookings as select * from public.parking_bookings where false")
    assert db.value("select count(*) from pg_trigger where tgrelid = 'canary.parking_bookings'::regclass") == 0
    day = P.today_at(park["lot"]).toordinal() + 20
    try:
        def buyer(lane: int, barrier: threading.Barrier) -> bool:
            with psycopg.connect(db.url, autocommit=False) as conn:
                barrier.wait()
                taken = conn.execute("select count(*) from canary.parking_bookings"
                                     " where %s between first_day and last_day",
                                     (P.date.fromordinal(day),)).fetchone()[0]
                if taken >= LAST:
                    return False
                conn.execute("insert into canary.parking_bookings (id, first_day, last_day) values (%s, %s, %s)",
                             (uuid.uuid4(), P.date.fromordinal(day - 1), P.date.fromordinal(day + 1)))
                conn.commit()
                return True

        sold = sum(race(40, buyer))
        print(f"canary: {sold} stays sold for {LAST} spaces")
        assert sold > LAST, "the canary should oversell; the harness is not concurrent"
    finally:
        db.sql("drop schema canary cascade")


def test_200_buyers_with_overlapping_stays_get_exactly_the_last_10_spaces(db, park):
    lot = fresh_lot(db, park, spaces=LAST + 5)
    busiest = 12
    # Five spaces of the busiest day already sold.
    for _ in range(5):
        P.booked(db, lot, P.stay(lot, entry=P.local(lot["lot"], busiest, 8), exit=P.local(lot["lot"], busiest, 20)))
    rng = random.Random(7)
    requests = []
    for _ in range(BUYERS):  # every stay covers the busiest day, starting and ending around it
        before, after = rng.randint(0, 4), rng.randint(0, 4)
        requests.append(P.stay(lot, entry=P.local(lot["lot"], busiest - before, rng.randint(0, 23)),
                               exit=P.local(lot["lot"], busiest + after, 23, 30),
                               plate=f"RC{rng.randint(10, 99)}ABC"))
    deadlocks_before = db.value("select deadlocks from pg_stat_database where datname = current_database()")
    pids: list[int] = []

    def buyer(lane: int, barrier: threading.Barrier) -> str:
        with psycopg.connect(db.url, autocommit=False) as conn:
            pids.append(conn.info.backend_pid)
            cur = conn.cursor()
            act_as(cur, Caller.anon())
            barrier.wait()
            try:
                cur.execute("select private.place_parking_order(%s, %s, null, null, 'h')",
                            (Jsonb(requests[lane]), Jsonb(P.buyer())))
                conn.commit()
                return "held"
            except psycopg.Error as exc:
                conn.rollback()
                return label(exc)

    outcomes = race(BUYERS, buyer)
    tally = {o: outcomes.count(o) for o in set(outcomes)}
    print(f"200 buyers: {tally}")
    assert tally.get("held") == LAST
    assert set(tally) == {"held", "PT409:parking_day_full"}, tally
    assert deadlocks(db, pids) == deadlocks_before
    day = str(P.date.fromordinal(P.today_at(lot["lot"]).toordinal() + busiest))
    assert P.counts(db, lot["lot"]["id"])[day] == (LAST + 5, LAST + 5)
    assert {d: n for d, (n, _) in P.counts(db, lot["lot"]["id"]).items() if n} == P.live_counts(db, lot["lot"]["id"])
    assert db.value("select count(*) from public.orders where metadata ->> 'lot_id' = %s",
                    (str(lot["lot"]["id"]),)) == 5 + LAST, "a refused buyer left an order behind"


def test_a_stay_over_a_closed_day_is_refused_naming_the_day_and_nothing_is_written(db, park):
    lot = fresh_lot(db, park, spaces=5)
    closed = P.date.fromordinal(P.today_at(lot["lot"]).toordinal() + 9)
    with db.as_user(park["people"]["owner"]) as cur:
        cur.execute("select * from public.set_parking_days(%s, %s, %s, closed => true)", (lot["lot"]["id"], closed, closed))
    orders_before = db.value("select count(*) from public.orders")
    result = P.place(db, P.stay(lot, entry=P.local(lot["lot"], 8, 9), exit=P.local(lot["lot"], 11, 9)))
    refused(result, "PT409", "parking_day_closed")
    assert json.loads(result.diag.message_hint) == {"day": str(closed)}
    assert db.value("select count(*) from public.orders") == orders_before
    assert db.value("select count(*) from public.parking_bookings where lot_id = %s", (lot["lot"]["id"],)) == 0
    assert all(n == (0, 0) for n in P.counts(db, lot["lot"]["id"]).values())
    # The days either side are open.
    assert isinstance(P.place(db, P.stay(lot, entry=P.local(lot["lot"], 10, 9), exit=P.local(lot["lot"], 11, 9))), dict)


def test_a_sold_out_day_refuses_a_stay_crossing_it_and_names_it(db, park):
    lot = fresh_lot(db, park, spaces=2)
    for _ in range(2):
        P.booked(db, lot, P.stay(lot, entry=P.local(lot["lot"], 6, 10), exit=P.local(lot["lot"], 6, 18)))
    result = P.place(db, P.stay(lot, entry=P.local(lot["lot"], 4, 10), exit=P.local(lot["lot"], 8, 10)))
    refused(result, "PT409", "parking_day_full")
    assert json.loads(result.diag.message_hint) == {"day": str(P.date.fromordinal(P.today_at(lot["lot"]).toordinal() + 6))}
    quoted = P.quote(db, lot, P.stay(lot, entry=P.local(lot["lot"], 4, 10), exit=P.local(lot["lot"], 8, 10)))
    assert quoted["available"] is False
    assert [d["spaces_left"] for d in quoted["days"]] == [2, 2, 0, 2, 2]


def test_online_buyers_stop_at_the_released_share_and_staff_may_fill_the_lot(db, park):
    lot = fresh_lot(db, park, spaces=4, share=50)  # 2 of 4 released online
    request = P.stay(lot, entry=P.local(lot["lot"], 5, 10), exit=P.local(lot["lot"], 5, 16))
    assert isinstance(P.place(db, request), dict)
    assert isinstance(P.place(db, request), dict)
    refused(P.place(db, request), "PT409", "parking_day_full")
    staff = park["people"]["staff"].caller
    first = P.place(db, request, caller=staff)
    assert first["booking"]["channel"] == "staff"
    assert isinstance(P.place(db, request, caller=staff), dict)
    refused(P.place(db, request, caller=staff), "PT409", "parking_day_full")
    day = str(P.date.fromordinal(P.today_at(lot["lot"]).toordinal() + 5))
    assert P.counts(db, lot["lot"]["id"])[day] == (4, 2)


def test_the_counts_follow_expiry_cancellation_and_a_late_payment(db, park):
    lot = fresh_lot(db, park, spaces=1)
    request = P.stay(lot, entry=P.local(lot["lot"], 7, 10), exit=P.local(lot["lot"], 8, 10))
    days = [str(P.date.fromordinal(P.today_at(lot["lot"]).toordinal() + n)) for n in (7, 8)]
    held = P.place(db, request)
    assert [P.counts(db, lot["lot"]["id"])[d] for d in days] == [(1, 1), (1, 1)]
    db.value("select private.close_unpaid_order(%s, 'expired', 'hold_expired')", (held["order_id"],))
    assert P.booking_row(db, held["order_id"])["status"] == "cancelled"
    assert [P.counts(db, lot["lot"]["id"])[d] for d in days] == [(0, 0), (0, 0)]
    # Paid late while the space is still free: the stay is taken again.
    assert P.pay(db, held["order_id"]) == "late_fulfilled"
    assert P.booking_row(db, held["order_id"])["status"] == "booked"
    assert [P.counts(db, lot["lot"]["id"])[d] for d in days] == [(1, 1), (1, 1)]


def test_a_late_payment_for_a_stay_whose_day_filled_meanwhile_is_refunded(db, park):
    lot = fresh_lot(db, park, spaces=1)
    request = P.stay(lot, entry=P.local(lot["lot"], 7, 10), exit=P.local(lot["lot"], 8, 10))
    late = P.place(db, request)
    db.value("select private.close_unpaid_order(%s, 'expired', 'hold_expired')", (late["order_id"],))
    P.booked(db, lot, P.stay(lot, entry=P.local(lot["lot"], 8, 6), exit=P.local(lot["lot"], 8, 9)))
    assert P.pay(db, late["order_id"]) == "late_refunded"
    assert db.value("select status from public.orders where id = %s", (late["order_id"],)) == "refunded"
    assert db.value("select count(*) from public.refunds where order_id = %s and reason = 'late_payment_no_capacity'",
                    (late["order_id"],)) == 1
    assert P.booking_row(db, late["order_id"])["status"] == "cancelled"
    day = str(P.date.fromordinal(P.today_at(lot["lot"]).toordinal() + 8))
    assert P.counts(db, lot["lot"]["id"])[day] == (1, 1)


def test_staff_cannot_shrink_a_day_below_what_is_booked(db, park):
    lot = fresh_lot(db, park, spaces=3)
    P.booked(db, lot, P.stay(lot, entry=P.local(lot["lot"], 4, 10), exit=P.local(lot["lot"], 4, 12)))
    P.booked(db, lot, P.stay(lot, entry=P.local(lot["lot"], 4, 10), exit=P.local(lot["lot"], 4, 12)))
    day = P.date.fromordinal(P.today_at(lot["lot"]).toordinal() + 4)
    owner = park["people"]["owner"].caller
    refused(P.call(db, owner, "select count(*) from public.set_parking_days(%s, %s, %s, spaces => 1)",
                   lot["lot"]["id"], day, day), "PT409", "spaces_below_bookings")
    assert P.call(db, owner, "select count(*) from public.set_parking_days(%s, %s, %s, spaces => 2)",
                  lot["lot"]["id"], day, day) == 1
    refused(P.place(db, P.stay(lot, entry=P.local(lot["lot"], 4, 13), exit=P.local(lot["lot"], 4, 15))),
            "PT409", "parking_day_full")
    # Not the lot's managers: staff and other orgs cannot touch the calendar.
    for who in (park["people"]["staff"], park["people"]["rival_owner"]):
        refused(P.call(db, who.caller, "select count(*) from public.set_parking_days(%s, %s, %s, spaces => 9)",
                       lot["lot"]["id"], day, day), "PT404", "lot_not_found")
