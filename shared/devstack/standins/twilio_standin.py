"""A local Twilio (Programmable Messaging) for dev mode and tests: accepts what
the twilio SDK sends and keeps every SMS in memory, with a dev page to read them.

The product uses the real twilio SDK; only the origin changes (see
shared/providers/sms.py, which rewrites https://api.twilio.com to TWILIO_API_BASE).

Served (relative to the mount):

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json           send (form-encoded To, From, Body)
    GET  /2010-04-01/Accounts/{AccountSid}/Messages.json           list, newest first (?To=, ?PageSize=)
    GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json     one message
    GET  /, /messages                                              every message as an HTML page

Checked as Twilio checks them: HTTP basic auth with the account SID and auth
token (401, code 20003), the SID in the path matching the credentials (20003),
`To` in E.164 (21211), `From` present (21603) and an E.164 number or an
alphanumeric sender ID (21212), `Body` present (21602) and at most 1600
characters (21617). Errors have Twilio's shape {code, message, more_info,
status} so the SDK raises TwilioRestException with the code. `fail_next`
simulates an outage.

Webhooks, signed as Twilio signs them (X-Twilio-Signature, computed by the
twilio SDK's RequestValidator with the auth token) and POSTed when the queue is
flushed (`webhooks.flush()`; dev mode every second):
- a message sent with a StatusCallback owes `sent` and then `delivered`, or
  `undelivered` with the error code `undeliverable(number, code)` set;
- `receive(number, body)` is a text to our number, POSTed to the inbound URL
  (`subscribe_inbound`). After STOP (or another opt-out keyword) Twilio
  refuses to text that number (21610) until it sends START.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import html
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shared.devstack.standins.journal import Journal
from twilio.request_validator import RequestValidator

from shared.devstack.standins.plumbing import Faults, WebhookQueue, json_response

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
MAX_BODY = 1600
SEGMENT = 160
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
API = "/2010-04-01/Accounts/<account_sid>"


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict:
        return {"code": self.code, "message": self.message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}", "status": self.status}


class TwilioStandin:
    """An in-memory Twilio. One instance per app; every method is thread-safe.

    Inspection: `messages` (oldest first, copies), `messages_to(number)`, `last_message`.
    Driving: `fail_next`, `clear`.
    """

    def __init__(self, account_sid: str, auth_token: str, *, journal: Path | None = None):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._journal = Journal(journal)  # dev mode: the SMS list survives a restart
        self._lock = threading.RLock()
        self._faults = Faults()
        self._messages: dict[str, dict] = {m["sid"]: m for m in self._journal.load()}
        self.webhooks = WebhookQueue()
        self._inbound_url: str | None = None
        self._opted_out: set[str] = set()
        self._undeliverable: dict[str, str] = {}
        self._routes = Map([
            Rule(f"{API}/Messages.json", endpoint="api_send", methods=["POST"]),
            Rule(f"{API}/Messages.json", endpoint="api_list", methods=["GET"]),
            Rule(f"{API}/Messages/<sid>.json", endpoint="api_get", methods=["GET"]),
            Rule("/", endpoint="page", methods=["GET"]),
            Rule("/messages", endpoint="page", methods=["GET"]),
        ], strict_slashes=False)

    # --------------------------------------------------------- inspection

    @property
    def messages(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(sorted(self._messages.values(), key=lambda m: m["_seq"]))

    def messages_to(self, number: str) -> list[dict]:
        return [m for m in self.messages if m["to"] == number]

    @property
    def last_message(self) -> dict | None:
        messages = self.messages
        return messages[-1] if messages else None

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._faults.clear()
            self._journal.clear()
            self._opted_out.clear()
            self._undeliverable.clear()
        self.webhooks.clear()

    # ----------------------------------------------------------- webhooks

    def subscribe_inbound(self, url: str) -> None:
        """Where texts to our number are POSTed (the number's incoming-message webhook)."""
        self._inbound_url = url

    def undeliverable(self, number: str, error_code: str = "30005") -> None:
        """Messages to `number` end `undelivered` with `error_code` (30005: unknown handset)."""
        with self._lock:
            self._undeliverable[number] = error_code

    def receive(self, number: str, body: str, *, to: str | None = None) -> None:
        """`number` texts us `body`; the carrier-standard keywords opt it out of (or back into) our texts."""
        keyword = body.strip().upper()
        with self._lock:
            if keyword in OPT_OUT:
                self._opted_out.add(number)
            elif keyword in OPT_IN:
                self._opted_out.discard(number)
        if self._inbound_url:
            params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": self.account_sid, "From": number,
                      "To": to or "+447700900000", "Body": body, "NumMedia": "0", "ApiVersion": "2010-04-01"}
            if keyword in OPT_OUT | OPT_IN:
                params["OptOutType"] = "STOP" if keyword in OPT_OUT else "START"
            self.queue_webhook(self._inbound_url, params)

    def signature(self, url: str, params: dict[str, str]) -> str:
        return RequestValidator(self.auth_token).compute_signature(url, params)

    def queue_webhook(self, url: str, params: dict[str, str]) -> None:
        self.webhooks.add(url, urlencode(params).encode(), {
            "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": self.signature(url, params),
            "user-agent": "TwilioProxy/1.1"})

    def _owe_status_callbacks(self, message: dict, callback: str) -> None:
        failure = self._undeliverable.get(message["to"])
        for status in ("sent", "undelivered" if failure else "delivered"):
            params = {"MessageSid": message["sid"], "SmsSid": message["sid"], "AccountSid": self.account_sid,
                      "From": message["from"], "To": message["to"], "MessageStatus": status, "SmsStatus": status,
                      "ApiVersion": "2010-04-01"}
            if status == "undelivered":
                params["ErrorCode"] = failure
            self.queue_webhook(callback, params)

    @property
    def faults(self) -> Faults:
        """The queued failures and delays (`faults.clear()` ends an outage early)."""
        return self._faults

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Make the next `n` API calls fail with `status` (500: Twilio down; 429: too many requests)."""
        self._faults.add(n, status)

    def slow_next(self, n: int = 1, seconds: float = 5.0) -> None:
        """Make the next `n` API calls take `seconds` before they are carried out (a slow provider:
        a client that gave up meanwhile never hears the answer)."""
        self._faults.add_slow(n, seconds)

    # ---------------------------------------------------------------- WSGI

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return self.wsgi(environ, start_response)

    def wsgi(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        adapter = self._routes.bind_to_environ(environ)
        try:
            endpoint, args = adapter.match()
        except (NotFound, MethodNotAllowed):
            response = _json(404, TwilioError(404, 20404, "The requested resource was not found").body())
        except HTTPException as exc:
            response = exc.get_response(environ)
        else:
            if endpoint == "page":
                response = self._page(request)
            else:
                response = self._api(request, getattr(self, f"_{endpoint}"), args)
        return response(environ, start_response)

    # ----------------------------------------------------------------- API

    def _authenticate(self, request: Request, account_sid: str) -> None:
        header = request.headers.get("Authorization", "")
        username = password = ""
        if header.startswith("Basic "):
            try:
                username, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                pass
        if not (hmac.compare_digest(username.encode(), self.account_sid.encode())
                and hmac.compare_digest(password.encode(), self.auth_token.encode())):
            raise TwilioError(401, 20003, "Authenticate")
        if account_sid != self.account_sid:
            raise TwilioError(403, 20003, "The AccountSid in the URL does not match the credentials")

    def _api(self, request: Request, handler: Callable, args: dict) -> Response:
        try:
            self._authenticate(request, args.pop("account_sid"))
            failure = self._faults.take()
            if failure is not None:
                raise TwilioError(failure.status, 20500 if failure.status >= 500 else 20429,
                                  "An internal server error has occurred" if failure.status >= 500
                                  else "Too Many Requests")
            status, body = handler(request, **args)
        except TwilioError as exc:
            status, body = exc.status, exc.body()
        return _json(status, body)

    def _api_send(self, request: Request) -> tuple[int, dict]:
        form = request.form
        to, sender, body = form.get("To"), form.get("From"), form.get("Body")
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not E164.match(to):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not sender:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if not (E164.match(sender) or ALPHANUMERIC_SENDER.match(sender)):
            raise TwilioError(400, 21212, f"Invalid From Number (caller ID): {sender}")
        if not body or not body.strip():
            raise TwilioError(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        with self._lock:
            if to in self._opted_out:
                raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")
        now = formatdate(usegmt=True)
        sid = "SM" + uuid.uuid4().hex
        message = {
            "sid": sid, "account_sid": self.account_sid, "to": to, "from": sender, "body": body,
            "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
            "num_segments": str(-(-len(body) // SEGMENT)), "num_media": "0",
            "date_created": now, "date_updated": now, "date_sent": None,
            "price": None, "price_unit": "GBP", "error_code": None, "error_message": None,
            "messaging_service_sid": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json", "subresource_uris": {},
        }
        with self._lock:
            message["_seq"] = len(self._messages)
            self._messages[sid] = message
            self._journal.append(message)
        if form.get("StatusCallback"):
            self._owe_status_callbacks(message, form["StatusCallback"])
        return 201, _public(message)

    def _api_list(self, request: Request) -> tuple[int, dict]:
        to = request.args.get("To")
        size = max(1, min(1000, request.args.get("PageSize", 50, type=int)))
        found = [m for m in reversed(self.messages) if to is None or m["to"] == to][:size]
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        return 200, {"messages": [_public(m) for m in found], "first_page_uri": uri, "next_page_uri": None,
                     "previous_page_uri": None, "page": 0, "page_size": size, "start": 0, "end": len(found) - 1,
                     "uri": uri}

    def _api_get(self, request: Request, sid: str) -> tuple[int, dict]:
        with self._lock:
            message = self._messages.get(sid)
        if message is None:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        return 200, _public(message)

    # --------------------------------------------------------------- page

    def _page(self, request: Request) -> Response:
        rows = "".join(
            f"<tr><td>{html.escape(m['date_created'])}</td><td>{html.escape(m['to'])}</td>"
            f"<td>{html.escape(m['from'])}</td><td>{html.escape(m['body'])}</td></tr>"
            for m in reversed(self.messages))
        body = (f"<!doctype html><title>SMS</title><h1>SMS <small>({len(self._messages)})</small></h1>"
                + (f"<table><tr><th>Sent</th><th>To</th><th>From</th><th>Body</th></tr>{rows}</table>"
                   if rows else "<p>No messages yet.</p>"))
        return Response(body, status=200, content_type="text/html; charset=utf-8")


def _public(message: dict) -> dict:
    return {k: v for k, v in message.items() if not k.startswith("_")}


_json = json_response
