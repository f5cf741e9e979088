"""Who may read and write the tenancy tables (policies/tenancy.sql).

The matrix below is the contract: every table × actor × command, each probed
as PostgREST would run it (`set local role` + `request.jwt.claims`). Every
probe runs in a transaction that is rolled back, so one arranged team serves
the whole module. Writes are judged twice: by what `returning` gave back and
by what a superuser sees inside the same transaction afterwards, because RLS
`using` filters silently (zero rows, no error) while a missing grant raises
42501.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import psycopg
import pytest
from psycopg.rows import dict_row

from shared.platform.db import Caller, act_as
from tests.support import factories
from tests.support.pg import ArrangingDb

ACTORS = ("anon", "outsider", "owner", "admin", "manager", "staff", "dispatcher", "driver",
          "affiliate", "rival_owner", "service_role")

# Legend: x = refused with 42501 (no grant);  0 = silently matches no row;
#         1 = reads / writes the target row of the team's organization.
# The target row of each table belongs to the team's organization; for
# profiles it is a co-member's profile (one's own profile is tested below).
MATRIX = """
table          command  anon outsider owner admin manager staff dispatcher driver affiliate rival_owner service_role
profiles       select   x    0        1     1     1       1     1          1      1         0           1
profiles       insert   x    x        x     x     x       x     x          x      x         x           1
profiles       update   x    0        0     0     0       0     0          0      0         0           1
profiles       delete   x    x        x     x     x       x     x          x      x         x           1
organizations  select   x    0        1     1     1       1     1          1      1         0           1
organizations  insert   x    x        x     x     x       x     x          x      x         x           1
organizations  update   x    0        1     1     0       0     0          0      0         0           1
organizations  delete   x    0        1     0     0       0     0          0      0         0           1
memberships    select   x    0        1     1     1       1     1          1      1         0           1
memberships    insert   x    x        x     x     x       x     x          x      x         x           1
memberships    update   x    x        x     x     x       x     x          x      x         x           1
memberships    delete   x    x        x     x     x       x     x          x      x         x           1
invitations    select   x    0        1     1     0       0     0          0      0         0           1
invitations    insert   x    x        x     x     x       x     x          x      x         x           1
invitations    update   x    x        x     x     x       x     x          x      x         x           1
invitations    delete   x    0        1     1     0       0     0          0      0         0           1
audit_log      select   x    0        1     1     0       0     0          0      0         0           1
audit_log      insert   x    x        x     x     x       x     x          x      x         x           1
audit_log      update   x    x        x     x     x       x     x          x      x         x           x
audit_log      delete   x    x        x     x     x       x     x          x      x         x           x
"""
# service_role is BYPASSRLS with every grant (Supabase's contract for the
# server key); its column is here so a change to that contract is visible.


def _parse(matrix: str) -> list[tuple[str, str, str, str]]:
    lines = [line.split() for line in matrix.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert tuple(header[2:]) == ACTORS, "matrix header and ACTORS disagree"
    cases = []
    for table, command, *outcomes in rows:
        assert len(outcomes) == len(ACTORS), f"{table} {command}: {len(outcomes)} outcomes"
        cases += [(table, command, actor, outcome) for actor, outcome in zip(ACTORS, outcomes)]
    return cases


CASES = _parse(MATRIX)


# ---------------------------------------------------------------------------
# What each probe runs. %(…)s parameters come from the `world` fixture; `check`
# runs as superuser after the statement and counts rows showing its effect.
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    statement: str
    check: str | None = None  # None for select


PROBES: dict[tuple[str, str], Probe] = {
    # profiles: the target is a co-member's profile.
    ("profiles", "select"): Probe("select id, email, full_name from public.profiles where id = %(colleague_id)s"),
    ("profiles", "insert"): Probe(
        "insert into public.profiles (id, email) values (%(orphan_id)s, 'orphan@example.com') returning id",
        "select count(*) from public.profiles where id = %(orphan_id)s"),
    ("profiles", "update"): Probe(
        "update public.profiles set full_name = %(marker)s where id = %(colleague_id)s returning id",
        "select count(*) from public.profiles where id = %(colleague_id)s and full_name = %(marker)s"),
    ("profiles", "delete"): Probe(
        "delete from public.profiles where id = %(colleague_id)s returning id",
        "select 1 - count(*) from public.profiles where id = %(colleague_id)s"),
    # organizations
    ("organizations", "select"): Probe("select id, name, slug from public.organizations where id = %(org_id)s"),
    ("organizations", "insert"): Probe(
        "insert into public.organizations (name, slug) values ('Probe', %(probe_slug)s) returning id",
        "select count(*) from public.organizations where slug = %(probe_slug)s"),
    ("organizations", "update"): Probe(
        "update public.organizations set name = %(marker)s where id = %(org_id)s returning id",
        "select count(*) from public.organizations where id = %(org_id)s and name = %(marker)s"),
    ("organizations", "delete"): Probe(
        "delete from public.organizations where id = %(org_id)s returning id",
        "select 1 - count(*) from public.organizations where id = %(org_id)s"),
    # memberships: the target is the co-member's membership; the insert is
    # the classic escalation (an outsider made owner).
    ("memberships", "select"): Probe("select id, role from public.memberships where id = %(membership_id)s"),
    ("memberships", "insert"): Probe(
        "insert into public.memberships (org_id, user_id, role)"
        " values (%(org_id)s, %(outsider_id)s, 'owner') returning id",
        "select count(*) from public.memberships where org_id = %(org_id)s and user_id = %(outsider_id)s"),
    ("memberships", "update"): Probe(
        "update public.memberships set role = 'owner' where id = %(membership_id)s returning id",
        "select count(*) from public.memberships where id = %(membership_id)s and role = 'owner'"),
    ("memberships", "delete"): Probe(
        "delete from public.memberships where id = %(membership_id)s returning id",
        "select 1 - count(*) from public.memberships where id = %(membership_id)s"),
    # invitations: token_hash is never selected here (owners may not read it).
    ("invitations", "select"): Probe(
        "select id, email, role, expires_at from public.invitations where id = %(invitation_id)s"),
    ("invitations", "insert"): Probe(
        "insert into public.invitations (org_id, email, role, token_hash)"
        " values (%(org_id)s, 'probe@example.com', 'owner', sha256('probe'::bytea)) returning id",
        "select count(*) from public.invitations where token_hash = sha256('probe'::bytea)"),
    ("invitations", "update"): Probe(
        "update public.invitations set role = 'owner' where id = %(invitation_id)s returning id",
        "select count(*) from public.invitations where id = %(invitation_id)s and role = 'owner'"),
    ("invitations", "delete"): Probe(
        "delete from public.invitations where id = %(invitation_id)s returning id",
        "select 1 - count(*) from public.invitations where id = %(invitation_id)s"),
    # audit_log
    ("audit_log", "select"): Probe("select id, action from public.audit_log where id = %(audit_id)s"),
    ("audit_log", "insert"): Probe(
        "insert into public.audit_log (org_id, action, table_name)"
        " values (%(org_id)s, %(marker)s, 'probe') returning id",
        "select count(*) from public.audit_log where action = %(marker)s"),
    ("audit_log", "update"): Probe(
        "update public.audit_log set action = %(marker)s where id = %(audit_id)s returning id",
        "select count(*) from public.audit_log where id = %(audit_id)s and action = %(marker)s"),
    ("audit_log", "delete"): Probe(
        "delete from public.audit_log where id = %(audit_id)s returning id",
        "select 1 - count(*) from public.audit_log where id = %(audit_id)s"),
}


@pytest.fixture(scope="module")
def db(database_url):
    """The shared `db`, arranging over one reused superuser connection (faster)."""
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def world(db) -> dict:
    """One team, a co-member whose rows are the targets, an open invitation,
    an audit entry, and an auth user without a profile (for profile inserts)."""
    team = factories.team(db)
    organization = team["org"]
    colleague = factories.member(db, organization, role="staff")
    invited = db.attempt(team["people"]["owner"].caller,
                         "select public.invite_member(%s, 'invitee@example.com', 'staff') as r",
                         (organization["id"],))
    assert not isinstance(invited, Exception), invited
    orphan = db.user()
    db.sql("delete from public.profiles where id = %s", (orphan.id,))
    membership_id = db.value("select id from public.memberships where org_id = %s and user_id = %s",
                             (organization["id"], colleague.id))
    audit_id = db.value("select id from public.audit_log where org_id = %s and row_id = %s",
                        (organization["id"], str(membership_id)))
    assert audit_id is not None, "the factory's membership insert should have been audited"
    callers = {role: user.caller for role, user in team["people"].items()}
    callers["anon"] = Caller.anon()
    callers["service_role"] = Caller.service()
    return {
        "team": team,
        "colleague": colleague,
        "callers": callers,
        "params": {
            "org_id": organization["id"],
            "colleague_id": colleague.id,
            "membership_id": membership_id,
            "invitation_id": invited[0]["r"]["invitation_id"],
            "audit_id": audit_id,
            "outsider_id": team["people"]["outsider"].id,
            "orphan_id": orphan.id,
            "probe_slug": f"probe-{uuid.uuid4().hex[:8]}",
            "marker": f"probe-{uuid.uuid4().hex[:8]}",
        },
    }


def probe(db, caller: Caller, statement: str, params: dict, check: str | None = None):
    """Run `statement` as `caller`, then (as superuser, same transaction) `check`.

    Returns ("error", exc) or ("ok", returned_rows, effect), and always rolls
    back, so the arranged state never changes.
    """
    with db.connect() as conn:
        with conn.transaction(force_rollback=True):
            cur = conn.cursor(row_factory=dict_row)
            act_as(cur, caller)
            try:
                with conn.transaction():  # a savepoint: an error leaves the outer one usable
                    cur.execute(statement, params)
                    rows = cur.fetchall() if cur.description else []
            except psycopg.Error as exc:
                return ("error", exc)
            effect = None
            if check is not None:
                cur.execute("reset role")
                cur.execute("select set_config('request.jwt.claims', '', true)")
                cur.execute(check, params)
                effect = next(iter(cur.fetchone().values()))
            return ("ok", rows, effect)


@pytest.mark.parametrize(("table", "command", "actor", "expected"), CASES,
                         ids=[f"{t}-{c}-{a}" for t, c, a, _ in CASES])
def test_rls_matrix(db, world, table, command, actor, expected):
    spec = PROBES[(table, command)]
    result = probe(db, world["callers"][actor], spec.statement, world["params"], spec.check)

    if result[0] == "error":
        exc = result[1]
        assert expected == "x", f"{actor} {command} on {table} raised {exc.sqlstate}: {exc}"
        assert isinstance(exc, psycopg.errors.InsufficientPrivilege), f"expected 42501, got {exc.sqlstate}: {exc}"
        return

    _, rows, effect = result
    assert expected != "x", f"{actor} {command} on {table} was expected to raise 42501, got {len(rows)} row(s)"
    assert len(rows) == int(expected), f"{actor} {command} on {table}: returned {len(rows)} row(s)"
    if spec.check is not None:
        # What really happened, as the superuser sees it, agrees with `returning`.
        assert effect == int(expected), f"{actor} {command} on {table}: {effect} row(s) really changed"


# ---------------------------------------------------------------------------
# Beyond the matrix: what each role sees of the whole table, and column grants.
# ---------------------------------------------------------------------------
def _rows(db, caller: Caller, query: str, params=None) -> list[dict]:
    result = probe(db, caller, query, params or {})
    assert result[0] == "ok", result[1]
    return result[1]


@pytest.mark.parametrize("actor", ["outsider", "rival_owner"])
def test_a_user_outside_the_organization_reads_none_of_its_rows(db, world, actor):
    caller = world["callers"][actor]
    org_id = world["params"]["org_id"]
    for table, column in [("organizations", "id"), ("memberships", "org_id"),
                          ("invitations", "org_id"), ("audit_log", "org_id")]:
        rows = _rows(db, caller, f"select {column} from public.{table}")
        assert org_id not in {r[column] for r in rows}, f"{actor} sees {table} rows of another org"
    member_ids = {r["user_id"] for r in db.sql("select user_id from public.memberships where org_id = %s", (org_id,))}
    seen = {r["id"] for r in _rows(db, caller, "select id from public.profiles")}
    assert not seen & member_ids, f"{actor} sees profiles of the organization's members"


def test_the_rival_owner_sees_their_own_organization_but_not_the_other(db, world):
    rival_id = world["team"]["rival"]["id"]
    seen = {r["id"] for r in _rows(db, world["callers"]["rival_owner"], "select id from public.organizations")}
    assert seen == {rival_id}


def test_an_outsider_sees_only_their_own_profile(db, world):
    outsider = world["team"]["people"]["outsider"]
    rows = _rows(db, outsider.caller, "select id from public.profiles")
    assert [str(r["id"]) for r in rows] == [outsider.id]


def test_anon_reads_nothing_and_writes_nothing_in_any_tenancy_table(db):
    tables = ["profiles", "organizations", "memberships", "invitations", "audit_log"]
    for table in tables:
        for privilege in ("select", "insert", "update", "delete", "truncate", "references", "trigger"):
            assert db.value("select has_table_privilege('anon', %s, %s)",
                            (f"public.{table}", privilege)) is False, f"anon has {privilege} on {table}"
        assert db.value(
            "select bool_or(has_column_privilege('anon', %s, attname, 'select,insert,update'))"
            " from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped",
            (f"public.{table}", f"public.{table}")) is False, f"anon has a column grant on {table}"


def test_every_tenancy_table_has_row_level_security_on(db):
    rows = db.sql("select relname, relrowsecurity from pg_class where oid = any(%s::regclass[])",
                  (["public.profiles", "public.organizations", "public.memberships",
                    "public.invitations", "public.audit_log"],))
    assert len(rows) == 5
    assert all(r["relrowsecurity"] for r in rows), rows


def test_each_policy_names_its_role_and_no_command_has_two_permissive_policies(db):
    rows = db.sql(
        "select tablename, cmd, roles, count(*) over (partition by tablename, cmd, roles) as n"
        " from pg_policies where schemaname = 'public' and permissive = 'PERMISSIVE'"
        " and tablename in ('profiles','organizations','memberships','invitations','audit_log')")
    assert rows, "no policies found"
    assert all(r["roles"] != ["public"] for r in rows), [r for r in rows if r["roles"] == ["public"]]
    assert all(r["n"] == 1 for r in rows), [r for r in rows if r["n"] > 1]


# -- profiles: one's own row, and only the editable columns ------------------
@pytest.mark.parametrize("column", ["full_name", "phone", "avatar_url"])
def test_a_user_edits_their_own_profile_fields(db, world, column):
    me = world["team"]["people"]["driver"]
    result = probe(db, me.caller,
                   f"update public.profiles set {column} = %(marker)s where id = %(me)s returning id",
                   {"marker": "new value", "me": me.id},
                   f"select count(*) from public.profiles where id = %(me)s and {column} = %(marker)s")
    assert result[0] == "ok", result[1]
    assert len(result[1]) == 1 and result[2] == 1


@pytest.mark.parametrize(("column", "value"), [("email", "stolen@example.com"), ("id", str(uuid.uuid4())),
                                                ("created_at", "2000-01-01T00:00:00Z")])
def test_a_user_cannot_change_their_profiles_managed_columns(db, world, column, value):
    me = world["team"]["people"]["driver"]
    result = probe(db, me.caller, f"update public.profiles set {column} = %s where id = %s returning id",
                   (value, me.id))
    assert result[0] == "error" and isinstance(result[1], psycopg.errors.InsufficientPrivilege), result


def test_a_user_reads_their_own_profile_and_co_members_profiles(db, world):
    team = world["team"]
    staff = team["people"]["staff"]
    member_ids = {str(r["user_id"]) for r in db.sql(
        "select user_id from public.memberships where org_id = %s", (team["org"]["id"],))}
    seen = {str(r["id"]) for r in _rows(db, staff.caller, "select id from public.profiles")}
    assert seen == member_ids  # staff's only org is this one: itself plus every co-member


# -- organizations: only some columns are editable, even by the owner --------
@pytest.mark.parametrize(("column", "value"), [("slug", "taken-over"), ("created_by", None),
                                                ("id", str(uuid.uuid4()))])
def test_owners_cannot_change_an_organizations_identity_columns(db, world, column, value):
    result = probe(db, world["callers"]["owner"],
                   f"update public.organizations set {column} = %s where id = %s returning id",
                   (value, world["params"]["org_id"]))
    assert result[0] == "error" and isinstance(result[1], psycopg.errors.InsufficientPrivilege), result


@pytest.mark.parametrize(("column", "value"), [("timezone", "America/New_York"), ("currency", "EUR"),
                                                ("settings", json.dumps({"brand": "blue"}))])
def test_admins_edit_an_organizations_settings(db, world, column, value):
    cast = "::jsonb" if column == "settings" else ""
    result = probe(db, world["callers"]["admin"],
                   f"update public.organizations set {column} = %(v)s{cast} where id = %(org)s returning id",
                   {"v": value, "org": world["params"]["org_id"]},
                   f"select count(*) from public.organizations where id = %(org)s and {column} = %(v)s{cast}")
    assert result[0] == "ok", result[1]
    assert len(result[1]) == 1 and result[2] == 1


def test_an_organization_cannot_be_given_an_unknown_time_zone(db, world):
    result = probe(db, world["callers"]["owner"],
                   "update public.organizations set timezone = 'Mars/Olympus_Mons' where id = %s returning id",
                   (world["params"]["org_id"],))
    assert result[0] == "error" and isinstance(result[1], psycopg.errors.CheckViolation), result


def test_an_admin_cannot_move_an_organization_into_another_tenant_by_update(db, world):
    # `with check` must hold for the new row too: the id column is not even granted.
    result = probe(db, world["callers"]["admin"],
                   "update public.organizations set id = %s where id = %s returning id",
                   (world["team"]["rival"]["id"], world["params"]["org_id"]))
    assert result[0] == "error" and isinstance(result[1], psycopg.errors.InsufficientPrivilege), result


# -- invitations: the token hash is never readable through the API ----------
@pytest.mark.parametrize("actor", ["owner", "admin"])
@pytest.mark.parametrize("query", ["select token_hash from public.invitations",
                                   "select * from public.invitations"])
def test_owners_and_admins_cannot_read_invitation_token_hashes(db, world, actor, query):
    result = probe(db, world["callers"][actor], query, {})
    assert result[0] == "error" and isinstance(result[1], psycopg.errors.InsufficientPrivilege), result


def test_owners_cannot_find_an_invitation_by_its_token_hash(db, world):
    # A filter on an ungranted column is refused too, so the hash cannot be probed.
    result = probe(db, world["callers"]["owner"],
                   "select id from public.invitations where token_hash = sha256('x'::bytea)", {})
    assert result[0] == "error" and isinstance(result[1], psycopg.errors.InsufficientPrivilege), result
