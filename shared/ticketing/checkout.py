"""Ticket orders at checkout: the request (kind "tickets", the default) and how it is placed.

`private.place_ticket_order` (migrations/*_ticketing_events.sql, its replay branch in
*_commerce_order_replays.sql) validates, redeems the promo code, claims seats and creates
the order in one transaction as the caller. Registered with
shared.commerce.checkout, which opens the Stripe session.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from shared.commerce import checkout
from shared.platform.config import Settings


class TicketItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier_id: UUID
    quantity: int = Field(ge=1, le=100, strict=True)


class TicketCheckoutRequest(checkout.BuyerChoices):
    """A ticket order (kind "tickets", the default)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["tickets"] = "tickets"
    event_id: UUID
    items: list[TicketItem] = Field(min_length=1, max_length=20)
    buyer_email: str | None = Field(default=None, max_length=320)
    buyer_name: str | None = Field(default=None, max_length=200)
    promo_code: str | None = Field(default=None, max_length=40)
    success_url: str = Field(max_length=2000)
    cancel_url: str = Field(max_length=2000)
    idempotency_key: checkout.IdempotencyKey | None = None


def place_ticket_order(cur: psycopg.Cursor, req: TicketCheckoutRequest, idempotency_key: str | None,
                       settings: Settings) -> dict:
    """Hold tickets and create the order (private.place_ticket_order)."""
    items = [{"tier_id": str(i.tier_id), "quantity": i.quantity} for i in req.items]
    cur.execute(
        "select private.place_ticket_order(%s, %s, %s, %s, %s, %s, %s, make_interval(mins => %s)) as summary",
        (req.event_id, Jsonb(items), req.buyer_email, req.buyer_name, req.promo_code,
         idempotency_key, checkout.request_hash(req), settings.checkout.hold_minutes),
    )
    return cur.fetchone()["summary"]


checkout.register(checkout.OrderKind("tickets", TicketCheckoutRequest, place_ticket_order, default=True))
