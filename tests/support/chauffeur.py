"""A chauffeur company to test against: a team (one member per role), its classes, vehicles, drivers,
an affiliate, and helpers to quote and book as any caller."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from psycopg.types.json import Jsonb

from shared.platform.db import Caller
from tests.support import factories
from tests.support.pg import call

HEATHROW = {"address": "Heathrow Terminal 5", "latitude": 51.4718, "longitude": -0.4898}
MAYFAIR = {"address": "Claridge's, Brook Street, Mayfair", "latitude": 51.5126, "longitude": -0.1479}
KINGS_CROSS = {"address": "King's Cross St Pancras", "latitude": 51.5308, "longitude": -0.1238}


def vehicle_class(db, org_id, *, name: str, rank: int = 1, seats: int = 3, luggage: int = 3,
                  hourly: int = 7500, minimum_hours: float = 2, per_distance: int = 0, base_fares: dict | None = None,
                  grace: int = 15, per_minute: int = 100) -> dict:
    return db.one("insert into public.vehicle_classes (org_id, name, rank, seats, luggage, hourly_rate_minor,"
                  " minimum_hours, per_distance_minor, base_fares, wait_grace_minutes, wait_per_minute_minor)"
                  " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning *",
                  (org_id, name, rank, seats, luggage, hourly, minimum_hours, per_distance,
                   Jsonb(base_fares or {}), grace, per_minute))


def vehicle(db, org_id, class_id, *, seats: int = 3, status: str = "available", plate: str | None = None) -> dict:
    vin = uuid.uuid4().hex.upper()[:17]  # hex has no I, O or Q
    return db.one("insert into public.vehicles (org_id, class_id, make, model, year, plate, vin, seats, status)"
                  " values (%s, %s, 'Mercedes', 'S-Class', 2024, %s, %s, %s, %s) returning *",
                  (org_id, class_id, plate or f"VV{uuid.uuid4().hex[:5].upper()}", vin, seats, status))


def driver(db, org: dict, user=None, *, name: str = "Dee Driver", licence_expires: str = "2099-12-31") -> dict:
    user = user or factories.member(db, org, role="driver")
    row = db.one("insert into public.drivers (org_id, user_id, name, licence_number, licence_expires_on)"
                 " values (%s, %s, %s, %s, %s) returning *",
                 (org["id"], user.id, name, f"LIC{uuid.uuid4().hex[:8]}", licence_expires))
    row["user"] = user
    return row


def company(db) -> dict:
    """A chauffeur company: the team, a sedan and an SUV class, a vehicle of each, a driver."""
    team = factories.team(db)
    org = team["org"]
    sedan = vehicle_class(db, org["id"], name="Executive Sedan", rank=1, seats=3, luggage=3, hourly=7500,
                          minimum_hours=2, per_distance=250,
                          base_fares={"point_to_point": 4000, "airport_transfer": 6500})
    suv = vehicle_class(db, org["id"], name="Luxury SUV", rank=2, seats=6, luggage=6, hourly=9500, minimum_hours=3,
                        per_distance=300, base_fares={"point_to_point": 5500, "airport_transfer": 8000})
    dee = driver(db, org, team["people"]["driver"])
    return {**team, "org_id": org["id"], "sedan": sedan, "suv": suv,
            "sedan_car": vehicle(db, org["id"], sedan["id"]), "suv_car": vehicle(db, org["id"], suv["id"], seats=6),
            "dee": dee}


def in_days(days: float, hour: int = 10) -> str:
    """An instant `days` from now at `hour`:00 UTC, as ISO text with its offset."""
    at = (datetime.now(timezone.utc) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return at.isoformat()


def trip(klass: dict, *, service: str = "airport_transfer", stops=(HEATHROW, MAYFAIR), days: float = 7,
         hour: int = 10, **extra) -> dict:
    return {"service_type": service, "class_id": str(klass["id"]), "pickup_at": in_days(days, hour),
            "passengers": 2, "stops": list(stops), **extra}


def quote(db, org_id, request: dict, caller: Caller | None = None):
    return call(db, caller or Caller.anon(), "select public.quote_reservation(%s, %s)", org_id, Jsonb(request))


def book(db, org_id, request: dict, customer: dict | None = None, caller: Caller | None = None):
    customer = customer or {"name": "Casey Customer", "email": f"casey-{uuid.uuid4().hex[:6]}@example.com",
                            "phone": "07700 900555"}
    return call(db, caller or Caller.anon(), "select public.book_reservation(%s, %s, %s)", org_id, Jsonb(request),
                Jsonb(customer))
