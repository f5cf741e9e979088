"""Builders for appointment tests (superuser arrangement): an org with booking rules, services,
staff with weekly hours, breaks and service areas, and local wall-clock instants."""

from __future__ import annotations

import datetime as dt
import uuid

from tests.support import factories


def make_org(db, *, tz: str = "Europe/London", interval: int = 30, notice: int = 0, ahead: int = 400) -> dict:
    organization = factories.org(db, timezone=tz)
    db.sql("insert into public.appointment_settings (org_id, slot_interval_minutes, min_notice_minutes,"
           " max_days_ahead) values (%s, %s, %s, %s)", (organization["id"], interval, notice, ahead))
    return organization


def make_service(db, org: dict, minutes: int = 60, *, before: int = 0, after: int = 0, active: bool = True,
                 name: str | None = None) -> uuid.UUID:
    return db.value("insert into public.services (org_id, name, duration_minutes, price_minor, buffer_before_minutes,"
                    " buffer_after_minutes, active) values (%s, %s, %s, 5000, %s, %s, %s) returning id",
                    (org["id"], name or f"Service {uuid.uuid4().hex[:6]}", minutes, before, after, active))


def make_staff(db, org: dict, services, *, hours=None, breaks=None, areas=(("SW1A", 5),), active: bool = True,
               name: str = "Val") -> uuid.UUID:
    """hours/breaks: {weekday: [(start, end), …]} (0 = Monday); default Monday-Friday 09:00-17:00."""
    hours = {d: [("09:00", "17:00")] for d in range(5)} if hours is None else hours
    staff_id = db.value("insert into public.staff (org_id, display_name, email, phone, active)"
                        " values (%s, %s, 'secret-staff@example.com', '07700 900777', %s) returning id",
                        (org["id"], name, active))
    for service_id in services:
        db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
               (staff_id, service_id, org["id"]))
    for table, weekly in (("staff_schedules", hours), ("staff_breaks", breaks or {})):
        for weekday, spans in weekly.items():
            for starts, ends in spans:
                db.sql(f"insert into public.{table} (org_id, staff_id, weekday, starts_at, ends_at)"
                       " values (%s, %s, %s, %s, %s)", (org["id"], staff_id, weekday, starts, ends))
    for outcode, radius in areas:
        db.sql("insert into public.staff_service_areas (org_id, staff_id, outcode, radius_km) values (%s, %s, %s, %s)",
               (org["id"], staff_id, outcode, radius))
    return staff_id


def local(db, org: dict, wall: str) -> dt.datetime:
    return db.value("select %s::timestamp at time zone %s", (wall, org["timezone"]))


def services_and_staff(db, org_id, *, staff_user=None, name: str = "Val Cleaner") -> dict:
    """Two services (a regular clean the staff member does, an oven clean they do not)
    and one staff row linked to `staff_user`."""
    service, spare = (db.one(
        "insert into public.services (org_id, name, duration_minutes, price_minor, buffer_before_minutes,"
        " buffer_after_minutes) values (%s, %s, %s, %s, 15, 30) returning id", (org_id, title, minutes, price))["id"]
        for title, minutes, price in (("Regular clean", 120, 4800), ("Oven clean", 90, 6500)))
    staff = db.one("insert into public.staff (org_id, user_id, display_name) values (%s, %s, %s) returning id",
                   (org_id, staff_user.id if staff_user else None, name))["id"]
    db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
           (staff, service, org_id))
    return {"service_id": service, "spare_service_id": spare, "staff_id": staff}
