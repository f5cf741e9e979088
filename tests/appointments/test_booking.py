"""Booking appointments over real HTTP (routines/appointments/booking.sql,
shared/commerce/checkout.py): a guest's multi-service order becomes held appointments,
is paid through the same create-checkout-session + Stripe + webhook path as
tickets, and the appointments are booked with one confirmation queued.

The slot rules themselves (hours, breaks, notice, DST, …) are test_slots.py's;
here each refusal is checked to reach the buyer as a 409/422 and to leave
nothing behind. Dates are relative to today (booking uses now()): a Monday at
least a week ahead, in Europe/London.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from shared.platform.db import Caller, act_as, lock_objects
from tests.support.races import deadlocks, label, race, waiting_on_advisory
from tests.support.appointments import local, make_org, make_staff
from tests.support import factories
from tests.support.rls import assert_case, parse_matrix, probe
from tests.support.http import ORIGIN, anon_headers

POSTCODE = "SW1A 1AA"


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------
def monday(db) -> dt.date:
    """A Monday between 8 and 14 days from today (London)."""
    today = db.value("select (now() at time zone 'Europe/London')::date")
    return today + dt.timedelta(days=(7 - today.weekday()) + 7)


def service(db, org: dict, name: str, minutes: int, price: int, *, before: int = 0, after: int = 0) -> uuid.UUID:
    return db.value("insert into public.services (org_id, name, duration_minutes, price_minor, buffer_before_minutes,"
                    " buffer_after_minutes) values (%s, %s, %s, %s, %s, %s) returning id",
                    (org["id"], name, minutes, price, before, after))


@pytest.fixture
def shop(db):
    """VALClean-like: a regular clean (2 h, £48, 30 min after) and an oven clean (90 min, £65), one
    cleaner (Val) doing both Monday-Friday 09:00-17:00 with lunch 12:00-13:00, covering SW1A."""
    org = make_org(db, interval=30, notice=0, ahead=400)
    regular = service(db, org, "Regular clean", 120, 4800, after=30)
    oven = service(db, org, "Oven clean", 90, 6500)
    val = make_staff(db, org, [regular, oven], breaks={d: [("12:00", "13:00")] for d in range(5)}, name="Val")
    return {"org": org, "regular": regular, "oven": oven, "val": val, "day": monday(db)}


def at(db, shop: dict, hhmm: str, day: dt.date | None = None) -> str:
    return local(db, shop["org"], f"{day or shop['day']} {hhmm}").isoformat()


def body(db, shop: dict, items: list[tuple], **extra) -> dict:
    """items: (service_id, "HH:MM"[, staff_id])."""
    out = {
        "kind": "appointments",
        "org_id": str(shop["org"]["id"]),
        "items": [{"service_id": str(i[0]), "start": at(db, shop, i[1]),
                   **({"staff_id": str(i[2])} if len(i) > 2 else {})} for i in items],
        "postcode": POSTCODE,
        "buyer_email": "guest@example.com",
        "buyer_name": "Gemma Guest",
        "buyer_phone": "07700 900123",
        "address": "1 Example Street, London",
        "success_url": f"{ORIGIN}/thanks?session={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{ORIGIN}/cancelled",
    }
    out.update(extra)
    return out


def post(stack, payload, *, key: str | None = None, headers: dict | None = None) -> httpx.Response:
    headers = dict(headers or anon_headers())
    headers["idempotency-key"] = key or f"test-{uuid.uuid4()}"
    return httpx.post(f"{stack.functions_url}/create-checkout-session", json=payload, headers=headers, timeout=30)


def written(db, shop: dict) -> dict:
    """What exists for the shop's org: orders, items, appointments, redemptions."""
    org_id = shop["org"]["id"]
    return {t: db.value(f"select count(*) from public.{t} where org_id = %s", (org_id,))
            for t in ("orders", "order_items", "appointments", "promo_redemptions")}


NOTHING = {"orders": 0, "order_items": 0, "appointments": 0, "promo_redemptions": 0}


def refused(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code, error
    return error


def promo(db, org: dict, *, value: int, services=(), kind: str = "percent") -> str:
    code = f"P{uuid.uuid4().hex[:8].upper()}"
    promo_id = db.value("insert into public.promo_codes (org_id, code, kind, value, currency)"
                        " values (%s, %s, %s, %s, 'GBP') returning id", (org["id"], code, kind, value))
    for service_id in services:
        db.sql("insert into public.promo_code_services (promo_code_id, service_id, org_id) values (%s, %s, %s)",
               (promo_id, service_id, org["id"]))
    return code


# ---------------------------------------------------------------------------
# The journey
# ---------------------------------------------------------------------------
def test_a_guest_books_two_services_pays_through_stripe_and_both_are_booked_with_one_confirmation(stack, db, shop):
    sessions = len(stack.stripe.sessions)
    r = post(stack, body(db, shop, [(shop["regular"], "09:00"), (shop["oven"], "13:00")]))
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["kind"] == "appointments" and order["status"] == "pending" and not order["replayed"]
    assert order["total_minor"] == 4800 + 6500 and order["currency"] == "GBP"
    assert order["order_number"].startswith("BW-") and len(order["tracking_token"]) >= 32
    assert order["checkout_url"].startswith(stack.base_url + "/stripe/checkout/")
    assert len(stack.stripe.sessions) == sessions + 1
    assert [(a["service"], a["start"][11:16], a["end"][11:16], a["staff_id"], a["status"])
            for a in order["appointments"]] == [
        ("Regular clean", "09:00", "11:00", str(shop["val"]), "held"),
        ("Oven clean", "13:00", "14:30", str(shop["val"]), "held")]

    rows = db.sql("select a.status, a.hold_expires_at, a.blocked, a.customer_email, a.postcode, a.address,"
                  " a.customer_phone, i.service_id = a.service_id as item_matches, i.unit_price_minor, o.hold_expires_at"
                  " as order_hold from public.appointments a join public.order_items i on i.id = a.order_item_id"
                  " join public.orders o on o.id = a.order_id where a.order_id = %s order by lower(a.period)",
                  (order["order_id"],))
    assert [(x["status"], x["item_matches"], x["unit_price_minor"]) for x in rows] == [
        ("held", True, 4800), ("held", True, 6500)]
    assert all(x["hold_expires_at"] == x["order_hold"] for x in rows)
    assert rows[0]["blocked"].upper - rows[0]["blocked"].lower == dt.timedelta(minutes=150)  # buffer after copied
    assert (rows[0]["customer_email"], rows[0]["postcode"], rows[0]["address"], rows[0]["customer_phone"]) == (
        "guest@example.com", POSTCODE, "1 Example Street, London", "07700 900123")
    hold = db.value("select hold_expires_at - created_at from public.orders where id = %s", (order["order_id"],))
    assert hold == dt.timedelta(minutes=10)  # the org's hold_minutes (default)

    # The held slot is gone from the public slot search.
    day = db.value("select public.available_slots(%s, %s, %s, %s)", (shop["oven"], POSTCODE, shop["day"], shop["day"]))
    assert "09:00" not in [s["start"][11:16] for s in day[0]["slots"]]

    session_id = db.value("select checkout_session_id from public.orders where id = %s", (order["order_id"],))
    stack.stripe.pay(session_id)
    delivery = stack.stripe.events_sent[-1]
    assert delivery.type == "checkout.session.completed" and delivery.status == 200, delivery
    assert db.value("select status from public.orders where id = %s", (order["order_id"],)) == "paid"
    assert [x["status"] for x in db.sql("select status from public.appointments where order_id = %s",
                                        (order["order_id"],))] == ["booked", "booked"]
    assert db.sql("select template, recipient, payload ->> 'order_id' as order_id from public.notification_outbox"
                  " where dedupe_key = %s", (f"appointment_confirmed:{order['order_id']}",)) == [
        {"template": "appointment_confirmed", "recipient": "guest@example.com", "order_id": order["order_id"]}]
    # ... and the webhook sent it at once, listing both appointments.
    [confirmation] = [e for e in stack.resend.emails_to("guest@example.com")
                      if e["subject"] == f"Booked: order {order['order_number']}"]
    assert "Regular clean" in confirmation["text"] and "Oven clean" in confirmation["text"]
    assert db.value("select status::text from public.notification_outbox where dedupe_key = %s",
                    (f"appointment_confirmed:{order['order_id']}",)) == "sent"
    # The guest gave a phone number: one text too, sent by the webhook with the email.
    [text] = db.sql("select recipient, status::text from public.notification_outbox where dedupe_key = %s",
                    (f"appointment_confirmed:sms:{order['order_id']}",))
    assert text == {"recipient": "07700 900123", "status": "sent"}
    [sms] = stack.twilio.messages_to("+447700900123")
    assert sms["body"].startswith(f"{shop['org']['name']}: booked, order {order['order_number']}. ")
    assert "Regular clean" in sms["body"] and "Oven clean" in sms["body"]

    # The guest link opens the order.
    with db.as_anon() as cur:
        cur.execute("select public.lookup_order(%s, %s) as o", (order["order_number"], order["tracking_token"]))
        assert cur.fetchone()["o"]["status"] == "paid"


def test_two_items_of_one_order_never_share_a_staff_members_time(stack, db, shop):
    # 09:00-11:00 (+30 min after) and 10:30: Val cannot do both, and there is nobody else.
    r = post(stack, body(db, shop, [(shop["regular"], "09:00"), (shop["oven"], "10:30")]))
    error = refused(r, 409, "slot_unavailable")
    assert error["details"] == {"item": 1}
    assert written(db, shop) == NOTHING

    # With a second cleaner the second job goes to her; a named staff member is honoured when free.
    kim = make_staff(db, shop["org"], [shop["regular"], shop["oven"]], name="Kim")
    r = post(stack, body(db, shop, [(shop["regular"], "09:00", kim), (shop["oven"], "10:30")]))
    assert r.status_code == 200, r.text
    assert [a["staff_id"] for a in r.json()["appointments"]] == [str(kim), str(shop["val"])]


def test_a_named_staff_member_who_is_busy_is_replaced_by_a_free_one(stack, db, shop):
    kim = make_staff(db, shop["org"], [shop["regular"]], name="Kim")
    first = post(stack, body(db, shop, [(shop["regular"], "14:00", kim)]))
    assert first.status_code == 200, first.text
    r = post(stack, body(db, shop, [(shop["regular"], "14:00", kim)], buyer_email="second@example.com"))
    assert r.status_code == 200, r.text
    assert [a["staff_id"] for a in r.json()["appointments"]] == [str(shop["val"])]


# ---------------------------------------------------------------------------
# Promo codes restricted to services
# ---------------------------------------------------------------------------
def test_a_code_restricted_to_one_service_discounts_only_that_line(stack, db, shop):
    code = promo(db, shop["org"], value=20, services=[shop["oven"]])
    r = post(stack, body(db, shop, [(shop["regular"], "09:00"), (shop["oven"], "13:00")], promo_code=code))
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["total_minor"] == 4800 + 6500 - 1300
    lines = {x["service_id"]: (x["discount_minor"], x["total_minor"]) for x in db.sql(
        "select service_id::text, discount_minor, total_minor from public.order_items where order_id = %s",
        (order["order_id"],))}
    assert lines == {str(shop["regular"]): (0, 4800), str(shop["oven"]): (1300, 5200)}
    # Stripe is asked for exactly the discounted total.
    session_id = db.value("select checkout_session_id from public.orders where id = %s", (order["order_id"],))
    assert stack.stripe.sessions[session_id]["amount_total"] == 10000


def test_a_code_for_another_service_is_refused_and_nothing_is_written(stack, db, shop):
    code = promo(db, shop["org"], value=20, services=[shop["oven"]])
    r = post(stack, body(db, shop, [(shop["regular"], "09:00")], promo_code=code))
    refused(r, 422, "promo_not_applicable")
    assert written(db, shop) == NOTHING


def test_an_unrestricted_code_applies_to_every_line(stack, db, shop):
    code = promo(db, shop["org"], value=1000, kind="fixed")
    r = post(stack, body(db, shop, [(shop["regular"], "09:00"), (shop["oven"], "13:00")], promo_code=code))
    assert r.status_code == 200, r.text
    assert r.json()["total_minor"] == 11300 - 1000
    assert db.value("select count(*) from public.order_items where order_id = %s and discount_minor > 0",
                    (r.json()["order_id"],)) == 2


# ---------------------------------------------------------------------------
# Slots that cannot be booked
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "start", "postcode", "status", "code"), [
    ("lunch break", "11:30", POSTCODE, 409, "slot_unavailable"),
    ("outside hours", "16:00", POSTCODE, 409, "slot_unavailable"),  # 2 h + 30 min buffer ends 18:30
    ("before hours", "07:00", POSTCODE, 409, "slot_unavailable"),
    ("off the grid", "09:10", POSTCODE, 409, "slot_unavailable"),
    ("outside the area", "09:00", "M1 1AE", 422, "not_served_here"),
    ("Channel Islands", "09:00", "JE2 3AB", 422, "postcode_not_covered"),
    ("not a postcode", "09:00", "NOT A PC", 422, "invalid_postcode"),
])
def test_a_slot_that_is_not_available_is_refused_and_nothing_is_written(stack, db, shop, case, start, postcode,
                                                                        status, code):
    sessions = len(stack.stripe.sessions)
    r = post(stack, body(db, shop, [(shop["regular"], start)], postcode=postcode))
    error = refused(r, status, code)
    if status == 409:
        assert error["details"] == {"item": 0}
    assert written(db, shop) == NOTHING
    assert len(stack.stripe.sessions) == sessions


def test_too_little_notice_or_too_far_ahead_is_refused(stack, db):
    org = make_org(db, interval=30, notice=60 * 24 * 30, ahead=400)  # 30 days' notice
    clean = service(db, org, "Regular clean", 60, 4800)
    make_staff(db, org, [clean])
    shop = {"org": org, "day": monday(db)}
    refused(post(stack, body(db, shop, [(clean, "09:00")])), 409, "slot_unavailable")
    db.sql("update public.appointment_settings set min_notice_minutes = 0, max_days_ahead = 3 where org_id = %s",
           (org["id"],))
    refused(post(stack, body(db, shop, [(clean, "09:00")])), 409, "slot_unavailable")
    assert written(db, shop) == NOTHING


def test_a_slot_in_the_past_is_refused(stack, db, shop):
    last_week = shop["day"] - dt.timedelta(days=14)
    payload = body(db, shop, [(shop["regular"], "09:00")])
    payload["items"][0]["start"] = at(db, shop, "09:00", last_week)
    refused(post(stack, payload), 409, "slot_unavailable")
    assert written(db, shop) == NOTHING


# ---------------------------------------------------------------------------
# Races, free orders, idempotency, Stripe down
# ---------------------------------------------------------------------------
def test_two_buyers_racing_for_the_last_slot_one_wins(stack, db, shop):
    barrier = threading.Barrier(2, timeout=30)

    def attempt(lane: int) -> httpx.Response:
        payload = body(db, shop, [(shop["regular"], "14:00")], buyer_email=f"racer{lane}@example.com")
        barrier.wait()
        return post(stack, payload)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(attempt, range(2)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["error"]["code"] in ("slot_taken", "slot_unavailable")
    assert db.value("select count(*) from public.appointments where org_id = %s and status = 'held'",
                    (shop["org"]["id"],)) == 1
    assert written(db, shop)["orders"] == 1


def test_a_slot_taken_between_the_check_and_the_insert_is_a_clean_409_slot_taken(db, shop):
    """Another booking (uncommitted) holds the slot while ours checks it: ours waits on the exclusion
    constraint, and when the other commits it is refused with PT409 slot_taken naming the item."""
    start = local(db, shop["org"], f"{shop['day']} 14:00")
    items = [{"service_id": str(shop["oven"]), "start": start.isoformat()}]
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        with db.connect() as other:
            with other.transaction():
                other.execute(
                    "insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period)"
                    " values (%s, %s, %s, 'Phone Booking', 'booked', tstzrange(%s, %s + interval '90 minutes'))",
                    (shop["org"]["id"], shop["oven"], shop["val"], start, start))

                def ours():
                    with db.as_anon() as cur:
                        cur.execute("set local lock_timeout = '20s'")
                        cur.execute("select public.place_appointment_order(%s, %s::jsonb, %s, 'late@example.com',"
                                    " 'Lou')", (shop["org"]["id"], json.dumps(items), POSTCODE))

                future = pool.submit(ours)
                for _ in range(200):  # until ours waits on the other transaction
                    if db.value("select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
                                " and datname = current_database()"):
                        break
                    threading.Event().wait(0.05)
                else:
                    pytest.fail("the booking never waited on the uncommitted one")
            # the other booking commits here; ours is refused now
        with pytest.raises(psycopg.Error) as caught:
            future.result(timeout=30)
    finally:
        pool.shutdown(wait=True)
    assert caught.value.sqlstate == "PT409" and caught.value.diag.message_detail == "slot_taken"
    assert json.loads(caught.value.diag.message_hint) == {"item": 0}
    assert written(db, shop) | {"appointments": None} == NOTHING | {"appointments": None}
    assert db.value("select count(*) from public.appointments where org_id = %s", (shop["org"]["id"],)) == 1


# ---------------------------------------------------------------------------
# Many buyers at once through the RPC (PostgREST's path): they queue on the staff
# member's booking lock (routines/appointments/booking.sql), never deadlock
# ---------------------------------------------------------------------------
LANES = 50


def rpc_attempt(db, shop: dict, items: list[tuple], email: str, pids: list[int],
                barrier: threading.Barrier | None = None, day: dt.date | None = None):
    """public.place_appointment_order as anon on its own connection, default deadlock_timeout.
    Returns ("ok", summary) or (SQLSTATE[:detail], None)."""
    payload = [{"service_id": str(i[0]), "start": at(db, shop, i[1], day),
                **({"staff_id": str(i[2])} if len(i) > 2 else {})} for i in items]
    with db.connect() as conn:
        pids.append(conn.info.backend_pid)
        try:
            with conn.transaction():
                cur = conn.cursor()
                act_as(cur, Caller.anon())
                cur.execute("set local lock_timeout = '30s'")
                if barrier is not None:
                    barrier.wait()
                cur.execute("select public.place_appointment_order(%s, %s::jsonb, %s, %s, 'Racer') as o",
                            (shop["org"]["id"], json.dumps(payload), POSTCODE, email))
                return "ok", cur.fetchone()["o"]
        except psycopg.Error as exc:
            return label(exc), None


def test_fifty_buyers_queued_for_one_slot_one_books_and_49_get_slot_taken(db, shop):
    """All 50 plan Val for 14:00 while the test holds Val's booking lock (shared.platform.db.lock_objects,
    the same key); once all 50 wait on it, it is released: they book one at a time, the first
    wins and each of the others, re-checking under the lock, is told slot_taken. No deadlock."""
    pids: list[int] = []
    before = deadlocks(db)
    barrier = threading.Barrier(LANES, timeout=30)
    with ThreadPoolExecutor(max_workers=LANES) as pool:
        with db.connect() as gate, gate.transaction():
            lock_objects(gate.cursor(), "staff", [str(shop["val"])])
            futures = [pool.submit(rpc_attempt, db, shop, [(shop["regular"], "14:00")], f"racer{n}@example.com",
                                   pids, barrier) for n in range(LANES)]
            waiting_on_advisory(db, LANES)
        results = [f.result(timeout=60) for f in futures]
    outcomes = Counter(status for status, _ in results)
    assert outcomes == {"ok": 1, "PT409:slot_taken": LANES - 1}, outcomes
    assert deadlocks(db, pids) - before == 0
    assert db.value("select count(*) from public.appointments where org_id = %s and status = 'held'",
                    (shop["org"]["id"],)) == 1
    # Refusals leave nothing behind: one order, one item.
    assert written(db, shop) == {"orders": 1, "order_items": 1, "appointments": 1, "promo_redemptions": 0}


def test_fifty_buyers_racing_for_one_slot_free_for_all_never_deadlock(db, shop):
    """No gate: each is refused slot_taken (it saw the slot free, then lost the queue) or
    slot_unavailable (the winner had committed before it looked), never 40P01/23P01/busy."""
    pids: list[int] = []
    before = deadlocks(db)
    results = race(LANES, lambda lane, barrier: rpc_attempt(
        db, shop, [(shop["oven"], "15:00")], f"free{lane}@example.com", pids, barrier))
    outcomes = Counter(status for status, _ in results)
    print(f"free for all: {dict(outcomes)}")
    assert outcomes["ok"] == 1
    assert outcomes["ok"] + outcomes["PT409:slot_taken"] + outcomes["PT409:slot_unavailable"] == LANES, outcomes
    assert deadlocks(db, pids) - before == 0


def test_multi_item_orders_booking_two_staff_in_opposite_orders_never_deadlock(db, shop):
    """10 pairs of orders at once, one pair per working day: Val at 09:00 then Kim at 13:00, and
    Kim at 09:00 then Val at 13:00. Locking item by item would deadlock each pair (the row-order
    canary in test_double_booking.py); the planned staff are locked in key order, so all 20 book."""
    kim = make_staff(db, shop["org"], [shop["regular"], shop["oven"]], name="Kim")
    days = [shop["day"] + dt.timedelta(days=w * 7 + d) for w in range(2) for d in range(5)]
    jobs = []
    for day in days:
        jobs.append((day, [(shop["regular"], "09:00", shop["val"]), (shop["regular"], "13:00", kim)]))
        jobs.append((day, [(shop["regular"], "09:00", kim), (shop["regular"], "13:00", shop["val"])]))
    pids: list[int] = []
    before = deadlocks(db)
    results = race(len(jobs), lambda lane, barrier: rpc_attempt(
        db, shop, jobs[lane][1], f"pair{lane}@example.com", pids, barrier, day=jobs[lane][0]))
    assert [status for status, _ in results] == ["ok"] * len(jobs), results
    for (_, items), (_, summary) in zip(jobs, results):
        assert [a["staff_id"] for a in summary["appointments"]] == [str(i[2]) for i in items]
    assert deadlocks(db, pids) - before == 0


def test_two_jobs_with_one_cleaner_in_opposite_orders_one_books_the_other_is_refused(db, shop):
    """Both orders want Val at 09:00 and 13:00, listed in opposite orders: one books both, the
    other is refused (PT409), both items or neither; no deadlock."""
    jobs = [[(shop["regular"], "09:00"), (shop["regular"], "13:00")],
            [(shop["regular"], "13:00"), (shop["regular"], "09:00")]]
    day = shop["day"] + dt.timedelta(days=2)
    pids: list[int] = []
    before = deadlocks(db)
    results = race(2, lambda lane, barrier: rpc_attempt(
        db, shop, jobs[lane], f"twice{lane}@example.com", pids, barrier, day=day))
    assert sorted(s.split(":")[0] for s, _ in results) == ["PT409", "ok"], results
    assert deadlocks(db, pids) - before == 0
    winner = next(summary for s, summary in results if s == "ok")
    assert db.value("select count(*) from public.appointments where org_id = %s and status = 'held'"
                    " and lower(period)::date = %s", (shop["org"]["id"], day)) == 2
    assert len(winner["appointments"]) == 2


def test_a_free_booking_is_booked_at_once_without_stripe(stack, db, shop):
    free = service(db, shop["org"], "Free quote visit", 30, 0)
    db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
           (shop["val"], free, shop["org"]["id"]))
    sessions = len(stack.stripe.sessions)
    r = post(stack, body(db, shop, [(free, "15:00")]))
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["status"] == "paid" and order["checkout_url"] is None and order["hold_expires_at"] is None
    assert len(stack.stripe.sessions) == sessions
    assert db.value("select status from public.appointments where order_id = %s", (order["order_id"],)) == "booked"
    assert db.value("select provider from public.payments where order_id = %s", (order["order_id"],)) == "free"
    assert db.value("select count(*) from public.notification_outbox where dedupe_key = %s",
                    (f"appointment_confirmed:{order['order_id']}",)) == 1


def test_a_fully_discounted_booking_is_free_too(stack, db, shop):
    code = promo(db, shop["org"], value=100)
    r = post(stack, body(db, shop, [(shop["oven"], "15:00")], promo_code=code))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "paid" and r.json()["total_minor"] == 0


def test_the_same_idempotency_key_replays_the_order_and_a_different_body_is_refused(stack, db, shop):
    payload = body(db, shop, [(shop["regular"], "09:00")])
    key = f"replay-{uuid.uuid4()}"
    first = post(stack, payload, key=key)
    assert first.status_code == 200, first.text
    again = post(stack, payload, key=key)
    assert again.status_code == 200, again.text
    a, b = first.json(), again.json()
    assert b["replayed"] and b["order_id"] == a["order_id"] and b["checkout_url"] == a["checkout_url"]
    assert b["tracking_token"] is None  # a key is not a credential: the token was shown once, to the first answer
    assert written(db, shop)["orders"] == 1 and written(db, shop)["appointments"] == 1

    other = body(db, shop, [(shop["regular"], "13:00")])
    refused(post(stack, other, key=key), 422, "idempotency_key_reused")
    assert written(db, shop)["orders"] == 1


def test_a_guest_books_with_nothing_but_what_the_postcode_answer_gives(stack, db, shop):
    """Issue 10: checkout needed org_id, which services_for_postcode did not return and anon cannot read."""
    with db.as_anon() as cur:
        cur.execute("select public.services_for_postcode(%s, %s) as a", (shop["org"]["slug"], POSTCODE))
        answer = cur.fetchone()["a"]
    assert answer["org"]["id"] == str(shop["org"]["id"]) and answer["org"]["slug"] == shop["org"]["slug"]
    service = next(s for s in answer["services"] if s["name"] == "Regular clean")
    with db.as_anon() as cur:
        cur.execute("select public.available_slots(%s, %s, %s, %s) as d",
                    (service["id"], POSTCODE, shop["day"], shop["day"]))
        first = cur.fetchone()["d"][0]["slots"][0]
    payload = body(db, shop, []) | {"items": [{"service_id": service["id"], "start": first["start"]}]}
    with_org = dict(payload, org_id=answer["org"]["id"])
    without_org = {k: v for k, v in payload.items() if k != "org_id"}
    r = post(stack, without_org)
    assert r.status_code == 200, r.text
    assert r.json()["appointments"][0]["start"] == first["start"] and with_org["org_id"] == str(shop["org"]["id"])
    refused(post(stack, without_org | {"items": [{"service_id": str(uuid.uuid4()), "start": first["start"]}]}),
            422, "unknown_service")


def test_replaying_a_paid_orders_key_never_mints_rotates_or_reveals_a_guest_link(stack, db, shop):
    """Issue 10: anyone who sent the same body with the same key again got `replayed: true` and a new
    tracking token; the buyer's own token stopped working and the new one cancelled the paid booking."""
    payload = body(db, shop, [(shop["regular"], "09:00")])
    key = f"cart-{uuid.uuid4()}"
    first = post(stack, payload, key=key).json()
    stored = db.value("select tracking_token_hash from public.orders where id = %s", (first["order_id"],))
    stack.stripe.pay(db.value("select checkout_session_id from public.orders where id = %s", (first["order_id"],)))
    assert db.value("select status from public.orders where id = %s", (first["order_id"],)) == "paid"

    again = post(stack, payload, key=key)
    assert again.status_code == 200, again.text
    replay = again.json()
    assert replay["replayed"] is True and replay["order_id"] == first["order_id"] and replay["status"] == "paid"
    assert replay["tracking_token"] is None
    assert db.value("select tracking_token_hash from public.orders where id = %s", (first["order_id"],)) == stored
    # The buyer's own link still works, and it is still the only one.
    with db.as_anon() as cur:
        cur.execute("select public.lookup_order(%s, %s) as o", (first["order_number"], first["tracking_token"]))
        assert cur.fetchone()["o"]["status"] == "paid"
    assert [a["status"] for a in db.sql("select status from public.appointments where order_id = %s",
                                        (first["order_id"],))] == ["booked"]


@pytest.mark.parametrize("where", ["header", "body"])
def test_a_guessable_idempotency_key_is_refused_and_nothing_is_held(stack, db, shop, where):
    payload = body(db, shop, [(shop["regular"], "09:00")])
    headers = dict(anon_headers())
    if where == "header":
        headers["idempotency-key"] = "cart-00000042"
    else:
        payload["idempotency_key"] = "cart-00000042"
    r = httpx.post(f"{stack.functions_url}/create-checkout-session", json=payload, headers=headers, timeout=30)
    error = refused(r, 422, "invalid_request")
    assert [d["field"] for d in error["details"]] == ["idempotency_key"], error
    assert written(db, shop) == NOTHING


def test_when_stripe_is_down_the_slot_is_freed_at_once(stack, db, shop):
    stack.stripe.fail_next(3, status=503)
    r = post(stack, body(db, shop, [(shop["regular"], "09:00")]))
    refused(r, 502, "payment_provider_unavailable")
    assert db.value("select status from public.orders where org_id = %s", (shop["org"]["id"],)) == "cancelled"
    assert db.value("select status from public.appointments where org_id = %s", (shop["org"]["id"],)) == "cancelled"
    again = post(stack, body(db, shop, [(shop["regular"], "09:00")]))
    assert again.status_code == 200, again.text


# ---------------------------------------------------------------------------
# Invalid input
# ---------------------------------------------------------------------------
def _mutations(db, shop, rival_service, inactive_service):
    def items(**changes):
        def apply(payload):
            payload["items"][0].update(changes)
        return apply

    def set_(**changes):
        def apply(payload):
            payload.update(changes)
        return apply

    def drop(field):
        def apply(payload):
            payload.pop(field)
        return apply

    return {
        "no postcode": (drop("postcode"), 422, "invalid_request", "postcode"),
        "no items": (set_(items=[]), 422, "invalid_request", "items"),
        "eleven items": (lambda p: p.update(items=p["items"] * 11), 422, "invalid_request", "items"),
        "start without offset": (items(start=f"{shop['day']}T09:00:00"), 422, "invalid_request", "items.0.start"),
        "start not a time": (items(start="tomorrow morning"), 422, "invalid_request", "items.0.start"),
        "service not a uuid": (items(service_id="oven"), 422, "invalid_request", "items.0.service_id"),
        "staff not a uuid": (items(staff_id="val"), 422, "invalid_request", "items.0.staff_id"),
        "a price in the line": (items(unit_price_minor=1), 422, "invalid_request", "items.0.unit_price_minor"),
        "unknown kind": (set_(kind="gift_cards"), 422, "invalid_request", "kind"),
        "ticket fields": (set_(event_id=str(uuid.uuid4())), 422, "invalid_request", "event_id"),
        "bad email": (set_(buyer_email="not-an-email"), 422, "invalid_buyer", None),
        "no name": (set_(buyer_name="  "), 422, "invalid_buyer", None),
        "unknown service": (items(service_id=str(uuid.uuid4())), 422, "unknown_service", None),
        "another org's service": (items(service_id=str(rival_service)), 422, "unknown_service", None),
        "inactive service": (items(service_id=str(inactive_service)), 422, "unknown_service", None),
        "unknown org": (set_(org_id=str(uuid.uuid4())), 404, "org_not_found", None),
        "foreign return url": (set_(success_url="https://evil.example/x"), 422, "invalid_return_url", None),
    }


CASES = ["no postcode", "no items", "eleven items", "start without offset", "start not a time", "service not a uuid",
         "staff not a uuid", "a price in the line", "unknown kind", "ticket fields", "bad email", "no name",
         "unknown service", "another org's service", "inactive service", "unknown org", "foreign return url"]


@pytest.mark.parametrize("case", CASES)
def test_invalid_input_is_a_4xx_and_nothing_is_written(stack, db, shop, case):
    rival = make_org(db)
    rival_service = service(db, rival, "Rival clean", 60, 1000)
    inactive = service(db, shop["org"], "Retired service", 60, 1000)
    db.sql("update public.services set active = false where id = %s", (inactive,))
    mutate, status, code, field = _mutations(db, shop, rival_service, inactive)[case]
    payload = body(db, shop, [(shop["regular"], "09:00")])
    mutate(payload)
    error = refused(post(stack, payload), status, code)
    if field:
        assert field in {d["field"] for d in error["details"]}, error
    assert written(db, shop) == NOTHING
    assert db.value("select count(*) from public.orders where org_id = %s", (rival["id"],)) == 0


# ---------------------------------------------------------------------------
# The public RPC
# ---------------------------------------------------------------------------
def test_anon_may_call_the_public_rpc_and_the_hold_is_the_orgs_setting(db, shop):
    db.sql("update public.appointment_settings set hold_minutes = 7 where org_id = %s", (shop["org"]["id"],))
    items = [{"service_id": str(shop["oven"]), "start": at(db, shop, "13:00")}]
    with db.as_anon() as cur:
        cur.execute("select public.place_appointment_order(%s, %s::jsonb, %s, 'rpc@example.com', 'Rita Rpc') as s",
                    (shop["org"]["id"], json.dumps(items), "sw1a1aa"))
        summary = cur.fetchone()["s"]
    assert summary["status"] == "pending" and summary["tracking_token"] and summary["kind"] == "appointments"
    assert [a["start"][11:16] for a in summary["appointments"]] == ["13:00"]
    hold = db.value("select hold_expires_at - created_at from public.orders where id = %s", (summary["order_id"],))
    assert hold == dt.timedelta(minutes=7)
    assert db.value("select postcode from public.appointments where order_id = %s", (summary["order_id"],)) == POSTCODE


# ---------------------------------------------------------------------------
# Who may see and change promo_code_services (policies/appointments.sql)
# ---------------------------------------------------------------------------
ACTORS = ("anon", "outsider", "owner", "admin", "manager", "staff", "rival_owner", "service_role")
# x = no grant, p = refused by `with check`, 0 = matches no row, 1 = reads / writes the target
# (the same as promo_code_tiers in tests/ticketing/test_rls.py).
MATRIX = """
table               command anon outsider owner admin manager staff rival_owner service_role
promo_code_services select  x    0        1     1     1       0     0           1
promo_code_services insert  x    p        1     1     1       p     p           1
promo_code_services update  x    0        1     1     1       0     0           1
promo_code_services delete  x    0        1     1     1       0     0           1
"""
RLS_CASES = parse_matrix(MATRIX, ACTORS)
PROBES = {
    "select": ("select service_id from public.promo_code_services where promo_code_id = %(promo_id)s"
               " and service_id = %(service_id)s", None),
    "insert": ("insert into public.promo_code_services (promo_code_id, service_id, org_id)"
               " values (%(promo_id)s, %(other_service_id)s, %(org_id)s) returning service_id",
               "select count(*) from public.promo_code_services where promo_code_id = %(promo_id)s"
               " and service_id = %(other_service_id)s"),
    "update": ("update public.promo_code_services set service_id = %(other_service_id)s"
               " where promo_code_id = %(promo_id)s and service_id = %(service_id)s returning service_id",
               "select count(*) from public.promo_code_services where promo_code_id = %(promo_id)s"
               " and service_id = %(other_service_id)s"),
    "delete": ("delete from public.promo_code_services where promo_code_id = %(promo_id)s"
               " and service_id = %(service_id)s returning service_id",
               "select 1 - count(*) from public.promo_code_services where promo_code_id = %(promo_id)s"),
}


@pytest.fixture(scope="module")
def prober(database_url):
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    org, rival = team["org"], team["rival"]
    target, other = service(db, org, "Regular clean", 60, 4800), service(db, org, "Oven clean", 60, 6500)
    rival_service = service(db, rival, "Rival clean", 60, 1000)
    code = promo(db, org, value=10, services=[target])
    promo_id = db.value("select id from public.promo_codes where code = %s", (code,))
    callers = {role: team["people"][role].caller
               for role in ("outsider", "owner", "admin", "manager", "staff", "rival_owner")}
    callers |= {"anon": Caller.anon(), "service_role": Caller.service()}
    return {"callers": callers, "params": {
        "org_id": org["id"], "promo_id": promo_id, "service_id": target, "other_service_id": other,
        "rival_service_id": rival_service}}


@pytest.mark.parametrize(("table", "command", "actor", "expected"), RLS_CASES,
                         ids=[f"{t}-{c}-{a}" for t, c, a, _ in RLS_CASES])
def test_promo_code_services_rls_matrix(prober, world, table, command, actor, expected):
    statement, check = PROBES[command]
    assert_case(prober, world["callers"][actor], statement, world["params"], check, expected,
                f"{actor} {command} on {table}")


def test_promo_code_services_has_rls_and_one_sentence_policy_per_command(db):
    assert db.value("select relrowsecurity from pg_class where oid = 'public.promo_code_services'::regclass")
    policies = db.sql("select cmd, roles, policyname from pg_policies"
                      " where schemaname = 'public' and tablename = 'promo_code_services'")
    assert sorted((p["cmd"], p["roles"]) for p in policies) == sorted(
        (c, ["authenticated"]) for c in ("SELECT", "INSERT", "UPDATE", "DELETE"))
    assert db.value("select has_table_privilege('anon', 'public.promo_code_services', 'select')") is False


def test_a_manager_cannot_restrict_their_code_to_another_orgs_service(prober, world):
    manager = world["callers"]["manager"]
    status, result, effect = probe(
        prober, manager, "insert into public.promo_code_services (promo_code_id, service_id, org_id)"
        " values (%(promo_id)s, %(rival_service_id)s, %(org_id)s)", world["params"],
        "select count(*) from public.promo_code_services where service_id = %(rival_service_id)s")
    assert status == "error" and result.sqlstate == "PT422" and result.diag.message_detail == "foreign_service"
    assert effect == 0
