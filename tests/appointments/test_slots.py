"""Time slots (routines/appointments/slots.sql): for a service, a postcode and a range of
days, the wall-clock starts in the org's timezone at which some covering,
qualified, active staff member is free for the service plus its buffers.

Most cases call private.slot_days as superuser with a fixed "now" (Friday
2027-01-01 00:00 UTC), so every expected list below is worked out by hand and
does not move with the calendar; the public RPC (which always uses now()) is
checked against it with dates relative to today. Europe/London is GMT in
January, so local times there equal UTC.

Week used: Monday 2027-01-04 … Sunday 2027-01-10. DST days in 2027 (UK): the
last Sundays of March (28th, 01:00 GMT -> 02:00 BST) and October (31st,
02:00 BST -> 01:00 GMT).
"""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest

from shared.platform.db import Caller
from tests.support.appointments import local, make_org, make_service, make_staff
from tests.support.pg import ArrangingDb

NOW = "2027-01-01 00:00:00+00"
MON, TUE, WED, THU = "2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07"
SPRING, AUTUMN = "2027-03-28", "2027-10-31"


# ---------------------------------------------------------------------------
# Builders (superuser). Times are local wall-clock strings in the org's zone.
# ---------------------------------------------------------------------------
def book(db, org: dict, service_id, staff_id, wall: str, minutes: int = 60, *, before: int = 0, after: int = 0,
         status: str = "booked") -> uuid.UUID:
    start = local(db, org, wall)
    return db.value(
        "insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period,"
        " buffer_before_minutes, buffer_after_minutes, hold_expires_at)"
        " values (%s, %s, %s, 'Cathy Customer', %s, tstzrange(%s, %s), %s, %s,"
        "         case when %s = 'held' then now() + interval '10 minutes' end) returning id",
        (org["id"], service_id, staff_id, status, start, start + dt.timedelta(minutes=minutes), before, after,
         status))


def time_off(db, org: dict, staff_id, starts: str, ends: str) -> None:
    db.sql("insert into public.staff_time_off (org_id, staff_id, period) values (%s, %s, tstzrange(%s, %s))",
           (org["id"], staff_id, local(db, org, starts), local(db, org, ends)))


def raw_slots(db, service_id, day_from: str, day_to: str | None = None, *, outcode: str | None = "SW1A",
              staff_id=None, now: str = NOW) -> list[dict]:
    return db.value("select private.slot_days(%s, %s, %s, %s, %s, %s)",
                    (service_id, outcode, day_from, day_to or day_from, staff_id, now))


def slots(db, service_id, day_from: str, day_to: str | None = None, **kw) -> dict[str, list]:
    """{date: [(local HH:MM, [staff ids])]}; single day → just its list."""
    days = {d["date"]: [(s["start"][11:16], s["staff"]) for s in d["slots"]]
            for d in raw_slots(db, service_id, day_from, day_to, **kw)}
    return days[day_from] if day_to is None else days


def times(db, service_id, day: str, **kw) -> list[str]:
    return [t for t, _ in slots(db, service_id, day, **kw)]


def every(start: str, end: str, step: int = 30) -> list[str]:
    """Wall-clock HH:MM from start to end inclusive."""
    h, m = map(int, start.split(":"))
    at, stop = h * 60 + m, sum(int(x) * f for x, f in zip(end.split(":"), (60, 1)))
    out = []
    while at <= stop:
        out.append(f"{at // 60:02d}:{at % 60:02d}")
        at += step
    return out


def error(result) -> tuple[str, str]:
    assert isinstance(result, psycopg.Error), result
    return result.sqlstate, result.diag.message_detail


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


# ---------------------------------------------------------------------------
# Working hours, breaks, time off, buffers
# ---------------------------------------------------------------------------
def test_a_plain_day_is_the_schedule_on_the_grid_minus_the_lunch_break(db):
    org = make_org(db)
    service = make_service(db, org, 60)
    val = make_staff(db, org, [service], breaks={0: [("12:00", "13:00")]})
    # 09:00-17:00, 60 minutes on a 30-minute grid: the last start is 16:00; nothing may overlap 12:00-13:00.
    assert slots(db, service, MON) == [(t, [str(val)]) for t in
                                       ["09:00", "09:30", "10:00", "10:30", "11:00",
                                        "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00"]]
    # The break is Monday's only; Tuesday is the whole day. Saturday has no schedule.
    assert times(db, service, TUE) == every("09:00", "16:00")
    assert slots(db, service, "2027-01-09") == []


def test_each_day_of_the_range_is_listed_even_when_empty_and_starts_carry_the_offset(db):
    org = make_org(db)
    service = make_service(db, org, 60)
    make_staff(db, org, [service], hours={0: [("09:00", "10:00")]})
    days = raw_slots(db, service, MON, "2027-01-06")
    assert [d["date"] for d in days] == [MON, TUE, WED]
    assert days[0]["slots"][0]["start"] == "2027-01-04T09:00:00+00:00"
    assert days[0]["slots"][0]["end"] == "2027-01-04T10:00:00+00:00"
    assert days[1]["slots"] == days[2]["slots"] == []


def test_time_off_removes_every_start_whose_job_would_overlap_it(db):
    org = make_org(db)
    service = make_service(db, org, 60)
    val = make_staff(db, org, [service], hours={0: [("13:00", "17:00")]})
    time_off(db, org, val, f"{MON} 14:00", f"{MON} 15:30")
    # 13:30 would run to 14:30 and 15:00 starts inside it; 13:00 ends as it starts, 15:30 starts as it ends.
    assert times(db, service, MON) == ["13:00", "15:30", "16:00"]
    # Time off over whole days empties them.
    time_off(db, org, val, "2027-01-11 00:00", "2027-01-19 00:00")
    assert times(db, service, "2027-01-11") == [] and times(db, service, "2027-01-18") == []
    assert times(db, service, "2027-01-25") == every("13:00", "16:00")


def test_buffers_must_fit_in_working_hours_and_keep_clear_of_other_jobs_buffers(db):
    org = make_org(db, interval=15)
    service = make_service(db, org, 60, before=15, after=15)
    val = make_staff(db, org, [service], hours={0: [("09:00", "13:00")]})
    # Alone: blocked [start-15, start+75) inside 09:00-13:00 → 09:15 … 11:45.
    assert times(db, service, MON) == every("09:15", "11:45", 15)
    # A 10:00-11:00 job with 15/15 buffers blocks 09:45-11:15: a start needs start+75 <= 09:45 (none)
    # or start-15 >= 11:15, so only 11:30 and 11:45 are left.
    job = book(db, org, service, val, f"{MON} 10:00", before=15, after=15)
    assert times(db, service, MON) == ["11:30", "11:45"]
    # Held counts as live; cancelled and completed do not.
    db.sql("update public.appointments set status = 'held', hold_expires_at = now() + interval '5 minutes'"
           " where id = %s", (job,))
    assert times(db, service, MON) == ["11:30", "11:45"]
    db.sql("update public.appointments set status = 'cancelled' where id = %s", (job,))
    assert times(db, service, MON) == every("09:15", "11:45", 15)


def test_a_service_without_buffers_fits_right_against_a_job(db):
    org = make_org(db)
    service = make_service(db, org, 60)
    val = make_staff(db, org, [service], hours={0: [("09:00", "13:00")]})
    book(db, org, service, val, f"{MON} 10:00", 60)
    assert times(db, service, MON) == ["09:00", "11:00", "11:30", "12:00"]


def test_a_fully_booked_day_has_no_slots(db):
    org = make_org(db)
    service = make_service(db, org, 60)
    val = make_staff(db, org, [service], hours={0: [("09:00", "12:00")], 1: [("09:00", "12:00")]})
    for start in ("09:00", "10:00", "11:00"):
        book(db, org, service, val, f"{MON} {start}")
    assert slots(db, service, MON) == []
    assert times(db, service, TUE) == every("09:00", "11:00")


def test_touching_schedule_intervals_join_up_and_a_gap_between_them_does_not(db):
    org = make_org(db)
    service = make_service(db, org, 120)
    make_staff(db, org, [service], hours={0: [("09:00", "12:00"), ("12:00", "14:00")],
                                          1: [("09:00", "12:00"), ("12:30", "14:00")]})
    assert times(db, service, MON) == every("09:00", "12:00")
    assert times(db, service, TUE) == every("09:00", "10:00")


def test_a_job_may_run_past_midnight_into_the_next_days_shift_whichever_days_are_searched(db):
    # A night shift split at midnight: Monday 20:00-24:00, then Tuesday 00:00-04:00. A job from 23:30 runs
    # into Tuesday. Searching Monday alone (what is_bookable, and so every booking, does) used to refuse it.
    org = make_org(db)
    service, travel = make_service(db, org, 60), make_service(db, org, 60, before=30)
    night = make_staff(db, org, [service, travel], hours={0: [("20:00", "24:00")], 1: [("00:00", "04:00")]})
    assert times(db, service, MON) == every("20:00", "23:30")
    assert times(db, service, TUE) == every("00:00", "03:00")
    assert slots(db, service, MON, TUE) == {MON: slots(db, service, MON), TUE: slots(db, service, TUE)}
    # The same holds for a buffer: a 00:00 start with 30 minutes' travel before it begins in Monday's shift.
    assert times(db, travel, TUE)[0] == "00:00" and times(db, travel, MON)[0] == "20:30"
    # A break at 00:00-00:30 on Tuesday keeps Monday's late starts clear of it.
    db.sql("insert into public.staff_breaks (org_id, staff_id, weekday, starts_at, ends_at)"
           " values (%s, %s, 1, '00:00', '00:30')", (org["id"], night))
    assert times(db, service, MON) == every("20:00", "23:00")
    # Not when Monday's shift ends at 23:00: then the hour before midnight is not working time.
    early = make_org(db)
    short = make_service(db, early, 60)
    make_staff(db, early, [short], hours={0: [("20:00", "23:00")], 1: [("00:00", "04:00")]})
    assert times(db, short, MON) == every("20:00", "22:00") and times(db, short, TUE) == every("00:00", "03:00")


def test_is_bookable_takes_a_job_across_midnight_that_the_slot_search_offers(db):
    org = make_org(db, tz="UTC")
    service = make_service(db, org, 60)
    always = make_staff(db, org, [service], hours={d: [("00:00", "24:00")] for d in range(7)})
    day = db.value("select (now() at time zone 'UTC')::date + 3")
    late = db.value("select (%s::date + time '23:30') at time zone 'UTC'", (day,))
    offered = db.value("select private.slot_days(%s, null, %s::date, %s::date + 1, null, now())", (service, day, day))
    assert db.value("select private.local_iso(%s, 'UTC')", (late,)) in {s["start"] for s in offered[0]["slots"]}
    assert bookable(db, always, service, late) is True


# ---------------------------------------------------------------------------
# Notice and horizon
# ---------------------------------------------------------------------------
def test_minimum_notice_hides_starts_too_soon(db):
    org = make_org(db, notice=120)
    service = make_service(db, org, 60)
    make_staff(db, org, [service])
    # Monday 10:10 + 2 hours = 12:10: the first start is 12:30.
    assert times(db, service, MON, now=f"{MON} 10:10+00") == every("12:30", "16:00")
    # Sunday 23:00 + 2 hours: Monday 01:00, before work: the whole day.
    assert times(db, service, MON, now="2027-01-03 23:00+00") == every("09:00", "16:00")
    # Past days are listed, empty.
    assert slots(db, service, MON, TUE, now=f"{WED} 08:00+00") == {MON: [], TUE: []}


def test_max_days_ahead_ends_at_local_midnight_of_today_plus_that_many_days(db):
    org = make_org(db, ahead=3)
    service = make_service(db, org, 60)
    make_staff(db, org, [service])
    got = slots(db, service, MON, "2027-01-08", now=f"{MON} 08:00+00")
    # Today Monday: Monday, Tuesday, Wednesday; Thursday 00:00 is the limit.
    assert {d: len(v) for d, v in got.items()} == {MON: 15, TUE: 15, WED: 15, THU: 0, "2027-01-08": 0}
    # An hour before midnight, "today" is still Sunday: the limit is Wednesday 00:00.
    got = slots(db, service, MON, THU, now="2027-01-03 23:00+00")
    assert {d: len(v) for d, v in got.items()} == {MON: 15, TUE: 15, WED: 0, THU: 0}


# ---------------------------------------------------------------------------
# Who: areas, several staff, one staff member, inactive things
# ---------------------------------------------------------------------------
def test_a_staff_member_whose_area_does_not_reach_the_postcode_is_not_offered(db):
    org = make_org(db)
    service = make_service(db, org, 60)
    london = make_staff(db, org, [service], hours={0: [("09:00", "11:00")]}, areas=(("SW1A", 5),))
    manchester = make_staff(db, org, [service], hours={0: [("09:00", "11:00")]}, areas=(("M1", 30),))
    assert slots(db, service, MON) == [(t, [str(london)]) for t in ("09:00", "09:30", "10:00")]
    assert slots(db, service, MON, outcode="M3") == [(t, [str(manchester)]) for t in ("09:00", "09:30", "10:00")]
    assert slots(db, service, MON, outcode="EH1") == []


def test_two_staff_give_the_union_with_both_ids_where_they_overlap(db):
    org = make_org(db)
    service = make_service(db, org, 60)
    ann = make_staff(db, org, [service], hours={0: [("09:00", "11:00")]}, name="Ann")
    bob = make_staff(db, org, [service], hours={0: [("10:00", "12:00")]}, name="Bob")
    a, b = str(ann), str(bob)
    assert slots(db, service, MON) == [("09:00", [a]), ("09:30", [a]), ("10:00", sorted([a, b])),
                                       ("10:30", [b]), ("11:00", [b])]
    # One staff member only.
    assert slots(db, service, MON, staff_id=bob) == [("10:00", [b]), ("10:30", [b]), ("11:00", [b])]
    # Booking Ann at 10:00 leaves Bob alone there.
    book(db, org, service, ann, f"{MON} 10:00")
    assert slots(db, service, MON) == [("09:00", [a]), ("10:00", [b]), ("10:30", [b]), ("11:00", [b])]


def test_inactive_and_unqualified_staff_are_not_offered(db):
    org = make_org(db)
    service, other = make_service(db, org, 60), make_service(db, org, 60)
    ann = make_staff(db, org, [service], hours={0: [("09:00", "10:00")]})
    make_staff(db, org, [service], hours={0: [("11:00", "12:00")]}, active=False)
    make_staff(db, org, [other], hours={0: [("13:00", "14:00")]})
    assert slots(db, service, MON) == [("09:00", [str(ann)])]
    db.sql("update public.staff set active = false where id = %s", (ann,))
    assert slots(db, service, MON) == []


def test_an_inactive_or_unknown_service_is_not_found(db):
    org = make_org(db)
    service = make_service(db, org, 60, active=False)
    make_staff(db, org, [service])
    for target in (service, uuid.uuid4()):
        result = db.attempt(Caller.service(), "select private.slot_days(%s, 'SW1A', %s, %s, null, %s)",
                            (target, MON, MON, NOW))
        assert error(result) == ("PT404", "service_not_found")


def test_a_staff_member_of_another_org_is_never_offered(db):
    org, rival = make_org(db), make_org(db)
    service = make_service(db, org, 60)
    make_staff(db, org, [service], hours={0: [("09:00", "10:00")]})
    theirs = make_staff(db, rival, [], hours={0: [("09:00", "12:00")]})
    assert slots(db, service, MON, staff_id=theirs) == []


# ---------------------------------------------------------------------------
# Time zones and DST
# ---------------------------------------------------------------------------
def test_spring_forward_keeps_wall_clock_hours_and_never_offers_the_missing_hour(db):
    org = make_org(db)
    service = make_service(db, org, 60)
    make_staff(db, org, [service], hours={6: [("00:00", "04:00"), ("09:00", "11:00")], 5: [("09:00", "10:00")]})
    days = {d["date"]: [s["start"] for s in d["slots"]] for d in raw_slots(db, service, "2027-03-27", SPRING)}
    assert days["2027-03-27"] == ["2027-03-27T09:00:00+00:00"]
    # 01:00 and 01:30 do not exist that night. 00:00-04:00 local is 3 real hours (00:00Z-03:00Z):
    # 00:30 GMT + 1 h ends at 02:30 BST, inside; 03:00 BST ends at 04:00 BST, the end.
    assert days[SPRING] == [
        "2027-03-28T00:00:00+00:00", "2027-03-28T00:30:00+00:00",
        "2027-03-28T02:00:00+01:00", "2027-03-28T02:30:00+01:00", "2027-03-28T03:00:00+01:00",
        "2027-03-28T09:00:00+01:00", "2027-03-28T09:30:00+01:00", "2027-03-28T10:00:00+01:00"]
    instants = db.value("select array_agg(s.starts_at order by s.starts_at) from private.slot_candidates("
                        "%s, %s, %s, null, 'SW1A', %s) s", (service, SPRING, SPRING, NOW))
    assert [t.astimezone(dt.timezone.utc).strftime("%H:%M") for t in instants] == [
        "00:00", "00:30", "01:00", "01:30", "02:00", "08:00", "08:30", "09:00"]


def test_fall_back_keeps_wall_clock_hours_and_offers_the_repeated_hour_once(db):
    org = make_org(db)
    service = make_service(db, org, 60)
    make_staff(db, org, [service], hours={6: [("00:00", "04:00"), ("09:00", "11:00")], 0: [("09:00", "10:00")]})
    days = {d["date"]: [s["start"] for s in d["slots"]] for d in raw_slots(db, service, AUTUMN, "2027-11-01")}
    # 00:00-04:00 local is 5 real hours (23:00Z-04:00Z); 01:00 and 01:30 are offered once, in GMT.
    assert days[AUTUMN] == [
        "2027-10-31T00:00:00+01:00", "2027-10-31T00:30:00+01:00",
        "2027-10-31T01:00:00+00:00", "2027-10-31T01:30:00+00:00", "2027-10-31T02:00:00+00:00",
        "2027-10-31T02:30:00+00:00", "2027-10-31T03:00:00+00:00",
        "2027-10-31T09:00:00+00:00", "2027-10-31T09:30:00+00:00", "2027-10-31T10:00:00+00:00"]
    assert days["2027-11-01"] == ["2027-11-01T09:00:00+00:00"]


def test_nine_oclock_stays_nine_oclock_local_across_both_changes(db):
    org = make_org(db)
    service = make_service(db, org, 60)
    make_staff(db, org, [service], hours={d: [("09:00", "10:00")] for d in range(7)})
    for first, last in (("2027-03-27", "2027-03-29"), ("2027-10-30", "2027-11-01")):
        starts = [d["slots"][0]["start"] for d in raw_slots(db, service, first, last)]
        assert [s[11:16] for s in starts] == ["09:00"] * 3, starts
    utc = db.value("select array_agg(s.starts_at order by s.starts_at) from private.slot_candidates("
                   "%s, '2027-03-27', '2027-03-29', null, 'SW1A', %s) s", (service, NOW))
    assert [t.astimezone(dt.timezone.utc).hour for t in utc] == [9, 8, 8]


def test_starts_are_in_the_orgs_own_timezone(db):
    org = make_org(db, tz="America/New_York")
    service = make_service(db, org, 60)
    make_staff(db, org, [service], hours={0: [("09:00", "10:00")]})
    # 2027-03-15 is a Monday after the US change (EDT, -04:00); January is EST (-05:00).
    assert [s["start"] for s in raw_slots(db, service, MON)[0]["slots"]] == ["2027-01-04T09:00:00-05:00"]
    assert [s["start"] for s in raw_slots(db, service, "2027-03-15")[0]["slots"]] == ["2027-03-15T09:00:00-04:00"]


# ---------------------------------------------------------------------------
# is_bookable: the booking RPC's check, by the same rules, as of now()
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(db) -> dict:
    """An org working every day 09:00-17:00 (lunch 12:00-13:00), no notice, 30 days ahead; a day 5 days out."""
    org = make_org(db, notice=0, ahead=30)
    service = make_service(db, org, 60)
    every_day = {d: [("09:00", "17:00")] for d in range(7)}
    ann = make_staff(db, org, [service], hours=every_day, breaks={d: [("12:00", "13:00")] for d in range(7)})
    unqualified = make_staff(db, org, [], hours=every_day)
    day = db.value("select ((now() at time zone 'Europe/London')::date + 5)::text")
    return {"org": org, "service": service, "ann": ann, "unqualified": unqualified, "day": day}


def bookable(db, staff_id, service_id, start) -> bool:
    return db.value("select private.is_bookable(%s, %s, %s)", (staff_id, service_id, start))


@pytest.mark.parametrize(("wall", "staff", "expected"), [
    ("10:00", "ann", True),
    ("16:00", "ann", True),
    ("10:10", "ann", False),        # off the grid
    ("11:30", "ann", False),        # runs into lunch
    ("16:30", "ann", False),        # runs past 17:00
    ("08:30", "ann", False),        # before work
    ("10:00", "unqualified", False),
])
def test_is_bookable_follows_the_slot_rules(db, live, wall, staff, expected):
    start = local(db, live["org"], f"{live['day']} {wall}")
    assert bookable(db, live[staff], live["service"], start) is expected


def test_is_bookable_agrees_with_every_listed_slot_and_refuses_the_rest(db, live):
    org, service, ann = live["org"], live["service"], live["ann"]
    listed = {s["start"] for s in db.value("select private.slot_days(%s, null, %s, %s, null, now())",
                                           (service, live["day"], live["day"]))[0]["slots"]}
    assert len(listed) == 12
    for wall in every("00:00", "23:30"):
        start = local(db, org, f"{live['day']} {wall}")
        iso = db.value("select private.local_iso(%s, 'Europe/London')", (start,))
        assert bookable(db, ann, service, start) is (iso in listed), wall


def test_is_bookable_refuses_the_past_the_horizon_a_busy_staff_member_and_an_inactive_service(db, live):
    org, service, ann = live["org"], live["service"], live["ann"]
    for days in (-1, 31):
        when = db.value("select (((now() at time zone 'Europe/London')::date + %s) + time '10:00')"
                        " at time zone 'Europe/London'", (days,))
        assert bookable(db, ann, service, when) is False, days
    start = local(db, org, f"{live['day']} 14:00")
    job = book(db, org, service, ann, f"{live['day']} 14:30", 60)
    assert bookable(db, ann, service, start) is False
    db.sql("update public.appointments set status = 'cancelled' where id = %s", (job,))
    assert bookable(db, ann, service, start) is True
    db.sql("update public.services set active = false where id = %s", (service,))
    try:
        assert bookable(db, ann, service, start) is False
    finally:
        db.sql("update public.services set active = true where id = %s", (service,))
    assert bookable(db, ann, uuid.uuid4(), start) is False


# ---------------------------------------------------------------------------
# The public RPC: inputs, errors, anon
# ---------------------------------------------------------------------------
def public_slots(db, caller, service_id, postcode, first, last, staff_id=None):
    return db.attempt(caller, "select public.available_slots(%s, %s, %s::date, %s::date, %s) as s",
                      (service_id, postcode, first, last, staff_id))


def test_anon_gets_the_same_answer_as_the_helper_as_of_now(db, live):
    got = public_slots(db, Caller.anon(), live["service"], "sw1a1aa", live["day"], live["day"])
    assert not isinstance(got, psycopg.Error), got
    expected = db.value("select private.slot_days(%s, 'SW1A', %s, %s, null, now())",
                        (live["service"], live["day"], live["day"]))
    assert got[0]["s"] == expected and len(expected[0]["slots"]) == 12
    one = public_slots(db, Caller.anon(), live["service"], "SW1A", live["day"], live["day"], live["unqualified"])
    assert one[0]["s"] == [{"date": live["day"], "slots": []}]


@pytest.mark.parametrize(("postcode", "first", "last", "code"), [
    ("SW1A 1AA", "2027-01-01", "2027-01-31", None),                  # 31 days: fine
    ("SW1A 1AA", "2027-01-01", "2027-02-01", "date_range_too_long"),  # 32 days
    ("SW1A 1AA", "2027-01-02", "2027-01-01", "invalid_date_range"),
    ("SW1A 1AA", None, "2027-01-01", "invalid_date_range"),
    ("not a postcode", "2027-01-01", "2027-01-02", "invalid_postcode"),
    (None, "2027-01-01", "2027-01-02", "invalid_postcode"),
    ("JE2 3AB", "2027-01-01", "2027-01-02", "postcode_not_covered"),
    ("IM1 1AA", "2027-01-01", "2027-01-02", "postcode_not_covered"),
    ("GY1 1AA", "2027-01-01", "2027-01-02", "postcode_not_covered"),
    ("W1E 1AA", "2027-01-01", "2027-01-02", "postcode_not_covered"),  # non-geographic district
])
def test_the_public_rpc_checks_its_inputs(db, live, postcode, first, last, code):
    result = public_slots(db, Caller.anon(), live["service"], postcode, first, last)
    if code is None:
        assert not isinstance(result, psycopg.Error), result
        assert len(result[0]["s"]) == 31
    else:
        assert error(result) == ("PT422", code)


def test_not_covered_says_why(db, live):
    for postcode, words in (("JE2 3AB", "Channel Islands"), ("IM1 1AA", "Isle of Man")):
        result = public_slots(db, Caller.anon(), live["service"], postcode, "2027-01-01", "2027-01-01")
        assert words in result.diag.message_primary, result.diag.message_primary


def test_the_public_rpc_answers_404_for_an_unknown_service_and_422_for_none(db, live):
    assert error(public_slots(db, Caller.anon(), uuid.uuid4(), "SW1A", live["day"], live["day"])) == (
        "PT404", "service_not_found")
    assert error(public_slots(db, Caller.anon(), None, "SW1A", live["day"], live["day"])) == (
        "PT422", "invalid_service")


@pytest.mark.parametrize("table", ["staff_schedules", "staff_breaks", "staff_time_off", "staff_service_areas"])
def test_anon_cannot_read_what_the_slot_search_reads(db, live, table):
    result = db.attempt(Caller.anon(), f"select * from public.{table}")
    assert isinstance(result, psycopg.errors.InsufficientPrivilege), result


@pytest.mark.parametrize("call", [
    "select private.slot_days(%(service)s, 'SW1A', '2027-01-04', '2027-01-04', null, '2000-01-01')",
    "select * from private.slot_candidates(%(service)s, '2027-01-04', '2027-01-04', null, null, now())",
    "select private.is_bookable(%(ann)s, %(service)s, now())",
    "select * from private.covering_staff(%(org_id)s, 'SW1A')",
])
@pytest.mark.parametrize("who", ["anon", "customer"])
def test_anon_and_customers_cannot_inject_a_now_or_reach_the_inner_helpers(db, live, call, who):
    caller = Caller.anon() if who == "anon" else db.user().caller
    result = db.attempt(caller, call, {**live, "org_id": live["org"]["id"]})
    assert isinstance(result, psycopg.errors.InsufficientPrivilege), result


def test_the_answer_names_staff_only_by_id(db, live):
    got = public_slots(db, Caller.anon(), live["service"], "SW1A", live["day"], live["day"])
    text = str(got[0]["s"])
    assert "secret-staff@example.com" not in text and "07700" not in text and "Val" not in text
    assert {k for s in got[0]["s"][0]["slots"] for k in s} == {"start", "end", "staff"}


def test_the_search_uses_the_indexes_of_the_exclusion_constraints(db, live):
    """The predicate the search puts on appointments (team, live, overlapping the window) can be
    answered from the exclusion constraint's gist index rather than a scan of the table."""
    db.sql("set enable_seqscan = off")  # tiny tables: ask whether an index path exists at all
    try:
        plan = "\n".join(r["QUERY PLAN"] for r in db.sql(
            "explain select a.staff_id, a.blocked from public.appointments a"
            " where a.staff_id = any(%s) and a.status in ('held', 'booked', 'in_progress')"
            " and a.blocked && tstzrange(now(), now() + interval '30 days')", ([live["ann"]],)))
    finally:
        db.sql("reset enable_seqscan")
    assert "appointments_no_double_booking" in plan, plan
