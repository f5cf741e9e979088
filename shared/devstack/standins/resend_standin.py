"""A local Resend for dev mode and tests: accepts what the resend SDK sends and
keeps every email in memory, with a dev mailbox to read them.

The product uses the real resend SDK; only the base URL changes:

    resend.api_url = "http://127.0.0.1:54321/resend"     # or RESEND_API_URL before import

Served (relative to the mount):

    POST /emails              send; Idempotency-Key honoured (same key and payload -> same id,
                              stored once; other payload -> 409 invalid_idempotent_request)
    POST /emails/batch        up to 100 emails, all or nothing
    GET  /emails, /emails/{id}
    GET  /mailbox             every email, newest first
    GET  /mailbox/{id}        one email: HTML (cid: images rewritten to data: URIs), text part,
                              headers, tags, attachments
    GET  /mailbox/{id}/html   the rewritten HTML alone
    GET  /mailbox/{id}/attachments/{n}

Errors have Resend's shape `{"statusCode", "name", "message"}` so the SDK
raises its own exception classes. `fail_next` simulates an outage.

Webhooks: after `subscribe(url, secret)`, every email sent owes `email.sent`
and then its outcome, decided by Resend's test addresses: `bounced@resend.dev`
(a permanent bounce), `complained@resend.dev` (delivered, then a complaint),
`suppressed@resend.dev`; anyone else is delivered. `+label` is allowed
(`bounced+x@resend.dev`). They are signed as Resend signs them (standard
webhooks: svix-id, svix-timestamp, svix-signature) and POSTed when the queue
is flushed (`webhooks.flush()`; dev mode every second). `webhook(type, email)`
builds one by hand, for tests of order and replays.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import html
import json
import mimetypes
import re
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shared.devstack.standins.journal import Journal
from shared.devstack.standins.plumbing import Clock, Faults, WebhookQueue, json_response

IDEMPOTENCY_TTL = 24 * 60 * 60
MAX_RECIPIENTS = 50
MAX_BATCH = 100
MAX_ATTACHMENT_BYTES = 40 * 1024 * 1024

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_NAMED_ADDRESS = re.compile(r"^(?P<name>[^<>]*)<(?P<address>[^<>]+)>$")
_TAG = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_CID = re.compile(r"cid:([^\"'\s)>]+)", re.IGNORECASE)
_SEND_FIELDS = frozenset("""
    from to subject html text cc bcc reply_to headers attachments tags scheduled_at template topic_id
""".split())


class ResendError(Exception):
    """A refusal in Resend's shape."""

    def __init__(self, status: int, name: str, message: str):
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message

    def body(self) -> dict:
        return {"statusCode": self.status, "name": self.name, "message": self.message}


def _invalid(message: str) -> ResendError:
    return ResendError(422, "validation_error", message)


def _missing(field: str) -> ResendError:
    return ResendError(422, "missing_required_field", f"Missing `{field}` field.")


class ResendStandin:
    """An in-memory Resend. One instance per app; every method is thread-safe.

    Inspection: `emails` (oldest first, deep copies; attachment content as
    bytes), `email(id)`, `emails_to(address)`, `last_email`.
    Driving: `fail_next`, `clear`, `set_clock`, `advance`.
    """

    def __init__(self, api_key: str | None = None, *, journal: Path | None = None):
        self.api_key = api_key
        self._journal = Journal(journal)  # dev mode: the mailbox survives a restart
        self._lock = threading.RLock()
        self._clock = Clock()
        self._faults = Faults()
        self._emails: dict[str, dict] = {e["id"]: e for e in self._journal.load()}
        self._idempotency: dict[tuple[str, str], dict] = {}
        self.webhooks = WebhookQueue()
        self._endpoint: tuple[str, str] | None = None  # (url, signing secret)
        self._routes = Map([
            Rule("/emails", endpoint="api_send", methods=["POST"]),
            Rule("/emails/batch", endpoint="api_batch", methods=["POST"]),
            Rule("/emails", endpoint="api_list", methods=["GET"]),
            Rule("/emails/<email_id>", endpoint="api_get", methods=["GET"]),
            Rule("/", endpoint="page_mailbox", methods=["GET"]),
            Rule("/mailbox", endpoint="page_mailbox", methods=["GET"]),
            Rule("/mailbox/<email_id>", endpoint="page_email", methods=["GET"]),
            Rule("/mailbox/<email_id>/html", endpoint="page_email_html", methods=["GET"]),
            Rule("/mailbox/<email_id>/attachments/<int:index>", endpoint="page_attachment", methods=["GET"]),
        ], strict_slashes=False)

    # ------------------------------------------------------------- clock

    def set_clock(self, fn: Callable[[], float]) -> None:
        self._clock.set(fn)

    def advance(self, seconds: float) -> None:
        self._clock.advance(seconds)

    def now(self) -> float:
        return self._clock.now()

    # --------------------------------------------------------- inspection

    @property
    def emails(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(sorted(self._emails.values(), key=lambda e: e["_seq"]))

    def email(self, email_id: str) -> dict:
        with self._lock:
            return copy.deepcopy(self._emails[email_id])

    def emails_to(self, address: str) -> list[dict]:
        address = address.lower()
        return [e for e in self.emails if address in {_bare(a).lower() for a in e["to"] + e["cc"] + e["bcc"]}]

    @property
    def last_email(self) -> dict | None:
        emails = self.emails
        return emails[-1] if emails else None

    def clear(self) -> None:
        with self._lock:
            self._emails.clear()
            self._idempotency.clear()
            self._journal.clear()
            self.webhooks.clear()

    @property
    def faults(self) -> Faults:
        """The queued failures and delays (`faults.clear()` ends an outage early)."""
        return self._faults

    def fail_next(self, n: int = 1, status: int = 500, *, after: bool = False) -> None:
        """Make the next `n` API calls fail with `status` (500 application_error, 429 rate limit, ...).

        after=True: the email is stored (and its idempotency key saved) but the
        answer is an error, as when the response is lost on the way back.
        """
        self._faults.add(n, status, after=after)

    def slow_next(self, n: int = 1, seconds: float = 5.0) -> None:
        """Make the next `n` API calls take `seconds` before they are carried out (a slow provider:
        a client that gave up meanwhile never hears the answer)."""
        self._faults.add_slow(n, seconds)

    def html_for_display(self, email_id: str) -> str:
        """The email's HTML with cid: references replaced by data: URIs."""
        with self._lock:
            return _inline_cids(self._emails[email_id])

    # ---------------------------------------------------------------- WSGI

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return self.wsgi(environ, start_response)

    def wsgi(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        adapter = self._routes.bind_to_environ(environ)
        try:
            endpoint, args = adapter.match()
        except (NotFound, MethodNotAllowed):
            response = _json(404, ResendError(404, "not_found", "The requested endpoint does not exist.").body())
        except HTTPException as exc:
            response = exc.get_response(environ)
        else:
            if endpoint.startswith("api_"):
                response = self._api(request, getattr(self, f"_{endpoint}"), args)
            else:
                response = getattr(self, f"_{endpoint}")(request, **args)
        return response(environ, start_response)

    # ----------------------------------------------------------------- API

    def _authenticate(self, request: Request) -> ResendError | None:
        if self.api_key is None:
            return None
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer "):].strip() if header.startswith("Bearer ") else ""
        if not token:
            return ResendError(401, "missing_api_key", "Missing API key in the authorization header.")
        if not hmac.compare_digest(token.encode(), self.api_key.encode()):
            return ResendError(403, "invalid_api_key", "API key is invalid")
        return None

    def _api(self, request: Request, handler: Callable, args: dict) -> Response:
        refusal = self._authenticate(request)
        if refusal is not None:
            return _json(refusal.status, refusal.body())
        failure = self._faults.take()
        if failure is not None and not failure.after:
            return _json(failure.status, _failure_body(failure.status))
        try:
            status, body = handler(request, **args)
        except ResendError as exc:
            status, body = exc.status, exc.body()
        if failure is not None:
            return _json(failure.status, _failure_body(failure.status))
        return _json(status, body)

    def _read_json(self, request: Request) -> Any:
        try:
            return json.loads(request.get_data() or b"null")
        except (ValueError, UnicodeDecodeError):
            raise _invalid("The request body is not valid JSON.") from None

    def _idempotent(self, request: Request, scope: str, payload: Any,
                    create: Callable[[], tuple[int, dict]]) -> tuple[int, dict]:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            with self._lock:
                return create()
        if not 1 <= len(key) <= 256:
            raise ResendError(400, "invalid_idempotency_key",
                              "The idempotency key must be between 1 and 256 characters.")
        fingerprint = json.dumps(payload, sort_keys=True)
        with self._lock:
            now = self.now()
            for old in [k for k, v in self._idempotency.items() if v["at"] + IDEMPOTENCY_TTL <= now]:
                del self._idempotency[old]
            saved = self._idempotency.get((scope, key))
            if saved is not None:
                if saved["fingerprint"] != fingerprint:
                    raise ResendError(409, "invalid_idempotent_request",
                                      "Same idempotency key used with a different request payload. Change your "
                                      "idempotency key or payload.")
                return saved["status"], copy.deepcopy(saved["body"])
            status, body = create()
            self._idempotency[(scope, key)] = {"fingerprint": fingerprint, "status": status,
                                               "body": copy.deepcopy(body), "at": now}
            return status, body

    def _api_send(self, request: Request) -> tuple[int, dict]:
        payload = self._read_json(request)
        email = _validate(payload)

        def create() -> tuple[int, dict]:
            return 200, {"id": self._store(email, request.headers.get("Idempotency-Key"))}
        return self._idempotent(request, "email", payload, create)

    def _api_batch(self, request: Request) -> tuple[int, dict]:
        payload = self._read_json(request)
        if not isinstance(payload, list) or not payload:
            raise _invalid("The batch must be a non-empty array of emails.")
        if len(payload) > MAX_BATCH:
            raise _invalid(f"A batch can hold at most {MAX_BATCH} emails.")
        emails = []
        for i, item in enumerate(payload):
            try:
                emails.append(_validate(item))
            except ResendError as exc:
                raise ResendError(exc.status, exc.name, f"emails[{i}]: {exc.message}") from None
            if item.get("attachments") or item.get("scheduled_at"):
                raise _invalid(f"emails[{i}]: attachments and scheduled_at are not supported in batch sends.")

        def create() -> tuple[int, dict]:
            key = request.headers.get("Idempotency-Key")
            return 200, {"data": [{"id": self._store(e, key)} for e in emails]}
        return self._idempotent(request, "batch", payload, create)

    def _api_list(self, request: Request) -> tuple[int, dict]:
        with self._lock:
            emails = sorted(self._emails.values(), key=lambda e: e["_seq"], reverse=True)
            return 200, {"object": "list", "has_more": False, "data": [_public(e) for e in emails]}

    def _api_get(self, request: Request, email_id: str) -> tuple[int, dict]:
        with self._lock:
            email = self._emails.get(email_id)
            if email is None:
                raise ResendError(404, "not_found", "Email not found")
            return 200, _public(email)

    def _store(self, email: dict, idempotency_key: str | None) -> str:
        email = copy.deepcopy(email)
        email["id"] = str(uuid.uuid4())
        email["created_at"] = datetime.fromtimestamp(self.now(), timezone.utc).isoformat()
        email["idempotency_key"] = idempotency_key
        outcome = _test_outcome(email["to"])
        email["last_event"] = outcome[-1].removeprefix("email.")
        email["_seq"] = len(self._emails)
        self._emails[email["id"]] = email
        self._journal.append(email)
        for event_type in outcome:
            self.queue_webhook(self.webhook(event_type, email))
        return email["id"]

    # ----------------------------------------------------------- webhooks

    def subscribe(self, url: str, secret: str) -> None:
        """The webhook endpoint (Resend's dashboard setting) and its signing secret (whsec_...)."""
        self._endpoint = (url, secret)

    def webhook(self, event_type: str, email: dict, **data: Any) -> dict:
        """One event about `email` as Resend's webhook sends it (extra `data` fields merged)."""
        tags = {t["name"]: t["value"] for t in email.get("tags") or []}
        body = {"created_at": email["created_at"], "email_id": email["id"], "from": email["from"],
                "to": email["to"], "subject": email["subject"], "message_id": f"<{email['id']}@resend.dev>",
                "tags": tags}
        if event_type == "email.bounced":
            body["bounce"] = {"type": "Permanent", "subType": "General",
                              "message": "The recipient's email provider rejected the address."}
        body.update(data)
        return {"type": event_type, "created_at": datetime.fromtimestamp(self.now(), timezone.utc).isoformat(),
                "data": body}

    def signed(self, event: dict, *, event_id: str | None = None, timestamp: int | None = None,
               secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a webhook delivery, signed with the endpoint's secret (or `secret`)."""
        secret = secret or (self._endpoint[1] if self._endpoint else "")
        event_id = event_id or f"msg_{uuid.uuid4().hex}"
        timestamp = int(time.time()) if timestamp is None else timestamp
        body = json.dumps(event).encode("utf-8")
        key = base64.b64decode(secret.removeprefix("whsec_"))
        digest = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        return body, {"content-type": "application/json", "svix-id": event_id, "svix-timestamp": str(timestamp),
                      "svix-signature": "v1," + base64.b64encode(digest).decode()}

    def queue_webhook(self, event: dict) -> None:
        if self._endpoint is not None:
            body, headers = self.signed(event)
            self.webhooks.add(self._endpoint[0], body, headers)

    # ------------------------------------------------------------ mailbox

    def _page_mailbox(self, request: Request) -> Response:
        root = html.escape(request.script_root)
        with self._lock:
            emails = sorted(self._emails.values(), key=lambda e: e["_seq"], reverse=True)
            rows = "".join(
                f'<tr class="email" data-id="{html.escape(e["id"])}">'
                f'<td>{html.escape(_display_time(e["created_at"]))}</td>'
                f'<td>{html.escape(", ".join(e["to"]))}</td>'
                f'<td><a href="{root}/mailbox/{html.escape(e["id"])}">{html.escape(e["subject"])}</a></td>'
                f'<td>{html.escape(e["from"])}</td>'
                f'<td class="num">{len(e["attachments"]) or ""}</td></tr>'
                for e in emails)
        body = (f"<h1>Mailbox <small>({len(emails)})</small></h1>"
                + (f'<table id="emails"><tr><th>Sent</th><th>To</th><th>Subject</th><th>From</th>'
                   f'<th class="num">📎</th></tr>{rows}</table>' if rows else "<p>No emails yet.</p>"))
        return _page(200, "Mailbox", body)

    def _page_email(self, request: Request, email_id: str) -> Response:
        root = html.escape(request.script_root)
        with self._lock:
            email = copy.deepcopy(self._emails.get(email_id))
        if email is None:
            return _page(404, "Unknown email", "<h1>Unknown email</h1>")
        rendered = _inline_cids(email)
        meta = [("From", email["from"]), ("To", ", ".join(email["to"])), ("Cc", ", ".join(email["cc"])),
                ("Bcc", ", ".join(email["bcc"])), ("Reply-To", ", ".join(email["reply_to"])),
                ("Sent", _display_time(email["created_at"])), ("Scheduled", email["scheduled_at"] or ""),
                ("Idempotency-Key", email["idempotency_key"] or "")]
        meta += [(name, value) for name, value in email["headers"].items()]
        meta += [("Tag", f'{t["name"]}={t["value"]}') for t in email["tags"]]
        meta_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                            for k, v in meta if v)
        attachments = []
        for i, a in enumerate(email["attachments"]):
            link = f'{root}/mailbox/{html.escape(email["id"])}/attachments/{i}'
            label = (f'{html.escape(a["filename"] or "(unnamed)")} · {html.escape(a["content_type"])} · '
                     f'{a["size"]} bytes' + (f' · cid:{html.escape(a["content_id"])}' if a["content_id"] else ""))
            preview = ""
            if a["content"] is not None and a["content_type"].startswith("image/"):
                preview = f'<br><img class="attachment-preview" alt="{html.escape(a["filename"] or "")}" ' \
                          f'src="{_data_uri(a)}">'
            elif a["path"]:
                label += f' · remote: {html.escape(a["path"])}'
            attachments.append(f'<li><a href="{link}">{label}</a>{preview}</li>')
        html_part = (f'<iframe id="html-part" title="HTML part" sandbox srcdoc="{html.escape(rendered, quote=True)}">'
                     "</iframe>" if email["html"] else "<p>(no HTML part)</p>")
        text_part = (f'<pre id="text-part">{html.escape(email["text"])}</pre>' if email["text"]
                     else "<p>(no text part)</p>")
        body = f"""<p><a href="{root}/mailbox">← Mailbox</a></p>
<h1 id="subject">{html.escape(email['subject'])}</h1>
<table class="meta">{meta_rows}</table>
<h2>HTML</h2>
<p><a href="{root}/mailbox/{html.escape(email['id'])}/html">open alone</a></p>
{html_part}
<h2>Text</h2>
{text_part}
<h2>Attachments</h2>
{'<ul id="attachments">' + ''.join(attachments) + '</ul>' if attachments else '<p>None.</p>'}"""
        return _page(200, email["subject"], body)

    def _page_email_html(self, request: Request, email_id: str) -> Response:
        with self._lock:
            email = self._emails.get(email_id)
            rendered = _inline_cids(email) if email else None
        if rendered is None:
            return _page(404, "Unknown email", "<h1>Unknown email</h1>")
        return Response(rendered, content_type="text/html; charset=utf-8")

    def _page_attachment(self, request: Request, email_id: str, index: int) -> Response:
        with self._lock:
            email = self._emails.get(email_id)
            attachment = email["attachments"][index] if email and index < len(email["attachments"]) else None
        if attachment is None or attachment["content"] is None:
            return _page(404, "Unknown attachment", "<h1>Unknown attachment</h1>")
        response = Response(attachment["content"], content_type=attachment["content_type"])
        response.headers.set("Content-Disposition", "inline", filename=attachment["filename"] or "attachment")
        return response


# ----------------------------------------------------------------- validation

def _validate(payload: Any) -> dict:
    """Check one email as Resend would and normalise it for storage."""
    if not isinstance(payload, dict):
        raise _invalid("The email must be a JSON object.")
    unknown = sorted(set(payload) - _SEND_FIELDS)
    if unknown:
        raise _invalid(f"Unknown field(s): {', '.join(unknown)}.")
    sender = payload.get("from")
    if not sender:
        raise _missing("from")
    if not isinstance(sender, str) or not _valid_address(sender):
        raise _invalid("Invalid `from` field. The email address needs to follow the `email@example.com` or "
                       "`Name <email@example.com>` format.")
    if not payload.get("to"):
        raise _missing("to")
    to = _addresses(payload["to"], "to")
    if len(to) > MAX_RECIPIENTS:
        raise _invalid(f"Too many recipients in `to`: at most {MAX_RECIPIENTS}.")
    template = payload.get("template")
    if not payload.get("subject") and not template:
        raise _missing("subject")
    if not (payload.get("html") or payload.get("text") or template):
        raise _missing("html` or `text")
    for field in ("subject", "html", "text"):
        if payload.get(field) is not None and not isinstance(payload[field], str):
            raise _invalid(f"`{field}` must be a string.")
    headers = payload.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in headers.items()):
        raise _invalid("`headers` must be an object of string values.")
    tags = payload.get("tags") or []
    if not isinstance(tags, list):
        raise _invalid("`tags` must be an array.")
    for tag in tags:
        if not isinstance(tag, dict) or not _TAG.match(str(tag.get("name", ""))) \
                or not _TAG.match(str(tag.get("value", ""))):
            raise _invalid("Tags should only contain ASCII letters, numbers, underscores, or dashes.")
    return {
        "from": sender,
        "to": to,
        "cc": _addresses(payload.get("cc"), "cc"),
        "bcc": _addresses(payload.get("bcc"), "bcc"),
        "reply_to": _addresses(payload.get("reply_to"), "reply_to"),
        "subject": payload.get("subject") or "",
        "html": payload.get("html") or "",
        "text": payload.get("text") or "",
        "headers": dict(headers),
        "tags": [{"name": t["name"], "value": t["value"]} for t in tags],
        "attachments": _attachments(payload.get("attachments")),
        "scheduled_at": payload.get("scheduled_at"),
        "template": template,
    }


def _valid_address(value: str) -> bool:
    return bool(_ADDRESS.match(_bare(value)))


def _bare(value: str) -> str:
    match = _NAMED_ADDRESS.match(value.strip())
    return (match.group("address") if match else value).strip()


def _addresses(value: Any, field: str) -> list[str]:
    if value in (None, "", []):
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _invalid(f"`{field}` must be a string or an array of strings.")
    for address in values:
        if not _valid_address(address):
            raise _invalid(f"Invalid `{field}` field. The email address needs to follow the "
                           "`email@example.com` or `Name <email@example.com>` format.")
    return list(values)


def _attachments(value: Any) -> list[dict]:
    if value in (None, []):
        return []
    if not isinstance(value, list):
        raise _invalid("`attachments` must be an array.")
    out, total = [], 0
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _invalid(f"attachments[{i}] must be an object.")
        content, path = item.get("content"), item.get("path")
        if content is None and not path:
            raise _invalid(f"attachments[{i}] needs `content` or `path`.")
        data: bytes | None = None
        if content is not None:
            if isinstance(content, list):
                try:
                    data = bytes(content)
                except (TypeError, ValueError):
                    raise _invalid(f"attachments[{i}].content must be bytes (0-255) or base64.") from None
            elif isinstance(content, str):
                try:
                    data = base64.b64decode(content, validate=True)
                except (binascii.Error, ValueError):
                    raise _invalid(f"attachments[{i}].content is not valid base64.") from None
            else:
                raise _invalid(f"attachments[{i}].content must be an array of bytes or a base64 string.")
            total += len(data)
        filename = item.get("filename")
        if data is not None and not filename:
            raise _missing(f"attachments[{i}].filename")
        content_type = item.get("content_type") or (
            mimetypes.guess_type(filename or path or "")[0] or "application/octet-stream")
        out.append({
            "filename": filename,
            "content_type": content_type,
            "content_id": item.get("content_id") or item.get("inline_content_id"),
            "content": data,
            "path": path,
            "size": len(data) if data is not None else 0,
        })
    if total > MAX_ATTACHMENT_BYTES:
        raise _invalid("Attachments may not exceed 40MB in total.")
    return out


# ------------------------------------------------------------------ rendering

def _test_outcome(recipients: list[str]) -> list[str]:
    """Resend's test addresses decide what happens after `email.sent`."""
    local, _, domain = _bare(recipients[0]).lower().partition("@") if recipients else ("", "", "")
    local = local.split("+", 1)[0]
    if domain == "resend.dev" and local in ("bounced", "complained", "suppressed"):
        return {"bounced": ["email.sent", "email.bounced"],
                "complained": ["email.sent", "email.delivered", "email.complained"],
                "suppressed": ["email.suppressed"]}[local]
    return ["email.sent", "email.delivered"]


def _public(email: dict) -> dict:
    """The email as GET /emails/{id} shows it."""
    return {
        "object": "email",
        "id": email["id"],
        "to": email["to"],
        "from": email["from"],
        "created_at": email["created_at"],
        "subject": email["subject"],
        "html": email["html"] or None,
        "text": email["text"] or None,
        "bcc": email["bcc"] or None,
        "cc": email["cc"] or None,
        "reply_to": email["reply_to"] or None,
        "last_event": email["last_event"],
        "scheduled_at": email["scheduled_at"],
        "tags": email["tags"],
    }


def _data_uri(attachment: dict) -> str:
    return f'data:{attachment["content_type"]};base64,{base64.b64encode(attachment["content"]).decode("ascii")}'


def _inline_cids(email: dict) -> str:
    by_cid = {a["content_id"].strip("<>"): a for a in email["attachments"]
              if a["content_id"] and a["content"] is not None}

    def replace(match: re.Match) -> str:
        attachment = by_cid.get(match.group(1).strip("<>"))
        return _data_uri(attachment) if attachment else match.group(0)
    return _CID.sub(replace, email["html"] or "")


def _display_time(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC")


def _failure_body(status: int) -> dict:
    if status == 429:
        return ResendError(429, "rate_limit_exceeded", "Too many requests (simulated by the stand-in).").body()
    return ResendError(status, "application_error",
                       "Something went wrong (simulated outage of the Resend stand-in).").body()


_json = json_response


def _page(status: int, title: str, body: str) -> Response:
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · Dev mailbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body {{ font: 15px/1.5 system-ui, sans-serif; margin: 0; background: #f4f4f5; color: #18181b; }}
 main {{ max-width: 60rem; margin: 1.5rem auto; background: #fff; padding: 1rem 2rem; border-radius: 8px; }}
 table {{ width: 100%; border-collapse: collapse; }}
 th, td {{ text-align: left; padding: .3rem .4rem; border-bottom: 1px solid #e4e4e7; vertical-align: top; }}
 .num {{ text-align: right; }}
 table.meta th {{ width: 10rem; color: #52525b; font-weight: 500; }}
 iframe {{ width: 100%; height: 32rem; border: 1px solid #e4e4e7; border-radius: 4px; }}
 pre {{ white-space: pre-wrap; background: #fafafa; padding: .75rem; border: 1px solid #e4e4e7; }}
 .attachment-preview {{ max-width: 12rem; margin: .25rem 0; }}
</style></head>
<body><main>
<p><small>Dev mailbox: emails accepted by the local Resend stand-in. Nothing was really sent.</small></p>
{body}
</main></body></html>"""
    return Response(document, status=status, content_type="text/html; charset=utf-8")
