"""POST /functions/v1/create-checkout-session

Hold what is being bought and open a Stripe Checkout Session. The body's
`kind` says what: "tickets" (the default: event_id, items [{tier_id,
quantity}]) or "appointments" (org_id, items [{service_id, start, staff_id?}],
postcode, buyer_phone, address); both take buyer_email, buyer_name,
promo_code, success_url, cancel_url and idempotency_key (shared/commerce/checkout.py).
Guests send buyer_email and buyer_name; signed-in buyers may omit them. An
`Idempotency-Key` header (or body field; 32-200 characters, a random UUID)
makes retries safe: a retry answers the same order with "replayed": true and
no tracking token. Answers the checkout URL, order number, tracking token
(shown once) and the hold's expiry;
502 if Stripe is down (nothing stays reserved). A free order is fulfilled at
once (no checkout URL). Each attempt counts against the caller's checkout
rate limit, and one with a promo code against the promo_code limit too
(429 with Retry-After past either).
"""

from datetime import datetime
from typing import Any
from uuid import UUID

import functions_framework
from pydantic import BaseModel, Field

import shared.areas  # noqa: F401  every area's order kinds, describers and message renderers
from shared.commerce import checkout
from shared.platform import contract, http
from shared.providers import payments


class Checkout(BaseModel):
    """The order and where to pay it (shared/commerce/checkout.py: create_checkout_session)."""

    order_id: UUID
    order_number: str
    tracking_token: str | None = Field(description="shown once; null when the answer is a replay")
    status: str
    total_minor: int
    currency: str
    hold_expires_at: datetime | None = Field(description="null for an order that is already paid")
    checkout_url: str | None = Field(description="the provider's page; null when nothing is left to pay")
    replayed: bool
    kind: str
    provider: str | None = None
    checkout_session_id: str | None = None
    payment: str | None = Field(None, description="a saved method's charge: its outcome")
    appointments: list[dict[str, Any]] | None = Field(None, description="kind appointments: the held slots")
    booking: dict[str, Any] | None = Field(None, description="kind parking: the held booking")


@functions_framework.http
@http.function(operations=[
    contract.Operation(
        "POST", summary="Hold what is being bought and open its payment", body=checkout._body_model(),
        answer=Checkout, auth="anon",
        headers={"Idempotency-Key": {"type": "string", "minLength": 32, "maxLength": 200,
                                     "description": "a random UUID: a retry answers the same order"}}),
])
def main(call: http.Call):
    req = checkout.parse_request(call.json(checkout.RawBody).root,
                                 idempotency_header=call.request.headers.get("idempotency-key"))
    call.throttle("checkout", *(["promo_code"] if getattr(req, "promo_code", None) else []))
    return checkout.create_checkout_session(
        call.caller, req,
        settings=call.settings,
        client=payments.stripe_client(call.settings),
    )
