"""Paid tiers through Stripe Billing, over real HTTP against the Stripe stand-in: subscribe (Checkout in
subscription mode), the customer.subscription.* webhooks set the tier, the tier's features are enforced in
Postgres (the free tier's three budgets), a past-due renewal keeps the tier for Stripe's retries, and a
cancellation at period end downgrades then, keeping every row readable; replayed or forged events change
nothing."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from shared.member.subscriptions import PLUS_LOOKUP_KEY
from shared.platform.config import settings
from shared.providers import payments
from tests.support import member as M
from tests.support.http import ORIGIN


@pytest.fixture(scope="module")
def plan(stack):
    client = payments.stripe_client(settings())
    found = payments.price_by_lookup_key(client, PLUS_LOOKUP_KEY)
    return found or client.v1.prices.create(params={
        "unit_amount": 499, "currency": "gbp", "recurring": {"interval": "month"}, "lookup_key": PLUS_LOOKUP_KEY,
        "product_data": {"name": "Wheels & Wins Plus"}})


def post(stack, user, payload: dict) -> httpx.Response:
    return httpx.post(f"{stack.functions_url}/member-subscription", json=payload, headers=user.headers, timeout=30)


def tier(stack, user) -> dict:
    return httpx.get(f"{stack.functions_url}/member-subscription", headers=user.headers, timeout=30).json()


def subscribed(stack, db, user) -> str:
    r = post(stack, user, {"action": "subscribe", "success_url": f"{ORIGIN}/plus/welcome",
                           "cancel_url": f"{ORIGIN}/plus"})
    assert r.status_code == 200, r.text
    paid = stack.stripe.pay(r.json()["checkout_session_id"])
    return paid["subscription"]


def budgets(db, user, cats, n: int) -> list:
    names = [c for c in ("Fuel", "Campsites", "Groceries", "Eating out", "Maintenance", "Insurance") if c in cats][:n]
    return [M.budget(db, user, cats[name], 1000, starts_on=date(2026, 1, 1)) for name in names]


def test_subscribing_lifts_the_free_limit_and_cancelling_at_period_end_keeps_the_rows(stack, db, plan):
    user, cats = M.member(db)
    assert tier(stack, user) == {"tier": "free", "subscription": None}
    subscription_id = subscribed(stack, db, user)
    results = {d.type: json.loads(d.response_body).get("result") for d in stack.stripe.events_sent
               if d.event["data"]["object"].get("id") in (subscription_id,) or d.type == "checkout.session.completed"}
    assert results["customer.subscription.created"] == "tier_plus"
    assert results["checkout.session.completed"] == "subscription_session"
    seen = tier(stack, user)
    assert (seen["tier"], seen["subscription"]["status"], seen["subscription"]["price_lookup_key"]) == (
        "plus", "active", PLUS_LOOKUP_KEY)
    made = budgets(db, user, cats, 5)
    assert all(not isinstance(b, Exception) for b in made), made

    # A failed renewal: past_due, Stripe retries the card; the tier stays meanwhile.
    stack.stripe.fail_renewal(subscription_id)
    assert tier(stack, user)["tier"] == "plus"
    stack.stripe.renew(subscription_id)

    assert post(stack, user, {"action": "cancel"}).json() == {"cancel_at_period_end": True}
    seen = tier(stack, user)
    assert (seen["tier"], seen["subscription"]["cancel_at_period_end"]) == ("plus", True)
    stack.stripe.end_period(subscription_id)
    assert tier(stack, user)["tier"] == "free"
    # Downgraded: the five budgets stay readable and computed; a sixth is refused by Postgres.
    assert M.call(db, user.caller, "select count(*) from public.budgets") == 5
    assert isinstance(M.status(db, user, made[4], date(2026, 2, 1)), list)
    extra = M.budget(db, user, cats["Insurance"], 1000, starts_on=date(2026, 1, 1))
    assert (extra.sqlstate, extra.diag.message_detail) == ("PT403", "tier_limit")
    again = post(stack, user, {"action": "cancel"})
    assert (again.status_code, again.json()["error"]["code"]) == (404, "no_subscription")


def test_replayed_and_forged_subscription_events_change_nothing(stack, db, plan):
    user, _ = M.member(db)
    subscription_id = subscribed(stack, db, user)
    [created] = [d for d in stack.stripe.events_sent if d.type == "customer.subscription.created"
                 and d.event["data"]["object"]["id"] == subscription_id]
    replay = stack.stripe.deliver(created.event)
    assert json.loads(replay.response_body)["result"] == "duplicate"
    forged = dict(created.event, id="evt_forged_" + subscription_id[-8:])
    forged["data"] = {"object": dict(created.event["data"]["object"], status="canceled")}
    r = httpx.post(f"{stack.functions_url}/stripe-webhook", content=json.dumps(forged).encode(),
                   headers={"stripe-signature": "t=1,v1=" + "0" * 64, "content-type": "application/json"}, timeout=30)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_signature")
    assert tier(stack, user)["tier"] == "plus"


def test_only_the_member_reads_their_subscription(stack, db, plan):
    user, _ = M.member(db)
    subscribed(stack, db, user)
    other, _ = M.member(db)
    assert M.call(db, other.caller, "select count(*) from public.member_subscriptions where user_id = %s", user.id) == 0
    assert M.call(db, user.caller, "select count(*) from public.member_subscriptions") == 1
    writes = M.call(db, user.caller, "update public.member_subscriptions set status = 'active'")
    assert getattr(writes, "sqlstate", None) == "42501"
    assert httpx.get(f"{stack.functions_url}/member-subscription", timeout=30).status_code == 401
