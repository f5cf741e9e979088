"""POST /functions/v1/generate-subscriptions (service role; cron hourly)

Books the visits of every active appointment subscription up to a few weeks
ahead (body: {"horizon_weeks": 1-26}, default 4), idempotently; a clash moves a
visit to the nearest free slot of the same staff member or flags it for the
org's managers.
"""

import functions_framework
from pydantic import BaseModel

from shared.appointments import subscriptions
from shared.platform import contract, http


class Generated(BaseModel):
    subscriptions: int
    generated: int
    moved: int
    needs_attention: int
    horizon_days: int


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Book the visits of recurring subscriptions ahead",
                       body=subscriptions.GenerateRequest, body_required=False, answer=Generated, auth="service"),
])
def main(call: http.Call):
    call.require_service()
    body = call.json(subscriptions.GenerateRequest)
    return subscriptions.generate_subscription_appointments(horizon_weeks=body.horizon_weeks)
