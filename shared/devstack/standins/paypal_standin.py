"""A local PayPal for dev mode and tests: Orders v2 with a buyer's approval page, captures and
refunds, the vault (v3), and webhooks signed and verified as PayPal does it, all in memory.

The product talks to it with PayPal's own paypal-server-sdk; only the base URL changes (see
shared/providers/paypal.py). Served (relative to the mount, /paypal in dev mode):

    POST   /v1/oauth2/token                             client credentials (HTTP basic) -> a Bearer token
    POST   /v2/checkout/orders                          intent CAPTURE, one purchase unit
    GET    /v2/checkout/orders/{id}
    POST   /v2/checkout/orders/{id}/capture             once, after the buyer approved
    GET    /v2/payments/captures/{id}
    POST   /v2/payments/captures/{id}/refund            no amount: what is left; else up to what is left
    GET    /v2/payments/refunds/{id}
    POST   /v3/vault/setup-tokens, GET /v3/vault/setup-tokens/{id}       PayPal wallets only
    POST   /v3/vault/payment-tokens                     from an approved setup token
    GET    /v3/vault/payment-tokens?customer_id=, GET|DELETE /v3/vault/payment-tokens/{id}
    POST   /v1/notifications/verify-webhook-signature
    GET    /v1/notifications/certs/{cert_id}            the PEM certificate webhooks are signed with
    GET    /                                            dev index of orders
    GET    /checkoutnow?token={order_id}                the buyer's page: #approve, #decline, #cancel
    GET    /agreements/approve?approval_session_id={id} the buyer saves their wallet: #approve, #cancel

Like PayPal: every API path wants `Authorization: Bearer <token>` from /v1/oauth2/token (401
AUTHENTICATION_FAILURE otherwise); errors are {name, message, debug_id, details: [{field,
value, location, issue, description}], links}; a POST with a `PayPal-Request-Id` already seen on
the same endpoint answers the first success again (200, for 6 hours); `Prefer:
return=representation` gets the whole resource, else the minimal one. Amounts are decimal
strings with the currency's own decimals (JPY, HUF, TWD none; 400 INVALID_PARAMETER_SYNTAX, 422
DECIMAL_PRECISION / DECIMALS_NOT_SUPPORTED / INVALID_CURRENCY_CODE / CANNOT_BE_ZERO_OR_NEGATIVE),
and a breakdown must add up (ITEM_TOTAL_MISMATCH, AMOUNT_MISMATCH). An order made with
payment_source.paypal is PAYER_ACTION_REQUIRED with a "payer-action" link, one made with
application_context is CREATED with an "approve" link; both links open the approval page here.
Capturing before approval is 422 ORDER_NOT_APPROVED, a second time ORDER_ALREADY_CAPTURED, after
`decline()` INSTRUMENT_DECLINED (the buyer must approve again); an invoice_id already paid is
DUPLICATE_INVOICE_ID. Refunds: REFUND_AMOUNT_EXCEEDED, CAPTURE_FULLY_REFUNDED,
REFUND_CAPTURE_CURRENCY_MISMATCH; the capture turns PARTIALLY_REFUNDED, then REFUNDED. An order
made with payment_source.paypal.vault_id (a saved wallet) is captured at once and needs a
PayPal-Request-Id (400 PAYPAL_REQUEST_ID_REQUIRED). The stand-in refuses what it does not model
(intent AUTHORIZE, several purchase units, cards) with issue NOT_SUPPORTED.

Webhooks (CHECKOUT.ORDER.APPROVED, PAYMENT.CAPTURE.COMPLETED, PAYMENT.CAPTURE.REFUNDED) are owed
through `webhooks` (plumbing.WebhookQueue), POSTed on `webhooks.flush()` (dev mode: every
second), never during the call that caused them; with no webhook_url they are only kept in `events`. Each carries PAYPAL-TRANSMISSION-ID, -TIME,
-SIG, PAYPAL-CERT-URL and PAYPAL-AUTH-ALGO: SHA256withRSA over
"transmission_id|transmission_time|webhook_id|crc32(body)" with a key pair made at start, whose
self-signed certificate is served at the cert URL. verify-webhook-signature recomputes that from
the event it is given (serialised as the stand-in sends bodies: compact JSON, keys in order), so
a changed body, another webhook_id or a forged signature is FAILURE.

Faults (`faults`, or `fail_next`) apply to the Bearer-authenticated API calls, not to the token
endpoint, the certificate or the pages.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import html
import json
import logging
import re
import secrets
import string
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shared.devstack.standins.plumbing import Clock, Faults, WebhookQueue, json_response

logger = logging.getLogger("bookwell.standins.paypal")

# PayPal's currencies and how many decimals each takes
# (https://developer.paypal.com/api/rest/reference/currency-codes/).
CURRENCIES = {code: 0 if code in ("HUF", "JPY", "TWD") else 2 for code in (
    "AUD BRL CAD CNY CZK DKK EUR HKD HUF ILS JPY MYR MXN TWD NZD NOK PHP PLN GBP SGD SEK CHF THB USD").split()}
MAX_VALUE = Decimal("999999999999999.99")
TOKEN_SECONDS = 32400  # PayPal's access tokens last nine hours
REQUEST_ID_SECONDS = 6 * 3600  # how long a PayPal-Request-Id is remembered
AUTH_ALGO = "SHA256withRSA"
MERCHANT = {"email_address": "merchant@bookwell.local", "merchant_id": "BOOKWELLLOCAL"}
BUYER = {"given_name": "Pat", "surname": "Buyer", "email_address": "buyer@example.com", "country_code": "GB"}
_VALUE = re.compile(r"^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$")  # PayPal's pattern for money values
_CUSTOMER_ID = re.compile(r"^[0-9a-zA-Z_-]{1,22}$")
_UPPER = string.ascii_uppercase + string.digits
_LOWER = string.ascii_lowercase + string.digits

_ERRORS = {  # status -> the name and message PayPal puts around the details
    400: ("INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema."),
    401: ("AUTHENTICATION_FAILURE",
          "Authentication failed due to missing authorization header, or invalid authentication credentials."),
    403: ("NOT_AUTHORIZED", "Authorization failed due to insufficient permissions."),
    404: ("RESOURCE_NOT_FOUND", "The specified resource does not exist."),
    409: ("RESOURCE_CONFLICT", "The server has detected a conflict while processing this request."),
    422: ("UNPROCESSABLE_ENTITY",
          "The requested action could not be performed, semantically incorrect, or failed business validation."),
    429: ("RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."),
    500: ("INTERNAL_SERVER_ERROR", "An internal server error occurred."),
    503: ("SERVICE_UNAVAILABLE", "Service Unavailable."),
}
_ISSUES = {  # issue -> PayPal's description of it
    "MALFORMED_REQUEST_JSON": "The request JSON is not well formed.",
    "MISSING_REQUIRED_PARAMETER": "A required parameter is missing.",
    "INVALID_PARAMETER_VALUE": "A parameter value is not valid.",
    "INVALID_PARAMETER_SYNTAX": "The value of a field does not conform to the expected format.",
    "INVALID_STRING_LENGTH": "The value of a field is either too short or too long",
    "NOT_SUPPORTED": "This field is not currently supported.",
    "PAYPAL_REQUEST_ID_REQUIRED": "A PayPal-Request-Id is required if you are trying to process payment for an "
                                  "Order. Please specify a PayPal-Request-Id or Create the Order without a "
                                  "'payment_source' specified.",
    "INVALID_RESOURCE_ID": "Specified resource ID does not exist. Please check the resource ID and try again.",
    "INVALID_CURRENCY_CODE": "Currency code is invalid or is not currently supported. Please refer "
                             "https://developer.paypal.com/api/rest/reference/currency-codes/ for list of "
                             "supported currency codes.",
    "DECIMAL_PRECISION": "If the currency supports decimals, only two decimal place precision is supported.",
    "DECIMALS_NOT_SUPPORTED": "Currency does not support decimals.",
    "CANNOT_BE_ZERO_OR_NEGATIVE": "Must be greater than zero. If the currency supports decimals, only two decimal "
                                  "place precision is supported.",
    "CANNOT_BE_NEGATIVE": "Must be greater than or equal to 0. If the currency supports decimals, only two decimal "
                          "place precision is supported.",
    "MAX_VALUE_EXCEEDED": "Should be less than or equal to 999999999999999.99.",
    "MULTI_CURRENCY_ORDER": "Multiple differing values of currency_code are not supported. Entire Order request "
                            "must have the same currency_code.",
    "ITEM_TOTAL_REQUIRED": "If item details are specified (items.unit_amount and items.quantity) corresponding "
                           "amount.breakdown.item_total is required.",
    "ITEM_TOTAL_MISMATCH": "Should equal sum of (unit_amount * quantity) across all items for a given "
                           "purchase_unit.",
    "AMOUNT_MISMATCH": "Should equal item_total + tax_total + shipping + handling + insurance - shipping_discount "
                       "- discount.",
    "DUPLICATE_INVOICE_ID": "Duplicate Invoice ID detected. To avoid a potential duplicate transaction your account "
                            "setting requires that Invoice Id be unique for each transaction.",
    "ORDER_NOT_APPROVED": "Payer has not yet approved the Order for payment. Please redirect the payer to the "
                          "'rel':'approve' url returned as part of the HATEOAS links within the Create Order call "
                          "or provide a valid `payment_source` in the request.",
    "ORDER_ALREADY_CAPTURED": "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed.",
    "INSTRUMENT_DECLINED": "The instrument presented  was either declined by the processor or bank, or it can't "
                           "be used for this payment.",
    "CAPTURE_FULLY_REFUNDED": "The capture has already been fully refunded",
    "REFUND_CAPTURE_CURRENCY_MISMATCH": "Refund must be in the same currency as the capture",
    "REFUND_AMOUNT_EXCEEDED": "The refund amount must be less than or equal to the capture amount that has not yet "
                              "been refunded.",
    # Not in PayPal's published lists: what the stand-in says where PayPal's wording is unknown.
    "SETUP_TOKEN_NOT_APPROVED": "The payer has not approved this setup token yet.",
    "INVALID_VAULT_ID": "The vault_id does not name a saved payment token.",
}
_DOCS = {"/v2/checkout": "orders/v2", "/v2/payments": "payments/v2", "/v3/vault": "payment-tokens/v3",
         "/v1/notifications": "webhooks/v1"}


class PaypalError(Exception):
    """A refusal in PayPal's shape: the status gives name and message, `details` the issues."""

    def __init__(self, status: int, details: list[dict] | None = None, *, links: list[dict] | None = None):
        self.status = status
        self.name, self.message = _ERRORS.get(status, _ERRORS[500])
        self.details = details or []
        self.links = links or []
        super().__init__(f"{self.name}: {', '.join(d['issue'] for d in self.details) or self.message}")

    def body(self, debug_id: str, docs: str | None) -> dict:
        body: dict[str, Any] = {"name": self.name, "message": self.message, "debug_id": debug_id}
        if self.details:
            body["details"] = self.details
        links = list(self.links)
        if docs:
            anchor = f"error-{self.details[0]['issue']}" if self.details else "errors"
            links.append({"href": f"https://developer.paypal.com/docs/api/{docs}/#{anchor}",
                          "rel": "information_link", "method": "GET"})
        if links:
            body["links"] = links
        return body


def issue(status: int, name: str, field: str | None = None, value: Any = None, *, location: str = "body",
          description: str | None = None) -> PaypalError:
    detail: dict[str, Any] = {}
    if field is not None:
        detail["field"] = field
    if value is not None:
        detail["value"] = str(value)
    if field is not None:
        detail["location"] = location
    detail["issue"] = name
    detail["description"] = description or _ISSUES.get(name, name)
    return PaypalError(status, [detail])


def _missing(field: str) -> PaypalError:
    return issue(400, "MISSING_REQUIRED_PARAMETER", field)


def _not_found(field: str, value: str, location: str = "path") -> PaypalError:
    return issue(404, "INVALID_RESOURCE_ID", field, value, location=location)


def new_id(length: int = 17, alphabet: str = _UPPER) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def signing_input(transmission_id: str, transmission_time: str, webhook_id: str, body: bytes) -> bytes:
    """What PayPal signs for a webhook: the transmission, the webhook and the CRC32 of the body."""
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(body)}".encode()


def event_body(event: dict) -> bytes:
    """A webhook body as the stand-in sends it, and as it re-serialises an event to verify it."""
    return json.dumps(event, separators=(",", ":")).encode()


def minor_to_value(minor: int, currency: str) -> str:
    """10050 GBP -> "100.50"; 1500 JPY -> "1500" (PayPal's decimals for the currency)."""
    return str(Decimal(minor).scaleb(-CURRENCIES[currency]).quantize(Decimal(1).scaleb(-CURRENCIES[currency])))


class PaypalStandin:
    """An in-memory PayPal. One instance per app; every method is thread-safe.

    Inspection (deep copies, as the API shows them): `orders`, `captures`, `refunds`,
    `setup_tokens`, `payment_tokens` (dicts by id), `events` (every webhook event, in order).
    Driving: `approve`, `decline`, `approve_setup_token`, `redeliver`, `send_forged`,
    `webhooks` (flush, attempts), `faults` / `fail_next`, `clock`, `clear`.
    """

    def __init__(self, webhook_url: str | None, client_id: str, client_secret: str, webhook_id: str, *,
                 public_url: str | None = None):
        self.webhook_url = webhook_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_id = webhook_id
        self.public_url = public_url.rstrip("/") if public_url else None
        self.faults = Faults()
        self.clock = Clock()
        self.webhooks = WebhookQueue()
        self._lock = threading.RLock()
        self._base = self.public_url or ""
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.cert_id = f"CERT-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:8]}"
        self.certificate = _self_signed(self._key)
        self._tokens: dict[str, float] = {}
        self._orders: dict[str, dict] = {}
        self._captures: dict[str, dict] = {}
        self._refunds: dict[str, dict] = {}
        self._setup_tokens: dict[str, dict] = {}
        self._payment_tokens: dict[str, dict] = {}
        self._events: dict[str, dict] = {}
        self._request_ids: dict[tuple[str, str, str], dict] = {}
        self._routes = Map([
            Rule("/v1/oauth2/token", endpoint="token", methods=["POST"]),
            Rule("/v1/notifications/certs/<cert_id>", endpoint="cert", methods=["GET"]),
            Rule("/v2/checkout/orders", endpoint="api_create_order", methods=["POST"]),
            Rule("/v2/checkout/orders/<order_id>", endpoint="api_get_order", methods=["GET"]),
            Rule("/v2/checkout/orders/<order_id>/capture", endpoint="api_capture_order", methods=["POST"]),
            Rule("/v2/payments/captures/<capture_id>", endpoint="api_get_capture", methods=["GET"]),
            Rule("/v2/payments/captures/<capture_id>/refund", endpoint="api_refund_capture", methods=["POST"]),
            Rule("/v2/payments/refunds/<refund_id>", endpoint="api_get_refund", methods=["GET"]),
            Rule("/v3/vault/setup-tokens", endpoint="api_create_setup_token", methods=["POST"]),
            Rule("/v3/vault/setup-tokens/<token_id>", endpoint="api_get_setup_token", methods=["GET"]),
            Rule("/v3/vault/payment-tokens", endpoint="api_create_payment_token", methods=["POST"]),
            Rule("/v3/vault/payment-tokens", endpoint="api_list_payment_tokens", methods=["GET"]),
            Rule("/v3/vault/payment-tokens/<token_id>", endpoint="api_get_payment_token", methods=["GET"]),
            Rule("/v3/vault/payment-tokens/<token_id>", endpoint="api_delete_payment_token", methods=["DELETE"]),
            Rule("/v1/notifications/verify-webhook-signature", endpoint="api_verify", methods=["POST"]),
            Rule("/", endpoint="page_index", methods=["GET"]),
            Rule("/checkoutnow", endpoint="page_checkout", methods=["GET"]),
            Rule("/checkoutnow/<action>", endpoint="page_checkout_action", methods=["POST"]),
            Rule("/agreements/approve", endpoint="page_agreement", methods=["GET"]),
            Rule("/agreements/<action>", endpoint="page_agreement_action", methods=["POST"]),
        ], strict_slashes=False)

    # ------------------------------------------------------------- inspection

    def _public(self, store: dict[str, dict]) -> dict[str, dict]:
        with self._lock:
            return {key: self._render(value) for key, value in store.items()}

    @property
    def orders(self) -> dict[str, dict]:
        return self._public(self._orders)

    @property
    def captures(self) -> dict[str, dict]:
        return self._public(self._captures)

    @property
    def refunds(self) -> dict[str, dict]:
        return self._public(self._refunds)

    @property
    def setup_tokens(self) -> dict[str, dict]:
        return self._public(self._setup_tokens)

    @property
    def payment_tokens(self) -> dict[str, dict]:
        return self._public(self._payment_tokens)

    @property
    def events(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._events.values()))

    def cert_url(self) -> str:
        return f"{self._base}/v1/notifications/certs/{self.cert_id}"

    def fail_next(self, n: int = 1, status: int = 503, *, after: bool = False) -> None:
        """The next `n` API calls answer `status`; after=True: carried out (and their PayPal-Request-Id
        answer kept), but the answer is lost."""
        self.faults.add(n, status, after=after)

    def slow_next(self, n: int = 1, seconds: float = 5.0) -> None:
        """Make the next `n` API calls take `seconds` before they are carried out (a slow provider:
        a client that gave up meanwhile never hears the answer)."""
        self.faults.add_slow(n, seconds)

    def clear(self) -> None:
        with self._lock:
            for store in (self._tokens, self._orders, self._captures, self._refunds, self._setup_tokens,
                          self._payment_tokens, self._events, self._request_ids):
                store.clear()
        self.faults.clear()
        self.webhooks.clear()

    # ------------------------------------------------------- buyer and webhooks

    def approve(self, order_id: str, *, declined: bool = False) -> dict:
        """The buyer approves the order on PayPal (CHECKOUT.ORDER.APPROVED is owed); declined=True:
        with a funding instrument that the capture will find declined. Returns the order."""
        with self._lock:
            order = self._order_or_404(order_id)
            if order["status"] not in ("CREATED", "PAYER_ACTION_REQUIRED"):
                raise issue(422, "INVALID_PARAMETER_VALUE", "status", order["status"],
                            description=f"Order {order_id} is {order['status']}; only a new order can be approved.")
            payer_id = new_id(13)
            order.update(status="APPROVED", update_time=self._now(), _declined=declined, payer={
                "name": {"given_name": BUYER["given_name"], "surname": BUYER["surname"]},
                "email_address": BUYER["email_address"], "payer_id": payer_id,
                "address": {"country_code": BUYER["country_code"]}})
            order["payment_source"] = {"paypal": self._wallet(payer_id)}
            self._emit("CHECKOUT.ORDER.APPROVED", "checkout-order", "An order has been approved by buyer", order)
            return self._render(order)

    def decline(self, order_id: str) -> dict:
        """The buyer approves with an instrument the bank will decline: capture is INSTRUMENT_DECLINED."""
        return self.approve(order_id, declined=True)

    def approve_setup_token(self, token_id: str) -> dict:
        """The buyer agrees on PayPal to save their wallet; the setup token is APPROVED."""
        with self._lock:
            token = self._setup_tokens.get(token_id)
            if token is None:
                raise _not_found("id", token_id)
            if token["status"] != "PAYER_ACTION_REQUIRED":
                raise issue(422, "INVALID_PARAMETER_VALUE", "status", token["status"],
                            description=f"Setup token {token_id} is {token['status']}.")
            token["_payer_id"] = new_id(13)
            token["status"] = "APPROVED"
            token["payment_source"]["paypal"].update(self._wallet(token["_payer_id"]))
            return self._render(token)

    def redeliver(self, event_id: str) -> None:
        """Send a past event again, as PayPal's resend does: same id and body, a new transmission."""
        with self._lock:
            event = copy.deepcopy(self._events[event_id])
        self._queue(event)

    def send_forged(self, event: dict) -> None:
        """Queue `event` to the webhook URL with every PayPal header, signed by a key that is not PayPal's."""
        self._queue(event, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def signed_headers(self, body: bytes, *, key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
        transmission_id = str(uuid.uuid4())
        transmission_time = _iso(self.clock.now())
        signature = (key or self._key).sign(signing_input(transmission_id, transmission_time, self.webhook_id, body),
                                            padding.PKCS1v15(), hashes.SHA256())
        return {"Content-Type": "application/json", "User-Agent": "PayPal/AUHD-214.0-58855916",
                "PAYPAL-TRANSMISSION-ID": transmission_id, "PAYPAL-TRANSMISSION-TIME": transmission_time,
                "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
                "PAYPAL-CERT-URL": self.cert_url(), "PAYPAL-AUTH-ALGO": AUTH_ALGO}

    def _queue(self, event: dict, *, key: rsa.RSAPrivateKey | None = None) -> None:
        if self.webhook_url:
            body = event_body(event)
            self.webhooks.add(self.webhook_url, body, self.signed_headers(body, key=key))

    def _emit(self, event_type: str, resource_type: str, summary: str, resource: dict) -> None:
        event_id = f"WH-{new_id()}-{new_id()}"
        event = {
            "id": event_id, "event_version": "1.0", "create_time": _iso(self.clock.now(), millis=True),
            "resource_type": resource_type, "resource_version": "2.0", "event_type": event_type,
            "summary": summary, "resource": self._render(resource),
            "links": [{"href": f"{self._base}/v1/notifications/webhooks-events/{event_id}", "rel": "self",
                       "method": "GET"},
                      {"href": f"{self._base}/v1/notifications/webhooks-events/{event_id}/resend", "rel": "resend",
                       "method": "POST"}],
        }
        self._events[event_id] = event
        self._queue(copy.deepcopy(event))

    def _wallet(self, payer_id: str) -> dict:
        return {"email_address": BUYER["email_address"], "account_id": payer_id, "account_status": "VERIFIED",
                "name": {"given_name": BUYER["given_name"], "surname": BUYER["surname"]},
                "address": {"country_code": BUYER["country_code"]}}

    # ------------------------------------------------------------------- WSGI

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return self.wsgi(environ, start_response)

    def wsgi(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        return self._dispatch(request)(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        if not self.public_url:
            with self._lock:
                self._base = request.url_root.rstrip("/")
        try:
            endpoint, args = self._routes.bind_to_environ(request.environ).match()
        except (NotFound, MethodNotAllowed):
            if request.path.startswith(("/v1/", "/v2/", "/v3/")):
                return self._error(request, issue(404, "INVALID_RESOURCE_ID", "path", request.path,
                                                  location="path", description="No such API path."))
            return self._page(404, "Not found", "<p>Nothing here.</p>")
        except HTTPException as exc:
            return exc.get_response(request.environ)
        try:
            if endpoint.startswith("page_") or endpoint in ("token", "cert"):
                return getattr(self, f"_{endpoint}")(request, **args)
            return self._api(request, getattr(self, f"_{endpoint}"), args)
        except Exception:  # a stand-in bug: answer as PayPal would, keep the traceback in the log
            logger.exception("PayPal stand-in failed on %s %s", request.method, request.path)
            return self._error(request, PaypalError(500))

    def _error(self, request: Request, error: PaypalError) -> Response:
        debug_id = secrets.token_hex(7)[:13]
        docs = next((v for k, v in _DOCS.items() if request.path.startswith(k)), None)
        return json_response(error.status, error.body(debug_id, docs), {"Paypal-Debug-Id": debug_id})

    def _token(self, request: Request) -> Response:
        given_id, _, given_secret = _basic_auth(request.headers.get("Authorization", ""))
        if not (hmac.compare_digest(given_id.encode(), self.client_id.encode())
                and hmac.compare_digest(given_secret.encode(), self.client_secret.encode())):
            return json_response(401, {"error": "invalid_client", "error_description": "Client Authentication failed"})
        if request.form.get("grant_type") != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type",
                                       "error_description": "Grant Type is NULL or not supported"})
        token = "A21AA" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = self.clock.now() + TOKEN_SECONDS
        return json_response(200, {
            "scope": "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/vault",
            "access_token": token, "token_type": "Bearer", "app_id": "APP-80W284485P519543T",
            "expires_in": TOKEN_SECONDS, "nonce": f"{_iso(self.clock.now())}{secrets.token_urlsafe(24)}"})

    def _cert(self, request: Request, cert_id: str) -> Response:
        if cert_id != self.cert_id:
            return Response("not found", status=404)
        return Response(self.certificate.public_bytes(serialization.Encoding.PEM), status=200,
                        content_type="application/x-pem-file")

    def _authenticated(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer "):].strip() if header.startswith("Bearer ") else ""
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and expiry > self.clock.now()

    def _api(self, request: Request, handler: Callable, args: dict) -> Response:
        if not self._authenticated(request):
            return self._error(request, PaypalError(401))
        fault = self.faults.take()
        if fault is not None and not fault.after:
            return self._error(request, PaypalError(fault.status))
        request_id = request.headers.get("PayPal-Request-Id") if request.method == "POST" else None
        key = (request.method, request.path, request_id or "")
        minimal = "return=representation" not in request.headers.get("Prefer", "").replace(" ", "").lower()
        headers: dict[str, str] = {}
        try:
            body = _json_body(request) if request.method == "POST" else {}
            with self._lock:
                self._forget_old_request_ids()
                saved = self._request_ids.get(key) if request_id else None
                if saved is not None:
                    status, answer = 200, copy.deepcopy(saved["answer"])
                else:
                    status, answer = handler(request, body, minimal=minimal, request_id=request_id, **args)
                    if request_id and 200 <= status < 300:
                        self._request_ids[key] = {"answer": copy.deepcopy(answer), "at": self.clock.now()}
        except PaypalError as refusal:
            if fault is None:
                return self._error(request, refusal)
        else:
            if fault is None:
                debug_id = secrets.token_hex(7)[:13]
                headers["Paypal-Debug-Id"] = debug_id
                if status == 204:
                    return Response(status=204, headers=headers)
                return json_response(status, answer, headers)
        return self._error(request, PaypalError(fault.status))  # after=True: done, but the answer is lost

    def _forget_old_request_ids(self) -> None:
        cutoff = self.clock.now() - REQUEST_ID_SECONDS
        for old in [k for k, v in self._request_ids.items() if v["at"] < cutoff]:
            del self._request_ids[old]

    # ----------------------------------------------------------------- orders

    def _now(self) -> str:
        return _iso(self.clock.now())

    def _order_or_404(self, order_id: str) -> dict:
        order = self._orders.get(order_id)
        if order is None:
            raise _not_found("order_id", order_id)
        return order

    def _api_create_order(self, request: Request, body: dict, *, minimal: bool, request_id: str | None):
        intent = body.get("intent")
        if not intent:
            raise _missing("/intent")
        if intent not in ("CAPTURE", "AUTHORIZE"):
            raise issue(400, "INVALID_PARAMETER_VALUE", "/intent", intent)
        if intent == "AUTHORIZE":
            raise issue(400, "NOT_SUPPORTED", "/intent", intent,
                        description="The stand-in only takes intent CAPTURE.")
        units = body.get("purchase_units")
        if not isinstance(units, list) or not units:
            raise _missing("/purchase_units")
        if len(units) > 1:
            raise issue(400, "NOT_SUPPORTED", "/purchase_units", len(units),
                        description="The stand-in takes one purchase unit.")
        unit = self._purchase_unit(units[0])
        source = body.get("payment_source") or {}
        if not isinstance(source, dict) or set(source) - {"paypal"}:
            raise issue(400, "NOT_SUPPORTED", f"/payment_source/{next(iter(source), '')}", None,
                        description="The stand-in takes payment_source.paypal only.")
        paypal = source.get("paypal")
        if paypal is not None and not isinstance(paypal, dict):
            raise issue(400, "INVALID_PARAMETER_SYNTAX", "/payment_source/paypal")
        vault_id = (paypal or {}).get("vault_id")
        experience = (paypal or {}).get("experience_context") or body.get("application_context") or {}
        for name in ("return_url", "cancel_url"):
            if experience.get(name) and not _is_url(experience[name]):
                where = "/payment_source/paypal/experience_context" if paypal else "/application_context"
                raise issue(400, "INVALID_PARAMETER_SYNTAX", f"{where}/{name}", experience[name])
        self._refuse_duplicate_invoice(unit.get("invoice_id"), "/purchase_units/@reference_id=='default'/invoice_id")
        order_id = new_id()
        order = {
            "_kind": "order", "id": order_id, "intent": "CAPTURE",
            "status": "PAYER_ACTION_REQUIRED" if paypal is not None else "CREATED",
            "purchase_units": [unit], "create_time": self._now(), "update_time": self._now(),
            "_experience": {k: experience.get(k) for k in ("return_url", "cancel_url", "brand_name")},
            "_declined": False, "_capture_ids": [], "_seq": len(self._orders),
        }
        order["_initial_status"] = order["status"]
        if paypal is not None:
            order["payment_source"] = {"paypal": {}}
        if vault_id is not None:
            if not request_id:
                raise issue(400, "PAYPAL_REQUEST_ID_REQUIRED", "PayPal-Request-Id", location="header")
            token = self._payment_tokens.get(str(vault_id))
            if token is None:
                raise issue(422, "INVALID_VAULT_ID", "/payment_source/paypal/vault_id", vault_id)
            self._orders[order_id] = order
            payer_id = token["_payer_id"]
            order["payment_source"] = {"paypal": {**self._wallet(payer_id), "attributes": {"vault": {
                "id": token["id"], "status": "VAULTED", "customer": {"id": token["customer"]["id"]}}}}}
            order["payer"] = {"name": {"given_name": BUYER["given_name"], "surname": BUYER["surname"]},
                              "email_address": BUYER["email_address"], "payer_id": payer_id}
            self._capture_locked(order)
            return 201, self._order_answer(order, minimal=minimal, captured=True)
        self._orders[order_id] = order
        return 201, self._order_answer(order, minimal=minimal)

    def _purchase_unit(self, raw: Any) -> dict:
        at = "/purchase_units/@reference_id=='default'"
        if not isinstance(raw, dict):
            raise issue(400, "INVALID_PARAMETER_SYNTAX", "/purchase_units/0")
        for name, limit in (("reference_id", 256), ("custom_id", 255), ("invoice_id", 127), ("description", 127),
                            ("soft_descriptor", 22)):
            value = raw.get(name)
            if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= limit):
                raise issue(400, "INVALID_STRING_LENGTH", f"{at}/{name}", value)
        amount = raw.get("amount")
        if not isinstance(amount, dict):
            raise _missing(f"{at}/amount")
        currency, total = _money(amount, f"{at}/amount")
        if total <= 0:
            raise issue(422, "CANNOT_BE_ZERO_OR_NEGATIVE", f"{at}/amount/value", amount["value"])
        breakdown = amount.get("breakdown")
        parts: dict[str, int] = {}
        if breakdown is not None:
            if not isinstance(breakdown, dict):
                raise issue(400, "INVALID_PARAMETER_SYNTAX", f"{at}/amount/breakdown")
            for name, money in breakdown.items():
                part_currency, parts[name] = _money(money, f"{at}/amount/breakdown/{name}")
                if part_currency != currency:
                    raise issue(422, "MULTI_CURRENCY_ORDER", f"{at}/amount/breakdown/{name}/currency_code",
                                part_currency)
                if parts[name] < 0:
                    raise issue(422, "CANNOT_BE_NEGATIVE", f"{at}/amount/breakdown/{name}/value", money["value"])
            added = sum(parts.get(n, 0) for n in ("item_total", "tax_total", "shipping", "handling", "insurance"))
            taken = sum(parts.get(n, 0) for n in ("shipping_discount", "discount"))
            if added - taken != total:
                raise issue(422, "AMOUNT_MISMATCH", f"{at}/amount/value", amount["value"])
        items = raw.get("items")
        if items is not None:
            if not isinstance(items, list):
                raise issue(400, "INVALID_PARAMETER_SYNTAX", f"{at}/items")
            item_total = 0
            for i, item in enumerate(items):
                where = f"{at}/items/{i}"
                if not isinstance(item, dict):
                    raise issue(400, "INVALID_PARAMETER_SYNTAX", where)
                for name in ("name", "quantity", "unit_amount"):
                    if item.get(name) in (None, ""):
                        raise _missing(f"{where}/{name}")
                if not isinstance(item["name"], str) or len(item["name"]) > 127:
                    raise issue(400, "INVALID_STRING_LENGTH", f"{where}/name", item["name"])
                if not str(item["quantity"]).isdigit():
                    raise issue(400, "INVALID_PARAMETER_SYNTAX", f"{where}/quantity", item["quantity"])
                item_currency, unit_amount = _money(item["unit_amount"], f"{where}/unit_amount")
                if item_currency != currency:
                    raise issue(422, "MULTI_CURRENCY_ORDER", f"{where}/unit_amount/currency_code", item_currency)
                if unit_amount < 0:
                    raise issue(422, "CANNOT_BE_NEGATIVE", f"{where}/unit_amount/value", item["unit_amount"]["value"])
                item_total += unit_amount * int(item["quantity"])
            if "item_total" not in parts:
                raise issue(422, "ITEM_TOTAL_REQUIRED", f"{at}/amount/breakdown/item_total")
            if item_total != parts["item_total"]:
                raise issue(422, "ITEM_TOTAL_MISMATCH", f"{at}/amount/breakdown/item_total",
                            breakdown["item_total"]["value"])
        unit = {k: copy.deepcopy(raw[k]) for k in ("reference_id", "description", "custom_id", "invoice_id",
                                                    "soft_descriptor", "items") if raw.get(k) is not None}
        return {"reference_id": unit.pop("reference_id", "default"), "amount": copy.deepcopy(amount),
                "payee": dict(MERCHANT), **unit}

    def _refuse_duplicate_invoice(self, invoice_id: str | None, field: str) -> None:
        if invoice_id and any(o["status"] == "COMPLETED" and o["purchase_units"][0].get("invoice_id") == invoice_id
                              for o in self._orders.values()):
            raise issue(422, "DUPLICATE_INVOICE_ID", field, invoice_id)

    def _order_links(self, order: dict) -> list[dict]:
        self_link = {"href": f"{self._base}/v2/checkout/orders/{order['id']}", "rel": "self", "method": "GET"}
        if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
            rel = "approve" if order["status"] == "CREATED" else "payer-action"
            return [self_link, {"href": self.approve_url(order["id"]), "rel": rel, "method": "GET"},
                    {"href": self_link["href"], "rel": "update", "method": "PATCH"},
                    {"href": f"{self_link['href']}/capture", "rel": "capture", "method": "POST"}]
        if order["status"] == "APPROVED":
            return [self_link, {"href": self_link["href"], "rel": "update", "method": "PATCH"},
                    {"href": f"{self_link['href']}/capture", "rel": "capture", "method": "POST"}]
        return [self_link]

    def approve_url(self, order_id: str) -> str:
        return f"{self._base}/checkoutnow?token={order_id}"

    def _payments_of(self, order: dict) -> dict | None:
        if not order["_capture_ids"]:
            return None
        captures = [self._captures[c] for c in order["_capture_ids"]]
        payments: dict[str, Any] = {"captures": [self._render(c, related=False) for c in captures]}
        refunds = [self._refunds[r] for c in captures for r in c["_refund_ids"]]
        if refunds:
            payments["refunds"] = [self._render(r) for r in refunds]
        return payments

    def _order_answer(self, order: dict, *, minimal: bool, captured: bool = False) -> dict:
        if not minimal:
            return self._render(order)
        answer: dict[str, Any] = {"id": order["id"], "status": order["status"]}
        if "payment_source" in order:
            answer["payment_source"] = copy.deepcopy(order["payment_source"])
        if captured:  # a capture's minimal answer still shows the capture
            unit = order["purchase_units"][0]
            answer["purchase_units"] = [{"reference_id": unit["reference_id"], "payments": self._payments_of(order)}]
            if order.get("payer"):
                answer["payer"] = copy.deepcopy(order["payer"])
        answer["links"] = self._order_links(order)
        return answer

    def _api_get_order(self, request: Request, body: dict, *, order_id: str, **_: Any):
        return 200, self._render(self._order_or_404(order_id))

    def _api_capture_order(self, request: Request, body: dict, *, order_id: str, minimal: bool, **_: Any):
        order = self._order_or_404(order_id)
        if order["status"] == "COMPLETED":
            raise issue(422, "ORDER_ALREADY_CAPTURED")
        if order["status"] != "APPROVED":
            raise issue(422, "ORDER_NOT_APPROVED")
        if order["_declined"]:  # the buyer has to approve again, with another instrument
            order.update(status=order["_initial_status"], _declined=False, update_time=self._now())
            order.pop("payer", None)
            if order["status"] == "PAYER_ACTION_REQUIRED":
                order["payment_source"] = {"paypal": {}}
            else:
                order.pop("payment_source", None)
            error = issue(422, "INSTRUMENT_DECLINED")
            error.links = [{"href": self.approve_url(order_id), "rel": "redirect", "method": "GET"}]
            raise error
        self._refuse_duplicate_invoice(order["purchase_units"][0].get("invoice_id"), "/purchase_units/0/invoice_id")
        self._capture_locked(order)
        return 201, self._order_answer(order, minimal=minimal, captured=True)

    def _capture_locked(self, order: dict) -> dict:
        unit = order["purchase_units"][0]
        currency, gross = _money(unit["amount"], "amount")
        fee = min(gross, round(gross * 29 / 1000) + (40 if CURRENCIES[currency] == 0 else 30))
        now = self._now()
        capture_id = new_id()
        capture = {
            "_kind": "capture", "id": capture_id, "status": "COMPLETED",
            "amount": {"currency_code": currency, "value": minor_to_value(gross, currency)},
            "final_capture": True, "disbursement_mode": "INSTANT",
            "seller_protection": {"status": "ELIGIBLE",
                                  "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"]},
            "seller_receivable_breakdown": {
                "gross_amount": {"currency_code": currency, "value": minor_to_value(gross, currency)},
                "paypal_fee": {"currency_code": currency, "value": minor_to_value(fee, currency)},
                "net_amount": {"currency_code": currency, "value": minor_to_value(gross - fee, currency)}},
            **{k: unit[k] for k in ("custom_id", "invoice_id") if k in unit},
            "create_time": now, "update_time": now,
            "_order_id": order["id"], "_currency": currency, "_gross": gross, "_refunded": 0, "_refund_ids": [],
        }
        self._captures[capture_id] = capture
        order["_capture_ids"].append(capture_id)
        order.update(status="COMPLETED", update_time=now)
        self._emit("PAYMENT.CAPTURE.COMPLETED", "capture",
                   f"Payment completed for {capture['amount']['value']} {currency}", capture)
        return capture

    # --------------------------------------------------------------- payments

    def _capture_links(self, capture: dict) -> list[dict]:
        href = f"{self._base}/v2/payments/captures/{capture['id']}"
        return [{"href": href, "rel": "self", "method": "GET"},
                {"href": f"{href}/refund", "rel": "refund", "method": "POST"},
                {"href": f"{self._base}/v2/checkout/orders/{capture['_order_id']}", "rel": "up", "method": "GET"}]

    def _capture_or_404(self, capture_id: str) -> dict:
        capture = self._captures.get(capture_id)
        if capture is None:
            raise _not_found("capture_id", capture_id)
        return capture

    def _api_get_capture(self, request: Request, body: dict, *, capture_id: str, **_: Any):
        return 200, self._render(self._capture_or_404(capture_id))

    def _api_refund_capture(self, request: Request, body: dict, *, capture_id: str, minimal: bool, **_: Any):
        capture = self._capture_or_404(capture_id)
        currency, remaining = capture["_currency"], capture["_gross"] - capture["_refunded"]
        if remaining <= 0:
            raise issue(422, "CAPTURE_FULLY_REFUNDED")
        amount = remaining
        if body.get("amount") is not None:
            given_currency = body["amount"].get("currency_code") if isinstance(body["amount"], dict) else None
            if given_currency in CURRENCIES and given_currency != currency:
                raise issue(422, "REFUND_CAPTURE_CURRENCY_MISMATCH", "/amount/currency_code", given_currency)
            _, amount = _money(body["amount"], "/amount")
            if amount <= 0:
                raise issue(422, "CANNOT_BE_ZERO_OR_NEGATIVE", "/amount/value", body["amount"]["value"])
            if amount > remaining:
                raise issue(422, "REFUND_AMOUNT_EXCEEDED", "/amount/value", body["amount"]["value"])
        for name, limit in (("custom_id", 127), ("invoice_id", 127), ("note_to_payer", 255)):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= limit):
                raise issue(400, "INVALID_STRING_LENGTH", f"/{name}", value)
        now = self._now()
        refunded = capture["_refunded"] + amount
        refund = {
            "_kind": "refund", "id": new_id(), "status": "COMPLETED", "amount": {"currency_code": currency,
                                                              "value": minor_to_value(amount, currency)},
            **{k: body[k] for k in ("custom_id", "invoice_id", "note_to_payer") if body.get(k)},
            "seller_payable_breakdown": {
                "gross_amount": {"currency_code": currency, "value": minor_to_value(amount, currency)},
                "paypal_fee": {"currency_code": currency, "value": minor_to_value(0, currency)},
                "net_amount": {"currency_code": currency, "value": minor_to_value(amount, currency)},
                "total_refunded_amount": {"currency_code": currency, "value": minor_to_value(refunded, currency)}},
            "create_time": now, "update_time": now, "_capture_id": capture_id,
        }
        self._refunds[refund["id"]] = refund
        capture["_refund_ids"].append(refund["id"])
        capture.update(_refunded=refunded, update_time=now,
                       status="REFUNDED" if refunded >= capture["_gross"] else "PARTIALLY_REFUNDED")
        self._emit("PAYMENT.CAPTURE.REFUNDED", "refund",
                   f"A {refund['amount']['value']} {currency} capture payment was refunded", refund)
        answer = self._render(refund)
        if minimal:
            answer = {"id": answer["id"], "status": answer["status"], "links": answer["links"]}
        return 201, answer

    def _api_get_refund(self, request: Request, body: dict, *, refund_id: str, **_: Any):
        refund = self._refunds.get(refund_id)
        if refund is None:
            raise _not_found("refund_id", refund_id)
        return 200, self._render(refund)

    # ------------------------------------------------------------------ vault

    def _api_create_setup_token(self, request: Request, body: dict, *, minimal: bool, **_: Any):
        source = body.get("payment_source")
        if not isinstance(source, dict) or not source:
            raise _missing("/payment_source")
        if set(source) != {"paypal"}:
            raise issue(400, "NOT_SUPPORTED", f"/payment_source/{next(iter(source))}",
                        description="The stand-in saves PayPal wallets only.")
        paypal = source["paypal"] if isinstance(source["paypal"], dict) else {}
        experience = paypal.get("experience_context") or {}
        for name in ("return_url", "cancel_url"):
            if not experience.get(name):
                raise _missing(f"/payment_source/paypal/experience_context/{name}")
            if not _is_url(experience[name]):
                raise issue(400, "INVALID_PARAMETER_SYNTAX", f"/payment_source/paypal/experience_context/{name}",
                            experience[name])
        customer_id = self._customer_id(body.get("customer"))
        token_id = new_id()
        token = {
            "_kind": "setup_token", "id": token_id, "customer": {"id": customer_id}, "status": "PAYER_ACTION_REQUIRED",
            "payment_source": {"paypal": {k: paypal[k] for k in ("description", "usage_pattern", "usage_type",
                                                                  "customer_type", "permit_multiple_payment_tokens")
                                          if k in paypal}},
            "_experience": {k: experience.get(k) for k in ("return_url", "cancel_url", "brand_name")},
        }
        self._setup_tokens[token_id] = token
        return 201, self._render(token)

    def _customer_id(self, customer: Any) -> str:
        given = customer.get("id") if isinstance(customer, dict) else None
        if given is None:
            return "customer_" + new_id(10, string.digits)
        if not isinstance(given, str) or not _CUSTOMER_ID.match(given):
            raise issue(400, "INVALID_PARAMETER_SYNTAX", "/customer/id", given)
        return given

    def _api_get_setup_token(self, request: Request, body: dict, *, token_id: str, **_: Any):
        token = self._setup_tokens.get(token_id)
        if token is None:
            raise _not_found("id", token_id)
        return 200, self._render(token)

    def _api_create_payment_token(self, request: Request, body: dict, *, minimal: bool, **_: Any):
        source = body.get("payment_source")
        token_ref = source.get("token") if isinstance(source, dict) else None
        if not isinstance(token_ref, dict):
            raise _missing("/payment_source/token")
        if token_ref.get("type") != "SETUP_TOKEN":
            raise issue(400, "INVALID_PARAMETER_VALUE", "/payment_source/token/type", token_ref.get("type"))
        setup = self._setup_tokens.get(str(token_ref.get("id")))
        if setup is None:
            raise _not_found("/payment_source/token/id", token_ref.get("id"), location="body")
        if setup["status"] == "VAULTED":  # made before: the same payment token, unless it was deleted since
            payment_token = self._payment_tokens.get(setup["_payment_token_id"])
            if payment_token is None:
                raise issue(422, "INVALID_PARAMETER_VALUE", "/payment_source/token/id", setup["id"],
                            description="This setup token was used for a payment token that has been deleted.")
            return 200, self._render(payment_token)
        if setup["status"] != "APPROVED":
            raise issue(422, "SETUP_TOKEN_NOT_APPROVED", "/payment_source/token/id", setup["id"])
        payment_token = {
            "_kind": "payment_token", "id": new_id(8, _LOWER), "customer": dict(setup["customer"]),
            "payment_source": {"paypal": {**copy.deepcopy(setup["payment_source"]["paypal"])}},
            "_payer_id": setup["_payer_id"], "_seq": len(self._payment_tokens),
        }
        self._payment_tokens[payment_token["id"]] = payment_token
        setup.update(status="VAULTED", _payment_token_id=payment_token["id"])
        return 201, self._render(payment_token)

    def _api_list_payment_tokens(self, request: Request, body: dict, **_: Any):
        customer_id = request.args.get("customer_id")
        if not customer_id:
            raise issue(400, "MISSING_REQUIRED_PARAMETER", "customer_id", location="query")
        tokens = [self._render(t) for t in sorted(self._payment_tokens.values(), key=lambda t: t["_seq"])
                  if t["customer"]["id"] == customer_id]
        href = f"{self._base}/v3/vault/payment-tokens?{urlencode({'customer_id': customer_id})}"
        return 200, {"total_items": len(tokens), "total_pages": 1, "customer": {"id": customer_id},
                     "payment_tokens": tokens, "links": [{"href": href, "rel": "self", "method": "GET"}]}

    def _api_get_payment_token(self, request: Request, body: dict, *, token_id: str, **_: Any):
        token = self._payment_tokens.get(token_id)
        if token is None:
            raise _not_found("id", token_id)
        return 200, self._render(token)

    def _api_delete_payment_token(self, request: Request, body: dict, *, token_id: str, **_: Any):
        if self._payment_tokens.pop(token_id, None) is None:
            raise _not_found("id", token_id)
        return 204, None

    # --------------------------------------------------- webhook verification

    def _api_verify(self, request: Request, body: dict, **_: Any):
        fields = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id",
                  "webhook_event")
        for name in fields:
            if body.get(name) in (None, ""):
                raise _missing(f"/{name}")
        if not isinstance(body["webhook_event"], dict):
            raise issue(400, "INVALID_PARAMETER_SYNTAX", "/webhook_event")
        return 200, {"verification_status": "SUCCESS" if self._verifies(body) else "FAILURE"}

    def _verifies(self, given: dict) -> bool:
        if given["auth_algo"] != AUTH_ALGO or given["webhook_id"] != self.webhook_id:
            return False
        if urlsplit(str(given["cert_url"])).path.rsplit("/", 1)[-1] != self.cert_id:
            return False  # PayPal fetches the certificate; the stand-in knows only its own
        try:
            signature = base64.b64decode(str(given["transmission_sig"]), validate=True)
            self.certificate.public_key().verify(
                signature, signing_input(str(given["transmission_id"]), str(given["transmission_time"]),
                                         str(given["webhook_id"]), event_body(given["webhook_event"])),
                padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    # --------------------------------------------------------------- rendering

    def _render(self, obj: dict, *, related: bool = True) -> dict:
        """An object as the API shows it: private fields dropped, its links and related ids added."""
        out = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
        kind = obj["_kind"]
        if kind == "order":
            payments = self._payments_of(obj)
            if payments:
                out["purchase_units"][0]["payments"] = payments
            out["links"] = self._order_links(obj)
        elif kind == "capture":
            out["links"] = self._capture_links(obj)
            if related:
                out["supplementary_data"] = {"related_ids": {"order_id": obj["_order_id"]}}
        elif kind == "refund":
            out["links"] = [{"href": f"{self._base}/v2/payments/refunds/{obj['id']}", "rel": "self", "method": "GET"},
                            {"href": f"{self._base}/v2/payments/captures/{obj['_capture_id']}", "rel": "up",
                             "method": "GET"}]
        elif kind == "setup_token":
            href = f"{self._base}/v3/vault/setup-tokens/{obj['id']}"
            out["links"] = [{"href": href, "rel": "self", "method": "GET"},
                            {"href": f"{self._base}/v3/vault/payment-tokens", "rel": "confirm", "method": "POST"}]
            if obj["status"] == "PAYER_ACTION_REQUIRED":
                out["links"].insert(0, {"href": f"{self._base}/agreements/approve?approval_session_id={obj['id']}",
                                        "rel": "approve", "method": "GET"})
        else:  # a payment token
            href = f"{self._base}/v3/vault/payment-tokens/{obj['id']}"
            out["links"] = [{"href": href, "rel": "self", "method": "GET"},
                            {"href": href, "rel": "delete", "method": "DELETE"}]
        return out

    # ---------------------------------------------------------------- dev pages

    def _page(self, status: int, title: str, body: str) -> Response:
        document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · PayPal stand-in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body {{ font: 16px/1.5 system-ui, sans-serif; background: #f5f7fa; color: #001c64; margin: 0; }}
 main {{ max-width: 34rem; margin: 2rem auto; background: #fff; padding: 1.5rem 2rem; border-radius: 12px; }}
 .banner {{ background: #ffd140; padding: .25rem .75rem; border-radius: 4px; font-size: .85rem; }}
 td, th {{ text-align: left; padding: .3rem .25rem; border-bottom: 1px solid #e6e9ee; }}
 .num {{ text-align: right; }}
 form {{ display: inline; }}
 button {{ font: inherit; padding: .5rem 1.2rem; border-radius: 24px; border: 1px solid #0070e0; cursor: pointer;
          margin: .75rem .5rem 0 0; background: #fff; color: #0070e0; }}
 #approve {{ background: #0070e0; color: #fff; }}
</style></head>
<body><main><p class="banner">Local PayPal stand-in: sandbox only, no real money moves.</p>
{body}
</main></body></html>"""
        return Response(document, status=status, content_type="text/html; charset=utf-8")

    def _page_index(self, request: Request) -> Response:
        with self._lock:
            orders = sorted(self._orders.values(), key=lambda o: o["_seq"], reverse=True)
            rows = "".join(
                f'<tr><td><a href="{html.escape(self.approve_url(o["id"]))}">{html.escape(o["id"])}</a></td>'
                f'<td class="num">{html.escape(_shown(o["purchase_units"][0]["amount"]))}</td>'
                f'<td>{html.escape(o["status"])}</td></tr>' for o in orders)
        body = "<h1>PayPal orders</h1>" + (
            f'<table><tr><th>Order</th><th class="num">Amount</th><th>Status</th></tr>{rows}</table>'
            if rows else "<p>No orders yet.</p>")
        return self._page(200, "Orders", body)

    def _page_checkout(self, request: Request) -> Response:
        order_id = request.args.get("token", "")
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                return self._page(404, "Unknown order", f"<h1>Unknown order</h1><p>{html.escape(order_id)}</p>")
            unit = order["purchase_units"][0]
            rows = "".join(
                f'<tr><td>{html.escape(str(i["name"]))}</td><td class="num">{html.escape(str(i["quantity"]))}</td>'
                f'<td class="num">{html.escape(_shown(i["unit_amount"]))}</td></tr>' for i in unit.get("items", []))
            total = html.escape(_shown(unit["amount"]))
            status = html.escape(order["status"])
            brand = html.escape(order["_experience"].get("brand_name") or "Bookwell")
        action = f"{html.escape(request.script_root)}/checkoutnow"
        hidden = f'<input type="hidden" name="token" value="{html.escape(order_id)}">'
        if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
            actions = (f'<form method="post" action="{action}/approve">{hidden}'
                       f'<button id="approve" type="submit">Pay {total}</button></form>'
                       f'<form method="post" action="{action}/decline">{hidden}'
                       f'<button id="decline" type="submit">Pay with a card that is declined</button></form>'
                       f'<form method="post" action="{action}/cancel">{hidden}'
                       f'<button id="cancel" type="submit">Cancel and return to {brand}</button></form>')
        else:
            actions = f"<p>This order is <strong>{status}</strong>; nothing to approve.</p>"
        body = (f'<h1>Pay {brand} with PayPal</h1><p>Order <code id="order-id">{html.escape(order_id)}</code>, '
                f'status <span id="status" data-status="{status}">{status}</span></p>'
                + (f'<table id="items"><tr><th>Item</th><th class="num">Qty</th><th class="num">Price</th></tr>'
                   f'{rows}</table>' if rows else "")
                + f'<p>Total <strong id="total">{total}</strong></p>{actions}')
        return self._page(200, "Checkout", body)

    def _page_checkout_action(self, request: Request, action: str) -> Response:
        order_id = request.form.get("token", "")
        with self._lock:
            order = self._orders.get(order_id)
            if order is None or action not in ("approve", "decline", "cancel"):
                return self._page(404, "Unknown order", "<h1>Unknown order</h1>")
            experience = order["_experience"]
            if action == "cancel":
                return _back(experience.get("cancel_url"), {"token": order_id}, "Checkout cancelled", self._page)
            if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
                self.approve(order_id, declined=action == "decline")
            elif order["status"] != "APPROVED":  # a second click after capture changes nothing
                return self._page(409, "Not open", f"<h1>This order is {html.escape(order['status'])}</h1>")
            payer_id = order["payer"]["payer_id"]
        return _back(experience.get("return_url"), {"token": order_id, "PayerID": payer_id}, "Approved", self._page)

    def _page_agreement(self, request: Request) -> Response:
        token_id = request.args.get("approval_session_id", "")
        with self._lock:
            token = self._setup_tokens.get(token_id)
            if token is None:
                return self._page(404, "Unknown agreement", "<h1>Unknown agreement</h1>")
            status = html.escape(token["status"])
            brand = html.escape(token["_experience"].get("brand_name") or "Bookwell")
        action = f"{html.escape(request.script_root)}/agreements"
        hidden = f'<input type="hidden" name="approval_session_id" value="{html.escape(token_id)}">'
        actions = (f'<form method="post" action="{action}/approve">{hidden}'
                   f'<button id="approve" type="submit">Agree and continue</button></form>'
                   f'<form method="post" action="{action}/cancel">{hidden}'
                   f'<button id="cancel" type="submit">Cancel</button></form>'
                   if token["status"] == "PAYER_ACTION_REQUIRED" else f"<p>This agreement is {status}.</p>")
        return self._page(200, "Save PayPal", f"<h1>Save your PayPal for {brand}</h1>"
                                             f'<p>Status <span id="status">{status}</span></p>{actions}')

    def _page_agreement_action(self, request: Request, action: str) -> Response:
        token_id = request.form.get("approval_session_id", "")
        with self._lock:
            token = self._setup_tokens.get(token_id)
            if token is None or action not in ("approve", "cancel"):
                return self._page(404, "Unknown agreement", "<h1>Unknown agreement</h1>")
            if action == "approve" and token["status"] == "PAYER_ACTION_REQUIRED":
                self.approve_setup_token(token_id)
            experience = token["_experience"]
        url = experience["return_url"] if action == "approve" else experience["cancel_url"]
        return _back(url, {"approval_token_id": token_id, "approval_session_id": token_id}, "Done", self._page)


# ---------------------------------------------------------------- helpers

def _money(raw: Any, field: str) -> tuple[str, int]:
    """(currency, amount in the currency's minor units) from a PayPal money object, refused as PayPal refuses."""
    if not isinstance(raw, dict):
        raise issue(400, "INVALID_PARAMETER_SYNTAX", field)
    currency, value = raw.get("currency_code"), raw.get("value")
    if currency in (None, ""):
        raise _missing(f"{field}/currency_code")
    if value in (None, ""):
        raise _missing(f"{field}/value")
    if not isinstance(currency, str) or len(currency) != 3:
        raise issue(400, "INVALID_STRING_LENGTH", f"{field}/currency_code", currency)
    if currency not in CURRENCIES:
        raise issue(422, "INVALID_CURRENCY_CODE", f"{field}/currency_code", currency)
    if not isinstance(value, str) or len(value) > 32 or not _VALUE.match(value):
        raise issue(400, "INVALID_PARAMETER_SYNTAX", f"{field}/value", value)
    places = len(value.partition(".")[2])
    if places > CURRENCIES[currency]:
        name = "DECIMALS_NOT_SUPPORTED" if CURRENCIES[currency] == 0 else "DECIMAL_PRECISION"
        raise issue(422, name, f"{field}/value", value)
    try:
        amount = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern already refused it
        raise issue(400, "INVALID_PARAMETER_SYNTAX", f"{field}/value", value) from None
    if amount > MAX_VALUE:
        raise issue(422, "MAX_VALUE_EXCEEDED", f"{field}/value", value)
    return currency, int(amount.scaleb(CURRENCIES[currency]))


def _shown(money: dict) -> str:
    return f"{money.get('value')} {money.get('currency_code')}"


def _json_body(request: Request) -> dict:
    raw = request.get_data()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise issue(400, "MALFORMED_REQUEST_JSON") from None
    if not isinstance(body, dict):
        raise issue(400, "MALFORMED_REQUEST_JSON")
    return body


def _basic_auth(header: str) -> tuple[str, str, str]:
    if not header.startswith("Basic "):
        return "", "", ""
    try:
        return base64.b64decode(header[len("Basic "):]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", "", ""


def _is_url(value: Any) -> bool:
    parts = urlsplit(str(value))
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _iso(seconds: float, *, millis: bool = False) -> str:
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _back(url: str | None, params: dict[str, str], title: str, page: Callable[..., Response]) -> Response:
    """Send the buyer back to the merchant's URL with PayPal's query parameters added."""
    if not url:
        return page(200, title, f"<h1>{html.escape(title)}</h1><p>No return URL was given.</p>")
    location = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
    response = Response(f'<a href="{html.escape(location)}">Continue</a>', status=303,
                        content_type="text/html; charset=utf-8")
    response.headers["Location"] = location
    return response


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.paypal.local"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bookwell PayPal stand-in")])
    now = datetime.now(timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
