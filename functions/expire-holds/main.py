"""POST /functions/v1/expire-holds (service role; cron every minute)

Releases checkout holds that ran out: the Checkout Session is expired at
Stripe first, so nobody pays for a seat that goes back on sale.
"""

import functions_framework
from pydantic import BaseModel

from shared.commerce import holds
from shared.platform import contract, http
from shared.providers import payments


class Expired(BaseModel):
    """How many due holds ended each way."""

    expired: int
    paid: int
    processing: int
    skipped: int
    failed: int


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Release checkout holds that ran out", answer=Expired, auth="service"),
])
def main(call: http.Call):
    call.require_service()
    return holds.expire_holds(payments.stripe_client(call.settings))
