"""Who may read and write the appointments catalogue and staff
(migrations/*_appointments_catalogue.sql, policies/appointments.sql).

Anyone reads active categories and services, and anon the names of active
staff; owners, admins and managers manage their org's catalogue, staff,
schedules, breaks, time off and areas; staff read the catalogue and their OWN
schedule, breaks, time off and areas, and may add (and withdraw, before it
starts) their own future time off; booking rules are read by members and
written by owners and admins; other orgs see nothing private.

Probes run as PostgREST would (`set local role` + `request.jwt.claims`) in a
transaction that is always rolled back; writes are judged by `returning` and by
what a superuser sees afterwards, and each write also runs without `returning`
(return=minimal) so a write hole cannot hide behind a SELECT policy.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from shared.platform.db import Caller, act_as
from tests.support import factories
from tests.support.rls import parse_matrix, probe, refusal, without_returning
from tests.support.pg import ArrangingDb

ACTORS = ("anon", "outsider", "owner", "admin", "manager", "staff", "other_staff", "rival_owner", "service_role")

# Legend: x = no grant (42501 "permission denied"); p = refused by `with check`
# (42501 "row-level security"); 0 = matches no row; 1 = reads / writes the target.
# `staff` is the user linked to the target staff row; `other_staff` is another
# staff member of the same org with a staff row (and a schedule) of their own.
# The target category, service and staff row are active, so they are public.
MATRIX = """
table                command anon outsider owner admin manager staff other_staff rival_owner service_role
service_categories   select  1    1        1     1     1       1     1           1           1
service_categories   insert  x    p        1     1     1       p     p           p           1
service_categories   update  x    0        1     1     1       0     0           0           1
service_categories   delete  x    0        1     1     1       0     0           0           1
services             select  1    1        1     1     1       1     1           1           1
services             insert  x    p        1     1     1       p     p           p           1
services             update  x    0        1     1     1       0     0           0           1
services             delete  x    0        1     1     1       0     0           0           1
staff                select  1    0        1     1     1       1     1           0           1
staff                insert  x    p        1     1     1       p     p           p           1
staff                update  x    0        1     1     1       0     0           0           1
staff                delete  x    0        1     1     1       0     0           0           1
staff_services       select  x    0        1     1     1       1     1           0           1
staff_services       insert  x    p        1     1     1       p     p           p           1
staff_services       update  x    0        1     1     1       0     0           0           1
staff_services       delete  x    0        1     1     1       0     0           0           1
staff_schedules      select  x    0        1     1     1       1     0           0           1
staff_schedules      insert  x    p        1     1     1       p     p           p           1
staff_schedules      update  x    0        1     1     1       0     0           0           1
staff_schedules      delete  x    0        1     1     1       0     0           0           1
staff_breaks         select  x    0        1     1     1       1     0           0           1
staff_breaks         insert  x    p        1     1     1       p     p           p           1
staff_breaks         update  x    0        1     1     1       0     0           0           1
staff_breaks         delete  x    0        1     1     1       0     0           0           1
staff_time_off       select  x    0        1     1     1       1     0           0           1
staff_time_off       insert  x    p        1     1     1       1     p           p           1
staff_time_off       update  x    0        1     1     1       0     0           0           1
staff_time_off       delete  x    0        1     1     1       1     0           0           1
staff_service_areas  select  x    0        1     1     1       1     0           0           1
staff_service_areas  insert  x    p        1     1     1       p     p           p           1
staff_service_areas  update  x    0        1     1     1       0     0           0           1
staff_service_areas  delete  x    0        1     1     1       0     0           0           1
appointment_settings select  x    0        1     1     1       1     1           0           1
appointment_settings insert  x    p        1     1     p       p     p           p           1
appointment_settings update  x    0        1     1     0       0     0           0           1
appointment_settings delete  x    0        1     1     0       0     0           0           1
"""
# service_role is BYPASSRLS with every grant (Supabase's contract for the server key).

CASES = parse_matrix(MATRIX, ACTORS)
TABLES = ("service_categories", "services", "staff", "staff_services", "staff_schedules", "staff_breaks",
          "staff_time_off", "staff_service_areas", "appointment_settings")


def _by_id(table: str, key: str, insert: tuple[str, str], text_column: str, text_value: str = "%(marker)s"):
    """Probes for a table keyed by `id`: (statement, superuser check) per command."""
    columns, values = insert
    return {
        "select": (f"select id from public.{table} where id = %({key})s", None),
        "insert": (f"insert into public.{table} ({columns}) values ({values}) returning id",
                   f"select count(*) from public.{table} where {text_column} = {text_value}"
                   if text_value == "%(marker)s" else None),
        "update": (f"update public.{table} set {text_column} = {text_value} where id = %({key})s returning id",
                   f"select count(*) from public.{table} where id = %({key})s and {text_column} = {text_value}"),
        "delete": (f"delete from public.{table} where id = %({key})s returning id",
                   f"select 1 - count(*) from public.{table} where id = %({key})s"),
    }


def _weekly(table: str, key: str) -> dict:
    """Schedules and breaks: the insert takes Sunday (weekday 6), free for the target staff."""
    return {
        "select": (f"select id from public.{table} where id = %({key})s", None),
        "insert": (f"insert into public.{table} (org_id, staff_id, weekday, starts_at, ends_at)"
                   f" values (%(org_id)s, %(staff_id)s, 6, '07:00', '07:30') returning id",
                   f"select count(*) from public.{table} where staff_id = %(staff_id)s and weekday = 6"),
        "update": (f"update public.{table} set ends_at = ends_at + interval '1 minute' where id = %({key})s"
                   f" returning id",
                   f"select count(*) from public.{table} where id = %({key})s and ends_at <> %({key}_ends)s"),
        "delete": (f"delete from public.{table} where id = %({key})s returning id",
                   f"select 1 - count(*) from public.{table} where id = %({key})s"),
    }


PROBES: dict[str, dict[str, tuple[str, str | None]]] = {
    "service_categories": _by_id("service_categories", "category_id",
                                 ("org_id, name", "%(org_id)s, %(marker)s"), "name"),
    "services": _by_id("services", "service_id",
                       ("org_id, category_id, name, duration_minutes, price_minor, currency",
                        "%(org_id)s, %(category_id)s, %(marker)s, 120, 4500, 'GBP'"), "name"),
    "staff": _by_id("staff", "staff_id", ("org_id, display_name", "%(org_id)s, %(marker)s"), "display_name"),
    "staff_services": {
        "select": ("select staff_id from public.staff_services"
                   " where staff_id = %(staff_id)s and service_id = %(service_id)s", None),
        "insert": ("insert into public.staff_services (staff_id, service_id, org_id)"
                   " values (%(staff_id)s, %(spare_service_id)s, %(org_id)s) returning staff_id",
                   "select count(*) from public.staff_services"
                   " where staff_id = %(staff_id)s and service_id = %(spare_service_id)s"),
        "update": ("update public.staff_services set service_id = %(spare_service_id)s"
                   " where staff_id = %(staff_id)s and service_id = %(service_id)s returning staff_id",
                   "select count(*) from public.staff_services"
                   " where staff_id = %(staff_id)s and service_id = %(spare_service_id)s"),
        "delete": ("delete from public.staff_services"
                   " where staff_id = %(staff_id)s and service_id = %(service_id)s returning staff_id",
                   "select 1 - count(*) from public.staff_services"
                   " where staff_id = %(staff_id)s and service_id = %(service_id)s"),
    },
    "staff_schedules": _weekly("staff_schedules", "schedule_id"),
    "staff_breaks": _weekly("staff_breaks", "break_id"),
    "staff_time_off": _by_id("staff_time_off", "time_off_id",
                             ("org_id, staff_id, period, reason",
                              "%(org_id)s, %(staff_id)s, tstzrange(now() + interval '60 days',"
                              " now() + interval '61 days'), %(marker)s"), "reason"),
    "staff_service_areas": {
        **_by_id("staff_service_areas", "area_id",
                 ("org_id, staff_id, outcode, radius_km", "%(org_id)s, %(staff_id)s, 'N1', 3"), "radius_km", "7.5"),
        "insert": ("insert into public.staff_service_areas (org_id, staff_id, outcode, radius_km)"
                   " values (%(org_id)s, %(staff_id)s, 'N1', 3) returning id",
                   "select count(*) from public.staff_service_areas where staff_id = %(staff_id)s and outcode = 'N1'"),
    },
    "appointment_settings": {
        "select": ("select org_id from public.appointment_settings where org_id = %(org_id)s", None),
        # The second org has the same team and no settings row yet.
        "insert": ("insert into public.appointment_settings (org_id, min_notice_minutes)"
                   " values (%(second_org_id)s, 61) returning org_id",
                   "select count(*) from public.appointment_settings where org_id = %(second_org_id)s"),
        "update": ("update public.appointment_settings set min_notice_minutes = 61"
                   " where org_id = %(org_id)s returning org_id",
                   "select count(*) from public.appointment_settings"
                   " where org_id = %(org_id)s and min_notice_minutes = 61"),
        "delete": ("delete from public.appointment_settings where org_id = %(org_id)s returning org_id",
                   "select 1 - count(*) from public.appointment_settings where org_id = %(org_id)s"),
    },
}


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def prober(database_url):
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def catalogue(db, org_id, *, staff_user=None, name: str = "Domestic cleaning") -> dict:
    """A category, two services, a staff row (linked to `staff_user`) doing the first,
    a Monday schedule with a lunch break, future time off and one service area."""
    category = db.one("insert into public.service_categories (org_id, name) values (%s, %s) returning id",
                      (org_id, name))
    service, spare = (db.one(
        "insert into public.services (org_id, category_id, name, duration_minutes, price_minor, currency)"
        " values (%s, %s, %s, %s, %s, 'GBP') returning id", (org_id, category["id"], title, minutes, price))
        for title, minutes, price in (("Regular clean", 120, 4800), ("Oven clean", 90, 6500)))
    staff = db.one("insert into public.staff (org_id, user_id, display_name, email, phone, base_outcode)"
                   " values (%s, %s, 'Val Cleaner', 'val@example.com', '07700 900123', 'SW1A') returning id",
                   (org_id, staff_user.id if staff_user else None))
    db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
           (staff["id"], service["id"], org_id))
    schedule = db.one("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
                      " values (%s, %s, 0, '09:00', '17:00') returning id, ends_at", (org_id, staff["id"]))
    lunch = db.one("insert into public.staff_breaks (org_id, staff_id, weekday, starts_at, ends_at)"
                   " values (%s, %s, 0, '12:00', '12:30') returning id, ends_at", (org_id, staff["id"]))
    time_off = db.one("insert into public.staff_time_off (org_id, staff_id, period, reason)"
                      " values (%s, %s, tstzrange(now() + interval '10 days', now() + interval '12 days'),"
                      " 'Holiday') returning id", (org_id, staff["id"]))
    area = db.one("insert into public.staff_service_areas (org_id, staff_id, outcode, radius_km)"
                  " values (%s, %s, 'SW1A', 5) returning id", (org_id, staff["id"]))
    return {"category_id": category["id"], "service_id": service["id"], "spare_service_id": spare["id"],
            "staff_id": staff["id"], "schedule_id": schedule["id"], "schedule_id_ends": schedule["ends_at"],
            "break_id": lunch["id"], "break_id_ends": lunch["ends_at"], "time_off_id": time_off["id"],
            "area_id": area["id"]}


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    org, rival = team["org"], team["rival"]
    people = {role: user for role, user in team["people"].items()
              if role in ("owner", "admin", "manager", "staff", "outsider", "rival_owner")}
    people["other_staff"] = factories.member(db, org, role="staff")
    ours = catalogue(db, org["id"], staff_user=people["staff"])
    theirs = catalogue(db, rival["id"], staff_user=None, name="Rival cleaning")
    other = db.one("insert into public.staff (org_id, user_id, display_name) values (%s, %s, 'Olly Other')"
                   " returning id", (org["id"], people["other_staff"].id))
    other_schedule = db.one("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
                            " values (%s, %s, 0, '09:00', '17:00') returning id", (org["id"], other["id"]))
    db.sql("insert into public.appointment_settings (org_id) values (%s)", (org["id"],))
    second = factories.org(db, people["owner"])
    for role in ("admin", "manager", "staff", "other_staff"):
        factories.member(db, second, people[role], role="staff" if role == "other_staff" else role)
    callers = {role: user.caller for role, user in people.items()}
    callers["anon"] = Caller.anon()
    callers["service_role"] = Caller.service()
    params = {**ours, "org_id": org["id"], "rival_org_id": rival["id"], "second_org_id": second["id"],
              "marker": f"probe-{uuid.uuid4().hex[:8]}",
              **{f"rival_{k}": v for k, v in theirs.items()}}
    return {"team": team, "people": people, "callers": callers, "params": params, "theirs": theirs,
            "other_staff_id": other["id"], "other_schedule_id": other_schedule["id"]}


@pytest.mark.parametrize(("table", "command", "actor", "expected"), CASES,
                         ids=[f"{t}-{c}-{a}" for t, c, a, _ in CASES])
def test_rls_matrix(prober, world, table, command, actor, expected):
    statement, check = PROBES[table][command]
    caller = world["callers"][actor]
    if check is not None and command != "select":
        status, result, effect = probe(prober, caller, without_returning(statement), world["params"], check)
        if status == "error":
            assert refusal(result) == expected, f"{actor} {command} on {table} (minimal): got {result!r}"
        else:
            assert expected in ("0", "1"), f"{actor} {command} on {table} (minimal): expected {expected}, ran"
        assert effect == (int(expected) if expected in ("0", "1") else 0), (
            f"{actor} {command} on {table} (minimal): {effect} row(s) really changed")
    status, result, effect = probe(prober, caller, statement, world["params"], check)
    if status == "error":
        assert refusal(result) == expected, f"{actor} {command} on {table}: expected {expected}, got {result!r}"
        if check is not None:
            assert effect == 0, f"{actor} {command} on {table} was refused but {effect} row(s) changed"
        return
    assert expected in ("0", "1"), f"{actor} {command} on {table}: expected {expected}, got {len(result)} row(s)"
    assert len(result) == int(expected), f"{actor} {command} on {table}: returned {len(result)} row(s)"
    if check is not None:
        assert effect == int(expected), f"{actor} {command} on {table}: {effect} row(s) really changed"


def test_the_matrix_covers_every_command_on_every_table():
    assert {(t, c) for t, c, _, _ in CASES} == {(t, c) for t in TABLES
                                                 for c in ("select", "insert", "update", "delete")}


def test_every_table_has_rls_on_and_one_sentence_policy_per_role_and_command(db):
    rows = db.sql("select relname, relrowsecurity from pg_class where relnamespace = 'public'::regnamespace"
                  " and relname = any(%s)", (list(TABLES),))
    assert sorted(r["relname"] for r in rows) == sorted(TABLES)
    assert all(r["relrowsecurity"] for r in rows)
    policies = db.sql("select tablename, cmd, roles, policyname from pg_policies where schemaname = 'public'"
                      " and tablename = any(%s)", (list(TABLES),))
    authenticated = sorted((p["tablename"], p["cmd"]) for p in policies if p["roles"] == ["authenticated"])
    assert authenticated == sorted((t, c) for t in TABLES for c in ("SELECT", "INSERT", "UPDATE", "DELETE"))
    anon = sorted((p["tablename"], p["cmd"]) for p in policies if p["roles"] == ["anon"])
    assert anon == [("service_categories", "SELECT"), ("services", "SELECT"), ("staff", "SELECT")]
    assert all(" " in p["policyname"] and p["policyname"][0].isupper() for p in policies)


def test_anon_may_read_only_public_staff_columns_and_write_nothing(db):
    readable = {r["column_name"] for r in db.sql(
        "select column_name from information_schema.column_privileges where table_schema = 'public'"
        " and table_name = 'staff' and grantee = 'anon' and privilege_type = 'SELECT'")}
    assert readable == {"id", "org_id", "display_name", "active"}
    for table in TABLES:
        for privilege in ("insert", "update", "delete", "truncate", "references", "trigger"):
            assert db.value("select has_table_privilege('anon', %s, %s)", (f"public.{table}", privilege)) is False, \
                f"anon has {privilege} on {table}"
        public = table in ("service_categories", "services")
        assert db.value("select has_table_privilege('anon', %s, 'select')", (f"public.{table}",)) is public, table


def test_anon_cannot_read_a_staff_members_email_or_phone(prober, world):
    for column in ("email", "phone", "user_id", "base_outcode"):
        status, exc, _ = probe(prober, Caller.anon(), f"select {column} from public.staff where id = %(staff_id)s",
                               world["params"])
        assert status == "error" and refusal(exc) == "x", (column, exc)


@pytest.mark.parametrize("actor", ["anon", "outsider", "rival_owner"])
def test_inactive_catalogue_rows_and_staff_are_hidden_from_the_public(prober, db, world, actor):
    p = world["params"]
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        cur.execute("update public.service_categories set active = false where id = %s", (p["category_id"],))
        cur.execute("update public.services set active = false where id = %s", (p["service_id"],))
        cur.execute("update public.staff set active = false where id = %s", (p["staff_id"],))
        act_as(cur, world["callers"][actor])
        assert cur.execute("select id from public.service_categories where id = %s", (p["category_id"],)).fetchall() == []
        assert cur.execute("select id from public.services where id = %s", (p["service_id"],)).fetchall() == []
        assert cur.execute("select id from public.staff where id = %s", (p["staff_id"],)).fetchall() == []
        # The other (still active) service stays visible.
        assert len(cur.execute("select id from public.services where id = %s",
                               (p["spare_service_id"],)).fetchall()) == 1


@pytest.mark.parametrize("actor", ["staff", "manager"])
def test_members_still_see_inactive_catalogue_rows(prober, world, actor):
    p = world["params"]
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        cur.execute("update public.services set active = false where id = %s", (p["service_id"],))
        cur.execute("update public.staff set active = false where id = %s", (p["staff_id"],))
        act_as(cur, world["callers"][actor])
        assert len(cur.execute("select id from public.services where id = %s", (p["service_id"],)).fetchall()) == 1
        assert len(cur.execute("select email from public.staff where id = %s", (p["staff_id"],)).fetchall()) == 1


def test_each_staff_member_sees_only_their_own_schedule(prober, world):
    for actor, expected in (("staff", world["params"]["schedule_id"]), ("other_staff", world["other_schedule_id"])):
        status, got, _ = probe(prober, world["callers"][actor], "select id from public.staff_schedules", {})
        assert status == "ok" and {r["id"] for r in got} == {expected}, actor
    status, got, _ = probe(prober, world["callers"]["manager"], "select id from public.staff_schedules", {})
    assert {r["id"] for r in got} == {world["params"]["schedule_id"], world["other_schedule_id"]}


def test_a_rival_owner_sees_only_their_own_private_rows(prober, world):
    for table, key in (("staff_time_off", "time_off_id"), ("staff_service_areas", "area_id"),
                       ("staff_services", None)):
        column = "staff_id" if key is None else "id"
        status, got, _ = probe(prober, world["callers"]["rival_owner"], f"select {column} from public.{table}", {})
        expected = world["theirs"]["staff_id" if key is None else key]
        assert status == "ok" and {r[column] for r in got} == {expected}, table


def test_a_staff_member_removed_from_the_org_no_longer_sees_their_own_rows(prober, world):
    p = world["params"]
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        cur.execute("delete from public.memberships where org_id = %s and user_id = %s",
                    (p["org_id"], world["people"]["staff"].id))
        act_as(cur, world["callers"]["staff"])
        for table in ("staff_schedules", "staff_breaks", "staff_time_off", "staff_service_areas"):
            assert cur.execute(f"select id from public.{table}").fetchall() == [], table


# ---------------------------------------------------------------------------
# Staff and their own time off.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("statement", "what"), [
    ("insert into public.staff_time_off (org_id, staff_id, period, reason) values (%(org_id)s, %(staff_id)s,"
     " tstzrange(now() - interval '2 days', now() - interval '1 day'), %(marker)s) returning id", "backdated"),
    ("insert into public.staff_time_off (org_id, staff_id, period, reason) values (%(org_id)s, %(staff_id)s,"
     " tstzrange(now() - interval '1 hour', now() + interval '1 day'), %(marker)s) returning id", "already started"),
])
def test_a_staff_member_cannot_backdate_their_own_time_off(prober, world, statement, what):
    status, exc, effect = probe(prober, world["callers"]["staff"], statement, world["params"],
                                "select count(*) from public.staff_time_off where reason = %(marker)s")
    assert status == "error" and refusal(exc) == "p", (what, exc)
    assert effect == 0


def test_other_staff_cannot_book_time_off_for_a_colleague_but_can_for_themselves(prober, world):
    params = {**world["params"], "other_staff_id": world["other_staff_id"]}
    statement = ("insert into public.staff_time_off (org_id, staff_id, period, reason) values (%(org_id)s, {},"
                 " tstzrange(now() + interval '30 days', now() + interval '31 days'), %(marker)s) returning id")
    status, exc, _ = probe(prober, world["callers"]["other_staff"], statement.format("%(staff_id)s"), params)
    assert status == "error" and refusal(exc) == "p", exc
    status, rows, _ = probe(prober, world["callers"]["other_staff"], statement.format("%(other_staff_id)s"), params)
    assert status == "ok" and len(rows) == 1


def test_a_staff_member_cannot_withdraw_time_off_once_it_has_started(prober, db, world):
    p = world["params"]
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        started = cur.execute(
            "insert into public.staff_time_off (org_id, staff_id, period) values (%s, %s,"
            " tstzrange(now() - interval '1 hour', now() + interval '1 hour')) returning id",
            (p["org_id"], p["staff_id"])).fetchone()["id"]
        act_as(cur, world["callers"]["staff"])
        assert len(cur.execute("select id from public.staff_time_off where id = %s", (started,)).fetchall()) == 1
        assert cur.execute("delete from public.staff_time_off where id = %s returning id", (started,)).fetchall() == []
        act_as(cur, world["callers"]["manager"])
        assert len(cur.execute("delete from public.staff_time_off where id = %s returning id",
                               (started,)).fetchall()) == 1


def test_a_staff_member_cannot_move_their_time_off_to_a_colleague(prober, world):
    params = {**world["params"], "other_staff_id": world["other_staff_id"]}
    status, rows, _ = probe(prober, world["callers"]["staff"],
                            "update public.staff_time_off set staff_id = %(other_staff_id)s"
                            " where id = %(time_off_id)s returning id", params)
    assert status == "ok" and rows == []


# ---------------------------------------------------------------------------
# Cross-organization writes: policies and the same-org trigger.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("statement", "check", "why"), [
    ("insert into public.services (org_id, name, duration_minutes, price_minor)"
     " values (%(rival_org_id)s, %(marker)s, 60, 100) returning id",
     "select count(*) from public.services where name = %(marker)s", "p"),
    # Moving a row is refused before the policy is asked: org_id is fixed (manager_scope migration).
    ("update public.service_categories set org_id = %(rival_org_id)s where id = %(category_id)s returning id",
     "select count(*) from public.service_categories where id = %(category_id)s and org_id = %(rival_org_id)s",
     "org_id_fixed"),
    ("insert into public.staff_time_off (org_id, staff_id, period) values (%(rival_org_id)s, %(rival_staff_id)s,"
     " tstzrange(now() + interval '90 days', now() + interval '91 days')) returning id",
     "select count(*) from public.staff_time_off where staff_id = %(rival_staff_id)s"
     " and lower(period) > now() + interval '80 days'", "p"),
])
def test_a_manager_cannot_write_into_another_organization(prober, world, statement, check, why):
    status, exc, effect = probe(prober, world["callers"]["manager"], statement, world["params"], check)
    assert status == "error" and (refusal(exc) == "p" if why == "p" else exc.diag.message_detail == why), exc
    assert effect == 0


@pytest.mark.parametrize(("statement", "detail"), [
    ("insert into public.services (org_id, category_id, name, duration_minutes, price_minor)"
     " values (%(org_id)s, %(rival_category_id)s, %(marker)s, 60, 100) returning id", "foreign_category"),
    ("update public.services set category_id = %(rival_category_id)s where id = %(service_id)s returning id",
     "foreign_category"),
    ("insert into public.staff_services (staff_id, service_id, org_id)"
     " values (%(staff_id)s, %(rival_service_id)s, %(org_id)s) returning staff_id", "foreign_service"),
    ("insert into public.staff_services (staff_id, service_id, org_id)"
     " values (%(rival_staff_id)s, %(spare_service_id)s, %(org_id)s) returning staff_id", "foreign_staff"),
    ("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
     " values (%(org_id)s, %(rival_staff_id)s, 2, '09:00', '10:00') returning id", "foreign_staff"),
    ("insert into public.staff_breaks (org_id, staff_id, weekday, starts_at, ends_at)"
     " values (%(org_id)s, %(rival_staff_id)s, 2, '12:00', '12:30') returning id", "foreign_staff"),
    ("insert into public.staff_time_off (org_id, staff_id, period) values (%(org_id)s, %(rival_staff_id)s,"
     " tstzrange(now() + interval '90 days', now() + interval '91 days')) returning id", "foreign_staff"),
    ("insert into public.staff_service_areas (org_id, staff_id, outcode)"
     " values (%(org_id)s, %(rival_staff_id)s, 'E1') returning id", "foreign_staff"),
    ("update public.staff_schedules set staff_id = %(rival_staff_id)s where id = %(schedule_id)s returning id",
     "foreign_staff"),
])
def test_a_manager_cannot_link_their_rows_to_another_orgs_category_service_or_staff(prober, world, statement, detail):
    status, exc, _ = probe(prober, world["callers"]["manager"], statement, world["params"])
    assert status == "error", exc
    assert exc.sqlstate == "PT422" and exc.diag.message_detail == detail, exc


@pytest.mark.parametrize("who", ["outsider", "rival_owner"])
def test_a_staff_row_links_only_a_member_of_the_org(prober, world, who):
    params = {**world["params"], "user_id": world["people"][who].id}
    status, exc, _ = probe(prober, world["callers"]["manager"],
                           "insert into public.staff (org_id, user_id, display_name)"
                           " values (%(org_id)s, %(user_id)s, %(marker)s) returning id", params)
    assert status == "error" and exc.sqlstate == "PT422" and exc.diag.message_detail == "foreign_user", exc


def test_a_staff_row_links_any_member_once(prober, world):
    params = {**world["params"], "user_id": world["people"]["admin"].id}
    insert = "insert into public.staff (org_id, user_id, display_name) values (%(org_id)s, %(user_id)s, 'A') returning id"
    status, rows, _ = probe(prober, world["callers"]["manager"], insert, params)
    assert status == "ok" and len(rows) == 1
    params["user_id"] = world["people"]["staff"].id
    status, exc, _ = probe(prober, world["callers"]["manager"], insert, params)
    assert status == "error" and exc.sqlstate == "23505", exc


# ---------------------------------------------------------------------------
# Exclusion and check constraints (arranged as superuser, rolled back).
# ---------------------------------------------------------------------------
def _run(prober, statement: str, params: dict) -> psycopg.Error | None:
    with prober.transaction(force_rollback=True):
        try:
            with prober.transaction():
                prober.execute(statement, params)
        except psycopg.Error as exc:
            return exc
    return None


@pytest.mark.parametrize("table", ["staff_schedules", "staff_breaks"])
@pytest.mark.parametrize(("weekday", "starts", "ends", "outcome"), [
    (0, "08:00", "09:01", "23P01"),   # overlaps the start by a minute
    (0, "11:00", "13:00", "23P01"),   # inside
    (0, "06:00", "23:00", "23P01"),   # around
    (0, "12:30", "12:45", "overlap-with-schedule-only"),
    (0, "17:00", "19:00", None),      # touches the end: fine
    (0, "07:00", "09:00", None),      # touches the start: fine
    (1, "09:00", "17:00", None),      # another weekday
])
def test_one_staff_members_weekly_intervals_never_overlap(prober, world, table, weekday, starts, ends, outcome):
    # Targets: Monday 09:00-17:00 schedule, Monday 12:00-12:30 break.
    if outcome == "overlap-with-schedule-only":
        outcome = "23P01" if table == "staff_schedules" else None
    if table == "staff_breaks" and outcome == "23P01" and not (starts < "12:30" and ends > "12:00"):
        outcome = None
    exc = _run(prober, f"insert into public.{table} (org_id, staff_id, weekday, starts_at, ends_at)"
               " values (%(org_id)s, %(staff_id)s, %(weekday)s, %(starts)s, %(ends)s)",
               {**world["params"], "weekday": weekday, "starts": starts, "ends": ends})
    assert (exc.sqlstate if exc else None) == outcome, exc


def test_another_staff_member_may_work_the_same_hours(prober, world):
    # other_staff already has Monday 09:00-17:00 beside the target's identical schedule.
    exc = _run(prober, "insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
               " values (%(org_id)s, %(staff_id)s, 0, '17:00', '20:00')", world["params"])
    assert exc is None


@pytest.mark.parametrize(("starts", "ends", "outcome"), [
    ("9 days", "10 days 1 minute", "23P01"),
    ("11 days", "11 days 2 hours", "23P01"),
    ("12 days", "13 days", None),          # starts when the holiday ends
    ("9 days", "10 days", None),           # ends when it starts
])
def test_one_staff_members_time_off_never_overlaps(prober, world, starts, ends, outcome):
    # Target time off: [now + 10 days, now + 12 days). now() is the transaction's, as in the fixture.
    exc = _run(prober, "insert into public.staff_time_off (org_id, staff_id, period)"
               " select org_id, staff_id, tstzrange(lower(period) - interval '10 days' + %(starts)s::interval,"
               "                                   lower(period) - interval '10 days' + %(ends)s::interval)"
               " from public.staff_time_off where id = %(time_off_id)s",
               {**world["params"], "starts": starts, "ends": ends})
    assert (exc.sqlstate if exc else None) == outcome, exc


@pytest.mark.parametrize(("statement", "constraint"), [
    ("insert into public.services (org_id, name, duration_minutes, price_minor)"
     " values (%(org_id)s, 'x', 0, 100)", "services_duration_minutes_check"),
    ("insert into public.services (org_id, name, duration_minutes, price_minor)"
     " values (%(org_id)s, 'x', 1441, 100)", "services_duration_minutes_check"),
    ("insert into public.services (org_id, name, duration_minutes, price_minor)"
     " values (%(org_id)s, 'x', 60, -1)", "services_price_minor_check"),
    ("insert into public.services (org_id, name, duration_minutes, price_minor, buffer_after_minutes)"
     " values (%(org_id)s, 'x', 60, 1, 241)", "services_buffer_after_minutes_check"),
    ("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
     " values (%(org_id)s, %(staff_id)s, 3, '17:00', '09:00')", "staff_schedules_check"),
    ("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
     " values (%(org_id)s, %(staff_id)s, 3, '09:00', '09:00')", "staff_schedules_check"),
    ("insert into public.staff_breaks (org_id, staff_id, weekday, starts_at, ends_at)"
     " values (%(org_id)s, %(staff_id)s, 3, '13:00', '12:00')", "staff_breaks_check"),
    ("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
     " values (%(org_id)s, %(staff_id)s, 7, '09:00', '10:00')", "staff_schedules_weekday_check"),
    ("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
     " values (%(org_id)s, %(staff_id)s, 3, '09:00:30', '10:00')", "staff_schedules_starts_at_check"),
    ("insert into public.staff_time_off (org_id, staff_id, period)"
     " values (%(org_id)s, %(staff_id)s, tstzrange(now() + interval '40 days', now() + interval '40 days'))",
     "staff_time_off_period_check"),
    ("insert into public.staff_time_off (org_id, staff_id, period)"
     " values (%(org_id)s, %(staff_id)s, tstzrange(now() + interval '40 days', null))",
     "staff_time_off_period_check"),
    ("insert into public.staff_service_areas (org_id, staff_id, outcode, radius_km)"
     " values (%(org_id)s, %(staff_id)s, 'E1', 200.1)", "staff_service_areas_radius_km_check"),
    ("insert into public.staff_service_areas (org_id, staff_id, outcode, radius_km)"
     " values (%(org_id)s, %(staff_id)s, 'sw1a 1aa', 1)", "staff_service_areas_outcode_check"),
    ("insert into public.appointment_settings (org_id, slot_interval_minutes)"
     " values (%(rival_org_id)s, 0)", "appointment_settings_slot_interval_minutes_check"),
])
def test_check_constraints_refuse_impossible_values(prober, world, statement, constraint):
    exc = _run(prober, statement, world["params"])
    assert exc is not None and exc.sqlstate == "23514" and exc.diag.constraint_name == constraint, exc


def test_a_schedule_may_run_to_midnight_and_keeps_its_minutes(prober, world):
    with prober.transaction(force_rollback=True):
        row = prober.execute("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
                             " values (%(org_id)s, %(staff_id)s, 4, '18:00', '24:00')"
                             " returning lower(minutes) as lo, upper(minutes) as hi", world["params"]).fetchone()
    assert (row["lo"], row["hi"]) == (18 * 60, 24 * 60)


# ---------------------------------------------------------------------------
# Settings defaults and the audit trail.
# ---------------------------------------------------------------------------
def test_an_org_without_settings_gets_the_defaults(db, world):
    row = db.one("select * from private.appointment_settings_for(%s)", (world["params"]["rival_org_id"],))
    assert {k: row[k] for k in ("org_id", "slot_interval_minutes", "min_notice_minutes", "max_days_ahead",
                                "cancellation_cutoff_hours", "hold_minutes")} == {
        "org_id": world["params"]["rival_org_id"], "slot_interval_minutes": 15, "min_notice_minutes": 120,
        "max_days_ahead": 60, "cancellation_cutoff_hours": 24, "hold_minutes": 10}
    defaults = db.one("insert into public.appointment_settings (org_id) values (%s) returning *",
                      (world["params"]["second_org_id"],))
    try:
        assert {k: defaults[k] for k in row.keys() if k not in ("org_id", "created_at", "updated_at")} == {
            k: row[k] for k in row.keys() if k not in ("org_id", "created_at", "updated_at")}
    finally:
        db.sql("delete from public.appointment_settings where org_id = %s", (world["params"]["second_org_id"],))


@pytest.mark.parametrize(("table", "statement"), [
    ("services", "update public.services set price_minor = 5200 where id = %(service_id)s"),
    ("staff", "update public.staff set phone = '07700 900999' where id = %(staff_id)s"),
    ("staff_time_off", "update public.staff_time_off set reason = 'Moved' where id = %(time_off_id)s"),
])
def test_changes_to_services_staff_and_time_off_are_audited_with_the_actor(prober, world, table, statement):
    manager = world["callers"]["manager"]
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        act_as(cur, manager)
        cur.execute(statement, world["params"])
        cur.execute("reset role")
        entry = cur.execute("select org_id, actor_id, action, changed_columns from public.audit_log"
                            " where table_name = %s order by id desc limit 1", (table,)).fetchone()
    assert entry["org_id"] == world["params"]["org_id"] and str(entry["actor_id"]) == manager.user_id
    assert entry["action"] == "update" and len(entry["changed_columns"]) == 1
