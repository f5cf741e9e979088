"""Calendar feeds and .ics files (routines/appointments/calendar_feeds.sql,
policies/appointments.sql, shared/appointments/calendar.py, functions/calendar).

Everything the calendar function answers is fetched over real HTTP from the
`stack` fixture and parsed back with icalendar.Calendar.from_ical: a staff
member's feed lists their jobs, a customer's feed their own appointments, a
manager's feed the org's; UIDs are stable; SEQUENCE rises with every
reschedule and cancellation, which shows as STATUS:CANCELLED; revoked and
replaced feeds are 404; the token is stored only as its sha256. The single
appointment .ics follows RLS: its customer gets it, anyone else 404, no
token 401. Last, the RLS matrix of calendar_feeds (anon, owner, another user,
service_role).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import httpx
import icalendar
import psycopg
import pytest
from psycopg.rows import dict_row

from shared.platform import config
from shared.platform.db import Caller
from tests.support.appointments import services_and_staff
from tests.support import factories
from tests.support.rls import assert_case, parse_matrix
from tests.support.pg import ArrangingDb


@pytest.fixture(scope="module", autouse=True)
def feed_url_needs_no_jwt():
    """The feed URL is its own credential: supabase.toml's [functions.calendar] says
    verify_jwt = false. Until that entry lands, say it here for this module only
    (a no-op once it is there)."""
    functions = config.project().functions
    if functions.get("calendar", config.FunctionSpec("calendar")).verify_jwt is False:
        yield
        return
    previous = functions.get("calendar")
    functions["calendar"] = config.FunctionSpec("calendar", verify_jwt=False)
    try:
        yield
    finally:
        if previous is None:
            functions.pop("calendar", None)
        else:
            functions["calendar"] = previous


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def prober(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.row_factory = dict_row
        yield conn


def at(days: int, hour: int = 10) -> datetime:
    """`days` from today at `hour`:00 UTC."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days, hours=hour)


def period(days: int, hour: int = 10, hours: int = 2) -> str:
    start = at(days, hour)
    return f"[{start.isoformat()}, {(start + timedelta(hours=hours)).isoformat()})"


def job(db, org_id, service_id, staff_id, when: str, *, customer=None, name: str, status: str = "booked",
        address: str | None = "1 High Street, London", postcode: str | None = "SW1A 1AA") -> str:
    return db.value(
        "insert into public.appointments (org_id, service_id, staff_id, customer_user_id, customer_name,"
        " customer_phone, address, postcode, status, period, hold_expires_at)"
        " values (%s, %s, %s, %s, %s, '+44 20 7946 0000', %s, %s, %s, %s,"
        " case when %s = 'held' then now() + interval '10 minutes' end) returning id",
        (org_id, service_id, staff_id, customer.id if customer else None, name, address, postcode, status, when,
         status))


def create_feed(db, user) -> dict:
    with db.as_user(user) as cur:
        return cur.execute("select public.create_calendar_feed() as feed").fetchone()["feed"]


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    org, rival = team["org"], team["rival"]
    people = dict(team["people"])
    people["other_staff"] = factories.member(db, org, role="staff")
    people["customer"] = db.user(full_name="Casey Customer")
    people["other_customer"] = db.user()
    people["changer"] = db.user()
    ours = services_and_staff(db, org["id"], staff_user=people["staff"], name="Val Cleaner")
    theirs = services_and_staff(db, rival["id"], name="Rival Cleaner")
    olly = db.value("insert into public.staff (org_id, user_id, display_name) values (%s, %s, 'Olly Other')"
                    " returning id", (org["id"], people["other_staff"].id))
    db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
           (olly, ours["service_id"], org["id"]))
    svc, val = ours["service_id"], ours["staff_id"]
    jobs = {
        # Val's jobs: two for the customer (one 10 days ago, done), one for the other customer.
        "mine": job(db, org["id"], svc, val, period(1), customer=people["customer"], name="Casey Customer"),
        "done": job(db, org["id"], svc, val, period(-10), customer=people["customer"], name="Casey Customer",
                    status="completed"),
        "val_other": job(db, org["id"], svc, val, period(2), customer=people["other_customer"], name="Dana Other"),
        # Olly's job for the other customer.
        "olly": job(db, org["id"], svc, olly, period(1), customer=people["other_customer"], name="Dana Other"),
        # Outside every feed: a held checkout slot, too long ago, too far ahead, another org.
        "held": job(db, org["id"], svc, val, period(3), customer=people["customer"], name="Casey Customer",
                    status="held"),
        "old": job(db, org["id"], svc, val, period(-40), customer=people["customer"], name="Casey Customer",
                   status="completed"),
        "far": job(db, org["id"], svc, val, period(400), customer=people["customer"], name="Casey Customer"),
        "rival": job(db, rival["id"], theirs["service_id"], theirs["staff_id"], period(1),
                     customer=people["customer"], name="Casey Customer"),
        # The one the sequence test moves and cancels.
        "changing": job(db, org["id"], svc, olly, period(5), customer=people["changer"], name="Chris Changer"),
    }
    return {"org": org, "rival": rival, "people": people, "jobs": {k: str(v) for k, v in jobs.items()},
            "olly": olly, "val": val}


def fetch_feed(functions_url: str, token: str) -> httpx.Response:
    return httpx.get(f"{functions_url}/calendar/feeds/{token}.ics", timeout=30)


def parse(response: httpx.Response) -> icalendar.Calendar:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar"), response.headers["content-type"]
    return icalendar.Calendar.from_ical(response.content)


def events(cal: icalendar.Calendar) -> dict[str, icalendar.Event]:
    found = {str(ev["UID"]): ev for ev in cal.walk("VEVENT")}
    assert len(found) == len(cal.walk("VEVENT")), "duplicate UIDs"
    return found


def uids(world, *names: str) -> set[str]:
    return {f"{world['jobs'][n]}@bookwell" for n in names}


def feed_of(db, functions_url, user) -> tuple[icalendar.Calendar, dict[str, icalendar.Event]]:
    cal = parse(fetch_feed(functions_url, create_feed(db, user)["token"]))
    return cal, events(cal)


# ---------------------------------------------------------------------------
# Who sees what
# ---------------------------------------------------------------------------
def test_a_staff_feed_lists_their_jobs_only_with_the_customer(db, functions_url, world):
    cal, evs = feed_of(db, functions_url, world["people"]["staff"])
    assert set(evs) == uids(world, "mine", "done", "val_other")
    assert str(cal["METHOD"]) == "PUBLISH" and str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]) == "-//Bookwell//Appointments//EN"
    assert str(cal["X-WR-CALNAME"]).startswith("Bookwell")
    mine = evs[f"{world['jobs']['mine']}@bookwell"]
    assert str(mine["SUMMARY"]) == "Regular clean: Casey Customer"
    assert str(mine["LOCATION"]) == "1 High Street, London, SW1A 1AA"
    assert "Customer: Casey Customer" in str(mine["DESCRIPTION"])
    assert str(evs[f"{world['jobs']['val_other']}@bookwell"]["SUMMARY"]) == "Regular clean: Dana Other"


def test_a_customer_feed_lists_their_own_appointments_without_anyones_name(db, functions_url, world):
    _, evs = feed_of(db, functions_url, world["people"]["customer"])
    assert set(evs) == uids(world, "mine", "done", "rival")  # in every org they booked with
    mine = evs[f"{world['jobs']['mine']}@bookwell"]
    assert str(mine["SUMMARY"]) == "Regular clean with Val Cleaner"
    text = b"".join(ev.to_ical() for ev in evs.values()).decode()
    assert "Casey Customer" not in text and "Dana Other" not in text and "7946" not in text


def test_a_managers_feed_lists_the_whole_org(db, functions_url, world):
    _, evs = feed_of(db, functions_url, world["people"]["manager"])
    assert set(evs) == uids(world, "mine", "done", "val_other", "olly", "changing")
    assert str(evs[f"{world['jobs']['olly']}@bookwell"]["SUMMARY"]) == "Regular clean: Dana Other"


def test_a_member_with_nothing_in_scope_gets_an_empty_but_valid_calendar(db, functions_url, world):
    cal, evs = feed_of(db, functions_url, world["people"]["outsider"])
    assert evs == {} and str(cal["METHOD"]) == "PUBLISH"


def test_a_staff_member_who_leaves_the_org_loses_their_jobs_from_the_feed(db, functions_url, world):
    staff = world["people"]["staff"]
    token = create_feed(db, staff)["token"]
    role = db.value("delete from public.memberships where org_id = %s and user_id = %s returning role",
                    (world["org"]["id"], staff.id))
    try:
        assert events(parse(fetch_feed(functions_url, token))) == {}
    finally:
        db.sql("insert into public.memberships (org_id, user_id, role) values (%s, %s, %s)",
               (world["org"]["id"], staff.id, role))
    assert set(events(parse(fetch_feed(functions_url, token)))) == uids(world, "mine", "done", "val_other")


# ---------------------------------------------------------------------------
# The events themselves
# ---------------------------------------------------------------------------
def test_uids_are_stable_across_fetches_and_times_are_utc(db, functions_url, world):
    token = create_feed(db, world["people"]["staff"])["token"]
    first, second = fetch_feed(functions_url, token), fetch_feed(functions_url, token)
    assert first.headers["cache-control"] == "private, max-age=300"
    a, b = events(parse(first)), events(parse(second))
    assert set(a) == set(b) == uids(world, "mine", "done", "val_other")
    for uid, ev in a.items():
        assert b[uid].decoded("DTSTART") == ev.decoded("DTSTART")
        assert int(b[uid]["SEQUENCE"]) == int(ev["SEQUENCE"])
        for prop in ("DTSTART", "DTEND", "DTSTAMP", "LAST-MODIFIED"):
            assert ev.decoded(prop).utcoffset() == timedelta(0), prop
            assert ev[prop].to_ical().endswith(b"Z"), prop
        assert str(ev["STATUS"]) == "CONFIRMED"
    mine = a[f"{world['jobs']['mine']}@bookwell"]
    assert mine.decoded("DTSTART") == at(1) and mine.decoded("DTEND") == at(1, 12)


def test_a_reschedule_raises_the_sequence_and_a_cancellation_shows_as_cancelled(db, functions_url, world):
    token = create_feed(db, world["people"]["changer"])["token"]
    uid = f"{world['jobs']['changing']}@bookwell"

    def current() -> icalendar.Event:
        evs = events(parse(fetch_feed(functions_url, token)))
        assert set(evs) == {uid}
        return evs[uid]

    before = current()
    db.sql("update public.appointments set period = %s where id = %s", (period(6, 14), world["jobs"]["changing"]))
    moved = current()
    assert int(moved["SEQUENCE"]) > int(before["SEQUENCE"])
    assert moved.decoded("DTSTART") == at(6, 14) and str(moved["STATUS"]) == "CONFIRMED"
    assert moved.decoded("LAST-MODIFIED") >= before.decoded("LAST-MODIFIED")
    db.sql("update public.appointments set status = 'cancelled' where id = %s", (world["jobs"]["changing"],))
    cancelled = current()
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert int(cancelled["SEQUENCE"]) > int(moved["SEQUENCE"])
    assert str(cancelled["SUMMARY"]).startswith("Cancelled: ")
    # A change a calendar need not see (a note) keeps the sequence.
    db.sql("update public.appointments set notes = 'ring the bell' where id = %s", (world["jobs"]["changing"],))
    assert int(current()["SEQUENCE"]) == int(cancelled["SEQUENCE"])


# ---------------------------------------------------------------------------
# Tokens: revocation, replacement, hashing
# ---------------------------------------------------------------------------
def test_a_revoked_feed_is_404_and_stays_revoked(db, functions_url, world):
    owner = world["people"]["other_customer"]
    feed = create_feed(db, owner)
    assert fetch_feed(functions_url, feed["token"]).status_code == 200
    with db.as_user(owner) as cur:
        cur.execute("select public.revoke_calendar_feed(%s)", (feed["feed_id"],))
    gone = fetch_feed(functions_url, feed["token"])
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "feed_not_found"
    refused = db.attempt(owner.caller, "update public.calendar_feeds set revoked_at = null where id = %s",
                         (feed["feed_id"],))
    assert isinstance(refused, psycopg.Error) and refused.sqlstate == "PT409", refused
    assert fetch_feed(functions_url, feed["token"]).status_code == 404


def test_a_feed_revoked_by_updating_revoked_at_is_404(db, functions_url, world):
    owner = world["people"]["other_customer"]
    feed = create_feed(db, owner)
    with db.as_user(owner) as cur:
        cur.execute("update public.calendar_feeds set revoked_at = '2000-01-01' where id = %s", (feed["feed_id"],))
    assert fetch_feed(functions_url, feed["token"]).status_code == 404
    # The server's clock, not the caller's, dates the revocation.
    assert db.value("select revoked_at > now() - interval '1 minute' from public.calendar_feeds where id = %s",
                    (feed["feed_id"],)) is True


def test_a_new_feed_revokes_the_old_one(db, functions_url, world):
    owner = world["people"]["admin"]
    old, new = create_feed(db, owner), create_feed(db, owner)
    assert old["token"] != new["token"] and old["feed_id"] != new["feed_id"]
    assert new["url_path"] == f"/functions/v1/calendar/feeds/{new['token']}.ics"
    assert fetch_feed(functions_url, old["token"]).status_code == 404
    assert fetch_feed(functions_url, new["token"]).status_code == 200
    with db.as_user(owner) as cur:
        rows = cur.execute("select id, revoked_at from public.calendar_feeds").fetchall()
    assert {r["id"] for r in rows if r["revoked_at"] is None} == {uuid.UUID(new["feed_id"])}


def test_unknown_and_malformed_tokens_are_404(functions_url):
    for token in ("0" * 96, "not-a-token", "a" * 10):
        response = httpx.get(f"{functions_url}/calendar/feeds/{token}.ics", timeout=30)
        assert response.status_code == 404, token
    assert httpx.get(f"{functions_url}/calendar/", timeout=30).status_code == 404
    assert httpx.post(f"{functions_url}/calendar/feeds/{'0' * 96}.ics", timeout=30).status_code == 405


def test_the_token_is_stored_only_as_its_sha256_and_never_readable(db, world):
    owner = world["people"]["owner"]
    feed = create_feed(db, owner)
    token = feed["token"]
    assert len(bytes.fromhex(token)) * 8 >= 128
    row = db.one("select * from public.calendar_feeds where id = %s", (feed["feed_id"],))
    assert row["token_hash"] == db.value("select sha256(convert_to(%s, 'UTF8'))", (token,))
    assert token not in {str(v) for v in row.values()}
    assert db.value("select count(*) from public.calendar_feeds where token_hash::text like %s",
                    (f"%{token}%",)) == 0
    for caller in (owner.caller, Caller.anon()):
        refused = db.attempt(caller, "select token_hash from public.calendar_feeds")
        assert isinstance(refused, psycopg.errors.InsufficientPrivilege), refused
    # Even `select *` is refused (it names token_hash): clients list the columns they read.
    refused = db.attempt(owner.caller, "select * from public.calendar_feeds")
    assert isinstance(refused, psycopg.errors.InsufficientPrivilege), refused


def test_the_owner_reads_their_feeds_without_the_hash(db, world):
    owner = world["people"]["owner"]
    with db.as_user(owner) as cur:
        rows = cur.execute("select id, user_id, created_at, revoked_at from public.calendar_feeds").fetchall()
    assert rows and {str(r["user_id"]) for r in rows} == {owner.id}


def test_nobody_reaches_the_feed_lookup_but_the_service_role(db, world):
    token = create_feed(db, world["people"]["owner"])["token"]
    for caller in (Caller.anon(), world["people"]["owner"].caller):
        refused = db.attempt(caller, "select private.calendar_feed_events(%s)", (token,))
        assert isinstance(refused, psycopg.errors.InsufficientPrivilege), refused
    with db.as_service() as cur:
        assert cur.execute("select private.calendar_feed_events(%s) as f", (token,)).fetchone()["f"] is not None
        assert cur.execute("select private.calendar_feed_events(%s) as f", ("0" * 96,)).fetchone()["f"] is None


def test_only_the_owner_revokes_a_feed_through_the_rpc(db, world):
    feed = create_feed(db, world["people"]["manager"])
    refused = db.attempt(world["people"]["outsider"].caller, "select public.revoke_calendar_feed(%s)",
                         (feed["feed_id"],))
    assert isinstance(refused, psycopg.Error) and refused.sqlstate == "PT404", refused
    assert db.value("select revoked_at is null from public.calendar_feeds where id = %s", (feed["feed_id"],))
    refused = db.attempt(Caller.anon(), "select public.create_calendar_feed()")
    assert isinstance(refused, psycopg.errors.InsufficientPrivilege), refused


# ---------------------------------------------------------------------------
# One appointment as .ics
# ---------------------------------------------------------------------------
def fetch_one(functions_url: str, appointment_id: str, headers: dict | None = None) -> httpx.Response:
    return httpx.get(f"{functions_url}/calendar/appointments/{appointment_id}.ics", headers=headers or {},
                     timeout=30)


def test_the_customer_downloads_their_appointment(functions_url, world):
    response = fetch_one(functions_url, world["jobs"]["mine"], world["people"]["customer"].headers)
    cal = parse(response)
    assert "attachment" in response.headers["content-disposition"]
    (ev,) = cal.walk("VEVENT")
    assert str(ev["UID"]) == f"{world['jobs']['mine']}@bookwell"
    assert str(ev["SUMMARY"]) == "Regular clean with Val Cleaner"
    assert ev.decoded("DTSTART") == at(1) and str(ev["STATUS"]) == "CONFIRMED"
    assert "Casey Customer" not in ev.to_ical().decode()


def test_the_staff_member_downloads_the_job_with_the_customer(functions_url, world):
    (ev,) = parse(fetch_one(functions_url, world["jobs"]["mine"], world["people"]["staff"].headers)).walk("VEVENT")
    assert str(ev["SUMMARY"]) == "Regular clean: Casey Customer"


def test_a_held_slot_downloads_as_tentative(functions_url, world):
    (ev,) = parse(fetch_one(functions_url, world["jobs"]["held"], world["people"]["customer"].headers)
                  ).walk("VEVENT")
    assert str(ev["STATUS"]) == "TENTATIVE"


@pytest.mark.parametrize("actor", ["other_customer", "other_staff", "outsider", "rival_owner"])
def test_anyone_else_gets_404_for_the_appointment(functions_url, world, actor):
    response = fetch_one(functions_url, world["jobs"]["mine"], world["people"][actor].headers)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "appointment_not_found"


def test_the_appointment_needs_a_signed_in_user(functions_url, world):
    from tests.support.http import anon_headers

    assert fetch_one(functions_url, world["jobs"]["mine"]).status_code == 401
    assert fetch_one(functions_url, world["jobs"]["mine"], anon_headers()).status_code == 401
    assert fetch_one(functions_url, world["jobs"]["mine"], {"authorization": "Bearer nonsense"}).status_code == 401


def test_an_unknown_appointment_is_404(functions_url, world):
    headers = world["people"]["customer"].headers
    assert fetch_one(functions_url, str(uuid.uuid4()), headers).status_code == 404
    assert fetch_one(functions_url, "not-a-uuid", headers).status_code == 404


# ---------------------------------------------------------------------------
# RLS of calendar_feeds
# ---------------------------------------------------------------------------
ACTORS = ("anon", "owner", "other_user", "service_role")

# x = no grant; p = refused by `with check`; 0 = no row matched; 1 = reads / writes the target.
# Feeds are created only by create_calendar_feed() (no insert grant); the owner revokes
# (update of revoked_at) or deletes their own.
MATRIX = """
table          command anon owner other_user service_role
calendar_feeds select  x    1     0          1
calendar_feeds insert  x    x     x          1
calendar_feeds update  x    1     0          1
calendar_feeds delete  x    1     0          1
"""
CASES = parse_matrix(MATRIX, ACTORS)

PROBES: dict[str, tuple[str, str | None]] = {
    "select": ("select id from public.calendar_feeds where id = %(feed_id)s", None),
    "insert": ("insert into public.calendar_feeds (user_id, token_hash, revoked_at)"
               " values (%(owner_id)s, sha256(convert_to(%(marker)s, 'UTF8')), now()) returning id",
               "select count(*) from public.calendar_feeds where token_hash = sha256(convert_to(%(marker)s, 'UTF8'))"),
    "update": ("update public.calendar_feeds set revoked_at = now() where id = %(feed_id)s returning id",
               "select count(*) from public.calendar_feeds where id = %(feed_id)s and revoked_at is not null"),
    "delete": ("delete from public.calendar_feeds where id = %(feed_id)s returning id",
               "select 1 - count(*) from public.calendar_feeds where id = %(feed_id)s"),
}


@pytest.fixture(scope="module")
def rls_world(db) -> dict:
    owner, other = db.user(), db.user()
    create_feed(db, other)
    feed = create_feed(db, owner)
    callers = {"anon": Caller.anon(), "owner": owner.caller, "other_user": other.caller,
               "service_role": Caller.service()}
    return {"callers": callers, "params": {"feed_id": feed["feed_id"], "owner_id": owner.id,
                                           "marker": f"probe-{uuid.uuid4().hex}"}}


@pytest.mark.parametrize(("table", "command", "actor", "expected"), CASES,
                         ids=[f"{t}-{c}-{a}" for t, c, a, _ in CASES])
def test_rls_matrix(prober, rls_world, table, command, actor, expected):
    statement, check = PROBES[command]
    assert_case(prober, rls_world["callers"][actor], statement, rls_world["params"], check, expected,
                f"{actor} {command} on {table}")


def test_rls_is_on_with_one_sentence_policy_per_command_and_nothing_for_anon(db):
    assert db.value("select relrowsecurity from pg_class where oid = 'public.calendar_feeds'::regclass") is True
    policies = db.sql("select cmd, roles, policyname from pg_policies"
                      " where schemaname = 'public' and tablename = 'calendar_feeds'")
    assert sorted((p["cmd"], p["roles"]) for p in policies) == sorted(
        (c, ["authenticated"]) for c in ("SELECT", "UPDATE", "DELETE"))
    assert all(" " in p["policyname"] and p["policyname"][0].isupper() for p in policies)
    for privilege in ("select", "insert", "update", "references"):
        assert db.value("select has_any_column_privilege('anon', 'public.calendar_feeds', %s)",
                        (privilege,)) is False, privilege
    assert db.value("select has_column_privilege('authenticated', 'public.calendar_feeds', 'token_hash',"
                    " 'select')") is False
    assert db.value("select has_column_privilege('authenticated', 'public.calendar_feeds', 'user_id',"
                    " 'update')") is False
