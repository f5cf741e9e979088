"""POST /functions/v1/paypal-webhook

PayPal's events, verified by PayPal itself (verify-webhook-signature against PAYPAL_WEBHOOK_ID,
with the transmission headers): a forged or altered body is a 400 and changes nothing. Each event is
recorded by id with its effects in one transaction; a replay is a 200 no-op. CHECKOUT.ORDER.APPROVED
captures an order whose buyer never came back, PAYMENT.CAPTURE.COMPLETED records a capture,
PAYMENT.CAPTURE.REFUNDED a refund (ours, or one made at PayPal). An event about a payment not
recorded yet is a 503, and PayPal delivers it again later. See shared/commerce/paypal_checkout.py.
"""

from typing import Any

import functions_framework
from pydantic import BaseModel

import shared.areas  # noqa: F401  every area's order kinds, describers and message renderers
from shared.commerce import paypal_checkout, refunds
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
    contract.Operation("POST", summary="PayPal's events (verified with PayPal's verify-webhook-signature)",
                       body=dict[str, Any], answer=Received, auth="signature"),
])
def main(call: http.Call):
    outcome = paypal_checkout.handle(call.raw_body, call.request.headers, call.settings)
    try:
        if outcome.order_id and outcome.result in (
                "fulfilled", "late_fulfilled", "late_refunded", "fully_refunded", "partially_refunded"):
            notifications.send_due(mail.Mailer(call.settings), texter=sms.Texter(call.settings), limit=10,
                                   order_id=outcome.order_id)
        if outcome.result in ("late_refunded", "mismatch_refunded", "duplicate_refunded"):
            refunds.execute_pending(payments.stripe_client(call.settings), limit=5)
    except Exception as exc:  # the event is recorded; cron finishes the follow-up work
        log.event("webhook_follow_up_failed", event_id=outcome.event_id, error=type(exc).__name__)
    return {"received": True, "event_id": outcome.event_id, "type": outcome.type, "result": outcome.result}
