"""Who may read and write appointments (migrations/*_appointments_core.sql,
policies/appointments.sql, the appointments section at the end).

The customer (customer_user_id), the staff member doing the job and the
org's owners, admins and managers read an appointment; owners, admins and
managers write appointments directly (bookings by phone, fixes) but nobody
signed in deletes one (it is cancelled instead); nobody else
reads or writes anything, and anon has no grant at all. Customers and staff
change appointments only through RPCs (later), never by table writes.

Also here: the column grants (nobody writes `blocked`, `sequence`, the order
link or check-in times directly), the same-org and qualification trigger, and
the derived columns (blocked = period widened by the buffers; sequence +1 on
every change a calendar must see).

Probes run as PostgREST would (`set local role` + `request.jwt.claims`) in a
transaction that is always rolled back; writes are judged by `returning`, by
what a superuser sees afterwards, and once without `returning`
(return=minimal) so a write hole cannot hide behind the SELECT policy.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from shared.platform.db import Caller, act_as
from tests.support import factories
from tests.support.rls import assert_case, parse_matrix, probe, refusal
from tests.support.appointments import services_and_staff
from tests.support.pg import ArrangingDb


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


ACTORS = ("anon", "outsider", "owner", "admin", "manager", "staff", "other_staff", "customer", "other_customer",
          "rival_owner", "service_role")

# Legend: x = no grant (42501 "permission denied"); p = refused by `with check`
# (42501 "row-level security"); 0 = matches no row; 1 = reads / writes the target.
# `staff` is the user linked to the staff member assigned to the target
# appointment; `other_staff` is a staff member of the same org with a job of
# their own; `customer` is the target's customer_user_id; `other_customer` is
# a signed-in customer of the same org with an appointment of their own.
MATRIX = """
table        command anon outsider owner admin manager staff other_staff customer other_customer rival_owner service_role
appointments select  x    0        1     1     1       1     0           1        0              0           1
appointments insert  x    p        1     1     1       p     p           p        p              p           1
appointments update  x    0        1     1     1       0     0           0        0              0           1
appointments delete  x    x        x     x     x       x     x           x        x              x           1
"""
# service_role is BYPASSRLS with every grant (Supabase's contract for the server key).

CASES = parse_matrix(MATRIX, ACTORS)

# The target: Monday 3 March 2031, 10:00-12:00 UTC, with 15 min before and 30 after.
TARGET_PERIOD = "[2031-03-03 10:00+00, 2031-03-03 12:00+00)"

PROBES: dict[str, tuple[str, str | None]] = {
    "select": ("select id from public.appointments where id = %(appointment_id)s", None),
    # A free slot the next day for the same staff member: only the policy can refuse it.
    "insert": ("insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period)"
               " values (%(org_id)s, %(service_id)s, %(staff_id)s, %(marker)s, 'booked',"
               " '[2031-03-04 10:00+00, 2031-03-04 11:00+00)') returning id",
               "select count(*) from public.appointments where customer_name = %(marker)s"),
    "update": ("update public.appointments set notes = %(marker)s where id = %(appointment_id)s returning id",
               "select count(*) from public.appointments where id = %(appointment_id)s and notes = %(marker)s"),
    "delete": ("delete from public.appointments where id = %(appointment_id)s returning id",
               "select 1 - count(*) from public.appointments where id = %(appointment_id)s"),
}


@pytest.fixture(scope="module")
def prober(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.row_factory = dict_row
        yield conn


def appointment(db, org_id, service_id, staff_id, period: str, *, customer=None, status: str = "booked",
                buffers: tuple[int, int] = (15, 30), order_id=None) -> dict:
    return db.one(
        "insert into public.appointments (org_id, service_id, staff_id, order_id, customer_user_id, customer_name,"
        " customer_email, status, period, buffer_before_minutes, buffer_after_minutes, hold_expires_at)"
        " values (%s, %s, %s, %s, %s, 'Casey Customer', 'casey@example.com', %s, %s, %s, %s,"
        " case when %s = 'held' then now() + interval '10 minutes' end) returning *",
        (org_id, service_id, staff_id, order_id, customer.id if customer else None, status, period,
         buffers[0], buffers[1], status))


def order(db, org_id) -> dict:
    """A bare appointments order (superuser): enough to point an appointment at."""
    return db.one("insert into public.orders (org_id, number, kind, buyer_email, buyer_name, currency,"
                  " tracking_token_hash) values (%s, private.new_order_number(), 'appointments',"
                  " 'buyer@example.com', 'Buyer', 'GBP', sha256('t'::bytea)) returning id", (org_id,))


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    org, rival = team["org"], team["rival"]
    people = {role: user for role, user in team["people"].items()
              if role in ("owner", "admin", "manager", "staff", "outsider", "rival_owner")}
    people["other_staff"] = factories.member(db, org, role="staff")
    people["customer"] = db.user()
    people["other_customer"] = db.user()
    ours = services_and_staff(db, org["id"], staff_user=people["staff"])
    theirs = services_and_staff(db, rival["id"], name="Rival Cleaner")
    other_staff = db.one("insert into public.staff (org_id, user_id, display_name) values (%s, %s, 'Olly Other')"
                         " returning id", (org["id"], people["other_staff"].id))["id"]
    db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
           (other_staff, ours["service_id"], org["id"]))
    target = appointment(db, org["id"], ours["service_id"], ours["staff_id"], TARGET_PERIOD,
                         customer=people["customer"])
    # Beside it: the other staff member's job for the other customer, and a rival org's job.
    beside = appointment(db, org["id"], ours["service_id"], other_staff, TARGET_PERIOD,
                         customer=people["other_customer"])
    rival_job = appointment(db, rival["id"], theirs["service_id"], theirs["staff_id"], TARGET_PERIOD)
    rival_order = order(db, rival["id"])
    callers = {role: user.caller for role, user in people.items()}
    callers["anon"] = Caller.anon()
    callers["service_role"] = Caller.service()
    params = {**ours, "org_id": org["id"], "rival_org_id": rival["id"], "appointment_id": target["id"],
              "beside_id": beside["id"], "rival_appointment_id": rival_job["id"], "other_staff_id": other_staff,
              "rival_order_id": rival_order["id"], "marker": f"probe-{uuid.uuid4().hex[:8]}",
              **{f"rival_{k}": v for k, v in theirs.items()}}
    return {"people": people, "callers": callers, "params": params, "target": target}


# ---------------------------------------------------------------------------
# The matrix.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("table", "command", "actor", "expected"), CASES,
                         ids=[f"{t}-{c}-{a}" for t, c, a, _ in CASES])
def test_rls_matrix(prober, world, table, command, actor, expected):
    statement, check = PROBES[command]
    assert_case(prober, world["callers"][actor], statement, world["params"], check, expected,
                f"{actor} {command} on {table}")


def test_the_matrix_covers_every_command():
    assert {(t, c) for t, c, _, _ in CASES} == {("appointments", c) for c in ("select", "insert", "update", "delete")}


def test_rls_is_on_with_one_sentence_policy_per_command_for_signed_in_users_and_none_for_anon(db):
    """No DELETE policy or grant: appointments are cancelled, never deleted (a delete inside the
    cut-off would get round the 24-hour policy)."""
    assert db.value("select relrowsecurity from pg_class where oid = 'public.appointments'::regclass") is True
    policies = db.sql("select cmd, roles, policyname from pg_policies"
                      " where schemaname = 'public' and tablename = 'appointments'")
    assert sorted((p["cmd"], p["roles"]) for p in policies) == sorted(
        (c, ["authenticated"]) for c in ("SELECT", "INSERT", "UPDATE"))
    assert db.value("select has_table_privilege('authenticated', 'public.appointments', 'delete')") is False
    assert all(" " in p["policyname"] and p["policyname"][0].isupper() for p in policies)
    for privilege in ("select", "insert", "update", "delete", "truncate", "references", "trigger"):
        assert db.value("select has_table_privilege('anon', 'public.appointments', %s)", (privilege,)) is False, \
            privilege
    for privilege in ("select", "insert", "update", "references"):
        assert db.value("select has_any_column_privilege('anon', 'public.appointments', %s)",
                        (privilege,)) is False, privilege


@pytest.mark.parametrize(("actor", "visible"), [
    ("staff", {"appointment_id"}),
    ("other_staff", {"beside_id"}),
    ("customer", {"appointment_id"}),
    ("other_customer", {"beside_id"}),
    ("manager", {"appointment_id", "beside_id"}),
    ("rival_owner", {"rival_appointment_id"}),
    ("outsider", set()),
])
def test_each_reader_sees_exactly_their_own_appointments(prober, world, actor, visible):
    p = world["params"]
    status, rows, _ = probe(prober, world["callers"][actor], "select id from public.appointments", p)
    assert status == "ok", rows
    assert {r["id"] for r in rows} == {p[k] for k in visible}


def test_a_staff_member_who_leaves_the_org_no_longer_sees_their_jobs(prober, world):
    p = world["params"]
    staff = world["people"]["staff"]
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        cur.execute("delete from public.memberships where org_id = %s and user_id = %s", (p["org_id"], staff.id))
        act_as(cur, world["callers"]["staff"])
        assert cur.execute("select id from public.appointments").fetchall() == []


# ---------------------------------------------------------------------------
# Column grants: what even a manager cannot set directly.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("column", "value"), [
    ("blocked", "'[2031-03-03 00:00+00, 2031-03-03 00:01+00)'"),
    ("sequence", "99"),
    ("org_id", "%(rival_org_id)s"),
    ("order_id", "%(rival_order_id)s"),
    ("order_item_id", "null"),
    ("customer_user_id", "null"),
    ("hold_expires_at", "now()"),
    ("checked_in_at", "now()"),
    ("checked_out_at", "now()"),
    ("created_at", "now()"),
])
def test_a_manager_cannot_update_derived_or_link_columns(prober, world, column, value):
    status, exc, effect = probe(prober, world["callers"]["manager"],
                                f"update public.appointments set {column} = {value}"
                                " where id = %(appointment_id)s returning id", world["params"],
                                "select sequence from public.appointments where id = %(appointment_id)s")
    assert status == "error" and refusal(exc) == "x", exc
    assert effect == world["target"]["sequence"]


@pytest.mark.parametrize(("column", "value"), [
    ("blocked", "'[2031-03-05 00:00+00, 2031-03-05 00:01+00)'"),
    ("sequence", "7"),
    ("checked_in_at", "now()"),
    ("id", "gen_random_uuid()"),
])
def test_a_manager_cannot_insert_derived_columns(prober, world, column, value):
    status, exc, effect = probe(
        prober, world["callers"]["manager"],
        f"insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period, {column})"
        f" values (%(org_id)s, %(service_id)s, %(staff_id)s, %(marker)s, 'booked',"
        f" '[2031-03-05 10:00+00, 2031-03-05 11:00+00)', {value}) returning id", world["params"],
        "select count(*) from public.appointments where customer_name = %(marker)s")
    assert status == "error" and refusal(exc) == "x", exc
    assert effect == 0


def test_a_manager_does_edit_the_granted_columns(prober, world):
    status, rows, effect = probe(
        prober, world["callers"]["manager"],
        "update public.appointments set customer_name = 'Renamed', customer_phone = '07700 900000',"
        " postcode = 'SW1A 1AA', address = '1 The Mall', notes = 'Key under mat', status = 'booked',"
        " period = '[2031-03-03 13:00+00, 2031-03-03 15:00+00)', buffer_before_minutes = 0,"
        " buffer_after_minutes = 0 where id = %(appointment_id)s returning id", world["params"],
        "select count(*) from public.appointments where id = %(appointment_id)s and customer_name = 'Renamed'")
    assert status == "ok" and len(rows) == 1 and effect == 1


def test_service_role_writing_blocked_or_sequence_is_overruled_by_the_derivation(prober, world):
    """Even the server key cannot desynchronise blocked from period + buffers."""
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        act_as(cur, Caller.service())
        row = cur.execute(
            "insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period,"
            " buffer_before_minutes, buffer_after_minutes, blocked, sequence)"
            " values (%(org_id)s, %(service_id)s, %(staff_id)s, 'x', 'booked',"
            " '[2031-03-06 10:00+00, 2031-03-06 11:00+00)', 10, 20, '[2031-01-01 00:00+00, 2031-01-01 00:01+00)', 5)"
            " returning blocked = '[2031-03-06 09:50+00, 2031-03-06 11:20+00)'::tstzrange as derived",
            world["params"]).fetchone()
        assert row["derived"] is True


# ---------------------------------------------------------------------------
# Same-org and qualification trigger.
# ---------------------------------------------------------------------------
_INSERT = ("insert into public.appointments (org_id, service_id, staff_id, order_id, customer_name, status, period)"
           " values (%(org_id)s, {service}, {staff}, {order}, %(marker)s, 'booked',"
           " '[2031-03-07 10:00+00, 2031-03-07 11:00+00)') returning id")


@pytest.mark.parametrize(("statement", "detail"), [
    (_INSERT.format(service="%(rival_service_id)s", staff="%(staff_id)s", order="null"), "foreign_service"),
    (_INSERT.format(service="%(service_id)s", staff="%(rival_staff_id)s", order="null"), "foreign_staff"),
    (_INSERT.format(service="%(service_id)s", staff="%(staff_id)s", order="%(rival_order_id)s"), "foreign_order"),
    (_INSERT.format(service="%(spare_service_id)s", staff="%(staff_id)s", order="null"), "staff_not_qualified"),
    ("update public.appointments set service_id = %(rival_service_id)s where id = %(appointment_id)s returning id",
     "foreign_service"),
    ("update public.appointments set staff_id = %(rival_staff_id)s where id = %(appointment_id)s returning id",
     "foreign_staff"),
    ("update public.appointments set service_id = %(spare_service_id)s where id = %(appointment_id)s returning id",
     "staff_not_qualified"),
])
def test_a_manager_cannot_book_another_orgs_service_staff_or_order_or_an_unqualified_staff_member(
        prober, world, statement, detail):
    status, exc, _ = probe(prober, world["callers"]["manager"], statement, world["params"])
    assert status == "error", exc
    assert exc.sqlstate == "PT422" and exc.diag.message_detail == detail, exc


def test_a_manager_cannot_book_into_another_organization(prober, world):
    status, exc, effect = probe(
        prober, world["callers"]["manager"],
        "insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period)"
        " values (%(rival_org_id)s, %(rival_service_id)s, %(rival_staff_id)s, %(marker)s, 'booked',"
        " '[2031-03-07 10:00+00, 2031-03-07 11:00+00)') returning id", world["params"],
        "select count(*) from public.appointments where customer_name = %(marker)s")
    assert status == "error" and refusal(exc) == "p", exc
    assert effect == 0


def test_a_qualified_colleague_may_take_over_the_job(prober, world):
    status, rows, _ = probe(prober, world["callers"]["manager"],
                            "update public.appointments set staff_id = %(other_staff_id)s,"
                            " period = '[2031-03-03 14:00+00, 2031-03-03 16:00+00)'"
                            " where id = %(appointment_id)s returning id", world["params"])
    assert status == "ok" and len(rows) == 1


# ---------------------------------------------------------------------------
# Derived columns: blocked and sequence.
# ---------------------------------------------------------------------------
def _after(prober, world, statement: str) -> dict:
    """The target's blocked/sequence/hold after `statement` (as the manager), rolled back."""
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        act_as(cur, world["callers"]["manager"])
        cur.execute(statement, world["params"])
        cur.execute("reset role")
        return cur.execute("select blocked, sequence, hold_expires_at, status::text as status"
                           " from public.appointments where id = %(appointment_id)s", world["params"]).fetchone()


def test_blocked_is_the_period_widened_by_the_buffers(db, world):
    row = db.one("select blocked = '[2031-03-03 09:45+00, 2031-03-03 12:30+00)'::tstzrange as ok, sequence"
                 " from public.appointments where id = %s", (world["params"]["appointment_id"],))
    assert row == {"ok": True, "sequence": 0}


@pytest.mark.parametrize(("change", "bump"), [
    ("notes = 'Ring twice'", 0),
    ("customer_phone = '07700 900111', address = 'Flat 2'", 0),
    ("period = '[2031-03-03 11:00+00, 2031-03-03 13:00+00)'", 1),
    ("status = 'cancelled'", 1),
    ("staff_id = %(other_staff_id)s, period = '[2031-03-03 14:00+00, 2031-03-03 16:00+00)'", 1),
    ("staff_id = %(other_staff_id)s, period = '[2031-03-03 14:00+00, 2031-03-03 16:00+00)', notes = 'x'", 1),
])
def test_sequence_rises_by_one_on_every_change_a_calendar_shows_and_not_on_notes(prober, world, change, bump):
    row = _after(prober, world, f"update public.appointments set {change} where id = %(appointment_id)s")
    assert row["sequence"] == world["target"]["sequence"] + bump


def test_sequence_rises_on_a_staff_change_alone(prober, world):
    # The other staff member's own job sits on the same slot: move it away first (superuser, rolled back).
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        cur.execute("update public.appointments set status = 'cancelled' where id = %(beside_id)s", world["params"])
        act_as(cur, world["callers"]["manager"])
        cur.execute("update public.appointments set staff_id = %(other_staff_id)s where id = %(appointment_id)s",
                    world["params"])
        cur.execute("reset role")
        row = cur.execute("select sequence from public.appointments where id = %(appointment_id)s",
                          world["params"]).fetchone()
    assert row["sequence"] == world["target"]["sequence"] + 1


def test_sequence_counts_each_change(prober, world):
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        act_as(cur, world["callers"]["manager"])
        for hour in (13, 14, 15):
            cur.execute("update public.appointments set period = tstzrange(%(a)s, %(b)s, '[)')"
                        " where id = %(appointment_id)s",
                        {**world["params"], "a": f"2031-03-03 {hour}:00+00", "b": f"2031-03-03 {hour + 1}:00+00"})
        cur.execute("update public.appointments set notes = 'n' where id = %(appointment_id)s", world["params"])
        cur.execute("reset role")
        row = cur.execute("select sequence from public.appointments where id = %(appointment_id)s",
                          world["params"]).fetchone()
    assert row["sequence"] == world["target"]["sequence"] + 3


def test_changing_buffers_moves_blocked_with_them(prober, world):
    row = _after(prober, world, "update public.appointments set buffer_before_minutes = 0, buffer_after_minutes = 60"
                                " where id = %(appointment_id)s")
    assert row["blocked"].lower.isoformat() == "2031-03-03T10:00:00+00:00"
    assert row["blocked"].upper.isoformat() == "2031-03-03T13:00:00+00:00"


def test_leaving_held_clears_the_hold_expiry(prober, db, world):
    p = world["params"]
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        held = cur.execute(
            "insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period,"
            " hold_expires_at) values (%(org_id)s, %(service_id)s, %(staff_id)s, 'h', 'held',"
            " '[2031-03-08 10:00+00, 2031-03-08 11:00+00)', now() + interval '10 minutes') returning id",
            p).fetchone()["id"]
        row = cur.execute("update public.appointments set status = 'booked' where id = %s"
                          " returning hold_expires_at, sequence", (held,)).fetchone()
    assert row == {"hold_expires_at": None, "sequence": 1}


def test_a_hold_needs_an_expiry(prober, world):
    status, exc, _ = probe(prober, world["callers"]["manager"],
                           "insert into public.appointments (org_id, service_id, staff_id, customer_name, status,"
                           " period) values (%(org_id)s, %(service_id)s, %(staff_id)s, 'h', 'held',"
                           " '[2031-03-08 10:00+00, 2031-03-08 11:00+00)') returning id", world["params"])
    assert status == "error" and exc.sqlstate == "23514", exc


@pytest.mark.parametrize("period", [
    "'[2031-03-08 10:00+00, 2031-03-08 10:00+00)'",  # empty
    "'[2031-03-08 10:00+00,)'",                      # open-ended
    "'(2031-03-08 10:00+00, 2031-03-08 11:00+00]'",  # wrong bounds
])
def test_a_period_is_a_finite_half_open_range(prober, world, period):
    status, exc, _ = probe(prober, world["callers"]["manager"],
                           "insert into public.appointments (org_id, service_id, staff_id, customer_name, status,"
                           f" period) values (%(org_id)s, %(service_id)s, %(staff_id)s, 'p', 'booked', {period})"
                           " returning id", world["params"])
    assert status == "error" and exc.sqlstate == "23514", exc
