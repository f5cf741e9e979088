"""Refunds: asked for in Postgres (the amount rule lives there), executed at
Stripe with the refund's id as idempotency key, retried by cron until done.

Error codes (from private.request_refund): order_not_found, order_not_paid,
invalid_refund_amount, refund_exceeds_payment.
"""

from __future__ import annotations

import psycopg
import stripe

from shared.platform import db, log
from shared.providers import payments


def request_refund(cur: psycopg.Cursor, *, order_id: str, amount_minor: int | None, reason: str | None) -> dict:
    """An owner/admin's refund request (RLS + role check in Postgres). Returns the refund row."""
    cur.execute("select * from public.request_refund(%s, %s, %s)", (order_id, amount_minor, reason))
    return cur.fetchone()


def execute_pending(client: stripe.StripeClient, *, limit: int = 50, only: str | None = None) -> dict:
    """Send pending refunds to Stripe. Safe to run concurrently and repeatedly."""
    with db.as_service() as cur:
        cur.execute(
            """
            select r.id, r.amount_minor, r.order_id, p.provider_payment_id as payment_intent_id
            from private.pending_refunds(%s) r join public.payments p on p.id = r.payment_id
            where p.provider = 'stripe' and (
            %s::uuid is null or r.id = %s::uuid)
            """,
            (limit, only, only),
        )
        pending = cur.fetchall()
    done = failed = 0
    for refund in pending:
        final = False
        try:
            created = payments.create_refund(
                client, payment_intent=refund["payment_intent_id"], amount_minor=refund["amount_minor"],
                refund_id=str(refund["id"]), order_id=str(refund["order_id"]))
            error = None
        except stripe.InvalidRequestError as exc:
            # Refused for good (e.g. more than remains after a dashboard refund): stop retrying.
            created, error, final = None, f"{type(exc).__name__}: {exc.user_message or exc}", True
        except stripe.StripeError as exc:
            created, error = None, f"{type(exc).__name__}: {exc.user_message or exc}"
        with db.as_service() as cur:
            cur.execute("select private.mark_refund_executed(%s, %s, %s, %s)",
                        (refund["id"], created.id if created else None, error, final))
        if error:
            failed += 1
            log.event("refund_failed", refund_id=str(refund["id"]), error=error)
        else:
            done += 1
    return {"executed": done, "failed": failed}
