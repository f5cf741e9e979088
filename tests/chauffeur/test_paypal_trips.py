"""Paying for a trip with PayPal, over real HTTP against the PayPal stand-in: the quoted total is paid in
advance (approved at PayPal, captured by paypal-return), which confirms the trip; after the trip the
difference is settled: wait time beyond the quote is a balance due, a trip that cost less (a free or late
cancellation) is refunded at PayPal. A card authorisation and a PayPal payment never both run."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import httpx

from shared.platform.db import Caller
from tests.support.chauffeur import book, trip
from tests.support.http import ORIGIN, anon_headers, service_headers
from tests.support.pg import call


def booked(db, firm, **extra) -> dict:
    answer = book(db, firm["org_id"], trip(firm["sedan"], **extra),
                  {"name": "Pia Paypal", "email": f"pia-{uuid.uuid4().hex[:6]}@example.com"})
    assert isinstance(answer, dict), answer
    return answer


def pay_with_paypal(stack, answer: dict) -> httpx.Response:
    return httpx.post(f"{stack.functions_url}/authorise-payment", headers=anon_headers(), timeout=30, json={
        "order_number": answer["number"], "tracking_token": answer["tracking_token"], "provider": "paypal",
        "success_url": f"{ORIGIN}/trip/paid", "cancel_url": f"{ORIGIN}/trip"})


def paid(stack, db, answer: dict) -> str:
    r = pay_with_paypal(stack, answer)
    assert r.status_code == 200, r.text
    assert r.json()["amount_minor"] == answer["total_minor"]
    paypal_id = db.value("select o.paypal_order_id from public.reservations r join public.orders o on o.id = r.order_id"
                         " where r.id = %s", (answer["reservation_id"],))
    assert r.json()["approve_url"] == stack.paypal.approve_url(paypal_id)
    stack.paypal.approve(paypal_id)
    back = httpx.get(f"{stack.functions_url}/paypal-return", params={"token": paypal_id}, follow_redirects=False,
                     timeout=30)
    assert back.status_code == 303 and "payment=paid" in back.headers["location"], back.text
    return paypal_id


def state(db, answer: dict) -> dict:
    return db.one("select r.status::text as trip, o.status::text as order_status, r.balance_due_minor, o.id as order_id,"
                  " (select coalesce(sum(x.amount_minor), 0) from public.refunds x where x.order_id = o.id) as refunded"
                  " from public.reservations r join public.orders o on o.id = r.order_id where r.id = %s",
                  (answer["reservation_id"],))


def execute_refunds(stack) -> dict:
    r = httpx.post(f"{stack.functions_url}/refund-order", headers=service_headers(), json={}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def refunds_at_paypal(stack, paypal_id: str) -> list[str]:
    captures = [c["id"] for c in stack.paypal.captures.values()
                if c["supplementary_data"]["related_ids"]["order_id"] == paypal_id]
    return [r["amount"]["value"] for r in stack.paypal.refunds.values()
            if r["links"][1]["href"].rsplit("/", 1)[-1] in captures]


def test_paid_in_advance_confirms_the_trip_and_wait_time_becomes_a_balance_due(stack, db, firm):
    answer = booked(db, firm, days=40)
    paid(stack, db, answer)
    found = state(db, answer)
    assert (found["trip"], found["order_status"]) == ("confirmed", "paid")
    assert db.value("select count(*) from public.notification_outbox where template = 'reservation_confirmed'"
                    " and payload ->> 'reservation_id' = %s", (answer["reservation_id"],)) == 1
    again = pay_with_paypal(stack, answer)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_authorisable"

    r = answer["reservation_id"]
    call(db, firm["people"]["dispatcher"].caller, "select public.assign_reservation(%s, %s, null)", r, firm["dee"]["id"])
    for step in ("en_route", "on_location"):
        call(db, firm["people"]["driver"].caller, "select public.advance_trip(%s, %s)", r, step)
    db.sql("update public.reservations set on_location_at = on_location_at - interval '25 minutes' where id = %s", (r,))
    for step in ("on_board", "completed"):
        call(db, firm["people"]["driver"].caller, "select public.advance_trip(%s, %s)", r, step)
    found = state(db, answer)
    assert (found["trip"], found["order_status"], found["balance_due_minor"], found["refunded"]) == (
        "completed", "paid", 10 * 100, 0)  # 10 minutes beyond the 15 minutes' grace, at £1 a minute


def test_a_free_cancellation_of_a_paid_trip_is_refunded_in_full_at_paypal(stack, db, firm):
    answer = booked(db, firm, days=41)
    paypal_id = paid(stack, db, answer)
    cancelled = call(db, Caller.anon(), "select public.cancel_reservation_as_guest(%s, %s, 'Plans changed')",
                     answer["number"], answer["tracking_token"])
    assert (cancelled["status"], cancelled["fee_minor"]) == ("cancelled", 0)
    found = state(db, answer)
    assert (found["order_status"], found["refunded"], found["balance_due_minor"]) == (
        "refunded", answer["total_minor"], 0)
    assert execute_refunds(stack)["executed"] >= 1
    assert refunds_at_paypal(stack, paypal_id) == [f"{answer['total_minor'] / 100:.2f}"]


def test_a_late_cancellation_of_a_paid_trip_keeps_the_fee_and_refunds_the_rest(stack, db, firm):
    answer = booked(db, firm, days=42)
    paypal_id = paid(stack, db, answer)
    soon = datetime.now(timezone.utc) + timedelta(hours=5)
    db.sql("update public.reservations set pickup_at = %s, blocked = tstzrange(%s - interval '30 minutes',"
           " %s + interval '1 hour') where id = %s", (soon, soon, soon, answer["reservation_id"]))
    cancelled = call(db, Caller.anon(), "select public.cancel_reservation_as_guest(%s, %s, 'Plans changed')",
                     answer["number"], answer["tracking_token"])
    fee = (answer["total_minor"] * 50 + 50) // 100  # the class's late_cancel_percent, half up
    assert (cancelled["fee_minor"], cancelled["fee_owed_by"]) == (fee, "customer")
    found = state(db, answer)
    assert (found["order_status"], found["refunded"]) == ("paid", answer["total_minor"] - fee)
    execute_refunds(stack)
    assert refunds_at_paypal(stack, paypal_id) == [f"{(answer['total_minor'] - fee) / 100:.2f}"]


def test_a_card_authorisation_and_a_paypal_payment_never_both_run(stack, db, firm):
    answer = booked(db, firm, days=43)
    card = httpx.post(f"{stack.functions_url}/authorise-payment", headers=anon_headers(), timeout=30,
                      json={"order_number": answer["number"], "tracking_token": answer["tracking_token"]})
    assert card.status_code == 200, card.text
    r = pay_with_paypal(stack, answer)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_authorisable"

    other = booked(db, firm, days=44)
    assert pay_with_paypal(stack, other).status_code == 200
    card = httpx.post(f"{stack.functions_url}/authorise-payment", headers=anon_headers(), timeout=30,
                      json={"order_number": other["number"], "tracking_token": other["tracking_token"]})
    assert card.status_code == 409 and card.json()["error"]["code"] == "not_authorisable"
    wrong = httpx.post(f"{stack.functions_url}/authorise-payment", headers=anon_headers(), timeout=30, json={
        "order_number": other["number"], "tracking_token": "x" * 48, "provider": "paypal",
        "success_url": f"{ORIGIN}/trip/paid", "cancel_url": f"{ORIGIN}/trip"})
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "order_not_found"
