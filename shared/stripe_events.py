"""What a Stripe webhook does, event type by event type.

Each event is verified on the raw body, then recorded by id in the same
transaction as its effects: a replay finds the id and does nothing; a failure
rolls back both, answers 5xx, and Stripe retries. Handlers are written
against the order's current state, so any order of delivery is safe; an
event that needs something not yet recorded (a refund before its payment)
answers 503 not_ready and comes back later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb
import stripe

from shared import db, errors, payments
from shared.config import Settings


@dataclass(frozen=True)
class Outcome:
    event_id: str
    type: str
    result: str
    order_id: str | None = None


def _order_id(obj: dict) -> str:
    order_id = (obj.get("metadata") or {}).get("order_id") or obj.get("client_reference_id")
    if not order_id:
        raise errors.bad_request("unknown_order", "The event names no Bookwell order")
    return order_id


def _session_completed(cur: psycopg.Cursor, session: dict) -> tuple[str, str]:
    order_id = _order_id(session)
    if session.get("payment_status") in ("paid", "no_payment_required"):
        return order_id, _record_payment(cur, order_id, session)
    cur.execute("select private.mark_order_processing(%s, %s) as changed", (order_id, session.get("payment_intent")))
    return order_id, "processing" if cur.fetchone()["changed"] else "unchanged"


def _record_payment(cur: psycopg.Cursor, order_id: str, session: dict) -> str:
    payment_id = session.get("payment_intent") or f"session:{session['id']}"
    cur.execute(
        "select private.record_payment(%s, 'stripe', %s, %s, %s) as result",
        (order_id, payment_id, session.get("amount_total") or 0, session.get("currency") or "gbp"),
    )
    return cur.fetchone()["result"]


def _async_succeeded(cur: psycopg.Cursor, session: dict) -> tuple[str, str]:
    order_id = _order_id(session)
    return order_id, _record_payment(cur, order_id, session)


def _close(status: str, reason: str) -> Callable[[psycopg.Cursor, dict], tuple[str, str]]:
    def handler(cur: psycopg.Cursor, session: dict) -> tuple[str, str]:
        order_id = _order_id(session)
        cur.execute("select private.close_unpaid_order(%s, %s, %s) as changed", (order_id, status, reason))
        return order_id, status if cur.fetchone()["changed"] else "unchanged"

    return handler


def _charge_refunded(cur: psycopg.Cursor, charge: dict, refunds: list[dict]) -> tuple[str | None, str]:
    cur.execute(
        "select private.apply_provider_refunds('stripe', %s, %s) as result",
        (charge.get("payment_intent"), Jsonb(refunds)),
    )
    return (charge.get("metadata") or {}).get("order_id"), cur.fetchone()["result"]


def _list_refunds(client: stripe.StripeClient, charge: dict) -> list[dict]:
    """The charge's refunds as Stripe lists them, matched to ours by metadata.refund_id."""
    try:
        page = client.v1.refunds.list(params={"payment_intent": charge.get("payment_intent"), "limit": 100})
    except stripe.StripeError as exc:
        raise errors.bad_gateway("payment_provider_unavailable", "Stripe did not list the refunds") from exc
    listed = [r.to_dict() for r in page.data]
    return [{"id": r["id"], "amount": r["amount"], "status": r["status"],
             "refund_id": (r.get("metadata") or {}).get("refund_id")} for r in listed]


def _dispute_created(cur: psycopg.Cursor, dispute: dict) -> tuple[str | None, str]:
    cur.execute(
        "select order_id from public.payments where provider = 'stripe' and provider_payment_id = %s",
        (dispute.get("payment_intent"),),
    )
    row = cur.fetchone()
    if row is None:
        raise errors.DomainError(503, "not_ready", "The disputed payment is not recorded yet")
    cur.execute("select private.flag_dispute(%s, %s) as flagged", (row["order_id"], dispute.get("reason")))
    return str(row["order_id"]), "flagged" if cur.fetchone()["flagged"] else "already_flagged"


HANDLERS: dict[str, Callable[..., tuple[str | None, str]]] = {
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": _async_succeeded,
    "checkout.session.async_payment_failed": _close("cancelled", "payment_failed"),
    "checkout.session.expired": _close("expired", "checkout_expired"),
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}

# What a handler needs from Stripe, fetched before the transaction opens.
PREFETCH: dict[str, Callable[[stripe.StripeClient, dict], object]] = {
    "charge.refunded": _list_refunds,
}


def handle(payload: bytes, signature: str | None, settings: Settings, client: stripe.StripeClient) -> Outcome:
    if not signature:
        raise errors.bad_request("missing_signature", "The Stripe-Signature header is missing")
    try:
        event = payments.verify_webhook(payload, signature, settings)
    except (stripe.SignatureVerificationError, ValueError):
        raise errors.bad_request("invalid_signature", "The webhook signature does not verify") from None

    handler = HANDLERS.get(event.type)
    if handler is None:
        return Outcome(event.id, event.type, "ignored")
    data = event.to_dict()["data"]["object"]
    extra = (PREFETCH[event.type](client, data),) if event.type in PREFETCH else ()
    with db.as_service() as cur:
        cur.execute("select private.record_webhook_event(%s, 'stripe', %s, %s) as new",
                    (event.id, event.type, Jsonb(event.to_dict())))
        if not cur.fetchone()["new"]:
            return Outcome(event.id, event.type, "duplicate")
        order_id, result = handler(cur, data, *extra)
        cur.execute("select private.set_webhook_outcome(%s, %s)", (event.id, result))
    return Outcome(event.id, event.type, result, order_id)
