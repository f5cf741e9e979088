"""POST /functions/v1/send-tickets (service role; cron and after payment)

Sends due emails and SMS from the outbox: every message kind (ticket emails
with one QR code per ticket, receipts, refund notices, late-payment
explanations, dispute alerts, welcomes, appointment emails and reminders,
promotions and emergency alerts; SMS through Twilio), each in its recipient's
language and the org's wording. Safe to run
concurrently: rows are claimed with `for update skip locked`.
"""

import functions_framework

from pydantic import BaseModel, Field

import shared.areas  # noqa: F401  every area's order kinds, describers and message renderers
from shared.comms import notifications
from shared.platform import contract, http
from shared.providers import mail, sms


class SendRequest(BaseModel):
    limit: int = Field(default=25, ge=1, le=500, description="at most this many messages now")


class Sent(BaseModel):
    claimed: int
    sent: int
    failed: int
    skipped: int


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Send due emails and SMS from the outbox", body=SendRequest,
                       body_required=False, answer=Sent, auth="service"),
])
def main(call: http.Call):
    call.require_service()
    req = call.json(SendRequest)
    return notifications.send_due(mail.Mailer(call.settings), texter=sms.Texter(call.settings), limit=req.limit)
