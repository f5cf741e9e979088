"""Checkout: hold capacity, then open a Stripe Checkout Session.

One create-checkout-session function sells every kind of order. The body's
`kind` picks the request model (a discriminated union; "tickets" when absent,
the original body) and the placing RPC:

- tickets       `private.place_ticket_order` (ticketing migration): validates,
                redeems the promo code, claims seats, creates the order;
- appointments  `private.place_appointment_order` (appointment booking
                migration): validates the postcode and the slots, holds one
                appointment per item, redeems the promo code, creates the order.

Either runs in one transaction as the caller (guest or signed in). Only then
is Stripe called, outside any transaction, by the one shared path below: if
Stripe fails the order is cancelled at once (capacity and promo go back,
through the area's order-status triggers) and the caller gets a 502. A free
order never reaches Stripe.

Error codes: invalid_request, invalid_return_url, payment_provider_unavailable,
and those of the placing functions (see their migrations).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from psycopg.types.json import Jsonb
import pydantic
import stripe
from pydantic import (AwareDatetime, BaseModel, ConfigDict, Discriminator, Field, RootModel, StringConstraints, Tag,
                      TypeAdapter)

from shared import db, errors, payments
from shared.formatting import when
from shared.config import Settings


# A key is not a credential, but a short one can be guessed and replayed: a random UUID (36) is the norm.
IdempotencyKey = Annotated[str, StringConstraints(min_length=32, max_length=200)]


class CheckoutItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier_id: UUID
    quantity: int = Field(ge=1, le=100, strict=True)


class CheckoutRequest(BaseModel):
    """A ticket order (kind "tickets", the default)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["tickets"] = "tickets"
    event_id: UUID
    items: list[CheckoutItem] = Field(min_length=1, max_length=20)
    buyer_email: str | None = Field(default=None, max_length=320)
    buyer_name: str | None = Field(default=None, max_length=200)
    promo_code: str | None = Field(default=None, max_length=40)
    success_url: str = Field(max_length=2000)
    cancel_url: str = Field(max_length=2000)
    idempotency_key: IdempotencyKey | None = None


TicketCheckoutRequest = CheckoutRequest


class AppointmentItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_id: UUID
    start: AwareDatetime  # an instant: a bare wall-clock time is refused
    staff_id: UUID | None = None


class AppointmentCheckoutRequest(BaseModel):
    """An appointment order (kind "appointments"): services at start times, at a postcode. org_id may
    be left out: it is then the org of the first item's service (every item must be that org's)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["appointments"]
    org_id: UUID | None = None
    items: list[AppointmentItem] = Field(min_length=1, max_length=10)
    postcode: str = Field(min_length=2, max_length=20)
    buyer_email: str | None = Field(default=None, max_length=320)
    buyer_name: str | None = Field(default=None, max_length=200)
    buyer_phone: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=500)
    promo_code: str | None = Field(default=None, max_length=40)
    success_url: str = Field(max_length=2000)
    cancel_url: str = Field(max_length=2000)
    idempotency_key: IdempotencyKey | None = None


AnyCheckoutRequest = CheckoutRequest | AppointmentCheckoutRequest


def _kind_of(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("kind", "tickets")
    return getattr(value, "kind", "tickets")


class CheckoutBody(RootModel):
    """The create-checkout-session body: one of the request models, chosen by `kind`."""

    root: Annotated[
        Annotated[CheckoutRequest, Tag("tickets")] | Annotated[AppointmentCheckoutRequest, Tag("appointments")],
        Discriminator(_kind_of),
    ]


class RawBody(RootModel[Any]):
    """Any JSON value: call.json(RawBody) only parses (400 invalid_json); parse_request validates."""


def parse_request(data: Any, *, idempotency_header: str | None = None) -> AnyCheckoutRequest:
    """The request model for a JSON body; 422 invalid_request with field errors named as in
    the chosen model (items.0.quantity, not tickets.items.0.quantity). An Idempotency-Key
    header stands for the body's idempotency_key and is checked the same way."""
    if idempotency_header is not None and isinstance(data, dict):
        data = {**data, "idempotency_key": idempotency_header}
    try:
        return CheckoutBody.model_validate(data).root
    except pydantic.ValidationError as exc:
        details = []
        for e in exc.errors(include_url=False, include_context=False, include_input=False):
            loc = list(e["loc"])
            if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc = ["kind"]
            elif loc and loc[0] in ("tickets", "appointments"):
                loc = loc[1:]
            details.append({"field": ".".join(str(p) for p in loc), "message": e["msg"], "type": e["type"]})
        raise errors.unprocessable("invalid_request", "The request has invalid fields", details) from None


def check_return_url(url: str, settings: Settings, field: str) -> None:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme not in ("http", "https") or not parts.netloc or origin not in settings.return_origins:
        raise errors.unprocessable(
            "invalid_return_url", f"{field} must start with one of the configured origins",
            {"field": field, "allowed": settings.return_origins})


def _request_hash(req: AnyCheckoutRequest) -> str:
    # `kind` is left out so ticket hashes stay what they were before kinds existed;
    # the placing functions refuse a key replayed for another kind of order anyway.
    return hashlib.sha256(req.model_dump_json(exclude={"idempotency_key", "kind"}).encode()).hexdigest()


def place_order(caller: db.Caller, req: CheckoutRequest, idempotency_key: str | None,
                settings: Settings) -> dict:
    """Hold tickets and create the order (private.place_ticket_order)."""
    items = [{"tier_id": str(i.tier_id), "quantity": i.quantity} for i in req.items]

    def place(cur) -> dict:
        cur.execute(
            "select private.place_ticket_order(%s, %s, %s, %s, %s, %s, %s, make_interval(mins => %s)) as summary",
            (req.event_id, Jsonb(items), req.buyer_email, req.buyer_name, req.promo_code,
             idempotency_key, _request_hash(req), settings.checkout_hold_minutes),
        )
        return cur.fetchone()["summary"]

    return db.run(caller, place)


place_ticket_order = place_order


def place_appointment_order(caller: db.Caller, req: AppointmentCheckoutRequest, idempotency_key: str | None,
                            settings: Settings) -> dict:
    """Hold appointments and create the order (private.place_appointment_order). The hold
    lasts the org's appointment_settings.hold_minutes (p_hold null)."""
    items = [{"service_id": str(i.service_id), "start": i.start.isoformat(),
              **({"staff_id": str(i.staff_id)} if i.staff_id else {})} for i in req.items]

    def place(cur) -> dict:
        # The service's org when none is named (a definer helper: anon cannot read services directly).
        org_id = req.org_id or cur.execute("select private.org_of_service(%s) as org_id",
                                           (req.items[0].service_id,)).fetchone()["org_id"]
        if org_id is None:
            raise errors.unprocessable("unknown_service", "This service is not offered",
                                       {"field": "items.0.service_id"})
        cur.execute(
            "select private.place_appointment_order(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, null) as summary",
            (org_id, Jsonb(items), req.postcode, req.buyer_email, req.buyer_name, req.buyer_phone,
             req.address, req.promo_code, idempotency_key, _request_hash(req)),
        )
        return cur.fetchone()["summary"]

    return db.run(caller, place)


# kind -> (placing function, extra summary keys answered besides the common ones)
PLACERS: dict[str, tuple[Callable[..., dict], tuple[str, ...]]] = {
    "tickets": (place_ticket_order, ()),
    "appointments": (place_appointment_order, ("appointments",)),
}


def hold_note(order: dict) -> str:
    """What the buyer reads beside Stripe's pay button: when the hold ends, in the org's timezone."""
    with db.as_service() as cur:
        cur.execute("select o.timezone from public.orders x join public.organizations o on o.id = x.org_id"
                    " where x.id = %s", (order["order_id"],))
        zone = cur.fetchone()["timezone"]
    return f"Your order is held until {when(order['hold_expires_at'], zone)}. Pay before then to keep it."


def create_checkout_session(caller: db.Caller, req: AnyCheckoutRequest, *, settings: Settings,
                            client: stripe.StripeClient) -> dict:
    """Place the order and open its Checkout Session. A replayed idempotency key answers the
    order as it stands, with "replayed": true and no tracking token (it was shown once)."""
    check_return_url(req.success_url, settings, "success_url")
    check_return_url(req.cancel_url, settings, "cancel_url")
    place, extra = PLACERS[req.kind]
    order = place(caller, req, req.idempotency_key, settings)
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
        "kind": req.kind,
    } | {key: order.get(key) for key in extra}
    if order["status"] == "paid":  # free: fulfilled in the placing transaction
        return answer | {"checkout_url": None, "hold_expires_at": None}
    if order["replayed"]:
        if order.get("checkout_url"):
            return answer
        # The first request with this key is still opening its session: a second call to Stripe now
        # would carry other parameters under the same idempotency key, fail, and cancel a live order.
        raise errors.conflict("idempotency_conflict",
                              "The first request with this key is still being processed; try again in a moment")
    try:
        session = payments.create_checkout_session(
            client, order, success_url=req.success_url, cancel_url=req.cancel_url, hold_note=hold_note(order))
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
