"""Recurring appointment subscriptions (routines/appointments/subscriptions.sql,
policies/appointments.sql, functions/generate-subscriptions).

1. Recurrence: weekly 09:00 stays 09:00 local across both DST changes; monthly
   keeps the day of the month, clamped to the month's end (31 Jan -> 28/29 Feb
   -> 31 Mar). The generator takes an injected "now" for these (2031 dates).
   Everything else is dated from the database's clock (`db_now`, `visit_day`),
   never from the calendar the tests happen to run on, and what the generator
   should book is worked out independently (`expected_visits`);
   tests/foundation/test_any_date.py runs this module at fixed awkward clocks.
2. Creating: every bad input is a clear PT4xx and writes nothing; a guest gets
   a number and a tracking token (only its sha256 stored); the visits inside
   the horizon are booked at once, unpaid.
3. Generation: run twice -> no duplicates; a clash takes the nearest free slot
   of the same staff member ('moved', the customer is told); no free slot ->
   'needs_attention', nothing booked, the managers are told.
4. Cancelling: future visits are cancelled, except those inside the 24-hour
   cut-off (they stay booked); customer, guest link and managers may cancel,
   staff, other customers and rival orgs may not.
5. RLS matrix of both tables; the HTTP function (service role only).
Concurrent generator runs (and their canary): test_subscription_races.py.
"""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from shared.appointments import subscriptions
from shared.platform.db import Caller
from tests.support.appointments import make_service, make_staff
from tests.support import factories
from tests.support.http import anon_headers, service_headers
from tests.support.rls import assert_case, parse_matrix
from tests.support.subscriptions import (  # noqa: F401  (db, shop: module fixtures)
    ALL_WEEK, POSTCODE, call, db, db_now, expected_visits, generate_one, ledger, outbox, raw_subscription, refused,
    shop, subscribe, visit_day, visits)


@pytest.fixture(scope="module")
def prober(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.row_factory = dict_row
        yield conn


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------
def generate_all(db, *, now, horizon: str = "4 weeks") -> dict:
    with db.as_service() as cur:
        cur.execute("select private.generate_subscription_appointments(%s::interval, %s) as counts", (horizon, now))
        return cur.fetchone()["counts"]


# ---------------------------------------------------------------------------
# 1. Recurrence
# ---------------------------------------------------------------------------
def test_weekly_at_nine_stays_nine_local_across_the_spring_change(db, shop):
    # Europe/London springs forward on Sunday 30 March 2031.
    sub = raw_subscription(db, shop, "2031-03-17", "09:00", months=1)
    counts = generate_one(db, sub["id"], now="2031-03-10T00:00Z", horizon="6 weeks")
    assert counts == {"generated": 5, "moved": 0, "needs_attention": 0}  # until ends_on, 17 April (exclusive)
    got = visits(db, sub["id"])
    assert [v["local"] for v in got] == ["2031-03-17 09:00", "2031-03-24 09:00", "2031-03-31 09:00",
                                         "2031-04-07 09:00", "2031-04-14 09:00"]
    assert [v["utc_hour"] for v in got] == [9, 9, 8, 8, 8]  # GMT, GMT, then BST
    assert {v["status"] for v in got} == {"booked"} and {v["order_id"] for v in got} == {None}  # unpaid


def test_weekly_at_nine_stays_nine_local_across_the_autumn_change(db, shop):
    # ... and falls back on Sunday 26 October 2031.
    sub = raw_subscription(db, shop, "2031-10-13", "09:00", frequency="biweekly", months=2)
    generate_one(db, sub["id"], now="2031-10-01T00:00Z", horizon="8 weeks")
    got = visits(db, sub["id"])
    assert [v["local"] for v in got] == ["2031-10-13 09:00", "2031-10-27 09:00", "2031-11-10 09:00",
                                         "2031-11-24 09:00"]
    assert [v["utc_hour"] for v in got] == [8, 9, 9, 9]  # BST, then GMT


def test_monthly_keeps_the_day_of_month_clamped_to_the_months_end(db, shop):
    sub = raw_subscription(db, shop, "2031-01-31", "11:00", frequency="monthly", months=3)
    generate_one(db, sub["id"], now="2031-01-20T00:00Z", horizon="26 weeks")
    assert [v["local"] for v in visits(db, sub["id"])] == ["2031-01-31 11:00", "2031-02-28 11:00",
                                                            "2031-03-31 11:00"]
    # A leap year: 29 February, and each month computed from the first date (no drift after February).
    days = db.sql("select private.subscription_occurrence_date('2032-01-31', 'monthly', n)::text as day"
                  " from generate_series(0, 3) n")
    assert [d["day"] for d in days] == ["2032-01-31", "2032-02-29", "2032-03-31", "2032-04-30"]


def test_a_start_the_spring_change_skips_means_the_instant_after_the_jump(db, shop):
    # 01:30 on 30 March 2031 does not exist in London. As in RFC 5545 (and Postgres' AT TIME ZONE), it is read
    # with the offset before the gap: 01:30 GMT, i.e. 02:30 BST; the following Sundays are 01:30 again.
    night = make_staff(db, shop["org"], [shop["service"]], hours={6: [("00:00", "04:00")]}, name="Nia")
    sub = raw_subscription(db, shop, "2031-03-30", "01:30", months=1, staff_id=night)
    try:
        counts = generate_one(db, sub["id"], now="2031-03-20T00:00Z")
    finally:  # Sunday nights stay unbookable for the other tests, whichever weekday their dates fall on
        db.sql("update public.staff set active = false where id = %s", (night,))
    assert counts == {"generated": 3, "moved": 0, "needs_attention": 0}
    assert [v["local"] for v in visits(db, sub["id"])] == ["2031-03-30 02:30", "2031-04-06 01:30",
                                                            "2031-04-13 01:30"]


# ---------------------------------------------------------------------------
# 2. Creating a subscription
# ---------------------------------------------------------------------------
def count_subscriptions(db, shop) -> int:
    return db.value("select count(*) from public.appointment_subscriptions where org_id = %s", (shop["org"]["id"],))


@pytest.mark.parametrize(("change", "sqlstate", "detail"), [
    ({"months": 0}, "PT422", "invalid_months"),
    ({"months": 13}, "PT422", "invalid_months"),
    ({"months": None}, "PT422", "invalid_months"),
    ({"frequency": "daily"}, "PT422", "invalid_frequency"),
    ({"frequency": None}, "PT422", "invalid_frequency"),
    ({"first_date": "2020-01-06"}, "PT422", "invalid_start"),
    ({"start_time": None}, "PT422", "invalid_start"),
    ({"email": "not-an-email"}, "PT422", "invalid_customer"),
    ({"name": " "}, "PT422", "invalid_customer"),
    ({"postcode": "NOT A POSTCODE"}, "PT422", "invalid_postcode"),
    ({"postcode": "JE2 3AB"}, "PT422", "postcode_not_covered"),
    ({"postcode": "M1 1AE"}, "PT422", "not_served_here"),
    ({"service_id": "00000000-0000-4000-8000-000000000000"}, "PT404", "service_not_found"),
    ({"start_time": "03:00"}, "PT409", "slot_unavailable"),
    ({"start_time": "16:30"}, "PT409", "slot_unavailable"),  # a 60-minute job would end after 17:00
    ({"staff_id": "other-org"}, "PT422", "staff_unavailable"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(db, shop, change, sqlstate, detail):
    args = {"first_date": visit_day(db), "start_time": "10:00", "frequency": "weekly", "months": 2}
    args.update(change)
    if args.get("staff_id") == "other-org":
        rival_service = make_service(db, shop["rival"])
        args["staff_id"] = make_staff(db, shop["rival"], [rival_service])
    before = count_subscriptions(db, shop)
    appointments = db.value("select count(*) from public.appointments where org_id = %s", (shop["org"]["id"],))
    first_date = args.pop("first_date")
    start_time = args.pop("start_time")
    refused(subscribe(db, Caller.anon(), shop, first_date, start_time, **args), sqlstate, detail)
    assert count_subscriptions(db, shop) == before
    assert db.value("select count(*) from public.appointments where org_id = %s", (shop["org"]["id"],)) == appointments


def test_a_guest_subscribes_with_a_token_shown_once_and_follows_it_by_link(db, shop):
    first = visit_day(db)
    answer = subscribe(db, Caller.anon(), shop, first, "10:00", months=2, email="Gwen@Example.com", name="Gwen")
    assert not isinstance(answer, psycopg.Error), answer
    token, number = answer["tracking_token"], answer["number"]
    assert number.startswith("SUB-") and len(token) >= 32
    assert answer["status"] == "active" and answer["frequency"] == "weekly" and answer["months"] == 2
    row = db.one("select * from public.appointment_subscriptions where number = %s", (number,))
    assert row["customer_user_id"] is None and row["customer_email"] == "gwen@example.com"
    assert bytes(row["tracking_token_hash"]) == db.value("select private.token_hash(%s)", (token,))
    assert token.encode() not in bytes(row["tracking_token_hash"])
    assert row["ends_on"] == db.value("select (%s::date + interval '2 months')::date", (first,))
    # The visits inside the default 4-week horizon are booked at once, with Bea (first by name) at 10:00.
    got = visits(db, row["id"])
    assert got and got[0]["local"] == f"{first} 10:00" and {v["status"] for v in got} == {"booked"}
    assert {v["staff_id"] for v in got} == {shop["bea"]} and {v["order_id"] for v in got} == {None}
    assert [o["status"] for o in answer["occurrences"]] == ["generated"] * len(got)
    assert len(outbox(db, "subscription_created", number=number)) == 1

    looked = call(db, Caller.anon(), "select public.lookup_subscription(%s, %s)", number.lower(), token)
    assert looked["subscription_id"] == str(row["id"]) and len(looked["occurrences"]) == len(got)
    assert call(db, Caller.anon(), "select public.lookup_subscription(%s, 'wrong')", number) is None
    assert call(db, Caller.anon(), "select public.cancel_subscription_as_guest(%s, 'wrong')", number) is None
    assert db.value("select status::text from public.appointment_subscriptions where id = %s", (row["id"],)) == "active"

    done = call(db, Caller.anon(), "select public.cancel_subscription_as_guest(%s, %s, 'moving away')", number, token)
    assert done["status"] == "cancelled" and done["kept"] == [] and len(done["cancelled"]) == len(got)
    assert {v["status"] for v in visits(db, row["id"])} == {"cancelled"}
    refused(call(db, Caller.anon(), "select public.cancel_subscription_as_guest(%s, %s)", number, token),
            "PT409", "not_active")
    [mail] = outbox(db, "subscription_cancelled", number=number)
    assert mail["recipient"] == "gwen@example.com"


def test_guessing_a_subscription_token_is_throttled(db, shop):
    answer = subscribe(db, Caller.anon(), shop, visit_day(db, 2), "11:00", months=1)
    for _ in range(10):
        assert call(db, Caller.anon(), "select public.lookup_subscription(%s, 'guess')", answer["number"]) is None
    refused(call(db, Caller.anon(), "select public.lookup_subscription(%s, 'guess')", answer["number"]),
            "PT429", "throttled")
    held = call(db, Caller.anon(), "select public.lookup_subscription(%s, %s)", answer["number"],
                answer["tracking_token"])
    assert held["number"] == answer["number"]  # the holder is never locked out


def test_a_signed_in_customer_subscribes_with_their_profile_and_a_chosen_staff_member(db, shop):
    customer = shop["people"]["customer"]
    now, first = db_now(db), visit_day(db, 3)
    answer = subscribe(db, customer.caller, shop, first, "14:00", frequency="monthly", months=12,
                       staff_id=shop["val"], name=None, email=None)
    assert not isinstance(answer, psycopg.Error), answer
    row = db.one("select * from public.appointment_subscriptions where id = %s", (answer["subscription_id"],))
    assert str(row["customer_user_id"]) == customer.id and row["customer_email"] == customer.email
    assert row["customer_name"] == "Casey Customer" and row["staff_id"] == shop["val"]
    [visit] = visits(db, row["id"])  # monthly from +24 days: only the first one is inside 4 weeks
    assert [visit["local"]] == expected_visits(first, "14:00", now=now, frequency="monthly", months=12)
    assert visit["staff_id"] == shop["val"] and visit["local"].endswith("14:00")
    mine = call(db, customer.caller, "select count(*) from public.appointments where subscription_id = %s", row["id"])
    assert mine == 1


# ---------------------------------------------------------------------------
# 3. Generation
# ---------------------------------------------------------------------------
def test_generation_run_twice_books_nothing_twice(db, shop):
    now, first_day = db_now(db), visit_day(db)
    sub = raw_subscription(db, shop, first_day, "15:00", months=3)
    first = generate_all(db, now=now)
    before = visits(db, sub["id"])
    assert [v["local"] for v in before] == expected_visits(first_day, "15:00", now=now, months=3)
    assert len(before) == 3 and first["generated"] >= 3, first  # +10, +17, +24 days
    assert [v["n"] for v in before] == [0, 1, 2]
    second = generate_all(db, now=now)
    assert (second["generated"], second["moved"], second["needs_attention"]) == (0, 0, 0), second
    assert visits(db, sub["id"]) == before
    assert len(ledger(db, sub["id"])) == len(before)
    # A longer horizon only adds the later occurrences.
    generate_all(db, now=now, horizon="8 weeks")
    after = visits(db, sub["id"])
    assert after[:len(before)] == before
    assert [v["local"] for v in after] == expected_visits(first_day, "15:00", now=now, months=3,
                                                           horizon=dt.timedelta(weeks=8))
    assert [v["n"] for v in after] == list(range(len(after))) and len(after) == 7  # ... and +31 to +52


def test_the_unique_occurrence_key_refuses_a_second_appointment_for_one_occurrence(db, shop):
    sub = raw_subscription(db, shop, visit_day(db), "16:00", months=1)
    generate_one(db, sub["id"], now=db_now(db))
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.sql("insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period,"
               " subscription_id, subscription_occurrence)"
               " select org_id, service_id, %s, customer_name, 'booked', tstzrange(lower(period) + interval '1 day',"
               " upper(period) + interval '1 day'), subscription_id, subscription_occurrence"
               " from public.appointments where subscription_id = %s and subscription_occurrence = 0",
               (shop["bea"], sub["id"]))


def test_a_clash_takes_the_nearest_free_slot_of_the_same_staff_member(db, shop):
    customer = shop["people"]["customer"]
    first = visit_day(db)
    sub = raw_subscription(db, shop, first, "10:00", months=2, staff_id=shop["val"], customer=customer,
                           email="casey@example.com")
    # Val is busy 09:00-11:00 on the second Monday: the nearest free start is 11:00 (09:00-10:30 are taken).
    clash_day = first + dt.timedelta(days=7)
    db.sql("insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period)"
           " values (%s, %s, %s, 'Someone Else', 'booked',"
           " tstzrange(%s::timestamp at time zone 'Europe/London', %s::timestamp at time zone 'Europe/London'))",
           (shop["org"]["id"], shop["service"], shop["val"], f"{clash_day} 09:00", f"{clash_day} 11:00"))
    counts = generate_one(db, sub["id"], now=db_now(db))
    assert counts["moved"] == 1 and counts["needs_attention"] == 0, counts
    got = {v["n"]: v for v in visits(db, sub["id"])}
    assert got[0]["local"] == f"{first} 10:00"
    assert got[1]["local"] == f"{clash_day} 11:00" and got[1]["staff_id"] == shop["val"]  # same staff, not Bea
    [moved] = [o for o in ledger(db, sub["id"]) if o["status"] == "moved"]
    assert moved["n"] == 1 and moved["actual_start"] - moved["wanted_start"] == dt.timedelta(hours=1)
    [mail] = outbox(db, "subscription_occurrence_moved", number=sub["number"])
    assert mail["recipient"] == "casey@example.com" and mail["payload"]["start"].startswith(f"{clash_day}T11:00")


def test_a_clash_without_a_free_slot_is_flagged_for_the_managers_and_not_booked(db, shop):
    first = visit_day(db)
    sub = raw_subscription(db, shop, first, "12:00", months=2, staff_id=shop["val"])
    blocked = first + dt.timedelta(days=14)
    # Val is off for the whole +-3 days around the third visit (Bea is free, but the rule is: same staff).
    db.sql("insert into public.staff_time_off (org_id, staff_id, period) values (%s, %s,"
           " tstzrange(%s::timestamp at time zone 'Europe/London', %s::timestamp at time zone 'Europe/London'))",
           (shop["org"]["id"], shop["val"], f"{blocked - dt.timedelta(days=3)} 00:00",
            f"{blocked + dt.timedelta(days=4)} 00:00"))
    counts = generate_one(db, sub["id"], now=db_now(db), horizon="6 weeks")
    assert counts["needs_attention"] == 1, counts
    flagged = [o for o in ledger(db, sub["id"]) if o["status"] == "needs_attention"]
    assert [o["n"] for o in flagged] == [2] and flagged[0]["appointment_id"] is None
    assert flagged[0]["actual_start"] is None
    assert 2 not in {v["n"] for v in visits(db, sub["id"])}
    people = shop["people"]
    told = {m["recipient"] for m in outbox(db, "subscription_needs_attention", number=sub["number"])}
    assert told == {people[r].email for r in ("owner", "admin", "manager")}
    # Not retried, not duplicated: the ledger row stands until someone deals with it.
    assert generate_one(db, sub["id"], now=db_now(db), horizon="6 weeks")["needs_attention"] == 0
    assert len(outbox(db, "subscription_needs_attention", number=sub["number"])) == 3
    # The managers see the flag; staff and the customer do not read the ledger.
    for role, seen in (("owner", 1), ("admin", 1), ("manager", 1), ("staff", 0), ("customer", 0)):
        n = call(db, people[role].caller, "select count(*) from public.subscription_occurrences"
                 " where subscription_id = %s and status = 'needs_attention'", sub["id"])
        assert n == seen, role


def test_inactive_staff_flags_every_occurrence(db, shop):
    gone = make_staff(db, shop["org"], [shop["service"]], hours=ALL_WEEK, name="Gone")
    sub = raw_subscription(db, shop, visit_day(db), "13:00", months=1, staff_id=gone)
    db.sql("update public.staff set active = false where id = %s", (gone,))
    counts = generate_one(db, sub["id"], now=db_now(db))
    assert counts["generated"] == 0 and counts["needs_attention"] >= 1 and visits(db, sub["id"]) == []


def test_the_cron_generator_books_by_the_clock_it_is_given(db, shop):
    # shared.appointments.subscriptions (the generate-subscriptions function) with an explicit clock in 2032: the
    # visits from then on are booked, whatever today is, and a second run at that clock books nothing.
    sub = raw_subscription(db, shop, "2032-06-07", "10:30", months=1, staff_id=shop["val"])
    now = dt.datetime(2032, 6, 1, 8, 0, tzinfo=dt.timezone.utc)
    first = subscriptions.generate_subscription_appointments(horizon_weeks=2, now=now)
    booked = [v["local"] for v in visits(db, sub["id"])]
    assert booked == expected_visits(dt.date(2032, 6, 7), "10:30", now=now, months=1, horizon=dt.timedelta(weeks=2))
    assert booked == ["2032-06-07 10:30", "2032-06-14 10:30"] and first["generated"] >= 2
    again = subscriptions.generate_subscription_appointments(horizon_weeks=2, now=now)
    assert (again["generated"], again["moved"]) == (0, 0) and len(visits(db, sub["id"])) == 2


def test_the_horizon_is_bounded(db):
    for bad in ("0 days", "27 weeks"):
        with pytest.raises(psycopg.Error) as err, db.as_service() as cur:
            cur.execute("select private.generate_subscription_appointments(%s::interval)", (bad,))
        assert err.value.diag.message_detail == "invalid_horizon"


# ---------------------------------------------------------------------------
# 4. Cancelling, with the cut-off
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clock(db, shop) -> dict:
    """A UTC org whose staff member works round the clock, with the 24-hour cut-off, so a subscription can
    start a few hours from now (inside the cut-off) and continue a week later (outside it)."""
    organization = factories.org(db, shop["people"]["owner"], timezone="UTC")
    db.sql("insert into public.appointment_settings (org_id, slot_interval_minutes, min_notice_minutes,"
           " max_days_ahead, cancellation_cutoff_hours) values (%s, 30, 0, 400, 24)", (organization["id"],))
    manager = factories.member(db, organization, role="manager")
    staff_user = factories.member(db, organization, role="staff")
    service = make_service(db, organization, 30, name="Quick clean")
    staff = make_staff(db, organization, [service], hours={d: [("00:00", "24:00")] for d in range(7)}, name="Rex")
    db.sql("update public.staff set user_id = %s where id = %s", (staff_user.id, staff))
    return {"org": organization, "service": service, "val": staff, "manager": manager, "staff_user": staff_user}


def soon(db) -> tuple[dt.date, str]:
    """A start 3-4 hours from now on the 30-minute grid (UTC): inside the 24-hour cut-off."""
    start = db.value("select date_trunc('hour', now() at time zone 'UTC') + interval '3 hours'")
    return start.date(), start.strftime("%H:%M")


def test_cancelling_keeps_the_visits_inside_the_cut_off(db, shop, clock):
    customer = shop["people"]["customer"]
    day, hhmm = soon(db)
    answer = subscribe(db, customer.caller, clock, day, hhmm, months=2, name=None, email=None)
    assert not isinstance(answer, psycopg.Error), answer
    sub_id = answer["subscription_id"]
    booked = visits(db, sub_id)
    assert len(booked) >= 4  # today's (inside the cut-off) and the next weeks'
    done = call(db, customer.caller, "select public.cancel_subscription(%s, 'no longer needed')", sub_id)
    assert done["status"] == "cancelled"
    assert [k["start"][:16] for k in done["kept"]] == [f"{day}T{hhmm}"]
    assert len(done["cancelled"]) == len(booked) - 1
    after = visits(db, sub_id)
    assert [v["status"] for v in after] == ["booked"] + ["cancelled"] * (len(booked) - 1)
    # Cancelled means no more generation.
    assert generate_one(db, sub_id, now=db_now(db), horizon="12 weeks") == \
        {"generated": 0, "moved": 0, "needs_attention": 0}
    assert db.value("select count(*) from public.audit_log where action = 'subscription.cancelled'"
                    " and row_id = %s", (str(sub_id),)) == 1
    [mail] = outbox(db, "subscription_cancelled", number=answer["number"])
    assert mail["recipient"] == customer.email and len(mail["payload"]["kept"]) == 1


def test_managers_may_cancel_a_subscription_but_staff_other_customers_and_rivals_may_not(db, shop, clock):
    customer = shop["people"]["customer"]
    answer = subscribe(db, customer.caller, clock, visit_day(db), "08:00", months=1, name=None, email=None)
    sub_id = answer["subscription_id"]
    rival = factories.org(db)["owner"]
    for who in (clock["staff_user"], shop["people"]["other_customer"], rival, shop["people"]["staff"]):
        refused(call(db, who.caller, "select public.cancel_subscription(%s)", sub_id), "PT404", "subscription_not_found")
    assert isinstance(call(db, Caller.anon(), "select public.cancel_subscription(%s)", sub_id),
                      psycopg.errors.InsufficientPrivilege)
    assert db.value("select status::text from public.appointment_subscriptions where id = %s", (sub_id,)) == "active"
    done = call(db, clock["manager"].caller, "select public.cancel_subscription(%s, 'customer phoned')", sub_id)
    assert done["status"] == "cancelled" and done["kept"] == []
    refused(call(db, customer.caller, "select public.cancel_subscription(%s)", sub_id), "PT409", "not_active")


# ---------------------------------------------------------------------------
# 5. RLS and privileges
# ---------------------------------------------------------------------------
ACTORS = ("anon", "outsider", "owner", "admin", "manager", "staff", "customer", "other_customer", "rival_owner",
          "service_role")
# x = no grant, 0 = matches no row, 1 = reads / writes the target. Rows are written only by the RPCs and the
# generator; `staff` is Bea's user, and Bea serves the target subscription (read-only).
MATRIX = """
table                     command anon outsider owner admin manager staff customer other_customer rival_owner service_role
appointment_subscriptions select  x    0        1     1     1       1     1        0              0           1
appointment_subscriptions insert  x    x        x     x     x       x     x        x              x           1
appointment_subscriptions update  x    x        x     x     x       x     x        x              x           1
appointment_subscriptions delete  x    x        x     x     x       x     x        x              x           1
subscription_occurrences  select  x    0        1     1     1       0     0        0              0           1
subscription_occurrences  insert  x    x        x     x     x       x     x        x              x           1
subscription_occurrences  update  x    x        x     x     x       x     x        x              x           1
subscription_occurrences  delete  x    x        x     x     x       x     x        x              x           1
"""
CASES = parse_matrix(MATRIX, ACTORS)
PROBES = {
    ("appointment_subscriptions", "select"): (
        "select id from public.appointment_subscriptions where id = %(sub_id)s", None),
    ("appointment_subscriptions", "insert"): (
        "insert into public.appointment_subscriptions (org_id, number, service_id, staff_id, customer_name,"
        " customer_email, postcode, frequency, first_date, start_time, months, tracking_token_hash)"
        " values (%(org_id)s, 'SUB-ZZZZZZZZ', %(service_id)s, %(staff_id)s, %(marker)s, 'x@example.com', 'SW1A 1AA',"
        " 'weekly', '2031-01-01', '09:00', 1, '\\x00') returning id",
        "select count(*) from public.appointment_subscriptions where customer_name = %(marker)s"),
    ("appointment_subscriptions", "update"): (
        "update public.appointment_subscriptions set notes = %(marker)s where id = %(sub_id)s returning id",
        "select count(*) from public.appointment_subscriptions where notes = %(marker)s"),
    ("appointment_subscriptions", "delete"): (
        "delete from public.appointment_subscriptions where id = %(spare_id)s returning id",
        "select 1 - count(*) from public.appointment_subscriptions where id = %(spare_id)s"),
    ("subscription_occurrences", "select"): (
        "select id from public.subscription_occurrences where id = %(occurrence_id)s", None),
    ("subscription_occurrences", "insert"): (
        "insert into public.subscription_occurrences (org_id, subscription_id, occurrence, wanted_start, status)"
        " values (%(org_id)s, %(sub_id)s, 999, now(), 'needs_attention') returning id",
        "select count(*) from public.subscription_occurrences where subscription_id = %(sub_id)s and occurrence = 999"),
    ("subscription_occurrences", "update"): (
        "update public.subscription_occurrences set occurrence = 998 where id = %(occurrence_id)s returning id",
        "select count(*) from public.subscription_occurrences where occurrence = 998"),
    ("subscription_occurrences", "delete"): (
        "delete from public.subscription_occurrences where id = %(occurrence_id)s returning id",
        "select 1 - count(*) from public.subscription_occurrences where id = %(occurrence_id)s"),
}


@pytest.fixture(scope="module")
def rls_world(db, shop) -> dict:
    people = shop["people"]
    answer = subscribe(db, people["customer"].caller, shop, visit_day(db, 2), "09:00", months=1, staff_id=shop["bea"],
                       name=None, email=None)
    spare = raw_subscription(db, shop, "2031-06-02", months=1)
    occurrence_id = db.value("select id from public.subscription_occurrences where subscription_id = %s"
                             " order by occurrence limit 1", (answer["subscription_id"],))
    callers = {actor: people[actor].caller for actor in ACTORS if actor in people}
    callers.update(anon=Caller.anon(), service_role=Caller.service())
    return {"callers": callers, "params": {
        "sub_id": answer["subscription_id"], "spare_id": spare["id"], "occurrence_id": occurrence_id,
        "org_id": shop["org"]["id"], "service_id": shop["service"], "staff_id": shop["bea"],
        "marker": f"probe-{uuid.uuid4().hex[:8]}"}}


@pytest.mark.parametrize(("table", "command", "actor", "expected"), CASES,
                         ids=[f"{t}-{c}-{a}" for t, c, a, _ in CASES])
def test_subscriptions_rls_matrix(prober, rls_world, table, command, actor, expected):
    statement, check = PROBES[(table, command)]
    assert_case(prober, rls_world["callers"][actor], statement, rls_world["params"], check, expected,
                f"{actor} {command} on {table}")


def test_nobody_but_the_server_reads_the_token_hash(db, shop, rls_world):
    for role in ("customer", "owner"):
        got = call(db, shop["people"][role].caller,
                   "select tracking_token_hash from public.appointment_subscriptions where id = %s",
                   rls_world["params"]["sub_id"])
        assert isinstance(got, psycopg.errors.InsufficientPrivilege), role


def test_both_tables_have_rls_on_and_one_sentence_policy_each(db):
    for table in ("appointment_subscriptions", "subscription_occurrences"):
        assert db.value("select relrowsecurity from pg_class where oid = %s::regclass", (f"public.{table}",)) is True
        policies = db.sql("select cmd, roles, policyname from pg_policies where tablename = %s", (table,))
        assert [(p["cmd"], p["roles"]) for p in policies] == [("SELECT", ["authenticated"])]


def test_the_generator_and_the_member_rpcs_are_not_for_anon_or_customers(db, shop):
    customer = shop["people"]["customer"]
    for caller in (Caller.anon(), customer.caller):
        got = call(db, caller, "select private.generate_subscription_appointments()")
        assert isinstance(got, psycopg.errors.InsufficientPrivilege), got
    got = call(db, Caller.anon(), "select private.cancel_subscription(gen_random_uuid(), null)")
    assert isinstance(got, psycopg.errors.InsufficientPrivilege), got


# ---------------------------------------------------------------------------
# 6. The function, over real HTTP
# ---------------------------------------------------------------------------
def test_the_generate_function_runs_for_the_service_role_only(stack, db, shop):
    url = f"{stack.functions_url}/generate-subscriptions"
    sub = raw_subscription(db, shop, visit_day(db, 2), "12:30", months=1, staff_id=shop["bea"])
    user = db.user()
    for headers in (anon_headers(), user.headers):
        r = httpx.post(url, json={}, headers=headers, timeout=60)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "service_role_only"
    assert httpx.post(url, json={}, timeout=60).status_code == 401
    assert visits(db, sub["id"]) == []
    bad = httpx.post(url, json={"horizon_weeks": 0}, headers=service_headers(), timeout=60)
    assert bad.status_code == 422, bad.text
    r = httpx.post(url, json={"horizon_weeks": 5}, headers=service_headers(), timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["horizon_days"] == 35 and r.json()["generated"] >= 1
    assert visits(db, sub["id"]) and visits(db, sub["id"])[0]["local"].endswith("12:30")
    again = httpx.post(url, json={"horizon_weeks": 5}, headers=service_headers(), timeout=60).json()
    assert (again["generated"], again["moved"], again["needs_attention"]) == (0, 0, 0), again


def test_the_subscription_emails_render_from_what_the_database_queued(db, shop):
    from shared.appointments import emails as appointment_mail  # noqa: F401  (registers the renderers)
    from shared.comms import notifications  # noqa: F401  (registers the renderers)

    templates = ("subscription_created", "subscription_occurrence_moved", "subscription_needs_attention",
                 "subscription_cancelled")
    rows = db.sql("select distinct on (template) template, recipient, payload from public.notification_outbox"
                  " where template = any(%s) order by template, created_at", (list(templates),))
    assert {r["template"] for r in rows} == set(templates)  # each was queued by the tests above
    with db.as_service() as cur:
        for row in rows:
            email = notifications.render(cur, row)
            assert email.to == row["recipient"] and "Regular clean" in email.subject + email.text, row["template"]
            assert row["payload"]["number"] in email.text and email.html.startswith("<!doctype html>")


# ---------------------------------------------------------------------------
# 7. A guest's address vouches for the subscription
# ---------------------------------------------------------------------------
def test_a_guest_subscription_books_nothing_until_the_emailed_code_confirms_it(db, shop):
    first = visit_day(db)
    answer = subscribe(db, Caller.anon(), shop, first, "15:00", email="wait@example.com", confirm=False)
    assert answer["status"] == "pending" and answer["tracking_token"], answer
    created = call(db, Caller.anon(), "select public.lookup_subscription(%s, %s)", answer["number"],
                   answer["tracking_token"])
    assert created["status"] == "pending" and visits(db, answer["subscription_id"]) == []
    [mail] = outbox(db, "subscription_confirm", number=answer["number"])
    assert mail["recipient"] == "wait@example.com" and mail["payload"]["tracking_token"] == answer["tracking_token"]
    # The generator leaves it alone.
    generate_all(db, now=db_now(db))
    assert visits(db, answer["subscription_id"]) == []
    # A wrong code starts nothing (and is counted); the right one starts it, once.
    assert call(db, Caller.anon(), "select public.confirm_subscription(%s, %s)", answer["number"], "wrong") is None
    now = db_now(db)
    for _ in range(2):
        started = call(db, Caller.anon(), "select public.confirm_subscription(%s, %s)", answer["number"],
                       answer["tracking_token"])
        assert started["status"] == "active"
    booked = [v["local"] for v in visits(db, answer["subscription_id"])]
    assert booked == expected_visits(first, "15:00", now=now, months=2) and len(booked) == 3
    assert len(outbox(db, "subscription_created", number=answer["number"])) == 1


def test_the_create_answer_never_carries_a_guests_code(db, shop):
    raw = call(db, Caller.anon(),
               "select public.create_appointment_subscription(%s, %s, 'weekly', %s, '16:00', 1, null, 'Nat',"
               " 'nat@example.com', null, null, null)", shop["service"], POSTCODE, visit_day(db))
    assert raw["status"] == "pending" and "tracking_token" not in raw and raw["confirmation_sent_to"] == \
        "nat@example.com"


def test_a_signed_in_customer_with_that_confirmed_address_starts_at_once(db, shop):
    person = shop["people"]["customer"]
    db.sql("update auth.users set email_confirmed_at = now() where id = %s", (person.id,))
    answer = call(db, person.caller,
                  "select public.create_appointment_subscription(%s, %s, 'weekly', %s, '15:30', 1, null, null,"
                  " null, null, null, null)", shop["service"], POSTCODE, visit_day(db, 9))
    assert answer["status"] == "active" and answer["tracking_token"], answer
    nine_weeks_out = generate_one(db, answer["subscription_id"], now=db_now(db), horizon="12 weeks")
    assert nine_weeks_out["generated"] >= 1
    # ... but not for somebody else's address: that one is confirmed by its owner.
    other = call(db, person.caller,
                 "select public.create_appointment_subscription(%s, %s, 'weekly', %s, '13:00', 1, null, 'Mum',"
                 " 'mum@example.com', null, null, null)", shop["service"], POSTCODE, visit_day(db, 9))
    assert other["status"] == "pending", other


def test_a_fourth_unconfirmed_subscription_for_one_address_in_a_day_is_refused(db, shop):
    for hour in ("09:00", "09:30", "10:30"):
        assert subscribe(db, Caller.anon(), shop, visit_day(db, 10), hour, email="spam@example.com",
                         confirm=False)["status"] == "pending"
    before = db.value("select count(*) from public.appointment_subscriptions")
    refused(subscribe(db, Caller.anon(), shop, visit_day(db, 10), "11:30", email="SPAM@example.com", confirm=False),
            "PT429", "too_many_pending")
    assert db.value("select count(*) from public.appointment_subscriptions") == before
