"""The audit trail: who changed which membership, invitation or organization.

Membership and invitation inserts, updates and deletes, and organization
updates, write one audit_log row each: actor_id is the caller (auth.uid()),
org_id the tenant, plus action, table_name, row_id and, for updates, the
columns that changed. A change that only moves updated_at is not logged, and
nobody can write the trail by hand.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from shared.platform.db import Caller
from tests.support import factories
from tests.support.pg import ArrangingDb


@pytest.fixture
def team(db) -> dict:
    return factories.team(db)


@pytest.fixture(scope="module")
def db(database_url):
    """The shared `db`, arranging over one reused superuser connection (faster)."""
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


class Trail:
    """The audit rows written after a mark, in order."""

    def __init__(self, db):
        self.db = db
        self.mark = db.value("select coalesce(max(id), 0) from public.audit_log")

    def entries(self, table: str | None = None) -> list[dict]:
        rows = self.db.sql(
            "select org_id, actor_id, action, table_name, row_id, changed_columns, details"
            " from public.audit_log where id > %s and (%s::text is null or table_name = %s) order by id",
            (self.mark, table, table))
        for row in rows:
            row["org_id"] = str(row["org_id"]) if row["org_id"] else None
            row["actor_id"] = str(row["actor_id"]) if row["actor_id"] else None
        return rows


def call(db, user, query: str, params=None):
    result = db.attempt(user.caller if not isinstance(user, Caller) else user, query, params)
    assert not isinstance(result, Exception), f"refused: {result}"
    return result


def membership_id(db, org, user) -> str:
    return str(db.value("select id from public.memberships where org_id = %s and user_id = %s", (org["id"], user.id)))


# ===========================================================================
# memberships
# ===========================================================================
def test_accepting_an_invitation_logs_the_new_membership_as_the_joiner(db, team):
    org, owner = team["org"], team["people"]["owner"]
    invited = call(db, owner, "select public.invite_member(%s, 'joiner@example.com', 'driver') as r",
                   (org["id"],))[0]["r"]
    joiner = db.user("joiner@example.com")
    trail = Trail(db)
    membership = call(db, joiner, "select id from public.accept_invitation(%s)", (invited["token"],))[0]

    assert trail.entries("memberships") == [{
        "org_id": str(org["id"]), "actor_id": joiner.id, "action": "insert", "table_name": "memberships",
        "row_id": str(membership["id"]), "changed_columns": None, "details": {},
    }]
    # The invitation is marked used in the same transaction, also by the joiner.
    [used] = trail.entries("invitations")
    assert (used["action"], used["actor_id"], used["row_id"], used["changed_columns"]) == (
        "update", joiner.id, str(invited["invitation_id"]), ["accepted_at", "accepted_by"])


@pytest.mark.parametrize("actor", ["owner", "admin"])
def test_a_role_change_logs_the_changer_and_the_role_column(db, team, actor):
    org, changer, staff = team["org"], team["people"][actor], team["people"]["staff"]
    trail = Trail(db)
    call(db, changer, "select public.change_member_role(%s, %s, 'dispatcher')", (org["id"], staff.id))
    assert trail.entries() == [{
        "org_id": str(org["id"]), "actor_id": changer.id, "action": "update", "table_name": "memberships",
        "row_id": membership_id(db, org, staff), "changed_columns": ["role"], "details": {},
    }]


def test_a_role_and_scope_change_lists_both_columns(db, team):
    org, owner, staff = team["org"], team["people"]["owner"], team["people"]["staff"]
    trail = Trail(db)
    call(db, owner, "select public.change_member_role(%s, %s, 'manager', %s)",
         (org["id"], staff.id, Jsonb({"service_ids": [str(uuid.uuid4())]})))
    [entry] = trail.entries()
    assert (entry["actor_id"], entry["changed_columns"]) == (owner.id, ["role", "scope"])


def test_removing_a_member_logs_the_remover_and_the_removed_row(db, team):
    org, admin, driver = team["org"], team["people"]["admin"], team["people"]["driver"]
    removed_id = membership_id(db, org, driver)
    trail = Trail(db)
    call(db, admin, "select public.remove_member(%s, %s)", (org["id"], driver.id))
    assert trail.entries() == [{
        "org_id": str(org["id"]), "actor_id": admin.id, "action": "delete", "table_name": "memberships",
        "row_id": removed_id, "changed_columns": None, "details": {},
    }]


def test_leaving_logs_the_leaver(db, team):
    org, affiliate = team["org"], team["people"]["affiliate"]
    left_id = membership_id(db, org, affiliate)
    trail = Trail(db)
    call(db, affiliate, "select public.leave_organization(%s)", (org["id"],))
    [entry] = trail.entries()
    assert (entry["org_id"], entry["actor_id"], entry["action"], entry["row_id"]) == (
        str(org["id"]), affiliate.id, "delete", left_id)


def test_creating_an_organization_logs_the_founders_membership(db):
    founder = db.user()
    trail = Trail(db)
    org = call(db, founder, "select id from public.create_organization('Logged', %s)",
               (f"logged-{uuid.uuid4().hex[:6]}",))[0]
    [entry] = trail.entries("memberships")
    assert (entry["org_id"], entry["actor_id"], entry["action"]) == (str(org["id"]), founder.id, "insert")


def test_a_change_that_only_moves_updated_at_is_not_logged(db, team):
    org, staff = team["org"], team["people"]["staff"]
    before = db.value("select updated_at from public.memberships where org_id = %s and user_id = %s",
                      (org["id"], staff.id))
    trail = Trail(db)
    db.sql("update public.memberships set role = role, scope = scope where org_id = %s and user_id = %s",
           (org["id"], staff.id))
    after = db.value("select updated_at from public.memberships where org_id = %s and user_id = %s",
                     (org["id"], staff.id))
    assert after > before, "the touch trigger should have moved updated_at"
    assert trail.entries() == []


def test_changing_a_member_to_the_role_they_already_have_is_not_logged(db, team):
    org, owner, staff = team["org"], team["people"]["owner"], team["people"]["staff"]
    trail = Trail(db)
    call(db, owner, "select public.change_member_role(%s, %s, 'staff')", (org["id"], staff.id))
    assert trail.entries() == []


def test_a_refused_change_leaves_no_trail(db, team):
    org, admin, owner = team["org"], team["people"]["admin"], team["people"]["owner"]
    trail = Trail(db)
    result = db.attempt(admin.caller, "select public.change_member_role(%s, %s, 'staff')", (org["id"], owner.id))
    assert isinstance(result, psycopg.Error) and result.diag.message_detail == "owner_only"
    assert trail.entries() == []


def test_service_role_changes_are_logged_without_an_actor(db, team):
    org = team["org"]
    newcomer = db.user()
    trail = Trail(db)
    call(db, Caller.service(), "insert into public.memberships (org_id, user_id, role) values (%s, %s, 'staff')",
         (org["id"], newcomer.id))
    [entry] = trail.entries()
    assert (entry["org_id"], entry["actor_id"], entry["action"]) == (str(org["id"]), None, "insert")


# ===========================================================================
# invitations and organizations
# ===========================================================================
def test_inviting_and_revoking_an_invitation_are_logged(db, team):
    org, owner, admin = team["org"], team["people"]["owner"], team["people"]["admin"]
    trail = Trail(db)
    invited = call(db, owner, "select public.invite_member(%s, 'maybe@example.com', 'staff') as r",
                   (org["id"],))[0]["r"]
    revoked = call(db, admin, "delete from public.invitations where id = %s returning id",
                   (invited["invitation_id"],))
    assert len(revoked) == 1
    assert [(e["action"], e["actor_id"], e["row_id"], e["org_id"]) for e in trail.entries()] == [
        ("insert", owner.id, str(invited["invitation_id"]), str(org["id"])),
        ("delete", admin.id, str(invited["invitation_id"]), str(org["id"])),
    ]


def test_editing_an_organization_is_logged_with_its_changed_columns(db, team):
    org, admin = team["org"], team["people"]["admin"]
    trail = Trail(db)
    updated = call(db, admin, "update public.organizations set name = 'Renamed', currency = 'EUR'"
                              " where id = %s returning id", (org["id"],))
    assert len(updated) == 1
    assert trail.entries() == [{
        "org_id": str(org["id"]), "actor_id": admin.id, "action": "update", "table_name": "organizations",
        "row_id": str(org["id"]), "changed_columns": ["currency", "name"], "details": {},
    }]


# ===========================================================================
# The trail cannot be written or rewritten by callers
# ===========================================================================
def test_a_signed_in_user_cannot_forge_audit_entries_through_the_private_helper(db, team):
    # private.audit is SECURITY DEFINER: if anyone could execute it, they could
    # write entries into any organization's trail under their own name.
    rival_owner, org = team["people"]["rival_owner"], team["org"]
    trail = Trail(db)
    result = db.attempt(rival_owner.caller, "select private.audit(%s, 'member.promoted', 'memberships', 'x')",
                        (org["id"],))
    assert isinstance(result, psycopg.errors.InsufficientPrivilege), result
    assert trail.entries() == []


@pytest.mark.parametrize("actor", ["owner", "admin"])
@pytest.mark.parametrize("statement", [
    "insert into public.audit_log (org_id, action, table_name) values (%(org)s, 'forged', 'memberships')",
    "update public.audit_log set actor_id = null where org_id = %(org)s",
    "delete from public.audit_log where org_id = %(org)s",
])
def test_owners_and_admins_cannot_write_or_rewrite_their_trail(db, team, actor, statement):
    org = team["org"]
    before = db.sql("select * from public.audit_log where org_id = %s order by id", (org["id"],))
    assert before, "the team's memberships should already be in the trail"
    result = db.attempt(team["people"][actor].caller, statement, {"org": org["id"]})
    assert isinstance(result, psycopg.errors.InsufficientPrivilege), result
    assert db.sql("select * from public.audit_log where org_id = %s order by id", (org["id"],)) == before


def test_owners_read_their_organizations_trail_and_nothing_else(db, team):
    org, owner = team["org"], team["people"]["owner"]
    seen = call(db, owner, "select distinct org_id from public.audit_log")
    assert [r["org_id"] for r in seen] == [org["id"]]
