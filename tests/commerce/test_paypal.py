"""PayPal for an order, over real HTTP: checkout opens a PayPal order, the buyer approves at the
PayPal stand-in (which speaks PayPal's REST wire format to the real paypal-server-sdk), paypal-return
captures, and PayPal's signed webhooks confirm, capture for a buyer who never came back, and report
refunds. Captures happen once however often they are asked for; forged, replayed and out-of-order
webhooks change nothing they should not; PayPal down at create cancels the order (nothing held), down
at capture leaves it to the webhook. Every assertion reads the database or the stand-in.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import override_env
from tests.support import factories, ticketing as tk
from tests.support.http import ORIGIN, buy, checkout_body, service_headers


@pytest.fixture(autouse=True)
def quiet_paypal(stack):
    """No webhooks or faults left over from another test (its orders and the SDK's token stay)."""
    stack.paypal.webhooks.clear()
    stack.paypal.faults.clear()
    yield


def captures_of(stack, paypal_order_id: str) -> list[dict]:
    return [c for c in stack.paypal.captures.values()
            if c["supplementary_data"]["related_ids"]["order_id"] == paypal_order_id]


def refunds_of(stack, capture_id: str) -> list[dict]:
    return [r for r in stack.paypal.refunds.values() if r["links"][1]["href"].endswith(f"/captures/{capture_id}")]


def events_of(stack, paypal_order_id: str, capture_id: str | None = None) -> dict[str, dict]:
    """The stand-in's events about this PayPal order (and its capture), by type."""
    ids = {paypal_order_id, capture_id}
    out = {}
    for e in stack.paypal.events:
        r = e["resource"]
        related = (r.get("supplementary_data") or {}).get("related_ids", {}).get("order_id")
        up = next((l["href"].rsplit("/", 1)[-1] for l in r.get("links", []) if l.get("rel") == "up"), None)
        if r.get("id") in ids or related in ids or up in ids:
            out[e["event_type"]] = e
    return out


def order_row(db, order_id) -> dict:
    return db.one("select * from public.orders where id = %s", (order_id,))


def checkout(stack, event, tier, *, quantity: int = 1, **extra) -> dict:
    r = buy(stack.functions_url, checkout_body(event, [(tier, quantity)], provider="paypal",
                                               buyer_email=f"pp-{uuid.uuid4().hex[:8]}@example.com", **extra))
    assert r.status_code == 200, r.text
    return r.json()


def paypal_order_of(db, answer: dict) -> str:
    return order_row(db, answer["order_id"])["paypal_order_id"]


def come_back(stack, paypal_order_id: str) -> httpx.Response:
    """The buyer's browser, sent by PayPal to the return URL after approving."""
    return httpx.get(f"{stack.functions_url}/paypal-return", params={"token": paypal_order_id, "PayerID": "PAYER1"},
                     follow_redirects=False, timeout=30)


def landing(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == ORIGIN
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def payments_of(db, order_id) -> list[dict]:
    return db.sql("select provider, provider_payment_id, amount_minor, currency from public.payments"
                  " where order_id = %s order by created_at", (order_id,))


def deliveries(stack) -> list[tuple[str, int | None, dict]]:
    """Flush the stand-in's owed webhooks: (event type, our status, our answer) for each."""
    import json
    out = []
    for attempt in stack.paypal.webhooks.flush():
        body = json.loads(attempt.body)
        out.append((body["event_type"], attempt.status, json.loads(attempt.answer or b"{}")))
    return out


def test_checkout_approve_and_return_pays_the_order_once(stack, db, sale):
    event, tier = sale
    answer = checkout(stack, event, tier, quantity=2)
    assert answer["provider"] == "paypal" and answer["status"] == "pending"
    paypal_id = paypal_order_of(db, answer)
    assert answer["checkout_url"] == stack.paypal.approve_url(paypal_id)
    at_paypal = stack.paypal.orders[paypal_id]
    assert at_paypal["purchase_units"][0]["amount"] == {"currency_code": "GBP", "value": "50.00",
                                                         "breakdown": at_paypal["purchase_units"][0]["amount"]["breakdown"]}
    assert at_paypal["purchase_units"][0]["custom_id"] == answer["order_id"]

    stack.paypal.approve(paypal_id)
    back = landing(come_back(stack, paypal_id))
    assert back == {"order": answer["order_number"], "payment": "paid", "session": "{CHECKOUT_SESSION_ID}"}
    row = order_row(db, answer["order_id"])
    assert row["status"] == "paid"
    [payment] = payments_of(db, answer["order_id"])
    [capture] = captures_of(stack, paypal_id)
    assert payment == {"provider": "paypal", "provider_payment_id": capture["id"], "amount_minor": 5000,
                       "currency": "GBP"}
    assert db.value("select count(*) from public.tickets where order_id = %s and status = 'valid'",
                    (answer["order_id"],)) == 2

    # The buyer reloads the page: captured once, paid once.
    assert landing(come_back(stack, paypal_id))["payment"] == "paid"
    assert len(captures_of(stack, paypal_id)) == 1 and len(payments_of(db, answer["order_id"])) == 1
    # PayPal's own account of it arrives afterwards and changes nothing.
    results = {kind: (status, body.get("result")) for kind, status, body in deliveries(stack)}
    assert results == {"CHECKOUT.ORDER.APPROVED": (200, "already_paid"),
                       "PAYMENT.CAPTURE.COMPLETED": (200, "already_paid")}
    assert len(payments_of(db, answer["order_id"])) == 1


def test_a_buyer_who_never_comes_back_is_captured_by_the_approved_webhook(stack, db, sale):
    event, tier = sale
    answer = checkout(stack, event, tier)
    paypal_id = paypal_order_of(db, answer)
    stack.paypal.approve(paypal_id)
    results = [(kind, status, body.get("result")) for kind, status, body in deliveries(stack)]
    assert results == [("CHECKOUT.ORDER.APPROVED", 200, "fulfilled")]
    assert order_row(db, answer["order_id"])["status"] == "paid"
    # The capture it made is announced next, and is the same payment.
    assert [(k, s, b.get("result")) for k, s, b in deliveries(stack)] == [
        ("PAYMENT.CAPTURE.COMPLETED", 200, "already_paid")]
    assert len(payments_of(db, answer["order_id"])) == 1


def test_forged_and_replayed_webhooks_change_nothing(stack, db, sale):
    event, tier = sale
    answer = checkout(stack, event, tier)
    paypal_id = paypal_order_of(db, answer)
    stack.paypal.approve(paypal_id)
    approved = events_of(stack, paypal_id)["CHECKOUT.ORDER.APPROVED"]
    stack.paypal.webhooks.clear()
    recorded = db.value("select count(*) from private.webhook_events where provider = 'paypal'")

    stack.paypal.send_forged(approved)  # signed with a key that is not PayPal's
    tampered = approved | {"id": "WH-TAMPERED", "resource": approved["resource"] | {"id": "5O190127TN364715T"}}
    stack.paypal.send_forged(tampered)
    assert [(s, b["error"]["code"]) for _, s, b in deliveries(stack)] == [(400, "invalid_signature")] * 2
    assert db.value("select count(*) from private.webhook_events where provider = 'paypal'") == recorded
    assert order_row(db, answer["order_id"])["status"] == "pending"
    assert captures_of(stack, paypal_id) == []

    stack.paypal.redeliver(approved["id"])
    stack.paypal.redeliver(approved["id"])
    assert [(s, b["result"]) for _, s, b in deliveries(stack)] == [(200, "fulfilled"), (200, "duplicate")]
    assert len(payments_of(db, answer["order_id"])) == 1


def test_a_refund_report_before_its_capture_waits_and_then_counts(stack, db, sale):
    """Out of order: PAYMENT.CAPTURE.REFUNDED (a dashboard refund) arrives before we know the capture."""
    from shared.platform.config import settings
    from shared.providers import paypal

    event, tier = sale
    answer = checkout(stack, event, tier)
    paypal_id = paypal_order_of(db, answer)
    stack.paypal.approve(paypal_id)
    client = paypal.paypal_client(settings())
    captured = paypal.capture_order(client, paypal_id, order_id=answer["order_id"])  # e.g. from PayPal's side
    paypal.refund_capture(client, captured["capture_id"], amount_minor=1000, currency="GBP",
                          refund_id="dashboard-refund")
    events = events_of(stack, paypal_id, captured["capture_id"])
    stack.paypal.webhooks.clear()

    stack.paypal.redeliver(events["PAYMENT.CAPTURE.REFUNDED"]["id"])
    [(_, status, body)] = deliveries(stack)
    assert (status, body["error"]["code"]) == (503, "not_ready")
    assert db.value("select count(*) from public.refunds where order_id = %s", (answer["order_id"],)) == 0
    assert db.value("select count(*) from private.webhook_events where id = %s",
                    (events["PAYMENT.CAPTURE.REFUNDED"]["id"],)) == 0, "a refused event must not count as seen"

    stack.paypal.redeliver(events["PAYMENT.CAPTURE.COMPLETED"]["id"])
    stack.paypal.redeliver(events["PAYMENT.CAPTURE.REFUNDED"]["id"])
    assert [(k, s, b.get("result")) for k, s, b in deliveries(stack)] == [
        ("PAYMENT.CAPTURE.COMPLETED", 200, "fulfilled"), ("PAYMENT.CAPTURE.REFUNDED", 200, "partially_refunded")]
    refund = db.one("select amount_minor, status, reason from public.refunds where order_id = %s", (answer["order_id"],))
    assert refund == {"amount_minor": 1000, "status": "succeeded", "reason": "provider_dashboard"}
    assert order_row(db, answer["order_id"])["status"] == "paid"


def test_refunds_of_a_paypal_payment_are_made_at_paypal_partly_then_fully(stack, db, sale):
    event, tier = sale
    answer = checkout(stack, event, tier, quantity=2)
    paypal_id = paypal_order_of(db, answer)
    stack.paypal.approve(paypal_id)
    assert landing(come_back(stack, paypal_id))["payment"] == "paid"
    deliveries(stack)
    owner = factories.member(db, {"id": event["org_id"]}, role="admin")

    def refund(amount: int | None) -> dict:
        r = httpx.post(f"{stack.functions_url}/refund-order", headers=owner.headers, timeout=30,
                       json={"order_id": answer["order_id"], **({"amount_minor": amount} if amount else {})})
        assert r.status_code == 200, r.text
        return r.json()

    first = refund(1500)
    assert first["executed"] is True
    [capture] = captures_of(stack, paypal_id)
    [at_paypal] = refunds_of(stack, capture["id"])
    assert (at_paypal["amount"]["value"], at_paypal["custom_id"]) == ("15.00", first["refund"]["id"])
    second = refund(None)  # the rest
    assert second["refund"]["amount_minor"] == 3500
    [capture] = captures_of(stack, paypal_id)
    assert capture["status"] == "REFUNDED"
    assert order_row(db, answer["order_id"])["status"] == "refunded"
    # PayPal's reports of both refunds confirm ours; they do not add any.
    assert {b.get("result") for _, _, b in deliveries(stack)} <= {"partially_refunded", "fully_refunded"}
    assert db.sql("select amount_minor, status from public.refunds where order_id = %s order by amount_minor",
                  (answer["order_id"],)) == [{"amount_minor": 1500, "status": "succeeded"},
                                             {"amount_minor": 3500, "status": "succeeded"}]


def test_paypal_down_at_create_answers_502_and_holds_nothing(stack, db, sale):
    event, tier = sale
    stack.paypal.fail_next(1, 503)
    r = buy(stack.functions_url, checkout_body(event, [(tier, 3)], provider="paypal"))
    assert r.status_code == 502 and r.json()["error"]["code"] == "payment_provider_unavailable"
    assert tk.seats_taken(db, tier["id"]) == 0
    assert db.value("select count(*) from public.orders where event_id = %s and status in ('pending', 'paid')",
                    (event["id"],)) == 0


def test_paypal_down_at_capture_sends_the_buyer_on_and_the_webhook_captures_later(stack, db, sale):
    event, tier = sale
    answer = checkout(stack, event, tier)
    paypal_id = paypal_order_of(db, answer)
    stack.paypal.approve(paypal_id)
    stack.paypal.webhooks.clear()  # PayPal is slow to tell us
    stack.paypal.fail_next(1, 503)
    assert landing(come_back(stack, paypal_id))["payment"] == "pending"
    assert order_row(db, answer["order_id"])["status"] == "pending" and captures_of(stack, paypal_id) == []
    approved = events_of(stack, paypal_id)["CHECKOUT.ORDER.APPROVED"]
    stack.paypal.redeliver(approved["id"])
    assert [b.get("result") for _, _, b in deliveries(stack)] == ["fulfilled"]
    assert order_row(db, answer["order_id"])["status"] == "paid"


def test_a_declined_payment_leaves_the_order_waiting(stack, db, sale):
    event, tier = sale
    answer = checkout(stack, event, tier)
    paypal_id = paypal_order_of(db, answer)
    stack.paypal.decline(paypal_id)
    assert landing(come_back(stack, paypal_id))["payment"] == "declined"
    assert order_row(db, answer["order_id"])["status"] == "pending"
    assert payments_of(db, answer["order_id"]) == []


def test_a_capture_after_the_hold_expired_is_a_late_payment(stack, db, sale):
    event, tier = sale
    answer = checkout(stack, event, tier)
    paypal_id = paypal_order_of(db, answer)
    db.value("select private.close_unpaid_order(%s, 'expired', 'hold_expired')", (answer["order_id"],))
    stack.paypal.approve(paypal_id)
    assert landing(come_back(stack, paypal_id))["payment"] == "paid"
    assert order_row(db, answer["order_id"])["status"] == "paid"
    assert tk.seats_taken(db, tier["id"]) == 1


def test_an_unknown_paypal_order_is_a_404_and_pays_nothing(stack, db):
    r = come_back(stack, "7XN07460WB3574420")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_paypal_order"


def test_paypal_switched_off_is_refused_before_anything_is_held(stack, db, sale):
    event, tier = sale
    with override_env(PAYPAL_ENABLED="false"):
        r = buy(stack.functions_url, checkout_body(event, [(tier, 1)], provider="paypal"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "paypal_disabled"
    assert tk.seats_taken(db, tier["id"]) == 0
    r = buy(stack.functions_url, checkout_body(event, [(tier, 1)], provider="bitcoin"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "provider"
    assert service_headers()  # the service key still mints (the settings came back)


def test_the_expiry_job_captures_an_approved_paypal_order_and_expires_an_unapproved_one(stack, db, sale):
    event, tier = sale
    approved, abandoned = checkout(stack, event, tier), checkout(stack, event, tier)
    stack.paypal.approve(paypal_order_of(db, approved))  # ... and the buyer closed the tab
    stack.paypal.webhooks.clear()  # the webhook is late
    db.sql("update public.orders set hold_expires_at = now() - interval '1 minute' where id = any(%s)",
           ([approved["order_id"], abandoned["order_id"]],))
    r = httpx.post(f"{stack.functions_url}/expire-holds", headers=service_headers(), json={}, timeout=30)
    assert r.status_code == 200, r.text
    assert (r.json()["paid"], r.json()["expired"]) == (1, 1)
    assert order_row(db, approved["order_id"])["status"] == "paid"
    assert order_row(db, abandoned["order_id"])["status"] == "expired"
    assert len(captures_of(stack, paypal_order_of(db, approved))) == 1
