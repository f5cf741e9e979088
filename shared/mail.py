"""Email through Resend's official SDK; the local mailbox stand-in in dev and tests."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import resend

from shared.config import Settings

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


class Mailer:
    """Sends one email with a provider idempotency key (the outbox row id)."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def send(self, email: Email, *, idempotency_key: str) -> str:
        params: resend.Emails.SendParams = {
            "from": self.settings.mail_from,
            "to": [email.to],
            "subject": email.subject,
            "html": email.html,
            "text": email.text,
        }
        if email.images:
            params["attachments"] = [
                {"filename": i.filename, "content": base64.b64encode(i.data).decode(),
                 "content_id": i.content_id, "content_type": "image/png"}
                for i in email.images
            ]
        # The SDK keeps its key and URL in module globals; every Mailer in a
        # process is built from the same settings, so setting them is safe.
        resend.api_key = self.settings.resend_api_key
        resend.api_url = self.settings.resend_base or "https://api.resend.com"
        sent = resend.Emails.send(params, options={"idempotency_key": idempotency_key})
        return sent["id"]
