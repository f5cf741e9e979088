"""POST /functions/v1/authorise-payment  {order_number, tracking_token}

Opens the PaymentIntent (manual capture) of an order paid by authorising now and capturing later (a
chauffeur reservation): the buyer's page confirms it with Stripe.js and the returned client secret.
The holder of the order's number and tracking token may call it (a guest, or a signed-in buyer);
asked again, it answers the same PaymentIntent. 404 order_not_found, 409 not_authorisable, 429 after
ten wrong tokens, 502 payment_provider_unavailable.
"""

import functions_framework
from pydantic import BaseModel, ConfigDict, Field

from shared.commerce import authorisations
from shared.platform import http
from shared.providers import payments


class AuthoriseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_number: str = Field(min_length=3, max_length=40)
    tracking_token: str = Field(min_length=8, max_length=200)


@functions_framework.http
@http.function()
def main(call: http.Call):
    req = call.json(AuthoriseRequest)
    return authorisations.authorise(call.caller, number=req.order_number, tracking_token=req.tracking_token,
                                    client=payments.stripe_client(call.settings))
