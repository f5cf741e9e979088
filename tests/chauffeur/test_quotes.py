"""Chauffeur quotes (routines/chauffeur/quotes.sql), checked by hand: the industry's worked example, the
hourly minimum, gratuity on the base after a discount, surcharges on base + gratuity + tax + fees,
per-unit fees, peak and holiday rules in the org's local time, rounding, and the distance (great-circle
x detour, or the dispatcher's). Bad requests are refused with their own code."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.support import factories, ticketing
from tests.support.chauffeur import HEATHROW, KINGS_CROSS, MAYFAIR, in_days, quote, trip, vehicle_class
from tests.support.pg import refused

LONDON = ZoneInfo("Europe/London")


def shop(db, **klass) -> dict:
    org = factories.org(db)
    dispatcher = factories.member(db, org, role="dispatcher")
    options = {"name": "Worked", "base_fares": {"point_to_point": 10000, "airport_transfer": 10000},
               "per_distance": 0} | klass
    return {"org": org, "org_id": org["id"], "class": vehicle_class(db, org["id"], **options), "dispatcher": dispatcher}


def rule(db, where: dict, name: str, kind: str, unit: str, *, amount: int | None = None, percent: float | None = None,
         basis: str | None = None, position: int = 0, **criteria) -> None:
    columns = ["org_id", "name", "kind", "unit", "amount_minor", "percent", "basis", "position", *criteria]
    db.sql(f"insert into public.chauffeur_rate_rules ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))})",
           (where["org_id"], name, kind, unit, amount, percent, basis, position, *criteria.values()))


def lines(answer: dict) -> list[tuple[str, str, int]]:
    return [(line["code"], line["rule"], line["amount_minor"]) for line in answer["lines"]]


def test_the_industry_worked_example_comes_to_140_80(db):
    where = shop(db)
    rule(db, where, "Gratuity 20%", "gratuity", "percent", percent=20, basis="base")
    rule(db, where, "Sales tax 8%", "tax", "percent", percent=8, basis="base")
    rule(db, where, "Fuel surcharge 10%", "surcharge", "percent", percent=10, basis="base_gratuity_tax")
    answer = quote(db, where["org_id"], trip(where["class"], service="point_to_point"))
    assert lines(answer) == [("base", "Worked point to point base fare", 10000), ("gratuity", "Gratuity 20%", 2000),
                             ("tax", "Sales tax 8%", 800), ("surcharge", "Fuel surcharge 10%", 1280)]
    assert answer["total_minor"] == 14080


@pytest.mark.parametrize(("hours", "charged", "amount"), [(1.5, 2, 15000), (2, 2, 15000), (2.5, 2.5, 18750), (3, 3, 22500)])
def test_hourly_service_charges_at_least_the_class_minimum(db, hours, charged, amount):
    where = shop(db, hourly=7500, minimum_hours=2)
    answer = quote(db, where["org_id"], trip(where["class"], service="hourly", hours=hours, stops=[MAYFAIR]))
    [line] = answer["lines"]
    assert (line["code"], float(line["quantity"]), line["unit_minor"], line["amount_minor"]) == (
        "hourly", charged, 7500, amount)
    assert (line.get("note") is not None) == (hours < 2)
    assert answer["total_minor"] == amount and answer["estimated_minutes"] == math.ceil(charged * 60)


def test_gratuity_is_on_the_base_after_the_discount_and_fuel_on_everything_before_it(db):
    where = shop(db)
    code = ticketing.promo(db, where["org_id"], kind="percent", value=10)
    rule(db, where, "Meet and greet", "fee", "meet_and_greet", amount=1500)
    rule(db, where, "Gratuity 20%", "gratuity", "percent", percent=20, basis="base")
    rule(db, where, "VAT 8% of base and fees", "tax", "percent", percent=8, basis="base_fees")
    rule(db, where, "Fuel 10%", "surcharge", "percent", percent=10, basis="base_gratuity_tax_fees")
    answer = quote(db, where["org_id"], trip(where["class"], meet_and_greet=True, promo_code=code["code"].lower()))
    # base 100.00 - 10% = 90.00; fee 15.00; gratuity 20% of 90.00; tax 8% of 105.00; fuel 10% of 90+15+18+8.40
    assert lines(answer) == [("base", "Worked airport transfer base fare", 10000),
                             ("discount", f"promo code {code['code'].upper()}", -1000),
                             ("fee", "Meet and greet", 1500), ("gratuity", "Gratuity 20%", 1800),
                             ("tax", "VAT 8% of base and fees", 840), ("surcharge", "Fuel 10%", 1314)]
    assert answer["total_minor"] == 9000 + 1500 + 1800 + 840 + 1314


def test_percentages_round_half_up_and_a_percent_discount_rounds_down_as_at_checkout(db):
    where = shop(db, base_fares={"point_to_point": 3333})
    rule(db, where, "Gratuity 15%", "gratuity", "percent", percent=15, basis="base")
    rule(db, where, "Tax 7.5%", "tax", "percent", percent=7.5, basis="base")
    rule(db, where, "Fuel 3%", "surcharge", "percent", percent=3, basis="base_gratuity_tax")
    answer = quote(db, where["org_id"], trip(where["class"], service="point_to_point"))
    # 499.95 -> 500, 249.975 -> 250, 3% of 40.83 = 1.2249 -> 1.22
    assert [a for _, _, a in lines(answer)] == [3333, 500, 250, 122] and answer["total_minor"] == 4205
    code = ticketing.promo(db, where["org_id"], kind="percent", value=15)
    discounted = quote(db, where["org_id"], trip(where["class"], service="point_to_point", promo_code=code["code"]))
    assert discounted["lines"][1]["amount_minor"] == -499  # 15% of 33.33 = 4.9995, down as redeem_promo does


def test_fees_per_extra_stop_and_child_seat_and_only_under_their_criteria(db):
    where = shop(db)
    other = vehicle_class(db, where["org_id"], name="Other", base_fares={"point_to_point": 100})
    rule(db, where, "Extra stop", "fee", "per_extra_stop", amount=1000)
    rule(db, where, "Child seat", "fee", "per_child_seat", amount=1500)
    rule(db, where, "Meet and greet", "fee", "meet_and_greet", amount=2500)
    rule(db, where, "Airport access", "fee", "flat", amount=700, service_type="airport_transfer")
    rule(db, where, "Worked class only", "fee", "flat", amount=300, class_id=where["class"]["id"])
    answer = quote(db, where["org_id"], trip(where["class"], service="point_to_point",
                                             stops=[HEATHROW, KINGS_CROSS, MAYFAIR], child_seats=2))
    assert [(code, name, amount) for code, name, amount in lines(answer)][1:] == [
        ("fee", "Child seat", 3000), ("fee", "Extra stop", 1000), ("fee", "Worked class only", 300)]
    assert answer["lines"][1]["quantity"] == 2 and answer["lines"][2]["quantity"] == 1
    plain = quote(db, where["org_id"], trip(other, service="point_to_point"))
    assert lines(plain) == [("base", "Other point to point base fare", 100)]
    airport = quote(db, where["org_id"], trip(other, meet_and_greet=True))
    assert [name for _, name, _ in lines(airport)][1:] == ["Airport access", "Meet and greet"]


def next_local(weekday: int, at: time, weeks_ahead: int = 2) -> datetime:
    """A London wall-clock time on an ISO weekday at least `weeks_ahead` weeks away, as an instant."""
    day = date.today() + timedelta(weeks=weeks_ahead)
    day += timedelta(days=(weekday - day.isoweekday()) % 7)
    return datetime.combine(day, at, tzinfo=LONDON)


def test_peak_overnight_and_holiday_surcharges_follow_the_orgs_local_time(db):
    where = shop(db)
    monday, saturday = next_local(1, time(8, 30)), next_local(6, time(8, 30))
    rule(db, where, "Morning peak 25%", "surcharge", "percent", percent=25, basis="base",
         days_of_week=[1, 2, 3, 4, 5], local_from=time(7), local_to=time(10))
    rule(db, where, "Late night", "surcharge", "flat", amount=2000, local_from=time(22), local_to=time(6))
    rule(db, where, "Holiday", "surcharge", "flat", amount=5000, on_dates=[saturday.date()])

    def named(when: datetime) -> list[str]:
        answer = quote(db, where["org_id"], trip(where["class"], service="point_to_point") | {
            "pickup_at": when.astimezone(timezone.utc).isoformat()})
        return [line["rule"] for line in answer["lines"]][1:]

    assert named(monday) == ["Morning peak 25%"]
    assert named(monday.replace(hour=10)) == []                       # the window ends at 10:00
    assert named(saturday) == ["Holiday"]                             # no peak at weekends
    assert named(monday.replace(hour=23, minute=30)) == ["Late night"]  # across midnight
    assert named(monday.replace(hour=6)) == []


def haversine_km(a: dict, b: dict) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (a["latitude"], a["longitude"], b["latitude"], b["longitude"]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def test_distance_is_great_circle_times_the_detour_factor_or_the_dispatchers(db):
    where = shop(db, per_distance=250, base_fares={"airport_transfer": 6500})
    expected = round(haversine_km(HEATHROW, MAYFAIR) * 1.30 / 1.609344, 1)  # the org's unit: miles
    answer = quote(db, where["org_id"], trip(where["class"]))
    assert answer["distance"] == {"value": expected, "unit": "mi", "source": "great_circle"}
    assert lines(answer)[1] == ("distance", "Worked per mi", round(250 * expected))
    via = quote(db, where["org_id"], trip(where["class"], stops=[HEATHROW, KINGS_CROSS, MAYFAIR]))
    legs = haversine_km(HEATHROW, KINGS_CROSS) + haversine_km(KINGS_CROSS, MAYFAIR)
    assert via["distance"]["value"] == round(legs * 1.30 / 1.609344, 1)

    told = quote(db, where["org_id"], trip(where["class"], distance=20, tolls_minor=1250), where["dispatcher"].caller)
    assert told["distance"] == {"value": 20, "unit": "mi", "source": "dispatcher"}
    assert lines(told)[1:] == [("distance", "Worked per mi", 5000), ("tolls", "tolls and parking (dispatcher)", 1250)]
    for bad in ({"distance": "far"}, {"distance": -1}, {"distance": 5001}):
        refused(quote(db, where["org_id"], trip(where["class"]) | bad, where["dispatcher"].caller), "PT422",
                "invalid_distance")
    for bad in ({"tolls_minor": "lots"}, {"tolls_minor": -5}, {"tolls_minor": 12.5}):
        refused(quote(db, where["org_id"], trip(where["class"]) | bad, where["dispatcher"].caller), "PT422",
                "invalid_tolls")
    refused(quote(db, where["org_id"], trip(where["class"], distance=1)), "PT403", "distance_for_dispatchers")
    refused(quote(db, where["org_id"], trip(where["class"], tolls_minor=1)), "PT403", "tolls_for_dispatchers")
    db.sql("insert into public.chauffeur_settings (org_id, distance_unit, detour_factor) values (%s, 'km', 1.10)",
           (where["org_id"],))
    km = quote(db, where["org_id"], trip(where["class"]))
    assert km["distance"] == {"value": round(haversine_km(HEATHROW, MAYFAIR) * 1.10, 1), "unit": "km",
                              "source": "great_circle"}


@pytest.mark.parametrize(("change", "code"), [
    ({"passengers": -1}, "invalid_party"),
    ({"passengers": 4}, "class_too_small"),            # the class seats 3
    ({"luggage": 9}, "class_too_small"),
    ({"child_seats": 7}, "invalid_party"),
    ({"stops": [dict(MAYFAIR, kind="dropoff"), dict(HEATHROW, kind="pickup")]}, "stops_out_of_order"),
    ({"stops": [HEATHROW]}, "invalid_stops"),
    ({"stops": [HEATHROW, {"address": ""}]}, "invalid_stops"),
    ({"stops": [HEATHROW, {"address": "Somewhere", "latitude": 95, "longitude": 0}]}, "invalid_stops"),
    ({"stops": [HEATHROW, {"address": "Somewhere"}]}, "coordinates_needed"),
    ({"pickup_at": in_days(-1)}, "pickup_in_past"),
    ({"pickup_at": "2031-06-01T10:00:00"}, "invalid_request"),  # a wall-clock time is not an instant
    ({"pickup_at": "tomorrow"}, "invalid_request"),
    ({"class_id": str(uuid.uuid4())}, "unknown_class"),
    ({"service_type": "helicopter"}, "invalid_request"),
    ({"service_type": None}, "invalid_service"),
    ({"hours": 2}, "invalid_hours"),                  # hours are for hourly service
    ({"service_type": "hourly"}, "invalid_hours"),
    ({"promo_code": "NOSUCHCODE"}, "promo_invalid"),
])
def test_bad_requests_are_refused_with_their_own_code(db, change, code):
    where = shop(db)
    refused(quote(db, where["org_id"], trip(where["class"]) | change), "PT422", code)


def test_another_orgs_class_is_unknown_here(db):
    here, there = shop(db), shop(db)
    refused(quote(db, here["org_id"], trip(there["class"])), "PT422", "unknown_class")


def test_the_settings_an_org_never_set_are_the_tables_defaults(db):
    where = shop(db)
    assumed = db.one("select to_jsonb(private.chauffeur_settings_of(%s)) - 'updated_at' as s", (where["org_id"],))["s"]
    db.sql("insert into public.chauffeur_settings (org_id) values (%s)", (where["org_id"],))
    stored = db.one("select to_jsonb(s) - 'updated_at' as s from public.chauffeur_settings s where org_id = %s",
                    (where["org_id"],))["s"]
    assert assumed == stored
