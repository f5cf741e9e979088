"""/functions/v1/member-subscription — a member's paid tier, through Stripe Billing.

    GET                                                  {tier, subscription}
    POST {"action": "subscribe", "success_url", "cancel_url"}   a Stripe Checkout page (subscription mode)
    POST {"action": "cancel"}                            ends it at the end of the paid period

The tier itself changes only when Stripe's customer.subscription.* webhooks arrive (stripe-webhook).
A signed-in member (401 otherwise); 404 no_subscription, 503 plan_not_configured, 502 Stripe down.
"""

from typing import Annotated, Literal, Union

import functions_framework
from pydantic import BaseModel, ConfigDict, Field

from shared.commerce import checkout
from shared.member import subscriptions
from shared.platform import http
from shared.providers import payments


class Subscribe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["subscribe"]
    success_url: str = Field(max_length=2000)
    cancel_url: str = Field(max_length=2000)


class Cancel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["cancel"]


class SubscriptionRequest(BaseModel):
    request: Annotated[Union[Subscribe, Cancel], Field(discriminator="action")]


@functions_framework.http
@http.function(methods=("GET", "POST"))
def main(call: http.Call):
    call.require_user()
    if call.method == "GET":
        return subscriptions.status(call.caller)
    req = http.validate(SubscriptionRequest, {"request": call.json(checkout.RawBody).root}).request
    client = payments.stripe_client(call.settings)
    if isinstance(req, Cancel):
        return subscriptions.cancel(call.caller, client)
    checkout.check_return_url(req.success_url, call.settings, "success_url")
    checkout.check_return_url(req.cancel_url, call.settings, "cancel_url")
    return subscriptions.subscribe(call.caller, client, success_url=req.success_url, cancel_url=req.cancel_url)
