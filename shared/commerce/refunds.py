"""Refunds: asked for in Postgres (the amount rule lives there), executed at the
provider that took the payment (Stripe, or PayPal's capture refund) with the
refund's id as idempotency key, retried by cron until done.

Error codes (from private.request_refund): order_not_found, order_not_paid,
invalid_refund_amount, refund_exceeds_payment.
"""

from __future__ import annotations

import psycopg
import stripe

from shared.platform import db, log
from shared.platform.config import settings
from shared.providers import paypal, payments


def request_refund(cur: psycopg.Cursor, *, order_id: str, amount_minor: int | None, reason: str | None) -> dict:
    """An owner/admin's refund request (RLS + role check in Postgres). Returns the refund row."""
    cur.execute("select * from public.request_refund(%s, %s, %s)", (order_id, amount_minor, reason))
    return cur.fetchone()


def execute_pending(client: stripe.StripeClient, *, limit: int = 50, only: str | None = None) -> dict:
    """Send pending refunds to their provider. Safe to run concurrently and repeatedly."""
    with db.as_service() as cur:
        cur.execute(
            """
            select r.id, r.amount_minor, r.currency, r.order_id, p.provider, p.provider_payment_id
            from private.pending_refunds(%s) r join public.payments p on p.id = r.payment_id
            where p.provider in ('stripe', 'paypal') and (%s::uuid is null or r.id = %s::uuid)
            """,
            (limit, only, only),
        )
        pending = cur.fetchall()
    done = failed = 0
    for refund in pending:
        provider_refund_id, error, final = (_at_paypal(refund) if refund["provider"] == "paypal"
                                            else _at_stripe(client, refund))
        with db.as_service() as cur:
            cur.execute("select private.mark_refund_executed(%s, %s, %s, %s)",
                        (refund["id"], provider_refund_id, error, final))
        if error:
            failed += 1
            log.event("refund_failed", refund_id=str(refund["id"]), provider=refund["provider"], error=error)
        else:
            done += 1
    return {"executed": done, "failed": failed}


def _at_stripe(client: stripe.StripeClient, refund: dict) -> tuple[str | None, str | None, bool]:
    """(provider refund id, error, final): a refusal is final (e.g. more than remains after a dashboard
    refund), anything else is retried."""
    try:
        created = payments.create_refund(
            client, payment_intent=refund["provider_payment_id"], amount_minor=refund["amount_minor"],
            refund_id=str(refund["id"]), order_id=str(refund["order_id"]))
        return created.id, None, False
    except stripe.InvalidRequestError as exc:
        return None, f"{type(exc).__name__}: {exc.user_message or exc}", True
    except stripe.StripeError as exc:
        return None, f"{type(exc).__name__}: {exc.user_message or exc}", False


def _at_paypal(refund: dict) -> tuple[str | None, str | None, bool]:
    try:
        created = paypal.refund_capture(
            paypal.paypal_client(settings()), refund["provider_payment_id"], amount_minor=refund["amount_minor"],
            currency=refund["currency"], refund_id=str(refund["id"]))
        return created["refund_id"], None, False
    except paypal.PaypalRefused as exc:
        return None, f"PaypalRefused: {exc.issue or exc.name}", True
    except paypal.PaypalError as exc:
        return None, f"{type(exc).__name__}: {exc}", False
