"""PayPal, through PayPal's official paypal-server-sdk: the only module that imports it.

Built in one place, pointed at PAYPAL_API_BASE (the local stand-in at /paypal in dev and tests,
PayPal's sandbox, or live PayPal when unset). Services receive the client as an argument and get
plain dicts back; amounts cross this boundary in the currency's minor units, as Bookwell keeps
them, and are written as PayPal's decimal strings here, exactly or not at all.

Every POST that moves money carries a PayPal-Request-Id made from our own ids (`order:<id>`,
`capture:<id>`, `refund:<id>`), so a retry after a lost answer gets PayPal's first answer
instead of doing it twice. Failures come out as two exceptions: `PaypalUnavailable` (PayPal not
reachable or 5xx/429: the caller answers 502/503 and may retry with the same ids) and
`PaypalRefused` (a 4xx: PayPal's error name, message and first issue).

The SDK has no webhook-verification endpoint: `verify_webhook` calls PayPal's
/v1/notifications/verify-webhook-signature with httpx and the SDK's own OAuth token, sending
the body byte for byte as the event.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
import requests
from apimatic_core.exceptions.auth_validation_exception import AuthValidationException
from babel.numbers import get_currency_precision
from paypalserversdk.configuration import Configuration, Environment, Server
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.models.amount_breakdown import AmountBreakdown
from paypalserversdk.models.amount_with_breakdown import AmountWithBreakdown
from paypalserversdk.models.checkout_payment_intent import CheckoutPaymentIntent
from paypalserversdk.models.customer import Customer
from paypalserversdk.models.item import Item
from paypalserversdk.models.money import Money
from paypalserversdk.models.order_request import OrderRequest
from paypalserversdk.models.payment_source import PaymentSource
from paypalserversdk.models.payment_token_request import PaymentTokenRequest
from paypalserversdk.models.payment_token_request_payment_source import PaymentTokenRequestPaymentSource
from paypalserversdk.models.paypal_experience_user_action import PaypalExperienceUserAction
from paypalserversdk.models.paypal_payment_token_usage_type import PaypalPaymentTokenUsageType
from paypalserversdk.models.paypal_wallet import PaypalWallet
from paypalserversdk.models.paypal_wallet_context_shipping_preference import PaypalWalletContextShippingPreference
from paypalserversdk.models.paypal_wallet_experience_context import PaypalWalletExperienceContext
from paypalserversdk.models.purchase_unit_request import PurchaseUnitRequest
from paypalserversdk.models.refund_request import RefundRequest
from paypalserversdk.models.setup_token_request import SetupTokenRequest
from paypalserversdk.models.setup_token_request_payment_source import SetupTokenRequestPaymentSource
from paypalserversdk.models.vault_experience_context import VaultExperienceContext
from paypalserversdk.models.vault_paypal_wallet_request import VaultPaypalWalletRequest
from paypalserversdk.models.vault_token_request import VaultTokenRequest
from paypalserversdk.models.vault_token_request_type import VaultTokenRequestType
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient

from shared.platform.config import Settings

# PayPal's currencies with fewer decimals than ISO 4217 gives them
# (https://developer.paypal.com/api/rest/reference/currency-codes/); every other one as ISO says.
PAYPAL_DECIMALS = {"HUF": 0, "JPY": 0, "TWD": 0}
WEBHOOK_HEADERS = ("paypal-transmission-id", "paypal-transmission-time", "paypal-transmission-sig",
                   "paypal-cert-url", "paypal-auth-algo")
_UNAVAILABLE_STATUSES = frozenset({408, 425, 429})


class PaypalError(Exception):
    """Anything PayPal did not do."""


class PaypalUnavailable(PaypalError):
    """PayPal could not be reached or failed (5xx, 429, timeouts): the outcome is unknown or nothing
    happened; a retry with the same ids is safe. Callers answer 502/503."""

    def __init__(self, message: str, *, status: int | None = None, debug_id: str | None = None):
        super().__init__(message)
        self.status, self.debug_id = status, debug_id


class PaypalRefused(PaypalError):
    """PayPal said no (a 4xx): `name` (UNPROCESSABLE_ENTITY...), `message`, and `issue`, the first
    detail's issue (ORDER_NOT_APPROVED, INSTRUMENT_DECLINED, REFUND_AMOUNT_EXCEEDED...)."""

    def __init__(self, name: str, message: str, *, status: int | None = None, issue: str | None = None,
                 debug_id: str | None = None, details: list[dict] | None = None):
        super().__init__(f"{name}{f' {issue}' if issue else ''}: {message}")
        self.name, self.message, self.status, self.issue = name, message, status, issue
        self.debug_id, self.details = debug_id, details or []


class PaypalWebhookInvalid(PaypalError):
    """A webhook that is not PayPal's: headers missing, a body that is not an event, or PayPal's FAILURE."""


# ------------------------------------------------------------------ client

class _RebasedConfiguration(Configuration):
    """The SDK's configuration with its one server at another base URL (the stand-in, PayPal's
    sandbox); the SDK otherwise knows only its two Environments' fixed URLs."""

    def __init__(self, base: str, **kwargs: Any):
        self.base = base.rstrip("/")
        super().__init__(**kwargs)

    def get_base_uri(self, server: Server = Server.DEFAULT) -> str:
        return self.base


def paypal_client(settings: Settings) -> PaypalServersdkClient:
    """One client per credentials and base URL per process; it keeps its OAuth token until it expires."""
    return _client(settings.paypal.client_id, settings.paypal.client_secret, settings.paypal.base,
                   settings.runtime.provider_timeout_seconds)


@functools.lru_cache(maxsize=8)
def _client(client_id: str, client_secret: str, base: str | None, timeout: float) -> PaypalServersdkClient:
    credentials = ClientCredentialsAuthCredentials(
        o_auth_client_id=client_id, o_auth_client_secret=client_secret, o_auth_clock_skew=60,
        # The SDK's own fetch, unswallowed: a refused or failed token call surfaces with its status
        # (the default provider turns both into a bare "OAuthToken is undefined").
        o_auth_token_provider=lambda _last, manager: manager.fetch_token())
    options: dict[str, Any] = {"timeout": timeout, "max_retries": 0,
                               "client_credentials_auth_credentials": credentials}
    if base is None:
        return PaypalServersdkClient(environment=Environment.PRODUCTION, **options)
    return PaypalServersdkClient(config=_RebasedConfiguration(base, environment=Environment.SANDBOX, **options))


def _call(fn, options: dict) -> Any:
    """Run one SDK call; returns the JSON PayPal answered (None for 204), or raises PaypalError."""
    try:
        response = fn(options)
    except ApiException as exc:
        raise _failure(exc) from exc
    except (requests.RequestException, OSError) as exc:
        raise PaypalUnavailable(f"PayPal did not answer: {type(exc).__name__}") from exc
    except AuthValidationException as exc:
        raise PaypalRefused("AUTHENTICATION_FAILURE", str(exc)) from exc
    return json.loads(response.text) if response.text else None


def _failure(exc: ApiException) -> PaypalError:
    status = exc.response_code
    try:
        body = json.loads(exc.response.text or "{}")
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    details = [d for d in body.get("details") or [] if isinstance(d, dict)]
    debug_id = body.get("debug_id")
    if status >= 500 or status in _UNAVAILABLE_STATUSES:
        return PaypalUnavailable(f"PayPal answered {status} {body.get('name') or ''}".strip(), status=status,
                                 debug_id=debug_id)
    # The OAuth endpoint answers {"error", "error_description"} instead of PayPal's usual shape.
    return PaypalRefused(body.get("name") or body.get("error") or f"HTTP_{status}",
                         body.get("message") or body.get("error_description") or "",
                         status=status, issue=details[0].get("issue") if details else None,
                         debug_id=debug_id, details=details)


# ------------------------------------------------------------------ money

def _decimals(currency: str) -> tuple[int, int]:
    """(Bookwell's minor-unit decimals, PayPal's decimals) for a currency."""
    ours = get_currency_precision(currency.upper())
    return ours, PAYPAL_DECIMALS.get(currency.upper(), ours)


def to_paypal_value(amount_minor: int, currency: str) -> str:
    """1250 GBP -> "12.50"; 1500 JPY -> "1500". Refuses (ValueError) what PayPal cannot write exactly,
    such as 12345 TWD (NT$123.45 in ISO's cents; PayPal takes whole dollars)."""
    ours, theirs = _decimals(currency)
    amount = Decimal(amount_minor).scaleb(-ours)
    written = amount.quantize(Decimal(1).scaleb(-theirs))
    if written != amount:
        raise ValueError(f"{amount} {currency} has more decimals than PayPal takes ({theirs})")
    return str(written)


def from_paypal_value(value: str, currency: str) -> int:
    """"12.50" GBP -> 1250, in Bookwell's minor units."""
    ours, _ = _decimals(currency)
    minor = Decimal(value).scaleb(ours)
    if minor != minor.to_integral_value():
        raise ValueError(f"{value} {currency} is not a whole number of minor units")
    return int(minor)


def _money(amount_minor: int, currency: str) -> Money:
    return Money(currency_code=currency.upper(), value=to_paypal_value(amount_minor, currency))


def _amount(order: dict) -> tuple[AmountWithBreakdown, list[Item] | None]:
    """The purchase unit's amount and items, adding up exactly to the order total.

    Like the Stripe line items: a discounted line goes as one item for its whole total; a
    negative line (an order-level discount) goes into the breakdown's discount. If the lines do not
    add up to the total, the amount goes alone, without items, so PayPal charges what Postgres computed."""
    currency, total = order["currency"].upper(), order["total_minor"]
    items, item_total, discount = [], 0, 0
    for line in order.get("items") or []:
        if line["total_minor"] < 0:
            discount -= line["total_minor"]
            continue
        if line.get("discount_minor") or line["unit_price_minor"] * line["quantity"] != line["total_minor"]:
            name, unit, quantity = f"{line['description']} x {line['quantity']} (discounted)", line["total_minor"], 1
        else:
            name, unit, quantity = line["description"], line["unit_price_minor"], line["quantity"]
        items.append(Item(name=name[:127], unit_amount=_money(unit, currency), quantity=str(quantity)))
        item_total += unit * quantity
    if not items or item_total - discount != total:
        return AmountWithBreakdown(currency_code=currency, value=to_paypal_value(total, currency)), None
    breakdown = AmountBreakdown(item_total=_money(item_total, currency),
                                **({"discount": _money(discount, currency)} if discount else {}))
    return AmountWithBreakdown(currency_code=currency, value=to_paypal_value(total, currency),
                               breakdown=breakdown), items


def _purchase_unit(order: dict) -> PurchaseUnitRequest:
    amount, items = _amount(order)
    extra = {"items": items} if items else {}
    return PurchaseUnitRequest(amount=amount, reference_id=str(order["order_id"]), custom_id=str(order["order_id"]),
                               invoice_id=str(order["number"]), description=f"Order {order['number']}"[:127], **extra)


# ------------------------------------------------------------------ orders

def create_order(client: PaypalServersdkClient, order: dict, *, return_url: str, cancel_url: str,
                 brand_name: str | None = None) -> tuple[str, str]:
    """A PayPal order for a pending Bookwell order: (PayPal's order id, the URL the buyer approves it at).

    `order`: order_id, number, currency, total_minor, items [{description, quantity, unit_price_minor,
    total_minor, discount_minor}]. The order id travels as custom_id (it comes back on the capture and
    in webhooks), the number as invoice_id. PayPal sends the buyer back to return_url?token=<PayPal
    order id>&PayerID=..., or to cancel_url?token=..."""
    experience = PaypalWalletExperienceContext(
        return_url=return_url, cancel_url=cancel_url, user_action=PaypalExperienceUserAction.PAY_NOW,
        shipping_preference=PaypalWalletContextShippingPreference.NO_SHIPPING,
        **({"brand_name": brand_name[:127]} if brand_name else {}))
    body = OrderRequest(intent=CheckoutPaymentIntent.CAPTURE, purchase_units=[_purchase_unit(order)],
                        payment_source=PaymentSource(paypal=PaypalWallet(experience_context=experience)))
    created = _call(client.orders.create_order, {"body": body, "paypal_request_id": f"order:{order['order_id']}"})
    approve = next((link["href"] for link in created.get("links", []) if link.get("rel") in ("payer-action", "approve")),
                   None)
    if approve is None:
        raise PaypalRefused("NO_APPROVAL_LINK", f"PayPal order {created.get('id')} has no approval link",
                            issue=created.get("status"))
    return created["id"], approve


def get_order(client: PaypalServersdkClient, paypal_order_id: str) -> dict:
    """The order as PayPal has it: {paypal_order_id, status, custom_id, invoice_id, currency,
    amount_minor, payer_id, capture} (capture: as capture_order returns it, or None)."""
    found = _call(client.orders.get_order, {"id": paypal_order_id})
    return _order_summary(found)


def _order_summary(found: dict) -> dict:
    unit = (found.get("purchase_units") or [{}])[0]
    amount = unit.get("amount") or {}
    captures = (unit.get("payments") or {}).get("captures") or []
    currency = amount.get("currency_code")
    return {
        "paypal_order_id": found["id"], "status": found.get("status"), "custom_id": unit.get("custom_id"),
        "invoice_id": unit.get("invoice_id"), "currency": currency,
        "amount_minor": from_paypal_value(amount["value"], currency) if amount else None,
        "payer_id": (found.get("payer") or {}).get("payer_id"),
        "capture": _capture_summary(captures[0], unit) if captures else None,
    }


def _capture_summary(capture: dict, unit: dict) -> dict:
    currency = capture["amount"]["currency_code"]
    return {"capture_id": capture["id"], "status": capture["status"],
            "amount_minor": from_paypal_value(capture["amount"]["value"], currency), "currency": currency,
            "custom_id": capture.get("custom_id") or unit.get("custom_id")}


def capture_order(client: PaypalServersdkClient, paypal_order_id: str, *, order_id: str) -> dict:
    """Take the money of an approved order: {capture_id, status, amount_minor, currency, custom_id}.

    Idempotent: a retry gets PayPal's first answer (PayPal-Request-Id `capture:<order_id>`), and an
    order captured before (ORDER_ALREADY_CAPTURED) answers its existing capture. Raises PaypalRefused
    with issue ORDER_NOT_APPROVED (the buyer has not approved) or INSTRUMENT_DECLINED (send the buyer
    back to the approval URL)."""
    try:
        captured = _call(client.orders.capture_order, {
            "id": paypal_order_id, "paypal_request_id": f"capture:{order_id}", "prefer": "return=representation"})
    except PaypalRefused as refused:
        if refused.issue != "ORDER_ALREADY_CAPTURED":
            raise
        existing = get_order(client, paypal_order_id)["capture"]
        if existing is None:
            raise
        return existing
    unit = captured["purchase_units"][0]
    return _capture_summary(unit["payments"]["captures"][0], unit)


def refund_capture(client: PaypalServersdkClient, capture_id: str, *, amount_minor: int, currency: str,
                   refund_id: str) -> dict:
    """Refund part or all of a capture: {refund_id, status, amount_minor}. `refund_id` is ours: it
    makes the PayPal-Request-Id (`refund:<refund_id>`, so a retry refunds once) and the refund's
    custom_id (it comes back in PAYMENT.CAPTURE.REFUNDED). PaypalRefused issues:
    REFUND_AMOUNT_EXCEEDED, CAPTURE_FULLY_REFUNDED, REFUND_CAPTURE_CURRENCY_MISMATCH."""
    body = RefundRequest(amount=_money(amount_minor, currency), custom_id=refund_id[:127])
    refunded = _call(client.payments.refund_captured_payment, {
        "capture_id": capture_id, "body": body, "paypal_request_id": f"refund:{refund_id}",
        "prefer": "return=representation"})
    return {"refund_id": refunded["id"], "status": refunded["status"],
            "amount_minor": from_paypal_value(refunded["amount"]["value"], refunded["amount"]["currency_code"])}


# ------------------------------------------------------------------ vault (saved PayPal wallets)

def create_setup_token(client: PaypalServersdkClient, *, return_url: str, cancel_url: str, request_id: str,
                       customer_id: str | None = None, description: str | None = None) -> tuple[str, str]:
    """Start saving a buyer's PayPal wallet: (setup token id, the URL the buyer agrees at). PayPal sends
    them back to return_url?approval_token_id=<setup token id>&approval_session_id=...; then
    `save_payment_token`. `customer_id` is PayPal's (from an earlier token), to group a buyer's wallets."""
    wallet = VaultPaypalWalletRequest(
        usage_type=PaypalPaymentTokenUsageType.MERCHANT,
        experience_context=VaultExperienceContext(return_url=return_url, cancel_url=cancel_url),
        **({"description": description[:128]} if description else {}))
    body = SetupTokenRequest(payment_source=SetupTokenRequestPaymentSource(paypal=wallet),
                             **({"customer": Customer(id=customer_id)} if customer_id else {}))
    created = _call(client.vault.create_setup_token, {"body": body, "paypal_request_id": request_id})
    approve = next((link["href"] for link in created.get("links", []) if link.get("rel") == "approve"), None)
    if approve is None:
        raise PaypalRefused("NO_APPROVAL_LINK", f"Setup token {created.get('id')} has no approval link",
                            issue=created.get("status"))
    return created["id"], approve


def save_payment_token(client: PaypalServersdkClient, setup_token_id: str, *, request_id: str) -> dict:
    """Turn an approved setup token into a saved wallet: {payment_token_id, customer_id, email}."""
    body = PaymentTokenRequest(payment_source=PaymentTokenRequestPaymentSource(
        token=VaultTokenRequest(id=setup_token_id, mtype=VaultTokenRequestType.SETUP_TOKEN)))
    saved = _call(client.vault.create_payment_token, {"body": body, "paypal_request_id": request_id})
    return _token_summary(saved)


def _token_summary(token: dict) -> dict:
    wallet = (token.get("payment_source") or {}).get("paypal") or {}
    return {"payment_token_id": token["id"], "customer_id": (token.get("customer") or {}).get("id"),
            "email": wallet.get("email_address")}


def list_payment_tokens(client: PaypalServersdkClient, customer_id: str) -> list[dict]:
    """A PayPal customer's saved wallets, as save_payment_token returns them."""
    listed = _call(client.vault.list_customer_payment_tokens, {"customer_id": customer_id})
    return [_token_summary(t) for t in listed.get("payment_tokens") or []]


def delete_payment_token(client: PaypalServersdkClient, payment_token_id: str) -> None:
    _call(client.vault.delete_payment_token, payment_token_id)


def charge_saved_wallet(client: PaypalServersdkClient, order: dict, *, payment_token_id: str) -> dict:
    """Charge a saved wallet for a pending order, with no buyer present: PayPal creates and captures
    the order in one call. Returns capture_order's dict plus paypal_order_id."""
    body = OrderRequest(intent=CheckoutPaymentIntent.CAPTURE, purchase_units=[_purchase_unit(order)],
                        payment_source=PaymentSource(paypal=PaypalWallet(vault_id=payment_token_id)))
    created = _call(client.orders.create_order, {
        "body": body, "paypal_request_id": f"charge:{order['order_id']}", "prefer": "return=representation"})
    unit = created["purchase_units"][0]
    return {"paypal_order_id": created["id"], **_capture_summary(unit["payments"]["captures"][0], unit)}


# ------------------------------------------------------------------ webhooks

def verify_webhook(headers: Mapping[str, str], body: bytes, settings: Settings) -> dict:
    """The event, if PayPal says it signed this body for our webhook (PAYPAL_WEBHOOK_ID).

    Raises PaypalWebhookInvalid (answer 400) for missing PAYPAL-* headers, a body that is not a JSON
    event, or verification_status FAILURE; PaypalUnavailable (answer 5xx: PayPal retries the
    delivery) when the verification call itself fails."""
    given = {name.lower(): value for name, value in headers.items()}
    missing = [name.upper() for name in WEBHOOK_HEADERS if not given.get(name)]
    if missing:
        raise PaypalWebhookInvalid(f"missing header {', '.join(missing)}")
    try:
        text = body.decode("utf-8")
        event = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise PaypalWebhookInvalid("the body is not JSON") from None
    if not isinstance(event, dict) or not event.get("id") or not event.get("event_type"):
        raise PaypalWebhookInvalid("the body is not a PayPal event")
    fields = {"auth_algo": given["paypal-auth-algo"], "cert_url": given["paypal-cert-url"],
              "transmission_id": given["paypal-transmission-id"],
              "transmission_sig": given["paypal-transmission-sig"],
              "transmission_time": given["paypal-transmission-time"], "webhook_id": settings.paypal.webhook_id}
    # The body goes as it came (PayPal checks its signature over the event it is sent, so a
    # re-serialised event can fail); it is valid JSON, checked above.
    payload = json.dumps(fields)[:-1] + ', "webhook_event": ' + text + "}"
    client = paypal_client(settings)
    answer = _post_json(client, "/v1/notifications/verify-webhook-signature", payload)
    if answer.get("verification_status") != "SUCCESS":
        raise PaypalWebhookInvalid(f"PayPal did not verify event {event['id']}: "
                                   f"{answer.get('verification_status')}")
    return event


def _post_json(client: PaypalServersdkClient, path: str, payload: str) -> dict:
    """POST to a PayPal endpoint the SDK does not cover, with the SDK's OAuth token."""
    manager = client.oauth_2
    try:
        if not manager.is_valid():
            raise PaypalRefused("AUTHENTICATION_FAILURE", "PayPal gave no access token")
    except ApiException as exc:
        raise _failure(exc) from exc
    except (requests.RequestException, OSError) as exc:
        raise PaypalUnavailable(f"PayPal did not answer: {type(exc).__name__}") from exc
    headers: dict[str, str] = {"Content-Type": "application/json", "Accept": "application/json"}
    manager.apply(_HeaderSink(headers))
    url = client.config.get_base_uri() + path
    try:
        response = httpx.post(url, content=payload.encode("utf-8"), headers=headers, timeout=client.config.timeout)
    except httpx.HTTPError as exc:
        raise PaypalUnavailable(f"PayPal did not answer: {type(exc).__name__}") from exc
    if response.status_code >= 400:
        raise _failure(ApiException(f"HTTP {response.status_code}", _HttpxAnswer(response)))
    try:
        answer = response.json()
    except ValueError:
        raise PaypalUnavailable(f"PayPal answered {path} with something other than JSON") from None
    return answer if isinstance(answer, dict) else {}


class _HeaderSink:
    """What the SDK's auth manager writes its Authorization header into."""

    def __init__(self, headers: dict[str, str]):
        self.headers = headers

    def add_header(self, name: str, value: str) -> None:
        self.headers[name] = value


class _HttpxAnswer:
    """An httpx response shaped as the SDK's ApiException reads one (status_code, text)."""

    def __init__(self, response: httpx.Response):
        self.status_code, self.text = response.status_code, response.text
