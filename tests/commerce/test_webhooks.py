"""The Stripe webhook over real HTTP: only signed, fresh, untampered events act;
each acts once; any order of delivery ends in the right state; money that
arrives late is honoured or given back; a failure writes nothing.

Events come from the Stripe stand-in (`stack.stripe`), either caused by
driving it as a customer would (`pay`, `settle`, `dispute`) or built by hand
(`build_event`) where Stripe's own timing is what is under test. Every
assertion reads the database or the stand-ins, never the product's own
account of what it did.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
import stripe

from shared.platform.config import settings
from shared.devstack.standins.stripe_standin import sign
from tests.support import factories, ticketing as tk
from tests.support.ticketing import webhooks_held
from tests.support.http import buy, checkout_body, service_headers


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def email_address(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


def order_row(db, order_id) -> dict:
    return db.one("select * from public.orders where id = %s", (order_id,))


def place(stack, db, event: dict, items: list, email: str) -> tuple[dict, str]:
    """A pending order through create-checkout-session; returns (answer, checkout session id)."""
    r = buy(stack.functions_url, checkout_body(event, items, buyer_email=email))
    assert r.status_code == 200, r.text
    answer = r.json()
    session_id = order_row(db, answer["order_id"])["checkout_session_id"]
    assert session_id, "the order has no Checkout Session"
    return answer, session_id


def webhook_url(stack) -> str:
    return f"{stack.functions_url}/stripe-webhook"


def post_webhook(stack, payload: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json; charset=utf-8"}
    if signature is not None:
        headers["stripe-signature"] = signature
    return httpx.post(webhook_url(stack), content=payload, headers=headers, timeout=30)


def deliveries(stack, type_: str, object_id: str) -> list:
    return [d for d in stack.stripe.events_sent
            if d.type == type_ and d.event["data"]["object"].get("id") == object_id]


def answer_of(delivery) -> dict:
    return json.loads(delivery.response_body or b"{}")


def webhook_rows(db, event_id: str) -> int:
    return db.value("select count(*) from private.webhook_events where id = %s", (event_id,))


def payments_of(db, order_id) -> list[dict]:
    return db.sql("select * from public.payments where order_id = %s", (order_id,))


def tickets_of(db, order_id) -> list[dict]:
    return db.sql("select * from public.tickets where order_id = %s order by id", (order_id,))


def seats_of(db, order_id) -> int:
    return db.value("select count(*) from private.ticket_seats where order_id = %s", (order_id,))


def outbox(db, template: str, recipient: str) -> list[dict]:
    return db.sql("select * from public.notification_outbox where template = %s and recipient = %s",
                  (template, recipient))


def ticket_emails(stack, address: str) -> list[dict]:
    return [e for e in stack.resend.emails_to(address) if e["subject"].startswith("Your tickets")]


def close_hold(stack, db, order_id) -> dict:
    """Run the hold out and let the expiry job close it (it expires the session at Stripe first)."""
    db.sql("update public.orders set hold_expires_at = now() - interval '1 minute' where id = %s", (order_id,))
    r = httpx.post(f"{stack.functions_url}/expire-holds", json={}, headers=service_headers(), timeout=60)
    assert r.status_code == 200, r.text
    return r.json()






def completed_event(stack, session_id: str, **changes) -> dict:
    """A checkout.session.completed event (not delivered) for a session, paid unless told otherwise."""
    session = stack.stripe.sessions[session_id]
    session.update(status="complete", payment_status="paid",
                   payment_intent=f"pi_test_{uuid.uuid4().hex[:20]}", url=None)
    session.update(changes)
    return stack.stripe.build_event("checkout.session.completed", session)


# ---------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------
def test_forged_stale_tampered_or_unsigned_events_are_refused_and_change_nothing(stack, db, sale):
    event, general = sale
    email = email_address("forged")
    answer, session_id = place(stack, db, event, [(general, 2)], email)
    order_id = answer["order_id"]
    completed = completed_event(stack, session_id)
    payload = json.dumps(completed).encode()
    events_before = db.value("select count(*) from private.webhook_events")

    forged = post_webhook(stack, payload, sign(payload, "whsec_somebody_else"))
    unsigned = post_webhook(stack, payload, None)
    stale = post_webhook(stack, payload, stack.stripe.sign(payload, timestamp=int(time.time()) - 400))
    tampered_body = payload.replace(b'"amount_total": 5000', b'"amount_total": 1')
    assert tampered_body != payload
    tampered = post_webhook(stack, tampered_body, stack.stripe.sign(payload))

    assert (forged.status_code, forged.json()["error"]["code"]) == (400, "invalid_signature"), forged.text
    assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (400, "missing_signature"), unsigned.text
    assert (stale.status_code, stale.json()["error"]["code"]) == (400, "invalid_signature"), stale.text
    assert (tampered.status_code, tampered.json()["error"]["code"]) == (400, "invalid_signature"), tampered.text

    assert db.value("select count(*) from private.webhook_events") == events_before
    assert webhook_rows(db, completed["id"]) == 0
    row = order_row(db, order_id)
    assert row["status"] == "pending" and row["paid_at"] is None
    assert payments_of(db, order_id) == [] and tickets_of(db, order_id) == []
    assert seats_of(db, order_id) == 2
    assert ticket_emails(stack, email) == []

    # Control: the very same payload, signed with our secret and fresh, is accepted,
    # so the refusals above were about the signature and nothing else.
    genuine = post_webhook(stack, payload, stack.stripe.sign(payload))
    assert genuine.status_code == 200 and genuine.json()["result"] == "fulfilled", genuine.text
    assert order_row(db, order_id)["status"] == "paid"
    assert webhook_rows(db, completed["id"]) == 1


# ---------------------------------------------------------------------------
# Replays and unknown types
# ---------------------------------------------------------------------------
def test_a_replayed_completed_event_is_a_duplicate_no_op(stack, db, sale):
    event, general = sale
    email = email_address("replay")
    answer, session_id = place(stack, db, event, [(general, 2)], email)
    stack.stripe.pay(session_id)
    [first] = deliveries(stack, "checkout.session.completed", session_id)
    assert first.status == 200 and answer_of(first)["result"] == "fulfilled", first

    again = stack.stripe.redeliver(first.event["id"])
    once_more = stack.stripe.redeliver(first.event["id"])

    for replay in (again, once_more):
        assert replay.status == 200, replay
        assert answer_of(replay)["result"] == "duplicate", replay.response_body
    assert webhook_rows(db, first.event["id"]) == 1
    assert len(payments_of(db, answer["order_id"])) == 1
    assert len(tickets_of(db, answer["order_id"])) == 2
    assert len(outbox(db, "tickets", email)) == 1
    assert len(ticket_emails(stack, email)) == 1


def test_an_unknown_event_type_is_acknowledged_and_ignored(stack, db):
    customer = {"id": f"cus_test_{uuid.uuid4().hex[:14]}", "object": "customer", "email": "c@example.com",
                "metadata": {}}
    built = stack.stripe.build_event("customer.created", customer)
    delivery = stack.stripe.deliver(built)
    assert delivery.status == 200, delivery
    assert answer_of(delivery)["result"] == "ignored"
    assert webhook_rows(db, built["id"]) == 0


# ---------------------------------------------------------------------------
# Any order of delivery
# ---------------------------------------------------------------------------
def test_an_expired_event_arriving_after_completed_leaves_the_order_paid(stack, db, sale):
    event, general = sale
    answer, session_id = place(stack, db, event, [(general, 2)], email_address("late-expiry"))
    stack.stripe.pay(session_id)
    assert order_row(db, answer["order_id"])["status"] == "paid"

    expired = stack.stripe.sessions[session_id] | {"status": "expired", "payment_status": "unpaid", "url": None}
    delivery = stack.stripe.deliver(stack.stripe.build_event("checkout.session.expired", expired))

    assert delivery.status == 200 and answer_of(delivery)["result"] == "unchanged", delivery.response_body
    row = order_row(db, answer["order_id"])
    assert row["status"] == "paid" and row["close_reason"] is None
    assert [t["status"] for t in tickets_of(db, answer["order_id"])] == ["valid", "valid"]
    assert seats_of(db, answer["order_id"]) == 2


def test_an_async_payment_keeps_the_hold_past_expiry_then_succeeds(stack, db, sale):
    event, general = sale
    email = email_address("async-ok")
    answer, session_id = place(stack, db, event, [(general, 3)], email)
    order_id = answer["order_id"]

    stack.stripe.pay(session_id, async_payment=True, settle=False)
    [completed] = deliveries(stack, "checkout.session.completed", session_id)
    assert completed.event["data"]["object"]["payment_status"] == "unpaid"
    assert answer_of(completed)["result"] == "processing", completed.response_body
    assert order_row(db, order_id)["status"] == "processing"

    # The hold runs out while the bank debit is in flight: the expiry job must not touch it.
    counts = close_hold(stack, db, order_id)
    assert counts["expired"] == 0 and counts["failed"] == 0, counts
    assert order_row(db, order_id)["status"] == "processing"
    assert seats_of(db, order_id) == 3
    assert stack.stripe.sessions[session_id]["status"] == "complete"

    stack.stripe.settle(session_id)
    [succeeded] = deliveries(stack, "checkout.session.async_payment_succeeded", session_id)
    assert succeeded.status == 200 and answer_of(succeeded)["result"] == "fulfilled", succeeded.response_body
    row = order_row(db, order_id)
    assert row["status"] == "paid" and row["payment_intent_id"] == completed.event["data"]["object"]["payment_intent"]
    assert len(tickets_of(db, order_id)) == 3 and seats_of(db, order_id) == 3
    assert len(ticket_emails(stack, email)) == 1


def test_a_failed_async_payment_cancels_the_order_and_releases_the_seats(stack, db, sale):
    event, general = sale
    answer, session_id = place(stack, db, event, [(general, 2)], email_address("async-fail"))
    order_id = answer["order_id"]
    stack.stripe.pay(session_id, async_payment=True, settle=False)
    assert order_row(db, order_id)["status"] == "processing"

    stack.stripe.settle(session_id, succeeded=False)
    [failed] = deliveries(stack, "checkout.session.async_payment_failed", session_id)
    assert failed.status == 200 and answer_of(failed)["result"] == "cancelled", failed.response_body
    row = order_row(db, order_id)
    assert row["status"] == "cancelled" and row["close_reason"] == "payment_failed"
    assert seats_of(db, order_id) == 0
    assert payments_of(db, order_id) == [] and tickets_of(db, order_id) == []


def dashboard_refund(stack, payment_intent: str, amount: int) -> dict:
    """A refund made by hand in Stripe's dashboard: through the API, without our metadata."""
    client = stripe.StripeClient(settings().stripe.secret_key, base_addresses={"api": f"{stack.base_url}/stripe"})
    return client.v1.refunds.create(params={"payment_intent": payment_intent, "amount": amount}).to_dict()


def test_a_refund_event_before_its_payment_is_not_ready_then_succeeds_after_it(stack, db, sale):
    event, general = sale
    answer, session_id = place(stack, db, event, [(general, 1)], email_address("refund-first"))
    order_id = answer["order_id"]
    with webhooks_held(stack):
        session = stack.stripe.pay(session_id)          # checkout.session.completed waits in the queue
        dashboard_refund(stack, session["payment_intent"], 1000)   # and so does charge.refunded
    queued = stack.stripe.queued
    refunded = next(e for e in queued if e["type"] == "charge.refunded")

    early = stack.stripe.deliver(refunded)
    assert early.status == 503, early
    assert json.loads(early.response_body)["error"]["code"] == "not_ready"
    assert webhook_rows(db, refunded["id"]) == 0
    assert db.value("select count(*) from public.refunds where order_id = %s", (order_id,)) == 0
    assert order_row(db, order_id)["status"] == "pending"

    # Stripe delivers the queue oldest first: the payment, then its retry of the refund event.
    completed, retried = stack.stripe.flush()
    assert completed.type == "checkout.session.completed"
    assert completed.status == 200 and answer_of(completed)["result"] == "fulfilled", completed.response_body
    assert retried.event["id"] == refunded["id"]
    assert retried.status == 200 and answer_of(retried)["result"] == "partially_refunded", retried.response_body
    assert webhook_rows(db, refunded["id"]) == 1
    rows = db.sql("select amount_minor, status, reason from public.refunds where order_id = %s", (order_id,))
    assert rows == [{"amount_minor": 1000, "status": "succeeded", "reason": "provider_dashboard"}]
    assert order_row(db, order_id)["status"] == "paid"


# ---------------------------------------------------------------------------
# Refunds made in the Stripe dashboard
# ---------------------------------------------------------------------------
def test_dashboard_refunds_partial_keeps_the_tickets_full_voids_them(stack, db, sale):
    event, general = sale
    address = email_address("dashboard")
    answer, session_id = place(stack, db, event, [(general, 2)], address)
    order_id = answer["order_id"]
    session = stack.stripe.pay(session_id)
    total = answer["total_minor"]
    assert total == 5000

    dashboard_refund(stack, session["payment_intent"], 1500)
    partial = deliveries(stack, "charge.refunded", stack.stripe.payment_intents[session["payment_intent"]]
                         ["latest_charge"])[-1]
    assert partial.status == 200 and answer_of(partial)["result"] == "partially_refunded", partial.response_body
    rows = db.sql("select amount_minor, status, reason from public.refunds where order_id = %s", (order_id,))
    assert rows == [{"amount_minor": 1500, "status": "succeeded", "reason": "provider_dashboard"}]
    assert order_row(db, order_id)["status"] == "paid"
    assert [t["status"] for t in tickets_of(db, order_id)] == ["valid", "valid"]
    assert db.value("select count(*) from public.notification_outbox where template = 'order_refunded'"
                    " and recipient = %s", (address,)) == 1

    # Stripe sending the same facts again (a replay under a new event id) adds nothing.
    again = stack.stripe.deliver(stack.stripe.build_event("charge.refunded", partial.event["data"]["object"]))
    assert again.status == 200, again
    assert db.value("select sum(amount_minor) from public.refunds where order_id = %s", (order_id,)) == 1500

    dashboard_refund(stack, session["payment_intent"], total - 1500)
    full = deliveries(stack, "charge.refunded", stack.stripe.payment_intents[session["payment_intent"]]
                      ["latest_charge"])[-1]
    assert full.status == 200 and answer_of(full)["result"] == "fully_refunded", full.response_body
    row = order_row(db, order_id)
    assert row["status"] == "refunded" and row["close_reason"] == "refunded"
    assert db.value("select sum(amount_minor) from public.refunds where order_id = %s and status = 'succeeded'",
                    (order_id,)) == total
    assert [t["status"] for t in tickets_of(db, order_id)] == ["void", "void"]
    assert seats_of(db, order_id) == 0


# ---------------------------------------------------------------------------
# Disputes
# ---------------------------------------------------------------------------
def test_a_dispute_flags_the_order_and_alerts_owners_and_admins_once(stack, db):
    organization = factories.org(db)
    admin = factories.member(db, organization, role="admin")
    manager = factories.member(db, organization, role="manager")
    staff = factories.member(db, organization, role="staff")
    event = tk.event(db, organization)
    general = tk.tier(db, event, capacity=5)
    answer, session_id = place(stack, db, event, [(general, 1)], email_address("disputer"))
    order_id = answer["order_id"]
    session = stack.stripe.pay(session_id)
    assert order_row(db, order_id)["disputed_at"] is None

    dispute = stack.stripe.dispute(session["payment_intent"], reason="fraudulent")
    [opened] = deliveries(stack, "charge.dispute.created", dispute["id"])
    assert opened.status == 200 and answer_of(opened)["result"] == "flagged", opened.response_body
    row = order_row(db, order_id)
    assert row["disputed_at"] is not None and row["status"] == "paid"

    def alerts(user) -> list[dict]:
        return [e for e in stack.resend.emails_to(user.email) if "dispute" in e["subject"].lower()]

    assert len(alerts(organization["owner"])) == 1
    assert len(alerts(admin)) == 1
    assert alerts(manager) == [] and alerts(staff) == []
    assert answer["order_number"] in alerts(admin)[0]["subject"]
    queued = db.sql("select recipient, status from public.notification_outbox where template = 'dispute_opened'"
                    " and payload ->> 'order_id' = %s", (order_id,))
    assert sorted(r["recipient"] for r in queued) == sorted([organization["owner"].email, admin.email])
    assert {r["status"] for r in queued} == {"sent"}

    replay = stack.stripe.redeliver(opened.event["id"])
    assert replay.status == 200 and answer_of(replay)["result"] == "duplicate", replay.response_body
    second = stack.stripe.dispute(session["payment_intent"], reason="duplicate")
    [again] = deliveries(stack, "charge.dispute.created", second["id"])
    assert again.status == 200 and answer_of(again)["result"] == "already_flagged", again.response_body
    assert order_row(db, order_id)["disputed_at"] == row["disputed_at"]
    assert len(alerts(organization["owner"])) == 1 and len(alerts(admin)) == 1


# ---------------------------------------------------------------------------
# Money after the hold ran out
# ---------------------------------------------------------------------------
def test_a_late_payment_with_seats_left_is_fulfilled(stack, db, sale):
    event, general = sale
    email = email_address("late-ok")
    answer, session_id = place(stack, db, event, [(general, 2)], email)
    order_id = answer["order_id"]

    counts = close_hold(stack, db, order_id)
    assert counts["expired"] + counts["skipped"] == 1 and counts["failed"] == 0, counts
    assert stack.stripe.sessions[session_id]["status"] == "expired"
    row = order_row(db, order_id)
    assert row["status"] == "expired" and seats_of(db, order_id) == 0

    stack.stripe.pay(session_id, late=True)
    [completed] = deliveries(stack, "checkout.session.completed", session_id)
    assert completed.status == 200 and answer_of(completed)["result"] == "late_fulfilled", completed.response_body
    row = order_row(db, order_id)
    assert row["status"] == "paid" and row["close_reason"] is None and row["closed_at"] is None
    assert seats_of(db, order_id) == 2
    assert [t["status"] for t in tickets_of(db, order_id)] == ["valid", "valid"]
    assert len(ticket_emails(stack, email)) == 1
    assert db.value("select count(*) from public.refunds where order_id = %s", (order_id,)) == 0


def test_a_late_payment_without_seats_is_refunded_in_full_and_explained(stack, db):
    event = tk.event(db)
    small = tk.tier(db, event, name="Front Row", price_minor=3000, capacity=2)
    late_email, other_email = email_address("late-refund"), email_address("early-bird")
    late, late_session = place(stack, db, event, [(small, 2)], late_email)
    close_hold(stack, db, late["order_id"])
    assert order_row(db, late["order_id"])["status"] == "expired"

    # Meanwhile the seats sell to someone else.
    other, other_session = place(stack, db, event, [(small, 2)], other_email)
    stack.stripe.pay(other_session)
    assert order_row(db, other["order_id"])["status"] == "paid"
    other_tickets = tickets_of(db, other["order_id"])

    session = stack.stripe.pay(late_session, late=True)
    [completed] = deliveries(stack, "checkout.session.completed", late_session)
    assert completed.status == 200 and answer_of(completed)["result"] == "late_refunded", completed.response_body

    row = order_row(db, late["order_id"])
    assert row["status"] == "refunded" and row["close_reason"] == "late_payment_no_capacity"
    assert tickets_of(db, late["order_id"]) == [] and seats_of(db, late["order_id"]) == 0
    assert [p["amount_minor"] for p in payments_of(db, late["order_id"])] == [6000]
    refunds = db.sql("select * from public.refunds where order_id = %s", (late["order_id"],))
    assert len(refunds) == 1 and refunds[0]["amount_minor"] == 6000
    assert refunds[0]["reason"] == "late_payment_no_capacity"
    assert refunds[0]["status"] == "succeeded" and refunds[0]["provider_refund_id"], refunds[0]
    at_stripe = [r for r in stack.stripe.refunds.values() if r["payment_intent"] == session["payment_intent"]]
    assert [r["amount"] for r in at_stripe] == [6000]
    assert at_stripe[0]["id"] == refunds[0]["provider_refund_id"]

    mails = stack.resend.emails_to(late_email)
    assert len(mails) == 1, [m["subject"] for m in mails]
    assert "refunded" in mails[0]["subject"]
    assert "after your reservation had run out" in mails[0]["text"]
    assert "sold" in mails[0]["text"] and "£60.00" in mails[0]["text"]
    assert ticket_emails(stack, late_email) == []

    # The other buyer keeps exactly what they bought.
    assert seats_of(db, other["order_id"]) == 2 and tk.seats_taken(db, small["id"]) == 2
    assert tickets_of(db, other["order_id"]) == other_tickets
    assert {t["status"] for t in other_tickets} == {"valid"}
    assert order_row(db, other["order_id"])["status"] == "paid"


# ---------------------------------------------------------------------------
# Failures write nothing
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("order_ref", ["missing-uuid", "not-a-uuid", "none"])
def test_an_event_for_no_order_of_ours_is_recorded_and_acknowledged(stack, db, sale, order_ref):
    """Issue 10: a signed event for an unknown order answered 404, which Stripe retries for days and then
    disables the endpoint. It is recorded (once) and answered 200; nothing else is written."""
    event, general = sale
    answer, session_id = place(stack, db, event, [(general, 1)], email_address("stranger"))
    ghost = {"missing-uuid": str(uuid.uuid4()), "not-a-uuid": "order-that-is-not-a-uuid", "none": None}[order_ref]
    built = completed_event(stack, session_id, id=f"cs_test_{uuid.uuid4().hex}", metadata={"order_id": ghost},
                            client_reference_id=ghost)
    payments_before = db.value("select count(*) from public.payments")

    delivery = stack.stripe.deliver(built)

    assert delivery.status == 200, delivery
    assert answer_of(delivery)["result"] == "unknown_order"
    assert db.one("select outcome from private.webhook_events where id = %s", (built["id"],)) == \
        {"outcome": "unknown_order"}
    assert db.value("select count(*) from public.payments") == payments_before
    assert order_row(db, answer["order_id"])["status"] == "pending"
    assert answer_of(stack.stripe.redeliver(built["id"]))["result"] == "duplicate"


def foreign_session(stack, order: dict, *, amount: int, currency: str) -> str:
    """A Checkout Session opened on the same Stripe account by someone else (a Payment Link does this),
    whose metadata and client_reference_id name our order."""
    client = stripe.StripeClient(settings().stripe.secret_key, base_addresses={"api": f"{stack.base_url}/stripe"})
    session = client.v1.checkout.sessions.create(params={
        "mode": "payment",
        "line_items": [{"price_data": {"currency": currency, "unit_amount": amount,
                                       "product_data": {"name": "Anything"}}, "quantity": 1}],
        "metadata": {"order_id": order["order_id"]},
        "client_reference_id": order["order_id"],
        "success_url": "https://example.com/ok", "cancel_url": "https://example.com/no",
    })
    return session.id


@pytest.mark.parametrize(("amount", "currency"), [(100, "usd"), (100, "gbp"), (2500, "usd"), (2500, "gbp")],
                         ids=["1-usd", "1-gbp", "25-usd", "another-session-for-the-right-amount"])
def test_a_session_that_is_not_the_orders_pays_nothing_and_is_not_ours_to_refund(stack, db, sale, amount, currency):
    """Issue 10: a session for 1 USD settled a £25 order, found by the metadata any Payment Link buyer can set.
    Only the order's own session pays it. Other money is not attached to the order, and not refunded either:
    refunding it would let anyone get another sale of the merchant's refunded by naming an order id."""
    event, general = sale
    answer, own_session = place(stack, db, event, [(general, 1)], email_address("foreign"))
    payments_before = db.value("select count(*) from public.payments")
    other = foreign_session(stack, answer, amount=amount, currency=currency)

    stack.stripe.pay(other)

    [delivery] = deliveries(stack, "checkout.session.completed", other)
    assert delivery.status == 200 and answer_of(delivery)["result"] == "foreign_session", delivery
    assert order_row(db, answer["order_id"])["status"] == "pending" and tickets_of(db, answer["order_id"]) == []
    assert db.value("select count(*) from public.payments") == payments_before
    pi = stack.stripe.sessions[other]["payment_intent"]
    assert [r for r in stack.stripe.refunds.values() if r["payment_intent"] == pi] == []
    [why] = db.sql("select details from public.audit_log where action = 'payment.foreign_session' and row_id = %s",
                   (answer["order_id"],))
    assert why["details"]["session_id"] == other and why["details"]["order_session_id"] == own_session
    assert (why["details"]["amount_minor"], why["details"]["currency"]) == (amount, currency.upper())
    # The buyer's own session still pays the order, once.
    stack.stripe.pay(own_session)
    assert order_row(db, answer["order_id"])["status"] == "paid" and len(tickets_of(db, answer["order_id"])) == 1


@pytest.mark.parametrize("change", [{"amount_total": 100}, {"currency": "usd"}], ids=["amount", "currency"])
def test_the_orders_own_session_for_another_amount_or_currency_is_refunded_and_closes_the_order(stack, db, sale,
                                                                                               change):
    event, general = sale
    answer, own_session = place(stack, db, event, [(general, 1)], email_address("own-mismatch"))
    built = completed_event(stack, own_session, **change)
    delivery = stack.stripe.deliver(built)
    assert delivery.status == 200 and answer_of(delivery)["result"] == "mismatch_refunded", delivery
    order = order_row(db, answer["order_id"])
    assert (order["status"], order["close_reason"]) == ("cancelled", "payment_mismatch")
    assert tickets_of(db, answer["order_id"]) == [] and seats_of(db, answer["order_id"]) == 0
    paid = built["data"]["object"]
    [refund] = db.sql("select r.amount_minor, r.currency, r.reason from public.refunds r"
                      " join public.payments p on p.id = r.payment_id where p.provider_payment_id = %s",
                      (paid["payment_intent"],))
    assert refund == {"amount_minor": paid["amount_total"], "currency": paid["currency"].upper(),
                      "reason": "payment_mismatch"}
    assert db.value("select count(*) from public.audit_log where action = 'payment.mismatch' and row_id = %s",
                    (answer["order_id"],)) == 1


def test_refunding_a_duplicate_payment_leaves_the_order_and_its_tickets_alone(stack, db, sale):
    """The provider's refund of a second payment used to mark the whole order refunded when Stripe confirmed
    it, voiding the tickets the buyer's own payment still pays for."""
    event, general = sale
    answer, own_session = place(stack, db, event, [(general, 1)], email_address("stray"))
    stack.stripe.pay(own_session)
    # A second real payment for the same session (the stand-in's PaymentIntent of another session, so Stripe
    # can refund it): Stripe completing a session twice is what record_payment calls duplicate_refunded.
    other = foreign_session(stack, answer, amount=2500, currency="gbp")
    stack.stripe.pay(other)
    second = stack.stripe.sessions[other]["payment_intent"]
    duplicate = stack.stripe.deliver(completed_event(stack, own_session, payment_intent=second))
    assert answer_of(duplicate)["result"] == "duplicate_refunded", duplicate
    refunded = [d for d in stack.stripe.events_sent
                if d.type == "charge.refunded" and d.event["data"]["object"]["payment_intent"] == second]
    assert refunded and refunded[-1].status == 200, refunded
    assert answer_of(refunded[-1])["result"] == "fully_refunded"
    assert order_row(db, answer["order_id"])["status"] == "paid"
    assert [t["status"] for t in tickets_of(db, answer["order_id"])] == ["valid"]


def test_a_foreign_sessions_expiry_does_not_close_the_order(stack, db, sale):
    event, general = sale
    answer, _ = place(stack, db, event, [(general, 1)], email_address("foreign-expiry"))
    other = foreign_session(stack, answer, amount=2500, currency="gbp")
    stack.stripe.expire(other)
    [delivery] = deliveries(stack, "checkout.session.expired", other)
    assert delivery.status == 200 and answer_of(delivery)["result"] == "unknown_order", delivery
    assert order_row(db, answer["order_id"])["status"] == "pending" and seats_of(db, answer["order_id"]) == 1


def test_a_dispute_or_refund_of_a_payment_that_is_not_ours_is_recorded_and_acknowledged(stack, db):
    """A chargeback or refund of a charge our sessions did not make (another product on the same Stripe
    account) was answered 503 for ever, which Stripe retries for days before disabling the endpoint."""
    payment_intent = f"pi_test_{uuid.uuid4().hex[:20]}"
    dispute = {"id": f"dp_test_{uuid.uuid4().hex[:14]}", "object": "dispute", "amount": 2500,
               "currency": "gbp", "payment_intent": payment_intent,
               "reason": "fraudulent", "status": "needs_response", "metadata": {}}
    charge = {"id": f"ch_test_{uuid.uuid4().hex[:14]}", "object": "charge", "amount": 2500, "currency": "gbp",
              "payment_intent": payment_intent, "amount_refunded": 2500, "refunded": True, "metadata": {}}
    for built in (stack.stripe.build_event("charge.dispute.created", dispute),
                  stack.stripe.build_event("charge.refunded", charge)):
        delivery = stack.stripe.deliver(built)
        assert delivery.status == 200 and answer_of(delivery)["result"] == "unknown_payment", delivery
        assert webhook_rows(db, built["id"]) == 1


def test_a_dispute_of_our_payment_not_recorded_yet_waits_then_flags(stack, db, sale):
    event, general = sale
    answer, session_id = place(stack, db, event, [(general, 1)], email_address("dispute-first"))
    with webhooks_held(stack):
        session = stack.stripe.pay(session_id)
    dispute = {"id": f"dp_test_{uuid.uuid4().hex[:14]}", "object": "dispute", "amount": 2500, "currency": "gbp",
               "payment_intent": session["payment_intent"], "reason": "fraudulent", "status": "needs_response",
               "metadata": {}}
    built = stack.stripe.build_event("charge.dispute.created", dispute)
    early = stack.stripe.deliver(built)
    assert early.status == 503 and json.loads(early.response_body)["error"]["code"] == "not_ready"
    assert webhook_rows(db, built["id"]) == 0
    stack.stripe.flush()
    assert order_row(db, answer["order_id"])["status"] == "paid"
    again = stack.stripe.redeliver(built["id"])
    assert again.status == 200 and answer_of(again)["result"] == "flagged", again

def test_a_checkout_payments_own_payment_intent_events_are_acknowledged_as_the_sessions_and_change_nothing(
        stack, db, sale):
    """Stripe also sends payment_intent.succeeded / canceled for a Checkout Session's PaymentIntent: the
    session's events record it, so these are acknowledged (session_payment), never logged as foreign,
    and close or pay nothing."""
    event, general = sale
    answer, session_id = place(stack, db, event, [(general, 1)], email_address("pi-events"))
    stack.stripe.pay(session_id)
    intent = stack.stripe.payment_intents[stack.stripe.sessions[session_id]["payment_intent"]]
    payments_before = db.value("select count(*) from public.payments where order_id = %s", (answer["order_id"],))
    for type_ in ("payment_intent.succeeded", "payment_intent.canceled"):
        delivery = stack.stripe.deliver(stack.stripe.build_event(type_, intent))
        assert delivery.status == 200 and answer_of(delivery)["result"] == "session_payment", delivery.response_body
    row = order_row(db, answer["order_id"])
    assert row["status"] == "paid"
    assert db.value("select count(*) from public.payments where order_id = %s", (answer["order_id"],)) == payments_before
