"""Every email the database can queue has a renderer, and each renders."""

from __future__ import annotations

import importlib
import re
import uuid

from shared import notifications
from shared.config import PROJECT_ROOT

QUEUED = re.compile(r"'email',\s*(?:'(?P<one>[a-z_]+)'|case .*? then '(?P<a>[a-z_]+)' else '(?P<b>[a-z_]+)' end)")


def queued_templates() -> set[str]:
    found = set()
    for path in sorted((PROJECT_ROOT / "migrations").glob("*.sql")):
        sql = path.read_text()
        # Where a notification is queued: the enqueue helper, or a direct insert into the outbox.
        for call in re.finditer(r"enqueue_notification\(|notification_outbox \(org_id, channel", sql):
            match = QUEUED.search(sql, call.end(), call.end() + 400)
            if match:
                found |= {t for t in match.groupdict().values() if t}
    return found


def test_every_template_the_migrations_queue_has_a_renderer():
    for module in notifications.AREA_MODULES:
        importlib.import_module(module)
    templates = queued_templates()
    assert {"tickets", "appointment_confirmed", "appointment_cancelled", "change_request_decided"} <= templates
    assert templates - set(notifications.RENDERERS) == set(), "queued but never renderable (it would end as dead)"


def test_the_appointment_change_emails_render_from_their_payload(db):
    importlib.import_module("shared.appointment_mail")
    org = db.one("insert into public.organizations (name, slug) values ('Mail Co', %s) returning id",
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
            email = notifications.RENDERERS[template](cur, {"recipient": "c@example.com", "payload": payload})
            assert email.to == "c@example.com" and "Deep clean" in email.subject + email.text, template
            assert "2031-05-01T10:00:00+01:00" in email.text and email.html.startswith("<!doctype html>"), template
