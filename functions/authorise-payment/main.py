"""POST /functions/v1/authorise-payment  {order_number, tracking_token[, provider, success_url, cancel_url]}

Opens the PaymentIntent (manual capture) of an order paid by authorising now and capturing later (a
chauffeur reservation): the buyer's page confirms it with Stripe.js and the returned client secret.
With `provider: "paypal"` (and success_url / cancel_url on a configured origin) the order's total is
paid in advance with PayPal instead: the answer's `approve_url` is PayPal's page, paypal-return captures,
and the area settles the difference after the trip (a refund, or a balance due).
The holder of the order's number and tracking token may call it (a guest, or a signed-in buyer);
asked again, it answers the same PaymentIntent (or PayPal order). 404 order_not_found, 409
not_authorisable, 429 after ten wrong tokens, 502 payment_provider_unavailable.
"""

from typing import Literal

import functions_framework
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.commerce import authorisations, checkout
from shared.platform import contract, http
from shared.providers import payments


class AuthoriseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_number: str = Field(min_length=3, max_length=40)
    tracking_token: str = Field(min_length=8, max_length=200)
    provider: Literal["stripe", "paypal"] = "stripe"
    success_url: str | None = Field(default=None, max_length=2000)
    cancel_url: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def paypal_needs_urls(self):
        if self.provider == "paypal" and not (self.success_url and self.cancel_url):
            raise ValueError("PayPal needs success_url and cancel_url")
        return self


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Authorise an order now, capture after the trip (or pay with PayPal)",
                       body=AuthoriseRequest, auth="anon"),
])
def main(call: http.Call):
    req = call.json(AuthoriseRequest)
    if req.provider == "paypal":
        checkout.check_return_url(req.success_url, call.settings, "success_url")
        checkout.check_return_url(req.cancel_url, call.settings, "cancel_url")
        return authorisations.pay_with_paypal(call.caller, number=req.order_number, tracking_token=req.tracking_token,
                                              settings=call.settings, success_url=req.success_url,
                                              cancel_url=req.cancel_url)
    return authorisations.authorise(call.caller, number=req.order_number, tracking_token=req.tracking_token,
                                    client=payments.stripe_client(call.settings))
