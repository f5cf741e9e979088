"""Checkout for ticket orders: hold capacity, then open a Stripe Checkout Session.

One transaction, as the caller (guest or signed in), validates everything,
redeems the promo code, claims seats and creates the order
(`public.place_ticket_order`). Only then is Stripe called, outside any
transaction. If Stripe fails, the order is cancelled at once (seats and promo
go back) and the caller gets a 502. A free order never reaches Stripe.

Error codes: invalid_return_url, payment_provider_unavailable, and those of
private.place_ticket_order (see the ticketing migration).
"""

from __future__ import annotations

from urllib.parse import urlsplit
from uuid import UUID

from psycopg.types.json import Jsonb
import stripe
from pydantic import BaseModel, ConfigDict, Field

from shared import db, errors, payments
from shared.config import Settings


class CheckoutItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier_id: UUID
    quantity: int = Field(ge=1, le=100, strict=True)


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: UUID
    items: list[CheckoutItem] = Field(min_length=1, max_length=20)
    buyer_email: str | None = Field(default=None, max_length=320)
    buyer_name: str | None = Field(default=None, max_length=200)
    promo_code: str | None = Field(default=None, max_length=40)
    success_url: str = Field(max_length=2000)
    cancel_url: str = Field(max_length=2000)
    idempotency_key: str | None = Field(default=None, min_length=8, max_length=200)


def check_return_url(url: str, settings: Settings, field: str) -> None:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme not in ("http", "https") or not parts.netloc or origin not in settings.return_origins:
        raise errors.unprocessable(
            "invalid_return_url", f"{field} must start with one of the configured origins",
            {"field": field, "allowed": settings.return_origins})


def place_order(caller: db.Caller, req: CheckoutRequest, idempotency_key: str | None,
                settings: Settings) -> dict:
    items = [{"tier_id": str(i.tier_id), "quantity": i.quantity} for i in req.items]

    def place(cur) -> dict:
        cur.execute(
            "select private.place_ticket_order(%s, %s, %s, %s, %s, %s, %s, make_interval(mins => %s)) as summary",
            (req.event_id, Jsonb(items), req.buyer_email, req.buyer_name, req.promo_code,
             idempotency_key, _request_hash(req), settings.checkout_hold_minutes),
        )
        return cur.fetchone()["summary"]

    return db.run(caller, place)


def _request_hash(req: CheckoutRequest) -> str:
    import hashlib

    return hashlib.sha256(req.model_dump_json(exclude={"idempotency_key"}).encode()).hexdigest()


def create_checkout_session(caller: db.Caller, req: CheckoutRequest, *, idempotency_key: str | None,
                            settings: Settings, client: stripe.StripeClient) -> dict:
    check_return_url(req.success_url, settings, "success_url")
    check_return_url(req.cancel_url, settings, "cancel_url")
    order = place_order(caller, req, idempotency_key or req.idempotency_key, settings)
    answer = {
        "order_id": order["order_id"],
        "order_number": order["number"],
        "tracking_token": order["tracking_token"],
        "status": order["status"],
        "total_minor": order["total_minor"],
        "currency": order["currency"],
        "hold_expires_at": order["hold_expires_at"],
        "checkout_url": order.get("checkout_url"),
        "replayed": order["replayed"],
    }
    if order["status"] == "paid":  # free: fulfilled in the placing transaction
        return answer | {"checkout_url": None, "hold_expires_at": None}
    if order["replayed"] and order.get("checkout_url"):
        return answer
    try:
        session = payments.create_checkout_session(
            client, order, success_url=req.success_url, cancel_url=req.cancel_url)
    except stripe.StripeError as exc:
        with db.as_service() as cur:
            cur.execute("select private.close_unpaid_order(%s, 'cancelled', 'payment_provider_unavailable')",
                        (order["order_id"],))
        raise errors.bad_gateway(
            "payment_provider_unavailable",
            "The payment provider is not answering; nothing was reserved. Please try again.",
            {"provider_error": type(exc).__name__}) from exc
    with db.as_service() as cur:
        cur.execute("select private.attach_checkout_session(%s, %s, %s)",
                    (order["order_id"], session.id, session.url))
    return answer | {"checkout_url": session.url, "checkout_session_id": session.id}
