"""Every email and SMS the database can queue has a renderer, and each renders."""

from __future__ import annotations

import re
import uuid

from shared.comms import notifications, templates
from shared.platform.config import PROJECT_ROOT

QUEUED = re.compile(r"'(?P<channel>email|sms)'(?:::public\.notification_channel)?,\s*"
                    r"(?:'(?P<one>[a-z_]+)'|case .*? then '(?P<a>[a-z_]+)' else '(?P<b>[a-z_]+)' end)")


def queued_templates() -> set[tuple[str, str]]:
    """(channel, template) of every notification a database function queues."""
    found = set()
    for path in sorted((PROJECT_ROOT / "routines").glob("*/*.sql")):
        sql = path.read_text()
        # Where a notification is queued: the enqueue helper, or a direct insert into the outbox
        # (with its channel/template literals inline or in a VALUES list just below).
        for call in re.finditer(r"enqueue_notification\(|notification_outbox (?:as \w+ )?\(org_id, channel", sql):
            window = 400 if call.group().startswith("enqueue") else 900
            for match in QUEUED.finditer(sql, call.end(), call.end() + window):
                found |= {(match["channel"], t) for t in (match["one"], match["a"], match["b"]) if t}
                if call.group().startswith("enqueue"):
                    break
    return found


def test_every_message_the_database_queues_has_a_template():
    queued = queued_templates()
    assert {("email", t) for t in ("tickets", "appointment_confirmed", "appointment_cancelled",
                                   "change_request_decided", "appointment_reminder")} <= queued
    assert ("sms", "appointment_reminder") in queued
    templated = {(channel, name) for name, kind in templates.KINDS.items() for channel in kind.defaults}
    assert queued - templated == set(), "queued but never renderable (it would end as dead)"


def test_the_appointment_change_emails_render_from_their_payload(db):
    org = db.one("insert into public.organizations (name, slug, timezone) values ('Mail Co', %s, 'Europe/London')"
                 " returning id",
                 (f"mail-{uuid.uuid4().hex[:8]}",))
    service = db.one("insert into public.services (org_id, name, duration_minutes, price_minor, currency)"
                     " values (%s, 'Deep clean', 60, 5000, 'GBP') returning id", (org["id"],))
    base = {"appointment_id": str(uuid.uuid4()), "service_id": str(service["id"]),
            "start": "2031-05-01T10:00:00+01:00", "end": "2031-05-01T11:00:00+01:00"}
    payloads = {
        "appointment_cancelled": base | {"reason": "ill"},
        "appointment_rescheduled": base | {"previous_start": "2031-04-30T10:00:00+01:00", "reason": None},
        "change_request_received": base | {"kind": "reschedule", "proposed_start": "2031-05-02T10:00:00+01:00",
                                           "reason": "travelling"},
        "change_request_decided": base | {"decision": "rejected", "note": "fully booked"},
    }
    with db.as_service() as cur:
        for template, payload in payloads.items():
            row = {"recipient": "c@example.com", "org_id": org["id"], "payload": payload, "channel": "email"}
            email = templates.email(cur, templates.KINDS[template], row)
            assert email.to == "c@example.com" and "Deep clean" in email.subject + email.text, template
            # The org's local time as people write it (Europe/London, summer), never an ISO instant.
            assert "Thu 1 May 2031, 10:00" in email.text and "BST" in email.text, (template, email.text)
            assert "T10:00" not in email.text and "+01:00" not in email.text + email.html, template
            assert email.html.startswith("<!doctype html>"), template


def test_times_and_money_are_written_as_people_read_them():
    from shared.platform.formatting import money, span, when
    assert when("2026-12-08T09:30:00+00:00", "Europe/London") == "Tue 8 Dec 2026, 09:30 GMT"
    assert when("2026-07-08T08:30:00+00:00", "Europe/London") == "Wed 8 Jul 2026, 09:30 BST"
    assert when("2026-07-08T08:30:00+00:00", "Pacific/Auckland") == "Wed 8 Jul 2026, 20:30 NZST"
    assert when("2026-12-08T09:30:00-05:00") == "Tue 8 Dec 2026, 09:30"  # no zone: the offset it carries
    assert span("2026-12-08T09:30:00Z", "2026-12-08T11:00:00Z", "Europe/London") == "Tue 8 Dec 2026, 09:30–11:00 GMT"
    assert span("2026-12-08T23:30:00Z", "2026-12-09T00:30:00Z", "Europe/London") == \
        "Tue 8 Dec 2026, 23:30 GMT – Wed 9 Dec 2026, 00:30 GMT"
    assert (money(4800, "GBP"), money(2500, "usd"), money(1000, "JPY"), money(5, "EUR")) == \
        ("£48.00", "US$25.00", "JP¥1,000", "€0.05")


# ---------------------------------------------------------------------------
# The money emails every kind of order sends (shared/commerce/order_mail.py)
# ---------------------------------------------------------------------------
ORDER_TEMPLATES = ("order_refunded", "late_payment_refunded", "dispute_opened")


def _orders_of_every_kind(db) -> dict[str, str]:
    """A ticket order and an appointment order of one org (London), each with a payment and a refund."""
    org = db.one("insert into public.organizations (name, slug, timezone) values ('Every Kind', %s, 'Europe/London')"
                 " returning id", (f"kinds-{uuid.uuid4().hex[:8]}",))["id"]
    event = db.value("insert into public.events (org_id, title, slug, starts_at, status) values (%s, 'Spring Gala',"
                     " %s, '2031-05-01 19:00+01', 'published') returning id", (org, f"gala-{uuid.uuid4().hex[:6]}"))
    service = db.value("insert into public.services (org_id, name, duration_minutes, price_minor) values"
                       " (%s, 'Deep clean', 120, 4800) returning id", (org,))
    staff = db.value("insert into public.staff (org_id, display_name) values (%s, 'Val') returning id", (org,))
    db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)", (staff, service, org))
    orders = {}
    for kind, total in (("tickets", 5000), ("appointments", 4800)):
        orders[kind] = str(db.value(
            "insert into public.orders (org_id, number, kind, event_id, buyer_email, buyer_name, currency,"
            " subtotal_minor, total_minor, status, tracking_token_hash) values (%s, private.new_order_number(), %s, %s,"
            " 'b@example.com', 'Bo Buyer', 'GBP', %s, %s, 'refunded', private.token_hash(gen_random_uuid()::text))"
            " returning id",
            (org, kind, event if kind == "tickets" else None, total, total)))
    db.sql("insert into public.appointments (org_id, service_id, staff_id, order_id, customer_name, status, period)"
           " values (%s, %s, %s, %s, 'Bo Buyer', 'cancelled', tstzrange('2031-05-02 09:00+01', '2031-05-02 11:00+01'))",
           (org, service, staff, orders["appointments"]))
    for order_id in orders.values():
        payment = db.value("insert into public.payments (org_id, order_id, provider, provider_payment_id, amount_minor,"
                           " currency) select org_id, id, 'stripe', 'pi_' || id, total_minor, 'GBP' from public.orders"
                           " where id = %s returning id", (order_id,))
        db.sql("insert into public.refunds (org_id, order_id, payment_id, amount_minor, currency, reason, status)"
               " select org_id, id, %s, total_minor, 'GBP', 'requested_by_organizer', 'succeeded'"
               " from public.orders where id = %s", (payment, order_id))
    return orders


def test_every_money_email_reads_right_for_every_kind_of_order(db):
    """Issue 11: late-payment and refund emails were rendered from a ticket summary whatever the order: an
    appointment buyer read "Your payment for None is being refunded … Sorry, those tickets are gone"."""
    queued = {t for _, t in queued_templates()}
    assert set(ORDER_TEMPLATES) <= queued
    orders = _orders_of_every_kind(db)
    expected = {"tickets": ("Spring Gala", "tickets"), "appointments": ("Deep clean, Fri 2 May 2031, 09:00–11:00 BST",
                                                                        "appointments")}
    with db.as_service() as cur:
        for kind, order_id in orders.items():
            refund_id = str(db.value("select id from public.refunds where order_id = %s", (order_id,)))
            for template in ORDER_TEMPLATES:
                row = {"recipient": "b@example.com", "template": template,
                       "payload": {"order_id": order_id, "refund_id": refund_id, "reason": "fraudulent"}}
                email = notifications.render(cur, row)
                text = email.subject + "\n" + email.text
                what, goods = expected[kind]
                assert "None" not in text and what in text, (kind, template, text)
                assert "£" in text, (kind, template, text)
                if template == "late_payment_refunded":
                    assert f"those {goods} are gone" in text, (kind, text)
                    assert ("tickets" in text) == (kind == "tickets"), (kind, text)
                if template == "order_refunded":
                    assert ("tickets" in text) == (kind == "tickets"), (kind, text)


def test_an_order_kind_no_area_describes_is_told_about_plainly(db, monkeypatch):
    from shared.commerce import order_mail

    # Every kind has its area now: take parking's describer away, as for a kind an area has yet to describe.
    monkeypatch.delitem(order_mail.DESCRIBERS, "parking")
    orders = _orders_of_every_kind(db)
    db.sql("update public.orders set kind = 'parking', event_id = null where id = %s", (orders["tickets"],))
    with db.as_service() as cur:
        seen = order_mail.view(cur, orders["tickets"])
    assert seen.what.startswith("order BW-") and seen.goods == "order"
