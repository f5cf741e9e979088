"""The membership RPCs, called as the acting user exactly as PostgREST would.

public.create_organization, invite_member, accept_invitation,
change_member_role, remove_member and leave_organization: the happy paths,
and every refusal with its SQLSTATE (PostgREST's PTxxx = HTTP status) and the
machine code in DETAIL. A refusal writes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from shared.platform import errors
from shared.platform.db import Caller
from tests.support import factories
from tests.support.pg import ArrangingDb

MANAGER_ROLES = ("owner", "admin")
NON_MANAGERS = ("manager", "staff", "dispatcher", "driver", "affiliate", "outsider", "rival_owner")
# Scope ids only need the shape of an id here (tests/appointments/test_manager_scope.py uses real ones).
SERVICE_ID = "6f1c2a4e-0000-4000-8000-000000000001"
STAFF_ID = "6f1c2a4e-0000-4000-8000-000000000002"


@pytest.fixture(scope="module")
def db(database_url):
    """The shared `db`, arranging over one reused superuser connection (faster)."""
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture
def team(db) -> dict:
    return factories.team(db)


def rpc(db, caller, function: str, **args):
    """`select public.<function>(name => value, …)` as `caller`; the result or the error."""
    if not isinstance(caller, Caller):
        caller = caller.caller
    named = ", ".join(f"{name} => %({name})s" for name in args)
    params = {k: Jsonb(v) if isinstance(v, (dict, list)) else v for k, v in args.items()}
    if function in ("create_organization", "accept_invitation", "change_member_role"):
        # Row-returning: `from f()` calls it once (`select (f()).*` would call it per column).
        return db.attempt(caller, f"select * from public.{function}({named})", params)
    return db.attempt(caller, f"select public.{function}({named}) as result", params)


def ok(result):
    assert not isinstance(result, Exception), f"refused: {getattr(result, 'sqlstate', '')} {result}"
    return result


def assert_refused(result, sqlstate: str, detail: str | None = None):
    assert isinstance(result, psycopg.Error), f"expected {sqlstate} {detail}, got {result!r}"
    assert result.sqlstate == sqlstate, f"expected {sqlstate}, got {result.sqlstate}: {result}"
    if detail is not None:
        assert result.diag.message_detail == detail, result.diag.message_detail
        # And the function host answers it as a 4xx with the same code.
        answer = errors.from_database(result)
        assert (answer.status, answer.code) == (int(sqlstate[2:]), detail)


def role_of(db, org: dict, user) -> str | None:
    return db.value("select role::text from public.memberships where org_id = %s and user_id = %s",
                    (org["id"], user.id))


def owners(db, org: dict) -> int:
    return db.value("select count(*) from public.memberships where org_id = %s and role = 'owner'", (org["id"],))


def invite(db, org: dict, inviter, email: str, role: str = "staff", scope: dict | None = None) -> dict:
    args = {"org_id": org["id"], "email": email, "role": role}
    if scope is not None:
        args["scope"] = scope
    return ok(rpc(db, inviter, "invite_member", **args))[0]["result"]


# ===========================================================================
# Who may call the RPCs at all
# ===========================================================================
RPC_SIGNATURES = [
    "public.create_organization(text, text, text, text)",
    "public.invite_member(uuid, text, public.org_role, jsonb)",
    "public.accept_invitation(text)",
    "public.change_member_role(uuid, uuid, public.org_role, jsonb)",
    "public.remove_member(uuid, uuid)",
    "public.leave_organization(uuid)",
]


@pytest.mark.parametrize("signature", RPC_SIGNATURES)
def test_anon_cannot_execute_membership_rpcs(db, signature):
    assert db.value("select has_function_privilege('anon', %s, 'execute')", (signature,)) is False
    assert db.value("select has_function_privilege('authenticated', %s, 'execute')", (signature,)) is True


def test_anon_calling_an_rpc_is_refused_before_anything_runs(db):
    result = db.attempt(Caller.anon(), "select public.create_organization('Anon Co', 'anon-co')")
    assert isinstance(result, psycopg.errors.InsufficientPrivilege), result
    # Refused at the function itself, not somewhere inside it.
    assert "permission denied for function create_organization" in str(result)
    assert db.value("select count(*) from public.organizations where slug = 'anon-co'") == 0


def test_no_tenancy_function_is_executable_by_public(db):
    # `alter default privileges in schema …` cannot take back PUBLIC's global
    # EXECUTE; every function here must have had it revoked explicitly.
    rows = db.sql(
        "select p.oid::regprocedure::text as fn from pg_proc p"
        " join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname in ('public', 'private')"
        "   and exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a"
        "               where a.grantee = 0 and a.privilege_type = 'EXECUTE')")
    assert rows == [], f"executable by PUBLIC: {[r['fn'] for r in rows]}"


@pytest.mark.parametrize("signature", [
    "private.audit(uuid, text, text, text, jsonb)",
    "private.owner_count(uuid)",
    "private.lock_org_as_manager(uuid)",
    "private.random_token()",
    "private.token_hash(text)",
])
def test_signed_in_users_cannot_call_internal_helpers(db, signature):
    assert db.value("select has_function_privilege('authenticated', %s, 'execute')", (signature,)) is False


# ===========================================================================
# create_organization
# ===========================================================================
def test_creating_an_organization_makes_the_caller_its_owner(db):
    founder = db.user()
    slug = f"acme-{uuid.uuid4().hex[:6]}"
    org = ok(rpc(db, founder, "create_organization", name="  Acme Cars  ", slug=f" {slug.upper()} ",
                 timezone="Europe/Paris", currency="eur"))[0]
    assert (org["name"], org["slug"], org["timezone"], org["currency"]) == ("Acme Cars", slug, "Europe/Paris", "EUR")
    assert str(org["created_by"]) == founder.id
    assert role_of(db, org, founder) == "owner"
    assert owners(db, org) == 1
    # And the founder now sees it through RLS.
    seen = db.attempt(founder.caller, "select id from public.organizations")
    assert [r["id"] for r in seen] == [org["id"]]


def test_creating_an_organization_defaults_to_utc_and_gbp(db):
    org = ok(rpc(db, db.user(), "create_organization", name="Plain", slug=f"plain-{uuid.uuid4().hex[:6]}"))[0]
    assert (org["timezone"], org["currency"]) == ("UTC", "GBP")


@pytest.mark.parametrize(("args", "detail"), [
    ({"name": "   "}, "invalid_name"),
    ({"name": None}, "invalid_name"),
    ({"slug": "has space"}, "invalid_slug"),
    ({"slug": "-leading-dash"}, "invalid_slug"),
    ({"slug": "trailing-dash-"}, "invalid_slug"),
    ({"slug": "under_score"}, "invalid_slug"),
    ({"slug": "a" * 64}, "invalid_slug"),
    ({"slug": ""}, "invalid_slug"),
    ({"slug": None}, "invalid_slug"),
    ({"slug": "ünïcode"}, "invalid_slug"),
    ({"timezone": "Mars/Olympus_Mons"}, "invalid_timezone"),
    ({"timezone": None}, "invalid_timezone"),
    ({"timezone": ""}, "invalid_timezone"),
    ({"currency": "EURO"}, "invalid_currency"),
    ({"currency": "E1R"}, "invalid_currency"),
    ({"currency": ""}, "invalid_currency"),
    ({"currency": None}, "invalid_currency"),
])
def test_creating_an_organization_with_invalid_input_is_refused(db, args, detail):
    founder = db.user()
    full = {"name": "Valid Name", "slug": f"valid-{uuid.uuid4().hex[:6]}", "timezone": "UTC", "currency": "GBP"}
    full.update(args)
    assert_refused(rpc(db, founder, "create_organization", **full), "PT422", detail)
    assert db.value("select count(*) from public.memberships where user_id = %s", (founder.id,)) == 0


def test_an_over_long_organization_name_is_refused_with_a_4xx(db):
    founder = db.user()
    slug = f"long-{uuid.uuid4().hex[:6]}"
    result = rpc(db, founder, "create_organization", name="x" * 201, slug=slug)
    assert isinstance(result, psycopg.Error), result
    answer = errors.from_database(result)
    assert answer is not None and answer.status == 422, result
    assert db.value("select count(*) from public.organizations where slug = %s", (slug,)) == 0


@pytest.mark.parametrize("spelling", ["{slug}", " {SLUG} "])
def test_a_taken_slug_is_refused(db, spelling):
    existing = factories.org(db)
    latecomer = db.user()
    slug = spelling.format(slug=existing["slug"], SLUG=existing["slug"].upper())
    assert_refused(rpc(db, latecomer, "create_organization", name="Copycat", slug=slug), "PT409", "slug_taken")
    assert db.value("select count(*) from public.memberships where user_id = %s", (latecomer.id,)) == 0


# ===========================================================================
# invite_member
# ===========================================================================
@pytest.mark.parametrize("inviter", MANAGER_ROLES)
def test_owners_and_admins_invite_and_the_token_is_returned_once_and_stored_hashed(db, team, inviter):
    org = team["org"]
    result = invite(db, org, team["people"][inviter], "  New.Hire@Example.COM ", "driver", {"zone": "north"})
    token = result["token"]
    assert len(token) >= 32 and int(token, 16) >= 0  # hex, ≥128 bits
    assert (result["email"], result["role"]) == ("new.hire@example.com", "driver")
    row = db.one("select * from public.invitations where id = %s", (result["invitation_id"],))
    assert bytes(row["token_hash"]) == hashlib.sha256(token.encode()).digest()
    assert (row["org_id"], row["role"], row["scope"]) == (org["id"], "driver", {"zone": "north"})
    assert str(row["invited_by"]) == team["people"][inviter].id
    assert row["accepted_at"] is None
    # The token itself is stored nowhere: not in the row, not in the audit trail.
    assert db.value("select count(*) from public.invitations i where to_jsonb(i)::text like %s",
                    (f"%{token}%",)) == 0
    assert db.value("select count(*) from public.audit_log a where to_jsonb(a)::text like %s",
                    (f"%{token}%",)) == 0


def test_every_invitation_gets_a_different_token(db, team):
    org, owner = team["org"], team["people"]["owner"]
    tokens = {invite(db, org, owner, f"person{i}@example.com")["token"] for i in range(5)}
    assert len(tokens) == 5


def test_owners_invite_owners(db, team):
    result = invite(db, team["org"], team["people"]["owner"], "co-owner@example.com", "owner")
    assert result["role"] == "owner"


def test_admins_cannot_invite_owners(db, team):
    result = rpc(db, team["people"]["admin"], "invite_member", org_id=team["org"]["id"],
                 email="co-owner@example.com", role="owner")
    assert_refused(result, "PT403", "owner_only")
    assert db.value("select count(*) from public.invitations where org_id = %s", (team["org"]["id"],)) == 0


@pytest.mark.parametrize("actor", NON_MANAGERS)
def test_only_owners_and_admins_invite(db, team, actor):
    result = rpc(db, team["people"][actor], "invite_member", org_id=team["org"]["id"],
                 email="friend@example.com", role="staff")
    assert_refused(result, "PT403", "not_a_manager")
    assert db.value("select count(*) from public.invitations where org_id = %s", (team["org"]["id"],)) == 0


def test_inviting_into_an_unknown_organization_is_not_found(db, team):
    result = rpc(db, team["people"]["owner"], "invite_member", org_id=str(uuid.uuid4()),
                 email="friend@example.com", role="staff")
    assert_refused(result, "PT404", "org_not_found")


@pytest.mark.parametrize("email", ["not-an-email", "two@@example.com", "no-dot@example", "sp ace@example.com",
                                   "", None])
def test_inviting_an_invalid_email_is_refused(db, team, email):
    result = rpc(db, team["people"]["owner"], "invite_member", org_id=team["org"]["id"], email=email, role="staff")
    assert_refused(result, "PT422", "invalid_email")


@pytest.mark.parametrize("scope", [["service-1"], {"service_ids": "all"}, {"staff_ids": ["not-an-id"]},
                                   {"staff_ids": [1]}, {"service_ids": [SERVICE_ID.upper()]}])
def test_inviting_with_a_malformed_scope_is_refused(db, team, scope):
    result = rpc(db, team["people"]["owner"], "invite_member", org_id=team["org"]["id"],
                 email="friend@example.com", role="manager", scope=scope)
    assert_refused(result, "PT422", "invalid_scope")
    assert db.value("select count(*) from public.invitations where email = 'friend@example.com'") == 0


def test_a_malformed_scope_cannot_be_written_directly_either(db, team):
    with pytest.raises(psycopg.errors.CheckViolation):
        db.sql("update public.memberships set scope = '{\"staff_ids\": \"everyone\"}' where org_id = %s",
               (team["org"]["id"],))


def test_inviting_an_existing_member_is_refused(db, team):
    staff = team["people"]["staff"]
    result = rpc(db, team["people"]["owner"], "invite_member", org_id=team["org"]["id"],
                 email=staff.email.upper(), role="admin")
    assert_refused(result, "PT409", "already_member")


def test_a_new_invitation_replaces_the_open_one_for_the_same_address(db, team):
    org, owner = team["org"], team["people"]["owner"]
    first = invite(db, org, owner, "twice@example.com", "staff")
    second = invite(db, org, owner, "Twice@Example.com", "driver")
    rows = db.sql("select id, role from public.invitations where org_id = %s", (org["id"],))
    assert rows == [{"id": uuid.UUID(str(second["invitation_id"])), "role": "driver"}]
    invitee = db.user("twice@example.com")
    assert_refused(rpc(db, invitee, "accept_invitation", token=first["token"]), "PT404", "invitation_invalid")
    assert ok(rpc(db, invitee, "accept_invitation", token=second["token"]))[0]["role"] == "driver"


# ===========================================================================
# accept_invitation
# ===========================================================================
def test_the_invited_user_accepts_and_joins_with_the_offered_role_and_scope(db, team):
    org = team["org"]
    result = invite(db, org, team["people"]["admin"], "joiner@example.com", "manager", {"service_ids": [SERVICE_ID]})
    joiner = db.user("Joiner@Example.com")  # the address matches whatever its case
    membership = ok(rpc(db, joiner, "accept_invitation", token=result["token"]))[0]
    assert (membership["org_id"], str(membership["user_id"])) == (org["id"], joiner.id)
    assert (membership["role"], membership["scope"]) == ("manager", {"service_ids": [SERVICE_ID]})
    invitation = db.one("select accepted_at, accepted_by from public.invitations where id = %s",
                        (result["invitation_id"],))
    assert invitation["accepted_at"] is not None and str(invitation["accepted_by"]) == joiner.id
    assert role_of(db, org, joiner) == "manager"


@pytest.mark.parametrize("token", [secrets.token_hex(48), "short", "", None, "x" * 201])
def test_a_wrong_token_is_not_valid(db, team, token):
    email = f"someone-{uuid.uuid4().hex[:8]}@example.com"
    invite(db, team["org"], team["people"]["owner"], email)
    someone = db.user(email)
    assert_refused(rpc(db, someone, "accept_invitation", token=token), "PT404", "invitation_invalid")
    assert role_of(db, team["org"], someone) is None


def test_an_expired_invitation_cannot_be_accepted(db, team):
    result = invite(db, team["org"], team["people"]["owner"], "late@example.com")
    db.sql("update public.invitations set expires_at = now() - interval '1 second' where id = %s",
           (result["invitation_id"],))
    late = db.user("late@example.com")
    assert_refused(rpc(db, late, "accept_invitation", token=result["token"]), "PT410", "invitation_expired")
    assert role_of(db, team["org"], late) is None


def test_a_used_invitation_cannot_be_accepted_again(db, team):
    org = team["org"]
    result = invite(db, org, team["people"]["owner"], "once@example.com", "driver")
    once = db.user("once@example.com")
    ok(rpc(db, once, "accept_invitation", token=result["token"]))
    # Even after leaving, the same token does not let them back in.
    ok(rpc(db, once, "leave_organization", org_id=org["id"]))
    assert_refused(rpc(db, once, "accept_invitation", token=result["token"]), "PT404", "invitation_invalid")
    assert role_of(db, org, once) is None


def test_an_invitation_sent_to_another_email_cannot_be_accepted(db, team):
    org = team["org"]
    result = invite(db, org, team["people"]["owner"], "intended@example.com", "admin")
    interceptor = team["people"]["outsider"]
    assert_refused(rpc(db, interceptor, "accept_invitation", token=result["token"]),
                   "PT403", "invitation_email_mismatch")
    assert role_of(db, org, interceptor) is None
    # The invitation stays open for the right person.
    intended = db.user("intended@example.com")
    assert ok(rpc(db, intended, "accept_invitation", token=result["token"]))[0]["role"] == "admin"


def test_accepting_when_already_a_member_is_refused_and_keeps_the_invitation_open(db, team):
    org = team["org"]
    result = invite(db, org, team["people"]["owner"], "double@example.com", "admin")
    double = db.user("double@example.com")
    factories.member(db, org, double, "driver")
    assert_refused(rpc(db, double, "accept_invitation", token=result["token"]), "PT409", "already_member")
    assert role_of(db, org, double) == "driver"
    assert db.value("select accepted_at from public.invitations where id = %s", (result["invitation_id"],)) is None


def test_anon_cannot_accept_an_invitation(db, team):
    result = invite(db, team["org"], team["people"]["owner"], "anon@example.com")
    assert isinstance(rpc(db, Caller.anon(), "accept_invitation", token=result["token"]),
                      psycopg.errors.InsufficientPrivilege)


# ===========================================================================
# change_member_role
# ===========================================================================
@pytest.mark.parametrize("actor", MANAGER_ROLES)
def test_owners_and_admins_change_a_members_role_and_scope(db, team, actor):
    org, staff = team["org"], team["people"]["staff"]
    membership = ok(rpc(db, team["people"][actor], "change_member_role", org_id=org["id"], user_id=staff.id,
                        role="manager", scope={"staff_ids": [STAFF_ID]}))[0]
    assert (membership["role"], membership["scope"]) == ("manager", {"staff_ids": [STAFF_ID]})
    assert role_of(db, org, staff) == "manager"


def test_changing_a_role_without_a_scope_keeps_the_scope(db, team):
    org, owner = team["org"], team["people"]["owner"]
    scoped = factories.member(db, org, role="manager", scope={"service_ids": [SERVICE_ID]})
    membership = ok(rpc(db, owner, "change_member_role", org_id=org["id"], user_id=scoped.id, role="staff"))[0]
    assert (membership["role"], membership["scope"]) == ("staff", {"service_ids": [SERVICE_ID]})


def test_owners_make_and_unmake_other_owners(db, team):
    org, owner, admin = team["org"], team["people"]["owner"], team["people"]["admin"]
    ok(rpc(db, owner, "change_member_role", org_id=org["id"], user_id=admin.id, role="owner"))
    assert owners(db, org) == 2
    # The new owner may now demote the founder.
    ok(rpc(db, admin, "change_member_role", org_id=org["id"], user_id=owner.id, role="admin"))
    assert (role_of(db, org, owner), role_of(db, org, admin), owners(db, org)) == ("admin", "owner", 1)


def test_admins_cannot_grant_the_owner_role(db, team):
    org, staff = team["org"], team["people"]["staff"]
    result = rpc(db, team["people"]["admin"], "change_member_role", org_id=org["id"], user_id=staff.id, role="owner")
    assert_refused(result, "PT403", "owner_only")
    assert role_of(db, org, staff) == "staff"


def test_admins_cannot_make_themselves_owner(db, team):
    org, admin = team["org"], team["people"]["admin"]
    result = rpc(db, admin, "change_member_role", org_id=org["id"], user_id=admin.id, role="owner")
    assert_refused(result, "PT403", "owner_only")
    assert role_of(db, org, admin) == "admin"


def test_admins_cannot_demote_an_owner(db, team):
    org, owner = team["org"], team["people"]["owner"]
    result = rpc(db, team["people"]["admin"], "change_member_role", org_id=org["id"], user_id=owner.id, role="staff")
    assert_refused(result, "PT403", "owner_only")
    assert role_of(db, org, owner) == "owner"


def test_the_last_owner_cannot_demote_themselves(db, team):
    org, owner = team["org"], team["people"]["owner"]
    result = rpc(db, owner, "change_member_role", org_id=org["id"], user_id=owner.id, role="admin")
    assert_refused(result, "PT409", "last_owner")
    assert role_of(db, org, owner) == "owner"


def test_one_of_two_owners_may_demote_themselves(db, team):
    org, owner = team["org"], team["people"]["owner"]
    second = factories.member(db, org, role="owner")
    ok(rpc(db, owner, "change_member_role", org_id=org["id"], user_id=owner.id, role="admin"))
    assert (role_of(db, org, owner), role_of(db, org, second)) == ("admin", "owner")


@pytest.mark.parametrize("actor", NON_MANAGERS)
def test_only_owners_and_admins_change_roles(db, team, actor):
    org, driver = team["org"], team["people"]["driver"]
    result = rpc(db, team["people"][actor], "change_member_role", org_id=org["id"], user_id=driver.id, role="admin")
    assert_refused(result, "PT403", "not_a_manager")
    assert role_of(db, org, driver) == "driver"


def test_members_cannot_promote_themselves(db, team):
    org, staff = team["org"], team["people"]["staff"]
    result = rpc(db, staff, "change_member_role", org_id=org["id"], user_id=staff.id, role="admin")
    assert_refused(result, "PT403", "not_a_manager")
    assert role_of(db, org, staff) == "staff"


def test_changing_the_role_of_a_non_member_is_not_found(db, team):
    result = rpc(db, team["people"]["owner"], "change_member_role", org_id=team["org"]["id"],
                 user_id=team["people"]["outsider"].id, role="staff")
    assert_refused(result, "PT404", "member_not_found")
    assert role_of(db, team["org"], team["people"]["outsider"]) is None


def test_changing_a_role_in_an_unknown_organization_is_not_found(db, team):
    result = rpc(db, team["people"]["owner"], "change_member_role", org_id=str(uuid.uuid4()),
                 user_id=team["people"]["staff"].id, role="driver")
    assert_refused(result, "PT404", "org_not_found")


def test_an_owner_cannot_change_roles_in_a_rival_organization(db, team):
    rival = team["rival"]
    result = rpc(db, team["people"]["owner"], "change_member_role", org_id=rival["id"],
                 user_id=rival["owner"].id, role="staff")
    assert_refused(result, "PT403", "not_a_manager")
    assert role_of(db, rival, rival["owner"]) == "owner"


def test_changing_a_role_with_a_scope_that_is_not_an_object_is_refused(db, team):
    result = rpc(db, team["people"]["owner"], "change_member_role", org_id=team["org"]["id"],
                 user_id=team["people"]["staff"].id, role="manager", scope=Jsonb("everything"))
    assert_refused(result, "PT422", "invalid_scope")


# ===========================================================================
# remove_member
# ===========================================================================
@pytest.mark.parametrize("actor", MANAGER_ROLES)
def test_owners_and_admins_remove_members(db, team, actor):
    org, driver = team["org"], team["people"]["driver"]
    ok(rpc(db, team["people"][actor], "remove_member", org_id=org["id"], user_id=driver.id))
    assert role_of(db, org, driver) is None


def test_an_owner_removes_a_co_owner(db, team):
    org = team["org"]
    second = factories.member(db, org, role="owner")
    ok(rpc(db, team["people"]["owner"], "remove_member", org_id=org["id"], user_id=second.id))
    assert role_of(db, org, second) is None and owners(db, org) == 1


def test_admins_cannot_remove_an_owner(db, team):
    org, owner = team["org"], team["people"]["owner"]
    second = factories.member(db, org, role="owner")  # not the last owner: refused for being an admin
    result = rpc(db, team["people"]["admin"], "remove_member", org_id=org["id"], user_id=owner.id)
    assert_refused(result, "PT403", "owner_only")
    assert (role_of(db, org, owner), role_of(db, org, second)) == ("owner", "owner")


def test_the_last_owner_cannot_be_removed(db, team):
    org, owner = team["org"], team["people"]["owner"]
    result = rpc(db, owner, "remove_member", org_id=org["id"], user_id=owner.id)
    assert_refused(result, "PT409", "last_owner")
    assert role_of(db, org, owner) == "owner"


@pytest.mark.parametrize("actor", NON_MANAGERS)
def test_only_owners_and_admins_remove_members(db, team, actor):
    org, staff = team["org"], team["people"]["staff"]
    target = staff if actor != "staff" else team["people"]["driver"]
    result = rpc(db, team["people"][actor], "remove_member", org_id=org["id"], user_id=target.id)
    assert_refused(result, "PT403", "not_a_manager")
    assert role_of(db, org, target) is not None


def test_removing_a_non_member_is_not_found(db, team):
    result = rpc(db, team["people"]["owner"], "remove_member", org_id=team["org"]["id"],
                 user_id=team["people"]["rival_owner"].id)
    assert_refused(result, "PT404", "member_not_found")
    assert role_of(db, team["rival"], team["people"]["rival_owner"]) == "owner"


# ===========================================================================
# leave_organization
# ===========================================================================
@pytest.mark.parametrize("role", ["admin", "manager", "staff", "dispatcher", "driver", "affiliate"])
def test_a_member_leaves(db, team, role):
    org, member = team["org"], team["people"][role]
    ok(rpc(db, member, "leave_organization", org_id=org["id"]))
    assert role_of(db, org, member) is None
    assert db.attempt(member.caller, "select id from public.organizations where id = %s", (org["id"],)) == []


def test_the_last_owner_cannot_leave(db, team):
    org, owner = team["org"], team["people"]["owner"]
    assert_refused(rpc(db, owner, "leave_organization", org_id=org["id"]), "PT409", "last_owner")
    assert role_of(db, org, owner) == "owner"


def test_one_of_two_owners_may_leave(db, team):
    org, owner = team["org"], team["people"]["owner"]
    second = factories.member(db, org, role="owner")
    ok(rpc(db, owner, "leave_organization", org_id=org["id"]))
    assert role_of(db, org, owner) is None and role_of(db, org, second) == "owner"


def test_leaving_an_organization_one_is_not_in_is_not_found(db, team):
    result = rpc(db, team["people"]["outsider"], "leave_organization", org_id=team["org"]["id"])
    assert_refused(result, "PT404", "member_not_found")


def test_anon_cannot_leave_anything(db, team):
    result = rpc(db, Caller.anon(), "leave_organization", org_id=team["org"]["id"])
    assert isinstance(result, psycopg.errors.InsufficientPrivilege), result
