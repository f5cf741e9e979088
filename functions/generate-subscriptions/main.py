"""POST /functions/v1/generate-subscriptions (service role; cron hourly)

Books the visits of every active appointment subscription up to a few weeks
ahead (body: {"horizon_weeks": 1-26}, default 4), idempotently; a clash moves a
visit to the nearest free slot of the same staff member or flags it for the
org's managers.
"""

import functions_framework

from shared.appointments import subscriptions
from shared.platform import http


@functions_framework.http
@http.function()
def main(call: http.Call):
    call.require_service()
    body = call.json(subscriptions.GenerateRequest)
    return subscriptions.generate_subscription_appointments(horizon_weeks=body.horizon_weeks)
