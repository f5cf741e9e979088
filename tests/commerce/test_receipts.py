"""The payment receipt (shared/commerce/order_mail.py, queued by private.record_payment): one per payment
that pays an order, for every kind of order, listing what was bought and how it was paid; never for a
duplicate event, a second payment given back, a late payment refunded, or a free order."""

from __future__ import annotations

import uuid

import pytest

from shared.comms import notifications
from shared.platform.config import settings
from shared.providers.mail import Mailer
from tests.support import factories, orders, ticketing


@pytest.fixture
def sale(db):
    org = factories.org(db, name="Riverside <Arts>")
    event = ticketing.event(db, org)
    return {"org": org, "event": event,
            "general": ticketing.tier(db, event, name="General", price_minor=2500, capacity=5),
            "vip": ticketing.tier(db, event, name="VIP", price_minor=6000, capacity=5)}


def receipts(db, order_id) -> list[dict]:
    return db.sql("select * from public.notification_outbox where template = 'payment_receipt'"
                  " and payload ->> 'order_id' = %s", (str(order_id),))


def address(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


def test_a_paid_order_gets_one_receipt_with_its_lines_discount_and_payment(stack, db, sale):
    code = ticketing.promo(db, sale["org"]["id"], kind="percent", value=10)
    buyer = address("receipt")
    placed = orders.place(db, sale["event"], [(sale["general"], 2), (sale["vip"], 1)], email=buyer,
                          name="Rae <b>Buyer</b>", promo_code=code["code"])
    assert orders.pay(db, placed["order_id"], provider_payment_id=(pi := f"pi_{uuid.uuid4().hex[:12]}")) == "fulfilled"
    assert orders.pay(db, placed["order_id"], provider_payment_id=pi) == "already_paid"  # the webhook again
    [queued] = receipts(db, placed["order_id"])
    assert (queued["recipient"], queued["purpose"]) == (buyer, "transactional")

    notifications.send_due(Mailer(settings()), templates=["payment_receipt"], order_id=placed["order_id"])
    [sent] = [e for e in stack.resend.emails_to(buyer) if e["subject"].startswith("Receipt")]
    assert sent["subject"] == f"Receipt for order {placed['number']}"
    text = sent["text"]
    assert "Riverside <Arts> received £99.00 for Spring Gala." in text  # 110.00 less 10%
    assert "2 x Spring Gala - General: £50.00\n1 x Spring Gala - VIP: £60.00\n" in text
    assert "Discount: -£11.00" in text and "Total: £99.00" in text
    assert f"by Card (Stripe), reference {pi}." in text
    assert "Riverside &lt;Arts&gt;" in sent["html"] and "Rae &lt;b&gt;Buyer&lt;/b&gt;" in sent["html"]


def test_no_receipt_for_a_second_payment_given_back_or_a_late_payment_refunded(db, sale):
    paid = orders.paid(db, sale["event"], [(sale["general"], 1)], email=address("twice"), name="Tw")
    assert orders.pay(db, paid["id"]) == "duplicate_refunded"
    assert len(receipts(db, paid["id"])) == 1

    late = orders.place(db, sale["event"], [(sale["general"], 4)], email=address("late"), name="La")
    db.sql("select private.close_unpaid_order(%s, 'expired', 'hold_expired')", (late["order_id"],))
    orders.paid(db, sale["event"], [(sale["general"], 4)], email=address("meanwhile"), name="Me")
    assert orders.pay(db, late["order_id"]) == "late_refunded"
    assert receipts(db, late["order_id"]) == []
    assert db.value("select count(*) from public.notification_outbox where template = 'late_payment_refunded'"
                    " and payload ->> 'order_id' = %s", (late["order_id"],)) == 1


def test_a_free_order_has_no_payment_and_no_receipt(db, sale):
    free = ticketing.tier(db, sale["event"], name="Free", price_minor=0, capacity=5)
    placed = orders.place(db, sale["event"], [(free, 1)], email=address("free"), name="Fr")
    assert placed["status"] == "paid"
    assert receipts(db, placed["order_id"]) == []
