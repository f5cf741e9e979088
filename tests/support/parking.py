"""An airport car park to test against: a team (one member per role), a lot, a flexible and a
non-flexible product with length-of-stay prices, extras, and helpers to quote, book, pay and
expire as any caller. Times are the lot's wall clock, relative to today at the lot (`local`) or to
the database's now() (`soon`); a booking is moved in time by `shift` (superuser), never a clock."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from psycopg.types.json import Jsonb

from shared.platform.db import Caller
from tests.support import factories
from tests.support.pg import call  # noqa: F401  re-exported for the tests

# Flexible "Park & Ride", per 24 h: 1 day £12, 2 £20, 3 £27, 7 £45, then £5 a day.
FLEX_PRICES = {1: 1200, 2: 2000, 3: 2700, 7: 4500}
FLEX_EXTRA_DAY = 500
# Non-flexible "Saver", per calendar day: 1 day £9, 4 £24, then £4 a day.
SAVER_PRICES = {1: 900, 4: 2400}
SAVER_EXTRA_DAY = 400


def lot(db, org_id, *, spaces: int = 50, share: int = 100, timezone: str = "Europe/London",
        overstay_daily: int = 2500, grace: int = 30) -> dict:
    return db.one("insert into public.parking_lots (org_id, name, iata_code, address, timezone, transfer_minutes,"
                  " amenities, default_spaces, online_share_percent, overstay_daily_minor, overstay_grace_minutes)"
                  " values (%s, 'Bookwell Parking T5', 'LHR', 'Bath Road, Heathrow', %s, 10, '{cctv,shuttle}',"
                  " %s, %s, %s, %s) returning *", (org_id, timezone, spaces, share, overstay_daily, grace))


def product(db, lot_row, *, name: str, service: str = "park_and_ride", flexible: bool = True,
            billing: str = "per_24h", prices: dict[int, int], extra_day: int, max_days: int = 30) -> dict:
    row = db.one("insert into public.parking_products (org_id, lot_id, name, service, flexible, billing,"
                 " extra_day_minor, max_days) values (%s, %s, %s, %s, %s, %s, %s, %s) returning *",
                 (lot_row["org_id"], lot_row["id"], name, service, flexible, billing, extra_day, max_days))
    for days, price in prices.items():
        db.sql("insert into public.parking_prices (product_id, org_id, days, price_minor) values (%s, %s, %s, %s)",
               (row["id"], lot_row["org_id"], days, price))
    return row


def extra(db, lot_row, *, kind: str, name: str, price: int, per_day: bool = False) -> dict:
    return db.one("insert into public.parking_extras (org_id, lot_id, kind, name, price_minor, per_day)"
                  " values (%s, %s, %s, %s, %s, %s) returning *",
                  (lot_row["org_id"], lot_row["id"], kind, name, price, per_day))


def car_park(db, *, spaces: int = 50, share: int = 100, timezone: str = "Europe/London") -> dict:
    team = factories.team(db)
    org = team["org"]
    the_lot = lot(db, org["id"], spaces=spaces, share=share, timezone=timezone)
    return {**team, "org_id": org["id"], "lot": the_lot,
            "flex": product(db, the_lot, name="Park & Ride", prices=FLEX_PRICES, extra_day=FLEX_EXTRA_DAY),
            "saver": product(db, the_lot, name="Saver", flexible=False, billing="calendar_days",
                             prices=SAVER_PRICES, extra_day=SAVER_EXTRA_DAY, max_days=21),
            "wash": extra(db, the_lot, kind="wash", name="Valet wash", price=1500),
            "ev": extra(db, the_lot, kind="ev_charge", name="EV charge", price=300, per_day=True),
            "cover": extra(db, the_lot, kind="cancellation_cover", name="Cancellation cover", price=499)}


def today_at(lot_row) -> date:
    return datetime.now(ZoneInfo(lot_row["timezone"])).date()


def local(lot_row, days: int, hour: int, minute: int = 0) -> str:
    """The lot's wall clock `days` from today there, at hour:minute: "2027-01-09T06:30"."""
    return datetime.combine(today_at(lot_row) + timedelta(days=days), time(hour, minute)).isoformat(timespec="minutes")


def stay(park: dict, *, product: str = "flex", entry: str | None = None, exit: str | None = None,
         plate: str = "AB12 CDE", extras=(), **more) -> dict:
    return {"lot_id": str(park["lot"]["id"]), "product_id": str(park[product]["id"]),
            "entry": local(park["lot"], 10, 6, 30) if entry is None else entry,
            "exit": local(park["lot"], 13, 22) if exit is None else exit,
            "plate": plate, "make": "Volvo", "model": "V60", "colour": "Blue", "outbound_flight": "BA 2490",
            "return_flight": "ba2491", "passengers": 2, "extras": [str(e["id"]) for e in extras], **more}


def soon(db, lot_row, hours: float) -> str:
    """The lot's wall clock `hours` after the database's now(), to the minute: "2027-01-09T06:30"."""
    return db.value("select to_char((now() + make_interval(secs => %s)) at time zone %s, 'YYYY-MM-DD\"T\"HH24:MI')",
                    (hours * 3600, lot_row["timezone"]))


def later(wall_clock: str, **delta) -> str:
    """A wall-clock time plus a wall-clock delta (days=2: the same time two days on, whatever the clocks do)."""
    return (datetime.fromisoformat(wall_clock) + timedelta(**delta)).isoformat(timespec="minutes")


def shift(db, booking_id, *, entry: timedelta, exit: timedelta) -> dict:
    """Move a booking (as superuser) to entry/exit = the database's now() plus these, its days following in
    the lot's timezone (the counts trigger moves the day counts): how the tests let time pass."""
    return db.one("update public.parking_bookings b set entry_at = now() + %(entry)s, exit_at = now() + %(exit)s,"
                  " first_day = ((now() + %(entry)s) at time zone l.timezone)::date,"
                  " last_day = ((now() + %(exit)s) at time zone l.timezone)::date"
                  " from public.parking_lots l where l.id = b.lot_id and b.id = %(id)s returning b.*",
                  {"entry": entry, "exit": exit, "id": booking_id})


def clock_changes(timezone: str, after: date, within_days: int = 730) -> dict[str, date]:
    """The first local dates after `after` on which the zone's clocks go forward ("spring") and back
    ("autumn"), worked out with zoneinfo: the day whose midnight and next midnight have different offsets."""
    tz = ZoneInfo(timezone)
    found: dict[str, date] = {}
    for n in range(1, within_days):
        day = after + timedelta(days=n)
        before = datetime.combine(day, time(0), tz).utcoffset()
        next_midnight = datetime.combine(day + timedelta(days=1), time(0), tz).utcoffset()
        if before != next_midnight:
            found.setdefault("spring" if next_midnight > before else "autumn", day)
        if len(found) == 2:
            return found
    return found


def set_policy(db, org_id, **values) -> dict:
    """The org's parking policy row, written (as superuser) with these values and the defaults for the rest."""
    columns = {"cancel_until_hours": 24, "admin_fee_minor": 0, "amend_until_hours": 2, "hold_minutes": 15} | values
    return db.one("insert into public.parking_policies (org_id, cancel_until_hours, admin_fee_minor,"
                  " amend_until_hours, hold_minutes) values (%(org)s, %(cancel_until_hours)s, %(admin_fee_minor)s,"
                  " %(amend_until_hours)s, %(hold_minutes)s) on conflict (org_id) do update"
                  " set cancel_until_hours = excluded.cancel_until_hours, admin_fee_minor = excluded.admin_fee_minor,"
                  " amend_until_hours = excluded.amend_until_hours, hold_minutes = excluded.hold_minutes returning *",
                  {"org": org_id, **columns})


def buyer(email: str | None = None, **more) -> dict:
    return {"email": email or f"pat-{uuid.uuid4().hex[:8]}@example.com", "name": "Pat Parker", **more}


def quote(db, park: dict, request: dict, caller: Caller | None = None):
    return call(db, caller or Caller.anon(), "select public.quote_parking(%s, %s, %s, %s, %s)",
                request["lot_id"], request["product_id"], request["entry"], request["exit"],
                request.get("extras") or [])


def place(db, request: dict, *, caller: Caller | None = None, who: dict | None = None, promo: str | None = None,
          key: str | None = None, request_hash: str = "h"):
    return call(db, caller or Caller.anon(), "select private.place_parking_order(%s, %s, %s, %s, %s)",
                Jsonb(request), Jsonb(who if who is not None else buyer()), promo, key, request_hash)


def pay(db, order_id) -> str:
    """The order paid at Stripe, as the webhook records it; returns record_payment's outcome."""
    total, currency = db.one("select total_minor, currency from public.orders where id = %s", (order_id,)).values()
    return db.value("select private.record_payment(%s, 'stripe', %s, %s, %s)",
                    (order_id, f"pi_{uuid.uuid4().hex[:16]}", total, currency))


def booked(db, park: dict, request: dict | None = None, **kw) -> dict:
    """A paid booking: the placed summary plus its booking row."""
    placed = place(db, request or stay(park), **kw)
    assert isinstance(placed, dict), placed
    assert pay(db, placed["order_id"]) == "fulfilled"
    return placed | {"row": booking_row(db, placed["order_id"])}


def booking_row(db, order_id) -> dict:
    return db.one("select * from public.parking_bookings where order_id = %s", (order_id,))


def day(lot_row, days: int) -> str:
    """The lot-local date `days` from today there, as the counts key it: "2027-01-09"."""
    return str(today_at(lot_row) + timedelta(days=days))


def counts(db, lot_id) -> dict[str, tuple[int, int]]:
    """day -> (booked, online_booked) for every day row of the lot."""
    return {str(r["day"]): (r["booked"], r["online_booked"])
            for r in db.sql("select day, booked, online_booked from public.parking_days where lot_id = %s order by day",
                            (lot_id,))}


def live_counts(db, lot_id) -> dict[str, int]:
    """day -> live bookings whose stay includes it, counted from the bookings themselves."""
    return {str(r["day"]): r["n"] for r in db.sql(
        "select d::date as day, count(*)::int as n from public.parking_bookings b,"
        " generate_series(b.first_day, b.last_day, interval '1 day') d"
        " where b.lot_id = %s and b.status <> 'cancelled' group by 1 order by 1", (lot_id,))}
