"""POST /functions/v1/expire-holds (service role; cron every minute)

Releases checkout holds that ran out: the Checkout Session is expired at
Stripe first, so nobody pays for a seat that goes back on sale.
"""

import functions_framework

from shared.commerce import holds
from shared.platform import http
from shared.providers import payments


@functions_framework.http
@http.function()
def main(call: http.Call):
    call.require_service()
    return holds.expire_holds(payments.stripe_client(call.settings))
