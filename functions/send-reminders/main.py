"""POST /functions/v1/send-reminders (service role; cron every 5 minutes)

Queues the 24-hour appointment reminders (an email and, where the customer
gave a phone number, an SMS) for every booked appointment starting within the
next 24 hours. Idempotent and safe to run concurrently: each reminder has one
outbox key per channel, appointment and start time. Sending is the outbox
worker's (send-tickets), which re-checks each reminder at send time.
"""

import functions_framework
from pydantic import BaseModel

from shared.appointments import reminders
from shared.platform import contract, http


class Queued(BaseModel):
    queued: int


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Queue the 24-hour appointment reminders", answer=Queued, auth="service"),
])
def main(call: http.Call):
    call.require_service()
    return reminders.queue_reminders()
