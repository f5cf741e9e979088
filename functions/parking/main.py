"""POST /functions/v1/parking  — changes to a parking booking, the gates, and paying what is owed.

    {"action": "terms",  <booking>}                     what cancelling now refunds; until when dates change
    {"action": "cancel", <booking>}                     cancel by the org's policy; refunds sent at once
    {"action": "amend",  <booking>, "entry", "exit"}    new dates (capacity re-checked); a dearer stay
                                                        answers a charge with its checkout_url
    {"action": "gate", "lot_id", "direction": "entry"|"exit", "code" | "plate"}
                                                        staff scan once each way; an overstay answers a
                                                        charge with its checkout_url
    {"action": "pay", "order_number", "tracking_token"} a link to pay a charge

Any of them may name "provider": "stripe" (the default) or "paypal", where a charge is paid.

<booking> is {"reference", "tracking_token"} (a guest) or {"booking_id"} (its signed-in customer, the
lot's staff, the service role). Every rule is Postgres' (routines/parking/*.sql): 404
booking_not_found, 409 not_cancellable / not_amendable / amend_window_closed / parking_day_full /
parking_day_closed / already_entered / already_exited / too_early, 422 for bad input, 429 after ten
wrong tokens. success_url / cancel_url (configured origins) are where the payment page returns.
"""

from typing import Annotated, Literal, Union
from uuid import UUID

import functions_framework
from pydantic import BaseModel, ConfigDict, Field, model_validator

import shared.areas  # noqa: F401  message kinds and order describers
from shared.commerce import checkout
from shared.comms import notifications
from shared.parking import changes
from shared.platform import contract, http
from shared.providers import mail, payments, sms


class BookingRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    booking_id: UUID | None = None
    reference: str | None = Field(default=None, min_length=3, max_length=40)
    tracking_token: str | None = Field(default=None, min_length=8, max_length=200)
    success_url: str | None = Field(default=None, max_length=2000)
    cancel_url: str | None = Field(default=None, max_length=2000)
    provider: Literal["stripe", "paypal"] = "stripe"  # where a charge this raises is paid

    @model_validator(mode="after")
    def one_way_in(self):
        if (self.booking_id is None) == (self.reference is None) or (self.reference is None) != (self.tracking_token is None):
            raise ValueError("give booking_id, or reference with tracking_token")
        return self


class Terms(BookingRef):
    action: Literal["terms"]


class Cancel(BookingRef):
    action: Literal["cancel"]


class Amend(BookingRef):
    action: Literal["amend"]
    entry: str = Field(min_length=16, max_length=40)
    exit: str = Field(min_length=16, max_length=40)


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["gate"]
    lot_id: UUID
    direction: Literal["entry", "exit"]
    code: str | None = Field(default=None, min_length=8, max_length=200)
    plate: str | None = Field(default=None, min_length=2, max_length=16)
    success_url: str | None = Field(default=None, max_length=2000)
    cancel_url: str | None = Field(default=None, max_length=2000)
    provider: Literal["stripe", "paypal"] = "stripe"

    @model_validator(mode="after")
    def code_or_plate(self):
        if (self.code is None) == (self.plate is None):
            raise ValueError("give the QR code or the plate")
        return self


class Pay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["pay"]
    order_number: str = Field(min_length=3, max_length=40)
    tracking_token: str = Field(min_length=8, max_length=200)
    success_url: str | None = Field(default=None, max_length=2000)
    cancel_url: str | None = Field(default=None, max_length=2000)
    provider: Literal["stripe", "paypal"] = "stripe"


ParkingBody = Annotated[Union[Terms, Cancel, Amend, Gate, Pay], Field(discriminator="action")]


class ParkingRequest(BaseModel):
    request: ParkingBody


def return_urls(call: http.Call, req) -> tuple[str, str]:
    """Where the payment page returns: as asked (a configured origin), else the first configured origin."""
    default = call.settings.checkout.return_origins[0]
    success = req.success_url or f"{default}/parking/paid"
    cancel = req.cancel_url or f"{default}/parking"
    checkout.check_return_url(success, call.settings, "success_url")
    checkout.check_return_url(cancel, call.settings, "cancel_url")
    return success, cancel


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Terms, cancel, amend, a gate scan, or a link to pay a charge",
                       body=ParkingBody, auth="anon"),
])
def main(call: http.Call):
    req = http.validate(ParkingRequest, {"request": call.json(checkout.RawBody).root}).request
    client = payments.stripe_client(call.settings)
    success, cancel = return_urls(call, req)
    if isinstance(req, Pay):
        return changes.pay(req.order_number, req.tracking_token, settings=call.settings, client=client,
                           success_url=success, cancel_url=cancel, provider=req.provider)
    if isinstance(req, Gate):
        result = changes.gate(call.caller, lot_id=str(req.lot_id), direction=req.direction, code=req.code,
                              plate=req.plate)
    else:
        result = changes.change(call.caller, req.action, booking_id=str(req.booking_id) if req.booking_id else None,
                                reference=req.reference, tracking_token=req.tracking_token,
                                entry=getattr(req, "entry", None), exit=getattr(req, "exit", None))
    if req.action == "terms":
        return result
    booking_id = result.get("booking_id") or result["booking"]["id"]
    order_ids = changes.booking_order_ids(booking_id)
    if result.get("refund_minor"):
        result["refunds_sent"] = changes.send_refunds(client, order_ids)
    if result.get("charge"):
        result["charge"] = changes.open_charge_payment(result["charge"], settings=call.settings, client=client,
                                                       success_url=success, cancel_url=cancel,
                                                       provider=req.provider)
    for order_id in order_ids[:1]:  # the booking's own order: its change and cancellation emails
        notifications.send_due(mail.Mailer(call.settings), texter=sms.Texter(call.settings), limit=5,
                               order_id=order_id)
    return result

