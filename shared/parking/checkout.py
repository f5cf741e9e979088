"""Parking orders at checkout: the request (kind "parking") and how it is placed.

`private.place_parking_order` (routines/parking/booking.sql) prices the stay,
creates the order and a held booking, whose insert claims the stay's days in
date order, in one transaction as the caller. Registered with
shared.commerce.checkout, which then opens the payment; the answer also
carries the booking (reference = the order number).
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from shared.commerce import checkout
from shared.platform.config import Settings


class Vehicle(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plate: str = Field(min_length=2, max_length=16)  # normalised in Postgres: upper case, no spaces
    make: str | None = Field(default=None, max_length=60)
    model: str | None = Field(default=None, max_length=60)
    colour: str | None = Field(default=None, max_length=40)


class ParkingCheckoutRequest(checkout.BuyerChoices):
    """A parking stay (kind "parking"). entry and exit are read in the lot's timezone unless they carry
    a UTC offset ("2027-01-09T06:30" is half past six at the car park)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["parking"]
    lot_id: UUID
    product_id: UUID
    entry: str = Field(min_length=16, max_length=40)
    exit: str = Field(min_length=16, max_length=40)
    vehicle: Vehicle
    outbound_flight: str | None = Field(default=None, max_length=10)
    return_flight: str | None = Field(default=None, max_length=10)
    passengers: int = Field(default=1, ge=1, le=16)
    extras: list[UUID] = Field(default_factory=list, max_length=10)
    buyer_email: str | None = Field(default=None, max_length=320)
    buyer_name: str | None = Field(default=None, max_length=200)
    buyer_phone: str | None = Field(default=None, max_length=40)
    promo_code: str | None = Field(default=None, max_length=40)
    success_url: str = Field(max_length=2000)
    cancel_url: str = Field(max_length=2000)
    idempotency_key: checkout.IdempotencyKey | None = None


def place_parking_order(cur: psycopg.Cursor, req: ParkingCheckoutRequest, idempotency_key: str | None,
                        settings: Settings) -> dict:
    stay = {"lot_id": str(req.lot_id), "product_id": str(req.product_id), "entry": req.entry, "exit": req.exit,
            **req.vehicle.model_dump(), "outbound_flight": req.outbound_flight, "return_flight": req.return_flight,
            "passengers": req.passengers, "extras": [str(e) for e in req.extras]}
    buyer = {"email": req.buyer_email, "name": req.buyer_name, "phone": req.buyer_phone}
    cur.execute("select private.place_parking_order(%s, %s, %s, %s, %s) as summary",
                (Jsonb(stay), Jsonb(buyer), req.promo_code, idempotency_key, checkout.request_hash(req)))
    return cur.fetchone()["summary"]


checkout.register(checkout.OrderKind("parking", ParkingCheckoutRequest, place_parking_order,
                                     answer_keys=("booking",)))
