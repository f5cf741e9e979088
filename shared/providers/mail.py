"""Email through Resend's official SDK; the local mailbox stand-in in dev and tests."""

from __future__ import annotations

import base64
import functools
import html
from dataclasses import dataclass, field

import resend
from resend.http_client_requests import RequestsClient

from shared.platform.config import Settings

@dataclass
class InlineImage:
    content_id: str
    filename: str
    data: bytes


@dataclass
class Email:
    to: str
    subject: str
    html: str
    text: str
    images: list[InlineImage] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. List-Unsubscribe on promotions


@functools.lru_cache(maxsize=4)
def _http_client(timeout: float) -> RequestsClient:
    return RequestsClient(timeout=timeout)


class Mailer:
    """Sends one email with a provider idempotency key (the outbox row id)."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def send(self, email: Email, *, idempotency_key: str) -> str:
        params: resend.Emails.SendParams = {
            "from": self.settings.mail.sender,
            "to": [email.to],
            "subject": email.subject,
            "html": email.html,
            "text": email.text,
            # Delivery events carry the tags back: they name the outbox row (shared/comms/delivery.py).
            "tags": [{"name": "outbox_id", "value": idempotency_key}],
        }
        if email.headers:
            params["headers"] = dict(email.headers)
        if email.images:
            params["attachments"] = [
                {"filename": i.filename, "content": base64.b64encode(i.data).decode(),
                 "content_id": i.content_id, "content_type": "image/png"}
                for i in email.images
            ]
        # The SDK keeps its key and URL in module globals; every Mailer in a
        # process is built from the same settings, so setting them is safe.
        resend.api_key = self.settings.mail.resend_api_key
        resend.api_url = self.settings.mail.resend_base or "https://api.resend.com"
        resend.default_http_client = _http_client(self.settings.runtime.provider_timeout_seconds)
        sent = resend.Emails.send(params, options={"idempotency_key": idempotency_key})
        return sent["id"]


def layout(title: str, body_html: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title></head>
<body style="margin:0;padding:0;background:#f4f4f5;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#18181b">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f4f5">
<tr><td align="center" style="padding:16px">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:600px;background:#ffffff;border-radius:12px">
<tr><td style="padding:24px">
{body_html}
</td></tr></table>
<p style="font-size:12px;color:#71717a">Sent by Bookwell</p>
</td></tr></table></body></html>"""
