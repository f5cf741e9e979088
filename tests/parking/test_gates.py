"""The gates (routines/parking/gates.sql): the lot's staff scan a booking's QR code (its gate code) or
type its plate, at entry and at exit, once each, at the server's time; a late exit raises an overstay
charge at the lot's rate. Time passes by moving a booking's times into the past as superuser (P.shift),
never by faking a clock. The module's lot: overstay £25 a started day after a 30-minute grace.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest

from shared.platform.db import Caller
from tests.support import parking as P
from tests.support.pg import call, refused

DAILY = 2500
GRACE = 30


def scan(db, who, park, direction: str, *, code: str | None = None, plate: str | None = None):
    caller = who if isinstance(who, Caller) else park["people"][who].caller
    return call(db, caller, "select public.parking_gate_scan(%s, %s, %s, %s)", park["lot"]["id"], direction, code,
                plate)


def arriving(db, park, *, plate: str = "GT01 ABC", hours: float = 1) -> dict:
    """A paid booking whose entry is `hours` from now, with its gate code as the guest reads it."""
    placed = P.booked(db, park, P.stay(park, plate=plate, entry=P.soon(db, park["lot"], hours),
                                       exit=P.local(park["lot"], 4, 18)))
    looked_up = call(db, Caller.anon(), "select public.lookup_parking_booking(%s, %s)", placed["number"],
                     placed["tracking_token"])
    assert looked_up["gate_code"] == placed["row"]["gate_code"]
    return placed | {"code": looked_up["gate_code"]}


def state(db, placed) -> dict:
    return db.one("select status, entered_at, entered_by, exited_at, exited_by from public.parking_bookings"
                  " where order_id = %s", (placed["order_id"],))


def timed(db, fn):
    """fn()'s result between two readings of the database clock: the scan's server time lies between them."""
    before = db.value("select clock_timestamp()")
    result = fn()
    after = db.value("select clock_timestamp()")
    return before, result, after


def test_entry_by_qr_code_happens_once_at_the_servers_time(db, park):
    placed = arriving(db, park)
    before, result, after = timed(db, lambda: scan(db, "staff", park, "entry", code=placed["code"]))
    assert (result["result"], result["booking"]["status"], result["overstay_minor"], result["charge"]) == (
        "entered", "parked", 0, None)
    row = state(db, placed)
    assert row["status"] == "parked" and row["entered_by"] == uuid.UUID(park["people"]["staff"].id)
    assert before <= row["entered_at"] <= after
    audit = db.one("select actor_id, details from public.audit_log where action = 'parking.entry' and row_id = %s",
                   (str(placed["row"]["id"]),))
    assert audit["actor_id"] == uuid.UUID(park["people"]["staff"].id)
    assert audit["details"]["overstay_minor"] == 0
    again = scan(db, "manager", park, "entry", code=placed["code"])
    refused(again, "PT409", "already_entered")
    assert state(db, placed) == row
    assert "gate_code" not in result["booking"], "the gate answer never shows the code"


def test_entry_by_plate_reads_it_as_the_gates_do_and_takes_the_nearest_stay(db, park):
    later = P.booked(db, park, P.stay(park, plate="AB12CDE", entry=P.local(park["lot"], 12, 9),
                                      exit=P.local(park["lot"], 14, 9)))
    placed = arriving(db, park, plate="AB12CDE")
    assert placed["row"]["plate"] == later["row"]["plate"] == "AB12CDE"
    result = scan(db, "staff", park, "entry", plate="ab12 cde")
    assert (result["booking"]["id"], result["booking"]["plate"]) == (str(placed["row"]["id"]), "AB12CDE")
    assert state(db, placed)["status"] == "parked"
    assert state(db, later)["status"] == "booked"
    # Once in, the plate no longer matches a stay waiting to enter but the later one (too early yet).
    refused(scan(db, "staff", park, "entry", plate=" Ab12-Cde "), "PT409", "too_early")
    assert state(db, later)["status"] == "booked"
    refused(scan(db, "staff", park, "entry", plate="NO SUCH"), "PT404", "booking_not_found")
    refused(scan(db, "staff", park, "entry", plate="!"), "PT404", "booking_not_found")


def test_a_car_more_than_two_hours_early_or_after_its_stay_is_turned_away(db, park):
    early = arriving(db, park, plate="ER12 LY", hours=3)
    refused(scan(db, "staff", park, "entry", code=early["code"]), "PT409", "too_early")
    assert state(db, early) == {"status": "booked", "entered_at": None, "entered_by": None, "exited_at": None,
                                "exited_by": None}
    ok = arriving(db, park, plate="ER12 LZ", hours=1.9)
    assert scan(db, "staff", park, "entry", code=ok["code"])["result"] == "entered"
    over = arriving(db, park, plate="OV12 ER")
    P.shift(db, over["row"]["id"], entry=-timedelta(days=2), exit=-timedelta(minutes=5))
    refused(scan(db, "staff", park, "entry", code=over["code"]), "PT409", "stay_over")
    assert state(db, over)["status"] == "booked"


def test_unpaid_and_cancelled_bookings_do_not_open_the_gate(db, park):
    held = P.place(db, P.stay(park, plate="HE11 LD", entry=P.soon(db, park["lot"], 1), exit=P.local(park["lot"], 3, 9)))
    code = P.booking_row(db, held["order_id"])["gate_code"]
    refused(scan(db, "staff", park, "entry", code=code), "PT409", "not_booked")
    refused(scan(db, "staff", park, "entry", plate="HE11LD"), "PT404", "booking_not_found")
    gone = arriving(db, park, plate="CA11 CEL")
    call(db, Caller.service(), "select public.cancel_parking_booking(%s)", gone["row"]["id"])
    refused(scan(db, "staff", park, "entry", code=gone["code"]), "PT409", "not_booked")
    assert P.booking_row(db, held["order_id"])["status"] == "held" and state(db, gone)["status"] == "cancelled"


def test_exit_happens_once_and_only_after_entry(db, park):
    placed = arriving(db, park, plate="EX17 ONE")
    refused(scan(db, "staff", park, "exit", code=placed["code"]), "PT409", "not_parked")
    refused(scan(db, "staff", park, "exit", plate="EX17ONE"), "PT404", "booking_not_found")
    assert state(db, placed)["status"] == "booked"
    scan(db, "staff", park, "entry", code=placed["code"])
    before, result, after = timed(db, lambda: scan(db, "admin", park, "exit", plate="ex17 one"))
    assert (result["result"], result["booking"]["status"], result["overstay_minor"], result["charge"],
            result["balance_due_minor"]) == ("exited", "exited", 0, None, 0)
    row = state(db, placed)
    assert row["status"] == "exited" and before <= row["exited_at"] <= after
    assert row["exited_by"] == uuid.UUID(park["people"]["admin"].id)
    refused(scan(db, "staff", park, "exit", code=placed["code"]), "PT409", "already_exited")
    refused(scan(db, "staff", park, "entry", code=placed["code"]), "PT409", "already_entered")
    assert state(db, placed) == row
    # Its days still count: the stay happened.
    assert P.live_counts(db, park["lot"]["id"])[str(placed["row"]["first_day"])] >= 1


# (minutes past the booked exit, started days charged)
OVERSTAYS = [
    (GRACE - 10, 0),          # within the grace
    (GRACE + 1, 1),           # a minute past it
    (23 * 60, 1),
    (25 * 60, 2),
    (49 * 60, 3),
]


@pytest.mark.parametrize(("late", "days"), OVERSTAYS, ids=[f"{m}min" for m, _ in OVERSTAYS])
def test_a_late_exit_raises_an_overstay_charge_per_started_day(db, park, late, days):
    placed = arriving(db, park, plate=f"OS{late % 100:02}{days}AB")
    scan(db, "staff", park, "entry", code=placed["code"])
    P.shift(db, placed["row"]["id"], entry=-timedelta(days=4), exit=-timedelta(minutes=late))
    result = scan(db, "staff", park, "exit", code=placed["code"])
    owed = days * DAILY
    assert (result["result"], result["overstay_minor"], result["balance_due_minor"]) == ("exited", owed, owed)
    charges = db.sql("select c.reason, c.amount_minor, o.status, o.total_minor, o.kind, o.hold_expires_at"
                     " from public.parking_charges c join public.orders o on o.id = c.order_id"
                     " where c.booking_id = %s", (placed["row"]["id"],))
    if days == 0:
        assert result["charge"] is None and charges == []
        return
    assert charges == [{"reason": "overstay", "amount_minor": owed, "status": "pending", "total_minor": owed,
                        "kind": "parking", "hold_expires_at": None}]
    assert (result["charge"]["reason"], result["charge"]["amount_minor"]) == ("overstay", owed)
    assert db.value("select details ->> 'overstay_minor' from public.audit_log where action = 'parking.exit'"
                    " and row_id = %s", (str(placed["row"]["id"]),)) == str(owed)
    # Paid like any order (here at the provider), the balance is settled.
    assert P.pay(db, result["charge"]["order_id"]) == "fulfilled"
    looked_up = call(db, Caller.anon(), "select public.lookup_parking_booking(%s, %s)", placed["number"],
                     placed["tracking_token"])
    assert (looked_up["status"], looked_up["balance_due_minor"]) == ("exited", 0)
    assert [c["status"] for c in looked_up["charges"]] == ["paid"]


def test_a_lot_without_an_overstay_rate_charges_nothing(db, park):
    lot = P.lot(db, park["org_id"], overstay_daily=0)
    flex = P.product(db, lot, name="Park & Ride", prices=P.FLEX_PRICES, extra_day=P.FLEX_EXTRA_DAY)
    free = {**park, "lot": lot, "flex": flex}
    placed = P.booked(db, free, P.stay(free, plate="FR33", entry=P.soon(db, lot, 1), exit=P.local(lot, 3, 9)))
    scan(db, "staff", free, "entry", code=placed["row"]["gate_code"])
    P.shift(db, placed["row"]["id"], entry=-timedelta(days=4), exit=-timedelta(days=2))
    result = scan(db, "staff", free, "exit", code=placed["row"]["gate_code"])
    assert (result["overstay_minor"], result["charge"]) == (0, None)
    assert db.value("select count(*) from public.parking_charges where booking_id = %s", (placed["row"]["id"],)) == 0


@pytest.mark.parametrize("who", ["owner", "admin", "manager", "staff", "service"])
def test_the_lots_team_and_the_service_role_may_scan(db, park, who):
    placed = arriving(db, park, plate=f"TM{len(who)}{who[:3].upper()}")
    caller = Caller.service() if who == "service" else who
    assert scan(db, caller, park, "entry", code=placed["code"])["result"] == "entered"
    assert scan(db, caller, park, "exit", code=placed["code"])["result"] == "exited"
    row = state(db, placed)
    expected = None if who == "service" else uuid.UUID(park["people"][who].id)
    assert (row["entered_by"], row["exited_by"]) == (expected, expected)


@pytest.mark.parametrize("who", ["driver", "dispatcher", "affiliate", "outsider", "rival_owner", "customer"])
def test_nobody_else_may_scan(db, park, who):
    placed = arriving(db, park, plate="NO7 ALLO")
    if who == "customer":  # even with their own booking's code
        customer = db.user(confirmed=True)
        placed = P.booked(db, park, P.stay(park, plate="NO7 MINE", entry=P.soon(db, park["lot"], 1),
                                           exit=P.local(park["lot"], 3, 9)), caller=customer.caller,
                          who={"name": "Cee"})
        caller, code = customer.caller, placed["row"]["gate_code"]
    else:
        caller, code = park["people"][who].caller, placed["code"]
    for direction in ("entry", "exit"):
        refused(scan(db, caller, park, direction, code=code), "PT404", "lot_not_found")
        refused(scan(db, caller, park, direction, plate=placed["row"]["plate"]), "PT404", "lot_not_found")
    denied = scan(db, Caller.anon(), park, "entry", code=code)
    assert isinstance(denied, psycopg.errors.InsufficientPrivilege), denied
    assert state(db, placed) == {"status": "booked", "entered_at": None, "entered_by": None, "exited_at": None,
                                 "exited_by": None}


def test_a_code_scanned_at_another_lot_or_a_bad_direction_is_refused(db, park):
    placed = arriving(db, park, plate="AN07 HER")
    other = {**park, "lot": P.lot(db, park["org_id"])}
    refused(scan(db, "staff", other, "entry", code=placed["code"]), "PT404", "booking_not_found")
    refused(scan(db, "staff", other, "entry", plate="AN07HER"), "PT404", "booking_not_found")
    refused(scan(db, "staff", park, "sideways", code=placed["code"]), "PT422", "invalid_direction")
    refused(scan(db, "staff", park, "entry", code="not-a-gate-code"), "PT404", "booking_not_found")
    refused(scan(db, "staff", park, "entry"), "PT404", "booking_not_found")
    refused(call(db, park["people"]["staff"].caller, "select public.parking_gate_scan(%s, 'entry', %s)",
                 uuid.uuid4(), placed["code"]), "PT404", "lot_not_found")
    assert state(db, placed)["status"] == "booked"
