"""Pricing a stay (routines/parking/pricing.sql): length-of-stay rows, billable days by the product's
rule on the lot's wall clock (across both clock changes too), entry-date overrides, extras, how the
customer's times are read, who may ask, and every refusal.

The module's car park (tests/support/parking.py): "flex" per 24 h {1: 1200, 2: 2000, 3: 2700,
7: 4500} + 500 a day beyond, up to 30 days; "saver" per calendar day {1: 900, 4: 2400} + 400 a day,
up to 21 days; a wash (1500 once), an EV charge (300 a day), cancellation cover (499 once).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from shared.platform.db import Caller
from tests.support import parking as P
from tests.support.pg import call, refused


def at(park, days: int, hour: int, minute: int = 0) -> str:
    return P.local(park["lot"], days, hour, minute)


def quoted(db, park, product: str, entry: str, exit: str, extras=(), caller: Caller | None = None) -> dict:
    result = P.quote(db, park, P.stay(park, product=product, entry=entry, exit=exit, extras=extras), caller)
    assert isinstance(result, dict), result
    return result


def written(db) -> tuple[int, int, int]:
    return (db.value("select count(*) from public.orders"), db.value("select count(*) from public.parking_bookings"),
            db.value("select count(*) from public.parking_days"))


# (product, entry (days from today, hour, minute), exit (days, hour, minute), billable days, stay price)
LENGTHS = [
    # per 24 h, on the lot's wall clock: exact rows
    ("flex", (10, 10, 0), (11, 10, 0), 1, 1200),
    ("flex", (10, 10, 0), (12, 10, 0), 2, 2000),
    ("flex", (10, 10, 0), (13, 10, 0), 3, 2700),
    ("flex", (10, 10, 0), (17, 10, 0), 7, 4500),
    # between rows: the next longer row
    ("flex", (10, 10, 0), (14, 10, 0), 4, 4500),
    ("flex", (10, 10, 0), (16, 9, 0), 6, 4500),
    # beyond the longest: +500 for each day past 7
    ("flex", (10, 10, 0), (18, 10, 0), 8, 5000),
    ("flex", (10, 10, 0), (20, 10, 0), 10, 6000),
    ("flex", (10, 10, 0), (40, 10, 0), 30, 4500 + 23 * 500),
    # every started 24 hours
    ("flex", (10, 10, 0), (10, 10, 30), 1, 1200),
    ("flex", (10, 10, 0), (11, 10, 1), 2, 2000),
    ("flex", (10, 23, 0), (11, 1, 0), 1, 1200),
    # per calendar day: each local date parked on
    ("saver", (10, 8, 0), (10, 20, 0), 1, 900),
    ("saver", (10, 23, 0), (11, 1, 0), 2, 2400),
    ("saver", (10, 0, 0), (13, 23, 59), 4, 2400),
    ("saver", (10, 10, 0), (14, 10, 0), 5, 2800),
    ("saver", (10, 10, 0), (30, 10, 0), 21, 2400 + 17 * 400),
]


@pytest.mark.parametrize(("product", "entry", "exit", "days", "price"), LENGTHS,
                         ids=[f"{p}-{e[0]}d{e[1]:02}{e[2]:02}-{x[0]}d{x[1]:02}{x[2]:02}" for p, e, x, *_ in LENGTHS])
def test_length_of_stay_price(db, park, product, entry, exit, days, price):
    q = quoted(db, park, product, at(park, *entry), at(park, *exit))
    assert (q["billable_days"], q["stay_minor"], q["extras_minor"], q["cover_minor"], q["total_minor"]) == (
        days, price, 0, 0, price)
    description = f"{park[product]['name']}, {days} {'day' if days == 1 else 'days'}"
    assert q["lines"] == [{"kind": "stay", "description": description, "amount_minor": price, "days": days,
                           "base_minor": price, "override_percent": None}]
    assert (q["first_day"], q["last_day"]) == (P.day(park["lot"], entry[0]), P.day(park["lot"], exit[0]))
    assert (q["currency"], q["flexible"], q["timezone"]) == ("GBP", product == "flex", "Europe/London")


def test_a_quote_reads_wall_clock_times_in_the_lots_zone_and_takes_offsets_as_instants(db, park):
    london = ZoneInfo("Europe/London")
    entry_wall, exit_wall = at(park, 20, 6, 30), at(park, 22, 6, 30)
    entry_instant = datetime.fromisoformat(entry_wall).replace(tzinfo=london)
    wall = quoted(db, park, "flex", entry_wall, exit_wall)
    assert datetime.fromisoformat(wall["entry_instant"]) == entry_instant
    assert wall["entry_at"] == entry_instant.isoformat()  # "…T06:30:00+01:00" or "+00:00", the lot's offset that day
    # The same instants written in UTC and in another offset: the same stay.
    in_utc = quoted(db, park, "flex", entry_instant.astimezone(ZoneInfo("UTC")).isoformat(),
                    datetime.fromisoformat(exit_wall).replace(tzinfo=london).astimezone(ZoneInfo("UTC"))
                    .strftime("%Y-%m-%dT%H:%MZ"))
    assert {k: in_utc[k] for k in ("entry_instant", "exit_instant", "entry_at", "billable_days", "stay_minor")} == {
        k: wall[k] for k in ("entry_instant", "exit_instant", "entry_at", "billable_days", "stay_minor")}
    # 06:30 at UTC+05:00 is 01:30 UTC: read as that instant, shown on the lot's clock.
    plus_five = quoted(db, park, "flex", entry_wall + "+05:00", exit_wall)
    instant = datetime.fromisoformat(entry_wall + "+05:00")
    assert datetime.fromisoformat(plus_five["entry_instant"]) == instant
    assert plus_five["entry_at"] == instant.astimezone(london).isoformat()
    # 01:30 UTC to 06:30 two days later on the lot's wall clock: 2 days and 5 (or 4) hours -> 3 days.
    assert (plus_five["billable_days"], plus_five["stay_minor"]) == (3, 2700)
    assert (wall["billable_days"], wall["stay_minor"]) == (2, 2000)


@pytest.mark.parametrize("change", ["spring", "autumn"])
def test_a_stay_across_the_next_clock_change_costs_its_wall_clock_length(db, park, change):
    """Noon to noon over the night the clocks change is 23 (spring) or 25 (autumn) real hours, one day on
    the car park's clock; a minute more is two. Calendar days count dates, whatever the clocks do."""
    day = P.clock_changes("Europe/London", P.today_at(park["lot"]) + timedelta(days=2))[change]
    eve = (day - P.today_at(park["lot"])).days - 1
    q = quoted(db, park, "flex", at(park, eve, 12), at(park, eve + 1, 12))
    real = datetime.fromisoformat(q["exit_instant"]) - datetime.fromisoformat(q["entry_instant"])
    assert real == timedelta(hours=23 if change == "spring" else 25)
    assert (q["billable_days"], q["stay_minor"]) == (1, 1200)
    assert (q["first_day"], q["last_day"]) == (str(day - timedelta(days=1)), str(day))
    assert q["entry_at"][-6:] == ("+00:00" if change == "spring" else "+01:00")
    assert q["exit_at"][-6:] == ("+01:00" if change == "spring" else "+00:00")
    assert quoted(db, park, "flex", at(park, eve, 12), at(park, eve + 1, 12, 1))["billable_days"] == 2
    # A whole week over the change is still 7 days, not 7 days and an hour (spring: 6 days 23 hours is 7 too).
    assert quoted(db, park, "flex", at(park, eve - 3, 9), at(park, eve + 4, 9))["stay_minor"] == 4500
    # Calendar days: 23:00 the evening before to 01:00 after the change is two dates.
    saver = quoted(db, park, "saver", at(park, eve, 23), at(park, eve + 1, 3))
    assert (saver["billable_days"], saver["stay_minor"]) == (2, 2400)


def test_an_override_scales_stays_entering_in_its_dates_rounding_half_up(db, park):
    lot = park["lot"]
    # A product whose prices make the percentages land on half a penny.
    mg = P.product(db, lot, name="Meet & Greet", service="meet_and_greet", prices={1: 1250, 2: 2450}, extra_day=1050)
    first, last = P.today_at(lot) + timedelta(days=50), P.today_at(lot) + timedelta(days=56)
    with db.as_user(park["people"]["owner"]) as cur:
        cur.execute("insert into public.parking_price_overrides (org_id, product_id, first_day, last_day, percent,"
                    " note) values (%s, %s, %s, %s, 101, 'Half term')", (lot["org_id"], mg["id"], first, last))
    request = {**P.stay(park), "product_id": str(mg["id"])}

    def price(entry: str, exit: str) -> tuple[int, int, int | None]:
        q = P.quote(db, park, {**request, "entry": entry, "exit": exit})
        assert isinstance(q, dict), q
        return q["stay_minor"], q["lines"][0]["base_minor"], q["lines"][0]["override_percent"]

    assert price(at(park, 50, 9), at(park, 51, 9)) == (1263, 1250, 101)     # 1262.5 -> 1263
    assert price(at(park, 56, 9), at(park, 58, 9)) == (2475, 2450, 101)     # 2474.5 -> 2475; entering on last_day
    assert price(at(park, 55, 9), at(park, 58, 9)) == (3535, 3500, 101)     # 2450 + 1050 beyond the longest row
    assert price(at(park, 49, 9), at(park, 51, 9)) == (2450, 2450, None)    # entering the day before: no override
    assert price(at(park, 57, 9), at(park, 58, 9)) == (1250, 1250, None)    # the day after
    db.sql("update public.parking_price_overrides set percent = 99 where product_id = %s", (mg["id"],))
    assert price(at(park, 50, 9), at(park, 51, 9)) == (1238, 1250, 99)      # 1237.5 -> 1238
    db.sql("update public.parking_price_overrides set percent = 0 where product_id = %s", (mg["id"],))
    assert price(at(park, 50, 9), at(park, 51, 9)) == (0, 1250, 0)


def test_overlapping_overrides_of_one_product_are_refused_by_the_exclusion_constraint(db, park):
    lot = park["lot"]
    product = P.product(db, lot, name="Valet", service="valet", prices={1: 3000}, extra_day=2000)
    other = P.product(db, lot, name="On airport", service="on_airport", prices={1: 3000}, extra_day=2000)
    today = P.today_at(lot)

    def override(product_row, first: int, last: int):
        return call(db, park["people"]["owner"].caller,
                    "insert into public.parking_price_overrides (org_id, product_id, first_day, last_day, percent)"
                    " values (%s, %s, %s, %s, 120) returning percent",
                    lot["org_id"], product_row["id"], today + timedelta(days=first), today + timedelta(days=last))

    assert override(product, 60, 66) == 120
    for first, last in ((66, 70), (55, 60), (62, 63), (50, 80)):
        clash = override(product, first, last)
        assert isinstance(clash, psycopg.errors.ExclusionViolation), clash
        assert clash.diag.constraint_name == "parking_price_overrides_product_id_daterange_excl"
    assert override(product, 67, 70) == 120, "the next day on is free"
    assert override(other, 60, 66) == 120, "another product's dates are its own"
    assert db.value("select count(*) from public.parking_price_overrides where product_id = %s", (product["id"],)) == 2


def test_extras_cost_once_or_per_billable_day_and_cover_is_counted_apart(db, park):
    q = quoted(db, park, "flex", at(park, 10, 6, 30), at(park, 13, 22),
               extras=(park["wash"], park["ev"], park["cover"]))
    assert (q["billable_days"], q["stay_minor"]) == (4, 4500)
    assert [(line["kind"], line["description"], line["amount_minor"]) for line in q["lines"]] == [
        ("stay", "Park & Ride, 4 days", 4500), ("wash", "Valet wash", 1500), ("ev_charge", "EV charge", 4 * 300),
        ("cancellation_cover", "Cancellation cover", 499)]
    assert (q["extras_minor"], q["cover_minor"], q["total_minor"]) == (1500 + 1200 + 499, 499, 4500 + 3199)
    # Asked twice, an extra is bought once; per day follows the product's billable days.
    twice = quoted(db, park, "saver", at(park, 10, 23), at(park, 11, 1), extras=(park["ev"], park["ev"]))
    assert [(line["kind"], line["amount_minor"]) for line in twice["lines"]] == [("stay", 2400), ("ev_charge", 600)]
    assert (twice["extras_minor"], twice["cover_minor"], twice["total_minor"]) == (600, 0, 3000)


def test_anyone_may_quote_and_read_availability(db, park):
    request = P.stay(park, entry=at(park, 30, 9), exit=at(park, 32, 9))
    for caller in (Caller.anon(), park["people"]["outsider"].caller, park["people"]["rival_owner"].caller):
        q = P.quote(db, park, request, caller)
        assert (q["stay_minor"], q["available"]) == (2000, True)
        assert q["days"] == [{"day": P.day(park["lot"], n), "spaces_left": 50, "closed": False} for n in (30, 31, 32)]
    rows = db.attempt(Caller.anon(), "select * from public.parking_availability(%s, %s, %s)",
                      (park["lot"]["id"], P.day(park["lot"], 30), P.day(park["lot"], 31)))
    assert [(str(r["day"]), r["spaces_left"], r["closed"]) for r in rows] == [
        (P.day(park["lot"], 30), 50, False), (P.day(park["lot"], 31), 50, False)]
    refused(call(db, Caller.anon(), "select count(*) from public.parking_availability(%s, %s, %s)",
                 park["lot"]["id"], P.day(park["lot"], 31), P.day(park["lot"], 30)), "PT422", "invalid_dates")
    refused(call(db, Caller.anon(), "select count(*) from public.parking_availability(%s, %s, %s)",
                 uuid.uuid4(), P.day(park["lot"], 30), P.day(park["lot"], 31)), "PT404", "lot_not_found")


BAD_TIMES = [
    ("exit before entry", (12, 10, 0), (11, 10, 0)),
    ("exit at entry", (12, 10, 0), (12, 10, 0)),
]
MALFORMED = ["tomorrow", "", "2027-13-01T10:00", "2027-02-30T10:00", "2027-01-09", "2027-01-09T25:00",
             "2027-01-09T10:00+25:00", "09/01/2027 10:00", "2027-01-09T10:00; drop table x"]


@pytest.mark.parametrize(("name", "entry", "exit"), BAD_TIMES, ids=[b[0] for b in BAD_TIMES])
def test_an_exit_not_after_the_entry_is_an_invalid_stay(db, park, name, entry, exit):
    before = written(db)
    refused(P.quote(db, park, P.stay(park, entry=at(park, *entry), exit=at(park, *exit))), "PT422", "invalid_stay")
    refused(P.place(db, P.stay(park, entry=at(park, *entry), exit=at(park, *exit))), "PT422", "invalid_stay")
    assert written(db) == before


@pytest.mark.parametrize("text", MALFORMED)
def test_a_malformed_time_is_an_invalid_stay(db, park, text):
    before = written(db)
    refused(P.quote(db, park, P.stay(park, entry=text, exit=at(park, 12, 10))), "PT422", "invalid_stay")
    refused(P.quote(db, park, P.stay(park, entry=at(park, 12, 10), exit=text)), "PT422", "invalid_stay")
    refused(P.place(db, P.stay(park, entry=text, exit=at(park, 12, 10))), "PT422", "invalid_stay")
    assert written(db) == before


def test_a_missing_time_is_an_invalid_stay(db, park):
    refused(call(db, Caller.anon(), "select public.quote_parking(%s, %s, null, %s)", park["lot"]["id"],
                 park["flex"]["id"], at(park, 12, 10)), "PT422", "invalid_stay")


def test_too_long_too_far_ahead_and_past_stays_are_refused(db, park):
    before = written(db)
    cases = [
        (at(park, 10, 10), at(park, 40, 10, 1), "flex", "stay_too_long"),      # 31 days of at most 30
        (at(park, 10, 10), at(park, 31, 10), "saver", "stay_too_long"),        # 22 dates of at most 21
        (at(park, 2 * 366, 10), at(park, 2 * 366 + 1, 10), "flex", "stay_too_long"),  # entry beyond two years
        (at(park, -1, 10), at(park, 1, 10), "flex", "stay_in_past"),
        (P.soon(db, park["lot"], -1), at(park, 1, 10), "flex", "stay_in_past"),
    ]
    for entry, exit, product, code in cases:
        refused(P.quote(db, park, P.stay(park, product=product, entry=entry, exit=exit)), "PT422", code)
        refused(P.place(db, P.stay(park, product=product, entry=entry, exit=exit)), "PT422", code)
    assert written(db) == before
    # The limits themselves are bookable: 30 days, 21 dates, an entry a few minutes ago, 700 days ahead.
    assert quoted(db, park, "flex", at(park, 10, 10), at(park, 40, 10))["billable_days"] == 30
    assert quoted(db, park, "saver", at(park, 10, 10), at(park, 30, 10))["billable_days"] == 21
    assert quoted(db, park, "flex", P.soon(db, park["lot"], -0.1), at(park, 2, 10))["billable_days"] >= 2
    assert quoted(db, park, "flex", at(park, 700, 10), at(park, 701, 10))["stay_minor"] == 1200


def test_unknown_inactive_or_foreign_lots_products_and_extras_are_refused(db, park):
    lot = park["lot"]
    before = written(db)
    other_lot = P.lot(db, lot["org_id"])
    other_product = P.product(db, other_lot, name="Elsewhere", prices={1: 100}, extra_day=0)
    other_extra = P.extra(db, other_lot, kind="wash", name="Elsewhere wash", price=100)
    retired = P.product(db, lot, name="Retired", prices={1: 100}, extra_day=0)
    db.sql("update public.parking_products set active = false where id = %s", (retired["id"],))
    old_extra = P.extra(db, lot, kind="other", name="Retired extra", price=100)
    db.sql("update public.parking_extras set active = false where id = %s", (old_extra["id"],))
    closed_lot = P.lot(db, lot["org_id"])
    closed_product = P.product(db, closed_lot, name="Closed", prices={1: 100}, extra_day=0)
    db.sql("update public.parking_lots set active = false where id = %s", (closed_lot["id"],))
    unpriced = P.product(db, lot, name="Unpriced", prices={}, extra_day=0)
    base = P.stay(park, entry=at(park, 10, 10), exit=at(park, 11, 10))
    cases = [
        ({"lot_id": str(uuid.uuid4())}, "PT404", "lot_not_found"),
        ({"lot_id": str(closed_lot["id"]), "product_id": str(closed_product["id"])}, "PT404", "lot_not_found"),
        ({"product_id": str(uuid.uuid4())}, "PT404", "product_not_found"),
        ({"product_id": str(retired["id"])}, "PT404", "product_not_found"),
        ({"product_id": str(other_product["id"])}, "PT404", "product_not_found"),
        ({"product_id": str(unpriced["id"])}, "PT404", "product_not_found"),
        ({"extras": [str(uuid.uuid4())]}, "PT422", "unknown_extra"),
        ({"extras": [str(other_extra["id"])]}, "PT422", "unknown_extra"),
        ({"extras": [str(park["wash"]["id"]), str(old_extra["id"])]}, "PT422", "unknown_extra"),
    ]
    before = written(db)
    for change, state, code in cases:
        refused(P.quote(db, park, base | change), state, code)
        refused(P.place(db, base | change), state, code)
    assert written(db) == before
    refused(P.place(db, base | {"extras": ["not-a-uuid"]}), "PT422", "unknown_extra")
    refused(P.place(db, base | {"lot_id": "not-a-uuid"}), "PT404", "lot_not_found")
    assert written(db) == before
