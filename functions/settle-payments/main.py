"""POST /functions/v1/settle-payments (service role; cron every minute)

Carries out the settlements Postgres has asked for at Stripe: captures an authorised order's final
amount (never above the authorisation) or releases the authorisation (shared/commerce/authorisations.py).
Safe to run concurrently and repeatedly.
"""

import functions_framework
from pydantic import BaseModel

from shared.commerce import authorisations
from shared.platform import contract, http
from shared.providers import payments


class Settled(BaseModel):
    settled: int
    failed: int


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Capture or release authorisations as Postgres asked", answer=Settled,
                       auth="service"),
])
def main(call: http.Call):
    call.require_service()
    return authorisations.execute_pending(payments.stripe_client(call.settings))
