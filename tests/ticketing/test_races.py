"""Concurrent buyers, payments and refunds never oversell, over-discount, pay twice or refund twice.

Every race here is real: each contender runs in its own thread on its own
psycopg connection, opened and switched to its role (anon or service_role,
exactly as `Db.as_anon()` / `Db.as_service()` and PostgREST do) before a
`threading.Barrier` releases all of them into the statement under test at
once. The statements are the product's own: `public.place_ticket_order` as
anon, `private.record_payment`, `private.close_unpaid_order` and
`private.request_refund` as service_role.

The first test is the canary (STYLE.md 1.6, pretix's habit): the same seat
claim written as a naive check-then-act with no row lock does oversell under
this harness, which is what makes the passing tests below mean something.

Assertions are about end states and outcome counts, never about timings; where
the interleaving decides which of two correct end states is reached, every
round checks that the state reached is one of them and is internally consistent.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.support import ticketing
from tests.support.races import race

pytestmark = pytest.mark.slow

PRICE = 2500
SALE_ROUNDS = 3  # the big sales repeat: a deadlock-prone interleaving does not come every round


# ---------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------


def refusal(exc: psycopg.Error) -> str:
    """`PT409:sold_out`-style label: SQLSTATE plus our error code (the DETAIL);
    for Postgres' own errors, SQLSTATE plus the message (`40P01:deadlock detected`)."""
    if (exc.sqlstate or "").startswith("PT"):
        return f"{exc.sqlstate}:{exc.diag.message_detail}"
    return f"{exc.sqlstate}:{exc.diag.message_primary}"


def acting(db, role: str):
    return db.as_anon() if role == "anon" else db.as_service()


def call(db, barrier: threading.Barrier | None, role: str, statement: str, params: Any) -> tuple[str, Any]:
    """One transaction as `role` (committed on success): wait for the others, run `statement`.

    Returns ("ok", first column of the first row) or (refusal label, None).
    lock_timeout only turns a hang into a visible error; races here resolve in well under it.
    """
    try:
        with acting(db, role) as cur:
            cur.execute("set local lock_timeout = '20s'")
            if barrier is not None:
                barrier.wait()
            cur.execute(statement, params)
            row = cur.fetchone()
            return "ok", next(iter(row.values())) if row else None
    except psycopg.Error as exc:
        return refusal(exc), None


def buy(db, barrier, ev: dict, items: list[dict], *, email: str | None = None,
        promo_code: str | None = None) -> tuple[str, Any]:
    """A guest checkout hold, as the create-checkout-session function's transaction makes it."""
    return call(db, barrier, "anon",
                "select public.place_ticket_order(%s, %s, %s, %s, %s) as summary",
                (ev["id"], Jsonb(items), email or f"buyer-{uuid.uuid4().hex[:10]}@example.com",
                 "Race Buyer", promo_code))


def pay(db, barrier, order: dict, payment_id: str) -> tuple[str, Any]:
    """What the Stripe webhook (and the expiry job) call when money arrives."""
    return call(db, barrier, "service",
                "select private.record_payment(%s, 'stripe', %s, %s, %s) as result",
                (order["order_id"], payment_id, order["total_minor"], order["currency"].lower()))


def expire(db, barrier, order: dict) -> tuple[str, Any]:
    """What the expiry job calls when a hold runs out."""
    return call(db, barrier, "service",
                "select private.close_unpaid_order(%s, 'expired', 'hold_expired') as changed",
                (order["order_id"],))


def refund(db, barrier, order: dict, amount_minor: int | None) -> tuple[str, Any]:
    return call(db, barrier, "service",
                "select (private.request_refund(%s, %s, %s)).amount_minor as amount",
                (order["order_id"], amount_minor, "race"))


def placed(db, ev: dict, tier: dict, quantity: int = 1) -> dict:
    status, summary = buy(db, None, ev, [{"tier_id": str(tier["id"]), "quantity": quantity}])
    assert status == "ok", f"arranging an order was refused: {status}"
    return summary


def paid_order(db, ev: dict, tier: dict, quantity: int) -> dict:
    order = placed(db, ev, tier, quantity)
    assert pay(db, None, order, f"pi_{uuid.uuid4().hex}") == ("ok", "fulfilled")
    return order


def order_row(db, order: dict) -> dict:
    return db.one("select * from public.orders where id = %s", (order["order_id"],))


def count(db, query: str, *params: Any) -> int:
    return db.value(query, params)


def tickets_of(db, order: dict, status: str = "valid") -> int:
    return count(db, "select count(*) from public.tickets where order_id = %s and status = %s::public.ticket_status",
                 order["order_id"], status)


def seats_of(db, order: dict) -> int:
    return count(db, "select count(*) from private.ticket_seats where order_id = %s", order["order_id"])


def emails(db, order: dict, template: str) -> int:
    return count(db, "select count(*) from public.notification_outbox"
                     " where template = %s and payload ->> 'order_id' = %s", template, str(order["order_id"]))


def assert_tier_consistent(db, tier: dict) -> None:
    """Every order on the tier holds exactly what its status says, and the tier is not oversold.

    pending/processing: its quantity in seats, no tickets.  paid: its quantity
    in seats and in valid tickets.  expired/cancelled: nothing.  refunded:
    nothing held, no valid ticket, refunds equal to what was paid.
    """
    capacity = db.value("select capacity from public.ticket_tiers where id = %s", (tier["id"],))
    rows = db.sql(
        "select o.id, o.status::text as status, i.quantity,"
        " (select count(*) from private.ticket_seats s"
        "   where s.order_id = o.id and s.tier_id = i.ticket_tier_id) as seats,"
        " (select count(*) from public.tickets k where k.order_id = o.id and k.status = 'valid') as valid_tickets,"
        " (select count(*) from public.tickets k where k.order_id = o.id) as tickets,"
        " (select coalesce(sum(p.amount_minor), 0) from public.payments p where p.order_id = o.id) as paid,"
        " (select coalesce(sum(r.amount_minor), 0) from public.refunds r"
        "   where r.order_id = o.id and r.status <> 'failed') as refunded"
        " from public.orders o join public.order_items i on i.order_id = o.id and i.ticket_tier_id = %s",
        (tier["id"],))
    problems = []
    for r in rows:
        holding = r["status"] in ("pending", "processing", "paid")
        want_seats = r["quantity"] if holding else 0
        want_valid = r["quantity"] if r["status"] == "paid" else 0
        if r["seats"] != want_seats or r["valid_tickets"] != want_valid:
            problems.append(f"{r['status']} order {r['id']} (qty {r['quantity']}) holds {r['seats']} seats"
                            f" and {r['valid_tickets']} valid tickets")
        if r["status"] in ("pending", "processing", "expired", "cancelled") and r["tickets"]:
            problems.append(f"{r['status']} order {r['id']} has {r['tickets']} tickets")
        if r["status"] == "refunded" and not (r["paid"] > 0 and r["refunded"] == r["paid"]):
            problems.append(f"refunded order {r['id']}: paid {r['paid']}, refunds {r['refunded']}")
    taken = ticketing.seats_taken(db, tier["id"])
    held = sum(r["seats"] for r in rows)
    valid = sum(r["valid_tickets"] for r in rows)
    pending_seats = sum(r["seats"] for r in rows if r["status"] in ("pending", "processing"))
    assert not problems, "inconsistent orders:\n" + "\n".join(problems)
    assert taken == held, f"{taken} seats taken but orders account for {held}"
    assert taken <= capacity and valid + pending_seats <= capacity, (
        f"oversold: capacity {capacity}, {valid} valid tickets + {pending_seats} held seats")


@pytest.fixture
def ev(db) -> dict:
    return ticketing.event(db)


# ---------------------------------------------------------------------------
# 1. Canary: the seat claim without its row lock oversells under this harness.
# ---------------------------------------------------------------------------
def test_canary_a_naive_check_then_claim_without_row_locks_oversells(db, ev):
    """claim_seats minus `for update [skip locked]`, as plain check-then-act SQL.

    50 buyers each count the free seats of a 10-seat tier, sleep a moment
    (the window the row lock closes), then take "the first free seat" with an
    update whose subquery locks nothing. Buyers whose updates overlap all pick
    the same free row and each is told it got a seat; the later writer silently
    overwrites the earlier one. More buyers hear "you got a seat" than the tier
    has seats. Interleaving is up to the scheduler, so rounds repeat until the
    race shows (it shows on the first round in practice).
    """
    capacity, buyers = 10, 50
    outcomes = []
    for _ in range(5):
        tier = ticketing.tier(db, ev, capacity=capacity)
        orders = [r["id"] for r in db.sql(
            "insert into public.orders (org_id, number, kind, event_id, buyer_email, buyer_name, currency,"
            " tracking_token_hash)"
            " select %s, private.new_order_number(), 'tickets', %s, 'canary' || g || '@example.com', 'Canary',"
            " 'GBP', sha256(g::text::bytea) from generate_series(1, %s) g returning id",
            (ev["org_id"], ev["id"], buyers))]

        def naive_buyer(lane: int, barrier: threading.Barrier):
            with db.connect() as conn, conn.transaction():
                barrier.wait()
                free = conn.execute("select count(*) as n from private.ticket_seats"
                                    " where tier_id = %s and order_id is null", (tier["id"],)).fetchone()["n"]
                if free < 1:
                    return None
                time.sleep(0.01)
                row = conn.execute(
                    "update private.ticket_seats set order_id = %s where id in ("
                    " select id from private.ticket_seats where tier_id = %s and order_id is null limit 1)"
                    " returning id", (orders[lane], tier["id"])).fetchone()
                return (orders[lane], row["id"]) if row else None

        claims = [c for c in race(buyers, naive_buyer) if c]
        owner = {r["id"]: r["order_id"] for r in db.sql(
            "select id, order_id from private.ticket_seats where tier_id = %s", (tier["id"],))}
        cheated = [order for order, seat in claims if owner[seat] != order]
        outcomes.append((len(claims), len(cheated)))
        # The table itself cannot show it (one order_id per row): the oversell is in what buyers were told.
        assert ticketing.seats_taken(db, tier["id"]) <= capacity
        assert len(claims) - len(cheated) == ticketing.seats_taken(db, tier["id"])
        if len(claims) > capacity:
            break
    print(f"canary (buyers told 'yours', of whom cheated) per round: {outcomes}")
    claimed, cheated = outcomes[-1]
    assert claimed > capacity and cheated > 0, (
        f"the canary should oversell (buyers told 'yours' vs cheated, per round): {outcomes}; the harness is broken")


# ---------------------------------------------------------------------------
# 2. Buyers racing for one tier's seats.
# ---------------------------------------------------------------------------
def test_two_hundred_buyers_for_fifty_seats_exactly_fifty_holds(db):
    """100 threads, each a buyer of 1 seat released by the barrier and then a second buyer at once.

    Capacity first (exactly 50 holds, one seat each, nothing left by the
    losers), then what the losers were told: every one of them sold_out. A
    deadlock (40P01, which the functions answer as 503 busy) is a failure:
    claim_seats promises that its waiting pass decides exactly. A few rounds,
    each on a fresh event, because a bad interleaving need not come every time.
    """
    for _ in range(SALE_ROUNDS):
        ev = ticketing.event(db)
        tier = ticketing.tier(db, ev, capacity=50)
        item = [{"tier_id": str(tier["id"]), "quantity": 1}]

        def two_buyers(lane, barrier):
            return [buy(db, barrier, ev, item), buy(db, None, ev, item)]

        results = [r for pair in race(100, two_buyers) for r in pair]

        statuses = Counter(status for status, _ in results)
        won = {summary["order_id"] for status, summary in results if status == "ok"}
        assert statuses["ok"] == len(won) == 50, statuses
        orders = db.sql("select o.id, o.status::text as status, count(s.id) as seats from public.orders o"
                        " left join private.ticket_seats s on s.order_id = o.id"
                        " where o.event_id = %s group by o.id", (ev["id"],))
        assert {str(r["id"]) for r in orders} == won, "refused buyers must leave no order behind"
        assert {(r["status"], r["seats"]) for r in orders} == {("pending", 1)}
        assert ticketing.seats_taken(db, tier["id"]) == 50
        assert count(db, "select count(distinct order_id) from private.ticket_seats where tier_id = %s",
                     tier["id"]) == 50
        assert_tier_consistent(db, tier)
        assert statuses == {"ok": 50, "PT409:sold_out": 150}, (
            f"refused buyers were not all told sold_out: {statuses}")


def test_buyers_of_one_to_four_seats_never_oversell_and_leave_fewer_than_four_unsold(db, ev):
    """100 buyers of 1-4 seats (250 wanted) for 50: the holds add up exactly, and
    the exact (waiting) second pass of claim_seats leaves at most 3 seats that no
    refused buyer could have had. Every buyer hears either yes or sold_out
    (never 40P01 deadlock / 503 busy). A few rounds, each on a fresh tier."""
    capacity, max_quantity = 50, 4
    quantities = [lane % max_quantity + 1 for lane in range(100)]
    for _ in range(SALE_ROUNDS):
        tier = ticketing.tier(db, ev, capacity=capacity)

        def buyer(lane, barrier):
            return buy(db, barrier, ev, [{"tier_id": str(tier["id"]), "quantity": quantities[lane]}])

        results = race(100, buyer)

        statuses = Counter(status for status, _ in results)
        sold = sum(q for q, (status, _) in zip(quantities, results) if status == "ok")
        taken = ticketing.seats_taken(db, tier["id"])
        assert taken == sold <= capacity, f"{taken} seats taken for {sold} sold ({statuses})"
        for (status, summary), quantity in zip(results, quantities):
            if status == "ok":
                assert seats_of(db, summary) == quantity
        assert_tier_consistent(db, tier)
        assert sum(quantities) > capacity and statuses["PT409:sold_out"] > 0
        assert capacity - taken <= max_quantity - 1, (
            f"{capacity - taken} seats left unsold while buyers were refused")
        assert set(statuses) <= {"ok", "PT409:sold_out"}, f"buyers saw other answers: {statuses}"


# ---------------------------------------------------------------------------
# 3. Buyers racing for a limited promo code.
# ---------------------------------------------------------------------------
def test_a_promo_code_limited_to_ten_is_redeemed_exactly_ten_times(db, ev):
    tier = ticketing.tier(db, ev, capacity=200)
    code = ticketing.promo(db, ev["org_id"], max_redemptions=10, value=20)
    item = [{"tier_id": str(tier["id"]), "quantity": 1}]

    results = race(100, lambda lane, barrier: buy(db, barrier, ev, item, promo_code=code["code"]))

    assert Counter(status for status, _ in results) == {"ok": 10, "PT409:promo_exhausted": 90}
    assert all(summary["discount_minor"] == PRICE * 20 // 100 for status, summary in results if status == "ok")
    assert count(db, "select count(*) from public.promo_redemptions where promo_code_id = %s", code["id"]) == 10
    assert count(db, "select redemptions_count from public.promo_codes where id = %s", code["id"]) == 10
    assert count(db, "select count(*) from public.orders where event_id = %s", ev["id"]) == 10
    assert count(db, "select count(*) from public.orders where event_id = %s and promo_code_id = %s",
                 ev["id"], code["id"]) == 10
    assert ticketing.seats_taken(db, tier["id"]) == 10, "refused buyers must hold no seats"
    assert_tier_consistent(db, tier)


def test_twenty_checkouts_by_one_customer_redeem_a_once_per_customer_code_once(db, ev):
    tier = ticketing.tier(db, ev, capacity=100)
    code = ticketing.promo(db, ev["org_id"], per_customer_limit=1)
    item = [{"tier_id": str(tier["id"]), "quantity": 1}]
    # The same address, typed in two cases: still one customer.
    addresses = ["Sam.Same@Example.com", "sam.same@example.com"]

    results = race(20, lambda lane, barrier: buy(db, barrier, ev, item, email=addresses[lane % 2],
                                                 promo_code=code["code"]))

    assert Counter(status for status, _ in results) == {"ok": 1, "PT409:promo_customer_limit": 19}
    assert count(db, "select count(*) from public.promo_redemptions where promo_code_id = %s", code["id"]) == 1
    assert count(db, "select redemptions_count from public.promo_codes where id = %s", code["id"]) == 1
    assert ticketing.seats_taken(db, tier["id"]) == 1
    assert_tier_consistent(db, tier)


# ---------------------------------------------------------------------------
# 4. Two payments for one order at once.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("same_payment", [True, False], ids=["one-payment-intent", "two-payment-ids"])
def test_two_payments_for_one_order_at_once_issue_its_tickets_once(db, ev, same_payment):
    """Two webhooks for one session (same payment intent), or two events naming
    different payment ids: one fulfils, the other is a duplicate; 3 tickets, 1 email."""
    tier = ticketing.tier(db, ev, capacity=100)
    for _ in range(10):
        order = placed(db, ev, tier, quantity=3)
        ids = [f"pi_{uuid.uuid4().hex}"] * 2 if same_payment else [f"pi_{uuid.uuid4().hex}" for _ in range(2)]

        results = race(2, lambda lane, barrier: pay(db, barrier, order, ids[lane]))

        # A second delivery of one payment is a no-op; a second, different payment is refunded in full.
        second = "already_paid" if same_payment else "duplicate_refunded"
        assert sorted(r for _, r in results) == sorted([second, "fulfilled"]), results
        assert order_row(db, order)["status"] == "paid"
        assert tickets_of(db, order) == 3 and tickets_of(db, order, "void") == 0
        assert emails(db, order, "tickets") == 1
        payments = count(db, "select count(*) from public.payments where order_id = %s", order["order_id"])
        duplicate_refunds = count(db, "select count(*) from public.refunds where order_id = %s"
                                      " and reason = 'duplicate_payment'", order["order_id"])
        assert (payments, duplicate_refunds) == ((1, 0) if same_payment else (2, 1))
    assert_tier_consistent(db, tier)


# ---------------------------------------------------------------------------
# 5. A late payment racing a new buyer for the seat its expired hold gave back.
# ---------------------------------------------------------------------------
def test_a_late_payment_and_new_buyers_racing_for_the_last_seat_never_oversell(db, ev):
    outcomes = Counter()
    for _ in range(8):
        tier = ticketing.tier(db, ev, capacity=3)
        placed(db, ev, tier)
        placed(db, ev, tier)
        late = placed(db, ev, tier)
        assert expire(db, None, late) == ("ok", True)
        assert ticketing.seats_taken(db, tier["id"]) == 2
        payment_id = f"pi_{uuid.uuid4().hex}"

        def contender(lane, barrier):
            if lane == 0:
                return pay(db, barrier, late, payment_id)
            return buy(db, barrier, ev, [{"tier_id": str(tier["id"]), "quantity": 1}])

        (paid, result), *buyers = race(5, contender)

        assert_tier_consistent(db, tier)  # whoever won: nothing oversold, nothing half-done
        buyer_statuses = Counter(status for status, _ in buyers)
        assert paid == "ok", f"the late payment itself failed: {paid} (buyers: {dict(buyer_statuses)})"
        row = order_row(db, late)
        if result == "late_fulfilled":
            assert row["status"] == "paid"
            assert seats_of(db, late) == 1 and tickets_of(db, late) == 1
            assert buyer_statuses == {"PT409:sold_out": 4}
        else:
            assert result == "late_refunded", result
            assert row["status"] == "refunded" and row["close_reason"] == "late_payment_no_capacity"
            assert seats_of(db, late) == 0 and tickets_of(db, late) == 0
            refunds = db.sql("select amount_minor, status::text as status, reason from public.refunds"
                             " where order_id = %s", (late["order_id"],))
            assert refunds == [{"amount_minor": late["total_minor"], "status": "pending",
                                "reason": "late_payment_no_capacity"}]
            assert emails(db, late, "late_payment_refunded") == 1
            assert buyer_statuses == {"ok": 1, "PT409:sold_out": 3}
        assert ticketing.seats_taken(db, tier["id"]) == 3
        outcomes[result] += 1
    print(f"late payment outcomes: {dict(outcomes)}")


# ---------------------------------------------------------------------------
# 6. Refunds requested at once.
# ---------------------------------------------------------------------------
def test_ten_full_refunds_at_once_refund_the_order_once(db, ev):
    tier = ticketing.tier(db, ev, capacity=10)
    order = paid_order(db, ev, tier, quantity=2)

    results = race(10, lambda lane, barrier: refund(db, barrier, order, None))

    statuses = Counter(status for status, _ in results)
    assert statuses["ok"] == 1, statuses
    assert set(statuses) - {"ok"} <= {"PT409:order_not_paid", "PT409:refund_exceeds_payment"}, statuses
    assert db.sql("select amount_minor from public.refunds where order_id = %s",
                  (order["order_id"],)) == [{"amount_minor": order["total_minor"]}]
    assert order_row(db, order)["status"] == "refunded"
    assert tickets_of(db, order) == 0 and tickets_of(db, order, "void") == 2
    assert seats_of(db, order) == 0
    assert emails(db, order, "order_refunded") == 1
    assert_tier_consistent(db, tier)


def test_ten_partial_refunds_of_thirty_percent_at_once_never_exceed_the_payment(db, ev):
    tier = ticketing.tier(db, ev, capacity=10)
    order = paid_order(db, ev, tier, quantity=2)
    part = order["total_minor"] * 30 // 100

    results = race(10, lambda lane, barrier: refund(db, barrier, order, part))

    statuses = Counter(status for status, _ in results)
    assert statuses["ok"] == 3, statuses  # 90% fits; a fourth 30% does not
    assert set(statuses) - {"ok"} <= {"PT422:invalid_refund_amount", "PT409:refund_exceeds_payment"}, statuses
    refunded = count(db, "select coalesce(sum(amount_minor), 0) from public.refunds where order_id = %s",
                     order["order_id"])
    assert refunded == 3 * part <= order["total_minor"]
    assert order_row(db, order)["status"] == "paid"
    assert tickets_of(db, order) == 2
    assert_tier_consistent(db, tier)


# ---------------------------------------------------------------------------
# 7. The hold expiring while the payment is being recorded.
# ---------------------------------------------------------------------------
def test_a_hold_expiring_while_its_payment_is_recorded_ends_paid_with_its_seats(db, ev):
    """Whichever wins, money that arrives while the seats are still free buys
    them: paid first (the expiry finds nothing to close), or expired first and
    then a late payment that re-claims the seats. Never tickets without seats."""
    for _ in range(10):
        tier = ticketing.tier(db, ev, capacity=2)
        order = placed(db, ev, tier, quantity=2)
        payment_id = f"pi_{uuid.uuid4().hex}"

        results = race(2, lambda lane, barrier: expire(db, barrier, order) if lane == 0
                       else pay(db, barrier, order, payment_id))

        assert results in ([("ok", False), ("ok", "fulfilled")], [("ok", True), ("ok", "late_fulfilled")]), results
        assert order_row(db, order)["status"] == "paid"
        assert seats_of(db, order) == 2 and tickets_of(db, order) == 2
        assert emails(db, order, "tickets") == 1
        assert_tier_consistent(db, tier)


def test_a_hold_expiring_while_paid_and_a_rival_buyer_leave_the_seats_with_exactly_one(db, ev):
    """The same race plus a rival buyer for the same (last) two seats: either the
    payer keeps them (paid, tickets) or the rival has them and the late payment
    is refunded. Never both, never neither, never an expired order holding seats."""
    outcomes = Counter()
    for _ in range(10):
        tier = ticketing.tier(db, ev, capacity=2)
        order = placed(db, ev, tier, quantity=2)
        payment_id = f"pi_{uuid.uuid4().hex}"

        def contender(lane, barrier):
            if lane == 0:
                return expire(db, barrier, order)
            if lane == 1:
                return pay(db, barrier, order, payment_id)
            return buy(db, barrier, ev, [{"tier_id": str(tier["id"]), "quantity": 2}])

        (closed, _), (paid, result), (rival, _) = race(3, contender)

        assert_tier_consistent(db, tier)  # whoever won: nothing oversold, nothing half-done
        assert ticketing.seats_taken(db, tier["id"]) == 2, "the seats went back on sale and nobody holds them"
        status = order_row(db, order)["status"]
        assert (closed, paid, status, result, rival) in {
            ("ok", "ok", "paid", "fulfilled", "PT409:sold_out"),       # paid before the expiry
            ("ok", "ok", "paid", "late_fulfilled", "PT409:sold_out"),  # expired, then paid before the rival
            ("ok", "ok", "refunded", "late_refunded", "ok"),           # expired, the rival took the seats
        }, f"unexpected outcome: close {closed}, payment {paid} {result}, order {status}, rival {rival}"
        if status == "paid":
            assert seats_of(db, order) == 2 and tickets_of(db, order) == 2
        else:
            assert seats_of(db, order) == 0 and tickets_of(db, order) == 0
            assert emails(db, order, "late_payment_refunded") == 1
        outcomes[(result, rival)] += 1
    print(f"expiry/payment/rival outcomes: {dict(outcomes)}")
