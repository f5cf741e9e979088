"""GET /functions/v1/paypal-return?token=<PayPal order id>&PayerID=...

Where PayPal sends the buyer after they approve (PAYPAL_RETURN_URL). The approved PayPal order is
captured (twice is once: PayPal-Request-Id) and recorded as its order's payment, then the buyer is
sent on (303) to the checkout's success_url with `order` and `payment` (paid, pending, declined) added.
No sign-in: only a PayPal order opened by our checkout can be captured, and only once its buyer has
approved it. If PayPal cannot answer, the buyer still goes on (payment=pending) and the
CHECKOUT.ORDER.APPROVED webhook captures it later. 404 unknown_paypal_order.
"""

from urllib.parse import urlencode, urlsplit, urlunsplit

import functions_framework
from pydantic import BaseModel, ConfigDict, Field

import shared.areas  # noqa: F401  every area's order kinds, describers and message renderers
from shared.commerce import paypal_checkout
from shared.comms import notifications
from shared.platform import contract, errors, http, log
from shared.providers import mail, sms

OUTCOME = {"fulfilled": "paid", "late_fulfilled": "paid", "already_paid": "paid"}


def _with(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, (parts.query, urlencode(params))))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class ReturnQuery(BaseModel):
    """What PayPal adds to the return URL."""

    model_config = ConfigDict(populate_by_name=True)
    token: str = Field(min_length=1, max_length=64, description="the PayPal order id")
    payer_id: str | None = Field(None, alias="PayerID")


@functions_framework.http
@http.function(methods=("GET",), operations=[
    contract.Operation("GET", summary="Capture the approved PayPal order, then 303 to the checkout's success_url",
                       query=ReturnQuery, status=303, media=None, auth="none"),
])
def main(call: http.Call):
    paypal_order_id = call.request.args.get("token") or ""
    if not 1 <= len(paypal_order_id) <= 64:
        raise errors.bad_request("invalid_token", "The PayPal order id (token) is missing")
    try:
        captured = paypal_checkout.capture(paypal_order_id, call.settings)
        payment = OUTCOME.get(captured["result"], "refunded" if "refunded" in captured["result"] else "pending")
    except errors.DomainError as exc:
        if exc.code == "unknown_paypal_order":
            raise
        log.event("paypal_return_not_captured", paypal_order_id=paypal_order_id, error=exc.code)
        order = paypal_checkout.order_for_return(paypal_order_id)
        captured = {"order_id": order["order_id"], "number": order["number"], "return_url": order["return_url"]}
        payment = "declined" if exc.code == "paypal_declined" else "pending"
    try:
        notifications.send_due(mail.Mailer(call.settings), texter=sms.Texter(call.settings), limit=10,
                               order_id=captured["order_id"])
    except Exception as exc:  # the payment is recorded; cron sends what is left
        log.event("paypal_return_follow_up_failed", error=type(exc).__name__)
    return http.Response(status=303, headers={
        "Location": _with(captured["return_url"], order=captured["number"], payment=payment)})
