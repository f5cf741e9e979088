"""PayPal for every kind of order: open the PayPal order, capture it when the buyer has approved, and
what PayPal's webhooks do.

1. Checkout (shared/commerce/checkout.py, the buyer chose "paypal") opens a PayPal order for the
   pending order (intent CAPTURE, PayPal-Request-Id `order:<id>`) and records it with its approval
   page (private.attach_paypal_order). PayPal down: the order is cancelled, its capacity and promo
   go back, and the caller gets a 502.
2. The buyer approves on PayPal and is sent to functions/paypal-return, which captures (PayPal-
   Request-Id `capture:<id>`: twice is once) and records the capture as the order's payment
   (private.record_paypal_capture), then sends the buyer on to the checkout's success_url. A buyer
   who never comes back is captured by the CHECKOUT.ORDER.APPROVED webhook instead.
3. Webhooks are verified by PayPal (verify-webhook-signature: the body is never trusted alone), and
   recorded once by event id with their effects in one transaction. PAYMENT.CAPTURE.COMPLETED records
   a capture we missed; PAYMENT.CAPTURE.REFUNDED confirms our refund (its custom_id is our refund id)
   or records one made in PayPal's dashboard. An event about a payment not recorded yet answers 503,
   and PayPal delivers it again later.

A capture after the hold expired is a late payment like Stripe's (private.record_payment): the goods
are taken again if they are still there, else the money is refunded automatically.

Error codes: payment_provider_unavailable, paypal_not_approved, paypal_declined, unknown_paypal_order,
invalid_signature, paypal_disabled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from shared.platform import db, errors, log
from shared.platform.config import Settings
from shared.providers import paypal

CAPTURED = ("fulfilled", "late_fulfilled", "late_refunded", "already_paid", "duplicate_refunded",
            "mismatch_refunded")


def require_enabled(settings: Settings, *, order_id: str | None = None) -> None:
    """422 paypal_disabled when this deployment has no PayPal, or the `paypal` feature flag is off for
    the order's organization (or, with no order, for the platform)."""
    offered = settings.paypal.enabled
    if offered:
        with db.as_service() as cur:
            cur.execute("select private.feature_enabled('paypal', (select org_id from public.orders where id = %s))"
                        " as on", (order_id,))
            offered = cur.fetchone()["on"]
    if not offered:
        raise errors.unprocessable("paypal_disabled", "PayPal is not offered here; choose another way to pay",
                                   {"field": "provider"})


def open_order(order: dict, *, success_url: str, cancel_url: str, settings: Settings,
               close_on_failure: bool) -> str:
    """Open the PayPal order of a pending order and record it; returns the buyer's approval URL.
    PayPal switched off for the order's organization: 422, and the order closed if `close_on_failure`."""
    try:
        require_enabled(settings, order_id=order["order_id"])
    except errors.DomainError:
        if close_on_failure:
            with db.as_service() as cur:
                cur.execute("select private.close_unpaid_order(%s, 'cancelled', 'paypal_disabled')",
                            (order["order_id"],))
        raise
    try:
        paypal_order_id, approve_url = paypal.create_order(
            paypal.paypal_client(settings), order, return_url=settings.paypal.return_base, cancel_url=cancel_url)
    except (paypal.PaypalError, ValueError) as exc:
        if close_on_failure:
            with db.as_service() as cur:
                cur.execute("select private.close_unpaid_order(%s, 'cancelled', 'payment_provider_unavailable')",
                            (order["order_id"],))
        raise errors.bad_gateway(
            "payment_provider_unavailable",
            "PayPal is not answering; nothing was reserved. Please try again." if close_on_failure
            else "PayPal is not answering; please try again.", {"provider_error": type(exc).__name__}) from exc
    with db.as_service() as cur:
        cur.execute("select private.attach_paypal_order(%s, %s, %s, %s)",
                    (order["order_id"], paypal_order_id, approve_url, success_url))
    return approve_url


def order_for_payment(order_id: str) -> dict:
    """An order as a payment page needs it: number, currency, total and its lines."""
    with db.as_service() as cur:
        cur.execute("select o.id as order_id, o.number, o.currency, o.total_minor, o.buyer_email, o.hold_expires_at,"
                    " (select coalesce(jsonb_agg(jsonb_build_object('description', i.description, 'quantity',"
                    "   i.quantity, 'unit_price_minor', i.unit_price_minor, 'discount_minor', i.discount_minor,"
                    "   'total_minor', i.total_minor) order by i.created_at, i.description), '[]')"
                    "  from public.order_items i where i.order_id = o.id) as items"
                    " from public.orders o where o.id = %s", (order_id,))
        return cur.fetchone()


def _order(paypal_order_id: str) -> dict | None:
    with db.as_service() as cur:
        cur.execute("select * from private.order_of_paypal_order(%s)", (paypal_order_id,))
        found = cur.fetchone()
    return found if found and found["id"] else None


def order_for_return(paypal_order_id: str) -> dict:
    """Where the buyer of this PayPal order goes back to: {order_id, number, return_url}."""
    order = _order(paypal_order_id)
    if order is None:
        raise errors.not_found("unknown_paypal_order", "No order of ours was opened with this PayPal order")
    return {"order_id": str(order["id"]), "number": order["number"], "return_url": order["payment_return_url"]}


def capture(paypal_order_id: str, settings: Settings) -> dict:
    """Capture an approved PayPal order and record the payment: {order_id, number, result, return_url}."""
    order = _order(paypal_order_id)
    if order is None:
        raise errors.not_found("unknown_paypal_order", "No order of ours was opened with this PayPal order")
    try:
        captured = paypal.capture_order(paypal.paypal_client(settings), paypal_order_id, order_id=str(order["id"]))
    except paypal.PaypalRefused as exc:
        if exc.issue == "ORDER_NOT_APPROVED":
            raise errors.conflict("paypal_not_approved", "The buyer has not approved this payment at PayPal") from exc
        if exc.issue == "INSTRUMENT_DECLINED":
            raise errors.DomainError(402, "paypal_declined", "PayPal declined the payment; choose another way to pay"
                                     " at PayPal", {"approve_url": order["checkout_url"]}) from exc
        raise errors.bad_gateway("payment_provider_unavailable", "PayPal refused the capture",
                                 {"provider_error": exc.name, "issue": exc.issue}) from exc
    except paypal.PaypalUnavailable as exc:
        raise errors.bad_gateway("payment_provider_unavailable", "PayPal is not answering; please try again",
                                 {"provider_error": type(exc).__name__}) from exc
    result = "pending"
    if captured["status"] == "COMPLETED":
        with db.as_service() as cur:
            result = _record_capture(cur, paypal_order_id, captured)[1]
    return {"order_id": str(order["id"]), "number": order["number"], "result": result,
            "return_url": order["payment_return_url"]}


def _record_capture(cur: psycopg.Cursor, paypal_order_id: str, captured: dict) -> tuple[str | None, str]:
    cur.execute("select private.record_paypal_capture(%s, %s, %s, %s) as r",
                (paypal_order_id, captured["capture_id"], captured["amount_minor"], captured["currency"]))
    recorded = cur.fetchone()["r"]
    return (str(recorded["order_id"]) if recorded["order_id"] else None), recorded["result"]


# ---------------------------------------------------------------------------------------------- webhooks

@dataclass(frozen=True)
class Outcome:
    event_id: str
    type: str
    result: str
    order_id: str | None = None


def _capture_of(resource: dict) -> dict:
    amount = resource.get("amount") or {}
    currency = amount.get("currency_code") or ""
    return {"capture_id": resource.get("id"), "status": resource.get("status"), "currency": currency,
            "amount_minor": paypal.from_paypal_value(amount["value"], currency) if amount.get("value") else None}


def _capture_completed(cur: psycopg.Cursor, resource: dict) -> tuple[str | None, str]:
    paypal_order_id = ((resource.get("supplementary_data") or {}).get("related_ids") or {}).get("order_id")
    if not paypal_order_id:
        return None, "unknown_order"
    return _record_capture(cur, paypal_order_id, _capture_of(resource))


def _approved(cur: psycopg.Cursor, resource: dict, captured: dict | None) -> tuple[str | None, str]:
    """The buyer approved but may never come back: the capture was taken before this transaction."""
    if captured is None:
        return None, "unknown_order"
    if captured["status"] != "COMPLETED":
        return None, "capture_pending"
    return _record_capture(cur, resource["id"], captured)


def _refunded(cur: psycopg.Cursor, resource: dict) -> tuple[str | None, str]:
    up = next((link["href"] for link in resource.get("links") or [] if link.get("rel") == "up"), "")
    capture_id = up.rstrip("/").rsplit("/", 1)[-1] if "/captures/" in up else None
    if not capture_id:
        return None, "unknown_payment"
    amount = resource.get("amount") or {}
    status = {"COMPLETED": "succeeded", "PENDING": "pending", "FAILED": "failed",
              "CANCELLED": "canceled"}.get(resource.get("status"), "pending")
    cur.execute("select private.apply_provider_refunds('paypal', %s, %s) as result",
                (capture_id, Jsonb([{"id": resource.get("id"), "status": status, "refund_id": resource.get("custom_id"),
                                     "amount": paypal.from_paypal_value(amount["value"], amount["currency_code"])}])))
    result = cur.fetchone()["result"]
    cur.execute("select order_id from public.payments where provider = 'paypal' and provider_payment_id = %s",
                (capture_id,))
    return str(cur.fetchone()["order_id"]), result


def _capture_if_ours(settings: Settings, resource: dict) -> dict | None:
    """Before the transaction, for CHECKOUT.ORDER.APPROVED: capture it if it is one of our orders."""
    order = _order(resource.get("id") or "")
    if order is None:
        return None
    try:
        return paypal.capture_order(paypal.paypal_client(settings), order["paypal_order_id"], order_id=str(order["id"]))
    except paypal.PaypalRefused as exc:
        log.event("paypal_capture_refused", paypal_order_id=order["paypal_order_id"], issue=exc.issue)
        return {"status": exc.issue or exc.name}
    except paypal.PaypalUnavailable as exc:
        raise errors.unavailable("payment_provider_unavailable", "PayPal is not answering") from exc


def handle(body: bytes, headers: Mapping[str, str], settings: Settings) -> Outcome:
    try:
        event = paypal.verify_webhook(headers, body, settings)
    except paypal.PaypalWebhookInvalid as exc:
        raise errors.bad_request("invalid_signature", "The webhook signature does not verify") from exc
    except paypal.PaypalError as exc:  # PayPal cannot verify now: it delivers the event again later
        raise errors.unavailable("payment_provider_unavailable", "PayPal is not answering") from exc
    event_id, kind, resource = event.get("id"), event.get("event_type"), event.get("resource") or {}
    if kind not in ("CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.REFUNDED"):
        return Outcome(event_id, kind, "ignored")
    captured = _capture_if_ours(settings, resource) if kind == "CHECKOUT.ORDER.APPROVED" else None
    with db.as_service() as cur:
        cur.execute("select private.record_webhook_event(%s, 'paypal', %s, %s) as new", (event_id, kind, Jsonb(event)))
        if not cur.fetchone()["new"]:
            return Outcome(event_id, kind, "duplicate")
        if kind == "CHECKOUT.ORDER.APPROVED":
            order_id, result = _approved(cur, resource, captured)
        elif kind == "PAYMENT.CAPTURE.COMPLETED":
            order_id, result = _capture_completed(cur, resource)
        else:
            order_id, result = _refunded(cur, resource)
        cur.execute("select private.set_webhook_outcome(%s, %s)", (event_id, result))
    if result in ("unknown_order", "unknown_payment", "mismatch_refunded"):
        log.event("paypal_event_not_ours", event_id=event_id, type=kind, object_id=resource.get("id"), result=result)
    return Outcome(event_id, kind, result, order_id)
