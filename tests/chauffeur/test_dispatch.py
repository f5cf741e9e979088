"""Dispatch (routines/chauffeur/dispatch.sql): a driver or a vehicle never holds two live trips whose
blocked-out periods overlap, however many dispatchers assign at once (the exclusion constraints on
public.reservations), while adjacent trips both go through; and the dispatcher's checks (class or an
upgrade, seats, a vehicle in service, a licence valid on the day)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import psycopg
import pytest

from shared.platform.db import Caller, act_as
from tests.support.chauffeur import book, driver, trip, vehicle
from tests.support.pg import call, refused
from tests.support.races import deadlocks, label, race

LANES = 50


def booked(db, firm, *, days: float = 7, hour: int = 10, klass: str = "sedan", **extra) -> dict:
    answer = book(db, firm["org_id"], trip(firm[klass], days=days, hour=hour, **extra),
                  caller=firm["people"]["dispatcher"].caller)
    assert isinstance(answer, dict), answer
    return db.one("select * from public.reservations where id = %s", (answer["reservation_id"],))


def assign(db, firm, reservation, driver_id=None, vehicle_id=None, caller=None):
    return call(db, caller or firm["people"]["dispatcher"].caller,
                "select to_jsonb(public.assign_reservation(%s, %s, %s))", reservation["id"], driver_id, vehicle_id)


def contend(db, firm, reservations, *, driver_id=None, vehicle_ids=None):
    """Every lane assigns at once, each to its own reservation (default deadlock_timeout, no retries);
    the outcomes by label, and the deadlocks the run saw."""
    caller = firm["people"]["dispatcher"].caller
    pids: list[int] = []
    before = deadlocks(db)

    def lane(n: int, barrier: threading.Barrier) -> str:
        with db.connect() as conn, conn.transaction():
            cur = conn.cursor()
            pids.append(conn.info.backend_pid)
            act_as(cur, caller)
            barrier.wait()
            try:
                with conn.transaction():
                    cur.execute("select public.assign_reservation(%s, %s, %s)",
                                (reservations[n]["id"], driver_id, vehicle_ids[n] if vehicle_ids else None))
                return "ok"
            except psycopg.Error as exc:
                return label(exc)

    outcomes = Counter(race(len(reservations), lane))
    return outcomes, deadlocks(db, pids) - before


def test_fifty_dispatchers_assigning_one_driver_to_overlapping_trips_make_exactly_one(db, firm):
    trips = [booked(db, firm, days=20, hour=10) for _ in range(LANES)]
    outcomes, deadlocked = contend(db, firm, trips, driver_id=firm["dee"]["id"])
    assert outcomes == {"ok": 1, "PT409:driver_busy": LANES - 1} and deadlocked == 0
    assert db.value("select count(*) from public.reservations where driver_id = %s and id = any(%s)",
                    (firm["dee"]["id"], [t["id"] for t in trips])) == 1


def test_fifty_dispatchers_assigning_one_vehicle_make_exactly_one(db, firm):
    trips = [booked(db, firm, days=21, hour=9) for _ in range(LANES)]
    outcomes, deadlocked = contend(db, firm, trips, vehicle_ids=[firm["sedan_car"]["id"]] * LANES)
    assert outcomes == {"ok": 1, "PT409:vehicle_busy": LANES - 1} and deadlocked == 0


def test_canary_check_then_assign_without_the_constraint_double_books(db, firm):
    """A copy of public.reservations without its constraints: each dispatcher asks "is the driver free?",
    hesitates, then assigns. Several are told yes for overlapping trips."""
    db.sql("create schema if not exists canary")
    db.sql("drop table if exists canary.reservations")
    db.sql("create table canary.reservations as select * from public.reservations where false")
    assert db.value("select count(*) from pg_constraint where conrelid = 'canary.reservations'::regclass") == 0
    trips = [booked(db, firm, days=22, hour=10) for _ in range(10)]
    db.sql("insert into canary.reservations select * from public.reservations where id = any(%s)",
           ([t["id"] for t in trips],))
    try:
        def naive(n: int, barrier: threading.Barrier) -> bool:
            with db.connect() as conn, conn.transaction():
                barrier.wait()
                busy = conn.execute("select count(*) as n from canary.reservations where driver_id = %s"
                                    " and status in ('pending', 'confirmed', 'in_progress') and blocked && %s",
                                    (firm["dee"]["id"], trips[n]["blocked"])).fetchone()["n"]
                if busy:
                    return False
                time.sleep(0.01)
                conn.execute("update canary.reservations set driver_id = %s where id = %s",
                             (firm["dee"]["id"], trips[n]["id"]))
                return True

        told_yes = sum(race(len(trips), naive))
        print(f"canary: {told_yes} of {len(trips)} dispatchers gave Dee overlapping trips")
        assert told_yes > 1, "the canary should double book; the harness is not concurrent"
    finally:
        db.sql("drop schema canary cascade")


def test_adjacent_trips_both_go_to_one_driver_and_one_minute_of_overlap_does_not(db, firm):
    first = booked(db, firm, days=30, hour=8)
    assert assign(db, firm, first, firm["dee"]["id"], firm["sedan_car"]["id"])["driver_id"] == str(firm["dee"]["id"])
    free_from = first["blocked"].upper  # the next trip's preparation may start here
    prep = timedelta(minutes=30)
    adjacent = booked(db, firm, days=30) | {}
    db.sql("update public.reservations set pickup_at = %s, blocked = tstzrange(%s, %s + interval '2 hours')"
           " where id = %s", (free_from + prep, free_from, free_from + prep, adjacent["id"]))
    overlapping = booked(db, firm, days=30)
    db.sql("update public.reservations set pickup_at = %s, blocked = tstzrange(%s, %s + interval '2 hours')"
           " where id = %s", (free_from + prep - timedelta(minutes=1), free_from - timedelta(minutes=1),
                              free_from + prep, overlapping["id"]))
    assert assign(db, firm, adjacent, firm["dee"]["id"], firm["sedan_car"]["id"])["vehicle_id"] == str(
        firm["sedan_car"]["id"])
    refused(assign(db, firm, overlapping, firm["dee"]["id"]), "PT409", "driver_busy")
    refused(assign(db, firm, overlapping, None, firm["sedan_car"]["id"]), "PT409", "vehicle_busy")


def test_a_cancelled_trip_frees_its_driver(db, firm):
    one, two = booked(db, firm, days=31), booked(db, firm, days=31)
    assign(db, firm, one, firm["dee"]["id"])
    refused(assign(db, firm, two, firm["dee"]["id"]), "PT409", "driver_busy")
    call(db, firm["people"]["dispatcher"].caller, "select public.set_reservation_status(%s, 'cancelled', 'Flight cancelled')",
         one["id"])
    assert assign(db, firm, two, firm["dee"]["id"])["driver_id"] == str(firm["dee"]["id"])


def test_the_dispatchers_checks(db, firm):
    org = firm["org"]
    suv_trip = booked(db, firm, days=40, klass="suv", passengers=5)
    refused(assign(db, firm, suv_trip, None, firm["sedan_car"]["id"]), "PT422", "vehicle_class_too_low")
    small_suv = vehicle(db, org["id"], firm["suv"]["id"], seats=4)
    refused(assign(db, firm, suv_trip, None, small_suv["id"]), "PT422", "vehicle_too_small")
    in_shop = vehicle(db, org["id"], firm["suv"]["id"], seats=6, status="maintenance")
    refused(assign(db, firm, suv_trip, None, in_shop["id"]), "PT422", "vehicle_unavailable")
    sedan_trip = booked(db, firm, days=41)
    assert assign(db, firm, sedan_trip, None, firm["suv_car"]["id"])["vehicle_id"] == str(firm["suv_car"]["id"]), \
        "an upgrade is fine"
    pickup_day = db.value("select (pickup_at at time zone 'Europe/London')::date from public.reservations"
                          " where id = %s", (sedan_trip["id"],))
    lapsing = driver(db, org, name="Lapsing Lee", licence_expires=str(pickup_day - timedelta(days=1)))
    refused(assign(db, firm, sedan_trip, lapsing["id"]), "PT422", "licence_expired")
    on_the_day = driver(db, org, name="Just In Time", licence_expires=str(pickup_day))
    assert assign(db, firm, sedan_trip, on_the_day["id"])["driver_id"] == str(on_the_day["id"])
    rival_driver = driver(db, firm["rival"], name="Rival")
    refused(assign(db, firm, sedan_trip, rival_driver["id"]), "PT422", "unknown_driver")
    for who in ("driver", "staff", "manager", "affiliate", "rival_owner"):
        refused(assign(db, firm, sedan_trip, None, None, caller=firm["people"][who].caller),
                "PT404", "reservation_not_found")
    assert isinstance(assign(db, firm, sedan_trip, None, None, caller=Caller.anon()), psycopg.errors.InsufficientPrivilege)


def test_the_board_groups_a_days_trips_and_names_what_is_wrong(db, firm):
    day_trips = [booked(db, firm, days=50, hour=h) for h in (8, 12, 16)]
    assign(db, firm, day_trips[0], firm["dee"]["id"], firm["sedan_car"]["id"])
    call(db, firm["people"]["dispatcher"].caller, "select public.set_reservation_status(%s, 'confirmed')",
         day_trips[1]["id"])
    local_day = db.value("select (pickup_at at time zone 'Europe/London')::date from public.reservations"
                         " where id = %s", (day_trips[0]["id"],))
    board = call(db, firm["people"]["dispatcher"].caller, "select public.dispatch_board(%s, %s)", firm["org_id"],
                 local_day)
    ids = lambda group: sorted(t["id"] for t in board[group])  # noqa: E731
    assert board["trips"] == 3
    assert ids("assigned") == [str(day_trips[0]["id"])]
    assert ids("unassigned") == sorted(str(t["id"]) for t in day_trips[1:])
    assert [t["problems"] for t in board["conflicts"]] == [["unassigned"]]
    refused(call(db, firm["people"]["driver"].caller, "select public.dispatch_board(%s, %s)", firm["org_id"],
                 local_day), "PT403", "not_a_dispatcher")
