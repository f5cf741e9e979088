"""Every email and SMS the database can queue has a renderer, and each renders."""

from __future__ import annotations

import importlib
import re
import uuid

from shared import notifications
from shared.config import PROJECT_ROOT

QUEUED = re.compile(r"'(?P<channel>email|sms)'(?:::public\.notification_channel)?,\s*"
                    r"(?:'(?P<one>[a-z_]+)'|case .*? then '(?P<a>[a-z_]+)' else '(?P<b>[a-z_]+)' end)")


def queued_templates() -> set[tuple[str, str]]:
    """(channel, template) of every notification a migration queues."""
    found = set()
    for path in sorted((PROJECT_ROOT / "migrations").glob("*.sql")):
        sql = path.read_text()
        # Where a notification is queued: the enqueue helper, or a direct insert into the outbox
        # (with its channel/template literals inline or in a VALUES list just below).
        for call in re.finditer(r"enqueue_notification\(|notification_outbox (?:as \w+ )?\(org_id, channel", sql):
            window = 400 if call.group().startswith("enqueue") else 900
            for match in QUEUED.finditer(sql, call.end(), call.end() + window):
                found |= {(match["channel"], t) for t in (match["one"], match["a"], match["b"]) if t}
                if call.group().startswith("enqueue"):
                    break
    return found


def test_every_template_the_migrations_queue_has_a_renderer():
    for module in notifications.AREA_MODULES:
        importlib.import_module(module)
    queued = queued_templates()
    emails = {t for channel, t in queued if channel == "email"}
    texts = {t for channel, t in queued if channel == "sms"}
    assert {"tickets", "appointment_confirmed", "appointment_cancelled", "change_request_decided",
            "appointment_reminder"} <= emails
    assert {"appointment_reminder"} <= texts
    assert emails - set(notifications.RENDERERS) == set(), "queued but never renderable (it would end as dead)"
    assert texts - set(notifications.SMS_RENDERERS) == set(), "SMS queued but never renderable"


def test_the_appointment_change_emails_render_from_their_payload(db):
    importlib.import_module("shared.appointment_mail")
    org = db.one("insert into public.organizations (name, slug, timezone) values ('Mail Co', %s, 'Europe/London')"
                 " returning id",
                 (f"mail-{uuid.uuid4().hex[:8]}",))
    service = db.one("insert into public.services (org_id, name, duration_minutes, price_minor, currency)"
                     " values (%s, 'Deep clean', 60, 5000, 'GBP') returning id", (org["id"],))
    base = {"appointment_id": str(uuid.uuid4()), "service_id": str(service["id"]),
            "start": "2031-05-01T10:00:00+01:00", "end": "2031-05-01T11:00:00+01:00"}
    payloads = {
        "appointment_cancelled": base | {"reason": "ill"},
        "appointment_rescheduled": base | {"previous_start": "2031-04-30T10:00:00+01:00", "reason": None},
        "change_request_received": base | {"kind": "reschedule", "proposed_start": "2031-05-02T10:00:00+01:00",
                                           "reason": "travelling"},
        "change_request_decided": base | {"decision": "rejected", "note": "fully booked"},
    }
    with db.as_service() as cur:
        for template, payload in payloads.items():
            email = notifications.RENDERERS[template](
                cur, {"recipient": "c@example.com", "org_id": org["id"], "payload": payload})
            assert email.to == "c@example.com" and "Deep clean" in email.subject + email.text, template
            # The org's local time as people write it (Europe/London, summer), never an ISO instant.
            assert "Thu 1 May 2031, 10:00" in email.text and "BST" in email.text, (template, email.text)
            assert "T10:00" not in email.text and "+01:00" not in email.text + email.html, template
            assert email.html.startswith("<!doctype html>"), template


def test_times_and_money_are_written_as_people_read_them():
    from shared.formatting import money, span, when
    assert when("2026-12-08T09:30:00+00:00", "Europe/London") == "Tue 8 Dec 2026, 09:30 GMT"
    assert when("2026-07-08T08:30:00+00:00", "Europe/London") == "Wed 8 Jul 2026, 09:30 BST"
    assert when("2026-07-08T08:30:00+00:00", "Pacific/Auckland") == "Wed 8 Jul 2026, 20:30 NZST"
    assert when("2026-12-08T09:30:00-05:00") == "Tue 8 Dec 2026, 09:30"  # no zone: the offset it carries
    assert span("2026-12-08T09:30:00Z", "2026-12-08T11:00:00Z", "Europe/London") == "Tue 8 Dec 2026, 09:30–11:00 GMT"
    assert span("2026-12-08T23:30:00Z", "2026-12-09T00:30:00Z", "Europe/London") == \
        "Tue 8 Dec 2026, 23:30 GMT – Wed 9 Dec 2026, 00:30 GMT"
    assert (money(4800, "GBP"), money(2500, "usd"), money(1000, "JPY"), money(5, "EUR")) == \
        ("£48.00", "US$25.00", "JP¥1,000", "€0.05")
