"""POST /functions/v1/resend-webhook

Resend's email events (sent, delivered, delivery_delayed, bounced, complained,
opened, clicked, failed, suppressed), verified by the resend SDK with the
standard-webhooks scheme Resend signs with (svix-id, svix-timestamp,
svix-signature over the raw body; five minutes' tolerance). No JWT: the
signature is the authentication, and a bad one is a 400 with nothing written.
Each event is recorded once against its outbox row (a replay answers
"duplicate"); a hard bounce or a complaint suppresses the address for
promotional mail. Events for no message of ours answer 200 "unknown_message".
"""

from typing import Any

import functions_framework
import resend
from pydantic import BaseModel

from shared.comms import delivery
from shared.platform import contract, db, errors, http


class Received(BaseModel):
    received: bool
    type: str | None = None
    result: str


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Resend's email events (standard-webhooks signature)",
                       body=dict[str, Any], answer=Received, auth="signature"),
])
def main(call: http.Call):
    headers = call.request.headers
    event_id = headers.get("svix-id") or ""
    try:
        payload = resend.Webhooks.verify({
            "payload": call.raw_body.decode("utf-8"),
            "headers": {"id": event_id, "timestamp": headers.get("svix-timestamp") or "",
                        "signature": headers.get("svix-signature") or ""},
            "webhook_secret": call.settings.mail.resend_webhook_secret,
        })
    except (ValueError, UnicodeDecodeError):
        raise errors.bad_request("invalid_signature", "The webhook signature does not verify") from None
    event = delivery.from_resend(event_id, payload) if isinstance(payload, dict) else None
    if event is None:
        return {"received": True, "result": "ignored"}
    with db.as_service() as cur:
        result = delivery.record(cur, event)
    return {"received": True, "type": payload.get("type"), "result": result}
