"""POST /functions/v1/twilio-webhook/status and /functions/v1/twilio-webhook/inbound

Twilio's requests, verified with Twilio's request signature (X-Twilio-Signature:
HMAC-SHA1 of TWILIO_WEBHOOK_URL + path + query and the sorted form fields, by the
twilio SDK's RequestValidator). No JWT: a bad signature is a 403 with nothing
written; without TWILIO_WEBHOOK_URL (production) the webhook answers 503.

- /status?outbox=<id>: a message's status callback (sent, delivered,
  undelivered, failed, read), recorded once against its outbox row; error
  21610 (the number sent STOP) suppresses the number.
- /inbound: a text to our number. STOP, STOPALL, UNSUBSCRIBE, CANCEL, END or
  QUIT suppresses every SMS to the sender; START, YES or UNSTOP lifts it.
  Answers empty TwiML (Twilio's Advanced Opt-Out sends the confirmations).
"""

from urllib.parse import parse_qsl

import functions_framework
from pydantic import BaseModel
from twilio.request_validator import RequestValidator

from shared.comms import delivery
from shared.platform import contract, db, errors, http

FORM = "application/x-www-form-urlencoded"


class StatusQuery(BaseModel):
    outbox: str | None = None  # the outbox row the callback URL names


class Received(BaseModel):
    received: bool
    result: str


def _verified_form(call: http.Call, route: str) -> dict[str, str]:
    base = call.settings.sms.webhook_base
    if base is None:
        raise errors.DomainError(503, "webhook_not_configured", "Set TWILIO_WEBHOOK_URL to receive Twilio's requests")
    query = call.request.query_string.decode("latin-1")
    url = f"{base}{route}" + (f"?{query}" if query else "")
    form = dict(parse_qsl(call.raw_body.decode("utf-8", "replace"), keep_blank_values=True))
    signature = call.request.headers.get("x-twilio-signature") or ""
    if not RequestValidator(call.settings.sms.twilio_auth_token).validate(url, form, signature):
        raise errors.forbidden("invalid_signature", "The Twilio signature does not verify")
    return form


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", "/status", summary="An SMS status callback (X-Twilio-Signature)", body_media=FORM,
                       query=StatusQuery, answer=Received, auth="signature"),
    contract.Operation("POST", "/inbound", summary="A text to our number: STOP, START and the other keywords",
                       body_media=FORM, media="text/xml", auth="signature"),
])
def main(call: http.Call):
    route = call.path.rstrip("/")
    if route == "/status":
        form = _verified_form(call, route)
        event = delivery.from_twilio_status(form, call.request.args.get("outbox"))
        if event is None:
            return {"received": True, "result": "ignored"}
        with db.as_service() as cur:
            return {"received": True, "result": delivery.record(cur, event)}
    if route == "/inbound":
        form = _verified_form(call, route)
        with db.as_service() as cur:
            result = delivery.record_sms_keyword(cur, form.get("From", ""), form.get("Body", ""))
        return http.Response('<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
                             headers={"x-bookwell-result": result}, content_type="text/xml")
    raise errors.not_found("no_route", f"No {call.method} {call.path} in twilio-webhook")
