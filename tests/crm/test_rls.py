"""Who may read and write the CRM (policies/crm.sql): private to the organiser's
organization; owners, admins and managers manage, staff read, nobody else
(field roles, customers, other tenants, anon) sees a row.

Each probe runs as PostgREST would (`set local role` + `request.jwt.claims`)
in a transaction that is always rolled back. Writes are judged by what
`returning` gave back and by what a superuser then sees in the same
transaction; each write also runs once without `returning` (return=minimal),
so a write hole cannot hide behind a SELECT policy.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from shared.platform.db import Caller
from tests.support.rls import assert_case, parse_matrix, probe, refusal
from tests.support import factories, orders, ticketing
from tests.support.pg import ArrangingDb

ACTORS = ("anon", "outsider", "owner", "admin", "manager", "staff", "dispatcher", "driver", "affiliate",
          "rival_owner", "buyer", "service_role")

# Legend: x = refused for want of a grant (42501 "permission denied");
#         p = refused by the policy's `with check` (42501 "row-level security");
#         0 = silently matches no row;  1 = reads / writes the one target row.
# `buyer` is a customer of the organization (a paid order) whose own contact
# record is the target contact: being the subject of a row grants nothing.
MATRIX = """
table         command anon outsider owner admin manager staff dispatcher driver affiliate rival_owner buyer service_role
companies     select  x    0        1     1     1       1     0          0      0         0           0     1
companies     insert  x    p        1     1     1       p     p          p      p         p           p     1
companies     update  x    0        1     1     1       0     0          0      0         0           0     1
companies     delete  x    0        1     1     1       0     0          0      0         0           0     1
contacts      select  x    0        1     1     1       1     0          0      0         0           0     1
contacts      insert  x    p        1     1     1       p     p          p      p         p           p     1
contacts      update  x    0        1     1     1       0     0          0      0         0           0     1
contacts      delete  x    0        1     1     1       0     0          0      0         0           0     1
interactions  select  x    0        1     1     1       1     0          0      0         0           0     1
interactions  insert  x    p        1     1     1       p     p          p      p         p           p     1
interactions  update  x    0        1     1     1       0     0          0      0         0           0     1
interactions  delete  x    0        1     1     1       0     0          0      0         0           0     1
"""
# service_role is BYPASSRLS with every grant (Supabase's contract for the server key).


CASES = parse_matrix(MATRIX, ACTORS)
TABLES = ("companies", "contacts", "interactions")

# (insert columns, insert values, the text column a write sets to the marker, the target's key)
SHAPES = {
    "companies": ("org_id, name", "%(org_id)s, %(marker)s", "name", "company_id"),
    "contacts": ("org_id, company_id, full_name", "%(org_id)s, %(company_id)s, %(marker)s", "full_name",
                 "contact_id"),
    "interactions": ("org_id, contact_id, kind, summary", "%(org_id)s, %(contact_id)s, 'note', %(marker)s",
                     "summary", "interaction_id"),
}


def statement_for(table: str, command: str) -> tuple[str, str | None]:
    """The probe for `command` on `table`, and the superuser count that shows its effect."""
    columns, values, text, key = SHAPES[table]
    if command == "select":
        return f"select id from public.{table} where id = %({key})s", None
    if command == "insert":
        return (f"insert into public.{table} ({columns}) values ({values}) returning id",
                f"select count(*) from public.{table} where {text} = %(marker)s")
    if command == "update":
        return (f"update public.{table} set {text} = %(marker)s where id = %({key})s returning id",
                f"select count(*) from public.{table} where id = %({key})s and {text} = %(marker)s")
    return (f"delete from public.{table} where id = %({key})s returning id",
            f"select 1 - count(*) from public.{table} where id = %({key})s")


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def prober(database_url):
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def crm_rows(db, org_id, *, name: str, contact_email: str | None = None) -> dict:
    company = db.one("insert into public.companies (org_id, name) values (%s, %s) returning id", (org_id, name))
    contact = db.one("insert into public.contacts (org_id, company_id, full_name, email) values (%s, %s, %s, %s)"
                     " returning id", (org_id, company["id"], f"Contact at {name}", contact_email))
    interaction = db.one("insert into public.interactions (org_id, contact_id, kind, summary)"
                         " values (%s, %s, 'call', 'Talked sponsorship') returning id", (org_id, contact["id"]))
    return {"company_id": company["id"], "contact_id": contact["id"], "interaction_id": interaction["id"]}


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    org, rival = team["org"], team["rival"]
    people = dict(team["people"])
    people["buyer"] = db.user(full_name="Bea Buyer")
    event = ticketing.event(db, org)
    tier = ticketing.tier(db, event)
    orders.paid(db, event, [(tier, 1)], buyer=people["buyer"])
    ours = crm_rows(db, org["id"], name="Acme Sponsors", contact_email=people["buyer"].email)
    theirs = crm_rows(db, rival["id"], name="Rival Partners")
    callers = {role: user.caller for role, user in people.items()}
    callers["anon"] = Caller.anon()
    callers["service_role"] = Caller.service()
    return {
        "team": team,
        "callers": callers,
        "theirs": theirs,
        "params": {**ours, "org_id": org["id"], "rival_org_id": rival["id"],
                   "rival_company_id": theirs["company_id"], "rival_contact_id": theirs["contact_id"],
                   "marker": f"probe-{uuid.uuid4().hex[:8]}"},
    }


@pytest.mark.parametrize(("table", "command", "actor", "expected"), CASES,
                         ids=[f"{t}-{c}-{a}" for t, c, a, _ in CASES])
def test_rls_matrix(prober, world, table, command, actor, expected):
    statement, check = statement_for(table, command)
    assert_case(prober, world["callers"][actor], statement, world["params"], check, expected,
                f"{actor} {command} on {table}")


def test_crm_tables_have_rls_on_and_one_policy_per_role_and_command(db):
    rows = db.sql("select relname, relrowsecurity from pg_class where relnamespace = 'public'::regnamespace"
                  " and relname = any(%s)", (list(TABLES),))
    assert sorted(r["relname"] for r in rows) == sorted(TABLES)
    assert all(r["relrowsecurity"] for r in rows)
    policies = db.sql("select tablename, cmd, roles from pg_policies where schemaname = 'public'"
                      " and tablename = any(%s)", (list(TABLES),))
    assert sorted((p["tablename"], p["cmd"]) for p in policies) == sorted(
        (t, c) for t in TABLES for c in ("SELECT", "INSERT", "UPDATE", "DELETE"))
    assert all(p["roles"] == ["authenticated"] for p in policies), policies


def test_anon_has_no_privilege_at_all_on_the_crm(db):
    for table in TABLES:
        for privilege in ("select", "insert", "update", "delete", "truncate", "references", "trigger"):
            assert db.value("select has_table_privilege('anon', %s, %s)", (f"public.{table}", privilege)) is False, \
                f"anon has {privilege} on {table}"


@pytest.mark.parametrize("actor", ["owner", "manager", "staff"])
def test_members_who_read_the_crm_see_their_org_and_never_the_rivals(prober, world, actor):
    for table in TABLES:
        key = {"companies": "company_id", "contacts": "contact_id", "interactions": "interaction_id"}[table]
        status, got, _ = probe(prober, world["callers"][actor], f"select id from public.{table}", {})
        assert status == "ok", got
        assert {r["id"] for r in got} == {world["params"][key]}, f"{actor} on {table}"


def test_a_rival_owner_sees_only_their_own_crm(prober, world):
    status, got, _ = probe(prober, world["callers"]["rival_owner"], "select id from public.companies", {})
    assert status == "ok", got
    assert {r["id"] for r in got} == {world["theirs"]["company_id"]}


def test_a_customer_cannot_find_their_own_contact_record_by_email(prober, world):
    buyer = world["callers"]["buyer"]
    status, got, _ = probe(prober, buyer, "select id from public.contacts where email = %s",
                           (buyer.email,))
    assert status == "ok" and got == []


# ---------------------------------------------------------------------------
# Cross-organization writes.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("statement", "check"), [
    ("insert into public.companies (org_id, name) values (%(rival_org_id)s, %(marker)s) returning id",
     "select count(*) from public.companies where name = %(marker)s"),
    ("update public.companies set org_id = %(rival_org_id)s where id = %(company_id)s returning id",
     "select count(*) from public.companies where id = %(company_id)s and org_id = %(rival_org_id)s"),
    ("update public.interactions set org_id = %(rival_org_id)s, contact_id = %(rival_contact_id)s"
     " where id = %(interaction_id)s returning id",
     "select count(*) from public.interactions where id = %(interaction_id)s and org_id = %(rival_org_id)s"),
])
def test_a_manager_cannot_write_crm_rows_into_another_organization(prober, world, statement, check):
    status, exc, effect = probe(prober, world["callers"]["manager"], statement, world["params"], check)
    assert status == "error" and refusal(exc) == "p", exc
    assert effect == 0


@pytest.mark.parametrize(("statement", "detail"), [
    ("insert into public.contacts (org_id, company_id, full_name)"
     " values (%(org_id)s, %(rival_company_id)s, %(marker)s) returning id", "foreign_company"),
    ("update public.contacts set company_id = %(rival_company_id)s where id = %(contact_id)s returning id",
     "foreign_company"),
    ("insert into public.interactions (org_id, contact_id, kind, summary)"
     " values (%(org_id)s, %(rival_contact_id)s, 'note', %(marker)s) returning id", "foreign_contact"),
])
def test_a_manager_cannot_link_their_rows_to_another_orgs_company_or_contact(prober, world, statement, detail):
    status, exc, _ = probe(prober, world["callers"]["manager"], statement, world["params"])
    assert status == "error", exc
    assert exc.sqlstate == "PT422" and exc.diag.message_detail == detail, exc
