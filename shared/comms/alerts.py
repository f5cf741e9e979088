"""The emergency alert message kind (public.send_emergency_alert queues it; routines/comms/alerts.sql)."""

from __future__ import annotations

import psycopg

from shared.comms import templates


def _variables(cur: psycopg.Cursor, row: dict) -> dict:
    cur.execute("select a.title, a.message, o.name as org_name from public.emergency_alerts a"
                " join public.organizations o on o.id = a.org_id where a.id = %s", (row["payload"]["alert_id"],))
    alert = cur.fetchone()
    return {"title": alert["title"], "message": alert["message"], "org_name": alert["org_name"],
            "name": row["payload"].get("name") or ""}


templates.register(templates.Kind(
    name="emergency_alert", purpose="alert",
    variables={"title": "the alert's title", "message": "the alert as its sender wrote it",
               "org_name": "your business's name", "name": "the recipient's name (may be empty)"},
    sample={"title": "Venue change tonight", "message": "Tonight's show moves to the Corn Exchange, same time.",
            "org_name": "Riverside Events", "name": "Casey Customer"},
    context=_variables,
    defaults={
        "email": templates.heading_and_paragraphs(
            "{{ org_name }}: {{ title }}", ("name", "Hello {{ name }},"), "{{ message }}",
            "You are receiving this because you have a booking with {{ org_name }}.", heading="{{ title }}"),
        "sms": {"body": "{{ org_name }}: {{ title }}. {{ message }}"},
    }))
