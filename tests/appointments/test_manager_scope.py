"""A manager's scope (routines/appointments/manager_scope.sql, policies/appointments.sql).

One org with two staff members (Ann, Bob) who both do two services (clean,
oven), and one job per staff × service. Managers:

    whole     scope {}                                   every job (as before)
    ann_only  {"staff_ids": [Ann]}                       Ann's jobs
    ovens     {"service_ids": [oven]}                    oven jobs, whoever does them
    ann_oven  {"staff_ids": [Ann], "service_ids": [oven]}  Ann's oven jobs

Owners and admins are never narrowed. The scope narrows reading and writing
appointments, the staff rows, schedules and time off of their staff, the
override RPC, change requests (deciding, seeing, being told) and the calendar.
"""

from __future__ import annotations

import datetime as dt
import itertools

import psycopg
import pytest
from psycopg.types.json import Jsonb

from shared.platform.db import Caller
from tests.support import factories
from tests.support.pg import ArrangingDb

SCOPES = {
    "whole": lambda w: {},
    "ann_only": lambda w: {"staff_ids": [w["ann"]]},
    "ovens": lambda w: {"service_ids": [w["oven"]]},
    "ann_oven": lambda w: {"staff_ids": [w["ann"]], "service_ids": [w["oven"]]},
}
# Which of the four jobs (staff, service) each manager manages.
MANAGES = {
    "whole": {("ann", "clean"), ("ann", "oven"), ("bob", "clean"), ("bob", "oven")},
    "ann_only": {("ann", "clean"), ("ann", "oven")},
    "ovens": {("ann", "oven"), ("bob", "oven")},
    "ann_oven": {("ann", "oven")},
    "owner": {("ann", "clean"), ("ann", "oven"), ("bob", "clean"), ("bob", "oven")},
    "admin": {("ann", "clean"), ("ann", "oven"), ("bob", "clean"), ("bob", "oven")},
}
JOBS = [("ann", "clean"), ("ann", "oven"), ("bob", "clean"), ("bob", "oven")]


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    org = team["org"]
    org_id = org["id"]
    db.sql("update public.organizations set timezone = 'UTC' where id = %s", (org_id,))
    db.sql("insert into public.appointment_settings (org_id, slot_interval_minutes, min_notice_minutes,"
           " max_days_ahead, cancellation_cutoff_hours) values (%s, 15, 0, 60, 24)", (org_id,))
    w: dict = {"org_id": org_id, "people": dict(team["people"]), "customer": db.user()}
    for key, name in (("clean", "Regular clean"), ("oven", "Oven clean")):
        w[key] = str(db.value("insert into public.services (org_id, name, duration_minutes, price_minor)"
                              " values (%s, %s, 30, 4800) returning id", (org_id, name)))
    for key, name in (("ann", "Ann"), ("bob", "Bob")):
        w[key] = str(db.value("insert into public.staff (org_id, display_name) values (%s, %s) returning id",
                              (org_id, name)))
        for service in ("clean", "oven"):
            db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
                   (w[key], w[service], org_id))
        for weekday in range(7):
            db.sql("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
                   " values (%s, %s, %s, '00:00', '24:00')", (org_id, w[key], weekday))
    for name, scope in SCOPES.items():
        w["people"][name] = factories.member(db, org, role="manager", scope=scope(w))
    base = db.value("select date_trunc('day', now()) + interval '3 days 9 hours'")
    w["slots"] = (base + dt.timedelta(minutes=30 * k) for k in itertools.count())
    w["jobs"] = {job: book(db, w, job) for job in JOBS}
    soon = db.value("select date_trunc('minute', now()) + interval '2 hours'")
    w["soon"] = (soon + dt.timedelta(minutes=30 * k) for k in itertools.count())  # inside the 24 h cut-off
    w["days_off"] = ((40 + 2 * k, 41 + 2 * k) for k in itertools.count())
    return w


def book(db, w, job, *, start=None, customer=None) -> str:
    staff, service = job
    start = start or next(w["slots"])
    return str(db.value(
        "insert into public.appointments (org_id, service_id, staff_id, customer_user_id, customer_name,"
        " customer_email, status, period) values (%s, %s, %s, %s, 'Casey', 'casey@example.com', 'booked',"
        " tstzrange(%s, %s, '[)')) returning id",
        (w["org_id"], w[service], w[staff], (customer or w["customer"]).id, start, start + dt.timedelta(minutes=30))))


def caller(w, who) -> Caller:
    return w["people"][who].caller


def attempt(db, w, who, statement, *params):
    """One statement as `who`, committed: its rows, or the error."""
    return db.attempt(caller(w, who), statement, params)


# ---------------------------------------------------------------------------
# Reading and writing appointments
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("who", list(MANAGES))
def test_each_manager_reads_exactly_the_jobs_in_their_scope(db, world, who):
    ids = {job: world["jobs"][job] for job in JOBS}
    rows = attempt(db, world, who, "select id::text from public.appointments where id = any(%s::uuid[])",
                   list(ids.values()))
    assert {r["id"] for r in rows} == {ids[job] for job in MANAGES[who]}


@pytest.mark.parametrize("who", list(MANAGES))
def test_each_manager_edits_exactly_the_jobs_in_their_scope(db, world, who):
    for job in JOBS:
        result = attempt(db, world, who, "update public.appointments set notes = 'gate code 1234'"
                         " where id = %s returning id", world["jobs"][job])
        assert (len(result) == 1) == (job in MANAGES[who]), (who, job, result)


@pytest.mark.parametrize(("who", "job"), [("ann_only", ("bob", "clean")), ("ovens", ("ann", "clean")),
                                          ("ann_oven", ("ann", "clean")), ("ann_oven", ("bob", "oven"))])
def test_a_manager_cannot_book_a_job_outside_their_scope(db, world, who, job):
    staff, service = job
    start = next(world["slots"])
    result = attempt(db, world, who,
                     "insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period)"
                     " values (%s, %s, %s, 'Phone booking', 'booked', tstzrange(%s, %s + interval '30 minutes'))"
                     " returning id", world["org_id"], world[service], world[staff], start, start)
    assert isinstance(result, psycopg.errors.InsufficientPrivilege) and "row-level security" in str(result), result


def test_a_manager_books_inside_their_scope(db, world):
    start = next(world["slots"])
    result = attempt(db, world, "ann_oven",
                     "insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period)"
                     " values (%s, %s, %s, 'Phone booking', 'booked', tstzrange(%s, %s + interval '30 minutes'))"
                     " returning id", world["org_id"], world["oven"], world["ann"], start, start)
    assert len(result) == 1, result


def test_a_manager_cannot_hand_a_job_to_staff_outside_their_scope(db, world):
    job = book(db, world, ("ann", "clean"))
    result = attempt(db, world, "ann_only", "update public.appointments set staff_id = %s where id = %s returning id",
                     world["bob"], job)
    assert isinstance(result, psycopg.errors.InsufficientPrivilege) and "row-level security" in str(result), result
    assert str(db.value("select staff_id from public.appointments where id = %s", (job,))) == world["ann"]


@pytest.mark.parametrize("who", ["owner", "admin", "whole", "ann_only"])
def test_nobody_signed_in_deletes_an_appointment_even_a_booked_one_inside_the_cutoff(db, world, who):
    job = book(db, world, ("ann", "clean"), start=next(world["soon"]))
    result = attempt(db, world, who, "delete from public.appointments where id = %s returning id", job)
    assert isinstance(result, psycopg.errors.InsufficientPrivilege) and "permission denied" in str(result), result
    assert db.value("select status::text from public.appointments where id = %s", (job,)) == "booked"
    # ... and cancelling it inside the cut-off is still refused without the audited override.
    refused = attempt(db, world, who, "update public.appointments set status = 'cancelled' where id = %s", job)
    assert isinstance(refused, psycopg.Error) and refused.diag.message_detail == "cutoff_passed", refused


# ---------------------------------------------------------------------------
# Staff, schedules and time off
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("who", "managed"), [("whole", {"ann", "bob"}), ("ann_only", {"ann"}),
                                              ("ovens", {"ann", "bob"}), ("owner", {"ann", "bob"})])
def test_schedules_and_time_off_are_read_and_written_for_the_staff_in_scope(db, world, who, managed):
    for staff in ("ann", "bob"):
        seen = attempt(db, world, who, "select count(*) as n from public.staff_schedules where staff_id = %s",
                       world[staff])[0]["n"]
        assert (seen == 7) == (staff in managed), (who, staff, seen)
        edited = attempt(db, world, who, "update public.staff_schedules set starts_at = '00:00'"
                         " where staff_id = %s and weekday = 0 returning id", world[staff])
        assert (len(edited) == 1) == (staff in managed), (who, staff, edited)
        time_off = attempt(db, world, who,
                           "insert into public.staff_time_off (org_id, staff_id, period, reason) values"
                           " (%s, %s, tstzrange(now() + %s * interval '1 day', now() + %s * interval '1 day'),"
                           " 'Holiday') returning id", world["org_id"], world[staff], *next(world["days_off"]))
        assert isinstance(time_off, list) == (staff in managed), (who, staff, time_off)


@pytest.mark.parametrize(("who", "managed"), [("ann_only", {"ann"}), ("ann_oven", {"ann"}), ("whole", {"ann", "bob"})])
def test_staff_rows_are_edited_within_scope_but_any_manager_may_add_one(db, world, who, managed):
    for staff in ("ann", "bob"):
        edited = attempt(db, world, who, "update public.staff set phone = '01632 960000' where id = %s returning id",
                         world[staff])
        assert (len(edited) == 1) == (staff in managed), (who, staff, edited)
    added = attempt(db, world, who, "insert into public.staff (org_id, display_name) values (%s, 'New hire')"
                    " returning id", world["org_id"])
    assert len(added) == 1, added


@pytest.mark.parametrize("who", ["ann_only", "whole"])
def test_a_manager_cannot_move_staff_or_their_hours_to_another_organization(db, world, who):
    """Without a WHERE clause the UPDATE needs no SELECT rights: only WITH CHECK and the trigger stand."""
    rival = factories.org(db)
    factories.member(db, rival, world["people"][who], role="manager")  # even a manager there too
    for statement in ("update public.staff set org_id = %s, display_name = 'Moved'",
                      "update public.staff_schedules set org_id = %s",
                      "update public.staff_time_off set org_id = %s"):
        result = attempt(db, world, who, statement + " returning id", rival["id"])
        assert isinstance(result, psycopg.Error), (statement, result)
    assert db.value("select count(*) from public.staff where org_id = %s", (rival["id"],)) == 0
    assert db.value("select count(*) from public.staff where display_name = 'Moved'") == 0


def test_not_even_an_owner_of_both_moves_a_staff_member_between_organizations(db, world):
    second = factories.org(db, world["people"]["owner"])
    result = attempt(db, world, "owner", "update public.staff set org_id = %s where id = %s returning id",
                     second["id"], world["ann"])
    assert isinstance(result, psycopg.Error) and result.diag.message_detail == "org_id_fixed", result


def test_a_service_link_outside_the_scope_cannot_be_removed(db, world):
    result = attempt(db, world, "ann_oven", "delete from public.staff_services where staff_id = %s"
                     " and service_id = %s returning staff_id", world["ann"], world["clean"])
    assert result == []
    assert db.value("select count(*) from public.staff_services where staff_id = %s and service_id = %s",
                    (world["ann"], world["clean"])) == 1


# ---------------------------------------------------------------------------
# The override, change requests and the calendar
# ---------------------------------------------------------------------------
def inside_cutoff(db, world, job) -> str:
    return book(db, world, job, start=next(world["soon"]))


def test_the_override_is_refused_outside_the_scope_and_works_inside_it(db, world):
    outside = inside_cutoff(db, world, ("bob", "clean"))
    result = attempt(db, world, "ann_only",
                     "select public.override_appointment_change(%s, 'cancel', null, 'Sick')", outside)
    assert isinstance(result, psycopg.Error) and result.diag.message_detail == "appointment_not_found", result
    assert db.value("select status::text from public.appointments where id = %s", (outside,)) == "booked"
    inside = inside_cutoff(db, world, ("ann", "clean"))
    ok = attempt(db, world, "ann_only", "select public.override_appointment_change(%s, 'cancel', null, 'Sick')",
                 inside)
    assert not isinstance(ok, Exception), ok
    assert db.value("select status::text from public.appointments where id = %s", (inside,)) == "cancelled"


def test_the_override_setting_by_hand_does_not_reach_outside_the_scope(db, world):
    """`ovens` may update Bob's oven job through RLS but not Ann's clean one; the setting alone gets them nowhere."""
    job = inside_cutoff(db, world, ("ann", "clean"))
    with db.acting(caller(world, "ovens")) as cur:
        cur.execute("select set_config('bookwell.policy_override', 'Sick', true)")
        cur.execute("update public.appointments set status = 'cancelled' where id = %s returning id", (job,))
        assert cur.fetchall() == []
    assert db.value("select status::text from public.appointments where id = %s", (job,)) == "booked"


def request_change(db, world, job_id) -> dict:
    result = db.attempt(world["customer"].caller,
                        "select public.request_appointment_change(%s, 'cancel', null, 'Flu') as r", (job_id,))
    assert not isinstance(result, Exception), result
    return result[0]["r"]


def test_change_requests_are_told_to_seen_and_decided_by_managers_in_scope_only(db, world):
    job = inside_cutoff(db, world, ("bob", "oven"))
    req = request_change(db, world, job)
    told = {r["recipient"] for r in db.sql("select recipient from public.notification_outbox"
                                           " where template = 'change_request_received' and payload ->> 'request_id' = %s",
                                           (req["id"],))}
    people = world["people"]
    assert told == {people[w].email for w in ("owner", "admin", "manager", "whole", "ovens")}
    for who in ("ann_only", "ann_oven", "whole", "ovens"):
        seen = attempt(db, world, who, "select id from public.appointment_change_requests where id = %s", req["id"])
        assert (len(seen) == 1) == (who in ("whole", "ovens")), (who, seen)
    refused = attempt(db, world, "ann_only", "select public.decide_appointment_change(%s, true)", req["id"])
    assert isinstance(refused, psycopg.Error) and refused.diag.message_detail == "request_not_found", refused
    assert db.value("select status::text from public.appointment_change_requests where id = %s",
                    (req["id"],)) == "pending"
    decided = attempt(db, world, "ovens", "select public.decide_appointment_change(%s, true) as d", req["id"])
    assert decided[0]["d"]["status"] == "approved"
    assert db.value("select status::text from public.appointments where id = %s", (job,)) == "cancelled"


@pytest.mark.parametrize("who", ["ann_only", "ovens", "ann_oven", "whole"])
def test_a_managers_calendar_shows_the_jobs_in_their_scope(db, world, who):
    events = db.value("select private.calendar_events(%s)", (world["people"][who].id,))
    shown = {e["id"] for e in events}
    expected = {world["jobs"][job] for job in MANAGES[who]}
    assert expected <= shown
    assert not ({world["jobs"][job] for job in JOBS} - expected) & shown


def test_a_managers_calendar_still_shows_their_own_bookings_as_a_customer(db, world):
    mine = book(db, world, ("bob", "clean"), customer=world["people"]["ann_only"])
    events = db.value("select private.calendar_events(%s)", (world["people"]["ann_only"].id,))
    [event] = [e for e in events if e["id"] == mine]
    assert event["customer_name"] is None  # shown as their booking, not as a job they run


def test_an_owner_can_narrow_a_manager_through_the_rpc_and_it_takes_effect(db, world):
    person = factories.member(db, {"id": world["org_id"]}, role="manager")
    before = db.attempt(person.caller, "select count(*) as n from public.appointments where id = any(%s::uuid[])",
                        (list(world["jobs"].values()),))[0]["n"]
    assert before == 4
    result = db.attempt(world["people"]["owner"].caller, "select public.change_member_role(%s, %s, 'manager', %s)",
                        (world["org_id"], person.id, Jsonb({"staff_ids": [world["bob"]]})))
    assert not isinstance(result, Exception), result
    after = db.attempt(person.caller, "select count(*) as n from public.appointments where id = any(%s::uuid[])",
                       (list(world["jobs"].values()),))[0]["n"]
    assert after == 2


# ---------------------------------------------------------------------------
# Subscriptions
# ---------------------------------------------------------------------------
def subscription(db, w, job) -> str:
    staff, service = job
    return str(db.value(
        "insert into public.appointment_subscriptions (org_id, number, service_id, staff_id, customer_name,"
        " customer_email, postcode, frequency, first_date, start_time, months, tracking_token_hash)"
        " values (%s, 'SUB-' || substr(private.new_order_number(), 4),"
        " %s, %s, 'Sam', 'sam@example.com', 'SW1A 1AA', 'weekly', current_date + 60, '10:00', 1,"
        " sha256('t'::bytea)) returning id", (w["org_id"], w[service], w[staff])))


@pytest.mark.parametrize("who", ["ann_only", "ovens", "ann_oven", "whole", "owner"])
def test_subscriptions_are_seen_and_cancelled_by_managers_in_scope_only(db, world, who):
    subs = {job: subscription(db, world, job) for job in JOBS}
    seen = attempt(db, world, who, "select id::text from public.appointment_subscriptions where id = any(%s::uuid[])",
                   list(subs.values()))
    assert {r["id"] for r in seen} == {subs[job] for job in MANAGES[who]}
    for job in JOBS:
        result = attempt(db, world, who, "select public.cancel_subscription(%s, 'Moving away')", subs[job])
        assert isinstance(result, list) == (job in MANAGES[who]), (who, job, result)
