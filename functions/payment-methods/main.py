"""/functions/v1/payment-methods — a signed-in user's saved cards and PayPal wallets (provider ids only).

    GET                                                    the caller's saved methods, newest first
    POST {"action": "setup", "provider": "stripe"}         a SetupIntent's client secret for Stripe.js
    POST {"action": "setup", "provider": "paypal",
          "return_url", "cancel_url"}                      a PayPal vault approval URL
    POST {"action": "save", "provider": "stripe", "setup_intent_id"}
    POST {"action": "save", "provider": "paypal", "setup_token_id"}
                                                           keep what the provider confirmed for this user
    POST {"action": "remove", "id"}                        detach at the provider, then forget it

Only the owner lists, saves and removes their methods (anyone else's: 404); reuse one at checkout with
`saved_method_id`. 401 without sign-in, 409 setup_not_confirmed / method_taken, 502 provider down.
See shared/commerce/saved_methods.py.
"""

from datetime import datetime
from typing import Annotated, Literal, Union
from uuid import UUID

import functions_framework
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.commerce import checkout, saved_methods
from shared.platform import contract, http
from shared.providers import payments


class Setup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["setup"]
    provider: Literal["stripe", "paypal"]
    return_url: str | None = Field(default=None, max_length=2000)
    cancel_url: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def paypal_needs_urls(self):
        if self.provider == "paypal" and not (self.return_url and self.cancel_url):
            raise ValueError("PayPal needs return_url and cancel_url")
        return self


class Save(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["save"]
    provider: Literal["stripe", "paypal"]
    setup_intent_id: str | None = Field(default=None, pattern=r"^seti_[A-Za-z0-9_]{1,100}$")
    setup_token_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")

    @model_validator(mode="after")
    def one_reference(self):
        if (self.setup_intent_id if self.provider == "stripe" else self.setup_token_id) is None:
            raise ValueError("Stripe needs setup_intent_id; PayPal needs setup_token_id")
        return self


class Remove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["remove"]
    id: UUID


MethodsBody = Annotated[Union[Setup, Save, Remove], Field(discriminator="action")]


class MethodsRequest(BaseModel):
    request: MethodsBody


class SavedMethod(BaseModel):
    """What a list shows of a saved card or wallet (never a card number)."""

    id: UUID
    provider: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    wallet_email: str | None
    created_at: datetime


class Methods(BaseModel):
    methods: list[SavedMethod]


@functions_framework.http
@http.function(methods=("GET", "POST"), operations=[
    contract.Operation("GET", summary="The caller's saved cards and PayPal wallets", answer=Methods, auth="user"),
    contract.Operation("POST", summary="Set up, save or remove a saved method", body=MethodsBody, auth="user"),
])
def main(call: http.Call):
    call.require_user()
    if call.method == "GET":
        return {"methods": saved_methods.listing(call.caller)}
    req = http.validate(MethodsRequest, {"request": call.json(checkout.RawBody).root}).request
    client = payments.stripe_client(call.settings)
    if isinstance(req, Setup):
        for field in ("return_url", "cancel_url"):
            if getattr(req, field):
                checkout.check_return_url(getattr(req, field), call.settings, field)
        return saved_methods.setup(call.caller, req.provider, settings=call.settings, client=client,
                                   return_url=req.return_url, cancel_url=req.cancel_url)
    if isinstance(req, Save):
        return saved_methods.save(call.caller, req.provider, req.setup_intent_id or req.setup_token_id,
                                  settings=call.settings, client=client)
    return saved_methods.remove(call.caller, str(req.id), settings=call.settings, client=client)
