"""Appointment reminders, 24 hours ahead, by email and SMS.

Queueing is Postgres's (private.queue_appointment_reminders, see
migrations/*_appointments_reminders.sql): one outbox row per channel per
(appointment, start time), so it is idempotent and safe to run concurrently.
The outbox worker sends them through the `appointment_reminder` message kind
(email and SMS templates an org may reword, shared/comms/templates.py): its
variables are re-read at send time, which checks the appointment is still
booked at the queued time (else Skip), and the time is written in the org's
timezone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfoNotFoundError

import psycopg

from shared.platform import db
from shared.platform.formatting import day_and_time
from shared.comms import templates
from shared.comms.notifications import Skip

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


def _variables(cur: psycopg.Cursor, row: dict) -> dict:
    d = _details(cur, row)
    day, time = local_time(d["starts_at"], d["timezone"])
    return {"customer_name": d["customer_name"], "org_name": d["org_name"], "service": d["service"],
            "staff_name": d["staff_name"], "day": day, "time": time,
            "ends": local_time(d["ends_at"], d["timezone"])[1].split()[0], "where": _where(d) or ""}


REMINDER = templates.register(templates.Kind(
    name=TEMPLATE, purpose="transactional",
    variables={"customer_name": "the customer's name", "org_name": "your business's name",
               "service": "the service booked", "staff_name": "who will do the job",
               "day": "the day, e.g. Tuesday 3 March 2026", "time": "the start, e.g. 10:00 GMT",
               "ends": "the end, e.g. 11:30", "where": "address and postcode (may be empty)"},
    sample={"customer_name": "Casey Customer", "org_name": "Sparkle Cleaning", "service": "Oven clean",
            "staff_name": "Val Cleaner", "day": "Tuesday 3 March 2026", "time": "10:00 GMT", "ends": "11:30",
            "where": "10 Downing Street, SW1A 2AA"},
    context=_variables,
    defaults={
        "email": {
            "subject": "Reminder: {{ service }} on {{ day }} at {{ time }}",
            "html": ('<h1 style="margin:0 0 12px;font-size:22px">{{ subject }}</h1>\n'
                     "<p>Hello {{ customer_name }}, this is a reminder of your appointment with {{ org_name }}.</p>\n"
                     "<p>{{ service }} with {{ staff_name }}: {{ day }} at {{ time }}, until {{ ends }}.</p>\n"
                     "{% if where %}<p>Where: {{ where }}</p>\n{% endif %}"
                     "<p>If you need to cancel or move it, please contact us as soon as possible.</p>"),
            "text": ("{{ subject }}\n\n"
                     "Hello {{ customer_name }}, this is a reminder of your appointment with {{ org_name }}.\n\n"
                     "{{ service }} with {{ staff_name }}: {{ day }} at {{ time }}, until {{ ends }}.\n\n"
                     "{% if where %}Where: {{ where }}\n\n{% endif %}"
                     "If you need to cancel or move it, please contact us as soon as possible."),
        },
        "sms": {
            "body": ("{{ org_name }}: reminder, {{ service }} on {{ day }} at {{ time }}"
                     "{% if where %}, {{ where }}{% endif %}. To change it, please contact us."),
        },
    }))
