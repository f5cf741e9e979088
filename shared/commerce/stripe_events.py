"""What a Stripe webhook does, event type by event type.

Each event is verified on the raw body, then recorded by id in the same
transaction as its effects: a replay finds the id and does nothing; a failure
rolls back both, answers 5xx, and Stripe retries. Handlers are written
against the order's current state, so any order of delivery is safe; an
event that needs something not yet recorded (a refund before its payment)
answers 503 not_ready and comes back later.

A Checkout Session acts only on the order it was opened for (the order's
recorded checkout_session_id), never on the order its metadata names: a
buyer can set that on a Payment Link of the same account. Another amount or
currency on the order's own session fulfils nothing and is refunded in full;
a session that is not ours is never attached to an order nor refunded
(private.record_checkout_payment). Refunds and disputes of a payment we do not
hold wait (503) only when the PaymentIntent was made by one of our sessions
(its metadata names our order); any other is not ours. Whatever is not ours
is recorded and acknowledged (unknown_order, foreign_session,
unknown_payment) so Stripe does not retry it for days.

An order paid by authorise-then-capture (shared/commerce/authorisations.py) is
found only by its own recorded PaymentIntent, never by metadata:
payment_intent.amount_capturable_updated records the authorisation (or, for an
order closed meanwhile, asks for it to be released), payment_intent.succeeded
records the captured payment, payment_intent.canceled closes the unpaid order,
payment_intent.payment_failed leaves it waiting for another card.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import uuid

import psycopg
from psycopg.types.json import Jsonb
import stripe

from shared.platform import db, errors, log
from shared.providers import payments
from shared.platform.config import Settings


@dataclass(frozen=True)
class Outcome:
    event_id: str
    type: str
    result: str
    order_id: str | None = None


def _named_order_id(session: dict) -> str | None:
    """The order a session's metadata names: only a hint, for money that must be given back."""
    named = (session.get("metadata") or {}).get("order_id") or session.get("client_reference_id")
    try:
        return str(uuid.UUID(str(named))) if named else None
    except ValueError:
        return None


def _session_order(cur: psycopg.Cursor, session: dict) -> str | None:
    """The order this Checkout Session was opened for, or None."""
    cur.execute("select private.order_of_checkout_session(%s) as order_id", (session.get("id"),))
    order_id = cur.fetchone()["order_id"]
    return str(order_id) if order_id else None


def _session_completed(cur: psycopg.Cursor, session: dict) -> tuple[str | None, str]:
    if session.get("mode") == "subscription":
        return None, "subscription_session"  # no order: the customer.subscription.* events carry it
    if session.get("payment_status") in ("paid", "no_payment_required"):
        return _record_payment(cur, session)
    order_id = _session_order(cur, session)
    if order_id is None:
        return None, "unknown_order"
    cur.execute("select private.mark_order_processing(%s, %s) as changed", (order_id, session.get("payment_intent")))
    return order_id, "processing" if cur.fetchone()["changed"] else "unchanged"


def _record_payment(cur: psycopg.Cursor, session: dict) -> tuple[str | None, str]:
    payment_id = session.get("payment_intent") or f"session:{session['id']}"
    cur.execute(
        "select private.record_checkout_payment(%s, %s, %s, %s, %s) as outcome",
        (session.get("id"), _named_order_id(session), payment_id, session.get("amount_total") or 0,
         session.get("currency") or ""),
    )
    outcome = cur.fetchone()["outcome"]
    return (str(outcome["order_id"]) if outcome["order_id"] else None), outcome["result"]


def _close(status: str, reason: str) -> Callable[[psycopg.Cursor, dict], tuple[str | None, str]]:
    def handler(cur: psycopg.Cursor, session: dict) -> tuple[str | None, str]:
        order_id = _session_order(cur, session)
        if order_id is None:
            return None, "unknown_order"
        cur.execute("select hold_expires_at is null and status = 'pending' as owed from public.orders where id = %s",
                    (order_id,))
        if cur.fetchone()["owed"]:
            # Money owed on something already delivered (a parking overstay): no hold to release, and the
            # debt stands; the next payment link is a new session.
            return order_id, "still_owed"
        cur.execute("select private.close_unpaid_order(%s, %s, %s) as changed", (order_id, status, reason))
        return order_id, status if cur.fetchone()["changed"] else "unchanged"

    return handler


def _recorded_payment(cur: psycopg.Cursor, payment_intent: str | None) -> dict | None:
    """Our record of a Stripe payment: its order, and whether it is what paid the order."""
    cur.execute("select p.order_id, p.provider_payment_id = o.payment_intent_id as pays_the_order"
                " from public.payments p join public.orders o on o.id = p.order_id"
                " where p.provider = 'stripe' and p.provider_payment_id = %s", (payment_intent,))
    return cur.fetchone()


def _not_recorded(facts: dict) -> tuple[None, str]:
    """A payment we do not hold: wait for it (503) when one of our sessions made it, else it is not ours."""
    if facts.get("ours"):
        raise errors.DomainError(503, "not_ready", "The payment is not recorded yet")
    return None, "unknown_payment"


def _charge_refunded(cur: psycopg.Cursor, charge: dict, facts: dict) -> tuple[str | None, str]:
    if _recorded_payment(cur, charge.get("payment_intent")) is None:
        return _not_recorded(facts)
    cur.execute(
        "select private.apply_provider_refunds('stripe', %s, %s) as result",
        (charge.get("payment_intent"), Jsonb(facts["refunds"])),
    )
    return (charge.get("metadata") or {}).get("order_id"), cur.fetchone()["result"]


def _stripe(call: Callable[[], object], what: str) -> object:
    try:
        return call()
    except stripe.StripeError as exc:
        raise errors.bad_gateway("payment_provider_unavailable", f"Stripe did not answer ({what})") from exc


def _made_by_our_session(client: stripe.StripeClient, payment_intent: str | None) -> bool:
    """Whether a PaymentIntent came from one of our Checkout Sessions: ours carry the order in their
    metadata (payment_intent_data), which a buyer cannot set on a Payment Link."""
    if not payment_intent:
        return False
    try:
        intent = client.v1.payment_intents.retrieve(payment_intent).to_dict()
    except stripe.InvalidRequestError:  # no such PaymentIntent on this account
        return False
    except stripe.StripeError as exc:
        raise errors.bad_gateway("payment_provider_unavailable", "Stripe did not answer (payment intent)") from exc
    named = (intent.get("metadata") or {}).get("order_id")
    if not named:
        return False
    with db.as_service() as cur:
        cur.execute("select exists (select 1 from public.orders where id::text = %s) as ours", (named,))
        return cur.fetchone()["ours"]


def _payment_facts(client: stripe.StripeClient, obj: dict) -> dict:
    """Read before the transaction: whether a payment we do not hold yet is ours, and (for a refund)
    the charge's refunds as Stripe lists them, matched to ours by metadata.refund_id."""
    payment_intent = obj.get("payment_intent")
    with db.as_service() as cur:
        recorded = _recorded_payment(cur, payment_intent) is not None
    facts: dict = {"ours": recorded or _made_by_our_session(client, payment_intent)}
    if obj.get("object") == "charge" and recorded:
        page = _stripe(lambda: client.v1.refunds.list(params={"payment_intent": payment_intent, "limit": 100}),
                       "refunds")
        facts["refunds"] = [{"id": r["id"], "amount": r["amount"], "status": r["status"],
                             "refund_id": (r.get("metadata") or {}).get("refund_id")}
                            for r in (x.to_dict() for x in page.data)]
    return facts


def _dispute_created(cur: psycopg.Cursor, dispute: dict, facts: dict) -> tuple[str | None, str]:
    payment = _recorded_payment(cur, dispute.get("payment_intent"))
    if payment is None:
        return _not_recorded(facts)
    if not payment["pays_the_order"]:
        # A dispute of stray money (a duplicate, a mismatched payment, refunded automatically): it does not
        # flag the order, so a later dispute of the order's own payment is still flagged and told.
        return str(payment["order_id"]), "stray_payment_disputed"
    cur.execute("select private.flag_dispute(%s, %s) as flagged", (payment["order_id"], dispute.get("reason")))
    return str(payment["order_id"]), "flagged" if cur.fetchone()["flagged"] else "already_flagged"


def _authorised(cur: psycopg.Cursor, intent: dict) -> tuple[str | None, str]:
    """A card authorised for an order paid by authorise-then-capture (shared/commerce/authorisations.py)."""
    cur.execute("select private.record_authorisation(%s, %s, %s) as r",
                (intent.get("id"), intent.get("amount_capturable") or 0, intent.get("currency") or ""))
    outcome = cur.fetchone()["r"]
    return (str(outcome["order_id"]) if outcome["order_id"] else None), outcome["result"]


def _direct_order(cur: psycopg.Cursor, intent: dict) -> str | None:
    """The order this PaymentIntent was opened for directly (not by a Checkout Session), or None."""
    cur.execute("select id from public.orders where payment_intent_id = %s and checkout_session_id is null",
                (intent.get("id"),))
    found = cur.fetchone()
    return str(found["id"]) if found else None


def _not_direct(cur: psycopg.Cursor, intent: dict) -> tuple[str | None, str]:
    """A PaymentIntent that is no order's own: one of our Checkout Sessions' (its session events record
    it: acknowledged as such, not reported as foreign), or not ours at all."""
    cur.execute("select id from public.orders where payment_intent_id = %s and checkout_session_id is not null",
                (intent.get("id"),))
    found = cur.fetchone()
    return (str(found["id"]), "session_payment") if found else (None, "unknown_payment")


def _intent_succeeded(cur: psycopg.Cursor, intent: dict) -> tuple[str | None, str]:
    """A capture: the order's payment, of the amount Stripe received."""
    order_id = _direct_order(cur, intent)
    if order_id is None:
        return _not_direct(cur, intent)
    cur.execute("select private.record_payment(%s, 'stripe', %s, %s, %s) as outcome",
                (order_id, intent["id"], intent.get("amount_received") or 0, intent.get("currency") or ""))
    return order_id, cur.fetchone()["outcome"]


def _intent_canceled(cur: psycopg.Cursor, intent: dict) -> tuple[str | None, str]:
    """An authorisation released (by us, or lapsed): the unpaid order closes."""
    order_id = _direct_order(cur, intent)
    if order_id is None:
        return _not_direct(cur, intent)
    cur.execute("select private.close_unpaid_order(%s, 'cancelled', 'authorisation_released') as changed", (order_id,))
    return order_id, "cancelled" if cur.fetchone()["changed"] else "unchanged"


def _intent_failed(cur: psycopg.Cursor, intent: dict) -> tuple[str | None, str]:
    """A declined card: the order keeps waiting (the buyer may try another card)."""
    return _direct_order(cur, intent), "payment_failed"


HANDLERS: dict[str, Callable[..., tuple[str | None, str]]] = {
    "payment_intent.amount_capturable_updated": _authorised,
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.canceled": _intent_canceled,
    "payment_intent.payment_failed": _intent_failed,
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": _record_payment,
    "checkout.session.async_payment_failed": _close("cancelled", "payment_failed"),
    "checkout.session.expired": _close("expired", "checkout_expired"),
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}

# What a handler needs from Stripe, fetched before the transaction opens.
PREFETCH: dict[str, Callable[[stripe.StripeClient, dict], object]] = {
    "charge.refunded": _payment_facts,
    "charge.dispute.created": _payment_facts,
}


def register(event_type: str, handler: Callable[..., tuple[str | None, str]],
             prefetch: Callable[[stripe.StripeClient, dict], object] | None = None) -> None:
    """An area's handler for Stripe events that are not about orders (e.g. the member app's subscriptions):
    it runs in the event's transaction, after the event is recorded, and answers (order id or None, result)."""
    HANDLERS[event_type] = handler
    if prefetch is not None:
        PREFETCH[event_type] = prefetch


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
        # The event as Stripe sent it (the SDK's to_dict turns decimal strings, e.g. a price's
        # unit_amount_decimal, into Decimals that JSON cannot hold).
        cur.execute("select private.record_webhook_event(%s, 'stripe', %s, %s) as new",
                    (event.id, event.type, Jsonb(json.loads(payload))))
        if not cur.fetchone()["new"]:
            return Outcome(event.id, event.type, "duplicate")
        order_id, result = handler(cur, data, *extra)
        cur.execute("select private.set_webhook_outcome(%s, %s)", (event.id, result))
    if result in ("unknown_order", "foreign_session", "unknown_payment", "mismatch_refunded"):
        log.event("stripe_payment_mismatch" if result == "mismatch_refunded" else "stripe_event_not_ours",
                  event_id=event.id, type=event.type, object_id=data.get("id"), order_id=order_id, result=result)
    return Outcome(event.id, event.type, result, order_id)
