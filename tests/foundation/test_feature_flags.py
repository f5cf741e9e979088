"""Feature flags (routines/platform/feature_flags.sql): how a flag resolves, who may switch it,
who may read the rows, and that functions and SQL both obey it (PayPal, the AI wizard, PAM)."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from shared.platform.db import Caller
from tests.support import factories, ticketing
from tests.support.http import buy, checkout_body
from tests.support.pg import call, refused
from tests.support.wizard import ai  # noqa: F401  the AI stack fixture


def switch(db, caller, flag, enabled, org_id=None):
    return call(db, caller, "select public.set_feature_flag(%s, %s, %s)", flag, enabled, org_id)


def post(stack, function, body, user) -> httpx.Response:
    return httpx.post(f"{stack.functions_url}/{function}", json=body, headers=user.headers, timeout=30)


def enabled(db, flag, org_id=None, caller=None):
    return call(db, caller or Caller.anon(), "select public.feature_enabled(%s, %s)", flag, org_id)


@pytest.fixture
def platform_reset(db):
    yield
    db.sql("delete from public.feature_flags where org_id is null")


def test_a_flag_resolves_kill_switch_then_org_then_platform_then_default(db, platform_reset):
    mine, theirs = factories.org(db), factories.org(db)
    assert enabled(db, "paypal", mine["id"]) is True  # the default
    assert switch(db, mine["owner"].caller, "paypal", False, mine["id"])["enabled"] is False
    assert (enabled(db, "paypal", mine["id"]), enabled(db, "paypal", theirs["id"])) == (False, True)
    switch(db, Caller.service(), "ai_wizard", False, mine["id"])  # the service role may set an org's too
    # A platform off is a kill switch: an org's own "on" does not bring it back.
    switch(db, theirs["owner"].caller, "paypal", True, theirs["id"])
    assert switch(db, Caller.service(), "paypal", False)["enabled"] is False
    assert (enabled(db, "paypal", mine["id"]), enabled(db, "paypal", theirs["id"]), enabled(db, "paypal")) == (
        False, False, False)
    # The platform back on: each org's own choice counts again; null removes an override.
    switch(db, Caller.service(), "paypal", None)
    assert (enabled(db, "paypal", mine["id"]), enabled(db, "paypal", theirs["id"])) == (False, True)
    switch(db, mine["owner"].caller, "paypal", None, mine["id"])
    assert enabled(db, "paypal", mine["id"]) is True
    assert enabled(db, "ai_wizard", mine["id"]) is False and enabled(db, "ai_wizard", theirs["id"]) is True
    refused(enabled(db, "teleportation"), "PT404", "unknown_feature")


def test_only_owners_admins_and_the_service_role_switch_flags(db, platform_reset):
    team = factories.team(db)
    org_id, people = team["org"]["id"], team["people"]
    before = db.value("select count(*) from public.feature_flags")
    for who in ("manager", "staff", "outsider", "rival_owner"):
        refused(switch(db, people[who].caller, "paypal", False, org_id), "PT403", "not_an_admin")
    anon = switch(db, Caller.anon(), "paypal", False, org_id)
    assert isinstance(anon, psycopg.errors.InsufficientPrivilege), anon
    refused(switch(db, people["owner"].caller, "paypal", False), "PT403", "platform_flag")
    refused(switch(db, people["owner"].caller, "warp_drive", False, org_id), "PT404", "unknown_feature")
    assert db.value("select count(*) from public.feature_flags") == before
    assert switch(db, people["admin"].caller, "paypal", False, org_id)["enabled"] is False
    assert switch(db, Caller.service(), "paypal", True, org_id)["enabled"] is True
    audit = db.sql("select actor_id, action from public.audit_log where table_name = 'feature_flags'"
                   " and org_id = %s order by id", (org_id,))
    assert [(str(a["actor_id"]) if a["actor_id"] else None, a["action"]) for a in audit] == [
        (people["admin"].id, "insert"), (None, "update")]


def test_members_read_their_orgs_flags_and_the_platforms_nobody_writes_rows_directly(db, platform_reset):
    team = factories.team(db)
    org_id, rival_id, people = team["org"]["id"], team["rival"]["id"], team["people"]
    switch(db, people["owner"].caller, "paypal", False, org_id)
    switch(db, team["rival"]["owner"].caller, "paypal", False, rival_id)
    switch(db, Caller.service(), "pam", True)
    seen = call(db, people["staff"].caller, "select array_agg(flag || ':' || coalesce(org_id::text, '-') order by flag)"
                " from public.feature_flags")
    assert seen == ["pam:-", f"paypal:{org_id}"]
    assert call(db, people["outsider"].caller, "select count(*) from public.feature_flags") == 1  # the platform's
    assert isinstance(call(db, Caller.anon(), "select count(*) from public.feature_flags"),
                      psycopg.errors.InsufficientPrivilege)
    for statement in ("insert into public.feature_flags (flag, org_id, enabled) values ('ai_wizard', %s, false)",
                      "update public.feature_flags set enabled = true where org_id = %s",
                      "delete from public.feature_flags where org_id = %s"):
        result = call(db, people["owner"].caller, statement, org_id)
        assert isinstance(result, psycopg.errors.InsufficientPrivilege), (statement, result)
    assert db.value("select enabled from public.feature_flags where flag = 'paypal' and org_id = %s",
                    (org_id,)) is False


def test_paypal_off_for_an_org_refuses_paypal_checkout_and_holds_nothing(stack, db):
    event = ticketing.event(db)
    tier = ticketing.tier(db, event, name="General", price_minor=2500, capacity=5)
    owner = db.user()
    factories.member(db, {"id": event["org_id"]}, owner, "owner")
    switch(db, owner.caller, "paypal", False, event["org_id"])
    r = buy(stack.functions_url, checkout_body(event, [(tier, 2)], provider="paypal"))
    assert (r.status_code, r.json()["error"]["code"]) == (422, "paypal_disabled"), r.text
    assert db.value("select count(*) from public.orders where status in ('pending', 'paid')"
                    " and org_id = %s", (event["org_id"],)) == 0
    assert db.value("select count(*) from private.ticket_seats where tier_id = %s and order_id is null",
                    (tier["id"],)) == 5
    assert buy(stack.functions_url, checkout_body(event, [(tier, 2)])).status_code == 200  # Stripe still works
    switch(db, owner.caller, "paypal", None, event["org_id"])
    assert buy(stack.functions_url, checkout_body(event, [(tier, 1)], provider="paypal")).status_code == 200


def test_the_wizard_off_for_an_org_refuses_in_the_function_and_in_sql(ai, db):  # noqa: F811
    team = factories.team(db)
    org_id, manager = team["org"]["id"], team["people"]["manager"]
    switch(db, team["people"]["owner"].caller, "ai_wizard", False, org_id)
    r = post(ai, "ai-wizard", {"message": "Plan a gala", "org_id": str(org_id)}, manager)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "feature_disabled"), r.text
    direct = call(db, manager.caller, "insert into public.wizard_sessions (org_id, owner_id, title)"
                  " values (%s, %s, 'by hand') returning id", org_id, manager.id)
    refused(direct, "PT403", "feature_disabled")
    assert db.value("select count(*) from public.wizard_sessions where org_id = %s", (org_id,)) == 0


def test_pam_off_for_the_platform_refuses_before_any_model_call(ai, db, platform_reset):  # noqa: F811
    from tests.support import member as M

    user, _ = M.member(db)
    switch(db, Caller.service(), "pam", False)
    r = post(ai, "pam", {"message": "How much did I spend?"}, user)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "feature_disabled"), r.text
    assert db.value("select count(*) from public.pam_conversations where user_id = %s", (user.id,)) == 0
