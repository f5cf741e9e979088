"""Appointment orders at checkout: the request (kind "appointments") and how it is placed.

`private.place_appointment_order` (its current body in *_commerce_order_replays.sql)
validates the postcode and the slots, holds one appointment per item under the
staff members' booking locks, redeems the promo code and creates the order in
one transaction as the caller. Registered with shared.commerce.checkout, which
opens the Stripe session; the answer also carries the held appointments.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.commerce import checkout
from shared.platform import errors
from shared.platform.config import Settings


class AppointmentItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_id: UUID
    start: AwareDatetime  # an instant: a bare wall-clock time is refused
    staff_id: UUID | None = None


class AppointmentCheckoutRequest(checkout.BuyerChoices):
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
    idempotency_key: checkout.IdempotencyKey | None = None


def place_appointment_order(cur: psycopg.Cursor, req: AppointmentCheckoutRequest, idempotency_key: str | None,
                            settings: Settings) -> dict:
    """Hold appointments and create the order (private.place_appointment_order). The hold
    lasts the org's appointment_settings.hold_minutes (p_hold null)."""
    items = [{"service_id": str(i.service_id), "start": i.start.isoformat(),
              **({"staff_id": str(i.staff_id)} if i.staff_id else {})} for i in req.items]

    # The service's org when none is named (a definer helper: anon cannot read services directly).
    org_id = req.org_id or cur.execute("select private.org_of_service(%s) as org_id",
                                       (req.items[0].service_id,)).fetchone()["org_id"]
    if org_id is None:
        raise errors.unprocessable("unknown_service", "This service is not offered",
                                   {"field": "items.0.service_id"})
    cur.execute(
        "select private.place_appointment_order(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, null) as summary",
        (org_id, Jsonb(items), req.postcode, req.buyer_email, req.buyer_name, req.buyer_phone,
         req.address, req.promo_code, idempotency_key, checkout.request_hash(req)),
    )
    return cur.fetchone()["summary"]


checkout.register(checkout.OrderKind("appointments", AppointmentCheckoutRequest, place_appointment_order,
                                     answer_keys=("appointments",)))
