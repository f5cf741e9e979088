"""POST /functions/v1/settle-payments (service role; cron every minute)

Carries out the settlements Postgres has asked for at Stripe: captures an authorised order's final
amount (never above the authorisation) or releases the authorisation (shared/commerce/authorisations.py).
Safe to run concurrently and repeatedly.
"""

import functions_framework

from shared.commerce import authorisations
from shared.platform import http
from shared.providers import payments


@functions_framework.http
@http.function()
def main(call: http.Call):
    call.require_service()
    return authorisations.execute_pending(payments.stripe_client(call.settings))
