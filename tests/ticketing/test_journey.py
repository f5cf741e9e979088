"""The whole ticket journey over real HTTP: buy, pay (signed webhook), receive
the email, scan its QR code at the door, refund."""

from __future__ import annotations

import io
from zoneinfo import ZoneInfo

import httpx
import zxingcpp
from PIL import Image

from tests.support import factories, ticketing as tk
from tests.support.http import anon_headers, buy, checkout_body


def decode_qr_codes(email: dict) -> list[str]:
    codes = []
    for attachment in email["attachments"]:
        data = attachment["content"]
        assert isinstance(data, bytes) and attachment["content_id"], attachment["filename"]
        results = zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))
        assert len(results) == 1, f"no QR code readable in {attachment['filename']}"
        codes.append(results[0].text)
    return codes


def test_a_guest_buys_pays_gets_a_scannable_email_checks_in_once_and_a_refund_voids_it(stack, db):
    event = tk.event(db)
    organization = event["org"]
    staff = factories.member(db, organization, role="staff")
    general = tk.tier(db, event, name="General", price_minor=2500, capacity=10)

    # Buy two tickets as a guest.
    r = buy(stack.functions_url, checkout_body(event, [(general, 2)]))
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["status"] == "pending" and order["total_minor"] == 5000
    assert order["checkout_url"].startswith(stack.base_url + "/stripe/checkout/")
    assert len(order["tracking_token"]) >= 32
    assert tk.seats_taken(db, general["id"]) == 2

    # Pay: Stripe delivers a signed checkout.session.completed to our webhook.
    session_id = db.value("select checkout_session_id from public.orders where id = %s", (order["order_id"],))
    stack.stripe.pay(session_id)
    delivery = stack.stripe.events_sent[-1]
    assert delivery.type == "checkout.session.completed" and delivery.status == 200, delivery
    assert db.value("select status from public.orders where id = %s", (order["order_id"],)) == "paid"

    # The ticket email and the receipt went out at once; the tickets with one scannable QR code per ticket.
    emails = {e["subject"]: e for e in stack.resend.emails_to("guest@example.com")}
    assert set(emails) == {"Your tickets for Spring Gala", f"Receipt for order {order['order_number']}"}
    assert "Total: £50.00" in emails[f"Receipt for order {order['order_number']}"]["text"]
    email = emails["Your tickets for Spring Gala"]
    assert email["text"]
    # When it starts, in the organizer's zone as people write it (the org is UTC), not an ISO instant.
    starts = event["starts_at"].astimezone(ZoneInfo(organization["timezone"]))
    assert f"Starts: {starts:%a} {starts.day} {starts:%b %Y, %H:%M} {starts.tzname()}" in email["text"], email["text"]
    assert "£50.00" in email["text"] and starts.isoformat() not in email["text"] + email["html"]
    codes = decode_qr_codes(email)
    secrets = {row["secret"] for row in db.sql("select secret from public.tickets where order_id = %s",
                                                (order["order_id"],))}
    assert sorted(codes) == sorted(secrets) and len(secrets) == 2

    # At the door: the first scan admits, the second says when and by whom.
    with db.as_user(staff) as cur:
        cur.execute("select public.check_in_ticket(%s, %s) as r", (event["id"], codes[0]))
        first = cur.fetchone()["r"]
        cur.execute("select public.check_in_ticket(%s, %s) as r", (event["id"], codes[0]))
        second = cur.fetchone()["r"]
    assert first["ok"] and first["result"] == "ok" and first["tier"] == "General"
    assert first["attendee_name"] == "Gemma Guest"
    assert not second["ok"] and second["result"] == "already_checked_in"
    assert staff.email in second["message"] and "Already checked in at" in second["message"]

    # The owner refunds the whole order through Stripe; the tickets become void.
    r = httpx.post(f"{stack.functions_url}/refund-order", json={"order_id": order["order_id"]},
                   headers=organization["owner"].headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["executed"] is True
    assert db.value("select status from public.orders where id = %s", (order["order_id"],)) == "refunded"
    assert db.value("select status from public.refunds where order_id = %s", (order["order_id"],)) == "succeeded"
    assert [r["amount"] for r in stack.stripe.refunds.values()] == [5000]
    with db.as_user(staff) as cur:
        cur.execute("select public.check_in_ticket(%s, %s) as r", (event["id"], codes[1]))
        after_refund = cur.fetchone()["r"]
    assert after_refund["result"] == "refunded" and not after_refund["ok"]
    assert tk.seats_taken(db, general["id"]) == 0
    refund_mail = [e for e in stack.resend.emails_to("guest@example.com") if "Refund" in e["subject"]]
    assert len(refund_mail) == 1 and "£50.00" in refund_mail[0]["text"]
    assert db.value("select count(*) from public.check_ins where event_id = %s", (event["id"],)) == 3


def test_a_free_order_is_fulfilled_without_stripe(stack, db):
    event = tk.event(db)
    free = tk.tier(db, event, name="Free", price_minor=0, capacity=5)
    sessions_before = len(stack.stripe.sessions)
    r = buy(stack.functions_url, checkout_body(event, [(free, 1)], buyer_email="free@example.com"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "paid" and body["checkout_url"] is None
    assert len(stack.stripe.sessions) == sessions_before
    assert db.value("select count(*) from public.tickets where order_id = %s", (body["order_id"],)) == 1


def test_a_guest_looks_up_the_order_with_number_and_token(stack, db):
    event = tk.event(db)
    general = tk.tier(db, event, capacity=5)
    order = buy(stack.functions_url, checkout_body(event, [(general, 1)])).json()
    with db.as_anon() as cur:
        cur.execute("select public.lookup_order(%s, %s) as o", (order["order_number"], order["tracking_token"]))
        found = cur.fetchone()["o"]
        cur.execute("select public.lookup_order(%s, %s) as o", (order["order_number"], "x" * 96))
        wrong = cur.fetchone()["o"]
    assert found["order_id"] == order["order_id"] and found["status"] == "pending"
    assert wrong is None
    assert anon_headers()  # the anon key is what a guest frontend sends
