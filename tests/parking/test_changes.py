"""Cancelling and amending a booking by the org's policy (routines/parking/changes.sql), on every path.

The org's policy here: refunds until 24 h before entry, less an admin fee of 300; dates may change
until 2 h before entry. "Less than 24 h before entry" is a booking whose entry is five hours after
the database's now() (P.soon), so no clock is faked; "after entry" is a booking scanned in at the
gate or moved into the past as superuser (P.shift).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from shared.parking import changes
from shared.platform import errors
from shared.platform.db import Caller
from tests.support import parking as P
from tests.support.pg import call, refused

FEE = 300


@pytest.fixture(scope="module", autouse=True)
def policy(db, park):
    return P.set_policy(db, park["org_id"], admin_fee_minor=FEE)


@pytest.fixture(scope="module")
def customer(db):
    return db.user(full_name="Cee Customer", confirmed=True)


def cancel(db, caller, *, booking_id=None, reference=None, token=None):
    return call(db, caller, "select public.cancel_parking_booking(%s, %s, %s)", booking_id, reference, token)


def amend(db, caller, entry, exit, *, booking_id=None, reference=None, token=None):
    return call(db, caller, "select public.amend_parking_booking(%s, %s, %s, %s, %s)", entry, exit, booking_id,
                reference, token)


def refunds(db, order_id) -> list[tuple[int, str, str]]:
    return [(r["amount_minor"], r["reason"], r["status"]) for r in db.sql(
        "select amount_minor, reason, status from public.refunds where order_id = %s order by created_at",
        (order_id,))]


def order_status(db, order_id) -> str:
    return db.value("select status from public.orders where id = %s", (order_id,))


def stay_days(db, row) -> dict[str, tuple[int, int]]:
    all_days = P.counts(db, row["lot_id"])
    return {d: all_days[d] for d in (str(row["first_day"] + timedelta(days=n))
                                     for n in range((row["last_day"] - row["first_day"]).days + 1))}


def minus_one(days: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    return {d: (b - 1, o - 1) for d, (b, o) in days.items()}


def outbox(db, template: str, booking_id) -> list[dict]:
    return db.sql("select channel, recipient, payload from public.notification_outbox"
                  " where template = %s and payload ->> 'order_id' = (select order_id::text from"
                  " public.parking_bookings where id = %s) order by created_at", (template, booking_id))


def untouched(db, placed) -> None:
    """A refused change left the booking, its money and its days as they were."""
    row = P.booking_row(db, placed["order_id"])
    kept = ("status", "entry_at", "exit_at", "first_day", "last_day", "stay_minor", "cancelled_at")
    assert {k: row[k] for k in kept} == {k: placed["row"][k] for k in kept}
    assert refunds(db, placed["order_id"]) == []
    assert order_status(db, placed["order_id"]) == "paid"
    assert db.value("select count(*) from public.parking_charges where booking_id = %s", (row["id"],)) == 0
    assert outbox(db, "parking_cancelled", row["id"]) == outbox(db, "parking_amended", row["id"]) == []


def far(park) -> tuple[str, str]:
    """10 days ahead, 06:30 to 22:00 three days later: 4 days per 24 h, 4 calendar days."""
    return P.local(park["lot"], 10, 6, 30), P.local(park["lot"], 13, 22)


def near(db, park) -> tuple[str, str]:
    """Entry five hours from now, exit two days later on the wall clock: 2 days per 24 h, 3 calendar days."""
    entry = P.soon(db, park["lot"], 5)
    return entry, P.later(entry, days=2)


# ---------------------------------------------------------------------------
# Cancelling: the refund by the policy's windows
# ---------------------------------------------------------------------------
# (case, product, when, extras, admin fee, paid, rule, refund, fee kept, order status afterwards)
WINDOWS = [
    ("flexible >24h: paid less the fee", "flex", "far", (), FEE, 4500, "flexible", 4200, FEE, "paid"),
    ("flexible >24h, no fee: everything", "flex", "far", (), 0, 4500, "flexible", 4500, 0, "refunded"),
    ("flexible >24h with extras: all less the fee", "flex", "far", ("wash", "ev"), FEE, 4500 + 1500 + 1200,
     "flexible", 6900, FEE, "paid"),
    ("flexible <24h: nothing", "flex", "near", (), FEE, 2000, "flexible_late", 0, 0, "paid"),
    ("non-flexible >24h: nothing", "saver", "far", (), FEE, 2400, "non_flexible", 0, 0, "paid"),
    ("non-flexible <24h: nothing", "saver", "near", (), FEE, 2400, "non_flexible", 0, 0, "paid"),
    ("cover, flexible <24h: all but the cover", "flex", "near", ("cover",), FEE, 2499, "cover", 2000, 0, "paid"),
    ("cover, flexible >24h: all but the cover, no fee", "flex", "far", ("cover", "wash"), FEE, 6499, "cover", 6000, 0,
     "paid"),
    ("cover, non-flexible >24h: all but the cover", "saver", "far", ("cover",), FEE, 2899, "cover", 2400, 0, "paid"),
    ("cover, non-flexible <24h: all but the cover", "saver", "near", ("cover",), FEE, 2899, "cover", 2400, 0, "paid"),
]


@pytest.mark.parametrize(("case", "product", "when", "extras", "fee", "paid", "rule", "refund", "kept", "status"),
                         WINDOWS, ids=[w[0] for w in WINDOWS])
def test_cancelling_refunds_by_the_policy(db, park, case, product, when, extras, fee, paid, rule, refund, kept, status):
    P.set_policy(db, park["org_id"], admin_fee_minor=fee)
    entry, exit = far(park) if when == "far" else near(db, park)
    placed = P.booked(db, park, P.stay(park, product=product, entry=entry, exit=exit,
                                       extras=[park[e] for e in extras]))
    row = placed["row"]
    assert placed["total_minor"] == paid
    days_before = stay_days(db, row)
    terms = call(db, Caller.anon(), "select public.parking_change_terms(booking_reference => %s, tracking_token => %s)",
                 placed["number"], placed["tracking_token"])
    assert {k: terms[k] for k in ("cancellable", "rule", "refund_minor", "fee_minor")} == {
        "cancellable": True, "rule": rule, "refund_minor": refund, "fee_minor": kept}

    result = cancel(db, Caller.anon(), reference=placed["number"], token=placed["tracking_token"])

    assert result == {"booking_id": str(row["id"]), "status": "cancelled", "rule": rule, "refund_minor": refund,
                      "fee_minor": kept}
    assert refunds(db, placed["order_id"]) == ([(refund, "parking_cancelled", "pending")] if refund else [])
    assert order_status(db, placed["order_id"]) == status
    after = P.booking_row(db, placed["order_id"])
    assert (after["status"], after["cancel_reason"]) == ("cancelled", "cancelled_by_guest")
    assert stay_days(db, row) == minus_one(days_before), "the space is given back whatever is refunded"
    assert outbox(db, "parking_cancelled", row["id"]) == [{
        "channel": "email", "recipient": row["customer_email"],
        "payload": {"order_id": str(placed["order_id"]), "refund_minor": refund, "rule": rule}}]
    # Once cancelled, twice is refused and refunds nothing more.
    refused(cancel(db, Caller.anon(), reference=placed["number"], token=placed["tracking_token"]), "PT409",
            "not_cancellable")
    assert len(refunds(db, placed["order_id"])) == (1 if refund else 0)


def test_an_unpaid_booking_is_cancelled_with_its_order_and_frees_its_days(db, park):
    placed = P.place(db, P.stay(park, entry=P.local(park["lot"], 15, 9), exit=P.local(park["lot"], 16, 9)))
    row = P.booking_row(db, placed["order_id"])
    days_before = stay_days(db, row)
    result = cancel(db, Caller.anon(), reference=placed["number"], token=placed["tracking_token"])
    assert result == {"booking_id": str(row["id"]), "status": "cancelled", "rule": "unpaid", "refund_minor": 0,
                      "fee_minor": 0}
    assert db.one("select status, close_reason from public.orders where id = %s", (placed["order_id"],)) == {
        "status": "cancelled", "close_reason": "cancelled_by_guest"}
    after = P.booking_row(db, placed["order_id"])
    assert (after["status"], after["cancel_reason"]) == ("cancelled", "order_cancelled")
    assert stay_days(db, row) == minus_one(days_before)
    assert refunds(db, placed["order_id"]) == []
    assert P.pay(db, placed["order_id"]) == "late_fulfilled", "paid late while there is room: the stay is back"
    assert P.booking_row(db, placed["order_id"])["status"] == "booked"


@pytest.mark.parametrize("how", ["scanned in", "entry time passed"])
def test_nothing_is_cancellable_after_entry(db, park, how):
    placed = P.booked(db, park, P.stay(park, entry=P.soon(db, park["lot"], 1), exit=P.local(park["lot"], 3, 9)))
    if how == "scanned in":
        call(db, park["people"]["staff"].caller, "select public.parking_gate_scan(%s, 'entry', %s)",
             park["lot"]["id"], placed["row"]["gate_code"])
    else:
        P.shift(db, placed["row"]["id"], entry=timedelta(minutes=-10), exit=timedelta(days=2))
    placed["row"] = P.booking_row(db, placed["order_id"])
    days_before = stay_days(db, placed["row"])
    for caller, ref in ((Caller.anon(), {"reference": placed["number"], "token": placed["tracking_token"]}),
                        (park["people"]["owner"].caller, {"booking_id": placed["row"]["id"]}),
                        (Caller.service(), {"booking_id": placed["row"]["id"]})):
        refused(cancel(db, caller, **ref), "PT409", "not_cancellable")
    untouched(db, placed)
    assert stay_days(db, placed["row"]) == days_before
    terms = call(db, Caller.service(), "select public.parking_change_terms(%s)", placed["row"]["id"])
    assert (terms["cancellable"], terms["rule"], terms["refund_minor"]) == (False, "after_entry", 0)


def test_a_cancellation_refunds_the_booking_then_its_paid_charges_and_cancels_unpaid_ones(db, park):
    P.set_policy(db, park["org_id"], admin_fee_minor=FEE)
    placed = P.booked(db, park, P.stay(park, entry=P.local(park["lot"], 20, 10), exit=P.local(park["lot"], 24, 10)))
    assert placed["total_minor"] == 4500
    dearer = amend(db, Caller.service(), P.local(park["lot"], 20, 10), P.local(park["lot"], 28, 10),
                   booking_id=placed["row"]["id"])
    assert dearer["charge"]["amount_minor"] == 500
    assert P.pay(db, dearer["charge"]["order_id"]) == "fulfilled"
    dearer2 = amend(db, Caller.service(), P.local(park["lot"], 20, 10), P.local(park["lot"], 29, 10),
                    booking_id=placed["row"]["id"])
    assert dearer2["charge"]["amount_minor"] == 500  # left unpaid
    result = cancel(db, Caller.service(), booking_id=placed["row"]["id"])
    # Paid 4500 + 500: refunded 5000 - 300, the booking's own order first (in full), then the paid charge.
    assert (result["rule"], result["refund_minor"], result["fee_minor"]) == ("flexible", 4700, FEE)
    assert refunds(db, placed["order_id"]) == [(4500, "parking_cancelled", "pending")]
    assert refunds(db, dearer["charge"]["order_id"]) == [(200, "parking_cancelled", "pending")]
    assert [order_status(db, o) for o in (placed["order_id"], dearer["charge"]["order_id"],
                                          dearer2["charge"]["order_id"])] == ["refunded", "paid", "cancelled"]
    assert refunds(db, dearer2["charge"]["order_id"]) == []


# ---------------------------------------------------------------------------
# Who may cancel: every path obeys the same policy
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["guest", "customer", "staff", "manager", "owner", "service"])
def test_every_path_may_cancel_by_the_same_policy(db, park, customer, who):
    P.set_policy(db, park["org_id"], admin_fee_minor=FEE)
    request = P.stay(park, entry=P.local(park["lot"], 11, 10), exit=P.local(park["lot"], 12, 10))
    if who == "customer":
        placed = P.booked(db, park, request, caller=customer.caller, who={"name": "Cee Customer"})
        assert placed["row"]["customer_user_id"] == uuid.UUID(customer.id)
    else:
        placed = P.booked(db, park, request)
    by_id = {"booking_id": placed["row"]["id"]}
    caller, ref, by = {
        "guest": (Caller.anon(), {"reference": placed["number"], "token": placed["tracking_token"]}, "guest"),
        "customer": (customer.caller, by_id, "customer"),
        "staff": (park["people"]["staff"].caller, by_id, "staff"),
        "manager": (park["people"]["manager"].caller, by_id, "staff"),
        "owner": (park["people"]["owner"].caller, by_id, "staff"),
        "service": (Caller.service(), by_id, "service"),
    }[who]
    result = cancel(db, caller, **ref)
    assert (result["rule"], result["refund_minor"], result["fee_minor"]) == ("flexible", 1200 - FEE, FEE)
    assert refunds(db, placed["order_id"]) == [(900, "parking_cancelled", "pending")]
    assert P.booking_row(db, placed["order_id"])["cancel_reason"] == f"cancelled_by_{by}"
    audit = db.one("select actor_id, details from public.audit_log where action = 'parking.cancelled' and row_id = %s",
                   (str(placed["row"]["id"]),))
    assert audit["details"] == {"by": by, "rule": "flexible", "refund_minor": 900}
    assert audit["actor_id"] == (uuid.UUID(caller.user_id) if caller.user_id else None)


@pytest.mark.parametrize("who", ["anon", "outsider", "another customer", "rival owner", "driver", "customer's token"])
def test_anyone_else_by_id_or_with_a_wrong_token_finds_no_booking_and_changes_nothing(db, park, customer, who):
    mine = P.booked(db, park, P.stay(park, entry=P.local(park["lot"], 11, 10), exit=P.local(park["lot"], 12, 10)),
                    caller=customer.caller, who={"name": "Cee Customer"})
    guest = P.booked(db, park, P.stay(park, entry=P.local(park["lot"], 11, 10), exit=P.local(park["lot"], 12, 10)))
    other = db.user(confirmed=True)
    callers = {"anon": Caller.anon(), "outsider": park["people"]["outsider"].caller, "another customer": other.caller,
               "rival owner": park["people"]["rival_owner"].caller, "driver": park["people"]["driver"].caller}
    for target in (mine, guest):
        if who == "customer's token":
            # The right reference with another booking's token, or the right token with another reference.
            attempts = [(Caller.anon(), {"reference": target["number"], "token": (guest if target is mine else mine)
                                         ["tracking_token"]}),
                        (customer.caller, {"reference": (guest if target is mine else mine)["number"],
                                           "token": target["tracking_token"]})]
        else:
            attempts = [(callers[who], {"booking_id": target["row"]["id"]})]
        for caller, ref in attempts:
            if "reference" in ref:  # a wrong pair answers nothing, so the throttle's count is kept
                assert cancel(db, caller, **ref) is None
                assert amend(db, caller, *far(park), **ref) is None
                assert call(db, caller, "select public.parking_change_terms(null, %s, %s)", ref["reference"],
                            ref["token"]) is None
            else:
                refused(cancel(db, caller, **ref), "PT404", "booking_not_found")
                refused(amend(db, caller, *far(park), **ref), "PT404", "booking_not_found")
                refused(call(db, caller, "select public.parking_change_terms(%s)", ref["booking_id"]), "PT404",
                        "booking_not_found")
        untouched(db, target)


def test_the_change_function_answers_404_for_a_wrong_token_and_counts_it(db, park):
    """Through shared.parking.changes (the parking function's host): a wrong token is 404 booking_not_found,
    each one is counted by authorize_guest, the eleventh is 429, and the right token still opens."""
    placed = P.booked(db, park, P.stay(park, entry=P.local(park["lot"], 11, 10), exit=P.local(park["lot"], 12, 10)))
    number = placed["number"]
    for n in range(10):
        with pytest.raises(errors.DomainError) as wrong:
            changes.change(Caller.anon(), "cancel", booking_id=None, reference=number,
                           tracking_token=f"wrong-{n}-token")
        assert (wrong.value.status, wrong.value.code) == (404, "booking_not_found")
    assert db.value("select failures from private.order_lookup_failures where order_number = %s", (number,)) == 10
    with pytest.raises(errors.DomainError) as throttled:
        changes.change(Caller.anon(), "terms", booking_id=None, reference=number, tracking_token="wrong-again")
    assert (throttled.value.status, throttled.value.code) == (429, "throttled")
    untouched(db, placed)
    terms = changes.change(Caller.anon(), "terms", booking_id=None, reference=number,
                           tracking_token=placed["tracking_token"])
    assert (terms["rule"], terms["refund_minor"]) == ("flexible", 1200 - FEE)
    # By id, a stranger is 404 too, and nothing is counted.
    with pytest.raises(errors.DomainError) as stranger:
        changes.change(park["people"]["outsider"].caller, "cancel", booking_id=str(placed["row"]["id"]),
                       reference=None, tracking_token=None)
    assert (stranger.value.status, stranger.value.code) == (404, "booking_not_found")
    untouched(db, placed)


def test_a_charge_orders_reference_and_token_open_no_booking(db, park):
    placed = P.booked(db, park, P.stay(park, entry=P.local(park["lot"], 30, 10), exit=P.local(park["lot"], 31, 10)))
    charge = amend(db, Caller.service(), P.local(park["lot"], 30, 10), P.local(park["lot"], 32, 10),
                   booking_id=placed["row"]["id"])["charge"]
    refused(cancel(db, Caller.anon(), reference=charge["order_number"], token=charge["tracking_token"]), "PT404",
            "booking_not_found")
    assert P.booking_row(db, placed["order_id"])["status"] == "booked"


# ---------------------------------------------------------------------------
# Amending
# ---------------------------------------------------------------------------
def test_a_dearer_amendment_raises_a_charge_of_exactly_the_difference(db, park):
    P.set_policy(db, park["org_id"], admin_fee_minor=FEE)
    placed = P.booked(db, park, P.stay(park, entry=P.local(park["lot"], 40, 10), exit=P.local(park["lot"], 43, 10),
                                       extras=[park["ev"], park["wash"]]))
    assert placed["total_minor"] == 2700 + 3 * 300 + 1500
    result = amend(db, Caller.anon(), P.local(park["lot"], 40, 10), P.local(park["lot"], 48, 10),
                   reference=placed["number"], token=placed["tracking_token"])
    # 8 days: 4500 + 500; the EV charge is per day, 8 x 300; the wash once.
    diff = (5000 + 2400 + 1500) - (2700 + 900 + 1500)
    assert (result["difference_minor"], result["refund_minor"]) == (diff, 0)
    charge = result["charge"]
    assert (charge["reason"], charge["amount_minor"], charge["currency"]) == ("amendment", diff, "GBP")
    assert db.one("select reason, amount_minor, booking_id from public.parking_charges where order_id = %s",
                  (charge["order_id"],)) == {"reason": "amendment", "amount_minor": diff,
                                             "booking_id": placed["row"]["id"]}
    order = db.one("select kind, status, subtotal_minor, total_minor, hold_expires_at, buyer_email, number"
                   " from public.orders where id = %s", (charge["order_id"],))
    assert order == {"kind": "parking", "status": "pending", "subtotal_minor": diff, "total_minor": diff,
                     "hold_expires_at": None, "buyer_email": placed["row"]["customer_email"],
                     "number": charge["order_number"]}
    assert db.value("select array_agg(unit_price_minor * quantity) from public.order_items where order_id = %s",
                    (charge["order_id"],)) == [diff]
    row = P.booking_row(db, placed["order_id"])
    assert (row["billable_days"], row["stay_minor"], str(row["last_day"])) == (8, 5000, P.day(park["lot"], 48))
    assert {r["extra_id"]: r["price_minor"] for r in db.sql(
        "select extra_id, price_minor from public.parking_booking_extras where booking_id = %s", (row["id"],))} == {
        park["ev"]["id"]: 2400, park["wash"]["id"]: 1500}
    assert result["booking"]["balance_due_minor"] == diff
    assert refunds(db, placed["order_id"]) == [] and order_status(db, placed["order_id"]) == "paid"
    assert [r["payload"]["difference_minor"] for r in outbox(db, "parking_amended", row["id"])] == [diff]
    # The charge is paid like any order; the booking owes nothing more.
    assert P.pay(db, charge["order_id"]) == "fulfilled"
    assert call(db, Caller.anon(), "select public.lookup_parking_booking(%s, %s)", placed["number"],
                placed["tracking_token"])["balance_due_minor"] == 0


def test_a_cheaper_flexible_amendment_refunds_the_difference(db, park):
    placed = P.booked(db, park, P.stay(park, entry=P.local(park["lot"], 40, 10), exit=P.local(park["lot"], 44, 10)))
    assert placed["total_minor"] == 4500
    result = amend(db, Caller.service(), P.local(park["lot"], 41, 10), P.local(park["lot"], 43, 10),
                   booking_id=placed["row"]["id"])
    assert (result["difference_minor"], result["refund_minor"], result["charge"]) == (-2500, 2500, None)
    assert refunds(db, placed["order_id"]) == [(2500, "parking_amended", "pending")]
    assert order_status(db, placed["order_id"]) == "paid"
    assert P.booking_row(db, placed["order_id"])["status"] == "booked"
    assert db.value("select count(*) from public.parking_charges where booking_id = %s", (placed["row"]["id"],)) == 0


@pytest.mark.parametrize("cover", [False, True])
def test_a_cheaper_non_flexible_amendment_refunds_only_with_cover(db, park, cover):
    placed = P.booked(db, park, P.stay(park, product="saver", entry=P.local(park["lot"], 40, 10),
                                       exit=P.local(park["lot"], 44, 10), extras=[park["cover"]] if cover else []))
    assert placed["total_minor"] == 2800 + (499 if cover else 0)
    result = amend(db, Caller.service(), P.local(park["lot"], 40, 10), P.local(park["lot"], 40, 18),
                   booking_id=placed["row"]["id"])
    assert (result["difference_minor"], result["refund_minor"]) == (900 - 2800, 1900 if cover else 0)
    assert refunds(db, placed["order_id"]) == ([(1900, "parking_amended", "pending")] if cover else [])
    row = P.booking_row(db, placed["order_id"])
    assert (row["stay_minor"], row["billable_days"], row["cover_minor"]) == (900, 1, 499 if cover else 0)


def test_amended_days_counts_move_exactly(db, park):
    placed = P.booked(db, park, P.stay(park, entry=P.local(park["lot"], 60, 10), exit=P.local(park["lot"], 62, 10)))
    before = P.counts(db, park["lot"]["id"])
    amend(db, Caller.service(), P.local(park["lot"], 61, 10), P.local(park["lot"], 64, 10),
          booking_id=placed["row"]["id"])
    after = P.counts(db, park["lot"]["id"])
    moved = {d: (after[d][0] - before.get(d, (0, 0))[0], after[d][1] - before.get(d, (0, 0))[1])
             for d in after if after[d] != before.get(d, (0, 0))}
    assert moved == {P.day(park["lot"], 60): (-1, -1), P.day(park["lot"], 63): (1, 1), P.day(park["lot"], 64): (1, 1)}
    assert {d: n for d, (n, _) in after.items() if n} == P.live_counts(db, park["lot"]["id"])


def test_amending_inside_the_window_or_after_entry_is_refused_and_changes_nothing(db, park):
    placed = P.booked(db, park, P.stay(park, entry=P.soon(db, park["lot"], 1.5), exit=P.local(park["lot"], 3, 10)))
    days_before = stay_days(db, placed["row"])
    for caller, ref in ((Caller.anon(), {"reference": placed["number"], "token": placed["tracking_token"]}),
                        (park["people"]["owner"].caller, {"booking_id": placed["row"]["id"]}),
                        (Caller.service(), {"booking_id": placed["row"]["id"]})):
        refused(amend(db, caller, *far(park), **ref), "PT409", "amend_window_closed")
    untouched(db, placed)
    assert stay_days(db, placed["row"]) == days_before
    # A longer window in the org's policy closes earlier: 48 h before a stay five days away is still open.
    P.set_policy(db, park["org_id"], admin_fee_minor=FEE, amend_until_hours=48)
    try:
        soon = P.booked(db, park, P.stay(park, entry=P.soon(db, park["lot"], 40), exit=P.local(park["lot"], 5, 10)))
        refused(amend(db, Caller.service(), *far(park), booking_id=soon["row"]["id"]), "PT409", "amend_window_closed")
        later = P.booked(db, park, P.stay(park, entry=P.soon(db, park["lot"], 50), exit=P.local(park["lot"], 5, 10)))
        assert amend(db, Caller.service(), *far(park), booking_id=later["row"]["id"])["booking"]["status"] == "booked"
    finally:
        P.set_policy(db, park["org_id"], admin_fee_minor=FEE)
    # Held (unpaid) and scanned-in bookings are not amendable at all.
    held = P.place(db, P.stay(park, entry=P.local(park["lot"], 9, 10), exit=P.local(park["lot"], 10, 10)))
    refused(amend(db, Caller.anon(), *far(park), reference=held["number"], token=held["tracking_token"]), "PT409",
            "not_amendable")


def test_amending_onto_a_full_day_is_refused_and_keeps_the_booking_and_counts(db, park):
    lot = P.lot(db, park["org_id"], spaces=1)
    flex = P.product(db, lot, name="Park & Ride", prices=P.FLEX_PRICES, extra_day=P.FLEX_EXTRA_DAY)
    small = {**park, "lot": lot, "flex": flex}
    mine = P.booked(db, small, P.stay(small, entry=P.local(lot, 10, 10), exit=P.local(lot, 11, 10)))
    P.booked(db, small, P.stay(small, entry=P.local(lot, 13, 10), exit=P.local(lot, 13, 12)))
    before = P.counts(db, lot["id"])
    result = amend(db, Caller.anon(), P.local(lot, 11, 10), P.local(lot, 14, 10), reference=mine["number"],
                   token=mine["tracking_token"])
    refused(result, "PT409", "parking_day_full")
    assert result.diag.message_hint == f'{{"day": "{P.day(lot, 13)}"}}'
    untouched(db, mine)
    assert P.counts(db, lot["id"]) == before
    # Onto free days it moves (keeping day 11, which it already holds).
    moved = amend(db, Caller.anon(), P.local(lot, 11, 10), P.local(lot, 12, 10), reference=mine["number"],
                  token=mine["tracking_token"])
    assert (moved["difference_minor"], moved["refund_minor"]) == (0, 0)
    assert P.counts(db, lot["id"]) == {P.day(lot, 10): (0, 0), P.day(lot, 11): (1, 1), P.day(lot, 12): (1, 1),
                                       P.day(lot, 13): (1, 1)}


def test_an_amendment_is_priced_like_a_new_quote_and_refused_like_one(db, park):
    placed = P.booked(db, park, P.stay(park, entry=P.local(park["lot"], 40, 10), exit=P.local(park["lot"], 41, 10)))
    for entry, exit, code in ((P.local(park["lot"], 41, 10), P.local(park["lot"], 40, 10), "invalid_stay"),
                              ("soon", P.local(park["lot"], 41, 10), "invalid_stay"),
                              (P.local(park["lot"], 40, 10), P.local(park["lot"], 75, 10), "stay_too_long"),
                              (P.local(park["lot"], -1, 10), P.local(park["lot"], 41, 10), "stay_in_past")):
        refused(amend(db, Caller.service(), entry, exit, booking_id=placed["row"]["id"]), "PT422", code)
    untouched(db, placed)
