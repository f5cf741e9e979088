"""Appointment reminders, 24 hours ahead, by email and SMS.

Queueing is Postgres's (private.queue_appointment_reminders, see
migrations/*_appointments_reminders.sql): one outbox row per channel per
(appointment, start time), so it is idempotent and safe to run concurrently.
The outbox worker sends them; the renderers here re-check at send time that
the appointment is still booked at the queued time (else Skip) and write the
time in the org's timezone.
"""

from __future__ import annotations

import datetime as dt
import html
from zoneinfo import ZoneInfoNotFoundError

import psycopg

from shared.platform import db
from shared.platform.formatting import day_and_time
from shared.providers.mail import Email, layout
from shared.comms.notifications import Skip, renderer, sms_renderer

TEMPLATE = "appointment_reminder"


def queue_reminders(*, now: dt.datetime | None = None) -> dict:
    """Queue every reminder due now (cron). Returns {"queued": n}."""
    with db.as_service() as cur:
        cur.execute("select private.queue_appointment_reminders(coalesce(%s, now())) as n", (now,))
        return {"queued": cur.fetchone()["n"]}


def _details(cur: psycopg.Cursor, row: dict) -> dict:
    p = row["payload"]
    cur.execute("select private.appointment_reminder_details(%s, %s::timestamptz) as d",
                (p["appointment_id"], p["starts_at"]))
    details = cur.fetchone()["d"]
    if details is None:
        raise Skip("appointment_changed")
    return details


def local_time(iso: str, timezone: str) -> tuple[str, str]:
    """("Tuesday 3 March 2026", "10:00 GMT") for an instant, in the org's timezone."""
    try:
        return day_and_time(iso, timezone)
    except ZoneInfoNotFoundError:  # Postgres knows a zone this Python does not: its offset is in the text
        return day_and_time(iso)


def _where(d: dict) -> str | None:
    parts = [x.strip() for x in (d.get("address"), d.get("postcode")) if x and x.strip()]
    return ", ".join(parts) or None


@renderer(TEMPLATE)
def render_reminder_email(cur: psycopg.Cursor, row: dict) -> Email:
    d = _details(cur, row)
    day, time = local_time(d["starts_at"], d["timezone"])
    ends = local_time(d["ends_at"], d["timezone"])[1].split()[0]
    title = f"Reminder: {d['service']} on {day} at {time}"
    lines = [f"Hello {d['customer_name']}, this is a reminder of your appointment with {d['org_name']}.",
             f"{d['service']} with {d['staff_name']}: {day} at {time}, until {ends}."]
    if where := _where(d):
        lines.append(f"Where: {where}")
    lines.append("If you need to cancel or move it, please contact us as soon as possible.")
    body = f'<h1 style="margin:0 0 12px;font-size:22px">{html.escape(title)}</h1>' + "".join(
        f"<p>{html.escape(line)}</p>" for line in lines)
    return Email(row["recipient"], title, layout(title, body), "\n\n".join([title, *lines]))


@sms_renderer(TEMPLATE)
def render_reminder_sms(cur: psycopg.Cursor, row: dict) -> str:
    d = _details(cur, row)
    day, time = local_time(d["starts_at"], d["timezone"])
    text = f"{d['org_name']}: reminder, {d['service']} on {day} at {time}"
    if where := _where(d):
        text += f", {where}"
    return text + ". To change it, please contact us."

