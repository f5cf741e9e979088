"""Cancelling an event refunds it (routines/ticketing/cancellation.sql, functions/cancel-event):
every paid order refunded once at the provider that took it, tickets void, unpaid orders closed,
one email per buyer; resumable when the provider fails halfway, idempotent when run twice."""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest

from shared.platform.db import Caller
from tests.support import factories, ticketing as tk
from tests.support.http import anon_headers, buy, checkout_body, service_headers
from tests.support.pg import call as sql_call, refused


def email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


def post(stack, name: str, body: dict, headers: dict) -> httpx.Response:
    return httpx.post(f"{stack.functions_url}/{name}", json=body, headers=headers, timeout=60)


def stripe_paid(stack, db, event, tier, quantity: int, buyer: str) -> dict:
    r = buy(stack.functions_url, checkout_body(event, [(tier, quantity)], buyer_email=buyer))
    assert r.status_code == 200, r.text
    order = r.json()
    session = stack.stripe.pay(db.value("select checkout_session_id from public.orders where id = %s",
                                        (order["order_id"],)))
    assert db.value("select status from public.orders where id = %s", (order["order_id"],)) == "paid"
    return order | {"payment_intent": session["payment_intent"]}


def paypal_paid(stack, db, event, tier, buyer: str) -> dict:
    r = buy(stack.functions_url, checkout_body(event, [(tier, 1)], provider="paypal", buyer_email=buyer))
    assert r.status_code == 200, r.text
    order = r.json()
    paypal_id = db.value("select paypal_order_id from public.orders where id = %s", (order["order_id"],))
    stack.paypal.approve(paypal_id)
    back = httpx.get(f"{stack.functions_url}/paypal-return", params={"token": paypal_id, "PayerID": "P1"},
                     follow_redirects=False, timeout=30)
    assert back.status_code == 303
    capture = db.value("select provider_payment_id from public.payments where order_id = %s", (order["order_id"],))
    return order | {"capture": capture}


def stripe_refunds(stack, payment_intent: str) -> list[int]:
    return [r["amount"] for r in stack.stripe.refunds.values() if r["payment_intent"] == payment_intent]


def paypal_refunds(stack, capture_id: str) -> list[dict]:
    return [r for r in stack.paypal.refunds.values() if r["links"][1]["href"].endswith(f"/captures/{capture_id}")]


def send_mail(stack) -> None:
    while post(stack, "send-tickets", {"limit": 500}, service_headers()).json()["claimed"]:
        pass


def cancelled_mails(stack, address: str) -> list[dict]:
    return [m for m in stack.resend.emails_to(address) if m["subject"].startswith("Cancelled:")]


@pytest.fixture
def festival(stack, db):
    """A published event in an org with an admin and a manager: paid Stripe orders (one buyer twice, one
    partly refunded already), a PayPal order, a free order and an order still unpaid."""
    event = tk.event(db)
    org = event["org"]
    general = tk.tier(db, event, name="General", price_minor=2500, capacity=50)
    free = tk.tier(db, event, name="Guest list", price_minor=0, capacity=10)
    ann, bob, cat, dee, eve = (email(n) for n in ("ann", "bob", "cat", "dee", "eve"))
    send_mail(stack)  # this test's mail only, below
    orders = {
        "ann1": stripe_paid(stack, db, event, general, 2, ann),
        "ann2": stripe_paid(stack, db, event, general, 1, ann),  # the same buyer again
        "bob": stripe_paid(stack, db, event, general, 3, bob),
        "cat": paypal_paid(stack, db, event, general, cat),
    }
    r = buy(stack.functions_url, checkout_body(event, [(free, 1)], buyer_email=dee))
    assert r.status_code == 200 and r.json()["status"] == "paid", r.text
    orders["dee_free"] = r.json()
    r = buy(stack.functions_url, checkout_body(event, [(general, 2)], buyer_email=eve))
    orders["eve_unpaid"] = r.json()
    partial = post(stack, "refund-order", {"order_id": orders["bob"]["order_id"], "amount_minor": 1000},
                   org["owner"].headers)
    assert partial.status_code == 200, partial.text
    send_mail(stack)
    admin = factories.member(db, org, role="admin")
    manager = factories.member(db, org, role="manager")
    return {"event": event, "org": org, "admin": admin, "manager": manager, "orders": orders,
            "buyers": {"ann": ann, "bob": bob, "cat": cat, "dee": dee, "eve": eve}}


def status_of(db, order) -> str:
    return db.value("select status from public.orders where id = %s", (order["order_id"],))


def test_cancelling_refunds_every_paid_order_once_voids_tickets_and_emails_each_buyer_once(stack, db, festival):
    f, o = festival, festival["orders"]
    r = post(stack, "cancel-event", {"event_id": str(f["event"]["id"]), "reason": "The venue flooded"},
             f["admin"].headers)
    assert r.status_code == 200, r.text
    state = r.json()
    assert (state["status"], state["already_cancelled"]) == ("cancelled", False)
    assert (state["orders_refunded"], state["orders_closed"]) == (5, 1)  # four paid, one free; one unpaid closed
    # What remained of each payment: 50 + 25 + (75 - 10 already) + 25.
    assert state["refunded_minor"] == 5000 + 2500 + 6500 + 2500
    assert state["refunds"] == {"sent": 4, "waiting": 0}
    assert stripe_refunds(stack, o["ann1"]["payment_intent"]) == [5000]
    assert stripe_refunds(stack, o["ann2"]["payment_intent"]) == [2500]
    assert stripe_refunds(stack, o["bob"]["payment_intent"]) == [1000, 6500]
    assert [r["amount"]["value"] for r in paypal_refunds(stack, o["cat"]["capture"])] == ["25.00"]
    assert {k: status_of(db, v) for k, v in o.items()} == {
        "ann1": "refunded", "ann2": "refunded", "bob": "refunded", "cat": "refunded", "dee_free": "refunded",
        "eve_unpaid": "cancelled"}
    assert db.value("select count(*) from public.tickets where event_id = %s and status = 'valid'",
                    (f["event"]["id"],)) == 0
    assert db.value("select count(*) from public.refunds r join public.orders o on o.id = r.order_id"
                    " where o.event_id = %s and r.status <> 'succeeded'", (f["event"]["id"],)) == 0
    send_mail(stack)
    b = f["buyers"]
    assert [len(cancelled_mails(stack, b[n])) for n in ("ann", "bob", "cat", "dee", "eve")] == [1, 1, 1, 1, 0]
    [ann_mail] = cancelled_mails(stack, b["ann"])
    assert "The venue flooded" in ann_mail["text"] and "£75.00" in ann_mail["text"]
    assert o["ann1"]["order_number"] in ann_mail["text"] and o["ann2"]["order_number"] in ann_mail["text"]
    assert not [m for m in stack.resend.emails_to(b["ann"]) if "refund" in m["subject"].lower()
                and not m["subject"].startswith("Cancelled:")]  # no separate refund email on top

    again = post(stack, "cancel-event", {"event_id": str(f["event"]["id"])}, f["admin"].headers)
    assert again.status_code == 200 and again.json()["already_cancelled"] is True
    assert again.json()["refunds"] == {"sent": 0, "waiting": 0}
    assert {k: again.json()[k] for k in ("orders_refunded", "refunded_minor", "buyers_emailed")} == {
        "orders_refunded": 5, "refunded_minor": 16500, "buyers_emailed": 4}
    send_mail(stack)
    assert len(stack.stripe.refunds) == len({r["id"] for r in stack.stripe.refunds.values()})
    assert stripe_refunds(stack, o["bob"]["payment_intent"]) == [1000, 6500]
    assert [len(cancelled_mails(stack, b[n])) for n in ("ann", "bob", "cat", "dee")] == [1, 1, 1, 1]


def test_a_provider_failing_halfway_is_resumed_by_the_cron_without_paying_anyone_twice(stack, db, festival):
    f, o = festival, festival["orders"]
    # The first refund is made at Stripe but the answer is lost; then Stripe is down for a while.
    stack.stripe.fail_next(1, 500, after=True)
    stack.stripe.fail_next(5, 503)
    r = post(stack, "cancel-event", {"event_id": str(f["event"]["id"])}, f["admin"].headers)
    stack.stripe.faults.clear()  # Stripe is back
    assert r.status_code == 200, r.text
    sent, waiting = r.json()["refunds"]["sent"], r.json()["refunds"]["waiting"]
    assert waiting >= 1 and sent + waiting == 4 and r.json()["orders_refunded"] == 5, r.json()
    assert all(status_of(db, o[k]) == "refunded" for k in ("ann1", "ann2", "bob", "cat"))  # owed, queued
    retried = post(stack, "refund-order", {}, service_headers())  # the refund cron
    assert retried.status_code == 200 and retried.json()["failed"] == 0, retried.text
    assert stripe_refunds(stack, o["ann1"]["payment_intent"]) == [5000]
    assert stripe_refunds(stack, o["ann2"]["payment_intent"]) == [2500]
    assert stripe_refunds(stack, o["bob"]["payment_intent"]) == [1000, 6500]
    assert len(paypal_refunds(stack, o["cat"]["capture"])) == 1
    assert db.value("select count(*) from public.refunds r join public.orders o on o.id = r.order_id"
                    " where o.event_id = %s and r.status = 'pending'", (f["event"]["id"],)) == 0


def test_a_payment_arriving_after_the_cancellation_is_refunded(stack, db, festival):
    f, o = festival, festival["orders"]
    assert post(stack, "cancel-event", {"event_id": str(f["event"]["id"])}, f["admin"].headers).status_code == 200
    unpaid = o["eve_unpaid"]
    total = db.value("select total_minor from public.orders where id = %s", (unpaid["order_id"],))
    outcome = db.value("select private.record_payment(%s, 'stripe', 'pi_late_after_cancel', %s, 'GBP')",
                       (unpaid["order_id"], total))
    assert outcome == "late_refunded"
    assert db.value("select count(*) from public.tickets where order_id = %s", (unpaid["order_id"],)) == 0


def test_who_may_cancel(stack, db, festival):
    f = festival
    event_id = str(f["event"]["id"])
    rival = factories.org(db)
    for who in (f["manager"], rival["owner"]):
        r = post(stack, "cancel-event", {"event_id": event_id}, who.headers)
        assert r.status_code in (403, 404), r.text
    assert post(stack, "cancel-event", {"event_id": event_id}, anon_headers()).status_code == 401
    assert post(stack, "cancel-event", {"event_id": "not-a-uuid"}, f["admin"].headers).status_code == 422
    assert db.value("select status from public.events where id = %s", (event_id,)) == "published"
    assert db.value("select count(*) from public.refunds r join public.orders o on o.id = r.order_id"
                    " where o.event_id = %s and r.reason = 'event_cancelled'", (event_id,)) == 0
    # A manager may cancel an event that has sold nothing; a completed event stays as it was.
    quiet = tk.event(db, f["org"])
    assert sql_call(db, f["manager"].caller, "select public.cancel_event(%s)", quiet["id"])["orders_refunded"] == 0
    done = tk.event(db, f["org"])
    db.sql("update public.events set status = 'completed' where id = %s", (done["id"],))
    refused(sql_call(db, f["admin"].caller, "select public.cancel_event(%s)", done["id"]), "PT409", "event_completed")


def test_cancelling_through_a_plain_update_of_the_status_settles_the_same_way(stack, db, festival):
    f, o = festival, festival["orders"]
    refused(sql_call(db, f["manager"].caller, "update public.events set status = 'cancelled' where id = %s",
                     f["event"]["id"]), "PT403", "refunds_need_an_admin")
    sql_call(db, f["admin"].caller, "update public.events set status = 'cancelled' where id = %s", f["event"]["id"])
    assert db.value("select cancelled_at is not null from public.events where id = %s", (f["event"]["id"],))
    assert status_of(db, o["bob"]) == "refunded"
    assert db.value("select count(*) from public.refunds where order_id = %s and status = 'pending'",
                    (o["bob"]["order_id"],)) == 1  # queued: the cron sends it
    assert Counter(r["template"] for r in db.sql(
        "select template from public.notification_outbox where payload ->> 'event_id' = %s",
        (str(f["event"]["id"]),)))["event_cancelled"] == 4
