"""Money that arrives after its hold expired, decided in Postgres
(private.record_payment), including the promo code's limit."""

from __future__ import annotations

import json
import uuid

from tests.support import ticketing as tk


def place(db, event, tier, *, email: str, promo: str | None = None) -> dict:
    with db.as_anon() as cur:
        cur.execute("select public.place_ticket_order(%s, %s::jsonb, %s, 'Lena Late', %s) as s",
                    (event["id"], json.dumps([{"tier_id": str(tier["id"]), "quantity": 1}]), email, promo))
        return cur.fetchone()["s"]


def pay(db, order: dict, payment_id: str | None = None) -> str:
    with db.as_service() as cur:
        cur.execute("select private.record_payment(%s, 'stripe', %s, %s, 'gbp') as r",
                    (order["order_id"], payment_id or f"pi_{uuid.uuid4().hex}", order["total_minor"]))
        return cur.fetchone()["r"]


def expire(db, order: dict) -> None:
    with db.as_service() as cur:
        cur.execute("select private.close_unpaid_order(%s, 'expired', 'hold_expired')", (order["order_id"],))


def test_a_late_payment_takes_its_promo_redemption_back_within_the_limit(db):
    event = tk.event(db)
    tier = tk.tier(db, event, capacity=10)
    code = tk.promo(db, event["org_id"], max_redemptions=2)
    order = place(db, event, tier, email="late@example.com", promo=code["code"])
    expire(db, order)
    assert db.value("select redemptions_count from public.promo_codes where id = %s", (code["id"],)) == 0

    assert pay(db, order) == "late_fulfilled"
    assert db.value("select redemptions_count from public.promo_codes where id = %s", (code["id"],)) == 1
    assert db.value("select count(*) from public.promo_redemptions where order_id = %s", (order["order_id"],)) == 1


def test_a_late_payment_whose_promo_was_used_up_meanwhile_is_refunded_and_explained(db):
    event = tk.event(db)
    tier = tk.tier(db, event, capacity=10)
    code = tk.promo(db, event["org_id"], max_redemptions=1)
    late = place(db, event, tier, email="late@example.com", promo=code["code"])
    expire(db, late)
    rival = place(db, event, tier, email="rival@example.com", promo=code["code"])
    assert pay(db, rival) == "fulfilled"

    assert pay(db, late) == "late_refunded"
    row = db.one("select status, close_reason from public.orders where id = %s", (late["order_id"],))
    assert row == {"status": "refunded", "close_reason": "late_payment_promo_exhausted"}
    assert db.value("select redemptions_count from public.promo_codes where id = %s", (code["id"],)) == 1
    refund = db.one("select amount_minor, status, reason from public.refunds where order_id = %s", (late["order_id"],))
    assert refund == {"amount_minor": late["total_minor"], "status": "pending",
                      "reason": "late_payment_promo_exhausted"}
    assert db.value("select count(*) from public.tickets where order_id = %s", (late["order_id"],)) == 0
    assert tk.seats_taken(db, tier["id"]) == 1  # only the rival's seat


def test_a_second_different_payment_for_a_paid_order_is_refunded_in_full(db):
    event = tk.event(db)
    tier = tk.tier(db, event, capacity=10)
    order = place(db, event, tier, email="twice@example.com")
    assert pay(db, order, "pi_first") == "fulfilled"
    assert pay(db, order, "pi_second") == "duplicate_refunded"
    assert pay(db, order, "pi_second") == "already_paid"
    refunds = db.sql("select r.amount_minor, r.reason, p.provider_payment_id from public.refunds r"
                     " join public.payments p on p.id = r.payment_id where r.order_id = %s", (order["order_id"],))
    assert refunds == [{"amount_minor": order["total_minor"], "reason": "duplicate_payment",
                        "provider_payment_id": "pi_second"}]
    assert db.value("select status from public.orders where id = %s", (order["order_id"],)) == "paid"
    assert db.value("select count(*) from public.tickets where order_id = %s and status = 'valid'",
                    (order["order_id"],)) == 1
