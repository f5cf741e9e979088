"""The parking journey over real HTTP: quote, book through the one checkout function (kind "parking"),
pay at the Stripe or PayPal stand-in, get the confirmation whose QR code opens the gates, scan in and
out once each, pay an overstay by link; cancel by the policy with the refund made at the provider; bad
input is a clear 4xx with nothing written."""

from __future__ import annotations

import io
import json
import uuid
from datetime import timedelta

import httpx
import pytest
import zxingcpp
from PIL import Image

from shared.platform.db import Caller
from tests.support import parking as P
from tests.support.pg import call
from tests.support.http import ORIGIN, anon_headers, buy


def body(park: dict, **stay) -> dict:
    request = P.stay(park, **stay)
    return {"kind": "parking", "lot_id": request["lot_id"], "product_id": request["product_id"],
            "entry": request["entry"], "exit": request["exit"],
            "vehicle": {"plate": request["plate"], "make": "Volvo", "model": "V60", "colour": "Blue"},
            "outbound_flight": "BA 2490", "return_flight": "BA2491", "passengers": 2,
            "extras": request["extras"], "buyer_email": f"pat-{uuid.uuid4().hex[:8]}@example.com",
            "buyer_name": "Pat Parker", "buyer_phone": "07700 900123",
            "success_url": f"{ORIGIN}/parking/thanks", "cancel_url": f"{ORIGIN}/parking"}


def parking(stack, payload: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{stack.functions_url}/parking", json=payload, headers=headers or anon_headers(), timeout=30)


def qr_text(email: dict) -> str:
    [attachment] = email["attachments"]
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(attachment["content"])))
    return code.text


@pytest.fixture(scope="module")
def park(db):
    return P.car_park(db)


def test_book_pay_get_the_qr_scan_in_and_out_once_and_pay_the_overstay(stack, db, park):
    payload = body(park, extras=[park["wash"]])
    r = buy(stack.functions_url, payload)
    assert r.status_code == 200, r.text
    order = r.json()
    assert (order["kind"], order["status"], order["total_minor"]) == ("parking", "pending", 4500 + 1500)
    booking = order["booking"]
    assert (booking["status"], booking["plate"], booking["reference"]) == ("held", "AB12CDE", order["order_number"])
    assert "gate_code" not in booking

    session_id = db.value("select checkout_session_id from public.orders where id = %s", (order["order_id"],))
    stack.stripe.pay(session_id)
    assert P.booking_row(db, order["order_id"])["status"] == "booked"
    emails = {e["subject"].split(":")[0]: e for e in stack.resend.emails_to(payload["buyer_email"])}
    confirmation = emails["Parking booked"]
    code = qr_text(confirmation)
    # The QR holds the gate code the guest's own lookup (reference + token, as PostgREST runs it) shows.
    looked_up = call(db, Caller.anon(), "select public.lookup_parking_booking(%s, %s)",
                     order["order_number"], order["tracking_token"])
    assert code == looked_up["gate_code"]
    assert "AB12CDE" in confirmation["text"] and "Bookwell Parking T5 (LHR)" in confirmation["text"]
    [sms] = [m for m in stack.twilio.messages if m["to"] == "+447700900123"]
    assert order["order_number"] in sms["body"]

    # Time passes by moving the stay (no clock faked): it began 3 days ago and ends in an hour.
    P.shift(db, booking["id"], entry=timedelta(hours=-72), exit=timedelta(hours=1))
    staff = park["people"]["staff"]
    gate = {"action": "gate", "lot_id": str(park["lot"]["id"]), "code": code}
    entered = parking(stack, gate | {"direction": "entry"}, staff.headers)
    assert entered.status_code == 200, entered.text
    assert entered.json()["result"] == "entered"
    again = parking(stack, gate | {"direction": "entry"}, staff.headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_entered")
    # ... and the car comes back late: its booked exit was 2 hours ago.
    P.shift(db, booking["id"], entry=timedelta(hours=-72), exit=timedelta(hours=-2))
    left = parking(stack, gate | {"direction": "exit"}, staff.headers).json()
    assert left["result"] == "exited"
    assert left["overstay_minor"] == 2500  # 2 h past the booked exit, beyond the 30 min grace: one day
    charge = left["charge"]
    assert charge["amount_minor"] == 2500 and charge["checkout_url"].startswith(stack.base_url + "/stripe/checkout/")
    assert (parking(stack, gate | {"direction": "exit"}, staff.headers).json()["error"]["code"]) == "already_exited"

    # The link lapses unpaid (Stripe expires a session after 24 hours): asking again opens a new one.
    first_session = db.value("select checkout_session_id from public.orders where id = %s", (charge["order_id"],))
    from shared.platform.config import settings
    from shared.providers import payments
    payments.expire_checkout_session(payments.stripe_client(settings()), first_session)
    expired = [d for d in stack.stripe.events_sent if d.type == "checkout.session.expired"
               and d.event["data"]["object"]["id"] == first_session]
    assert [json.loads(d.response_body)["result"] for d in expired] == ["still_owed"]
    assert db.value("select status from public.orders where id = %s", (charge["order_id"],)) == "pending"
    again = parking(stack, {"action": "pay", "order_number": charge["order_number"],
                            "tracking_token": charge["tracking_token"]}).json()
    assert again["checkout_url"] and again["checkout_url"] != charge["checkout_url"], again
    same = parking(stack, {"action": "pay", "order_number": charge["order_number"],
                           "tracking_token": charge["tracking_token"]}).json()
    assert same["checkout_url"] == again["checkout_url"], "an open link is given again, not replaced"

    # Paid at the barrier by the new link: the charge's order is paid, and a receipt goes out.
    charge_session = db.value("select checkout_session_id from public.orders where id = %s", (charge["order_id"],))
    assert charge_session != first_session
    stack.stripe.pay(charge_session)
    assert db.value("select status from public.orders where id = %s", (charge["order_id"],)) == "paid"
    assert any(e["subject"] == f"Receipt for order {charge['order_number']}"
               for e in stack.resend.emails_to(payload["buyer_email"]))


def test_a_guest_cancels_a_flexible_booking_and_the_refund_is_made_at_paypal(stack, db, park):
    db.sql("insert into public.parking_policies (org_id, admin_fee_minor) values (%s, 300)"
           " on conflict (org_id) do update set admin_fee_minor = 300", (park["org_id"],))
    payload = body(park, entry=P.local(park["lot"], 20, 9), exit=P.local(park["lot"], 22, 9)) | {"provider": "paypal"}
    r = buy(stack.functions_url, payload)
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["provider"] == "paypal" and order["total_minor"] == 2000
    paypal_id = db.value("select paypal_order_id from public.orders where id = %s", (order["order_id"],))
    stack.paypal.approve(paypal_id)
    back = httpx.get(f"{stack.functions_url}/paypal-return", params={"token": paypal_id}, follow_redirects=False,
                     timeout=30)
    assert back.status_code == 303 and "payment=paid" in back.headers["location"]
    assert P.booking_row(db, order["order_id"])["status"] == "booked"

    ref = {"reference": order["order_number"], "tracking_token": order["tracking_token"]}
    terms = parking(stack, {"action": "terms"} | ref).json()
    assert (terms["rule"], terms["refund_minor"], terms["fee_minor"]) == ("flexible", 1700, 300)
    wrong = parking(stack, {"action": "cancel", "reference": order["order_number"], "tracking_token": "x" * 48})
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (404, "booking_not_found")
    cancelled = parking(stack, {"action": "cancel"} | ref)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() | {"booking_id": None} == {"booking_id": None, "status": "cancelled", "rule": "flexible",
                                                     "refund_minor": 1700, "fee_minor": 300, "refunds_sent": 1}
    [capture] = [c for c in stack.paypal.captures.values()
                 if c["supplementary_data"]["related_ids"]["order_id"] == paypal_id]
    [refund] = [x for x in stack.paypal.refunds.values() if x["links"][1]["href"].endswith(capture["id"])]
    assert refund["amount"] == {"currency_code": "GBP", "value": "17.00"}
    assert db.value("select status from public.refunds where order_id = %s", (order["order_id"],)) == "succeeded"
    assert P.booking_row(db, order["order_id"])["status"] == "cancelled"
    again = parking(stack, {"action": "cancel"} | ref)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "not_cancellable")


@pytest.mark.parametrize("change, status, code", [
    ({"exit": "2020-01-01T10:00"}, 422, "invalid_stay"),           # exit before entry
    ({"entry": "tomorrow at six"}, 422, "invalid_request"),       # not a time at all (too short for the model)
    ({"vehicle": {"plate": "AB-12 CD$"}}, 422, "invalid_plate"),
    ({"lot_id": str(uuid.uuid4())}, 404, "lot_not_found"),
    ({"passengers": 0}, 422, "invalid_request"),
    ({"outbound_flight": "FLY ME"}, 422, "invalid_flight"),
    ({"vehicle": {"plate": "AB12 CDE", "make": "Vol\u0000vo"}}, 422, "invalid_value"),  # a NUL jsonb refuses: was a 500
])
def test_bad_input_is_a_clear_4xx_and_nothing_is_written(stack, db, park, change, status, code):
    payload = body(park) | change
    orders_before = db.value("select count(*) from public.orders")
    r = buy(stack.functions_url, payload)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert db.value("select count(*) from public.orders") == orders_before


def test_a_stay_longer_than_the_product_allows_is_refused(stack, db, park):
    payload = body(park, product="saver", entry=P.local(park["lot"], 3, 9), exit=P.local(park["lot"], 30, 9))
    r = buy(stack.functions_url, payload)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "stay_too_long")
