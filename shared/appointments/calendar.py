"""Calendar feeds and .ics files for appointments (issue 5, item 9).

The database decides what a calendar shows (private.calendar_events: staff
see their jobs, customers their own appointments, owners/admins/managers
their org, from 30 days ago to a year ahead, cancellations included); this
module turns those rows into iCalendar with the `icalendar` library:

- one UID per appointment, `<appointment id>@bookwell`, stable for ever;
- SEQUENCE from the row (raised by the database on every change a calendar
  must see: time, status, staff member), so clients replace older copies;
- STATUS:CANCELLED for cancelled appointments (clients remove them),
  TENTATIVE for a slot still held at checkout, CONFIRMED otherwise;
- every time in UTC (`...Z`), so no VTIMEZONE is needed.

A feed is a METHOD:PUBLISH calendar; one appointment is the same shape with
one event (what "Add to calendar" downloads).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import icalendar
import psycopg

from shared.platform import errors

PRODID = "-//Bookwell//Appointments//EN"
UID_DOMAIN = "bookwell"
FEED_PATH = re.compile(r"^/feeds/([0-9a-f]{32,200})\.ics$")
APPOINTMENT_PATH = re.compile(r"^/appointments/([^/]+)\.ics$")
FEED_CACHE_CONTROL = "private, max-age=300"
CONTENT_TYPE = "text/calendar; charset=utf-8"

STATUS = {"cancelled": "CANCELLED", "held": "TENTATIVE"}  # everything else: CONFIRMED
LABELS = {"in_progress": "In progress", "completed": "Completed", "no_show": "No show",
          "held": "Held (awaiting payment)", "cancelled": "Cancelled"}


# ---------------------------------------------------------------------------
# Reading (the function calls these inside its transaction)
# ---------------------------------------------------------------------------
def feed_events(cur: psycopg.Cursor, token: str) -> dict | None:
    """The feed behind `token` (service_role cursor), or None when unknown or revoked."""
    cur.execute("select private.calendar_feed_events(%s) as feed", (token,))
    return cur.fetchone()["feed"]


def appointment_event(cur: psycopg.Cursor, appointment_id: str) -> dict:
    """One appointment the caller (an authenticated cursor) may see; 404 otherwise.

    Visibility is decided twice: by RLS on public.appointments as the caller,
    then by the definer helper's own scope (the same rule)."""
    if not cur.execute("select id from public.appointments where id = %s", (appointment_id,)).fetchone():
        raise errors.not_found("appointment_not_found", "No such appointment")
    cur.execute("select private.calendar_appointment_event(%s) as event", (appointment_id,))
    event = cur.fetchone()["event"]
    if event is None:
        raise errors.not_found("appointment_not_found", "No such appointment")
    return event


# ---------------------------------------------------------------------------
# Writing iCalendar
# ---------------------------------------------------------------------------
def feed_calendar(feed: dict, *, now: datetime | None = None) -> bytes:
    """A subscribable VCALENDAR (METHOD:PUBLISH) of the feed's events."""
    name = f"Bookwell: {feed['user_name']}" if feed.get("user_name") else "Bookwell appointments"
    cal = _calendar(name)
    zones = {e["org_timezone"] for e in feed["events"]}
    if len(zones) == 1:
        cal.add("x-wr-timezone", zones.pop())  # display hint only; times are UTC
    stamp = now or datetime.now(timezone.utc)
    for row in feed["events"]:
        cal.add_component(event(row, stamp))
    return cal.to_ical()


def appointment_calendar(row: dict, *, now: datetime | None = None) -> bytes:
    """One appointment as a downloadable .ics."""
    cal = _calendar(f"{row['service_name']} ({row['org_name']})")
    cal.add("x-wr-timezone", row["org_timezone"])
    cal.add_component(event(row, now or datetime.now(timezone.utc)))
    return cal.to_ical()


def uid(appointment_id: str) -> str:
    return f"{appointment_id}@{UID_DOMAIN}"


def event(row: dict, stamp: datetime) -> icalendar.Event:
    ev = icalendar.Event()
    ev.add("uid", uid(row["id"]))
    ev.add("dtstamp", _utc(stamp))
    ev.add("dtstart", _utc(row["starts_at"]))
    ev.add("dtend", _utc(row["ends_at"]))
    ev.add("summary", summary(row))
    location = ", ".join(p for p in (row.get("address"), row.get("postcode")) if p)
    if location:
        ev.add("location", location)
    ev.add("description", description(row))
    ev.add("sequence", int(row["sequence"]))
    ev.add("status", STATUS.get(row["status"], "CONFIRMED"))
    ev.add("created", _utc(row["created_at"]))
    ev.add("last-modified", _utc(row["updated_at"]))
    ev.add("transp", "TRANSPARENT" if row["status"] == "cancelled" else "OPAQUE")
    return ev


def summary(row: dict) -> str:
    """'Regular clean: Casey Customer' for those doing the job, 'Regular clean with Val' for the customer."""
    text = (f"{row['service_name']}: {row['customer_name']}" if row.get("customer_name")
            else f"{row['service_name']} with {row['staff_name']}")
    return f"Cancelled: {text}" if row["status"] == "cancelled" else text


def description(row: dict) -> str:
    lines = [f"{row['service_name']} by {row['staff_name']} ({row['org_name']})"]
    if row.get("customer_name"):
        lines.append(f"Customer: {row['customer_name']}")
    if row.get("customer_phone"):
        lines.append(f"Phone: {row['customer_phone']}")
    if row["status"] in LABELS:
        lines.append(f"Status: {LABELS[row['status']]}")
    lines.append(f"Times are shown in your calendar's time zone; the business works in {row['org_timezone']}.")
    return "\n".join(lines)


def _calendar(name: str) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    return cal


def _utc(value: Any) -> datetime:
    """A database timestamp (jsonb gives ISO strings) as an aware UTC datetime, whole seconds."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError(f"naive timestamp {value!r}")
    return moment.astimezone(timezone.utc).replace(microsecond=0)
