"""What the providers report after a send, recorded against the outbox (routines/comms/delivery.sql).

Resend's webhook events and Twilio's status callbacks become one `DeliveryEvent`
shape. Each names the outbox row it is about in two ways: the id we gave the
provider (Resend's `outbox_id` tag, the `outbox` query parameter of Twilio's
status callback URL), which works even when the event overtakes the worker
marking the row sent, and the provider's own message id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

RESEND_TYPES = {
    "email.sent": "sent", "email.delivery_delayed": "delayed", "email.delivered": "delivered",
    "email.opened": "opened", "email.clicked": "clicked", "email.bounced": "bounced",
    "email.complained": "complained", "email.failed": "failed", "email.suppressed": "suppressed",
}
# Twilio's MessageStatus values worth recording; queued, accepted, scheduled and sending are steps before.
TWILIO_TYPES = {"sent": "sent", "delivered": "delivered", "read": "opened", "undelivered": "failed",
                "failed": "failed"}
OUTBOX_TAG = "outbox_id"


@dataclass(frozen=True)
class DeliveryEvent:
    provider: str
    provider_event_id: str
    provider_message_id: str | None
    notification_id: str | None
    type: str
    occurred_at: datetime | None
    detail: dict[str, Any] = field(default_factory=dict)


def _uuid_or_none(value: Any) -> str | None:
    try:
        return str(UUID(str(value)))
    except ValueError:
        return None


def _instant(value: Any) -> datetime | None:
    try:
        found = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=timezone.utc)


def from_resend(event_id: str, event: Mapping[str, Any]) -> DeliveryEvent | None:
    """A verified Resend webhook payload; None for a type we do not track (email.received, ...)."""
    kind = RESEND_TYPES.get(str(event.get("type")))
    data = event.get("data")
    if kind is None or not isinstance(data, Mapping):
        return None
    tags = data.get("tags")
    detail: dict[str, Any] = {}
    if isinstance(data.get("bounce"), Mapping):
        bounce = data["bounce"]
        detail = {"bounce_type": bounce.get("type"), "bounce_subtype": bounce.get("subType"),
                  "message": str(bounce.get("message", ""))[:500]}
    elif isinstance(data.get("click"), Mapping):
        detail = {"link": str(data["click"].get("link", ""))[:2000]}
    elif isinstance(data.get("failed"), Mapping):
        detail = {"reason": str(data["failed"].get("reason", ""))[:500]}
    return DeliveryEvent(
        provider="resend", provider_event_id=event_id,
        provider_message_id=data.get("email_id") if isinstance(data.get("email_id"), str) else None,
        notification_id=_uuid_or_none(tags.get(OUTBOX_TAG)) if isinstance(tags, Mapping) else None,
        type=kind, occurred_at=_instant(event.get("created_at")), detail=detail)


def from_twilio_status(params: Mapping[str, str], outbox_id: str | None) -> DeliveryEvent | None:
    """A verified Twilio status callback; None for a status before `sent`."""
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    kind = TWILIO_TYPES.get(status)
    sid = params.get("MessageSid") or params.get("SmsSid")
    if kind is None or not sid:
        return None
    detail = {"status": status, "to": params.get("To")}
    if params.get("ErrorCode"):
        detail["error_code"] = params["ErrorCode"]
    # Twilio sends no event id: a status is reported once per message, so (sid, status) is the event.
    return DeliveryEvent(provider="twilio", provider_event_id=f"{sid}:{status}", provider_message_id=sid,
                         notification_id=_uuid_or_none(outbox_id), type=kind, occurred_at=None, detail=detail)


def record(cur: psycopg.Cursor, event: DeliveryEvent) -> str:
    """'recorded', 'duplicate' or 'unknown_message' (as the service role)."""
    cur.execute("select private.record_message_event(%s, %s, %s, %s, %s, %s, %s) as result",
                (event.provider, event.provider_event_id, event.provider_message_id, event.notification_id,
                 event.type, event.occurred_at, Jsonb(event.detail)))
    return cur.fetchone()["result"]


def record_sms_keyword(cur: psycopg.Cursor, sender: str, body: str) -> str:
    """'opted_out', 'opted_in' or 'ignored' for an inbound SMS."""
    cur.execute("select private.record_sms_keyword(%s, %s) as result", (sender, body))
    return cur.fetchone()["result"]
