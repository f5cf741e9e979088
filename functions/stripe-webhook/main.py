"""POST /functions/v1/stripe-webhook

Stripe's events, verified by signature on the raw body (no JWT). Each event is
recorded by id with its effects in one transaction; a replay is a 200 no-op.
A session pays only the order it was opened for, in full: other money is
refunded automatically (mismatch_refunded); an event for no order of ours is
recorded and answered 200 (unknown_order).
After a payment the ticket email goes out at once (cron retries if it fails);
after a late payment that found no seats, the automatic refund is executed;
an authorisation for an order closed meanwhile is released at once.
"""

from typing import Any

import functions_framework
from pydantic import BaseModel

import shared.areas  # noqa: F401  every area's order kinds, describers and message renderers
from shared.commerce import authorisations, refunds, stripe_events
from shared.comms import notifications
from shared.platform import contract, http, log
from shared.providers import mail, payments, sms


class Received(BaseModel):
    received: bool
    event_id: str
    type: str
    result: str


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Stripe's events (Stripe-Signature over the raw body)",
                       body=dict[str, Any], answer=Received, auth="signature"),
])
def main(call: http.Call):
    client = payments.stripe_client(call.settings)
    outcome = stripe_events.handle(call.raw_body, call.request.headers.get("stripe-signature"), call.settings, client)
    try:
        if outcome.order_id and outcome.result in (
                "fulfilled", "late_fulfilled", "late_refunded", "flagged", "fully_refunded", "partially_refunded"):
            notifications.send_due(mail.Mailer(call.settings), texter=sms.Texter(call.settings), limit=10,
                                   order_id=outcome.order_id)
        if outcome.result in ("late_refunded", "mismatch_refunded", "duplicate_refunded"):
            refunds.execute_pending(client, limit=5)
        if outcome.result == "release":  # authorised after the order was closed: give it back now
            authorisations.execute_pending(client, limit=5)
    except Exception as exc:  # the event is recorded; cron finishes the follow-up work
        log.event("webhook_follow_up_failed", event_id=outcome.event_id, error=type(exc).__name__)
    return {"received": True, "event_id": outcome.event_id, "type": outcome.type, "result": outcome.result}
