"""Stripe, through the official SDK. Built in one place; only the base URL
changes for the local stand-in. Services receive the client as an argument."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Any

import stripe

from shared.platform.config import Settings

# Stripe refuses Checkout Sessions that expire sooner than 30 minutes from now.
STRIPE_MIN_SESSION = timedelta(minutes=30, seconds=60)
# ... and those that expire later than 24 hours from now.
STRIPE_MAX_SESSION = timedelta(hours=23, minutes=50)


def stripe_client(settings: Settings) -> stripe.StripeClient:
    """One client per key and base URL per process (building one costs milliseconds of TLS setup)."""
    return _client(settings.stripe.secret_key, settings.stripe.base, settings.runtime.provider_timeout_seconds)


@functools.lru_cache(maxsize=8)
def _client(api_key: str, base: str | None, timeout: float) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": base} if base else None, max_network_retries=2,
                               http_client=stripe.new_default_http_client(timeout=timeout))


def verify_webhook(payload: bytes, signature: str, settings: Settings) -> stripe.Event:
    """The event, if the signature is good and fresh (300 s tolerance); raises otherwise."""
    return stripe.Webhook.construct_event(payload, signature, settings.stripe.webhook_secret, tolerance=300)


def checkout_line_items(order: dict) -> list[dict[str, Any]]:
    """Line items whose amounts add up exactly to the order total.

    A discounted line is sent as one line for its whole total, so Stripe
    charges exactly what Postgres computed."""
    currency = order["currency"].lower()
    lines = []
    for item in order["items"]:
        if item["discount_minor"]:
            name, amount, quantity = f"{item['description']} x {item['quantity']} (discounted)", item["total_minor"], 1
        else:
            name, amount, quantity = item["description"], item["unit_price_minor"], item["quantity"]
        lines.append({
            "price_data": {"currency": currency, "unit_amount": amount, "product_data": {"name": name[:250]}},
            "quantity": quantity,
        })
    return lines


def create_checkout_session(client: stripe.StripeClient, order: dict, *, success_url: str, cancel_url: str,
                            now: datetime | None = None, hold_note: str | None = None,
                            replacing: str | None = None) -> stripe.checkout.Session:
    """A Checkout Session for a pending order; the order id travels in metadata.

    Stripe needs at least 30 minutes: when the hold is shorter, the expiry job
    expires the session at Stripe when the hold ends. `hold_note` (when the hold
    ends, in words) is shown on Stripe's page beside the pay button, so the
    buyer is told the hold's end rather than the page's."""
    now = now or datetime.now(timezone.utc)
    hold_end = datetime.fromisoformat(order["hold_expires_at"]) if isinstance(order["hold_expires_at"], str) \
        else order["hold_expires_at"]
    # An order without a hold (money owed, e.g. a parking overstay) gets the longest session Stripe allows.
    expires_at = max(hold_end, now + STRIPE_MIN_SESSION) if hold_end else now + STRIPE_MAX_SESSION
    metadata = {"order_id": str(order["order_id"]), "order_number": order["number"]}
    return client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": checkout_line_items(order),
            "customer_email": order["buyer_email"],
            "client_reference_id": str(order["order_id"]),
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
            "expires_at": int(expires_at.timestamp()),
            **({"custom_text": {"submit": {"message": hold_note[:1200]}}} if hold_note else {}),
        },
        # One session per order, so a retry is answered with it; a session opened to replace an expired
        # one (`replacing`, money still owed) is a new request, with a key of its own.
        options={"idempotency_key": f"checkout:{order['order_id']}" + (f":after:{replacing}" if replacing else "")},
    )


def expire_checkout_session(client: stripe.StripeClient, session_id: str) -> stripe.checkout.Session:
    return client.v1.checkout.sessions.expire(session_id)


def retrieve_checkout_session(client: stripe.StripeClient, session_id: str) -> stripe.checkout.Session:
    return client.v1.checkout.sessions.retrieve(session_id)


def create_refund(client: stripe.StripeClient, *, payment_intent: str, amount_minor: int, refund_id: str,
                  order_id: str) -> stripe.Refund:
    return client.v1.refunds.create(
        params={"payment_intent": payment_intent, "amount": amount_minor,
                "metadata": {"refund_id": refund_id, "order_id": order_id}},
        options={"idempotency_key": f"refund:{refund_id}"},
    )


def authorise(client: stripe.StripeClient, *, order_id: str, number: str, amount_minor: int,
              currency: str) -> stripe.PaymentIntent:
    """A PaymentIntent with manual capture for a pending order: the card is authorised now, captured later.
    One per order (the order id is the idempotency key). No receipt_email: our own receipt lists the
    final breakdown, and Stripe would send a second one."""
    metadata = {"order_id": order_id, "order_number": number}
    return client.v1.payment_intents.create(
        params={"amount": amount_minor, "currency": currency.lower(), "capture_method": "manual",
                "metadata": metadata, "description": f"Order {number}"},
        options={"idempotency_key": f"authorise:{order_id}"},
    )


def retrieve_payment_intent(client: stripe.StripeClient, payment_intent_id: str) -> stripe.PaymentIntent:
    return client.v1.payment_intents.retrieve(payment_intent_id)


def capture(client: stripe.StripeClient, payment_intent_id: str, amount_minor: int, *, order_id: str) -> stripe.PaymentIntent:
    return client.v1.payment_intents.capture(payment_intent_id, params={"amount_to_capture": amount_minor},
                                             options={"idempotency_key": f"capture:{order_id}"})


def release(client: stripe.StripeClient, payment_intent_id: str, *, order_id: str) -> stripe.PaymentIntent:
    return client.v1.payment_intents.cancel(payment_intent_id, params={"cancellation_reason": "requested_by_customer"},
                                            options={"idempotency_key": f"release:{order_id}"})


# ------------------------------------------------------------ saved cards

def ensure_customer(client: stripe.StripeClient, *, user_id: str, email: str) -> stripe.Customer:
    """The Stripe Customer that holds one user's saved cards. Stripe keeps an idempotency key for 24 hours
    only, so this is "once" within a day: the caller stores the id and never calls this again for the user."""
    return client.v1.customers.create(
        params={**({"email": email} if email else {}), "metadata": {"user_id": user_id}},
        options={"idempotency_key": f"customer:{user_id}"},
    )


def create_setup_intent(client: stripe.StripeClient, *, customer_id: str, user_id: str) -> stripe.SetupIntent:
    """A SetupIntent that saves a card to the customer for charging later without the buyer (off_session);
    the buyer's page confirms it with its client_secret. No idempotency key of ours: every "add a card" is a
    new attempt (the SDK's own key covers its retries)."""
    return client.v1.setup_intents.create(
        params={"customer": customer_id, "usage": "off_session", "allowed_payment_method_types": ["card"],
                "metadata": {"user_id": user_id}},
    )


def retrieve_setup_intent(client: stripe.StripeClient, setup_intent_id: str) -> stripe.SetupIntent:
    return client.v1.setup_intents.retrieve(setup_intent_id)


def retrieve_payment_method(client: stripe.StripeClient, pm_id: str) -> stripe.PaymentMethod:
    return client.v1.payment_methods.retrieve(pm_id)


def list_payment_methods(client: stripe.StripeClient, customer_id: str) -> list[stripe.PaymentMethod]:
    """Every card saved to the customer, newest first (all pages)."""
    page = client.v1.customers.payment_methods.list(customer_id, params={"type": "card", "limit": 100})
    return list(page.auto_paging_iter())


def detach_payment_method(client: stripe.StripeClient, pm_id: str) -> stripe.PaymentMethod:
    """Forget a saved card at Stripe; a detached card can never be used again."""
    return client.v1.payment_methods.detach(pm_id)


def charge_saved_card(client: stripe.StripeClient, *, order: dict, customer_id: str,
                      payment_method_id: str) -> stripe.PaymentIntent:
    """Charge an order's total to a card the buyer saved, without the buyer (off_session), captured at once.
    One charge per order (the order id is the idempotency key). A decline raises stripe.CardError
    (code card_declined); the PaymentIntent is then left requires_payment_method."""
    metadata = {"order_id": str(order["order_id"]), "order_number": order["number"]}
    return client.v1.payment_intents.create(
        params={"amount": order["total_minor"], "currency": order["currency"].lower(), "customer": customer_id,
                "payment_method": payment_method_id, "off_session": True, "confirm": True,
                "metadata": metadata, "description": f"Order {order['number']}"},
        options={"idempotency_key": f"saved:{order['order_id']}"},
    )


# ----------------------------------------------------------- subscriptions

def create_subscription_checkout(client: stripe.StripeClient, *, user_id: str, email: str | None,
                                 customer_id: str | None, price_id: str, success_url: str,
                                 cancel_url: str) -> stripe.checkout.Session:
    """A Checkout Session (mode subscription) that subscribes one user to one recurring price.

    The user id travels as client_reference_id and as metadata user_id on both the session and the
    subscription it makes (subscription_data), so customer.subscription.* events carry it too. An
    existing customer is reused (Stripe takes customer or customer_email, not both); otherwise Checkout
    makes one from the email. No idempotency key of ours: each call is a new attempt."""
    metadata = {"user_id": user_id}
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": price_id, "quantity": 1}],
        "client_reference_id": user_id,
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if customer_id:
        params["customer"] = customer_id
    elif email:
        params["customer_email"] = email
    return client.v1.checkout.sessions.create(params=params)


def retrieve_subscription(client: stripe.StripeClient, subscription_id: str) -> stripe.Subscription:
    return client.v1.subscriptions.retrieve(subscription_id)


def cancel_subscription_at_period_end(client: stripe.StripeClient, subscription_id: str) -> stripe.Subscription:
    """Stop renewing: the subscription stays active until its current period ends, then Stripe cancels it
    (customer.subscription.deleted). Asking twice changes nothing."""
    return client.v1.subscriptions.update(subscription_id, params={"cancel_at_period_end": True})


def price_by_lookup_key(client: stripe.StripeClient, lookup_key: str) -> stripe.Price | None:
    """The active price that holds `lookup_key` (a lookup key names at most one price), or None."""
    page = client.v1.prices.list(params={"lookup_keys": [lookup_key], "active": True, "limit": 1})
    return page.data[0] if page.data else None
