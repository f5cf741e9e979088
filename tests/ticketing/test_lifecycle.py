"""An order's life around the edges, over real HTTP: holds that run out
(Stripe asked first), Stripe or Resend down or losing answers, retried
requests, refunds, and the statistics an organizer reads afterwards.

Each test arranges its own event and buyers (unique email addresses), drives
the functions as the frontend, cron and Stripe would, and checks the
database and the stand-ins. Outages are simulated with the stand-ins'
`fail_next`; the Stripe SDK retries twice, so "Stripe down" is three failures.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shared.providers import payments
from shared.platform.config import settings
from tests.support import factories, orders, ticketing as tk
from tests.support.ticketing import webhooks_held
from tests.support.http import anon_headers, buy, checkout_body, service_headers

SDK_ATTEMPTS = 3  # stripe_client(max_network_retries=2)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def email_address(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


def order_row(db, order_id) -> dict:
    return db.one("select * from public.orders where id = %s", (order_id,))


def seats_of(db, order_id) -> int:
    return db.value("select count(*) from private.ticket_seats where order_id = %s", (order_id,))


def tickets_of(db, order_id) -> list[dict]:
    return db.sql("select * from public.tickets where order_id = %s order by id", (order_id,))


def place(stack, db, event: dict, items: list, email: str, **extra) -> tuple[dict, str]:
    r = buy(stack.functions_url, checkout_body(event, items, buyer_email=email, **extra))
    assert r.status_code == 200, r.text
    answer = r.json()
    session_id = order_row(db, answer["order_id"])["checkout_session_id"]
    assert session_id, "the order has no Checkout Session"
    return answer, session_id


def call(stack, name: str, body: dict | None = None, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{stack.functions_url}/{name}", json=body if body is not None else {},
                      headers=headers if headers is not None else service_headers(), timeout=60)


def run_out_hold(db, order_id) -> None:
    db.sql("update public.orders set hold_expires_at = now() - interval '1 minute' where id = %s", (order_id,))


def expire_holds(stack) -> dict:
    r = call(stack, "expire-holds")
    assert r.status_code == 200, r.text
    return r.json()


def counted(counts: dict, **want: int) -> bool:
    """expire-holds' counts: the named ones as given, every other one zero."""
    return all(counts.get(k, 0) == v for k, v in want.items()) and \
        all(v == 0 for k, v in counts.items() if k not in want)


def send_tickets(stack, limit: int = 500) -> dict:
    r = call(stack, "send-tickets", {"limit": limit})
    assert r.status_code == 200, r.text
    return r.json()


def drain_outbox(stack) -> None:
    """Send whatever earlier tests left due, so counts below are this test's own."""
    while send_tickets(stack)["claimed"]:
        pass


def ticket_row(db, recipient: str) -> dict:
    rows = db.sql("select *, next_attempt_at > now() as in_future from public.notification_outbox"
                  " where template = 'tickets' and recipient = %s", (recipient,))
    assert len(rows) == 1, rows
    return rows[0]


def make_due(db, outbox_id) -> None:
    db.sql("update public.notification_outbox set next_attempt_at = now() - interval '1 second' where id = %s",
           (outbox_id,))


def ticket_emails(stack, address: str) -> list[dict]:
    return [e for e in stack.resend.emails_to(address) if e["subject"].startswith("Your tickets")]


def deliveries(stack, type_: str, object_id: str) -> list:
    return [d for d in stack.stripe.events_sent
            if d.type == type_ and d.event["data"]["object"].get("id") == object_id]


def sessions_for(stack, order_id) -> list[dict]:
    return [s for s in stack.stripe.sessions.values() if s["metadata"].get("order_id") == str(order_id)]


def refunds_at_stripe(stack, payment_intent: str) -> list[dict]:
    return [r for r in stack.stripe.refunds.values() if r["payment_intent"] == payment_intent]






# ---------------------------------------------------------------------------
# expire-holds
# ---------------------------------------------------------------------------
def test_an_expired_hold_expires_the_session_at_stripe_first_then_releases_seats_and_promo(stack, db, sale):
    event, general = sale
    promo = tk.promo(db, event["org_id"], kind="percent", value=20, max_redemptions=5)
    answer, session_id = place(stack, db, event, [(general, 3)], email_address("expiring"), promo_code=promo["code"])
    order_id = answer["order_id"]
    assert seats_of(db, order_id) == 3
    assert db.value("select redemptions_count from public.promo_codes where id = %s", (promo["id"],)) == 1

    run_out_hold(db, order_id)
    counts = expire_holds(stack)

    assert counts["failed"] == 0 and counts["expired"] + counts["skipped"] == 1, counts
    assert stack.stripe.sessions[session_id]["status"] == "expired"
    # Stripe's checkout.session.expired reached us while the order was still pending:
    # the session was expired at Stripe before anything was released here.
    [expired] = deliveries(stack, "checkout.session.expired", session_id)
    assert json.loads(expired.response_body)["result"] == "expired", expired.response_body
    row = order_row(db, order_id)
    assert row["status"] == "expired" and row["closed_at"] is not None
    assert seats_of(db, order_id) == 0 and tk.seats_taken(db, general["id"]) == 0
    assert db.value("select redemptions_count from public.promo_codes where id = %s", (promo["id"],)) == 0
    assert db.value("select count(*) from public.promo_redemptions where order_id = %s", (order_id,)) == 0
    assert counted(expire_holds(stack)), "nothing should be left to expire"


def test_a_hold_whose_session_was_paid_without_a_webhook_is_recorded_paid_not_released(stack, db, sale):
    event, general = sale
    email = email_address("lost-webhook")
    answer, session_id = place(stack, db, event, [(general, 2)], email)
    order_id = answer["order_id"]

    with webhooks_held(stack):
        session = stack.stripe.pay(session_id)         # paid at Stripe; the webhook never comes
        run_out_hold(db, order_id)
        counts = expire_holds(stack)
        assert counted(counts, paid=1), counts

    row = order_row(db, order_id)
    assert row["status"] == "paid" and row["payment_intent_id"] == session["payment_intent"]
    assert seats_of(db, order_id) == 2
    assert [t["status"] for t in tickets_of(db, order_id)] == ["valid", "valid"]
    assert db.value("select count(*) from public.payments where order_id = %s", (order_id,)) == 1
    assert stack.stripe.sessions[session_id]["status"] == "complete"

    # The webhook finally arrives: nothing more happens.
    [late] = stack.stripe.flush()
    assert late.status == 200 and json.loads(late.response_body)["result"] == "already_paid", late.response_body
    assert db.value("select count(*) from public.payments where order_id = %s", (order_id,)) == 1
    assert len(tickets_of(db, order_id)) == 2
    send_tickets(stack)
    assert len(ticket_emails(stack, email)) == 1


def test_a_hold_whose_session_completed_with_a_payment_in_flight_is_kept_not_released(stack, db, sale):
    """A bank debit: the buyer completed Checkout (session `complete`, payment_status
    `unpaid`) and the money is on its way, but our webhook for it has not arrived yet.
    The order is `processing` in all but name: the hold must be kept."""
    event, general = sale
    answer, session_id = place(stack, db, event, [(general, 2)], email_address("debit-in-flight"))
    order_id = answer["order_id"]

    with webhooks_held(stack):
        session = stack.stripe.pay(session_id, async_payment=True, settle=False)
        assert (session["status"], session["payment_status"]) == ("complete", "unpaid")
        run_out_hold(db, order_id)
        counts = expire_holds(stack)
    stack.stripe.flush()                                  # checkout.session.completed (unpaid) arrives late

    row = order_row(db, order_id)
    assert (row["status"], seats_of(db, order_id)) == ("processing", 2), (
        f"expire-holds released the seats of an order whose Checkout Session Stripe reports complete with a "
        f"payment in flight (status={row['status']!r}, close_reason={row['close_reason']!r}, "
        f"seats held={seats_of(db, order_id)}, counts={counts}); holds.expire_holds only treats "
        f"status=complete/payment_status=paid as paid and closes everything else")

    stack.stripe.settle(session_id)
    assert order_row(db, order_id)["status"] == "paid"
    assert len(tickets_of(db, order_id)) == 2


def test_stripe_down_during_expiry_leaves_the_hold_alone(stack, db, sale):
    event, general = sale
    answer, session_id = place(stack, db, event, [(general, 2)], email_address("stripe-down-expiry"))
    order_id = answer["order_id"]
    run_out_hold(db, order_id)

    stack.stripe.fail_next(SDK_ATTEMPTS, 500)
    counts = expire_holds(stack)

    assert counted(counts, failed=1), counts
    assert order_row(db, order_id)["status"] == "pending"
    assert seats_of(db, order_id) == 2
    assert stack.stripe.sessions[session_id]["status"] == "open"

    # Stripe is back: the next run does the job.
    counts = expire_holds(stack)
    assert counts["failed"] == 0 and counts["expired"] + counts["skipped"] == 1, counts
    assert stack.stripe.sessions[session_id]["status"] == "expired"
    assert order_row(db, order_id)["status"] == "expired" and seats_of(db, order_id) == 0


# ---------------------------------------------------------------------------
# create-checkout-session: outages and retries
# ---------------------------------------------------------------------------
def test_stripe_down_at_checkout_cancels_and_releases_then_the_same_key_succeeds(stack, db, sale):
    event, general = sale
    promo = tk.promo(db, event["org_id"], kind="fixed", value=500, currency="GBP", max_redemptions=1)
    email = email_address("stripe-down-checkout")
    body = checkout_body(event, [(general, 2)], buyer_email=email, promo_code=promo["code"])
    key = f"retry-{uuid.uuid4()}"
    sessions_before = len(stack.stripe.sessions)

    stack.stripe.fail_next(SDK_ATTEMPTS, 500)
    down = buy(stack.functions_url, body, key=key)

    assert down.status_code == 502, down.text
    assert down.json()["error"]["code"] == "payment_provider_unavailable"
    [failed] = db.sql("select * from public.orders where buyer_email = %s", (email,))
    assert failed["status"] == "cancelled" and failed["close_reason"] == "payment_provider_unavailable"
    assert seats_of(db, failed["id"]) == 0 and tk.seats_taken(db, general["id"]) == 0
    assert db.value("select redemptions_count from public.promo_codes where id = %s", (promo["id"],)) == 0
    assert db.value("select count(*) from public.promo_redemptions where order_id = %s", (failed["id"],)) == 0
    assert len(stack.stripe.sessions) == sessions_before

    again = buy(stack.functions_url, body, key=key)
    assert again.status_code == 200, again.text
    answer = again.json()
    assert answer["status"] == "pending" and answer["checkout_url"]
    assert answer["total_minor"] == 2 * 2500 - 500   # the single-use code was given back and used again
    assert seats_of(db, answer["order_id"]) == 2
    assert db.value("select redemptions_count from public.promo_codes where id = %s", (promo["id"],)) == 1
    assert len(sessions_for(stack, answer["order_id"])) == 1


def test_the_same_idempotency_key_and_body_give_one_order_a_different_body_is_refused(stack, db, sale):
    event, general = sale
    email = email_address("idempotent")
    body = checkout_body(event, [(general, 2)], buyer_email=email)
    key = f"idem-{uuid.uuid4()}"

    first = buy(stack.functions_url, body, key=key)
    second = buy(stack.functions_url, body, key=key)

    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    a, b = first.json(), second.json()
    assert a["order_number"] == b["order_number"] and a["order_id"] == b["order_id"]
    assert b["replayed"] is True and b["checkout_url"] == a["checkout_url"]
    assert db.value("select count(*) from public.orders where buyer_email = %s", (email,)) == 1
    assert len(sessions_for(stack, a["order_id"])) == 1
    assert seats_of(db, a["order_id"]) == 2 and tk.seats_taken(db, general["id"]) == 2

    other = buy(stack.functions_url, checkout_body(event, [(general, 3)], buyer_email=email), key=key)
    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert db.value("select count(*) from public.orders where buyer_email = %s", (email,)) == 1
    assert tk.seats_taken(db, general["id"]) == 2


# ---------------------------------------------------------------------------
# send-tickets: the outbox worker
# ---------------------------------------------------------------------------
def test_resend_down_the_ticket_email_is_retried_with_backoff_and_sent_once(stack, db, sale):
    event, general = sale
    email = email_address("resend-down")
    drain_outbox(stack)
    answer, session_id = place(stack, db, event, [(general, 1)], email)

    stack.resend.fail_next(2, 500)                        # the tickets and the receipt
    stack.stripe.pay(session_id)                          # the webhook tries to send at once, and fails
    assert order_row(db, answer["order_id"])["status"] == "paid"
    row = ticket_row(db, email)
    assert row["status"] == "pending" and row["attempts"] == 1 and row["in_future"], row
    assert row["last_error"] and row["sent_at"] is None
    assert ticket_emails(stack, email) == []

    # Not due yet: the worker leaves it alone.
    send_tickets(stack)
    assert ticket_row(db, email)["attempts"] == 1 and ticket_emails(stack, email) == []

    # Due, and Resend still down: a longer wait next time.
    make_due(db, row["id"])
    stack.resend.fail_next(1, 503)
    send_tickets(stack)
    row = ticket_row(db, email)
    assert row["status"] == "pending" and row["attempts"] == 2 and row["in_future"], row
    assert db.value("select next_attempt_at > now() + interval '30 seconds' from public.notification_outbox"
                    " where id = %s", (row["id"],)), "the second retry should wait longer than the first (30 s)"

    # Resend is back and the time has come: sent exactly once.
    make_due(db, row["id"])
    result = send_tickets(stack)
    assert result["sent"] >= 1, result
    row = ticket_row(db, email)
    assert row["status"] == "sent" and row["attempts"] == 3 and row["sent_at"] is not None
    mails = ticket_emails(stack, email)
    assert len(mails) == 1 and mails[0]["id"] == row["provider_message_id"]
    send_tickets(stack)
    assert len(ticket_emails(stack, email)) == 1


def test_a_lost_resend_answer_then_a_retry_delivers_one_email(stack, db, sale):
    event, general = sale
    email = email_address("lost-answer")
    drain_outbox(stack)
    answer, session_id = place(stack, db, event, [(general, 2)], email)

    stack.resend.fail_next(2, 500, after=True)           # Resend stores both (tickets, receipt); we hear errors
    stack.stripe.pay(session_id)
    row = ticket_row(db, email)
    assert row["status"] == "pending" and row["attempts"] == 1, row
    assert len(ticket_emails(stack, email)) == 1

    make_due(db, row["id"])
    send_tickets(stack)
    row = ticket_row(db, email)
    assert row["status"] == "sent" and row["attempts"] == 2, row
    mails = ticket_emails(stack, email)
    assert len(mails) == 1, "the retry must reuse the outbox id as Resend's idempotency key"
    assert mails[0]["id"] == row["provider_message_id"]


def test_concurrent_workers_never_send_one_row_twice(stack, db, sale):
    """Bursts of workers over real HTTP share the queue. A row claimed twice would show
    as attempts > 1 and as more "sent" than rows; Resend's idempotency would hide it
    from the mailbox, so the mailbox alone proves nothing here. A race only shows when
    it happens, hence a few rounds."""
    event, _ = sale
    crowd = tk.tier(db, event, name="Crowd", price_minor=1000, capacity=30)
    drain_outbox(stack)
    for round_ in range(3):
        buyers = [email_address(f"crowd{round_}-{n}") for n in range(8)]
        for address in buyers:
            orders.paid(db, event, [(crowd, 1)], email=address, name="Crowd Buyer")
        # Every message of these orders (the tickets and the receipt of each).
        ids = [r["id"] for r in db.sql("select id from public.notification_outbox where recipient = any(%s)",
                                       (buyers,))]
        assert len(ids) == 2 * len(buyers)

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda _: send_tickets(stack, limit=3), range(6)))
        results.append(send_tickets(stack))               # mop up anything the workers skipped

        assert sum(r["failed"] for r in results) == 0, results
        assert sum(r["claimed"] for r in results) == len(ids), (round_, results)
        assert sum(r["sent"] for r in results) == len(ids), (round_, results)
        rows = db.sql("select status, attempts from public.notification_outbox where id = any(%s)", (ids,))
        assert len(rows) == len(ids) and all(r == {"status": "sent", "attempts": 1} for r in rows), rows
        for address in buyers:
            assert len(ticket_emails(stack, address)) == 1, address


@pytest.mark.parametrize("function", ["send-tickets", "expire-holds", "refresh-event-stats"])
def test_workers_refuse_everyone_but_the_service_role(stack, db, function):
    user = db.user()
    for headers in (anon_headers(), user.headers):
        r = call(stack, function, {}, headers)
        assert r.status_code == 403, (function, r.text)
        assert r.json()["error"]["code"] == "service_role_only"
    r = httpx.post(f"{stack.functions_url}/{function}", json={}, timeout=30)
    assert r.status_code == 401, (function, r.text)


# ---------------------------------------------------------------------------
# refund-order
# ---------------------------------------------------------------------------
@pytest.fixture
def paid_order(stack, db):
    """A paid £50 order (two £25 tickets) in an org with an owner and a staff member."""
    event = tk.event(db)
    general = tk.tier(db, event, name="General", price_minor=2500, capacity=10)
    email = email_address("refundee")
    answer, session_id = place(stack, db, event, [(general, 2)], email)
    session = stack.stripe.pay(session_id)
    assert order_row(db, answer["order_id"])["status"] == "paid"
    staff = factories.member(db, event["org"], role="staff")
    return {"event": event, "org": event["org"], "owner": event["org"]["owner"], "staff": staff,
            "order_id": answer["order_id"], "email": email, "payment_intent": session["payment_intent"]}


def refund_rows(db, order_id) -> list[dict]:
    return db.sql("select * from public.refunds where order_id = %s order by created_at", (order_id,))


def test_a_partial_refund_keeps_the_order_and_tickets_and_tells_the_buyer(stack, db, paid_order):
    o = paid_order
    r = call(stack, "refund-order", {"order_id": o["order_id"], "amount_minor": 1500, "reason": "seat moved"},
             o["owner"].headers)
    assert r.status_code == 200, r.text
    assert r.json()["executed"] is True
    [refund] = refund_rows(db, o["order_id"])
    assert refund["amount_minor"] == 1500 and refund["status"] == "succeeded" and refund["provider_refund_id"]
    assert refund["requested_by"] is not None and str(refund["requested_by"]) == o["owner"].id
    assert [x["amount"] for x in refunds_at_stripe(stack, o["payment_intent"])] == [1500]
    assert order_row(db, o["order_id"])["status"] == "paid"
    assert [t["status"] for t in tickets_of(db, o["order_id"])] == ["valid", "valid"]
    mails = [m for m in stack.resend.emails_to(o["email"]) if "Refund" in m["subject"]]
    assert len(mails) == 1 and "£15.00" in mails[0]["text"] and "remain valid" in mails[0]["text"]

    too_much = call(stack, "refund-order", {"order_id": o["order_id"], "amount_minor": 3501}, o["owner"].headers)
    assert too_much.status_code == 422, too_much.text
    assert too_much.json()["error"]["code"] == "invalid_refund_amount"
    assert len(refund_rows(db, o["order_id"])) == 1
    assert len(refunds_at_stripe(stack, o["payment_intent"])) == 1
    assert order_row(db, o["order_id"])["status"] == "paid"


def test_staff_outsiders_and_anon_cannot_refund(stack, db, paid_order):
    o = paid_order
    rival_owner = factories.org(db)["owner"]
    outbox_before = db.value("select count(*) from public.notification_outbox")
    for who in (o["staff"], rival_owner):
        r = call(stack, "refund-order", {"order_id": o["order_id"], "amount_minor": 100}, who.headers)
        assert r.status_code in (403, 404), r.text
    anon = call(stack, "refund-order", {"order_id": o["order_id"]}, anon_headers())
    assert anon.status_code == 401, anon.text

    assert refund_rows(db, o["order_id"]) == []
    assert refunds_at_stripe(stack, o["payment_intent"]) == []
    assert db.value("select count(*) from public.notification_outbox") == outbox_before
    assert order_row(db, o["order_id"])["status"] == "paid"


def test_a_refund_is_executed_once_at_stripe_even_when_the_answer_is_lost(stack, db, paid_order):
    o = paid_order
    with webhooks_held(stack):
        stack.stripe.fail_next(SDK_ATTEMPTS, 500, after=True)   # Stripe refunds; every answer is lost
        r = call(stack, "refund-order", {"order_id": o["order_id"]}, o["owner"].headers)
        assert r.status_code == 200, r.text
        assert r.json()["executed"] is False
        [refund] = refund_rows(db, o["order_id"])
        assert refund["status"] == "pending" and refund["provider_refund_id"] is None and refund["last_error"]
        assert len(refunds_at_stripe(stack, o["payment_intent"])) == 1

        # The retry job runs again: Stripe replays the saved refund for the same key.
        retry = call(stack, "refund-order", {})
        assert retry.status_code == 200, retry.text

    at_stripe = refunds_at_stripe(stack, o["payment_intent"])
    assert len(at_stripe) == 1 and at_stripe[0]["amount"] == 5000
    [refund] = refund_rows(db, o["order_id"])
    assert refund["status"] == "succeeded" and refund["provider_refund_id"] == at_stripe[0]["id"]
    keys = {e["request"]["idempotency_key"] for e in stack.stripe.events
            if e["type"] == "charge.refunded" and e["data"]["object"]["payment_intent"] == o["payment_intent"]}
    assert keys == {f"refund:{refund['id']}"}

    # Stripe's charge.refunded, delivered late, confirms and adds nothing.
    for delivery in stack.stripe.flush():
        assert delivery.status == 200, delivery
    assert [x["amount_minor"] for x in refund_rows(db, o["order_id"])] == [5000]
    assert order_row(db, o["order_id"])["status"] == "refunded"
    assert {t["status"] for t in tickets_of(db, o["order_id"])} == {"void"}


def test_a_dashboard_refund_does_not_pass_for_our_refund_still_waiting_to_be_executed(stack, db, paid_order):
    """Our £10 refund is queued while Stripe is down; meanwhile someone refunds £15 in the
    Stripe dashboard. Stripe's charge.refunded then reports £15 in total. That figure is
    the dashboard's refund, not ours: ours must stay pending and be executed by the retry."""
    o = paid_order
    stack.stripe.fail_next(SDK_ATTEMPTS, 500)
    r = call(stack, "refund-order", {"order_id": o["order_id"], "amount_minor": 1000}, o["owner"].headers)
    assert r.status_code == 200 and r.json()["executed"] is False, r.text
    [ours] = refund_rows(db, o["order_id"])
    assert ours["status"] == "pending" and ours["provider_refund_id"] is None

    # A refund made in the dashboard (straight at Stripe); Stripe sends charge.refunded.
    dashboard = payments.stripe_client(settings()).v1.refunds.create(
        params={"payment_intent": o["payment_intent"], "amount": 1500})
    [event] = deliveries(stack, "charge.refunded", dashboard.charge)
    assert event.status == 200, event

    retry = call(stack, "refund-order", {})             # the retry job
    assert retry.status_code == 200, retry.text

    at_stripe = sorted(x["amount"] for x in refunds_at_stripe(stack, o["payment_intent"]))
    ours = db.one("select * from public.refunds where id = %s", (ours["id"],))
    recorded = db.value("select sum(amount_minor) from public.refunds where order_id = %s and status = 'succeeded'",
                        (o["order_id"],))
    assert at_stripe == [1000, 1500], (
        f"the owner's 1000 refund was never executed at Stripe (Stripe holds {at_stripe}); "
        f"private.apply_provider_refunds marked it {ours['status']!r} (provider_refund_id="
        f"{ours['provider_refund_id']!r}) because Stripe's cumulative amount_refunded (1500, all from the "
        f"dashboard) covered it, and recorded only {recorded} as refunded")
    assert ours["status"] == "succeeded" and ours["provider_refund_id"]
    assert recorded == 2500


# ---------------------------------------------------------------------------
# Event statistics
# ---------------------------------------------------------------------------
def test_event_statistics_after_a_refresh_match_what_happened(stack, db):
    event = tk.event(db)
    owner = event["org"]["owner"]
    staff = factories.member(db, event["org"], role="staff")
    stalls = tk.tier(db, event, name="Stalls", price_minor=2500, capacity=10)
    circle = tk.tier(db, event, name="Circle", price_minor=4000, capacity=6)
    tiers = {stalls["id"]: stalls, circle["id"]: circle}
    expected = {t: {"sold": 0, "held": 0, "gross_minor": 0, "checked_in": 0} for t in tiers}
    refunded_minor = 0

    def bought(items, *, pay=True):
        answer, session_id = place(stack, db, event, items, email_address("stats"))
        if pay:
            stack.stripe.pay(session_id)
            assert order_row(db, answer["order_id"])["status"] == "paid"
        return answer, session_id

    # A: 2 stalls, paid; one of them scanned at the door.
    a, _ = bought([(stalls, 2)])
    expected[stalls["id"]]["sold"] += 2
    expected[stalls["id"]]["gross_minor"] += 2 * 2500
    scan = orders.check_in(db, staff, event["id"], tickets_of(db, a["order_id"])[0]["secret"])
    assert scan["ok"], scan
    expected[stalls["id"]]["checked_in"] += 1

    # B: 1 circle, still on hold.
    bought([(circle, 1)], pay=False)
    expected[circle["id"]]["held"] += 1

    # C: 1 stalls + 1 circle, paid, then £10 back.
    c, _ = bought([(stalls, 1), (circle, 1)])
    expected[stalls["id"]]["sold"] += 1
    expected[circle["id"]]["sold"] += 1
    expected[stalls["id"]]["gross_minor"] += 2500
    expected[circle["id"]]["gross_minor"] += 4000
    r = call(stack, "refund-order", {"order_id": c["order_id"], "amount_minor": 1000}, owner.headers)
    assert r.status_code == 200, r.text
    refunded_minor += 1000

    # D: 2 circle, paid, then refunded in full (seats back on sale, revenue refunded).
    d, _ = bought([(circle, 2)])
    r = call(stack, "refund-order", {"order_id": d["order_id"]}, owner.headers)
    assert r.status_code == 200, r.text
    expected[circle["id"]]["gross_minor"] += 2 * 4000
    refunded_minor += 2 * 4000

    # E: 3 stalls whose hold ran out.
    e, _ = bought([(stalls, 3)], pay=False)
    run_out_hold(db, e["order_id"])
    expire_holds(stack)
    assert order_row(db, e["order_id"])["status"] == "expired"

    def statistics() -> dict:
        with db.as_user(owner) as cur:
            cur.execute("select public.event_statistics(%s) as s", (event["id"],))
            return cur.fetchone()["s"]

    assert statistics()["totals"] is None, "figures should appear only once the stats are refreshed"
    r = call(stack, "refresh-event-stats")
    assert r.status_code == 200 and r.json() == {"refreshed": True}, r.text
    stats = statistics()

    by_tier = {t["tier_id"]: t for t in stats["tiers"]}
    assert set(by_tier) == {str(t) for t in tiers}
    for tier_id, want in expected.items():
        got = by_tier[str(tier_id)]
        assert {k: got[k] for k in want} == want, (tiers[tier_id]["name"], got)
        assert got["capacity"] == tiers[tier_id]["capacity"]
    totals = stats["totals"]
    for key in ("sold", "held", "gross_minor", "checked_in"):
        assert totals[key] == sum(w[key] for w in expected.values()), (key, totals)
    assert totals["refunded_minor"] == refunded_minor, totals
    assert totals["capacity"] == sum(t["capacity"] for t in tiers.values())
