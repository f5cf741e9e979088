"""Paying for a trip (routines/chauffeur/payments.sql, routines/commerce/authorisations.sql,
functions/authorise-payment, functions/settle-payments, the Stripe webhook), end to end over real HTTP
with the real Stripe SDK against the stand-in: the card is authorised at booking with a margin, the
final amount (wait time included) is captured after the trip and never more than was authorised, a
late cancellation or no-show costs its fee as policy_type says, anything else is released; forged,
replayed or late webhooks change nothing they should not."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import stripe

from psycopg.types.json import Jsonb

from shared.comms import notifications
from shared.platform.config import settings
from shared.platform.db import Caller
from shared.providers import payments
from shared.providers.mail import Mailer
from tests.support import orders, ticketing
from tests.support.chauffeur import book, trip
from tests.support.http import anon_headers, service_headers
from tests.support.pg import call, refused


def booked(db, firm, *, policy: str | None = None, **extra) -> dict:
    request = trip(firm["sedan"], **extra) | ({"policy_type": policy} if policy else {})
    answer = book(db, firm["org_id"], request, {"name": "Paula Payer", "email": f"paula-{uuid.uuid4().hex[:6]}@example.com"},
                  caller=firm["people"]["dispatcher"].caller if policy else None)
    assert isinstance(answer, dict), answer
    return answer


def authorise(stack, answer: dict, token: str | None = None) -> httpx.Response:
    return httpx.post(f"{stack.functions_url}/authorise-payment", headers=anon_headers(), timeout=30,
                      json={"order_number": answer["number"], "tracking_token": token or answer["tracking_token"]})


def authorised(stack, db, answer: dict, card: str = "pm_card_visa") -> dict:
    r = authorise(stack, answer)
    assert r.status_code == 200, r.text
    intent = r.json()
    payments.stripe_client(settings()).v1.payment_intents.confirm(intent["payment_intent_id"], {"payment_method": card})
    return intent


def settle(stack) -> dict:
    r = httpx.post(f"{stack.functions_url}/settle-payments", headers=service_headers(), json={}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def state(db, answer: dict) -> dict:
    return db.one("select r.status::text as trip, o.status::text as order_status, o.authorized_minor, o.total_minor,"
                  " r.fee_minor, r.fee_owed_by::text as fee_owed_by, r.balance_due_minor, o.id as order_id,"
                  " o.payment_intent_id from public.reservations r join public.orders o on o.id = r.order_id"
                  " where r.id = %s", (answer["reservation_id"],))


def drive(db, firm, answer: dict, *, waited_minutes: int) -> dict:
    """Dispatch assigns Dee; Dee drives, the passenger boards `waited_minutes` after Dee arrived."""
    r = answer["reservation_id"]
    call(db, firm["people"]["dispatcher"].caller, "select public.assign_reservation(%s, %s, null)", r, firm["dee"]["id"])
    step = lambda name: call(db, firm["people"]["driver"].caller, "select to_jsonb(public.advance_trip(%s, %s))",  # noqa: E731
                             r, name)
    step("en_route")
    step("on_location")
    db.sql("update public.reservations set on_location_at = on_location_at - make_interval(mins => %s)"
           " where id = %s", (waited_minutes, r))
    step("on_board")
    return step("completed")


def test_authorised_at_booking_then_the_final_amount_with_wait_time_is_captured_and_receipted(stack, db, firm):
    answer = booked(db, firm, days=30)
    intent = authorised(stack, db, answer)
    assert intent["amount_minor"] == math.ceil(answer["total_minor"] * 1.2)  # the default 20 % margin
    found = state(db, answer)
    assert (found["trip"], found["order_status"], found["authorized_minor"]) == (
        "confirmed", "processing", intent["amount_minor"]), "authorised: the trip is confirmed"
    assert db.value("select count(*) from public.notification_outbox where template = 'reservation_confirmed'"
                    " and payload ->> 'reservation_id' = %s", (answer["reservation_id"],)) == 1
    again = authorise(stack, answer)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_authorisable"

    done = drive(db, firm, answer, waited_minutes=25)  # 10 minutes beyond the 15 minutes' grace
    final = answer["total_minor"] + 10 * 100
    assert done["final_total_minor"] == final
    assert settle(stack) == {"settled": 1, "failed": 0}
    pi = stack.stripe.payment_intents[intent["payment_intent_id"]]
    assert (pi["status"], pi["amount_received"]) == ("succeeded", final)
    found = state(db, answer)
    assert (found["order_status"], found["total_minor"], found["balance_due_minor"]) == ("paid", final, 0)
    assert db.value("select amount_minor from public.payments where order_id = %s", (found["order_id"],)) == final
    assert settle(stack) == {"settled": 0, "failed": 0}, "settled once"
    # The authorisation's event delivered again, late (after the capture): nothing changes.
    [late] = [d for d in stack.stripe.events_sent if d.type == "payment_intent.amount_capturable_updated"
              and d.event["data"]["object"]["id"] == intent["payment_intent_id"]]
    again_late = stack.stripe.deliver(stack.stripe.build_event("payment_intent.amount_capturable_updated",
                                                               late.event["data"]["object"]))
    assert again_late.status == 200 and b'"unchanged"' in again_late.response_body
    assert state(db, answer)["order_status"] == "paid"
    assert db.value("select count(*) from private.payment_settlements where order_id = %s", (found["order_id"],)) == 1

    notifications.send_due(Mailer(settings()), templates=["payment_receipt"], order_id=str(found["order_id"]))
    buyer = db.value("select buyer_email from public.orders where id = %s", (found["order_id"],))
    [receipt] = [e for e in stack.resend.emails_to(buyer) if e["subject"].startswith("Receipt")]
    assert "1 x Executive Sedan wait time after 15 minutes: £10.00" in receipt["text"]
    assert f"Total: £{final / 100:.2f}" in receipt["text"]


def test_a_final_amount_above_the_authorisation_captures_the_authorisation_and_leaves_a_balance(stack, db, firm):
    answer = booked(db, firm, days=31)
    intent = authorised(stack, db, answer)
    done = drive(db, firm, answer, waited_minutes=15 + 600)  # ten hours late: £600 of waiting
    settle(stack)
    final = done["final_total_minor"]
    pi = stack.stripe.payment_intents[intent["payment_intent_id"]]
    assert pi["amount_received"] == intent["amount_minor"] < final
    found = state(db, answer)
    assert (found["order_status"], found["balance_due_minor"]) == ("paid", final - intent["amount_minor"])
    assert db.value("select amount_minor from public.payments where order_id = %s", (found["order_id"],)) == \
        intent["amount_minor"]


def test_capture_is_never_asked_above_the_authorisation(stack, db, firm):
    answer = booked(db, firm, days=32)
    intent = authorised(stack, db, answer)
    order_id = state(db, answer)["order_id"]
    refused(call(db, Caller.service(), "select private.request_settlement(%s, 'capture', %s)", order_id,
                 intent["amount_minor"] + 1), "PT409", "over_authorisation")
    assert db.value("select count(*) from private.payment_settlements where order_id = %s", (order_id,)) == 0


def soon(hours: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).replace(microsecond=0).isoformat()


def guest_cancel(db, answer: dict) -> dict:
    return call(db, Caller.anon(), "select public.cancel_reservation_as_guest(%s, %s, 'Plans changed')",
                answer["number"], answer["tracking_token"])


def test_a_free_cancellation_releases_the_authorisation(stack, db, firm):
    answer = booked(db, firm, days=9)  # 24 hours' free cancellation: well before
    intent = authorised(stack, db, answer)
    assert guest_cancel(db, answer) | {} == {"number": answer["number"], "status": "cancelled", "fee_minor": 0,
                                             "fee_owed_by": None, "currency": "GBP"}
    assert settle(stack) == {"settled": 1, "failed": 0}
    assert stack.stripe.payment_intents[intent["payment_intent_id"]]["status"] == "canceled"
    found = state(db, answer)
    assert (found["trip"], found["order_status"]) == ("cancelled", "cancelled")
    refused(guest_cancel(db, answer), "PT409", "not_cancellable")
    other = booked(db, firm, days=10)
    assert guest_cancel(db, other | {"tracking_token": answer["tracking_token"]}) is None
    assert state(db, other)["trip"] == "pending", "another trip's token cancels nothing"


def test_wrong_guest_tokens_are_counted_once_each_and_throttled(stack, db, firm):
    """The check runs once per call (not once per row of the table), and its failures are kept."""
    for _ in range(3):
        booked(db, firm, days=11)  # more trips in the table than guesses
    target = booked(db, firm, days=12)
    for attempt in range(10):
        assert guest_cancel(db, target | {"tracking_token": f"wrong-{attempt:040d}"}) is None
    assert db.value("select failures from private.order_lookup_failures where order_number = %s",
                    (target["number"],)) == 10
    refused(guest_cancel(db, target | {"tracking_token": "wrong-again-0000000000000000000000000"}), "PT429",
            "throttled")
    assert state(db, target)["trip"] == "pending"
    assert guest_cancel(db, target)["status"] == "cancelled", "the holder of the token is never locked out"


def test_a_late_cancellation_captures_the_fee_from_the_customer(stack, db, firm):
    answer = booked(db, firm) | {}
    db.sql("update public.reservations set pickup_at = %s, blocked = tstzrange(%s::timestamptz - interval '30 minutes',"
           " %s::timestamptz + interval '1 hour') where id = %s", (soon(5), soon(5), soon(5), answer["reservation_id"]))
    intent = authorised(stack, db, answer)
    cancelled = guest_cancel(db, answer)
    fee = (answer["total_minor"] * 50 + 50) // 100  # the class's late_cancel_percent, half up
    assert (cancelled["fee_minor"], cancelled["fee_owed_by"]) == (fee, "customer")
    settle(stack)
    assert stack.stripe.payment_intents[intent["payment_intent_id"]]["amount_received"] == fee
    found = state(db, answer)
    assert (found["order_status"], found["total_minor"]) == ("paid", fee)
    assert db.value("select description from public.order_items where order_id = %s", (found["order_id"],)) == \
        f"Late cancellation fee for trip {answer['number']}"


def test_a_no_show_the_driver_is_answerable_for_charges_the_customer_nothing(stack, db, firm):
    answer = booked(db, firm, days=33, policy="driver")
    intent = authorised(stack, db, answer)
    db.sql("update public.reservations set pickup_at = now() - interval '1 minute',"
           " blocked = tstzrange(now() - interval '30 minutes', now() + interval '1 hour') where id = %s",
           (answer["reservation_id"],))
    closed = call(db, firm["people"]["dispatcher"].caller,
                  "select to_jsonb(public.set_reservation_status(%s, 'no_show'))", answer["reservation_id"])
    assert (closed["fee_minor"], closed["fee_owed_by"]) == (answer["total_minor"], "driver")  # no-show: 100 %
    settle(stack)
    assert stack.stripe.payment_intents[intent["payment_intent_id"]]["status"] == "canceled"
    assert state(db, answer)["order_status"] == "cancelled"


def test_webhooks_that_are_forged_replayed_or_late_change_nothing_they_should_not(stack, db, firm):
    answer = booked(db, firm, days=34)
    r = authorise(stack, answer)
    intent_id = r.json()["payment_intent_id"]
    # Cancelled before the card is confirmed: the authorisation that arrives later is given straight back.
    guest_cancel(db, answer)
    payments.stripe_client(settings()).v1.payment_intents.confirm(intent_id, {"payment_method": "pm_card_visa"})
    authorised_event = [d for d in stack.stripe.events_sent if d.type == "payment_intent.amount_capturable_updated"
                        and d.event["data"]["object"]["id"] == intent_id][-1]
    assert stack.stripe.payment_intents[intent_id]["status"] == "canceled", "released at once by the webhook"
    assert state(db, answer)["trip"] == "cancelled"
    # Replayed: recorded once, nothing more happens.
    before = db.value("select count(*) from private.payment_settlements")
    replay = stack.stripe.redeliver(authorised_event.event["id"])
    assert replay.status == 200 and b'"duplicate"' in replay.response_body
    # Forged: refused before anything is read.
    forged = httpx.post(f"{stack.functions_url}/stripe-webhook", content=authorised_event.payload,
                        headers={"stripe-signature": "t=1,v1=00", "content-type": "application/json"}, timeout=30)
    assert forged.status_code == 400
    assert db.value("select count(*) from private.payment_settlements") == before
    # A PaymentIntent that is not one of our orders' own: acknowledged, nothing recorded.
    stranger = payments.stripe_client(settings()).v1.payment_intents.create({
        "amount": 500, "currency": "gbp", "capture_method": "manual", "payment_method": "pm_card_visa", "confirm": True,
        "metadata": {"order_id": str(state(db, answer)["order_id"])}})
    outcome = [d for d in stack.stripe.events_sent if d.event["data"]["object"].get("id") == stranger.id][-1]
    assert outcome.status == 200 and b"unknown_payment" in outcome.response_body


def test_authorise_payment_refuses_a_wrong_token_and_a_declined_card_leaves_the_trip_waiting(stack, db, firm):
    answer = booked(db, firm, days=35)
    wrong = authorise(stack, answer, token="not-the-token")
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "order_not_found"
    with pytest.raises(stripe.CardError):
        authorised(stack, db, answer, card="pm_card_chargeDeclined")
    found = state(db, answer)
    assert (found["trip"], found["order_status"], found["authorized_minor"]) == ("pending", "pending", None)
    retry = authorise(stack, answer)
    assert retry.status_code == 200 and retry.json()["payment_intent_id"] == found["payment_intent_id"]
    assert len([p for p in stack.stripe.payment_intents.values()
                if p["metadata"].get("order_id") == str(found["order_id"])]) == 1


def test_an_order_sold_through_checkout_cannot_be_authorised_instead(stack, db, firm):
    """Authorising a ticket order would hold its seats with nothing ever captured: only orders whose area
    sells them by authorise-then-capture (a trip) may be."""
    event = ticketing.event(db, firm["org"])
    tier = ticketing.tier(db, event, price_minor=2500, capacity=5)
    placed = orders.place(db, event, [(tier, 1)], email="tix@example.com", name="Tix")
    r = authorise(stack, {"number": placed["number"], "tracking_token": placed["tracking_token"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_authorisable", r.text
    assert db.value("select payment_intent_id from public.orders where id = %s", (placed["order_id"],)) is None


def test_a_paid_trip_is_refunded_through_the_ordinary_refund_path(stack, db, firm):
    answer = booked(db, firm, days=36)
    authorised(stack, db, answer)
    drive(db, firm, answer, waited_minutes=0)
    settle(stack)
    found = state(db, answer)
    assert found["order_status"] == "paid"
    r = httpx.post(f"{stack.functions_url}/refund-order", headers=firm["people"]["owner"].headers, timeout=30,
                   json={"order_id": str(found["order_id"]), "amount_minor": 1000, "reason": "Late pickup"})
    assert r.status_code == 200 and r.json()["executed"] is True, r.text
    [refund] = [x for x in stack.stripe.refunds.values() if x["payment_intent"] == found["payment_intent_id"]]
    assert refund["amount"] == 1000
    assert state(db, answer)["order_status"] == "paid", "a partial refund: the trip's payment stands"
    driver_refund = httpx.post(f"{stack.functions_url}/refund-order", headers=firm["people"]["driver"].headers,
                               timeout=30, json={"order_id": str(found["order_id"])})
    assert driver_refund.status_code == 404 and driver_refund.json()["error"]["code"] == "order_not_found"
    r = httpx.post(f"{stack.functions_url}/refund-order", headers=firm["people"]["owner"].headers, timeout=30,
                   json={"order_id": str(found["order_id"])})
    assert r.status_code == 200, r.text
    assert state(db, answer)["order_status"] == "refunded"
    assert sum(x["amount"] for x in stack.stripe.refunds.values()
               if x["payment_intent"] == found["payment_intent_id"]) == found["total_minor"]


def test_a_promo_code_is_redeemed_at_booking_as_quoted_and_given_back_when_the_trip_is_cancelled(stack, db, firm):
    code = ticketing.promo(db, firm["org_id"], kind="percent", value=10, max_redemptions=1)
    request = trip(firm["sedan"], days=37, promo_code=code["code"])
    quoted = call(db, Caller.anon(), "select public.quote_reservation(%s, %s)", firm["org_id"], Jsonb(request))
    discount = -next(line["amount_minor"] for line in quoted["lines"] if line["code"] == "discount")
    answer = book(db, firm["org_id"], request, {"name": "Percy Promo", "email": f"percy-{uuid.uuid4().hex[:6]}@example.com"})
    order = db.one("select o.* from public.orders o join public.reservations r on r.order_id = o.id where r.id = %s",
                   (answer["reservation_id"],))
    assert (order["discount_minor"], order["total_minor"]) == (discount, quoted["total_minor"]) == (
        discount, answer["total_minor"])
    assert db.value("select redemptions_count from public.promo_codes where id = %s", (code["id"],)) == 1
    before = db.value("select count(*) from public.reservations where org_id = %s", (firm["org_id"],))
    # Used up: the quote refuses it (two bookings racing past the quote meet redeem_promo's PT409 promo_exhausted).
    refused(book(db, firm["org_id"], trip(firm["sedan"], days=38, promo_code=code["code"])), "PT422", "promo_invalid")
    assert db.value("select count(*) from public.reservations where org_id = %s", (firm["org_id"],)) == before

    # Completed: the capture is the quote's total with its discount, and the receipt shows the discount.
    authorised(stack, db, answer)
    drive(db, firm, answer, waited_minutes=0)
    settle(stack)
    paid = db.one("select status::text, discount_minor, total_minor from public.orders where id = %s", (order["id"],))
    assert paid == {"status": "paid", "discount_minor": discount, "total_minor": quoted["total_minor"]}

    # Another booking with a fresh code, cancelled for free: the code's use comes back.
    again = ticketing.promo(db, firm["org_id"], kind="fixed", value=500, currency="GBP", max_redemptions=1)
    second = book(db, firm["org_id"], trip(firm["sedan"], days=39, promo_code=again["code"]))
    guest_cancel(db, second)
    assert db.value("select redemptions_count from public.promo_codes where id = %s", (again["id"],)) == 0


def test_a_lapsed_authorisation_keeps_a_confirmed_trip_which_then_shows_unpaid_and_its_amount_due(stack, db, firm):
    answer = booked(db, firm, days=40)
    intent = authorised(stack, db, answer)
    # Stripe drops an uncaptured authorisation after 7 days (cancellation_reason "automatic").
    stack.stripe.deliver(stack.stripe.build_event("payment_intent.canceled", {
        **stack.stripe.payment_intents[intent["payment_intent_id"]], "status": "canceled",
        "cancellation_reason": "automatic"}))
    found = state(db, answer)
    assert (found["trip"], found["order_status"]) == ("confirmed", "cancelled"), "the customer's trip is kept"
    day = db.value("select (pickup_at at time zone 'Europe/London')::date from public.reservations where id = %s",
                   (answer["reservation_id"],))
    board = call(db, firm["people"]["dispatcher"].caller, "select public.dispatch_board(%s, %s)", firm["org_id"], day)
    [trip_row] = [t for t in board["conflicts"] if t["id"] == answer["reservation_id"]]
    assert trip_row["problems"] == ["unassigned", "unpaid"]
    done = drive(db, firm, answer, waited_minutes=0)
    assert state(db, answer)["balance_due_minor"] == done["final_total_minor"]
    assert settle(stack) == {"settled": 0, "failed": 0}, "nothing left to capture"
