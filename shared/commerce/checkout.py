"""Checkout: hold capacity, then open the payment (a Stripe Checkout Session, a PayPal order, or a charge
to a saved method), for every kind of order.

One create-checkout-session function sells every kind of order. Each business
area registers its kind (`register`): the request model (with a `kind`
literal), the function that places the order in one transaction as the
caller, and any keys of its summary the answer carries. The body's `kind`
picks the model (a discriminated union of the registered kinds; the default
kind when absent). Only after placing is the provider called, outside any
transaction, by the one shared path below (`provider`: Stripe by default, or
PayPal through shared/commerce/paypal_checkout.py; `saved_method_id`: the
buyer's own saved card or wallet, charged at once, shared/commerce/
saved_methods.py): if the provider fails the order is cancelled at once
(capacity and promo go back, through the area's order-status triggers) and
the caller gets a 502 (402 for a declined saved card). A free order never
reaches a provider.

Error codes: invalid_request, invalid_return_url, idempotency_conflict,
payment_provider_unavailable, paypal_disabled, method_not_found, card_declined,
not_authenticated, and those of the areas' placing functions (see their
routines).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union
from uuid import UUID
from urllib.parse import urlsplit

import psycopg
import pydantic
import stripe
from pydantic import BaseModel, Discriminator, Field, RootModel, StringConstraints, Tag

from shared.commerce import paypal_checkout, saved_methods
from shared.platform import db, errors
from shared.platform.config import Settings
from shared.platform.formatting import when
from shared.providers import payments

# A key is not a credential, but a short one can be guessed and replayed: a random UUID (36) is the norm.
IdempotencyKey = Annotated[str, StringConstraints(min_length=32, max_length=200)]

Placer = Callable[[psycopg.Cursor, Any, "str | None", Settings], dict]


class BuyerChoices(BaseModel):
    """What a buyer may choose at any checkout (every kind's request extends this): how to pay (Stripe's
    card page or PayPal), the language of the messages they get from the org, and consent to its offers
    by email or by SMS to a number they give. A ticked box grants; an unticked one changes nothing
    (routines/commerce/buyer_choices.sql)."""

    provider: Literal["stripe", "paypal"] = "stripe"
    saved_method_id: UUID | None = None  # a signed-in buyer's own saved card or wallet: charged at once
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    marketing_email: bool = False
    marketing_sms_phone: str | None = Field(default=None, max_length=40)


CHOICES = frozenset(BuyerChoices.model_fields)


def record_choices(cur: psycopg.Cursor, order: dict, req: BuyerChoices) -> None:
    """Record the buyer's choices in the placing transaction, as the buyer (the new order's token proves it)."""
    if order["replayed"] or not (req.language or req.marketing_email or req.marketing_sms_phone):
        return
    cur.execute("select private.record_buyer_choices(%s, %s, %s, %s, %s)",
                (order["number"], order["tracking_token"], req.language, req.marketing_email,
                 req.marketing_sms_phone))


@dataclass(frozen=True)
class OrderKind:
    """What an area sells through checkout."""

    kind: str                      # orders.kind, and the body's "kind"
    request: type[BaseModel]       # the body, with `kind: Literal[kind]` and idempotency_key: IdempotencyKey | None
    place: Placer                  # places the order in the caller's transaction: the summary with tracking_token and replayed
    answer_keys: tuple[str, ...] = ()  # keys of that summary the answer also carries
    default: bool = False          # the kind of a body that names none


KINDS: dict[str, OrderKind] = {}


def register(kind: OrderKind) -> None:
    KINDS[kind.kind] = kind
    _body_model.cache_clear()


def _default_kind() -> str | None:
    return next((k.kind for k in KINDS.values() if k.default), None)


def _kind_of(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("kind", _default_kind())
    return getattr(value, "kind", _default_kind())


@functools.cache
def _body_model() -> type[RootModel]:
    """The create-checkout-session body: one of the registered request models, chosen by `kind`."""
    if not KINDS:
        raise RuntimeError("no order kind is registered: import shared.areas first")
    members = tuple(Annotated[k.request, Tag(k.kind)] for k in KINDS.values())
    return RootModel[Annotated[Union[members], Discriminator(_kind_of)]]  # type: ignore[valid-type]


class RawBody(RootModel[Any]):
    """Any JSON value: call.json(RawBody) only parses (400 invalid_json); parse_request validates."""


def parse_request(data: Any, *, idempotency_header: str | None = None) -> BaseModel:
    """The request model for a JSON body; 422 invalid_request with field errors named as in
    the chosen model (items.0.quantity, not tickets.items.0.quantity). An Idempotency-Key
    header stands for the body's idempotency_key and is checked the same way."""
    if idempotency_header is not None and isinstance(data, dict):
        data = {**data, "idempotency_key": idempotency_header}
    try:
        return _body_model().model_validate(data).root
    except pydantic.ValidationError as exc:
        details = []
        for e in exc.errors(include_url=False, include_context=False, include_input=False):
            loc = list(e["loc"])
            if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc = ["kind"]
            elif loc and loc[0] in KINDS:
                loc = loc[1:]
            details.append({"field": ".".join(str(p) for p in loc), "message": e["msg"], "type": e["type"]})
        raise errors.unprocessable("invalid_request", "The request has invalid fields", details) from None


def check_return_url(url: str, settings: Settings, field: str) -> None:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme not in ("http", "https") or not parts.netloc or origin not in settings.checkout.return_origins:
        raise errors.unprocessable(
            "invalid_return_url", f"{field} must start with one of the configured origins",
            {"field": field, "allowed": settings.checkout.return_origins})


def request_hash(req: BaseModel) -> str:
    # `kind` is left out so ticket hashes stay what they were before kinds existed;
    # the placing functions refuse a key replayed for another kind of order anyway.
    # The buyer's choices are not the order: a retry that ticks a box (or picks PayPal) is still the same order.
    return hashlib.sha256(req.model_dump_json(exclude={"idempotency_key", "kind", *CHOICES}).encode()).hexdigest()


def hold_note(order: dict) -> str:
    """What the buyer reads beside Stripe's pay button: when the hold ends, in the org's timezone."""
    with db.as_service() as cur:
        cur.execute("select o.timezone from public.orders x join public.organizations o on o.id = x.org_id"
                    " where x.id = %s", (order["order_id"],))
        zone = cur.fetchone()["timezone"]
    return f"Your order is held until {when(order['hold_expires_at'], zone)}. Pay before then to keep it."


def create_checkout_session(caller: db.Caller, req: BaseModel, *, settings: Settings,
                            client: stripe.StripeClient) -> dict:
    """Place the order and open its Checkout Session. A replayed idempotency key answers the
    order as it stands, with "replayed": true and no tracking token (it was shown once)."""
    check_return_url(req.success_url, settings, "success_url")
    check_return_url(req.cancel_url, settings, "cancel_url")
    if req.provider == "paypal":
        paypal_checkout.require_enabled(settings)
    saved = None
    if req.saved_method_id:
        if caller.user_id is None:
            raise errors.unauthorized("not_authenticated", "Sign in to pay with a saved payment method")
        saved = saved_methods.own(caller, str(req.saved_method_id))  # 404 for anyone else's
    kind = KINDS[req.kind]
    def place(cur: psycopg.Cursor) -> dict:
        placed = kind.place(cur, req, req.idempotency_key, settings)
        record_choices(cur, placed, req)
        return placed

    order = db.run(caller, place)
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
    } | {key: order.get(key) for key in kind.answer_keys}
    if order["status"] == "paid":  # free: fulfilled in the placing transaction
        return answer | {"checkout_url": None, "hold_expires_at": None}
    if order["replayed"]:
        if order.get("checkout_url"):
            return answer
        # The first request with this key is still opening its session: a second call to Stripe now
        # would carry other parameters under the same idempotency key, fail, and cancel a live order.
        raise errors.conflict("idempotency_conflict",
                              "The first request with this key is still being processed; try again in a moment")
    if saved is not None:
        outcome = saved_methods.charge(order, saved, settings=settings, client=client)
        with db.as_service() as cur:
            cur.execute("select status from public.orders where id = %s", (order["order_id"],))
            status = cur.fetchone()["status"]
        return answer | {"checkout_url": None, "hold_expires_at": None, "status": status, "payment": outcome,
                         "provider": saved["provider"]}
    if req.provider == "paypal":
        url = paypal_checkout.open_order(order, success_url=req.success_url, cancel_url=req.cancel_url,
                                         settings=settings, close_on_failure=True)
        return answer | {"checkout_url": url, "provider": "paypal"}
    session = open_session(order, success_url=req.success_url, cancel_url=req.cancel_url, client=client,
                           close_on_failure=True)
    return answer | {"checkout_url": session.url, "checkout_session_id": session.id, "provider": "stripe"}


def open_payment(order: dict, *, provider: str, success_url: str, cancel_url: str, settings: Settings,
                 client: stripe.StripeClient, close_on_failure: bool, replacing: str | None = None) -> str:
    """The page where the buyer pays a pending order, at the provider they chose; see open_session."""
    if provider == "paypal":
        return paypal_checkout.open_order(order, success_url=success_url, cancel_url=cancel_url, settings=settings,
                                          close_on_failure=close_on_failure)
    return open_session(order, success_url=success_url, cancel_url=cancel_url, client=client,
                        close_on_failure=close_on_failure, replacing=replacing).url


def open_session(order: dict, *, success_url: str, cancel_url: str, client: stripe.StripeClient,
                 close_on_failure: bool, replacing: str | None = None) -> stripe.checkout.Session:
    """Open the Checkout Session of a pending order and attach it. When Stripe fails: 502, and the order
    is cancelled (capacity and promo go back) if `close_on_failure`, else left payable (money owed on
    something already delivered, like a parking overstay)."""
    try:
        session = payments.create_checkout_session(
            client, order, success_url=success_url, cancel_url=cancel_url,
            hold_note=hold_note(order) if order.get("hold_expires_at") else None, replacing=replacing)
    except stripe.StripeError as exc:
        if close_on_failure:
            with db.as_service() as cur:
                cur.execute("select private.close_unpaid_order(%s, 'cancelled', 'payment_provider_unavailable')",
                            (order["order_id"],))
        raise errors.bad_gateway(
            "payment_provider_unavailable",
            "The payment provider is not answering; nothing was reserved. Please try again."
            if close_on_failure else "The payment provider is not answering; please try again.",
            {"provider_error": type(exc).__name__}) from exc
    with db.as_service() as cur:
        cur.execute("select private.attach_checkout_session(%s, %s, %s)",
                    (order["order_id"], session.id, session.url))
    return session
