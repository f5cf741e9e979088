"""The staff portal (routines/appointments/staff_portal.sql, policies/appointments.sql, functions/staff-portal).

One org in Pacific/Auckland (13 hours ahead of UTC in November, so a local day
and a UTC day disagree for half of it) with staff Ann and Bob, an owner, an
admin, a manager of the whole team, a manager scoped to Bob, a customer and
a rival org. Ann has a base district (NW1) and jobs across London.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from shared.platform.db import Caller
from tests.conftest import override_env
from tests.support import factories
from tests.support.http import anon_headers
from tests.support.rls import assert_case
from tests.support.pg import ArrangingDb

TZ = "Pacific/Auckland"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + b"\x10JFIF" + bytes(300)
WEBP = b"RIFF" + (400).to_bytes(4, "little") + b"WEBPVP8 " + bytes(400)


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    org, rival = team["org"], team["rival"]
    db.sql("update public.organizations set timezone = %s where id = %s", (TZ, org["id"]))
    people = dict(team["people"])
    people["bob"] = factories.member(db, org, role="staff")
    people["ann"] = people.pop("staff")
    people["customer"] = db.user()
    people["rival_staff"] = factories.member(db, rival, role="staff")
    w: dict = {"org_id": org["id"], "rival_id": rival["id"], "people": people, "db": db}
    w["service"] = str(db.value("insert into public.services (org_id, name, duration_minutes, price_minor)"
                                " values (%s, 'Regular clean', 60, 4800) returning id", (org["id"],)))
    for key, base in (("ann", "NW1"), ("bob", None)):
        w[key] = str(db.value("insert into public.staff (org_id, user_id, display_name, base_outcode)"
                              " values (%s, %s, %s, %s) returning id",
                              (org["id"], people[key].id, key.title(), base)))
        db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
               (w[key], w["service"], org["id"]))
    people["manager_bob"] = factories.member(db, org, role="manager", scope={"staff_ids": [w["bob"]]})
    w["rival_service"] = str(db.value("insert into public.services (org_id, name, duration_minutes, price_minor)"
                                      " values (%s, 'Rival clean', 60, 100) returning id", (rival["id"],)))
    w["rival_staffer"] = str(db.value("insert into public.staff (org_id, user_id, display_name) values (%s, %s, 'R')"
                                      " returning id", (rival["id"], people["rival_staff"].id)))
    db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
           (w["rival_staffer"], w["rival_service"], rival["id"]))
    w["today"] = db.value("select (now() at time zone %s)::date", (TZ,))
    # Fresh, non-overlapping hours per staff member and local day.
    w["slots"] = {}
    return w


def local(w, day: dt.date, hhmm: str) -> dt.datetime:
    return w["db"].value("select (%s::date + %s::time) at time zone %s", (day, hhmm, TZ))


def utc_offset(instant: dt.datetime) -> str:
    """Auckland's offset at `instant` as ISO 8601 writes it: +13:00 in its summer (NZDT), +12:00 in winter."""
    return instant.astimezone(ZoneInfo(TZ)).isoformat()[-6:]


def next_slot(w, staff: str, offset: int) -> tuple[dt.date, str]:
    """A free hour for `staff` on today + offset; a past day (offset < 0) that fills up spills
    ten days further back (offset -1 -> -11 -> -21 …), which is just as much in the past."""
    counter = w["slots"].setdefault((staff, offset), itertools.count())
    n = next(counter)
    spill, k = divmod(n, 16)
    assert spill == 0 or offset < 0, "out of slots for that day"
    day = w["today"] + dt.timedelta(days=offset - 10 * spill)
    minutes = 6 * 60 + 65 * k
    return day, f"{minutes // 60:02d}:{minutes % 60:02d}"


def job(db, w, staff="ann", *, offset: int = 0, at: tuple[dt.date, str] | None = None, postcode=None,
        status="booked", customer="customer", org="org_id", service="service") -> str:
    day, hhmm = at or next_slot(w, staff, offset)
    start = local(w, day, hhmm)
    return str(db.value(
        "insert into public.appointments (org_id, service_id, staff_id, customer_user_id, customer_name,"
        " customer_phone, address, postcode, status, period, hold_expires_at)"
        " values (%s, %s, %s, %s, 'Casey Customer', '07700 900123', '1 High Street', %s, %s,"
        " tstzrange(%s, %s + interval '1 hour', '[)'), case when %s = 'held' then now() + interval '1 hour' end)"
        " returning id",
        (w[org], w[service], w[staff], w["people"][customer].id if customer else None, postcode, status,
         start, start, status)))


def who(w, name) -> Caller:
    return Caller.anon() if name == "anon" else w["people"][name].caller


def attempt(db, w, name, statement, *params):
    return db.attempt(who(w, name), statement, params)


def value(db, w, name, statement, *params):
    got = attempt(db, w, name, statement, *params)
    if isinstance(got, Exception):
        return got
    return next(iter(got[0].values()))


def refused(result, sqlstate: str, code: str | None = None) -> psycopg.Error:
    assert isinstance(result, psycopg.Error), f"expected {sqlstate}, got {result!r}"
    assert result.sqlstate == sqlstate, result
    if code is not None:
        assert result.diag.message_detail == code, (result.diag.message_detail, str(result))
    return result


def row(db, appointment_id) -> dict:
    return db.one("select status, checked_in_at, checked_out_at, job_note, sequence from public.appointments"
                  " where id = %s", (appointment_id,))


# ---------------------------------------------------------------------------
# my_jobs: whose day, which day
# ---------------------------------------------------------------------------
def test_a_staff_member_sees_only_their_own_jobs_of_that_local_day(db, world):
    day = world["today"] + dt.timedelta(days=30)
    prev, nxt = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
    inside = [job(db, world, at=(day, "00:30"), postcode="E1 6AN"), job(db, world, at=(day, "22:30"))]
    # 23:30 the evening before is 10:30 UTC on the same UTC date as 00:30 local: a UTC day would mix them.
    job(db, world, at=(prev, "23:30"))
    job(db, world, at=(nxt, "00:30"))
    job(db, world, at=(day, "12:00"), status="held")
    bobs = job(db, world, "bob", at=(day, "10:00"))
    days = value(db, world, "ann", "select public.my_jobs(%s)", day)
    assert [d["staff_id"] for d in days] == [world["ann"]]
    assert days[0]["day"] == day.isoformat() and days[0]["timezone"] == TZ
    assert days[0]["base_outcode"] == "NW1" and days[0]["base_latitude"] == pytest.approx(51.53232)
    jobs = days[0]["jobs"]
    assert [j["id"] for j in jobs] == inside
    first = jobs[0]
    assert first["starts_local"] == f"{day}T00:30:00{utc_offset(local(world, day, '00:30'))}"
    assert first["customer_name"] == "Casey Customer" and first["customer_phone"] == "07700 900123"
    assert first["address"] == "1 High Street" and first["postcode"] == "E1 6AN" and first["service_name"]
    assert (first["outcode"], first["latitude"], first["longitude"]) == ("E1", 51.51627, -0.06033)
    assert jobs[1]["outcode"] is None and jobs[1]["latitude"] is None  # no postcode: not routable
    assert first["next_statuses"] == ["in_progress", "cancelled", "no_show"] or \
        set(first["next_statuses"]) == {"in_progress", "cancelled", "no_show"}
    bob_days = value(db, world, "bob", "select public.my_jobs(%s)", day)
    assert [j["id"] for j in bob_days[0]["jobs"]] == [bobs]


def test_the_default_day_is_today_in_the_orgs_timezone(db, world):
    today_job = job(db, world, "bob", offset=0)
    days = value(db, world, "bob", "select public.my_jobs()")
    assert days[0]["day"] == world["today"].isoformat()
    assert today_job in [j["id"] for j in days[0]["jobs"]]


@pytest.mark.parametrize("name", ["customer", "outsider", "manager", "owner", "rival_owner"])
def test_someone_without_a_staff_profile_is_told_so(db, world, name):
    refused(attempt(db, world, name, "select public.my_jobs()"), "PT403", "not_staff")


def test_anon_may_not_ask_for_anyones_day(db, world):
    result = attempt(db, world, "anon", "select public.my_jobs()")
    assert isinstance(result, psycopg.errors.InsufficientPrivilege), result
    result = attempt(db, world, "anon", "select private.my_jobs(null, %s)", world["ann"])
    assert isinstance(result, psycopg.errors.InsufficientPrivilege), result


@pytest.mark.parametrize(("name", "staff", "sees"), [
    ("owner", "ann", True), ("admin", "ann", True), ("manager", "ann", True), ("manager", "bob", True),
    ("manager_bob", "bob", True), ("manager_bob", "ann", False), ("bob", "ann", False), ("ann", "ann", True),
    ("customer", "ann", False), ("rival_owner", "ann", False), ("rival_staff", "ann", False),
    ("owner", "rival_staffer", False)])
def test_a_manager_sees_a_team_members_day_only_within_their_scope(db, world, name, staff, sees):
    day, hhmm = next_slot(world, staff, 31)
    rival = staff == "rival_staffer"
    mine = job(db, world, staff, at=(day, hhmm), org="rival_id" if rival else "org_id",
               service="rival_service" if rival else "service")
    got = attempt(db, world, name, "select public.my_jobs(%s, %s) as d", day, world[staff])
    if not sees:
        refused(got, "PT404", "staff_not_found")
        return
    jobs = got[0]["d"][0]["jobs"]
    assert mine in [j["id"] for j in jobs]


# ---------------------------------------------------------------------------
# Check-in, check-out, status
# ---------------------------------------------------------------------------
def test_check_in_and_out_stamp_the_server_clock_and_a_second_try_says_when(db, world):
    appt = job(db, world, offset=-1)
    before = db.value("select now()")
    got = value(db, world, "ann", "select public.check_in_job(%s)", appt)
    after = db.value("select now()")
    assert got["status"] == "in_progress" and got["next_statuses"] == ["cancelled", "completed"] or \
        set(got["next_statuses"]) == {"completed", "cancelled"}
    stored = row(db, appt)
    assert before <= stored["checked_in_at"] <= after and stored["checked_out_at"] is None
    again = refused(attempt(db, world, "ann", "select public.check_in_job(%s)", appt), "PT409", "already_checked_in")
    assert again.diag.message_primary == \
        f"Already checked in at {stored['checked_in_at'].astimezone(ZoneInfo(TZ)).isoformat(timespec='seconds')}"
    assert row(db, appt)["checked_in_at"] == stored["checked_in_at"]

    done = value(db, world, "ann", "select public.check_out_job(%s, %s)", appt, "  Oven done, gate code 1234 ")
    assert done["status"] == "completed" and done["job_note"] == "Oven done, gate code 1234"
    finished = row(db, appt)
    assert finished["checked_out_at"] >= stored["checked_in_at"]
    assert finished["checked_in_at"] == stored["checked_in_at"]
    refused(attempt(db, world, "ann", "select public.check_out_job(%s)", appt), "PT409", "already_checked_out")
    refused(attempt(db, world, "ann", "select public.check_in_job(%s)", appt), "PT409", "already_checked_out")
    assert row(db, appt) == finished


def test_check_out_needs_a_check_in_and_a_sane_note(db, world):
    appt = job(db, world, offset=-1)
    refused(attempt(db, world, "ann", "select public.check_out_job(%s)", appt), "PT409", "not_checked_in")
    value(db, world, "ann", "select public.check_in_job(%s)", appt)
    refused(attempt(db, world, "ann", "select public.check_out_job(%s, %s)", appt, "x" * 2001), "PT422", "invalid_note")
    assert row(db, appt)["status"] == "in_progress"


@pytest.mark.parametrize("status", ["held", "cancelled"])
def test_a_held_or_cancelled_job_cannot_be_checked_in(db, world, status):
    appt = job(db, world, offset=-1, status=status)
    refused(attempt(db, world, "ann", "select public.check_in_job(%s)", appt), "PT409", "job_not_active")
    assert row(db, appt)["status"] == status and row(db, appt)["checked_in_at"] is None


def test_tomorrows_job_cannot_be_checked_in_today_but_later_today_can(db, world):
    tomorrow = job(db, world, offset=1)
    refused(attempt(db, world, "ann", "select public.check_in_job(%s)", tomorrow), "PT409", "too_early")
    later = job(db, world, at=(world["today"], "23:59"))
    assert value(db, world, "ann", "select public.check_in_job(%s)", later)["status"] == "in_progress"


@pytest.mark.parametrize(("name", "outcome"), [
    ("ann", "ok"), ("manager", "ok"), ("owner", "ok"), ("admin", "ok"),
    ("bob", "PT404"), ("manager_bob", "PT404"), ("customer", "PT403"), ("outsider", "PT404"),
    ("rival_owner", "PT404"), ("rival_staff", "PT404"), ("anon", "42501")])
def test_only_the_assigned_staff_member_or_a_manager_in_scope_moves_a_job(db, world, name, outcome):
    appt = job(db, world, offset=-1)
    for rpc in ("select public.check_in_job(%s)", "select public.set_job_status(%s, 'no_show')"):
        got = attempt(db, world, name, rpc, appt)
        if outcome == "ok":
            assert not isinstance(got, Exception), got
            break
        refused(got, outcome)
        assert row(db, appt)["status"] == "booked"
    if outcome == "ok":
        assert row(db, appt)["status"] == "in_progress"


def test_a_no_show_is_recorded_only_after_the_start(db, world):
    started = job(db, world, offset=-1)
    got = value(db, world, "ann", "select public.set_job_status(%s, 'no_show', 'Nobody home')", started)
    assert got["status"] == "no_show" and got["job_note"] == "Nobody home" and got["next_statuses"] == []
    refused(attempt(db, world, "ann", "select public.set_job_status(%s, 'no_show')", started), "PT409", "already_no_show")
    refused(attempt(db, world, "ann", "select public.check_in_job(%s)", started), "PT409", "illegal_transition")
    upcoming = job(db, world, offset=2)
    result = refused(attempt(db, world, "ann", "select public.set_job_status(%s, 'no_show')", upcoming),
                     "PT409", "not_started")
    assert "once the job has started" in result.diag.message_primary
    assert row(db, upcoming)["status"] == "booked"


@pytest.mark.parametrize("status", ["cancelled", "booked", "held", "done", "", None, "NO_SHOW; drop table x"])
def test_set_job_status_takes_only_portal_statuses(db, world, status):
    appt = job(db, world, offset=-1)
    refused(attempt(db, world, "ann", "select public.set_job_status(%s, %s)", appt, status), "PT422", "invalid_status")
    assert row(db, appt)["status"] == "booked"


def test_set_job_status_walks_the_same_path_as_check_in_and_out(db, world):
    appt = job(db, world, offset=-1)
    assert value(db, world, "manager", "select public.set_job_status(%s, ' In_Progress ')", appt)["status"] == "in_progress"
    assert value(db, world, "manager", "select public.set_job_status(%s, 'completed')", appt)["status"] == "completed"
    stored = row(db, appt)
    assert stored["checked_in_at"] and stored["checked_out_at"]


# ---------------------------------------------------------------------------
# The transitions hold on every path, not only in the RPCs
# ---------------------------------------------------------------------------
ILLEGAL = [("cancelled", "completed"), ("cancelled", "in_progress"), ("completed", "booked"),
           ("completed", "in_progress"), ("no_show", "in_progress"), ("no_show", "completed"),
           ("booked", "completed"), ("booked", "held"), ("in_progress", "booked"), ("cancelled", "no_show")]


@pytest.mark.parametrize("who_updates", ["manager", "service"])
@pytest.mark.parametrize(("start", "target"), ILLEGAL)
def test_an_illegal_jump_is_refused_even_as_a_direct_update(db, world, who_updates, start, target):
    appt = job(db, world, offset=-1, status="booked")
    db.sql("update public.appointments set status = %s where id = %s", (start, appt))  # arranged as superuser
    caller = Caller.service() if who_updates == "service" else who(world, who_updates)
    result = db.attempt(caller, "update public.appointments set status = %s where id = %s returning id",
                        (target, appt))
    error = refused(result, "PT409", "illegal_transition")
    assert f"from {start} to {target}" in error.diag.message_primary
    assert row(db, appt)["status"] == start


def test_a_manager_may_reinstate_a_cancelled_job_and_move_it_legally(db, world):
    appt = job(db, world, offset=-1, status="cancelled")
    for status in ("booked", "in_progress", "completed"):
        assert attempt(db, world, "manager", "update public.appointments set status = %s where id = %s returning id",
                       status, appt) == [{"id": uuid.UUID(appt)}]
    stored = row(db, appt)
    assert stored["checked_in_at"] is not None and stored["checked_out_at"] is not None


def test_check_in_times_come_from_the_server_whatever_the_client_sends(db, world):
    appt = job(db, world, offset=-1)
    result = attempt(db, world, "manager", "update public.appointments set checked_in_at = '2000-01-01' where id = %s",
                     appt)
    assert isinstance(result, psycopg.errors.InsufficientPrivilege), result  # no column grant
    before = db.value("select now()")
    db.attempt(Caller.service(), "update public.appointments set status = 'in_progress',"
               " checked_in_at = '2000-01-01', checked_out_at = '2000-01-02' where id = %s", (appt,))
    stored = row(db, appt)
    assert stored["status"] == "in_progress" and stored["checked_in_at"] >= before and stored["checked_out_at"] is None
    db.attempt(Caller.service(), "update public.appointments set checked_in_at = '2000-01-01' where id = %s", (appt,))
    assert row(db, appt)["checked_in_at"] == stored["checked_in_at"]


@pytest.mark.parametrize("status", ["in_progress", "completed", "no_show", "cancelled"])
def test_a_job_is_created_held_or_booked_only(db, world, status):
    start = local(world, world["today"] + dt.timedelta(days=200), "09:00")
    result = attempt(db, world, "manager",
                     "insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period)"
                     " values (%s, %s, %s, 'Phone', %s, tstzrange(%s, %s + interval '1 hour')) returning id",
                     world["org_id"], world["service"], world["bob"], status, start, start)
    refused(result, "PT422", "invalid_initial_status")


def test_the_cutoff_still_guards_cancelling_a_job_in_progress(db, world):
    appt = job(db, world, offset=-1)
    value(db, world, "ann", "select public.check_in_job(%s)", appt)
    refused(attempt(db, world, "manager", "update public.appointments set status = 'cancelled' where id = %s", appt),
            "PT409", "cutoff_passed")


# ---------------------------------------------------------------------------
# job_photos: RLS matrix, limits, the limit under concurrency
# ---------------------------------------------------------------------------
ACTORS = ("anon", "owner", "admin", "manager", "manager_bob", "ann", "bob", "customer", "outsider", "rival_owner")
# Ann's job: who reads (select), adds (insert), edits and removes photos.
MATRIX = {
    "select": ("x", "1", "1", "1", "0", "1", "0", "1", "0", "0"),
    "insert": ("x", "1", "1", "1", "p", "1", "p", "p", "p", "p"),
    "update": ("x",) * 10,
    "delete": ("x",) * 10,
}
STATEMENTS = {
    "select": ("select id from public.job_photos where id = %(photo)s", None),
    "insert": ("insert into public.job_photos (appointment_id, content_type, bytes)"
               " values (%(job)s, 'image/png', 1234) returning id",
               "select count(*) from public.job_photos where appointment_id = %(job)s and bytes = 1234"),
    "update": ("update public.job_photos set bytes = 99 where id = %(photo)s returning id",
               "select count(*) from public.job_photos where bytes = 99"),
    "delete": ("delete from public.job_photos where id = %(photo)s returning id",
               "select count(*) from public.job_photos where id = %(photo)s and false"),
}


@pytest.fixture(scope="module")
def photo_world(db, world):
    appt = job(db, world, offset=-2)
    photo = str(db.value("insert into public.job_photos (org_id, appointment_id, object_path, content_type, bytes)"
                         " values (%s, %s, 'x/y/z.png', 'image/png', 10) returning id", (world["org_id"], appt)))
    return {"job": appt, "photo": photo}


@pytest.fixture
def prober(db):
    with db.connect() as conn:
        yield conn


@pytest.mark.parametrize(("command", "actor"), [(c, a) for c in MATRIX for a in ACTORS])
def test_job_photos_matrix(prober, world, photo_world, command, actor):
    expected = MATRIX[command][ACTORS.index(actor)]
    statement, check = STATEMENTS[command]
    assert_case(prober, who(world, actor), statement, photo_world, check, expected, f"{actor} {command} job_photos")


def test_the_database_sets_org_path_and_uploader_not_the_client(db, world):
    appt = job(db, world, offset=-2)
    got = attempt(db, world, "ann", "insert into public.job_photos (appointment_id, content_type, bytes)"
                  " values (%s, 'image/webp', 5) returning id, org_id, object_path, uploaded_by", appt)[0]
    assert str(got["org_id"]) == str(world["org_id"]) and str(got["uploaded_by"]) == world["people"]["ann"].id
    assert got["object_path"] == f"{world['org_id']}/{appt}/{got['id']}.webp"
    for column, val in (("object_path", "'../../other-org/x.png'"), ("org_id", f"'{world['rival_id']}'"),
                        ("uploaded_by", f"'{world['people']['bob'].id}'")):
        result = attempt(db, world, "ann", f"insert into public.job_photos (appointment_id, content_type, bytes, {column})"
                         f" values (%s, 'image/png', 5, {val})", appt)
        assert isinstance(result, psycopg.errors.InsufficientPrivilege), (column, result)


@pytest.mark.parametrize(("content_type", "size"), [("image/gif", 5), ("text/html", 5), ("image/png", 0),
                                                    ("image/png", 10 * 1024 * 1024 + 1)])
def test_photo_rows_must_be_images_of_a_sane_size(db, world, content_type, size):
    appt = job(db, world, offset=-2)
    result = attempt(db, world, "ann", "insert into public.job_photos (appointment_id, content_type, bytes)"
                     " values (%s, %s, %s)", appt, content_type, size)
    assert isinstance(result, psycopg.errors.CheckViolation), result


def test_no_photos_on_a_cancelled_job(db, world):
    appt = job(db, world, offset=-2, status="cancelled")
    refused(attempt(db, world, "ann", "insert into public.job_photos (appointment_id, content_type, bytes)"
                    " values (%s, 'image/png', 5)", appt), "PT409", "job_not_active")


def test_a_job_has_at_most_twenty_photos(db, world):
    appt = job(db, world, offset=-2)
    for _ in range(20):
        attempt(db, world, "ann", "insert into public.job_photos (appointment_id, content_type, bytes)"
                " values (%s, 'image/png', 5) returning id", appt)
    refused(attempt(db, world, "ann", "insert into public.job_photos (appointment_id, content_type, bytes)"
                    " values (%s, 'image/png', 5)", appt), "PT409", "too_many_photos")
    assert db.value("select count(*) from public.job_photos where appointment_id = %s", (appt,)) == 20


def race_last_photo(db, world, appt) -> int:
    """Two uploads for the 20th place: A inserts and waits; B inserts meanwhile; then A commits."""
    ann = who(world, "ann")
    insert = "insert into public.job_photos (appointment_id, content_type, bytes) values (%s, 'image/png', 7)"
    results: dict = {}
    with db.connect() as a:
        a.autocommit = False
        from shared.platform.db import act_as
        cur = a.cursor()
        act_as(cur, ann)
        cur.execute(insert, (appt,))

        def second():
            try:
                with db.acting(ann) as cur_b:
                    cur_b.execute(insert, (appt,))
                results["b"] = "ok"
            except psycopg.Error as exc:
                results["b"] = exc

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        a.commit()
        thread.join(timeout=20)
    assert "b" in results
    return db.value("select count(*) from public.job_photos where appointment_id = %s", (appt,))


def test_two_uploads_racing_for_the_last_place_leave_twenty(db, world):
    appt = job(db, world, offset=-3)
    db.sql("insert into public.job_photos (org_id, appointment_id, object_path, content_type, bytes)"
           " select %s, %s, 'seed/' || %s || '/' || g, 'image/png', 5 from generate_series(1, 19) g",
           (world["org_id"], appt, appt))
    assert race_last_photo(db, world, appt) == 20


def test_canary_without_the_row_lock_the_same_race_makes_twenty_one(db, world):
    """Proves the race test can see the race: the trigger minus its lock lets both in."""
    definition = db.value("select pg_get_functiondef('private.job_photo_prepare()'::regprocedure)")
    assert "for no key update" in definition
    appt = job(db, world, offset=-3)
    db.sql("insert into public.job_photos (org_id, appointment_id, object_path, content_type, bytes)"
           " select %s, %s, 'seed/' || %s || '/' || g, 'image/png', 5 from generate_series(1, 19) g",
           (world["org_id"], appt, appt))
    db.sql(definition.replace("for no key update", ""))
    try:
        assert race_last_photo(db, world, appt) == 21
    finally:
        db.sql(definition)


# ---------------------------------------------------------------------------
# Over HTTP: the function
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def portal(stack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    with override_env(STORAGE_BACKEND="local", STORAGE_LOCAL_DIR=str(folder)):
        yield {"url": f"{stack.functions_url}/staff-portal", "folder": folder}


def headers(world, name) -> dict:
    return world["people"][name].headers


def test_the_day_over_http_has_jobs_by_time_and_a_suggested_route(db, world, portal):
    day = world["today"] + dt.timedelta(days=40)
    ids = [job(db, world, at=(day, "09:00"), postcode="E1 6AN"), job(db, world, at=(day, "11:00"), postcode="SW1A 1AA"),
           job(db, world, at=(day, "13:00"), postcode="n1 9gu"), job(db, world, at=(day, "15:00"))]
    got = httpx.get(f"{portal['url']}/jobs", params={"day": day.isoformat()}, headers=headers(world, "ann"))
    assert got.status_code == 200, got.text
    (plan,) = got.json()["days"]
    assert [j["id"] for j in plan["jobs"]] == ids
    assert plan["start"] == {"kind": "base", "outcode": "NW1"}
    assert [leg["id"] for leg in plan["time_order"]] == ids[:3]
    assert sorted(leg["id"] for leg in plan["route"]) == sorted(ids[:3])
    # From NW1: Westminster (SW1A) is nearest, then Islington (N1), then Whitechapel (E1).
    assert [leg["id"] for leg in plan["route"]] == [ids[1], ids[2], ids[0]]
    assert plan["route_km"] < plan["time_order_km"] and plan["unrouted"] == [ids[3]]
    assert all(leg["travel_minutes"] > 0 for leg in plan["route"])


def test_the_day_over_http_for_a_managers_team_member(world, portal):
    url = f"{portal['url']}/jobs"
    assert httpx.get(url, params={"staff_id": world["ann"]}, headers=headers(world, "manager")).status_code == 200
    got = httpx.get(url, params={"staff_id": world["ann"]}, headers=headers(world, "manager_bob"))
    assert got.status_code == 404 and got.json()["error"]["code"] == "staff_not_found"
    got = httpx.get(url, headers=headers(world, "customer"))
    assert got.status_code == 403 and got.json()["error"]["code"] == "not_staff"
    got = httpx.get(url, params={"day": "2031-02-30"}, headers=headers(world, "ann"))
    assert got.status_code == 422 and got.json()["error"]["code"] == "invalid_request"
    assert httpx.get(url, headers=anon_headers()).status_code == 401
    assert httpx.get(url).status_code == 401


def test_check_in_out_and_status_over_http(db, world, portal):
    appt = job(db, world, offset=-1)
    base = f"{portal['url']}/jobs/{appt}"
    got = httpx.post(f"{base}/check-in", headers=headers(world, "ann"))
    assert got.status_code == 200 and got.json()["status"] == "in_progress", got.text
    again = httpx.post(f"{base}/check-in", headers=headers(world, "ann"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_checked_in"
    assert httpx.post(f"{base}/check-in", headers=headers(world, "bob")).status_code == 404
    got = httpx.post(f"{base}/check-out", json={"note": "All done"}, headers=headers(world, "ann"))
    assert got.status_code == 200 and got.json()["status"] == "completed" and got.json()["job_note"] == "All done"
    assert row(db, appt)["checked_out_at"] is not None
    other = job(db, world, offset=-1)
    got = httpx.post(f"{portal['url']}/jobs/{other}/status", json={"status": "no_show"}, headers=headers(world, "ann"))
    assert got.status_code == 200 and got.json()["status"] == "no_show"
    got = httpx.post(f"{portal['url']}/jobs/{other}/status", json={"status": "bogus"}, headers=headers(world, "ann"))
    assert got.status_code == 422
    got = httpx.post(f"{portal['url']}/jobs/{other}/status", json={"nope": 1}, headers=headers(world, "ann"))
    assert got.status_code == 422 and got.json()["error"]["code"] == "invalid_request"
    got = httpx.post(f"{portal['url']}/jobs/{other}/check-out", content=b"x" * (300 * 1024),
                     headers=headers(world, "ann"))
    assert got.status_code == 413  # the larger limit is for photos only
    assert httpx.post(f"{portal['url']}/jobs/not-a-uuid/check-in", headers=headers(world, "ann")).status_code == 404


def upload(portal, appt, body, content_type, who_headers):
    return httpx.post(f"{portal['url']}/jobs/{appt}/photos", content=body,
                      headers={**who_headers, "content-type": content_type}, timeout=30)


def stored_files(portal) -> list:
    return sorted(p for p in portal["folder"].rglob("*") if p.is_file())


def test_photos_upload_list_and_read_back(db, world, portal):
    appt = job(db, world, offset=-1)
    uploads = [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "application/octet-stream")]
    made = []
    for body, declared in uploads:
        got = upload(portal, appt, body, declared, headers(world, "ann"))
        assert got.status_code == 201, got.text
        assert "object_path" not in got.json()
        made.append(got.json())
    assert [m["content_type"] for m in made] == ["image/png", "image/jpeg", "image/webp"]
    assert [m["bytes"] for m in made] == [len(b) for b, _ in uploads]
    for name in ("ann", "manager", "customer"):
        listed = httpx.get(f"{portal['url']}/jobs/{appt}/photos", headers=headers(world, name))
        assert listed.status_code == 200, (name, listed.text)
        photos = listed.json()["photos"]
        assert [p["id"] for p in photos] == [m["id"] for m in made]
        for photo, (body, _) in zip(photos, uploads):
            assert photo["signed"] is False and photo["url"].startswith("/functions/v1/staff-portal/jobs/")
            served = httpx.get(f"{portal['url'].removesuffix('/functions/v1/staff-portal')}{photo['url']}",
                               headers=headers(world, name))
            assert served.status_code == 200 and served.content == body
            assert served.headers["content-type"] == photo["content_type"]
    for name in ("bob", "manager_bob", "outsider", "rival_owner"):
        assert httpx.get(f"{portal['url']}/jobs/{appt}/photos", headers=headers(world, name)).status_code == 404
        served = httpx.get(f"{portal['url']}/jobs/{appt}/photos/{made[0]['id']}", headers=headers(world, name))
        assert served.status_code == 404
    assert len(stored_files(portal)) >= 3


@pytest.mark.parametrize(("body", "declared", "status", "code"), [
    (b"GIF89a" + bytes(50), "image/gif", 415, "unsupported_media_type"),
    (b"<html><script>alert(1)</script></html>", "image/png", 415, "unsupported_media_type"),
    (b"%PDF-1.7 " + bytes(50), "image/jpeg", 415, "unsupported_media_type"),
    (PNG, "image/jpeg", 422, "content_type_mismatch"),
    (JPEG, "image/png", 422, "content_type_mismatch"),
    (b"", "image/png", 422, "empty_body"),
])
def test_photos_are_checked_by_their_bytes_and_nothing_is_kept_when_refused(db, world, portal, body, declared,
                                                                           status, code):
    appt = job(db, world, offset=-1)
    before = stored_files(portal)
    got = upload(portal, appt, body, declared, headers(world, "ann"))
    assert got.status_code == status and got.json()["error"]["code"] == code, got.text
    assert db.value("select count(*) from public.job_photos where appointment_id = %s", (appt,)) == 0
    assert stored_files(portal) == before


def test_a_photo_over_the_size_limit_is_413(db, world, portal):
    appt = job(db, world, offset=-1)
    with override_env(PHOTO_MAX_BYTES=str(64 * 1024)):
        got = upload(portal, appt, PNG + bytes(64 * 1024), "image/png", headers(world, "ann"))
        assert got.status_code == 413 and got.json()["error"]["code"] == "body_too_large"
        assert upload(portal, appt, PNG, "image/png", headers(world, "ann")).status_code == 201
    assert db.value("select count(*) from public.job_photos where appointment_id = %s", (appt,)) == 1


@pytest.mark.parametrize(("name", "status"), [("bob", 404), ("manager_bob", 404), ("customer", 403),
                                              ("outsider", 404), ("rival_owner", 404), ("rival_staff", 404)])
def test_only_the_jobs_staff_member_and_managers_add_photos(db, world, portal, name, status):
    appt = job(db, world, offset=-1)
    before = stored_files(portal)
    got = upload(portal, appt, PNG, "image/png", headers(world, name))
    assert got.status_code == status, got.text
    assert db.value("select count(*) from public.job_photos where appointment_id = %s", (appt,)) == 0
    assert stored_files(portal) == before


def test_photos_in_supabase_storage_come_back_through_signed_urls(db, world, stack):
    """The production backend, over HTTP against the local Storage stand-in."""
    from werkzeug.serving import make_server

    from shared.devstack.standins import StorageStandin

    standin = StorageStandin("stand-in-service-key")
    server = make_server("127.0.0.1", 0, standin.served_at(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with override_env(STORAGE_BACKEND="supabase",
                          SUPABASE_STORAGE_URL=f"http://127.0.0.1:{server.server_port}/storage/v1",
                          SUPABASE_SERVICE_ROLE_KEY="stand-in-service-key"):
            appt = job(db, world, offset=-1)
            url = f"{stack.functions_url}/staff-portal/jobs/{appt}/photos"
            got = httpx.post(url, content=JPEG, headers={**headers(world, "ann"), "content-type": "image/jpeg"})
            assert got.status_code == 201, got.text
            photo_id = got.json()["id"]
            path = f"{world['org_id']}/{appt}/{photo_id}.jpg"
            assert standin.objects[("job-photos", path)].data == JPEG
            listed = httpx.get(url, headers=headers(world, "customer")).json()["photos"]
            assert len(listed) == 1 and listed[0]["signed"] is True
            fetched = httpx.get(listed[0]["url"])  # no key, no JWT: the signature is the credential
            assert fetched.status_code == 200 and fetched.content == JPEG
            served = httpx.get(f"{url}/{photo_id}", headers=headers(world, "manager"))
            assert served.status_code == 200 and served.content == JPEG
            # A refused upload leaves nothing in the bucket.
            assert httpx.post(url, content=PNG, headers={**headers(world, "bob"), "content-type": "image/png"}
                              ).status_code == 404
            assert len(standin.objects) == 1
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
