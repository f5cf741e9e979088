"""Expiring checkout holds (cron).

For each pending order whose hold has run out: first expire its Checkout
Session at Stripe, so nobody can pay for a seat that goes back on sale; if
Stripe says the session was already completed, the money is recorded instead
(the late-payment rules apply; another amount or currency is refunded and the
order closed). A PayPal order the buyer approved but whose capture never
happened (they closed the tab, the webhook is late) is captured now instead.
Only then is an order still unpaid closed. No database
lock is held while Stripe is called: the webhook that Stripe sends for the
same session may arrive meanwhile and is handled on its own.
"""

from __future__ import annotations

import stripe

from shared.commerce import paypal_checkout
from shared.platform import db, errors, log
from shared.platform.config import settings
from shared.providers import payments


def expire_holds(client: stripe.StripeClient, *, limit: int = 200) -> dict:
    with db.as_service() as cur:
        cur.execute("select id, checkout_session_id, paypal_order_id from private.due_expired_orders(%s)", (limit,))
        due = cur.fetchall()
    counts = {"expired": 0, "paid": 0, "processing": 0, "skipped": 0, "failed": 0}
    for order in due:
        if order["paypal_order_id"]:
            outcome = _capture_if_approved(order)
            if outcome != "unpaid":
                counts[outcome] += 1
                continue
        session_id = order["checkout_session_id"]
        if session_id:
            try:
                session = payments.expire_checkout_session(client, session_id)
            except stripe.InvalidRequestError:
                session = payments.retrieve_checkout_session(client, session_id)
            except stripe.StripeError as exc:
                # Leave the hold alone: releasing seats a buyer may still pay for is worse.
                log.event("expire_hold_failed", order_id=str(order["id"]), error=type(exc).__name__)
                counts["failed"] += 1
                continue
            if session.status == "complete" and session.payment_status == "unpaid":
                # The buyer finished checkout and a bank debit is on its way: keep the hold.
                with db.as_service() as cur:
                    cur.execute("select private.mark_order_processing(%s, %s)", (order["id"], session.payment_intent))
                counts["processing"] += 1
                continue
            if session.status == "complete" and session.payment_status == "paid":
                # The webhook's own path (private.record_checkout_payment): the full amount in the order's
                # currency pays it; anything else is refunded and closes it.
                with db.as_service() as cur:
                    cur.execute("select private.record_checkout_payment(%s, null, %s, %s, %s) as outcome",
                                (session_id, session.payment_intent, session.amount_total, session.currency or ""))
                    result = cur.fetchone()["outcome"]["result"]
                if result in ("fulfilled", "late_fulfilled", "late_refunded", "already_paid", "duplicate_refunded"):
                    counts["paid"] += 1
                    continue
        with db.as_service() as cur:
            cur.execute("select private.close_unpaid_order(%s, 'expired', 'hold_expired') as changed", (order["id"],))
            counts["expired" if cur.fetchone()["changed"] else "skipped"] += 1
    return counts


def _capture_if_approved(order: dict) -> str:
    """paid (captured now), unpaid (never approved, declined, or gone at PayPal) or failed (PayPal down:
    the hold stays, as for Stripe)."""
    try:
        captured = paypal_checkout.capture(order["paypal_order_id"], settings())
    except errors.DomainError as exc:
        if (exc.details or {}).get("provider_error") == "PaypalUnavailable":
            log.event("expire_hold_failed", order_id=str(order["id"]), error=exc.code)
            return "failed"
        return "unpaid"
    return "paid" if captured["result"] in ("fulfilled", "late_fulfilled", "late_refunded", "already_paid") else "unpaid"
