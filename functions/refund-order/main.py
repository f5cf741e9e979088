"""POST /functions/v1/refund-order

An org owner/admin refunds an order, fully (no amount) or partly
({"order_id", "amount_minor", "reason"}). Postgres checks the role and that
refunds never exceed what was paid; the refund is executed at Stripe with its
own id as idempotency key, a full refund voids the tickets, and the buyer is
emailed. Called with the service role and no order_id (cron), it retries
pending refunds.
"""

from typing import Any
from uuid import UUID

import functions_framework

from pydantic import BaseModel, ConfigDict, Field

import shared.areas  # noqa: F401  every area's order kinds, describers and message renderers
from shared.commerce import refunds
from shared.comms import notifications
from shared.platform import contract, db, http
from shared.providers import mail, payments


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: UUID | None = Field(default=None, description="left out by the service role: retry pending refunds")
    amount_minor: int | None = Field(default=None, ge=1, description="left out: everything still refundable")
    reason: str | None = Field(default=None, max_length=500)


class Refunded(BaseModel):
    refund: dict[str, Any]
    executed: bool = Field(description="the provider took it now (else the refund cron retries)")


class PendingRun(BaseModel):
    """The service role's retry of pending refunds."""

    executed: int
    failed: int


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Refund an order, fully or partly (service role, no order: retry pending)",
                       body=RefundRequest, body_required=False, answer=Refunded | PendingRun, auth="user"),
])
def main(call: http.Call):
    req = call.json(RefundRequest)
    client = payments.stripe_client(call.settings)
    if req.order_id is None:
        call.require_service()
        return refunds.execute_pending(client)
    call.require_user()
    with db.transaction(call.caller) as cur:
        refund = refunds.request_refund(cur, order_id=str(req.order_id), amount_minor=req.amount_minor,
                                        reason=req.reason)
    executed = refunds.execute_pending(client, only=str(refund["id"]))
    notifications.send_due(mail.Mailer(call.settings), limit=5, order_id=str(req.order_id))
    return {"refund": refund, "executed": executed["executed"] == 1}
