"""The PayPal stand-in, driven over real HTTP by PayPal's paypal-server-sdk through
shared/providers/paypal.py (and by raw HTTP where the wire itself is the point).

Webhooks go to a receiver that accepts only what `paypal.verify_webhook` accepts, i.e. what the
stand-in's verify-webhook-signature endpoint says PayPal signed."""

from __future__ import annotations

import json

import httpx
import pytest
from paypalserversdk.exceptions.error_exception import ErrorException

from shared.devstack import devserver
from shared.devstack.standins.paypal_standin import PaypalError, PaypalStandin, event_body
from shared.platform.config import Settings
from shared.providers import paypal
from tests.standins import serve
from tests.standins.conftest import PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET, PAYPAL_WEBHOOK_ID, paypal_settings_for

RETURN, CANCEL = "https://shop.example/paid?via=paypal", "https://shop.example/cart"


def an_order(order_id: str = "0b0e7c1a-0000-4000-8000-000000000001", *, currency: str = "GBP", **extra) -> dict:
    order = {"order_id": order_id, "number": "BW-1001", "currency": currency, "total_minor": 3000, "items": [
        {"description": "Adult ticket", "quantity": 2, "unit_price_minor": 1250, "total_minor": 2500,
         "discount_minor": 0},
        {"description": "Parking", "quantity": 1, "unit_price_minor": 500, "total_minor": 500, "discount_minor": 0}]}
    return order | extra


def token(api: str) -> str:
    answer = httpx.post(f"{api}/v1/oauth2/token", auth=(PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET),
                        data={"grant_type": "client_credentials"})
    assert answer.status_code == 200
    return answer.json()["access_token"]


def raw(api: str, method: str, path: str, body: dict | None = None, **headers: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token(api)}", **{k.replace("_", "-"): v for k, v in headers.items()}}
    return httpx.request(method, f"{api}{path}", json=body, headers=headers)


def order_body(value: str = "30.00", currency: str = "GBP", **unit) -> dict:
    return {"intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": currency, "value": value}, **unit}],
            "application_context": {"return_url": RETURN, "cancel_url": CANCEL}}


def paid(client, standin: PaypalStandin, order: dict | None = None) -> tuple[str, dict]:
    """An order created, approved by the buyer and captured: (PayPal order id, the capture)."""
    order = order or an_order()
    paypal_order_id, _ = paypal.create_order(client, order, return_url=RETURN, cancel_url=CANCEL)
    standin.approve(paypal_order_id)
    return paypal_order_id, paypal.capture_order(client, paypal_order_id, order_id=order["order_id"])


# ------------------------------------------------------------------ auth

def test_every_api_call_needs_a_bearer_token_from_the_client_credentials(paypal_api, paypal_settings):
    anonymous = httpx.post(f"{paypal_api}/v2/checkout/orders", json=order_body())
    assert anonymous.status_code == 401
    assert anonymous.json()["name"] == "AUTHENTICATION_FAILURE" and anonymous.json()["debug_id"]
    assert httpx.get(f"{paypal_api}/v2/checkout/orders/X", headers={"Authorization": "Bearer nope"}).status_code == 401

    wrong = httpx.post(f"{paypal_api}/v1/oauth2/token", auth=(PAYPAL_CLIENT_ID, "wrong"),
                       data={"grant_type": "client_credentials"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    granted = httpx.post(f"{paypal_api}/v1/oauth2/token", auth=(PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET),
                         data={"grant_type": "client_credentials"}).json()
    assert (granted["token_type"], granted["expires_in"]) == ("Bearer", 32400)
    created = httpx.post(f"{paypal_api}/v2/checkout/orders", json=order_body(),
                         headers={"Authorization": f"Bearer {granted['access_token']}"})
    assert created.status_code == 201 and created.json()["status"] == "CREATED"

    # Through the SDK, refused credentials are a PaypalRefused with the OAuth error, not a bare SDK error.
    with pytest.raises(paypal.PaypalRefused) as refused:
        paypal.create_order(paypal.paypal_client(paypal_settings_for(paypal_api, PAYPAL_CLIENT_SECRET="wrong")),
                            an_order(), return_url=RETURN, cancel_url=CANCEL)
    assert (refused.value.status, refused.value.name) == (401, "invalid_client")


# ------------------------------------------------------------------ orders

def test_an_order_is_created_approved_and_captured_through_the_sdk(paypal_client, paypal_standin, paypal_api):
    paypal_order_id, approve_url = paypal.create_order(paypal_client, an_order(), return_url=RETURN,
                                                       cancel_url=CANCEL, brand_name="Riverside Theatre")
    assert approve_url == f"{paypal_api}/checkoutnow?token={paypal_order_id}" and len(paypal_order_id) == 17
    stored = paypal_standin.orders[paypal_order_id]
    assert stored["status"] == "PAYER_ACTION_REQUIRED"  # made with payment_source.paypal, as PayPal does
    unit = stored["purchase_units"][0]
    assert (unit["custom_id"], unit["invoice_id"]) == ("0b0e7c1a-0000-4000-8000-000000000001", "BW-1001")
    assert unit["amount"] == {"currency_code": "GBP", "value": "30.00",
                              "breakdown": {"item_total": {"currency_code": "GBP", "value": "30.00"}}}
    assert [(i["name"], i["unit_amount"]["value"], i["quantity"]) for i in unit["items"]] == [
        ("Adult ticket", "12.50", "2"), ("Parking", "5.00", "1")]

    with pytest.raises(paypal.PaypalRefused) as early:
        paypal.capture_order(paypal_client, paypal_order_id, order_id="0b0e7c1a-0000-4000-8000-000000000001")
    assert (early.value.status, early.value.name, early.value.issue) == (
        422, "UNPROCESSABLE_ENTITY", "ORDER_NOT_APPROVED")
    assert paypal_standin.captures == {}

    approved = paypal_standin.approve(paypal_order_id)
    assert approved["status"] == "APPROVED" and approved["payer"]["payer_id"]
    capture = paypal.capture_order(paypal_client, paypal_order_id, order_id="0b0e7c1a-0000-4000-8000-000000000001")
    assert capture == {"capture_id": capture["capture_id"], "status": "COMPLETED", "amount_minor": 3000,
                       "currency": "GBP", "custom_id": "0b0e7c1a-0000-4000-8000-000000000001"}
    stored_capture = paypal_standin.captures[capture["capture_id"]]
    breakdown = stored_capture["seller_receivable_breakdown"]
    assert breakdown["gross_amount"]["value"] == "30.00"
    assert float(breakdown["net_amount"]["value"]) + float(breakdown["paypal_fee"]["value"]) == 30.00
    assert stored_capture["supplementary_data"] == {"related_ids": {"order_id": paypal_order_id}}

    summary = paypal.get_order(paypal_client, paypal_order_id)
    assert (summary["status"], summary["amount_minor"], summary["invoice_id"]) == ("COMPLETED", 3000, "BW-1001")
    assert summary["capture"] == capture and summary["payer_id"] == approved["payer"]["payer_id"]


def test_capturing_twice_gives_the_first_capture_and_the_raw_api_says_already_captured(
        paypal_client, paypal_standin, paypal_api):
    order = an_order()
    paypal_order_id, first = paid(paypal_client, paypal_standin, order)
    # Same order, same PayPal-Request-Id: PayPal answers the first capture again.
    assert paypal.capture_order(paypal_client, paypal_order_id, order_id=order["order_id"]) == first

    # Without the request id, PayPal refuses a second capture...
    again = raw(paypal_api, "POST", f"/v2/checkout/orders/{paypal_order_id}/capture")
    assert again.status_code == 422
    assert again.json()["details"][0]["issue"] == "ORDER_ALREADY_CAPTURED"
    with pytest.raises(ErrorException) as sdk_refusal:  # the SDK's own exception, as PayPal's body fills it
        paypal_client.orders.capture_order({"id": paypal_order_id})
    assert sdk_refusal.value.details[0].issue == "ORDER_ALREADY_CAPTURED"

    # ...and once PayPal has forgotten the request id (6 hours), the wrapper answers the existing capture.
    paypal_standin.clock.advance(7 * 3600)
    assert paypal.capture_order(paypal_client, paypal_order_id, order_id=order["order_id"]) == first
    assert list(paypal_standin.captures) == [first["capture_id"]]


def test_a_paypal_request_id_replays_the_first_answer_and_refusals_are_not_kept(paypal_api, paypal_standin,
                                                                                 paypal_client):
    first = raw(paypal_api, "POST", "/v2/checkout/orders", order_body(), PayPal_Request_Id="order:abc")
    again = raw(paypal_api, "POST", "/v2/checkout/orders", order_body(), PayPal_Request_Id="order:abc")
    other = raw(paypal_api, "POST", "/v2/checkout/orders", order_body(), PayPal_Request_Id="order:xyz")
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json() == first.json() and other.json()["id"] != first.json()["id"]

    refused = raw(paypal_api, "POST", "/v2/checkout/orders", order_body("0.00"), PayPal_Request_Id="order:retry")
    assert refused.status_code == 422
    fixed = raw(paypal_api, "POST", "/v2/checkout/orders", order_body(), PayPal_Request_Id="order:retry")
    assert fixed.status_code == 201

    # The wrapper's request id is the Bookwell order: creating twice makes one PayPal order.
    made = {paypal.create_order(paypal_client, an_order(), return_url=RETURN, cancel_url=CANCEL) for _ in range(2)}
    assert len(made) == 1 and len(paypal_standin.orders) == 4


def test_prefer_return_representation_gets_the_whole_order(paypal_api):
    minimal = raw(paypal_api, "POST", "/v2/checkout/orders", order_body()).json()
    assert set(minimal) == {"id", "status", "links"}
    assert {link["rel"] for link in minimal["links"]} == {"self", "approve", "update", "capture"}
    whole = raw(paypal_api, "POST", "/v2/checkout/orders", order_body(), Prefer="return=representation").json()
    assert whole["purchase_units"][0]["amount"] == {"currency_code": "GBP", "value": "30.00"}
    assert whole["intent"] == "CAPTURE" and whole["create_time"].endswith("Z")


# ------------------------------------------------------------------ refunds

def test_a_capture_is_refunded_in_part_then_in_full_and_never_beyond(paypal_client, paypal_standin):
    _, capture = paid(paypal_client, paypal_standin)
    capture_id = capture["capture_id"]

    part = paypal.refund_capture(paypal_client, capture_id, amount_minor=1000, currency="GBP", refund_id="rf-1")
    assert (part["status"], part["amount_minor"]) == ("COMPLETED", 1000)
    assert paypal_standin.captures[capture_id]["status"] == "PARTIALLY_REFUNDED"
    assert paypal.refund_capture(paypal_client, capture_id, amount_minor=1000, currency="GBP",
                                 refund_id="rf-1") == part  # a retry of the same refund refunds once

    with pytest.raises(paypal.PaypalRefused) as too_much:
        paypal.refund_capture(paypal_client, capture_id, amount_minor=2001, currency="GBP", refund_id="rf-2")
    assert (too_much.value.status, too_much.value.issue) == (422, "REFUND_AMOUNT_EXCEEDED")
    with pytest.raises(paypal.PaypalRefused) as other_currency:
        paypal.refund_capture(paypal_client, capture_id, amount_minor=100, currency="EUR", refund_id="rf-3")
    assert other_currency.value.issue == "REFUND_CAPTURE_CURRENCY_MISMATCH"

    rest = paypal.refund_capture(paypal_client, capture_id, amount_minor=2000, currency="GBP", refund_id="rf-4")
    assert rest["amount_minor"] == 2000 and paypal_standin.captures[capture_id]["status"] == "REFUNDED"
    with pytest.raises(paypal.PaypalRefused) as done:
        paypal.refund_capture(paypal_client, capture_id, amount_minor=1, currency="GBP", refund_id="rf-5")
    assert done.value.issue == "CAPTURE_FULLY_REFUNDED"

    assert set(paypal_standin.refunds) == {part["refund_id"], rest["refund_id"]}
    fetched = json.loads(paypal_client.payments.get_refund({"refund_id": rest["refund_id"]}).text)
    assert fetched["custom_id"] == "rf-4" and fetched["seller_payable_breakdown"]["total_refunded_amount"] == {
        "currency_code": "GBP", "value": "30.00"}
    assert json.loads(paypal_client.payments.get_captured_payment({"capture_id": capture_id}).text)["status"] == \
        "REFUNDED"


def test_a_refund_without_an_amount_is_whatever_is_left(paypal_api, paypal_client, paypal_standin):
    _, capture = paid(paypal_client, paypal_standin)
    paypal.refund_capture(paypal_client, capture["capture_id"], amount_minor=500, currency="GBP", refund_id="r1")
    full = raw(paypal_api, "POST", f"/v2/payments/captures/{capture['capture_id']}/refund",
               Prefer="return=representation")
    assert full.status_code == 201 and full.json()["amount"] == {"currency_code": "GBP", "value": "25.00"}
    minimal = raw(paypal_api, "POST", f"/v2/payments/captures/{capture['capture_id']}/refund")
    assert minimal.status_code == 422 and minimal.json()["details"][0]["issue"] == "CAPTURE_FULLY_REFUNDED"


# ------------------------------------------------------------------ money

@pytest.mark.parametrize("minor, currency, value", [
    (1250, "GBP", "12.50"), (5, "GBP", "0.05"), (100000, "USD", "1000.00"), (1500, "JPY", "1500"),
    (1, "JPY", "1"), (123, "HUF", "123"), (12300, "TWD", "123"), (999, "KWD", None)])
def test_minor_units_become_paypal_values_exactly(minor, currency, value):
    if value is None:  # KWD: three decimals in ISO and at PayPal an unsupported currency; written as ISO says
        assert paypal.to_paypal_value(minor, currency) == "0.999"
        return
    assert paypal.to_paypal_value(minor, currency) == value
    assert paypal.from_paypal_value(value, currency) == minor


def test_an_amount_paypal_cannot_write_exactly_is_refused_before_any_call():
    with pytest.raises(ValueError):
        paypal.to_paypal_value(12345, "TWD")  # NT$123.45; PayPal takes whole New Taiwan dollars


def test_a_yen_order_is_sent_without_decimals_and_captured_in_yen(paypal_client, paypal_standin):
    order = an_order(currency="JPY", total_minor=4500, items=[
        {"description": "Tour", "quantity": 3, "unit_price_minor": 1500, "total_minor": 4500, "discount_minor": 0}])
    paypal_order_id, capture = paid(paypal_client, paypal_standin, order)
    unit = paypal_standin.orders[paypal_order_id]["purchase_units"][0]
    assert unit["amount"]["value"] == "4500" and unit["items"][0]["unit_amount"]["value"] == "1500"
    assert (capture["amount_minor"], capture["currency"]) == (4500, "JPY")
    refund = paypal.refund_capture(paypal_client, capture["capture_id"], amount_minor=1500, currency="JPY",
                                   refund_id="jp-1")
    assert paypal_standin.refunds[refund["refund_id"]]["amount"]["value"] == "1500"


def test_discounts_are_sent_so_the_lines_add_up_to_the_total(paypal_client, paypal_standin):
    order = an_order(total_minor=2700, items=[
        {"description": "Adult ticket", "quantity": 2, "unit_price_minor": 1250, "total_minor": 2200,
         "discount_minor": 300},
        {"description": "Parking", "quantity": 1, "unit_price_minor": 1000, "total_minor": 1000, "discount_minor": 0},
        {"description": "Promo SPRING", "quantity": 1, "unit_price_minor": -500, "total_minor": -500,
         "discount_minor": 0}])
    paypal_order_id, _ = paypal.create_order(paypal_client, order, return_url=RETURN, cancel_url=CANCEL)
    amount = paypal_standin.orders[paypal_order_id]["purchase_units"][0]["amount"]
    assert amount["value"] == "27.00"
    assert {k: v["value"] for k, v in amount["breakdown"].items()} == {"item_total": "32.00", "discount": "5.00"}
    items = paypal_standin.orders[paypal_order_id]["purchase_units"][0]["items"]
    assert [(i["name"], i["unit_amount"]["value"], i["quantity"]) for i in items] == [
        ("Adult ticket x 2 (discounted)", "22.00", "1"), ("Parking", "10.00", "1")]

    # Lines that do not add up to the total (a fee Postgres added, say): the total goes alone.
    odd = an_order("0b0e7c1a-0000-4000-8000-000000000002", total_minor=3099)
    paypal_order_id, _ = paypal.create_order(paypal_client, odd, return_url=RETURN, cancel_url=CANCEL)
    unit = paypal_standin.orders[paypal_order_id]["purchase_units"][0]
    assert unit["amount"] == {"currency_code": "GBP", "value": "30.99"} and "items" not in unit


@pytest.mark.parametrize("unit, status, issue", [
    ({"amount": {"currency_code": "JPY", "value": "1500.50"}}, 422, "DECIMALS_NOT_SUPPORTED"),
    ({"amount": {"currency_code": "GBP", "value": "12.505"}}, 422, "DECIMAL_PRECISION"),
    ({"amount": {"currency_code": "GBP", "value": "12,50"}}, 400, "INVALID_PARAMETER_SYNTAX"),
    ({"amount": {"currency_code": "GBP", "value": 12.5}}, 400, "INVALID_PARAMETER_SYNTAX"),
    ({"amount": {"currency_code": "XYZ", "value": "1.00"}}, 422, "INVALID_CURRENCY_CODE"),
    ({"amount": {"currency_code": "GBP", "value": "0.00"}}, 422, "CANNOT_BE_ZERO_OR_NEGATIVE"),
    ({"amount": {"currency_code": "GBP", "value": "-1.00"}}, 422, "CANNOT_BE_ZERO_OR_NEGATIVE"),
    ({"amount": {"currency_code": "GBP"}}, 400, "MISSING_REQUIRED_PARAMETER"),
    ({"amount": {"currency_code": "GBP", "value": "10.00",
                 "breakdown": {"item_total": {"currency_code": "GBP", "value": "9.00"}}}}, 422, "AMOUNT_MISMATCH"),
    ({"amount": {"currency_code": "GBP", "value": "10.00",
                 "breakdown": {"item_total": {"currency_code": "EUR", "value": "10.00"}}}}, 422,
     "MULTI_CURRENCY_ORDER"),
    ({"amount": {"currency_code": "GBP", "value": "10.00",
                 "breakdown": {"item_total": {"currency_code": "GBP", "value": "10.00"}}},
      "items": [{"name": "A", "quantity": "3", "unit_amount": {"currency_code": "GBP", "value": "3.00"}}]}, 422,
     "ITEM_TOTAL_MISMATCH"),
    ({"amount": {"currency_code": "GBP", "value": "9.00"},
      "items": [{"name": "A", "quantity": "3", "unit_amount": {"currency_code": "GBP", "value": "3.00"}}]}, 422,
     "ITEM_TOTAL_REQUIRED"),
    ({"amount": {"currency_code": "GBP", "value": "9.00"}, "invoice_id": "x" * 128}, 400, "INVALID_STRING_LENGTH"),
])
def test_bad_amounts_are_refused_in_paypals_shape(paypal_api, paypal_standin, unit, status, issue):
    refused = raw(paypal_api, "POST", "/v2/checkout/orders",
                  {"intent": "CAPTURE", "purchase_units": [unit]})
    assert refused.status_code == status
    body = refused.json()
    assert body["name"] == {400: "INVALID_REQUEST", 422: "UNPROCESSABLE_ENTITY"}[status]
    assert body["message"] and len(body["debug_id"]) == 13 and refused.headers["Paypal-Debug-Id"] == body["debug_id"]
    assert body["details"][0]["issue"] == issue and body["details"][0]["description"]
    assert body["details"][0]["field"].startswith("/purchase_units")
    assert body["links"][0]["rel"] == "information_link" and issue in body["links"][0]["href"]
    assert paypal_standin.orders == {}


def test_an_invoice_id_already_paid_is_a_duplicate(paypal_client, paypal_standin):
    paid(paypal_client, paypal_standin, an_order("0b0e7c1a-0000-4000-8000-00000000000a"))
    with pytest.raises(paypal.PaypalRefused) as duplicate:
        paypal.create_order(paypal_client, an_order("0b0e7c1a-0000-4000-8000-00000000000b"), return_url=RETURN,
                            cancel_url=CANCEL)
    assert duplicate.value.issue == "DUPLICATE_INVOICE_ID"


# ------------------------------------------------------------------ the buyer's page

def test_the_approval_page_approves_and_sends_the_buyer_back_with_token_and_payer_id(
        paypal_client, paypal_standin, paypal_api, paypal_receiver):
    paypal_order_id, approve_url = paypal.create_order(paypal_client, an_order(), return_url=RETURN,
                                                       cancel_url=CANCEL, brand_name="Riverside <Theatre>")
    page = httpx.get(approve_url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Riverside &lt;Theatre&gt;" in page.text and "30.00 GBP" in page.text and "Adult ticket" in page.text
    for button in ('id="approve"', 'id="decline"', 'id="cancel"'):
        assert button in page.text
    assert 'action="/paypal/checkoutnow/approve"' in page.text

    cancelled = httpx.post(f"{paypal_api}/checkoutnow/cancel", data={"token": paypal_order_id})
    assert (cancelled.status_code, cancelled.headers["location"]) == (303, f"{CANCEL}?token={paypal_order_id}")
    assert paypal_standin.orders[paypal_order_id]["status"] == "PAYER_ACTION_REQUIRED"

    approved = httpx.post(f"{paypal_api}/checkoutnow/approve", data={"token": paypal_order_id})
    payer_id = paypal_standin.orders[paypal_order_id]["payer"]["payer_id"]
    assert approved.status_code == 303
    assert approved.headers["location"] == f"{RETURN}&token={paypal_order_id}&PayerID={payer_id}"
    assert paypal_standin.orders[paypal_order_id]["status"] == "APPROVED"
    assert paypal_receiver.events == []  # the approval webhook is owed, not sent during the click

    paypal.capture_order(paypal_client, paypal_order_id, order_id=an_order()["order_id"])
    after = httpx.get(approve_url).text
    assert 'data-status="COMPLETED"' in after and 'id="approve"' not in after
    assert httpx.get(f"{paypal_api}/checkoutnow?token=NOPE").status_code == 404
    assert paypal_order_id in httpx.get(f"{paypal_api}/").text


def test_a_declined_instrument_fails_the_capture_and_the_buyer_approves_again(paypal_client, paypal_standin,
                                                                               paypal_api):
    order = an_order()
    paypal_order_id, approve_url = paypal.create_order(paypal_client, order, return_url=RETURN, cancel_url=CANCEL)
    assert httpx.post(f"{paypal_api}/checkoutnow/decline", data={"token": paypal_order_id}).status_code == 303
    with pytest.raises(paypal.PaypalRefused) as declined:
        paypal.capture_order(paypal_client, paypal_order_id, order_id=order["order_id"])
    assert declined.value.issue == "INSTRUMENT_DECLINED" and paypal_standin.captures == {}
    assert paypal_standin.orders[paypal_order_id]["status"] == "PAYER_ACTION_REQUIRED"
    paypal_standin.approve(paypal_order_id)
    assert paypal.capture_order(paypal_client, paypal_order_id, order_id=order["order_id"])["status"] == "COMPLETED"


# ------------------------------------------------------------------ webhooks

def test_webhooks_are_owed_then_delivered_signed_and_verified(paypal_client, paypal_standin, paypal_receiver):
    paypal_order_id, capture = paid(paypal_client, paypal_standin)
    refund = paypal.refund_capture(paypal_client, capture["capture_id"], amount_minor=700, currency="GBP",
                                   refund_id="rf-9")
    assert paypal_receiver.events == [] and paypal_standin.webhooks.pending == 3

    attempts = paypal_standin.webhooks.flush()
    assert [a.status for a in attempts] == [200, 200, 200] and paypal_receiver.rejected == []
    assert paypal_receiver.types() == ["CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED",
                                       "PAYMENT.CAPTURE.REFUNDED"]
    approved, completed, refunded = paypal_receiver.events
    assert approved["resource_type"] == "checkout-order" and approved["resource"]["id"] == paypal_order_id
    assert completed["resource"]["id"] == capture["capture_id"]
    assert completed["resource"]["custom_id"] == "0b0e7c1a-0000-4000-8000-000000000001"
    assert completed["resource"]["supplementary_data"]["related_ids"]["order_id"] == paypal_order_id
    assert refunded["resource"]["id"] == refund["refund_id"] and refunded["resource"]["custom_id"] == "rf-9"
    assert all(e["id"].startswith("WH-") and e["event_version"] == "1.0" and e["summary"] for e in
               paypal_receiver.events)
    headers = attempts[0].headers
    assert headers["PAYPAL-AUTH-ALGO"] == "SHA256withRSA"
    assert headers["PAYPAL-CERT-URL"] == paypal_standin.cert_url()
    assert "BEGIN CERTIFICATE" in httpx.get(headers["PAYPAL-CERT-URL"]).text
    assert [e["id"] for e in paypal_standin.events] == [e["id"] for e in paypal_receiver.events]


def test_an_altered_body_another_webhook_id_or_a_forged_signature_fail_verification(
        paypal_client, paypal_standin, paypal_receiver, paypal_settings):
    paid(paypal_client, paypal_standin)
    approved, completed = paypal_standin.webhooks.flush()
    assert paypal.verify_webhook(completed.headers, completed.body, paypal_settings)["event_type"] == \
        "PAYMENT.CAPTURE.COMPLETED"

    altered = completed.body.replace(b'"value":"30.00"', b'"value":"3000.00"', 1)
    assert altered != completed.body
    with pytest.raises(paypal.PaypalWebhookInvalid, match="FAILURE"):
        paypal.verify_webhook(completed.headers, altered, paypal_settings)
    elsewhere = paypal_settings_for(paypal_settings.paypal.base, PAYPAL_WEBHOOK_ID="WHSOMEONEELSE01")
    with pytest.raises(paypal.PaypalWebhookInvalid, match="FAILURE"):
        paypal.verify_webhook(completed.headers, completed.body, elsewhere)
    replayed_sig = {**completed.headers, "PAYPAL-TRANSMISSION-SIG": approved.headers["PAYPAL-TRANSMISSION-SIG"]}
    with pytest.raises(paypal.PaypalWebhookInvalid, match="FAILURE"):
        paypal.verify_webhook(replayed_sig, completed.body, paypal_settings)
    missing = {k: v for k, v in completed.headers.items() if k != "PAYPAL-TRANSMISSION-SIG"}
    with pytest.raises(paypal.PaypalWebhookInvalid, match="PAYPAL-TRANSMISSION-SIG"):
        paypal.verify_webhook(missing, completed.body, paypal_settings)
    with pytest.raises(paypal.PaypalWebhookInvalid, match="not JSON"):
        paypal.verify_webhook(completed.headers, b"not json", paypal_settings)

    # A delivery signed with a key that is not the stand-in's, with every header in place, is refused.
    forged = json.loads(completed.body)
    forged["resource"]["amount"]["value"] = "0.01"
    paypal_standin.send_forged(forged)
    [attempt] = paypal_standin.webhooks.flush()
    assert attempt.status == 400 and attempt.headers["PAYPAL-CERT-URL"] == paypal_standin.cert_url()
    assert len(paypal_receiver.events) == 2 and "FAILURE" in paypal_receiver.rejected[-1]


def test_a_past_delivery_is_sent_again_with_a_new_transmission(paypal_client, paypal_standin, paypal_receiver):
    paid(paypal_client, paypal_standin)
    paypal_standin.webhooks.flush()
    completed = paypal_standin.events[1]
    paypal_standin.redeliver(completed["id"])
    [again] = paypal_standin.webhooks.flush()
    assert again.status == 200 and again.body == event_body(completed)
    assert [e["id"] for e in paypal_receiver.events].count(completed["id"]) == 2
    assert len(set(paypal_receiver.transmissions)) == 3


def test_verify_webhook_signature_wants_every_field(paypal_api):
    incomplete = raw(paypal_api, "POST", "/v1/notifications/verify-webhook-signature",
                     {"auth_algo": "SHA256withRSA", "webhook_id": PAYPAL_WEBHOOK_ID})
    assert incomplete.status_code == 400 and incomplete.json()["details"][0]["issue"] == "MISSING_REQUIRED_PARAMETER"


# ------------------------------------------------------------------ faults

def test_paypal_down_before_or_losing_the_answer_after_is_paypal_unavailable(paypal_client, paypal_standin):
    order = an_order()
    paypal_standin.fail_next(1, 503)
    with pytest.raises(paypal.PaypalUnavailable) as down:
        paypal.create_order(paypal_client, order, return_url=RETURN, cancel_url=CANCEL)
    assert down.value.status == 503 and paypal_standin.orders == {}
    paypal_order_id, _ = paypal.create_order(paypal_client, order, return_url=RETURN, cancel_url=CANCEL)
    paypal_standin.approve(paypal_order_id)

    paypal_standin.fail_next(1, 500, after=True)
    with pytest.raises(paypal.PaypalUnavailable):
        paypal.capture_order(paypal_client, paypal_order_id, order_id=order["order_id"])
    [taken] = paypal_standin.captures  # the money moved; only the answer was lost
    assert paypal.capture_order(paypal_client, paypal_order_id, order_id=order["order_id"])["capture_id"] == taken
    assert list(paypal_standin.captures) == [taken]

    paypal_standin.fail_next(1, 429)
    with pytest.raises(paypal.PaypalUnavailable):
        paypal.get_order(paypal_client, paypal_order_id)


def test_paypal_unreachable_is_paypal_unavailable():
    with serve(lambda environ, start: [b""]) as base:
        gone = base  # the port is closed once serve exits
    settings = paypal_settings_for(gone)
    with pytest.raises(paypal.PaypalUnavailable):
        paypal.create_order(paypal.paypal_client(settings), an_order(), return_url=RETURN, cancel_url=CANCEL)
    with pytest.raises(paypal.PaypalUnavailable):
        paypal.verify_webhook({name: "x" for name in paypal.WEBHOOK_HEADERS},
                              b'{"id": "WH-1", "event_type": "X"}', settings)


# ------------------------------------------------------------------ vault

def test_a_wallet_is_saved_charged_without_the_buyer_listed_and_deleted(paypal_client, paypal_standin, paypal_api,
                                                                        paypal_receiver):
    setup_id, approve_url = paypal.create_setup_token(paypal_client, return_url=RETURN, cancel_url=CANCEL,
                                                      request_id="setup:user-1", description="Bookwell")
    assert approve_url == f"{paypal_api}/agreements/approve?approval_session_id={setup_id}"
    with pytest.raises(paypal.PaypalRefused) as early:
        paypal.save_payment_token(paypal_client, setup_id, request_id="save:user-1")
    assert early.value.issue == "SETUP_TOKEN_NOT_APPROVED"

    assert "Agree and continue" in httpx.get(approve_url).text
    back = httpx.post(f"{paypal_api}/agreements/approve", data={"approval_session_id": setup_id})
    assert back.headers["location"] == f"{RETURN}&approval_token_id={setup_id}&approval_session_id={setup_id}"
    saved = paypal.save_payment_token(paypal_client, setup_id, request_id="save:user-1")
    assert saved["email"] == "buyer@example.com" and saved["customer_id"].startswith("customer_")
    assert paypal_standin.setup_tokens[setup_id]["status"] == "VAULTED"
    assert paypal.list_payment_tokens(paypal_client, saved["customer_id"]) == [saved]

    charged = paypal.charge_saved_wallet(paypal_client, an_order(), payment_token_id=saved["payment_token_id"])
    assert (charged["status"], charged["amount_minor"]) == ("COMPLETED", 3000)
    assert paypal_standin.orders[charged["paypal_order_id"]]["status"] == "COMPLETED"
    paypal_standin.webhooks.flush()
    assert paypal_receiver.types() == ["PAYMENT.CAPTURE.COMPLETED"]

    single_step = raw(paypal_api, "POST", "/v2/checkout/orders", {
        "intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": "GBP", "value": "5.00"}}],
        "payment_source": {"paypal": {"vault_id": saved["payment_token_id"]}}})
    assert single_step.json()["details"][0]["issue"] == "PAYPAL_REQUEST_ID_REQUIRED"

    paypal.delete_payment_token(paypal_client, saved["payment_token_id"])
    assert paypal.list_payment_tokens(paypal_client, saved["customer_id"]) == []
    with pytest.raises(paypal.PaypalRefused) as gone:
        paypal.delete_payment_token(paypal_client, saved["payment_token_id"])
    assert gone.value.status == 404
    with pytest.raises(paypal.PaypalRefused) as used:  # its setup token cannot bring it back
        paypal.save_payment_token(paypal_client, setup_id, request_id="save:user-1-again")
    assert (used.value.status, used.value.issue) == (422, "INVALID_PARAMETER_VALUE")


# ------------------------------------------------------------------ wiring

def test_the_dev_server_mounts_the_standin_only_with_the_local_credentials():
    local = devserver.Standins.for_settings(Settings())
    assert isinstance(local.paypal, PaypalStandin) and "/paypal" in local.mounts()
    assert local.paypal.webhook_url.endswith("/functions/v1/paypal-webhook")
    real = devserver.Standins.for_settings(Settings(PAYPAL_CLIENT_ID="live-id", PAYPAL_CLIENT_SECRET="live-secret"))
    assert real.paypal is None and "/paypal" not in real.mounts()
    assert Settings(PAYPAL_CLIENT_SECRET="live-secret").paypal.base is None  # live PayPal


def test_production_refuses_the_local_paypal_credentials_unless_paypal_is_off():
    others = {"BOOKWELL_ENV": "production", "SUPABASE_JWT_SECRET": "s" * 40, "STRIPE_SECRET_KEY": "sk_live_x",
              "STRIPE_WEBHOOK_SECRET": "whsec_live", "RESEND_API_KEY": "re_live",
              "RESEND_WEBHOOK_SECRET": "whsec_bGl2ZQ==", "SMS_ENABLED": "false"}
    with pytest.raises(RuntimeError, match="PAYPAL_CLIENT_ID"):
        Settings(**others).check()
    with pytest.raises(RuntimeError, match="PAYPAL_WEBHOOK_ID"):
        Settings(**others, PAYPAL_CLIENT_ID="id", PAYPAL_CLIENT_SECRET="secret").check()
    real = {"PAYPAL_CLIENT_ID": "id", "PAYPAL_CLIENT_SECRET": "secret", "PAYPAL_WEBHOOK_ID": "8PT597110X6874"}
    with pytest.raises(RuntimeError, match="PAYPAL_RETURN_URL"):
        Settings(**others, **real).check()
    Settings(**others, **real, PAYPAL_RETURN_URL="https://fn.example.com/paypal-return").check()
    Settings(**others, PAYPAL_ENABLED="false").check()


def test_python_side_handles_refuse_what_paypal_would():
    standin = PaypalStandin(None, "id", "secret", "WH1")
    with pytest.raises(PaypalError) as unknown:
        standin.approve("NOSUCHORDER")
    assert unknown.value.status == 404
