"""POST /functions/v1/create-checkout-session

Hold what is being bought and open a Stripe Checkout Session. The body's
`kind` says what: "tickets" (the default: event_id, items [{tier_id,
quantity}]) or "appointments" (org_id, items [{service_id, start, staff_id?}],
postcode, buyer_phone, address); both take buyer_email, buyer_name,
promo_code, success_url, cancel_url and idempotency_key (shared/commerce/checkout.py).
Guests send buyer_email and buyer_name; signed-in buyers may omit them. An
`Idempotency-Key` header (or body field; 32-200 characters, a random UUID)
makes retries safe: a retry answers the same order with "replayed": true and
no tracking token. Answers the checkout URL, order number, tracking token
(shown once) and the hold's expiry;
502 if Stripe is down (nothing stays reserved). A free order is fulfilled at
once (no checkout URL). Each attempt counts against the caller's checkout
rate limit, and one with a promo code against the promo_code limit too
(429 with Retry-After past either).
"""

import functions_framework


import shared.areas  # noqa: F401  every area's order kinds, describers and message renderers
from shared.commerce import checkout
from shared.platform import http
from shared.providers import payments


@functions_framework.http
@http.function()
def main(call: http.Call):
    req = checkout.parse_request(call.json(checkout.RawBody).root,
                                 idempotency_header=call.request.headers.get("idempotency-key"))
    call.throttle("checkout", *(["promo_code"] if getattr(req, "promo_code", None) else []))
    return checkout.create_checkout_session(
        call.caller, req,
        settings=call.settings,
        client=payments.stripe_client(call.settings),
    )
