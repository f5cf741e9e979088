"""Authorise now, capture later, for any kind of order (a chauffeur trip is authorised when booked and
captured at its final amount after it).

`authorise` opens the order's PaymentIntent with manual capture (the buyer confirms it with Stripe.js
and the client secret); Stripe's payment_intent.amount_capturable_updated webhook records the
authorisation (stripe_events). The area then asks Postgres, once, to capture an amount never above
the authorisation or to release it (private.request_settlement); `execute_pending` carries that out
at Stripe (cron, functions/settle-payments), with the order id in the idempotency key, and Stripe's
payment_intent.succeeded / canceled webhooks record the payment or close the order.

`pay_with_paypal` is the alternative: the total captured in advance by PayPal (shared/commerce/
paypal_checkout.py), the difference settled by the area afterwards.

Error codes: order_not_found, not_authorisable (routines/commerce/authorisations.sql),
payment_provider_unavailable, paypal_disabled.
"""

from __future__ import annotations

import stripe

from shared.commerce import paypal_checkout
from shared.platform import db, errors, log
from shared.platform.config import Settings
from shared.providers import payments


def authorise(caller: db.Caller, *, number: str, tracking_token: str, client: stripe.StripeClient) -> dict:
    """The PaymentIntent for the holder of the order's number and token: {payment_intent_id, client_secret,
    amount_minor, currency}. Asked again (another card after a decline), the order's own PaymentIntent,
    however long after: Stripe's idempotency keys last only 24 hours."""
    order = db.run(caller, lambda cur: cur.execute(
        "select private.order_to_authorise(%s, %s) as o", (number, tracking_token)).fetchone()["o"])
    if order is None:  # a wrong pair: answered after the transaction, so its failure stays counted
        raise errors.not_found("order_not_found", "No such order")
    if order["paypal_order_id"]:
        raise errors.conflict("not_authorisable", "This order is being paid with PayPal")
    try:
        if order["payment_intent_id"]:
            intent = payments.retrieve_payment_intent(client, order["payment_intent_id"])
        else:
            intent = payments.authorise(client, order_id=str(order["order_id"]), number=order["number"],
                                        amount_minor=order["amount_minor"], currency=order["currency"])
    except stripe.StripeError as exc:
        raise errors.bad_gateway("payment_provider_unavailable",
                                 "The payment provider is not answering; nothing was authorised. Try again.") from exc
    with db.as_service() as cur:
        cur.execute("select private.attach_payment_intent(%s, %s) as attached", (order["order_id"], intent.id))
        if not cur.fetchone()["attached"]:
            raise errors.conflict("not_authorisable", "The order changed meanwhile; it is not waiting for a payment")
    return {"payment_intent_id": intent.id, "client_secret": intent.client_secret,
            "amount_minor": intent.amount, "currency": order["currency"], "order_number": order["number"]}


def pay_with_paypal(caller: db.Caller, *, number: str, tracking_token: str, settings: Settings, success_url: str,
                    cancel_url: str) -> dict:
    """Instead of a card authorisation: the order's total paid in advance with PayPal (captured when the
    buyer comes back from approving; the area settles the difference afterwards, e.g. a trip's wait time
    as a balance due, or a refund). Asked again, the same PayPal order. {approve_url, amount_minor, ...}"""
    order = db.run(caller, lambda cur: cur.execute(
        "select private.order_to_authorise(%s, %s) as o", (number, tracking_token)).fetchone()["o"])
    if order is None:
        raise errors.not_found("order_not_found", "No such order")
    if order["payment_intent_id"]:
        raise errors.conflict("not_authorisable", "A card authorisation for this order is under way")
    url = order["checkout_url"] if order["paypal_order_id"] else paypal_checkout.open_order(
        paypal_checkout.order_for_payment(str(order["order_id"])), success_url=success_url, cancel_url=cancel_url,
        settings=settings, close_on_failure=False)
    return {"provider": "paypal", "approve_url": url, "amount_minor": order["total_minor"],
            "currency": order["currency"], "order_number": order["number"]}


def execute_pending(client: stripe.StripeClient, *, limit: int = 25) -> dict:
    """Capture or release the due settlements at Stripe. Safe to run concurrently and repeatedly."""
    with db.as_service() as cur:
        cur.execute("select * from private.claim_settlements(%s)", (limit,))
        due = cur.fetchall()
    done = failed = 0
    for settlement in due:
        order_id, intent = str(settlement["order_id"]), settlement["payment_intent_id"]
        try:
            if settlement["action"] == "capture":
                payments.capture(client, intent, settlement["amount_minor"], order_id=order_id)
            else:
                payments.release(client, intent, order_id=order_id)
            error = None
        except stripe.InvalidRequestError as exc:
            # Already captured or cancelled (a retry after a lost answer, or the authorisation lapsed): done,
            # the webhook of what happened settles the order; anything else is retried.
            current = payments.retrieve_payment_intent(client, intent)
            error = None if current.status in ("succeeded", "canceled") else f"{type(exc).__name__}: {exc}"
        except stripe.StripeError as exc:
            error = f"{type(exc).__name__}: {exc}"
        with db.as_service() as cur:
            cur.execute("select private.settlement_done(%s, %s)", (order_id, error))
        if error:
            failed += 1
            log.event("settlement_failed", order_id=order_id, action=settlement["action"], error=error[:500])
        else:
            done += 1
    return {"settled": done, "failed": failed}
