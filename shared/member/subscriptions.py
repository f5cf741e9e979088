"""Paid tiers for members through Stripe Billing: Checkout in subscription mode, and the
customer.subscription.* webhooks (registered with shared/commerce/stripe_events.py) that set the tier.

Each webhook reads the subscription's current state from Stripe before applying it, so events arriving
late, twice or out of order end in the state Stripe has now; the event id is recorded once, like every
Stripe event. The plan is the Stripe Price whose lookup key is PLUS_LOOKUP_KEY (create it in the Stripe
dashboard; without it, subscribing answers 503 plan_not_configured). What a tier allows is Postgres'
(routines/member/budgets.sql: the free tier's budget limit), not only the app's.

Error codes: plan_not_configured, payment_provider_unavailable, no_subscription, not_authenticated.
"""

from __future__ import annotations

import psycopg
import stripe

from shared.commerce import stripe_events
from shared.platform import db, errors
from shared.providers import payments

PLUS_LOOKUP_KEY = "member_plus_monthly"


def _current(client: stripe.StripeClient, subscription: dict) -> dict:
    """The subscription as Stripe has it now (fetched before the webhook's transaction)."""
    try:
        return payments.retrieve_subscription(client, subscription["id"]).to_dict()
    except stripe.InvalidRequestError:
        return subscription  # gone at Stripe: the event's own copy is the last word
    except stripe.StripeError as exc:
        raise errors.unavailable("payment_provider_unavailable", "Stripe is not answering") from exc


def _apply(cur: psycopg.Cursor, _event_object: dict, current: dict) -> tuple[None, str]:
    user_id = (current.get("metadata") or {}).get("user_id")
    if not user_id:
        return None, "unknown_subscription"
    item = ((current.get("items") or {}).get("data") or [{}])[0]
    period_end = item.get("current_period_end")
    cur.execute("select private.apply_member_subscription(%s, %s, %s, %s, %s, to_timestamp(%s), %s) as tier",
                (user_id, current["id"], current.get("customer"), current.get("status"),
                 (item.get("price") or {}).get("lookup_key"), period_end, bool(current.get("cancel_at_period_end"))))
    tier = cur.fetchone()["tier"]
    return None, f"tier_{tier}" if tier else "unknown_subscription"


for _type in ("customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"):
    stripe_events.register(_type, _apply, prefetch=_current)


def status(caller: db.Caller) -> dict:
    with db.transaction(caller) as cur:
        cur.execute("select tier from public.member_settings where user_id = %s", (caller.user_id,))
        settings = cur.fetchone()
        cur.execute("select status, price_lookup_key, current_period_end, cancel_at_period_end"
                    " from public.member_subscriptions where user_id = %s", (caller.user_id,))
        return {"tier": settings["tier"] if settings else "free", "subscription": cur.fetchone()}


def subscribe(caller: db.Caller, client: stripe.StripeClient, *, success_url: str, cancel_url: str) -> dict:
    try:
        price = payments.price_by_lookup_key(client, PLUS_LOOKUP_KEY)
    except stripe.StripeError as exc:
        raise errors.bad_gateway("payment_provider_unavailable", "Stripe is not answering; try again") from exc
    if price is None:
        raise errors.unavailable("plan_not_configured", "The paid plan is not on sale yet")
    with db.transaction(caller) as cur:
        cur.execute("select customer_id from public.member_subscriptions where user_id = %s", (caller.user_id,))
        known = cur.fetchone()
    try:
        session = payments.create_subscription_checkout(
            client, user_id=caller.user_id, email=caller.email, customer_id=known["customer_id"] if known else None,
            price_id=price.id, success_url=success_url, cancel_url=cancel_url)
    except stripe.StripeError as exc:
        raise errors.bad_gateway("payment_provider_unavailable", "Stripe is not answering; try again") from exc
    return {"checkout_url": session.url, "checkout_session_id": session.id}


def cancel(caller: db.Caller, client: stripe.StripeClient) -> dict:
    """Ends the subscription at the end of the paid period (the tier stays until then)."""
    with db.transaction(caller) as cur:
        cur.execute("select subscription_id from public.member_subscriptions where user_id = %s"
                    " and status in ('active', 'trialing', 'past_due')", (caller.user_id,))
        found = cur.fetchone()
    if found is None:
        raise errors.not_found("no_subscription", "There is no subscription to cancel")
    try:
        payments.cancel_subscription_at_period_end(client, found["subscription_id"])
    except stripe.StripeError as exc:
        raise errors.bad_gateway("payment_provider_unavailable", "Stripe is not answering; try again") from exc
    return {"cancel_at_period_end": True}
