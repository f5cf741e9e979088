"""An organizer changes a tier's capacity after sales began: one seat row per unit of capacity.

Shrinking gives up free seats only (the highest numbers first), and is refused
(PT409 capacity_below_sold) below what is sold or held, leaving the tier as it
was. Growing adds seats, filling the numbers a shrink freed below a sold seat
it had to keep (that regrowth collided with the kept seat's number before).
Every step is checked by what buyers can then get: exactly the capacity.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.support import ticketing
from tests.support.pg import refused


def buy(db, ev, tier, quantity: int) -> dict | psycopg.Error:
    """A guest's hold of `quantity` seats, as anon; the order summary or the refusal."""
    try:
        with db.as_anon() as cur:
            cur.execute("select public.place_ticket_order(%s, %s, %s, %s) as o",
                        (ev["id"], Jsonb([{"tier_id": str(tier["id"]), "quantity": quantity}]),
                         "buyer@example.com", "Bea Buyer"))
            return cur.fetchone()["o"]
    except psycopg.Error as exc:
        return exc


def seats(db, tier) -> list[tuple[int, bool]]:
    return [(r["seat_no"], r["sold"]) for r in db.sql(
        "select seat_no, order_id is not null as sold from private.ticket_seats where tier_id = %s order by seat_no",
        (tier["id"],))]


def set_capacity(db, tier, capacity: int) -> None | psycopg.Error:
    try:
        db.sql("update public.ticket_tiers set capacity = %s where id = %s", (capacity, tier["id"]))
    except psycopg.Error as exc:
        return exc
    return None


@pytest.fixture
def ev(db):
    return ticketing.event(db)


def sell_out(db, ev, tier) -> int:
    """Buy one seat at a time until refused; the number bought (the refusal must be sold_out)."""
    bought = 0
    while not isinstance(answer := buy(db, ev, tier, 1), psycopg.Error):
        bought += 1
    refused(answer, "PT409", "sold_out")
    return bought


def test_shrinking_below_what_is_sold_or_held_is_refused_and_changes_nothing(db, ev):
    tier = ticketing.tier(db, ev, capacity=6)
    assert not isinstance(buy(db, ev, tier, 4), psycopg.Error)
    before = seats(db, tier)
    refused(set_capacity(db, tier, 3), "PT409", "capacity_below_sold")
    assert db.value("select capacity from public.ticket_tiers where id = %s", (tier["id"],)) == 6
    assert seats(db, tier) == before


def test_shrinking_to_what_is_sold_leaves_nothing_to_buy(db, ev):
    tier = ticketing.tier(db, ev, capacity=6)
    assert not isinstance(buy(db, ev, tier, 4), psycopg.Error)
    assert set_capacity(db, tier, 4) is None
    assert len(seats(db, tier)) == 4 and all(sold for _, sold in seats(db, tier))
    refused(buy(db, ev, tier, 1), "PT409", "sold_out")


def test_a_seat_kept_above_a_shrink_and_a_regrowth_leave_exactly_the_capacity_to_sell(db, ev):
    """Hold the highest seat, shrink (the kept seat is now above the capacity), grow again: the freed
    numbers below it are reused, and buyers get exactly the new capacity, no more, no less."""
    tier = ticketing.tier(db, ev, capacity=10)
    # Take every seat, then give back all but the highest (seat 10).
    orders = [buy(db, ev, tier, 1) for _ in range(10)]
    assert not any(isinstance(o, psycopg.Error) for o in orders)
    keep = db.value("select order_id from private.ticket_seats where tier_id = %s and seat_no = 10", (tier["id"],))
    db.sql("update private.ticket_seats set order_id = null where tier_id = %s and order_id <> %s", (tier["id"], keep))
    db.sql("update public.orders set status = 'cancelled' where event_id = %s and id <> %s", (ev["id"], keep))
    assert seats(db, tier) == [(n, n == 10) for n in range(1, 11)]

    assert set_capacity(db, tier, 5) is None  # gives up the highest free seats: 9, 8, 7, 6, 5
    assert seats(db, tier) == [(1, False), (2, False), (3, False), (4, False), (10, True)]

    assert set_capacity(db, tier, 12) is None  # fills 5..9 first, then 11 and 12
    numbers = [n for n, _ in seats(db, tier)]
    assert numbers == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert sell_out(db, ev, tier) == 11  # twelve seats, one of them held
    assert ticketing.seats_taken(db, tier["id"]) == 12
