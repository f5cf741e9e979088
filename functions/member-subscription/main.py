"""/functions/v1/member-subscription — a member's paid tier, through Stripe Billing.

    GET                                                  {tier, subscription}
    POST {"action": "subscribe", "success_url", "cancel_url"}   a Stripe Checkout page (subscription mode)
    POST {"action": "cancel"}                            ends it at the end of the paid period

The tier itself changes only when Stripe's customer.subscription.* webhooks arrive (stripe-webhook).
A signed-in member (401 otherwise); 404 no_subscription, 503 plan_not_configured, 502 Stripe down.
"""

from datetime import datetime
from typing import Annotated, Literal, Union

import functions_framework
from pydantic import BaseModel, ConfigDict, Field

from shared.commerce import checkout
from shared.member import subscriptions
from shared.platform import contract, http
from shared.providers import payments


class Subscribe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["subscribe"]
    success_url: str = Field(max_length=2000)
    cancel_url: str = Field(max_length=2000)


class Cancel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["cancel"]


SubscriptionBody = Annotated[Union[Subscribe, Cancel], Field(discriminator="action")]


class SubscriptionRequest(BaseModel):
    request: SubscriptionBody


class Subscription(BaseModel):
    status: str
    price_lookup_key: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool


class Tier(BaseModel):
    tier: str
    subscription: Subscription | None


@functions_framework.http
@http.function(methods=("GET", "POST"), operations=[
    contract.Operation("GET", summary="The member's tier and subscription", answer=Tier, auth="user"),
    contract.Operation("POST", summary="Subscribe (a Stripe Checkout page) or cancel at the period's end",
                       body=SubscriptionBody, auth="user"),
])
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
