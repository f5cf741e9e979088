"""Guests reach their order with its number and tracking token; guessing is throttled."""

from __future__ import annotations

import psycopg
import pytest

from tests.support import ticketing as tk
from tests.support.http import buy, checkout_body


@pytest.fixture
def guest_order(stack, db) -> dict:
    event = tk.event(db)
    general = tk.tier(db, event, capacity=5)
    r = buy(stack.functions_url, checkout_body(event, [(general, 1)]))
    assert r.status_code == 200, r.text
    return r.json()


def lookup(db, number: str, token: str):
    with db.as_anon() as cur:
        cur.execute("select public.lookup_order(%s, %s) as o", (number, token))
        return cur.fetchone()["o"]


def test_the_right_token_shows_the_order_and_a_wrong_one_shows_nothing(db, guest_order):
    found = lookup(db, guest_order["order_number"], guest_order["tracking_token"])
    assert found["order_id"] == guest_order["order_id"] and found["tickets"] == []
    token = guest_order["tracking_token"]
    one_off = token[:-1] + ("1" if token.endswith("0") else "0")  # differs in the last character, always
    assert lookup(db, guest_order["order_number"], one_off) is None
    assert lookup(db, "BW-NOSUCH00", guest_order["tracking_token"]) is None


def test_ten_wrong_guesses_slow_the_guesser_but_never_lock_out_the_rightful_guest(db, guest_order):
    """Issue 10: anyone who knew an order number (it is printed in emails) could lock its buyer out for
    15 minutes with ten wrong tokens. Guessers are still slowed; the holder always gets in."""
    number = guest_order["order_number"]
    for n in range(10):
        assert lookup(db, number, f"guess-{n:02d}-" + "0" * 40) is None
    with pytest.raises(psycopg.Error) as refused:
        lookup(db, number, "guess-10-" + "0" * 40)
    assert refused.value.sqlstate == "PT429" and refused.value.diag.message_detail == "throttled"
    assert lookup(db, number, guest_order["tracking_token"])["order_id"] == guest_order["order_id"]
    # The window passes: a wrong guess is answered (null) and counted again from one.
    db.sql("update private.order_lookup_failures set window_started_at = now() - interval '16 minutes'"
           " where order_number = %s", (number,))
    assert lookup(db, number, "guess-11-" + "0" * 40) is None
    assert db.value("select failures from private.order_lookup_failures where order_number = %s", (number,)) == 1


def test_spacing_or_case_does_not_give_a_guesser_a_fresh_counter(db, guest_order):
    number = guest_order["order_number"]
    spellings = [number, f" {number}", f"{number}  ", number.lower(), f"  {number.lower()} "]
    for n in range(10):
        assert lookup(db, spellings[n % len(spellings)], f"guess-{n:02d}-" + "0" * 40) is None
    for spelling in spellings:
        with pytest.raises(psycopg.Error) as refused:
            lookup(db, spelling, "one-more-guess-" + "0" * 40)
        assert refused.value.sqlstate == "PT429", spelling
        assert lookup(db, spelling, guest_order["tracking_token"])["order_id"] == guest_order["order_id"]
    assert db.value("select count(*) from private.order_lookup_failures where order_number ilike %s",
                    (f"%{number[3:]}%",)) == 1


def test_a_malformed_number_matches_nothing_and_leaves_no_trace(db, guest_order):
    before = db.value("select count(*) from private.order_lookup_failures")
    for junk in ("", "x" * 500, "BW-", "BW-%%%%%%%%", "DROP TABLE orders"):
        assert lookup(db, junk, guest_order["tracking_token"]) is None
    assert db.value("select count(*) from private.order_lookup_failures") == before


def test_a_paid_guest_order_shows_its_tickets_with_their_codes(stack, db, guest_order):
    session_id = db.value("select checkout_session_id from public.orders where id = %s", (guest_order["order_id"],))
    stack.stripe.pay(session_id)
    found = lookup(db, guest_order["order_number"], guest_order["tracking_token"])
    assert found["status"] == "paid"
    secrets = [r["secret"] for r in db.sql("select secret from public.tickets where order_id = %s",
                                            (guest_order["order_id"],))]
    assert [t["secret"] for t in found["tickets"]] == secrets and len(secrets) == 1
