"""POST /functions/v1/cancel-event  {"event_id", "reason"?}

An org owner or admin cancels an event (a manager may, when nothing of it is
paid). In one transaction Postgres marks it cancelled, queues a refund of what
remains of every paid order, voids the tickets, closes unpaid orders and
queues one email per buyer (routines/ticketing/cancellation.sql). Then the
refunds are sent to Stripe or PayPal, each under its own id as idempotency
key; any the provider does not take now stay pending for the refund cron.
Calling it again is safe: it settles payments that arrived since and sends
what is still pending, never anything twice. Answers the cancellation's state
and how many refunds went out now (`sent`) or wait for a retry (`waiting`).
"""

from datetime import datetime
from uuid import UUID

import functions_framework
from pydantic import BaseModel, ConfigDict, Field

import shared.areas  # noqa: F401  every area's order kinds, describers and message renderers
from shared.commerce import refunds
from shared.platform import contract, db, http
from shared.providers import payments

SEND_NOW = 200  # refunds sent within the request; the cron sends the rest


class CancelEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: UUID
    reason: str | None = Field(default=None, max_length=500, description="quoted in the buyers' email")


class RefundsNow(BaseModel):
    sent: int = Field(description="refunds the provider took now")
    waiting: int = Field(description="refunds the refund cron will retry")


class Cancelled(BaseModel):
    """Where the cancellation stands (private.event_cancellation_summary), and the refunds sent now."""

    event_id: UUID
    status: str
    cancelled_at: datetime | None
    orders_refunded: int
    orders_closed: int
    refunded_minor: int
    buyers_emailed: int
    already_cancelled: bool
    refunds: RefundsNow


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Cancel an event: refund, void and email every buyer", body=CancelEvent,
                       answer=Cancelled, auth="user"),
])
def main(call: http.Call):
    req = call.json(CancelEvent)
    if call.caller.role != "service_role":
        call.require_user()
    with db.transaction(call.caller) as cur:
        cur.execute("select public.cancel_event(%s, %s) as state", (req.event_id, req.reason))
        state = cur.fetchone()["state"]
    client = payments.stripe_client(call.settings)
    sent = waiting = 0
    for refund_id in state["refunds_pending"][:SEND_NOW]:
        outcome = refunds.execute_pending(client, only=str(refund_id))
        sent += outcome["executed"]
        waiting += outcome["failed"]
    waiting += max(len(state["refunds_pending"]) - SEND_NOW, 0)
    return {key: value for key, value in state.items() if key != "refunds_pending"} | {
        "refunds": {"sent": sent, "waiting": waiting}}
