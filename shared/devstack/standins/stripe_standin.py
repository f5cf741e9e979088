"""A local Stripe for dev mode and tests: the v1 API the product uses, a dev
checkout page, and signed webhooks, all in memory.

The product talks to it with the real stripe-python SDK; only the base
address changes:

    client = stripe.StripeClient(api_key, base_addresses={"api": "http://127.0.0.1:54321/stripe"})

Served (paths relative to where the app is mounted):

    POST /v1/checkout/sessions                create (mode=payment: price_data or one-time price line items;
                                              mode=subscription: one recurring price, by id or price_data with
                                              recurring, plus optional one-time items, subscription_data[metadata]
                                              and [description]; customer, or customer_email;
                                              payment_intent_data[setup_future_usage] in payment mode)
    GET  /v1/checkout/sessions                list (payment_intent, status, limit)
    GET  /v1/checkout/sessions/{id}           retrieve (expand[]=line_items, payment_intent, ...)
    GET  /v1/checkout/sessions/{id}/line_items
    POST /v1/checkout/sessions/{id}/expire    only while open
    POST /v1/refunds                          payment_intent or charge, amount <= remaining
    GET  /v1/refunds, /v1/refunds/{id}
    POST /v1/payment_intents                  create (capture_method automatic|automatic_async|manual; confirm;
                                              customer + a saved payment_method + off_session=true charges a
                                              saved card without the buyer; setup_future_usage saves the card)
    POST /v1/payment_intents/{id}/confirm     with a test payment method (below) or a pm_ it made
    POST /v1/payment_intents/{id}/capture     manual capture, amount_to_capture <= amount_capturable
                                              (the rest of the authorisation is released)
    POST /v1/payment_intents/{id}/cancel      before capture; releases the authorisation
    GET  /v1/payment_intents/{id}, /v1/charges/{id}, /v1/events/{id}
    POST /v1/products                         create (name; id, description, metadata, active, unit_label, ...)
    GET  /v1/products/{id}
    POST /v1/prices                           create (currency, unit_amount, product or product_data[name],
                                              recurring[interval]=day|week|month|year and [interval_count],
                                              lookup_key (+ transfer_lookup_key), nickname, metadata, active)
    GET  /v1/prices                           list (lookup_keys[], active, currency, product, type, limit, ...)
    GET  /v1/prices/{id}
    GET  /v1/subscriptions                    list (customer, price, status incl. all; default: not canceled)
    GET  /v1/subscriptions/{id}
    POST /v1/subscriptions/{id}               update: cancel_at_period_end, items[n][id] + [price] / [quantity],
                                              metadata, description, cancellation_details
                                              -> customer.subscription.updated (with previous_attributes)
    DELETE /v1/subscriptions/{id}             cancel now -> status canceled, customer.subscription.deleted
    POST /v1/customers                        create (email, name, description, phone, metadata, payment_method)
    GET  /v1/customers/{id}
    GET  /v1/customers/{id}/payment_methods   list (type, limit, starting_after); .../payment_methods/{pm}
    GET  /v1/payment_methods                  list (customer, type, limit, starting_after)
    GET  /v1/payment_methods/{id}
    POST /v1/payment_methods/{id}/attach      customer (the card is verified: it may be declined, 402)
    POST /v1/payment_methods/{id}/detach      a detached payment method can never be used again
    POST /v1/setup_intents                    create (customer, usage off_session|on_session, metadata,
                                              allowed_payment_method_types or payment_method_types: card;
                                              payment_method, confirm)
    GET  /v1/setup_intents/{id}
    POST /v1/setup_intents/{id}/confirm       payment_method: requires_payment_method|requires_confirmation ->
                                              succeeded, the card saved to the customer; a card refused at setup
                                              -> requires_payment_method, last_setup_error, 402 card_error
    GET  /                                    dev index of sessions
    GET  /checkout/{id}                       dev checkout page: #pay, #cancel, #pay-late
    POST /checkout/{id}/pay | /cancel | /pay-late   (pay takes payment_method=<a saved pm> for a customer's
                                                     session: its saved cards are offered on the page)

Subscriptions are made only by paying a mode=subscription Checkout Session:
the customer (made from customer_email when the session had none) gets the
card saved, an active Subscription whose single item carries the price and,
as in API versions since 2025-03-31.basil, current_period_start/end (the
Subscription itself has neither), metadata from subscription_data[metadata];
the session becomes complete/paid with `subscription` set and no
payment_intent. Events, in order: [customer.created], payment_method.attached,
customer.subscription.created, checkout.session.completed. No invoices are
modelled (latest_invoice and the session's invoice stay null; no invoice.*
events). Later billing is driven from Python: `renew` (the renewal is paid:
the period moves on; a past_due subscription becomes active again),
`fail_renewal` (the period moves on, the payment fails: past_due) and
`end_period` (a cancel_at_period_end subscription reaches its period end:
canceled, customer.subscription.deleted).

Test payment methods, as Stripe's test mode has them. Each use of a token
makes a new pm_ object (type card; the same card number always has the same
fingerprint), unattached until saved:

    pm_card_visa, pm_card_mastercard     succeed everywhere (visa 4242, mastercard 4444)
    pm_card_chargeCustomerFail           saving it succeeds; every charge is declined (card_declined): the
                                         card to test "a saved card stops working" with
    pm_card_chargeDeclined,              every charge is declined, and so is saving it (SetupIntent,
    pm_card_visa_chargeDeclined          attach), because Stripe verifies a card with its issuer when it
                                         is saved

Like Stripe, a pm_ that was used (charged or declined) without being saved
to a customer, or was detached, may not be used again; a saved one can be
used only with its own customer.

Like Stripe: `Authorization: Bearer <key>` is required when an api_key is
set; POSTs honour `Idempotency-Key` (same key and parameters -> the saved
response with `Idempotent-Replayed: true`; other parameters or another
endpoint -> 400 idempotency_error; only requests that passed validation are
saved, successes and card declines, for 24 hours); unknown parameters are
refused; errors have Stripe's shape `{"error": {"type", "message", "param",
"code"}}`, card errors also decline_code, charge, payment_intent or
setup_intent, payment_method; open sessions whose expires_at has passed turn
expired (with their event) on the next call.

Webhooks are POSTed synchronously to `webhook_url` with a real
`Stripe-Signature` (see `sign`), so `stripe.Webhook.construct_event` accepts
them; every attempt is recorded in `events_sent`. With no webhook_url the
events wait in `queued` until `flush()`. The signature timestamp is always
the real wall clock (the tolerance check uses it), while object timestamps
follow the stand-in's clock (`set_clock`, `advance`).

Delivery happens outside the stand-in's lock, so a webhook handler may call
back into the API. Events caused by an API call are, by default, delivered
before that call is answered (deterministic for tests); a caller that holds
database locks while calling Stripe would then wait on its own webhook, so
`deliver_after_response=True` answers first and delivers when the response
is closed, as real Stripe does asynchronously (`wait_for_deliveries()`).
"""

from __future__ import annotations

import base64
import calendar
import copy
import hashlib
import hmac
import html
import json
import logging
import secrets
import string
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shared.devstack.standins import forms
from shared.devstack.standins.plumbing import ApiError, Clock, Faults, json_response

logger = logging.getLogger("bookwell.standins.stripe")

API_VERSION = "2026-10-28.endive"
MIN_EXPIRY = 30 * 60
MAX_EXPIRY = 24 * 60 * 60
IDEMPOTENCY_TTL = 24 * 60 * 60
ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
WEBHOOK_USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def sign(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header for `payload`: t=<ts>,v1=<hmac-sha256 of "t.payload">."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    ts = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode("utf-8"), f"{ts}.{payload}".encode("utf-8"), hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


class StripeError(ApiError):
    """An API refusal in Stripe's shape; also raised by the Python-side helpers."""

    def __init__(self, status: int, message: str, *, extra: dict | None = None, **kwargs: Any):
        super().__init__(status, message, **kwargs)
        # Stripe adds to card errors: decline_code, charge, payment_intent, setup_intent, payment_method.
        self.extra = extra or {}

    def body(self) -> dict:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        if self.code is not None:
            error["code"] = self.code
        error.update(copy.deepcopy(self.extra))
        return {"error": error}


def _missing(param: str) -> StripeError:
    return StripeError(400, f"Missing required param: {param}.", param=param, code="parameter_missing")


def _unknown(param: str) -> StripeError:
    return StripeError(400, f"Received unknown parameter: {param}", param=param, code="parameter_unknown")


def _no_such(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", param=param, code="resource_missing")


@dataclass
class Delivery:
    """One webhook POST: what was sent and how the endpoint answered."""

    event: dict
    url: str
    status: int | None
    error: str | None
    payload: bytes
    signature: str
    at: float
    response_body: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def type(self) -> str:
        return self.event["type"]


@dataclass
class _Call:
    """Who caused what: the request id and idempotency key stamped on events."""

    request_id: str | None = None
    idempotency_key: str | None = None
    events: list[dict] = field(default_factory=list)


# Parameters the real API accepts on POST /v1/checkout/sessions. Those the
# stand-in does not act on are stored or ignored; anything else is refused.
_SESSION_PARAMS = frozenset("""
    mode line_items customer_email client_reference_id metadata payment_intent_data success_url cancel_url
    return_url expires_at expand locale payment_method_types customer customer_creation submit_type
    allow_promotion_codes billing_address_collection phone_number_collection consent_collection custom_text
    custom_fields invoice_creation automatic_tax after_expiration ui_mode currency discounts subscription_data
    shipping_address_collection shipping_options tax_id_collection payment_method_options
    payment_method_configuration saved_payment_method_options redirect_on_completion branding_settings
    origin_context adaptive_pricing optional_items permissions wallet_options name_collection customer_update
    payment_method_collection excluded_payment_method_types integration_identifier
""".split())
_LINE_ITEM_PARAMS = frozenset(
    "price price_data quantity adjustable_quantity dynamic_tax_rates tax_rates metadata".split())
_PRICE_DATA_PARAMS = frozenset(
    "currency unit_amount unit_amount_decimal product product_data tax_behavior recurring".split())
_PRODUCT_DATA_PARAMS = frozenset("name description images metadata tax_code unit_label".split())
_PI_DATA_PARAMS = frozenset("""
    metadata description receipt_email capture_method statement_descriptor statement_descriptor_suffix
    setup_future_usage shipping transfer_data transfer_group application_fee_amount on_behalf_of
""".split())
# subscription_data on a mode=subscription session: the stand-in acts on these two ...
_SUBSCRIPTION_DATA_PARAMS = frozenset(("description", "metadata"))
# ... and refuses the rest Stripe knows, which it does not model.
_SUBSCRIPTION_DATA_UNSUPPORTED = frozenset("""
    application_fee_percent billing_cycle_anchor billing_cycle_anchor_config billing_mode default_tax_rates
    invoice_settings on_behalf_of pending_invoice_item_interval proration_behavior transfer_data trial_end
    trial_period_days trial_settings
""".split())
_PRODUCT_PARAMS = frozenset("""
    active default_price_data description expand id images marketing_features metadata name package_dimensions
    shippable statement_descriptor tax_code tax_details type unit_label url
""".split())
_PRODUCT_UNSUPPORTED = ("default_price_data",)
_PRICE_PARAMS = frozenset("""
    active billing_scheme currency currency_options custom_unit_amount expand lookup_key metadata nickname product
    product_data recurring tax_behavior tiers tiers_mode transfer_lookup_key transform_quantity unit_amount
    unit_amount_decimal
""".split())
_PRICE_UNSUPPORTED = ("currency_options", "custom_unit_amount", "tiers", "tiers_mode", "transform_quantity")
_PRICE_PRODUCT_DATA_PARAMS = frozenset(
    "active id metadata name statement_descriptor tax_code tax_details unit_label".split())
_RECURRING_PARAMS = frozenset("interval interval_count meter trial_period_days usage_type".split())
# The longest period Stripe allows: three years.
_MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}
_TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")
_PRICE_LIST_PARAMS = frozenset(
    "active created currency ending_before expand limit lookup_keys product recurring starting_after type".split())
_SUBSCRIPTION_LIST_PARAMS = frozenset("""
    automatic_tax collection_method created current_period_end current_period_start customer customer_account
    ending_before expand limit price starting_after status test_clock
""".split())
_SUBSCRIPTION_STATUSES = ("incomplete", "incomplete_expired", "trialing", "active", "past_due", "unpaid",
                          "canceled", "paused")
# Parameters the real API accepts on POST /v1/subscriptions/{id}; the stand-in acts on the first set.
_SUBSCRIPTION_UPDATE_PARAMS = frozenset(
    "cancel_at_period_end cancellation_details description expand items metadata proration_behavior".split())
_SUBSCRIPTION_UPDATE_UNSUPPORTED = frozenset("""
    add_invoice_items application_fee_percent automatic_tax billing_cycle_anchor billing_schedules
    billing_thresholds cancel_at collection_method days_until_due default_payment_method default_source
    default_tax_rates discounts invoice_settings off_session on_behalf_of pause_collection payment_behavior
    payment_settings pending_invoice_item_interval proration_date transfer_data trial_end trial_from_plan
    trial_settings
""".split())
_SUBSCRIPTION_ITEM_PARAMS = frozenset("""
    billing_thresholds clear_usage current_trial deleted discounts id metadata plan price price_data quantity
    tax_rates
""".split())
_SUBSCRIPTION_CANCEL_PARAMS = frozenset("cancellation_details expand invoice_now prorate".split())
_CANCELLATION_DETAILS_PARAMS = frozenset(("comment", "feedback", "feedback_option"))
_FEEDBACKS = frozenset("""
    customer_service low_quality missing_features other switched_service too_complex too_expensive unused
""".split())
_CANCELED_UPDATE = "A canceled subscription can only update its cancellation_details and metadata."
_REFUND_PARAMS = frozenset("payment_intent charge amount reason metadata expand instructions_email origin".split())
_REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
_PI_PARAMS = frozenset(("amount currency capture_method confirm payment_method payment_method_types metadata description "
                        "receipt_email return_url off_session automatic_payment_methods statement_descriptor "
                        "statement_descriptor_suffix expand customer setup_future_usage").split())
_PI_CONFIRM_PARAMS = frozenset("payment_method return_url off_session setup_future_usage expand".split())
_PI_CANCEL_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer", "abandoned"})
_FUTURE_USAGES = ("off_session", "on_session")
# Parameters the real API accepts on POST /v1/customers; those the stand-in does not act on are ignored.
_CUSTOMER_PARAMS = frozenset("""
    address balance business_name cash_balance description email expand individual_name invoice_prefix
    invoice_settings metadata name next_invoice_sequence payment_method phone preferred_locales shipping source
    tax tax_exempt tax_id_data test_clock validate
""".split())
_PM_LIST_PARAMS = frozenset("allow_redisplay customer type limit starting_after ending_before expand".split())
# Parameters the real API accepts on POST /v1/setup_intents (payment_method_types: older API versions).
_SETUP_INTENT_PARAMS = frozenset("""
    allowed_payment_method_types payment_method_types attach_to_self automatic_payment_methods confirm
    confirmation_token customer customer_account description excluded_payment_method_types expand flow_directions
    mandate_data metadata on_behalf_of payment_method payment_method_configuration payment_method_data
    payment_method_options return_url single_use usage use_stripe_sdk
""".split())
_SETUP_CONFIRM_PARAMS = frozenset("""
    payment_method return_url expand mandate_data payment_method_options use_stripe_sdk confirmation_token
    payment_method_data allowed_payment_method_types
""".split())
# Accepted by Stripe, not modelled here: refused rather than silently ignored.
_SETUP_UNSUPPORTED = ("confirmation_token", "payment_method_data", "attach_to_self", "customer_account",
                      "on_behalf_of", "single_use")


@dataclass(frozen=True)
class _TestCard:
    """One of Stripe's test payment methods: the card it stands for and where its issuer says no."""

    brand: str
    number: str
    refused_at_setup: bool = False   # verifying it to save it (SetupIntent, attach) is declined
    refused_at_charge: bool = False  # every charge is declined
    country: str = "US"
    funding: str = "credit"

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        """Like Stripe's: the same card number always has the same fingerprint."""
        digest = hashlib.sha256(f"bookwell-standin:{self.number}".encode()).digest()
        return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:16])


_DECLINED = _TestCard("visa", "4000000000000002", refused_at_setup=True, refused_at_charge=True)
_TEST_CARDS = {
    "pm_card_visa": _TestCard("visa", "4242424242424242"),
    "pm_card_mastercard": _TestCard("mastercard", "5555555555554444"),
    "pm_card_chargeCustomerFail": _TestCard("visa", "4000000000000341", refused_at_charge=True),
    "pm_card_chargeDeclined": _DECLINED,
    "pm_card_visa_chargeDeclined": _DECLINED,
}
_DECLINE_MESSAGE = "Your card was declined."
_SPENT_MESSAGE = ("The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, "
                  "shared with a connected account without Customer attachment, or was detached from a Customer. It "
                  "may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer "
                  "first.")


_CUSTOM_TEXT_FIELDS = ("after_submit", "shipping_address", "submit", "terms_of_service_acceptance")


def _custom_text(value: Any) -> dict:
    """custom_text as Stripe stores it: each field null or {"message": up to 1200 characters}."""
    given = value if isinstance(value, dict) else {}
    unknown = set(given) - set(_CUSTOM_TEXT_FIELDS)
    if value not in (None, "") and not isinstance(value, dict) or unknown:
        raise StripeError(400, f"Received unknown parameter: custom_text[{sorted(unknown)[0] if unknown else ''}]",
                          param="custom_text")
    out: dict[str, dict | None] = {}
    for name in _CUSTOM_TEXT_FIELDS:
        field_value = given.get(name)
        message = field_value.get("message") if isinstance(field_value, dict) else None
        if message is not None and (not isinstance(message, str) or len(message) > 1200):
            raise StripeError(400, "Invalid string: custom_text messages are at most 1200 characters.",
                              param=f"custom_text[{name}][message]")
        out[name] = {"message": message} if message else None
    return out


class StripeStandin:
    """An in-memory Stripe. One instance per app; every method is thread-safe.

    Inspection (deep copies): `sessions`, `payment_intents`, `charges`,
    `refunds`, `disputes`, `customers`, `payment_methods`, `setup_intents`,
    `products`, `prices`, `subscriptions`
    (dicts by id, oldest first), `events` (every event
    built, in order), `events_sent` (Delivery records), `queued` (events
    waiting for a webhook_url).
    Driving: `pay`, `settle`, `expire`, `expire_due`, `dispute`,
    `renew`, `fail_renewal`, `end_period` (subscriptions),
    `build_event`, `deliver`, `redeliver`, `flush`, `sign`, `fail_next`,
    `set_clock`, `advance`, `now`, `wait_for_deliveries`.
    """

    def __init__(self, webhook_url: str | None, webhook_secret: str, api_key: str | None = None, *,
                 public_url: str | None = None, delivery_timeout: float = 10.0,
                 deliver_after_response: bool = False, enabled_events: Iterable[str] | None = None,
                 api_version: str = API_VERSION):
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.api_key = api_key
        self.public_url = public_url.rstrip("/") if public_url else None
        self.delivery_timeout = delivery_timeout
        self.deliver_after_response = deliver_after_response
        self.enabled_events = frozenset(enabled_events) if enabled_events is not None else None
        self.api_version = api_version

        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._clock = Clock()
        self._faults = Faults()

        self._sessions: dict[str, dict] = {}
        self._line_items: dict[str, list[dict]] = {}
        self._pi_data: dict[str, dict] = {}
        self._payment_intents: dict[str, dict] = {}
        self._charges: dict[str, dict] = {}
        self._refunds: dict[str, dict] = {}
        self._disputes: dict[str, dict] = {}
        self._customers: dict[str, dict] = {}
        self._payment_methods: dict[str, dict] = {}
        self._pm_cards: dict[str, _TestCard] = {}  # pm id -> the test card it was made from
        self._pm_spent: set[str] = set()  # used without being saved, or detached: never usable again
        self._setup_intents: dict[str, dict] = {}
        self._products: dict[str, dict] = {}
        self._prices: dict[str, dict] = {}
        self._subscriptions: dict[str, dict] = {}
        self._subscription_data: dict[str, dict] = {}  # session id -> its subscription_data
        self._events: dict[str, dict] = {}
        self._events_sent: list[Delivery] = []
        self._queued: list[dict] = []
        self._idempotency: dict[str, dict] = {}

        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._routes = Map([
            Rule("/", endpoint="page_index", methods=["GET"]),
            Rule("/checkout/<session_id>", endpoint="page_checkout", methods=["GET"]),
            Rule("/checkout/<session_id>/pay", endpoint="page_pay", methods=["POST"]),
            Rule("/checkout/<session_id>/pay-late", endpoint="page_pay_late", methods=["POST"]),
            Rule("/checkout/<session_id>/cancel", endpoint="page_cancel", methods=["POST"]),
            Rule("/v1/checkout/sessions", endpoint="api_create_session", methods=["POST"]),
            Rule("/v1/checkout/sessions", endpoint="api_list_sessions", methods=["GET"]),
            Rule("/v1/checkout/sessions/<session_id>", endpoint="api_get_session", methods=["GET"]),
            Rule("/v1/checkout/sessions/<session_id>/line_items", endpoint="api_get_line_items", methods=["GET"]),
            Rule("/v1/checkout/sessions/<session_id>/expire", endpoint="api_expire_session", methods=["POST"]),
            Rule("/v1/refunds", endpoint="api_create_refund", methods=["POST"]),
            Rule("/v1/refunds", endpoint="api_list_refunds", methods=["GET"]),
            Rule("/v1/refunds/<refund_id>", endpoint="api_get_refund", methods=["GET"]),
            Rule("/v1/payment_intents", endpoint="api_create_payment_intent", methods=["POST"]),
            Rule("/v1/payment_intents/<pi_id>", endpoint="api_get_payment_intent", methods=["GET"]),
            Rule("/v1/payment_intents/<pi_id>/confirm", endpoint="api_confirm_payment_intent", methods=["POST"]),
            Rule("/v1/payment_intents/<pi_id>/capture", endpoint="api_capture_payment_intent", methods=["POST"]),
            Rule("/v1/payment_intents/<pi_id>/cancel", endpoint="api_cancel_payment_intent", methods=["POST"]),
            Rule("/v1/charges/<charge_id>", endpoint="api_get_charge", methods=["GET"]),
            Rule("/v1/customers", endpoint="api_create_customer", methods=["POST"]),
            Rule("/v1/customers/<customer_id>", endpoint="api_get_customer", methods=["GET"]),
            Rule("/v1/customers/<customer_id>/payment_methods", endpoint="api_list_customer_payment_methods",
                 methods=["GET"]),
            Rule("/v1/customers/<customer_id>/payment_methods/<pm_id>", endpoint="api_get_customer_payment_method",
                 methods=["GET"]),
            Rule("/v1/payment_methods", endpoint="api_list_payment_methods", methods=["GET"]),
            Rule("/v1/payment_methods/<pm_id>", endpoint="api_get_payment_method", methods=["GET"]),
            Rule("/v1/payment_methods/<pm_id>/attach", endpoint="api_attach_payment_method", methods=["POST"]),
            Rule("/v1/payment_methods/<pm_id>/detach", endpoint="api_detach_payment_method", methods=["POST"]),
            Rule("/v1/setup_intents", endpoint="api_create_setup_intent", methods=["POST"]),
            Rule("/v1/setup_intents/<seti_id>", endpoint="api_get_setup_intent", methods=["GET"]),
            Rule("/v1/setup_intents/<seti_id>/confirm", endpoint="api_confirm_setup_intent", methods=["POST"]),
            Rule("/v1/events/<event_id>", endpoint="api_get_event", methods=["GET"]),
            Rule("/v1/products", endpoint="api_create_product", methods=["POST"]),
            Rule("/v1/products/<product_id>", endpoint="api_get_product", methods=["GET"]),
            Rule("/v1/prices", endpoint="api_create_price", methods=["POST"]),
            Rule("/v1/prices", endpoint="api_list_prices", methods=["GET"]),
            Rule("/v1/prices/<price_id>", endpoint="api_get_price", methods=["GET"]),
            Rule("/v1/subscriptions", endpoint="api_list_subscriptions", methods=["GET"]),
            Rule("/v1/subscriptions/<sub_id>", endpoint="api_get_subscription", methods=["GET"]),
            Rule("/v1/subscriptions/<sub_id>", endpoint="api_update_subscription", methods=["POST"]),
            Rule("/v1/subscriptions/<sub_id>", endpoint="api_cancel_subscription", methods=["DELETE"]),
        ], strict_slashes=False)

    # ------------------------------------------------------------------ clock

    def set_clock(self, fn: Callable[[], float]) -> None:
        """Use `fn()` (unix seconds) as "now" for created/expires_at/expiry checks."""
        self._clock.set(fn)

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock forward (e.g. past a session's expires_at)."""
        self._clock.advance(seconds)

    def now(self) -> int:
        return int(self._clock.now())

    # ------------------------------------------------------------- inspection

    def _snapshot(self, store: dict) -> dict:
        with self._lock:
            return copy.deepcopy(store)

    @property
    def sessions(self) -> dict[str, dict]:
        return self._snapshot(self._sessions)

    @property
    def payment_intents(self) -> dict[str, dict]:
        return self._snapshot(self._payment_intents)

    @property
    def charges(self) -> dict[str, dict]:
        return self._snapshot(self._charges)

    @property
    def refunds(self) -> dict[str, dict]:
        return self._snapshot(self._refunds)

    @property
    def disputes(self) -> dict[str, dict]:
        return self._snapshot(self._disputes)

    @property
    def customers(self) -> dict[str, dict]:
        return self._snapshot(self._customers)

    @property
    def payment_methods(self) -> dict[str, dict]:
        return self._snapshot(self._payment_methods)

    @property
    def setup_intents(self) -> dict[str, dict]:
        return self._snapshot(self._setup_intents)

    @property
    def products(self) -> dict[str, dict]:
        return self._snapshot(self._products)

    @property
    def prices(self) -> dict[str, dict]:
        return self._snapshot(self._prices)

    @property
    def subscriptions(self) -> dict[str, dict]:
        return self._snapshot(self._subscriptions)

    @property
    def events(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._events.values()))

    @property
    def events_sent(self) -> list[Delivery]:
        with self._lock:
            return list(self._events_sent)

    @property
    def queued(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._queued)

    def line_items(self, session_id: str) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._line_items[session_id])

    def checkout_url(self, session_id: str, base: str | None = None) -> str:
        root = (base or self.public_url or "").rstrip("/")
        return f"{root}/checkout/{session_id}"

    # ------------------------------------------------------------ failures

    @property
    def faults(self) -> Faults:
        """The queued failures (`fail_next` adds to them; `faults.clear()` ends an outage early)."""
        return self._faults

    def fail_next(self, n: int = 1, status: int = 500, *, after: bool = False) -> None:
        """Make the next `n` API requests (/v1, SDK retries included) fail with `status`.

        after=False: refused before doing anything (Stripe down; nothing saved).
        after=True: the request is carried out and its idempotent result saved,
        but this answer is an error (the response was lost); a retry with the
        same Idempotency-Key gets the saved result.
        """
        self._faults.add(n, status, after=after)

    def slow_next(self, n: int = 1, seconds: float = 5.0) -> None:
        """Make the next `n` API calls take `seconds` before they are carried out (a slow provider:
        a client that gave up meanwhile never hears the answer)."""
        self._faults.add_slow(n, seconds)

    # ----------------------------------------------------------- webhooks

    def sign(self, payload: bytes | str, timestamp: int | None = None) -> str:
        return sign(payload, self.webhook_secret, timestamp)

    def build_event(self, type: str, obj: dict, *, request_id: str | None = None,
                    idempotency_key: str | None = None, previous_attributes: dict | None = None) -> dict:
        """A Stripe event around a snapshot of `obj`, stored so it can be redelivered."""
        with self._lock:
            data: dict[str, Any] = {"object": copy.deepcopy(obj)}
            if previous_attributes is not None:
                data["previous_attributes"] = copy.deepcopy(previous_attributes)
            event = {
                "id": new_id("evt_test_"),
                "object": "event",
                "api_version": self.api_version,
                "created": self.now(),
                "data": data,
                "livemode": False,
                "pending_webhooks": 1 if self.webhook_url else 0,
                "request": {"id": request_id, "idempotency_key": idempotency_key},
                "type": type,
            }
            self._events[event["id"]] = event
            return copy.deepcopy(event)

    def deliver(self, event: dict) -> Delivery | None:
        """POST `event`, signed, to webhook_url now; queue it when there is no URL.

        Returns the Delivery (also appended to `events_sent`), or None when
        queued or filtered out by `enabled_events`.
        """
        if self.enabled_events is not None and not ({event["type"], "*"} & self.enabled_events):
            return None
        url = self.webhook_url
        if url is None:
            with self._lock:
                self._queued.append(copy.deepcopy(event))
            return None
        payload = json.dumps(event, indent=2).encode("utf-8")
        signature = sign(payload, self.webhook_secret)
        request = urllib.request.Request(url, data=payload, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature,
            "User-Agent": WEBHOOK_USER_AGENT,
            "Accept": "*/*; q=0.5, application/xml",
        })
        status: int | None = None
        error: str | None = None
        body = b""
        try:
            with self._opener.open(request, timeout=self.delivery_timeout) as response:
                status = response.status
                body = response.read(4096)
        except urllib.error.HTTPError as exc:
            status = exc.code
            body = exc.read(4096)
        except (urllib.error.URLError, OSError) as exc:
            error = str(getattr(exc, "reason", exc))
        delivery = Delivery(copy.deepcopy(event), url, status, error, payload, signature, time.time(), body)
        with self._lock:
            self._events_sent.append(delivery)
        return delivery

    def redeliver(self, event_id: str) -> Delivery | None:
        """Send a stored event again (same id and body, fresh signature): Stripe's retry/replay."""
        with self._lock:
            event = copy.deepcopy(self._events[event_id])
        return self.deliver(event)

    def flush(self) -> list[Delivery]:
        """Deliver the events queued while webhook_url was None, oldest first."""
        with self._lock:
            pending, self._queued = self._queued, []
        return [d for d in (self.deliver(e) for e in pending) if d is not None]

    def wait_for_deliveries(self, timeout: float = 10.0) -> bool:
        """Wait until no delivery started after a response is still running."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _deliver_all(self, events: list[dict]) -> None:
        for event in events:
            self.deliver(event)

    def _deliver_later(self, events: list[dict]) -> Callable[[], None]:
        with self._lock:
            self._in_flight += 1

        def run() -> None:
            try:
                self._deliver_all(events)
            finally:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()
        return run

    def _emit(self, call: _Call, type: str, obj: dict, **kwargs: Any) -> None:
        call.events.append(self.build_event(type, obj, request_id=call.request_id,
                                            idempotency_key=call.idempotency_key, **kwargs))

    # --------------------------------------------------- Python-side driving

    def _run(self, fn: Callable[[_Call], Any], *, sweep: bool = True) -> Any:
        """Run `fn` under the lock, then deliver the events it caused (even if it raised)."""
        call = _Call()
        try:
            with self._lock:
                if sweep:
                    self._sweep_locked(call)
                return fn(call)
        finally:
            self._deliver_all(call.events)

    def pay(self, session_id: str, *, late: bool = False, async_payment: bool = False,
            settle: bool = True, payment_method: str | None = None) -> dict:
        """Complete a session as the customer would, delivering its events; returns the session.

        payment_method: one of the session customer's saved cards (pm_...);
        by default the buyer types in a new card (pm_card_visa's), which is
        saved to the customer when payment_intent_data[setup_future_usage] was
        set (Checkout then makes a customer if the session had none).

        late: expire the session first (checkout.session.expired), then take
        the money anyway (checkout.session.completed): payment after the hold.
        async_payment: completed with payment_status "unpaid" (a bank debit),
        then, if settle, checkout.session.async_payment_succeeded; with
        settle=False call `settle()` later.
        """
        def run(call: _Call) -> dict:
            self._pay_locked(call, session_id, late=late, async_payment=async_payment, settle=settle,
                             payment_method=payment_method)
            return copy.deepcopy(self._sessions[session_id])
        return self._run(run)

    def settle(self, session_id: str, *, succeeded: bool = True) -> dict:
        """Finish an async payment: async_payment_succeeded or async_payment_failed."""
        def run(call: _Call) -> dict:
            self._settle_locked(call, session_id, succeeded)
            return copy.deepcopy(self._sessions[session_id])
        return self._run(run, sweep=False)

    def expire(self, session_id: str) -> dict:
        """Expire an open session now and deliver checkout.session.expired."""
        def run(call: _Call) -> dict:
            session = self._session_or_404(session_id)
            self._expire_locked(call, session)
            return copy.deepcopy(session)
        return self._run(run, sweep=False)

    def expire_due(self) -> list[str]:
        """Expire every open session whose expires_at has passed (by the stand-in's clock)."""
        return self._run(self._sweep_locked, sweep=False)

    def dispute(self, payment_intent_id: str, *, amount: int | None = None,
                reason: str = "fraudulent") -> dict:
        """Open a dispute on the intent's charge and deliver charge.dispute.created."""
        def run(call: _Call) -> dict:
            pi = self._payment_intents.get(payment_intent_id)
            if pi is None:
                raise _no_such("payment_intent", payment_intent_id, "payment_intent")
            charge = self._charges.get(pi.get("latest_charge") or "")
            if charge is None or charge["status"] != "succeeded":
                raise StripeError(400, f"PaymentIntent {payment_intent_id} has no successful charge to dispute.")
            now = self.now()
            dispute = {
                "id": new_id("dp_test_"),
                "object": "dispute",
                "amount": charge["amount"] if amount is None else amount,
                "balance_transactions": [],
                "charge": charge["id"],
                "created": now,
                "currency": charge["currency"],
                "evidence": {},
                "evidence_details": {"due_by": now + 7 * 86400, "has_evidence": False,
                                     "past_due": False, "submission_count": 0},
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "payment_intent": pi["id"],
                "reason": reason,
                "status": "needs_response",
            }
            self._disputes[dispute["id"]] = dispute
            charge["disputed"] = True
            self._emit(call, "charge.dispute.created", dispute)
            return copy.deepcopy(dispute)
        return self._run(run, sweep=False)

    # ----------------------------------------------------------- state changes

    def _session_or_404(self, session_id: str) -> dict:
        session = self._sessions.get(session_id)
        if session is None:
            raise _no_such("checkout.session", session_id, "session")
        return session

    def _sweep_locked(self, call: _Call) -> list[str]:
        now = self.now()
        due = [s for s in self._sessions.values() if s["status"] == "open" and s["expires_at"] <= now]
        for session in due:
            self._expire_locked(call, session)
        return [s["id"] for s in due]

    def _expire_locked(self, call: _Call, session: dict) -> None:
        if session["status"] != "open":
            raise StripeError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired. '
                f'This Checkout Session has a status of "{session["status"]}".',
                param="session")
        session["status"] = "expired"
        session["url"] = None
        self._emit(call, "checkout.session.expired", session)

    def _pay_locked(self, call: _Call, session_id: str, *, late: bool, async_payment: bool,
                    settle: bool, payment_method: str | None = None) -> None:
        session = self._session_or_404(session_id)
        if session["mode"] == "subscription":
            if late or async_payment:
                raise StripeError(400, "The stand-in pays subscription sessions by card, on time: no late or "
                                       "asynchronous payment.", param="session")
            if session["status"] != "open":
                raise StripeError(400, f"Checkout Session {session_id} is {session['status']}, not open.",
                                  param="session")
            self._subscribe_locked(call, session, payment_method)
            return
        if late and session["status"] == "open":
            self._expire_locked(call, session)
        elif not late and session["status"] != "open":
            raise StripeError(400, f"Checkout Session {session_id} is {session['status']}, not open.",
                              param="session")
        if session["payment_intent"]:
            raise StripeError(400, f"Checkout Session {session_id} has already been paid.", param="session")
        saved = None
        if payment_method:
            saved = self._payment_methods.get(payment_method)
            if saved is None or not session["customer"] or saved["customer"] != session["customer"]:
                raise _not_the_customers(payment_method)
        now = self.now()
        pi_data = self._pi_data.get(session_id, {})
        future_usage = pi_data.get("setup_future_usage") or None
        if future_usage and not session["customer"] and not async_payment:
            # Saving the card needs a customer: Checkout makes one from the email the buyer gives.
            session["customer"] = self._new_customer_locked(
                call, email=session["customer_email"] or "customer@example.com")["id"]
        customer = self._customers.get(session["customer"] or "")
        email = session["customer_email"] or (customer or {}).get("email") or "customer@example.com"
        pm = saved or (None if async_payment else self._materialise_locked("pm_card_visa", email=email))
        pi = {
            "id": new_id("pi_test_"),
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_capturable": 0,
            "amount_received": 0,
            "application": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "client_secret": None,
            "confirmation_method": "automatic",
            "created": now,
            "currency": session["currency"],
            "customer": session["customer"],
            "description": pi_data.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(pi_data.get("metadata") or {}),
            "next_action": None,
            "payment_method": pm["id"] if pm else new_id("pm_test_"),
            "payment_method_types": ["sepa_debit"] if async_payment else ["card"],
            "receipt_email": pi_data.get("receipt_email"),
            "setup_future_usage": future_usage,
            "status": "processing",
        }
        pi["client_secret"] = f"{pi['id']}_secret_{secrets.token_hex(12)}"
        charge = {
            "id": new_id("ch_test_"),
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": pi["amount"],
            "amount_refunded": 0,
            "balance_transaction": new_id("txn_test_"),
            "billing_details": {"address": None, "email": email, "name": None, "phone": None},
            "captured": True,
            "created": now,
            "currency": pi["currency"],
            "customer": session["customer"],
            "description": pi["description"],
            "disputed": False,
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": dict(pi["metadata"]),
            "outcome": None,
            "paid": False,
            "payment_intent": pi["id"],
            "payment_method": pi["payment_method"],
            "payment_method_details": _card_details(pm) if pm else {
                "type": "sepa_debit", "sepa_debit": {"country": "DE", "last4": "3000"}},
            "receipt_email": pi["receipt_email"],
            "refunded": False,
            "status": "pending",
        }
        pi["latest_charge"] = charge["id"]
        self._payment_intents[pi["id"]] = pi
        self._charges[charge["id"]] = charge
        if pm is not None:
            self._after_use_locked(call, pm, pi, succeeded=True)
        session.update(
            status="complete",
            payment_status="unpaid",
            payment_intent=pi["id"],
            url=None,
            customer_details={"address": None, "email": email, "name": (customer or {}).get("name"),
                              "phone": None, "tax_exempt": "none", "tax_ids": []},
        )
        if not async_payment:
            self._mark_paid(pi, charge, session)
        self._emit(call, "checkout.session.completed", session)
        if async_payment and settle:
            self._settle_locked(call, session_id, True)

    def _mark_paid(self, pi: dict, charge: dict, session: dict) -> None:
        pi.update(status="succeeded", amount_received=pi["amount"])
        charge.update(status="succeeded", paid=True,
                      outcome={"network_status": "approved_by_network", "reason": None,
                               "risk_level": "normal", "seller_message": "Payment complete.",
                               "type": "authorized"})
        session["payment_status"] = "paid"

    def _settle_locked(self, call: _Call, session_id: str, succeeded: bool) -> None:
        session = self._session_or_404(session_id)
        pi = self._payment_intents.get(session["payment_intent"] or "")
        if pi is None or pi["status"] != "processing":
            raise StripeError(400, f"Checkout Session {session_id} has no payment waiting to settle.",
                              param="session")
        charge = self._charges[pi["latest_charge"]]
        if succeeded:
            self._mark_paid(pi, charge, session)
            self._emit(call, "checkout.session.async_payment_succeeded", session)
        else:
            error = {"code": "payment_method_not_available", "message": "The debit was returned.",
                     "type": "card_error"}
            pi.update(status="requires_payment_method", last_payment_error=error)
            charge.update(status="failed", failure_code=error["code"], failure_message=error["message"])
            self._emit(call, "checkout.session.async_payment_failed", session)

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return self.wsgi(environ, start_response)

    def wsgi(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        adapter = self._routes.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except (NotFound, MethodNotAllowed):
            if request.path.startswith("/v1"):
                return self._json(404, StripeError(
                    404, f"Unrecognized request URL ({request.method}: {request.path}).").body())
            return self._page(404, "Not found", "<p>Nothing here.</p>")
        except HTTPException as exc:  # e.g. a redirect for a trailing slash
            return exc.get_response(request.environ)
        try:
            if endpoint.startswith("page_"):
                return getattr(self, f"_{endpoint}")(request, **args)
            return self._api(request, getattr(self, f"_{endpoint}"), args)
        except Exception:  # a stand-in bug: answer like Stripe would, keep the traceback in the log
            logger.exception("Stripe stand-in failed on %s %s", request.method, request.path)
            return self._json(500, StripeError(500, "The Stripe stand-in hit an internal error; see the log.",
                                               type="api_error").body())

    # ------------------------------------------------------------------ API

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        return json_response(status, body, {"Stripe-Version": self.api_version, **(headers or {})}, indent=2)

    def _authenticate(self, request: Request) -> StripeError | None:
        if self.api_key is None:
            return None
        header = request.headers.get("Authorization", "")
        given: str | None = None
        if header.startswith("Bearer "):
            given = header[len("Bearer "):].strip()
        elif header.startswith("Basic "):
            try:
                given = base64.b64decode(header[len("Basic "):]).decode("utf-8").split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                given = ""
        if not given:
            return StripeError(401, "You did not provide an API key. You need to provide your API key in the "
                                    "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                                    "YOUR_SECRET_KEY').")
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            return StripeError(401, f"Invalid API Key provided: {given[:8]}****{given[-4:]}",
                               code="api_key_invalid")
        return None

    def _api(self, request: Request, handler: Callable, args: dict) -> Response:
        request_id = new_id("req_test_", 14)
        base_headers = {"Request-Id": request_id}
        refusal = self._authenticate(request)
        if refusal is not None:
            return self._json(refusal.status, refusal.body(), base_headers)

        failure = self._faults.take()
        if failure is not None and not failure.after:
            return self._json(failure.status, self._failure_body(failure.status), base_headers)

        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        if key:
            base_headers["Idempotency-Key"] = key
        call = _Call(request_id=request_id, idempotency_key=key)
        try:
            raw = request.get_data() if request.method == "POST" else request.query_string
            params = forms.parse(raw)
        except (forms.FormError, UnicodeDecodeError) as exc:
            error = StripeError(400, f"Invalid request body: {exc}", param=getattr(exc, "param", None))
            return self._json(400, error.body(), base_headers)

        replayed = False
        with self._lock:
            automatic = _Call()  # expiries Stripe would have done by now: no request stamped on them
            self._sweep_locked(automatic)
            call.events.extend(automatic.events)
            try:
                saved = self._idempotent_replay(key, request, params) if key else None
                if saved is not None:
                    status, body = saved["status"], saved["body"]
                    replayed = True
                else:
                    try:
                        status, body = handler(call, params, request, **args)
                    except StripeError as exc:
                        if not (key and exc.type == "card_error"):
                            raise
                        # The endpoint ran (a card was declined): Stripe saves this answer under the key too.
                        status, body = exc.status, exc.body()
                    if key and (200 <= status < 300 or status == 402):
                        self._idempotency[key] = {
                            "method": request.method, "path": request.path, "params": params,
                            "status": status, "body": copy.deepcopy(body), "at": self.now()}
            except StripeError as exc:
                status, body = exc.status, exc.body()

        headers = dict(base_headers)
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        if failure is not None:  # after=True: carried out, but the answer is lost
            response = self._json(failure.status, self._failure_body(failure.status), base_headers)
        else:
            response = self._json(status, body, headers)
        if call.events:
            if self.deliver_after_response:
                response.call_on_close(self._deliver_later(call.events))
            else:
                self._deliver_all(call.events)
        return response

    @staticmethod
    def _failure_body(status: int) -> dict:
        if status == 429:
            return StripeError(429, "Request rate limit exceeded (simulated by the stand-in).",
                               code="rate_limit").body()
        return StripeError(status, "An unexpected error occurred (simulated outage of the Stripe stand-in).",
                           type="api_error").body()

    def _idempotent_replay(self, key: str, request: Request, params: dict) -> dict | None:
        now = self.now()
        for old in [k for k, v in self._idempotency.items() if v["at"] + IDEMPOTENCY_TTL <= now]:
            del self._idempotency[old]
        saved = self._idempotency.get(key)
        if saved is None:
            return None
        if saved["method"] != request.method or saved["path"] != request.path:
            raise StripeError(
                400, "Keys for idempotent requests can only be used for the same endpoint they were first "
                     f"used for ('{saved['method']} {saved['path']}' vs '{request.method} {request.path}'). "
                     f"Try using a key other than '{key}' if you meant to execute a different request.",
                type="idempotency_error")
        if saved["params"] != params:
            raise StripeError(
                400, "Keys for idempotent requests can only be used with the same parameters they were first "
                     f"used with. Try using a key other than '{key}' if you meant to execute a different "
                     "request.",
                type="idempotency_error")
        return saved

    # expansion ------------------------------------------------------------

    def _lookup(self, object_id: str) -> dict | None:
        for store in (self._payment_intents, self._charges, self._refunds, self._disputes, self._sessions,
                      self._customers, self._payment_methods, self._setup_intents, self._products, self._prices,
                      self._subscriptions):
            if object_id in store:
                return store[object_id]
        return None

    def _render(self, obj: dict, params: dict) -> dict:
        expand = params.get("expand") or []
        if isinstance(expand, str):
            expand = [expand]
        if not isinstance(expand, list):
            raise StripeError(400, "Invalid array", param="expand")
        out = copy.deepcopy(obj)
        for path in expand:
            self._expand(out, str(path).split("."), str(path))
        return out

    def _expand(self, node: Any, parts: list[str], full: str) -> None:
        if not parts or not isinstance(node, dict):
            return
        head, rest = parts[0], parts[1:]
        if node.get("object") == "list" and head == "data":
            for item in node["data"]:
                self._expand(item, rest, full)
            return
        if head == "line_items" and node.get("object") == "checkout.session":
            node["line_items"] = self._line_items_list(node["id"])
            self._expand(node["line_items"], rest, full)
            return
        if head not in node:
            raise StripeError(400, f"This property cannot be expanded ({full}).", param="expand")
        value = node[head]
        if isinstance(value, str):
            target = self._lookup(value)
            if target is None:
                raise StripeError(400, f"This property cannot be expanded ({full}).", param="expand")
            node[head] = value = copy.deepcopy(target)
        self._expand(value, rest, full)

    def _line_items_list(self, session_id: str) -> dict:
        return {"object": "list", "data": copy.deepcopy(self._line_items[session_id]), "has_more": False,
                "url": f"/v1/checkout/sessions/{session_id}/line_items"}

    @staticmethod
    def _page_of(items: list[dict], params: dict, url: str, newest_first: bool = True) -> dict:
        limit = _int(params.get("limit", 10), "limit")
        if not 1 <= limit <= 100:
            raise StripeError(400, "Invalid limit: must be between 1 and 100", param="limit")
        if newest_first:
            items = sorted(items, key=lambda o: o["created"], reverse=True)
        after = params.get("starting_after")
        if after:
            ids = [o["id"] for o in items]
            if after not in ids:
                raise StripeError(400, f"Invalid starting_after: {after}", param="starting_after")
            items = items[ids.index(after) + 1:]
        return {"object": "list", "data": copy.deepcopy(items[:limit]), "has_more": len(items) > limit,
                "url": url}

    # handlers (run under the lock; return (status, body) or raise StripeError) ----

    def _api_create_session(self, call: _Call, params: dict, request: Request) -> tuple[int, dict]:
        for name in params:
            if name not in _SESSION_PARAMS:
                raise _unknown(name)
        mode = params.get("mode")
        if not mode:
            raise _missing("mode")
        if mode not in ("payment", "subscription"):
            raise StripeError(400, f"The stand-in only supports mode=payment and mode=subscription, not {mode!r}.",
                              param="mode")
        ui_mode = params.get("ui_mode", "hosted")
        if ui_mode != "hosted":
            raise StripeError(400, f"The stand-in only supports ui_mode=hosted, not {ui_mode!r}.",
                              param="ui_mode")
        now = self.now()
        session_id = new_id("cs_test_", 58)
        items, currency = self._parse_line_items(params.get("line_items"), now, mode)
        metadata = _metadata(params.get("metadata"), "metadata")
        if mode == "subscription":
            if params.get("payment_intent_data") not in (None, ""):
                raise StripeError(400, "You can not pass `payment_intent_data` in `subscription` mode.",
                                  param="payment_intent_data")
            if params.get("customer_creation") not in (None, ""):
                raise StripeError(400, "`customer_creation` can only be used in `payment` mode.",
                                  param="customer_creation")
        elif params.get("subscription_data") not in (None, ""):
            raise StripeError(400, "You can not pass `subscription_data` in `payment` mode.",
                              param="subscription_data")
        subscription_data = _subscription_data(params.get("subscription_data"))
        pi_data = params.get("payment_intent_data") or {}
        if not isinstance(pi_data, dict):
            raise StripeError(400, "Invalid hash", param="payment_intent_data")
        for name in pi_data:
            if name not in _PI_DATA_PARAMS:
                raise _unknown(f"payment_intent_data[{name}]")
        if pi_data.get("capture_method", "automatic") not in ("automatic", "automatic_async"):
            raise StripeError(400, "The stand-in only supports automatic capture.",
                              param="payment_intent_data[capture_method]")
        _future_usage(pi_data.get("setup_future_usage"), "payment_intent_data[setup_future_usage]")
        pi_data = {**pi_data, "metadata": _metadata(pi_data.get("metadata"), "payment_intent_data[metadata]")}

        expires_at = now + MAX_EXPIRY
        if "expires_at" in params:
            expires_at = _int(params["expires_at"], "expires_at")
            if expires_at < now + MIN_EXPIRY:
                raise StripeError(400, "The `expires_at` timestamp must be at least 30 minutes from Checkout "
                                       "Session creation.", param="expires_at")
            if expires_at > now + MAX_EXPIRY:
                raise StripeError(400, "The `expires_at` timestamp must be less than 24 hours from Checkout "
                                       "Session creation.", param="expires_at")
        email = _email(params.get("customer_email"), "customer_email")
        customer = self._customer_param(params.get("customer"))
        if customer is not None and email is not None:
            raise StripeError(400, "You may only specify one of these parameters: customer, customer_email.",
                              param="customer_email")
        reference = params.get("client_reference_id") or None
        if reference is not None and len(reference) > 200:
            raise StripeError(400, "client_reference_id must be at most 200 characters.",
                              param="client_reference_id")
        for name in ("success_url", "cancel_url"):
            if params.get(name) and not _is_url(params[name]):
                raise StripeError(400, "Not a valid URL", param=name)

        total = sum(item["amount_total"] for item in items)
        base = self.public_url or (request.url_root.rstrip("/"))
        session = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": None,
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {"enabled": False, "liability": None, "status": None},
            "billing_address_collection": params.get("billing_address_collection"),
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": reference,
            "client_secret": None,
            "consent": None,
            "consent_collection": None,
            "created": now,
            "currency": currency,
            "custom_fields": [],
            "custom_text": _custom_text(params.get("custom_text")),
            "customer": customer["id"] if customer else None,
            "customer_creation": params.get("customer_creation", "if_required") if mode == "payment" else None,
            "customer_details": None,
            "customer_email": email,
            "expires_at": expires_at,
            "invoice": None,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": metadata,
            "mode": mode,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required" if mode == "payment" else "always",
            "payment_method_options": {},
            "payment_method_types": params.get("payment_method_types") or ["card"],
            "payment_status": "unpaid",
            "phone_number_collection": {"enabled": False},
            "recovered_from": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "shipping_options": [],
            "status": "open",
            "submit_type": params.get("submit_type"),
            "subscription": None,
            "success_url": params.get("success_url"),
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"{base}/checkout/{session_id}",
        }
        self._sessions[session_id] = session
        self._line_items[session_id] = items
        self._pi_data[session_id] = pi_data
        if mode == "subscription":
            self._subscription_data[session_id] = subscription_data
        return 200, self._render(session, params)

    def _parse_line_items(self, raw: Any, now: int, mode: str = "payment") -> tuple[list[dict], str]:
        if not raw:
            raise _missing("line_items")
        items: list[dict] = []
        currencies: set[str] = set()
        for at, entry in _hash_entries(raw, "line_items", _LINE_ITEM_PARAMS):
            if "price" in entry:
                price, name = self._line_item_price(entry, at, mode)
            else:
                price, name = self._line_item_price_data(entry, at, mode, now)
            if "quantity" not in entry:
                raise _missing(f"{at}[quantity]")
            quantity = _int(entry["quantity"], f"{at}[quantity]")
            if quantity < 1:
                raise StripeError(400, "This value must be greater than or equal to 1.", param=f"{at}[quantity]")
            currency = price["currency"]
            currencies.add(currency)
            amount = price["unit_amount"] * quantity
            items.append({
                "id": new_id("li_test_"),
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": amount,
                "amount_tax": 0,
                "amount_total": amount,
                "currency": currency,
                "description": name,
                "price": price,
                "quantity": quantity,
            })
        if len(currencies) > 1:
            raise StripeError(400, "All line items must use the same currency.", param="line_items")
        if mode == "subscription":
            recurring = [item for item in items if item["price"]["type"] == "recurring"]
            if not recurring:
                raise StripeError(400, "You must provide at least one recurring price in `subscription` mode when "
                                       "using prices.", param="line_items")
            if len(recurring) > 1:
                raise StripeError(400, "The stand-in supports one recurring line item per subscription session "
                                       "(one-time items may be added beside it).", param="line_items")
        return items, currencies.pop()

    def _line_item_price(self, entry: dict, at: str, mode: str) -> tuple[dict, str]:
        """A line item's `price`: a Price made with POST /v1/prices, as it is now."""
        if "price_data" in entry:
            raise StripeError(400, "You may only specify one of these parameters: price, price_data.", param=at)
        price_id = str(entry["price"])
        price = self._prices.get(price_id)
        if price is None:
            raise StripeError(400, f"No such price: '{price_id}'", param=f"{at}[price]", code="resource_missing")
        if not price["active"]:
            raise StripeError(400, "The price specified is inactive. This field only accepts active prices.",
                              param=f"{at}[price]")
        if price["type"] == "recurring" and mode == "payment":
            raise StripeError(400, "You specified `payment` mode but passed a recurring price. Either switch to "
                                   "`subscription` mode or use only one-time prices.", param=f"{at}[price]")
        return copy.deepcopy(price), self._products[price["product"]]["name"]

    def _line_item_price_data(self, entry: dict, at: str, mode: str, now: int) -> tuple[dict, str]:
        """A line item's `price_data`: an inline price, made for this session only (active false)."""
        price_data = entry.get("price_data")
        if not isinstance(price_data, dict):
            raise _missing(f"{at}[price_data]")
        for name in price_data:
            if name not in _PRICE_DATA_PARAMS:
                raise _unknown(f"{at}[price_data][{name}]")
        recurring = None
        if price_data.get("recurring"):
            if mode != "subscription":
                raise StripeError(400, "Recurring prices need mode=subscription.",
                                  param=f"{at}[price_data][recurring]")
            recurring = _recurring(price_data["recurring"], f"{at}[price_data][recurring]",
                                   frozenset(("interval", "interval_count")))
        currency = _currency(price_data, f"{at}[price_data]")
        unit_amount = _unit_amount(price_data, f"{at}[price_data]")
        product_data = price_data.get("product_data")
        if product_data is not None:
            _known_hash(product_data, f"{at}[price_data][product_data]", _PRODUCT_DATA_PARAMS)
            name = product_data.get("name")
            if not name:
                raise _missing(f"{at}[price_data][product_data][name]")
            product = new_id("prod_test_", 14)
        elif price_data.get("product"):
            name = product = str(price_data["product"])
            if product in self._products:
                name = self._products[product]["name"]
        else:
            raise _missing(f"{at}[price_data][product_data]")
        return {
            "id": new_id("price_test_"),
            "object": "price",
            "active": False,
            "billing_scheme": "per_unit",
            "created": now,
            "currency": currency,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": product,
            "recurring": recurring,
            "tax_behavior": price_data.get("tax_behavior", "unspecified"),
            "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }, name

    def _api_list_sessions(self, call: _Call, params: dict, request: Request) -> tuple[int, dict]:
        items = list(self._sessions.values())
        if params.get("payment_intent"):
            items = [s for s in items if s["payment_intent"] == params["payment_intent"]]
        if params.get("status"):
            items = [s for s in items if s["status"] == params["status"]]
        return 200, self._render(self._page_of(items, params, "/v1/checkout/sessions"),
                                 {"expand": params.get("expand")})

    def _api_get_session(self, call: _Call, params: dict, request: Request, session_id: str):
        return 200, self._render(self._session_or_404(session_id), params)

    def _api_get_line_items(self, call: _Call, params: dict, request: Request, session_id: str):
        self._session_or_404(session_id)
        return 200, self._page_of(self._line_items[session_id], params,
                                  f"/v1/checkout/sessions/{session_id}/line_items", newest_first=False)

    def _api_expire_session(self, call: _Call, params: dict, request: Request, session_id: str):
        session = self._session_or_404(session_id)
        self._expire_locked(call, session)
        return 200, self._render(session, params)

    def _api_create_refund(self, call: _Call, params: dict, request: Request) -> tuple[int, dict]:
        for name in params:
            if name not in _REFUND_PARAMS:
                raise _unknown(name)
        if params.get("charge"):
            charge = self._charges.get(params["charge"])
            if charge is None:
                raise _no_such("charge", params["charge"], "charge")
            pi = self._payment_intents[charge["payment_intent"]]
        elif params.get("payment_intent"):
            pi = self._payment_intents.get(params["payment_intent"])
            if pi is None:
                raise _no_such("payment_intent", params["payment_intent"], "payment_intent")
            charge = self._charges.get(pi.get("latest_charge") or "")
        else:
            raise StripeError(400, "One of the following params should be provided for this request: "
                                   "payment_intent or charge.", param="payment_intent", code="parameter_missing")
        if charge is None or charge["status"] != "succeeded":
            raise StripeError(400, f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                              param="payment_intent")
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeError(400, f"Charge {charge['id']} has already been refunded.",
                              code="charge_already_refunded")
        amount = remaining if params.get("amount") in (None, "") else _int(params["amount"], "amount")
        if amount <= 0:
            raise StripeError(400, "This value must be greater than or equal to 1.", param="amount")
        if amount > remaining:
            raise StripeError(
                400, f"Refund amount ({_money(amount, charge['currency'])}) is greater than unrefunded amount "
                     f"on charge ({_money(remaining, charge['currency'])})",
                param="amount", code="amount_too_large")
        reason = params.get("reason") or None
        if reason is not None and reason not in _REFUND_REASONS:
            raise StripeError(400, f"Invalid reason: must be one of {', '.join(sorted(_REFUND_REASONS))}",
                              param="reason")
        refund = {
            "id": new_id("re_test_"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": new_id("txn_test_"),
            "charge": charge["id"],
            "created": self.now(),
            "currency": charge["currency"],
            "destination_details": {"type": "card", "card": {"type": "refund", "reference_status": "pending"}},
            "metadata": _metadata(params.get("metadata"), "metadata"),
            "payment_intent": pi["id"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        self._refunds[refund["id"]] = refund
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self._emit(call, "charge.refunded", charge, previous_attributes=previous)
        return 200, self._render(refund, params)

    def _api_list_refunds(self, call: _Call, params: dict, request: Request) -> tuple[int, dict]:
        items = list(self._refunds.values())
        for name in ("payment_intent", "charge"):
            if params.get(name):
                items = [r for r in items if r[name] == params[name]]
        return 200, self._page_of(items, params, "/v1/refunds")

    def _api_get_refund(self, call: _Call, params: dict, request: Request, refund_id: str):
        if refund_id not in self._refunds:
            raise _no_such("refund", refund_id)
        return 200, self._render(self._refunds[refund_id], params)

    # ------------------------------------------------- PaymentIntents (direct)

    def _pi_or_404(self, pi_id: str) -> dict:
        if pi_id not in self._payment_intents:
            raise _no_such("payment_intent", pi_id, "intent")
        return self._payment_intents[pi_id]

    def _api_create_payment_intent(self, call: _Call, params: dict, request: Request) -> tuple[int, dict]:
        for name in params:
            if name not in _PI_PARAMS:
                raise _unknown(name)
        for name in ("amount", "currency"):
            if params.get(name) in (None, ""):
                raise _missing(name)
        amount = _int(params["amount"], "amount")
        if amount < 1:
            raise StripeError(400, "This value must be greater than or equal to 1.", param="amount")
        currency = str(params["currency"]).lower()
        if len(currency) != 3 or not currency.isalpha():
            raise StripeError(400, f"Invalid currency: {currency}.", param="currency")
        capture = params.get("capture_method") or "automatic_async"
        if capture not in ("automatic", "automatic_async", "manual"):
            raise StripeError(400, f"Invalid capture_method: {capture}", param="capture_method")
        confirm = _flag(params.get("confirm"), "confirm")
        if _off_session(params.get("off_session")) and not confirm:
            raise StripeError(400, "off_session can only be used when confirm is true.", param="off_session")
        future_usage = _future_usage(params.get("setup_future_usage"), "setup_future_usage")
        metadata = _metadata(params.get("metadata"), "metadata")
        customer_id, pm = self._customer_and_method(params)
        pi = {
            "id": new_id("pi_test_"), "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_received": 0, "application": None, "canceled_at": None, "cancellation_reason": None,
            "capture_method": capture, "client_secret": None, "confirmation_method": "automatic",
            "created": self.now(), "currency": currency, "customer": customer_id,
            "description": params.get("description") or None, "last_payment_error": None, "latest_charge": None,
            "livemode": False, "metadata": metadata, "next_action": None,
            "payment_method": pm["id"] if pm else None, "payment_method_types": ["card"],
            "receipt_email": params.get("receipt_email") or None, "setup_future_usage": future_usage,
            "status": "requires_confirmation" if pm else "requires_payment_method",
        }
        pi["client_secret"] = f"{pi['id']}_secret_{secrets.token_hex(12)}"
        self._payment_intents[pi["id"]] = pi
        self._emit(call, "payment_intent.created", pi)
        if confirm:
            self._confirm_locked(call, pi, None)
        return 200, self._render(pi, params)

    def _confirm_locked(self, call: _Call, pi: dict, payment_method: str | None,
                        future_usage: str | None = None) -> None:
        if pi["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise StripeError(400, f"This PaymentIntent's status is {pi['status']}; it cannot be confirmed.",
                              code="payment_intent_unexpected_state")
        if payment_method:
            pi["payment_method"] = self._usable_pm_locked(payment_method, pi["customer"])["id"]
        if future_usage:
            pi["setup_future_usage"] = future_usage
        if not pi["payment_method"]:
            raise StripeError(400, "You cannot confirm this PaymentIntent because it's missing a payment method.",
                              param="payment_method", code="payment_intent_unexpected_state")
        pm = self._payment_methods[pi["payment_method"]]
        self._check_usable_locked(pm, pi["customer"])  # it may have been detached since it was set
        charge = {
            "id": new_id("ch_test_"), "object": "charge", "amount": pi["amount"], "amount_captured": 0,
            "amount_refunded": 0, "balance_transaction": None,
            "billing_details": {"address": None, "email": pi["receipt_email"], "name": None, "phone": None},
            "captured": False, "created": self.now(), "currency": pi["currency"], "customer": pi["customer"],
            "description": pi["description"], "disputed": False, "failure_code": None, "failure_message": None,
            "livemode": False, "metadata": dict(pi["metadata"]), "outcome": None, "paid": False,
            "payment_intent": pi["id"], "payment_method": pm["id"], "payment_method_details": _card_details(pm),
            "receipt_email": pi["receipt_email"], "refunded": False, "status": "pending",
        }
        self._charges[charge["id"]] = charge
        pi["latest_charge"] = charge["id"]
        if self._pm_cards[pm["id"]].refused_at_charge:
            self._after_use_locked(call, pm, pi, succeeded=False)
            error = {"charge": charge["id"], "code": "card_declined", "decline_code": "generic_decline",
                     "message": _DECLINE_MESSAGE, "payment_method": copy.deepcopy(pm), "type": "card_error"}
            charge.update(status="failed", failure_code="card_declined", failure_message=_DECLINE_MESSAGE)
            # Like Stripe: the intent waits for another payment method; the refused one is in the error.
            pi.update(status="requires_payment_method", last_payment_error=error, payment_method=None)
            self._emit(call, "payment_intent.payment_failed", pi)
            raise StripeError(402, _DECLINE_MESSAGE, type="card_error", code="card_declined", extra={
                "charge": charge["id"], "decline_code": "generic_decline", "payment_intent": copy.deepcopy(pi),
                "payment_method": copy.deepcopy(pm)})
        self._after_use_locked(call, pm, pi, succeeded=True)
        charge.update(paid=True, status="succeeded", outcome={
            "network_status": "approved_by_network", "reason": None, "risk_level": "normal",
            "seller_message": "Payment complete.", "type": "authorized"})
        pi["last_payment_error"] = None
        if pi["capture_method"] == "manual":
            pi.update(status="requires_capture", amount_capturable=pi["amount"])
            self._emit(call, "payment_intent.amount_capturable_updated", pi)
        else:
            charge.update(captured=True, amount_captured=pi["amount"], balance_transaction=new_id("txn_test_"))
            pi.update(status="succeeded", amount_received=pi["amount"])
            self._emit(call, "payment_intent.succeeded", pi)

    def _api_confirm_payment_intent(self, call: _Call, params: dict, request: Request, pi_id: str):
        for name in params:
            if name not in _PI_CONFIRM_PARAMS:
                raise _unknown(name)
        _off_session(params.get("off_session"))
        future_usage = _future_usage(params.get("setup_future_usage"), "setup_future_usage")
        pi = self._pi_or_404(pi_id)
        self._confirm_locked(call, pi, params.get("payment_method") or None, future_usage)
        return 200, self._render(pi, params)

    def _api_capture_payment_intent(self, call: _Call, params: dict, request: Request, pi_id: str):
        for name in params:
            if name not in ("amount_to_capture", "metadata", "statement_descriptor", "expand"):
                raise _unknown(name)
        pi = self._pi_or_404(pi_id)
        if pi["status"] != "requires_capture":
            raise StripeError(400, f"This PaymentIntent could not be captured because it has a status of "
                                   f"{pi['status']}. Only a PaymentIntent with one of the following statuses may be "
                                   f"captured: requires_capture.", code="payment_intent_unexpected_state")
        amount = pi["amount_capturable"] if params.get("amount_to_capture") in (None, "") else _int(
            params["amount_to_capture"], "amount_to_capture")
        if amount < 1:
            raise StripeError(400, "This value must be greater than or equal to 1.", param="amount_to_capture")
        if amount > pi["amount_capturable"]:
            raise StripeError(400, f"The amount to capture ({_money(amount, pi['currency'])}) is greater than the "
                                   f"amount capturable ({_money(pi['amount_capturable'], pi['currency'])}).",
                              param="amount_to_capture", code="amount_too_large")
        charge = self._charges[pi["latest_charge"]]
        # Like Stripe: the part of the authorisation not captured is released, shown as refunded.
        charge.update(captured=True, amount_captured=amount, amount_refunded=charge["amount"] - amount,
                      balance_transaction=new_id("txn_test_"))
        pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
        if params.get("metadata"):
            pi["metadata"].update(_metadata(params["metadata"], "metadata"))
        self._emit(call, "payment_intent.succeeded", pi)
        return 200, self._render(pi, params)

    def _api_cancel_payment_intent(self, call: _Call, params: dict, request: Request, pi_id: str):
        for name in params:
            if name not in ("cancellation_reason", "expand"):
                raise _unknown(name)
        pi = self._pi_or_404(pi_id)
        reason = params.get("cancellation_reason") or None
        if reason is not None and reason not in _PI_CANCEL_REASONS:
            raise StripeError(400, f"Invalid cancellation_reason: must be one of {', '.join(sorted(_PI_CANCEL_REASONS))}",
                              param="cancellation_reason")
        if pi["status"] in ("succeeded", "canceled"):
            raise StripeError(400, f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
                              code="payment_intent_unexpected_state")
        if pi["status"] == "requires_capture":
            charge = self._charges[pi["latest_charge"]]
            charge.update(amount_refunded=charge["amount"], refunded=True)
        pi.update(status="canceled", canceled_at=self.now(), cancellation_reason=reason, amount_capturable=0)
        self._emit(call, "payment_intent.canceled", pi)
        return 200, self._render(pi, params)

    def _api_get_payment_intent(self, call: _Call, params: dict, request: Request, pi_id: str):
        if pi_id not in self._payment_intents:
            raise _no_such("payment_intent", pi_id, "intent")
        return 200, self._render(self._payment_intents[pi_id], params)

    def _api_get_charge(self, call: _Call, params: dict, request: Request, charge_id: str):
        if charge_id not in self._charges:
            raise _no_such("charge", charge_id)
        return 200, self._render(self._charges[charge_id], params)

    def _api_get_event(self, call: _Call, params: dict, request: Request, event_id: str):
        if event_id not in self._events:
            raise _no_such("event", event_id)
        return 200, copy.deepcopy(self._events[event_id])

    # ------------------------------------- customers, payment methods, setup intents

    def _customer_param(self, value: Any, param: str = "customer") -> dict | None:
        """The customer a request parameter names; a missing one is a 400 resource_missing, as at Stripe."""
        if value in (None, ""):
            return None
        customer = self._customers.get(str(value))
        if customer is None:
            raise StripeError(400, f"No such customer: '{value}'", param=param, code="resource_missing")
        return customer

    def _new_customer_locked(self, call: _Call, *, email: str | None, name: str | None = None,
                             description: str | None = None, phone: str | None = None,
                             metadata: dict | None = None, preferred_locales: list | None = None) -> dict:
        customer = {
            "id": new_id("cus_test_", 14), "object": "customer", "address": None, "balance": 0,
            "created": self.now(), "currency": None, "default_source": None, "delinquent": False,
            "description": description, "email": email, "invoice_prefix": secrets.token_hex(4).upper(),
            "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                 "rendering_options": None},
            "livemode": False, "metadata": metadata or {}, "name": name, "next_invoice_sequence": 1,
            "phone": phone, "preferred_locales": preferred_locales or [], "shipping": None, "tax_exempt": "none",
            "test_clock": None,
        }
        self._customers[customer["id"]] = customer
        self._emit(call, "customer.created", customer)
        return customer

    def _materialise_locked(self, token: str, *, email: str | None = None) -> dict:
        """A new pm_ for one of Stripe's test tokens, as Stripe makes one each time a token is used."""
        card = _TEST_CARDS[token]
        now = self.now()
        month = datetime.fromtimestamp(now, timezone.utc)
        pm = {
            "id": new_id("pm_test_"), "object": "payment_method", "allow_redisplay": "unspecified",
            "billing_details": {
                "address": {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None,
                            "state": None},
                "email": email, "name": None, "phone": None},
            "card": {
                "brand": card.brand,
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": None},
                "country": card.country, "display_brand": card.brand, "exp_month": month.month,
                "exp_year": month.year + 1, "fingerprint": card.fingerprint, "funding": card.funding,
                "generated_from": None, "last4": card.last4,
                "networks": {"available": [card.brand], "preferred": None},
                "three_d_secure_usage": {"supported": True}, "wallet": None},
            "created": now, "customer": None, "livemode": False, "metadata": {}, "type": "card",
        }
        self._payment_methods[pm["id"]] = pm
        self._pm_cards[pm["id"]] = card
        return pm

    def _pm_param(self, value: str, param: str = "payment_method", status: int = 400) -> dict:
        """The payment method `value` names: a test token (a new pm_ each time) or a pm_ made earlier."""
        if value in _TEST_CARDS:
            return self._materialise_locked(value)
        pm = self._payment_methods.get(value)
        if pm is None:
            raise StripeError(status, f"No such PaymentMethod: '{value}'", param=param, code="resource_missing")
        return pm

    def _check_usable_locked(self, pm: dict, customer_id: str | None) -> None:
        """Refuse a payment method Stripe would not let this customer (or no customer) use."""
        if pm["customer"] is not None and pm["customer"] != customer_id:
            if customer_id is None:
                raise StripeError(400, f"The PaymentMethod {pm['id']} is attached to a Customer; pass that "
                                       "Customer's ID as `customer` to use it.", param="payment_method")
            raise _not_the_customers(pm["id"])
        if pm["customer"] is None and pm["id"] in self._pm_spent:
            raise StripeError(400, _SPENT_MESSAGE, param="payment_method")

    def _usable_pm_locked(self, value: str, customer_id: str | None) -> dict:
        pm = self._pm_param(value)
        self._check_usable_locked(pm, customer_id)
        return pm

    def _customer_and_method(self, params: dict) -> tuple[str | None, dict | None]:
        """An intent's `customer` and `payment_method` parameters, each checked as Stripe checks them."""
        customer = self._customer_param(params.get("customer"))
        customer_id = customer["id"] if customer else None
        pm = self._usable_pm_locked(params["payment_method"], customer_id) if params.get("payment_method") else None
        return customer_id, pm

    def _check_attachable_locked(self, pm: dict) -> None:
        """Refuse what Stripe refuses to save: an attached, spent or (by its issuer) declined card."""
        if pm["customer"] is not None:
            raise StripeError(400, "The payment method you provided has already been attached to a customer.",
                              param="payment_method")
        if pm["id"] in self._pm_spent:
            raise StripeError(400, "This PaymentMethod was previously used without being attached to a Customer "
                                   "or was detached from a Customer, and may not be used again.",
                              param="payment_method")
        if self._pm_cards[pm["id"]].refused_at_setup:
            raise StripeError(402, _DECLINE_MESSAGE, type="card_error", code="card_declined", extra={
                "decline_code": "generic_decline", "payment_method": copy.deepcopy(pm)})

    def _attach_locked(self, call: _Call, pm: dict, customer_id: str) -> None:
        pm["customer"] = customer_id
        self._emit(call, "payment_method.attached", pm)

    def _after_use_locked(self, call: _Call, pm: dict, pi: dict, *, succeeded: bool) -> None:
        """After a charge: saved to the intent's customer if asked (setup_future_usage), else spent if unsaved."""
        if pm["customer"] is not None:
            return
        if succeeded and pi["customer"] and pi["setup_future_usage"]:
            self._attach_locked(call, pm, pi["customer"])
        else:
            self._pm_spent.add(pm["id"])

    def _api_create_customer(self, call: _Call, params: dict, request: Request) -> tuple[int, dict]:
        for name in params:
            if name not in _CUSTOMER_PARAMS:
                raise _unknown(name)
        if params.get("source"):
            raise StripeError(400, "The stand-in takes no sources: pass payment_method (e.g. pm_card_visa).",
                              param="source")
        email = _email(params.get("email"), "email")
        name = params.get("name") or None
        if name is not None and len(name) > 256:
            raise StripeError(400, "Invalid string: name must be at most 256 characters.", param="name")
        locales = params.get("preferred_locales") or []
        if not isinstance(locales, list):
            raise StripeError(400, "Invalid array", param="preferred_locales")
        metadata = _metadata(params.get("metadata"), "metadata")
        pm = None
        if params.get("payment_method"):
            pm = self._pm_param(params["payment_method"])
            self._check_attachable_locked(pm)
        customer = self._new_customer_locked(
            call, email=email, name=name, description=params.get("description") or None,
            phone=params.get("phone") or None, metadata=metadata, preferred_locales=locales)
        if pm is not None:
            self._attach_locked(call, pm, customer["id"])
        return 200, self._render(customer, params)

    def _api_get_customer(self, call: _Call, params: dict, request: Request, customer_id: str):
        if customer_id not in self._customers:
            raise _no_such("customer", customer_id)
        return 200, self._render(self._customers[customer_id], params)

    def _pm_list(self, params: dict, customer_id: str | None, url: str, allowed: frozenset[str]) -> dict:
        for name in params:
            if name not in allowed:
                raise _unknown(name)
        if params.get("ending_before"):
            raise StripeError(400, "The stand-in pages forward only (starting_after).", param="ending_before")
        # Without a customer Stripe lists the account's own payment methods: there are none here.
        items = [pm for pm in self._payment_methods.values() if customer_id and pm["customer"] == customer_id]
        for name in ("type", "allow_redisplay"):
            if params.get(name):
                items = [pm for pm in items if pm[name] == params[name]]
        return self._render(self._page_of(items, params, url), {"expand": params.get("expand")})

    def _api_list_customer_payment_methods(self, call: _Call, params: dict, request: Request, customer_id: str):
        if customer_id not in self._customers:
            raise _no_such("customer", customer_id, "customer")
        return 200, self._pm_list(params, customer_id, f"/v1/customers/{customer_id}/payment_methods",
                                  _PM_LIST_PARAMS - {"customer"})

    def _api_list_payment_methods(self, call: _Call, params: dict, request: Request) -> tuple[int, dict]:
        customer = self._customer_param(params.get("customer"))
        return 200, self._pm_list(params, customer["id"] if customer else None, "/v1/payment_methods",
                                  _PM_LIST_PARAMS)

    def _api_get_customer_payment_method(self, call: _Call, params: dict, request: Request, customer_id: str,
                                         pm_id: str):
        if customer_id not in self._customers:
            raise _no_such("customer", customer_id, "customer")
        pm = self._payment_methods.get(pm_id)
        if pm is None or pm["customer"] != customer_id:
            raise _no_such("PaymentMethod", pm_id, "payment_method")
        return 200, self._render(pm, params)

    def _api_get_payment_method(self, call: _Call, params: dict, request: Request, pm_id: str):
        return 200, self._render(self._pm_param(pm_id, status=404), params)

    def _api_attach_payment_method(self, call: _Call, params: dict, request: Request, pm_id: str):
        for name in params:
            if name not in ("customer", "customer_account", "expand"):
                raise _unknown(name)
        if params.get("customer_account"):
            raise StripeError(400, "The stand-in does not support customer_account.", param="customer_account")
        if not params.get("customer"):
            raise _missing("customer")
        customer = self._customer_param(params["customer"])
        pm = self._pm_param(pm_id, status=404)
        self._check_attachable_locked(pm)
        self._attach_locked(call, pm, customer["id"])
        return 200, self._render(pm, params)

    def _api_detach_payment_method(self, call: _Call, params: dict, request: Request, pm_id: str):
        for name in params:
            if name != "expand":
                raise _unknown(name)
        pm = self._pm_param(pm_id, status=404)
        if pm["customer"] is None:
            raise StripeError(400, "The payment method you provided is not attached to a customer so detachment "
                                   "is impossible.", param="payment_method")
        customer = self._customers[pm["customer"]]
        if customer["invoice_settings"]["default_payment_method"] == pm["id"]:
            customer["invoice_settings"]["default_payment_method"] = None
        previous = {"customer": pm["customer"]}
        pm["customer"] = None
        self._pm_spent.add(pm["id"])  # like Stripe: a detached payment method can never be used again
        self._emit(call, "payment_method.detached", pm, previous_attributes=previous)
        return 200, self._render(pm, params)

    def _setup_intent_or_404(self, seti_id: str) -> dict:
        if seti_id not in self._setup_intents:
            raise _no_such("setup_intent", seti_id, "intent")
        return self._setup_intents[seti_id]

    def _api_create_setup_intent(self, call: _Call, params: dict, request: Request) -> tuple[int, dict]:
        _known_and_supported(params, _SETUP_INTENT_PARAMS)
        allowed = _card_only(params)
        usage = params.get("usage") or "off_session"
        if usage not in _FUTURE_USAGES:
            raise StripeError(400, "Invalid usage: must be one of off_session or on_session", param="usage")
        confirm = _flag(params.get("confirm"), "confirm")
        metadata = _metadata(params.get("metadata"), "metadata")
        customer_id, pm = self._customer_and_method(params)
        si = {
            "id": new_id("seti_test_"), "object": "setup_intent", "allowed_payment_method_types": allowed,
            "application": None, "automatic_payment_methods": None, "cancellation_reason": None,
            "client_secret": None, "created": self.now(), "customer": customer_id,
            "description": params.get("description") or None, "excluded_payment_method_types": None,
            "flow_directions": params.get("flow_directions") or None, "last_setup_error": None,
            "latest_attempt": None, "livemode": False, "mandate": None, "metadata": metadata, "next_action": None,
            "on_behalf_of": None, "payment_method": pm["id"] if pm else None,
            "payment_method_configuration_details": None,
            "payment_method_options": {"card": {"mandate_options": None, "network": None,
                                                "request_three_d_secure": "automatic"}},
            "payment_method_types": ["card"], "single_use_mandate": None,
            "status": "requires_confirmation" if pm else "requires_payment_method", "usage": usage,
        }
        si["client_secret"] = f"{si['id']}_secret_{new_id('', 32)}"
        self._setup_intents[si["id"]] = si
        self._emit(call, "setup_intent.created", si)
        if confirm:
            self._confirm_setup_locked(call, si, None)
        return 200, self._render(si, params)

    def _confirm_setup_locked(self, call: _Call, si: dict, payment_method: str | None) -> None:
        if si["status"] not in ("requires_payment_method", "requires_confirmation"):
            state = "it has already succeeded" if si["status"] == "succeeded" else f"it has a status of {si['status']}"
            raise StripeError(400, f"You cannot confirm this SetupIntent because {state}.",
                              code="setup_intent_unexpected_state")
        if payment_method:
            pm = self._usable_pm_locked(payment_method, si["customer"])
            si.update(payment_method=pm["id"], status="requires_confirmation")
        if not si["payment_method"]:
            raise StripeError(400, "You cannot confirm this SetupIntent because it's missing a payment method. "
                                   "Update the SetupIntent with a payment method and then confirm it again.",
                              param="payment_method", code="setup_intent_unexpected_state")
        pm = self._payment_methods[si["payment_method"]]
        self._check_usable_locked(pm, si["customer"])
        if self._pm_cards[pm["id"]].refused_at_setup:
            # The issuer refused to verify the card: nothing is saved and the intent waits for another card.
            error = {"code": "card_declined", "decline_code": "generic_decline", "message": _DECLINE_MESSAGE,
                     "payment_method": copy.deepcopy(pm), "type": "card_error"}
            si.update(status="requires_payment_method", payment_method=None, last_setup_error=error)
            self._emit(call, "setup_intent.setup_failed", si)
            raise StripeError(402, _DECLINE_MESSAGE, type="card_error", code="card_declined", extra={
                "decline_code": "generic_decline", "payment_method": copy.deepcopy(pm),
                "setup_intent": copy.deepcopy(si)})
        if si["customer"] and pm["customer"] is None:
            self._attach_locked(call, pm, si["customer"])
        si.update(status="succeeded", last_setup_error=None)
        self._emit(call, "setup_intent.succeeded", si)

    def _api_confirm_setup_intent(self, call: _Call, params: dict, request: Request, seti_id: str):
        _known_and_supported(params, _SETUP_CONFIRM_PARAMS)
        _card_only(params)
        si = self._setup_intent_or_404(seti_id)
        self._confirm_setup_locked(call, si, params.get("payment_method") or None)
        return 200, self._render(si, params)

    def _api_get_setup_intent(self, call: _Call, params: dict, request: Request, seti_id: str):
        for name in params:
            if name not in ("client_secret", "expand"):
                raise _unknown(name)
        return 200, self._render(self._setup_intent_or_404(seti_id), params)

    # ------------------------------------------------- products and prices

    def _api_create_product(self, call: _Call, params: dict, request: Request) -> tuple[int, dict]:
        _known_and_modelled(params, _PRODUCT_PARAMS, _PRODUCT_UNSUPPORTED)
        product = self._new_product_locked(params, "")
        return 200, self._render(product, params)

    def _new_product_locked(self, data: dict, at: str) -> dict:
        """A Product from POST /v1/products' parameters or a price's product_data (`at` prefixes params)."""
        name = data.get("name")
        if not name:
            raise _missing(f"{at}[name]" if at else "name")
        product_id = str(data.get("id") or new_id("prod_test_", 14))
        if product_id in self._products:
            raise StripeError(400, f"Product already exists with ID '{product_id}'.",
                              param=f"{at}[id]" if at else "id", code="resource_already_exists")
        now = self.now()
        product = {
            "id": product_id, "object": "product",
            "active": _flag(data.get("active", "true"), f"{at}[active]" if at else "active"),
            "created": now, "default_price": None, "description": data.get("description") or None,
            "images": list(data.get("images") or []), "livemode": False, "marketing_features": [],
            "metadata": _metadata(data.get("metadata"), f"{at}[metadata]" if at else "metadata"),
            "name": str(name), "package_dimensions": None, "shippable": None,
            "statement_descriptor": data.get("statement_descriptor") or None, "tax_code": None,
            "tax_details": None, "type": "service", "unit_label": data.get("unit_label") or None,
            "updated": now, "url": data.get("url") or None,
        }
        self._products[product_id] = product
        return product

    def _api_get_product(self, call: _Call, params: dict, request: Request, product_id: str):
        if product_id not in self._products:
            raise _no_such("product", product_id)
        return 200, self._render(self._products[product_id], params)

    def _api_create_price(self, call: _Call, params: dict, request: Request) -> tuple[int, dict]:
        _known_and_modelled(params, _PRICE_PARAMS, _PRICE_UNSUPPORTED)
        if params.get("billing_scheme", "per_unit") != "per_unit":
            raise StripeError(400, "The stand-in only supports billing_scheme=per_unit.", param="billing_scheme")
        currency = _currency(params)
        unit_amount = _unit_amount(params)
        recurring = (_recurring(params["recurring"], "recurring", _RECURRING_PARAMS)
                     if params.get("recurring") not in (None, "") else None)
        tax_behavior = params.get("tax_behavior") or "unspecified"
        if tax_behavior not in _TAX_BEHAVIORS:
            raise StripeError(400, f"Invalid tax_behavior: must be one of {', '.join(_TAX_BEHAVIORS)}",
                              param="tax_behavior")
        metadata = _metadata(params.get("metadata"), "metadata")
        active = _flag(params.get("active", "true"), "active")
        lookup_key = params.get("lookup_key") or None
        if lookup_key is not None and len(lookup_key) > 200:
            raise StripeError(400, "Invalid string: lookup_key must be at most 200 characters.", param="lookup_key")
        transfer = _flag(params.get("transfer_lookup_key"), "transfer_lookup_key")
        holder = next((p for p in self._prices.values() if lookup_key and p["lookup_key"] == lookup_key), None)
        if holder is not None and not transfer:
            raise StripeError(400, f"A price (`{holder['id']}`) already uses that lookup key.", param="lookup_key")
        has_product, has_data = params.get("product") not in (None, ""), params.get("product_data") not in (None, "")
        if has_product and has_data:
            raise StripeError(400, "You may only specify one of these parameters: product, product_data.",
                              param="product_data")
        if has_product:
            product_id = str(params["product"])
            if product_id not in self._products:
                raise StripeError(400, f"No such product: '{product_id}'", param="product", code="resource_missing")
        elif has_data:
            data = _known_hash(params["product_data"], "product_data", _PRICE_PRODUCT_DATA_PARAMS)
            product_id = self._new_product_locked(data, "product_data")["id"]
        else:
            raise _missing("product")
        if holder is not None:  # transfer_lookup_key: the key moves to the new price
            holder["lookup_key"] = None
        price = {
            "id": new_id("price_test_"), "object": "price", "active": active, "billing_scheme": "per_unit",
            "created": self.now(), "currency": currency, "custom_unit_amount": None, "livemode": False,
            "lookup_key": lookup_key, "metadata": metadata, "nickname": params.get("nickname") or None,
            "product": product_id, "recurring": recurring, "tax_behavior": tax_behavior, "tiers_mode": None,
            "transform_quantity": None, "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount),
        }
        self._prices[price["id"]] = price
        return 200, self._render(price, params)

    def _api_get_price(self, call: _Call, params: dict, request: Request, price_id: str):
        if price_id not in self._prices:
            raise _no_such("price", price_id)
        return 200, self._render(self._prices[price_id], params)

    def _api_list_prices(self, call: _Call, params: dict, request: Request) -> tuple[int, dict]:
        _known_and_modelled(params, _PRICE_LIST_PARAMS, ("created", "ending_before"))
        items = list(self._prices.values())
        if params.get("lookup_keys") not in (None, ""):
            keys = params["lookup_keys"]
            if not isinstance(keys, list):
                raise StripeError(400, "Invalid array", param="lookup_keys")
            if len(keys) > 10:
                raise StripeError(400, "You may pass at most 10 lookup_keys.", param="lookup_keys")
            items = [p for p in items if p["lookup_key"] in keys]
        if params.get("active") not in (None, ""):
            active = _flag(params["active"], "active")
            items = [p for p in items if p["active"] == active]
        for name in ("currency", "product", "type"):
            if params.get(name):
                items = [p for p in items if p[name] == params[name]]
        recurring = params.get("recurring")
        if isinstance(recurring, dict) and recurring.get("interval"):
            items = [p for p in items if (p["recurring"] or {}).get("interval") == recurring["interval"]]
        return 200, self._render(self._page_of(items, params, "/v1/prices"), {"expand": params.get("expand")})

    # ----------------------------------------------------------- subscriptions

    def _subscription_or_404(self, sub_id: str) -> dict:
        if sub_id not in self._subscriptions:
            raise _no_such("subscription", sub_id)
        return self._subscriptions[sub_id]

    def _subscribe_locked(self, call: _Call, session: dict, payment_method: str | None) -> None:
        """The buyer pays a mode=subscription session: customer, saved card, active subscription, events."""
        saved = None
        if payment_method:
            saved = self._payment_methods.get(payment_method)
            if saved is None or not session["customer"] or saved["customer"] != session["customer"]:
                raise _not_the_customers(payment_method)
            if self._pm_cards[saved["id"]].refused_at_charge:
                # Checkout shows the decline and stays open: nothing is made.
                raise StripeError(402, _DECLINE_MESSAGE, type="card_error", code="card_declined", extra={
                    "decline_code": "generic_decline", "payment_method": copy.deepcopy(saved)})
        if not session["customer"]:
            # Checkout always makes a customer for a subscription, from the email the buyer gives.
            session["customer"] = self._new_customer_locked(
                call, email=session["customer_email"] or "customer@example.com")["id"]
        customer = self._customers[session["customer"]]
        email = session["customer_email"] or customer.get("email") or "customer@example.com"
        pm = saved or self._materialise_locked("pm_card_visa", email=email)
        if pm["customer"] is None:
            self._attach_locked(call, pm, customer["id"])
        [line] = [item for item in self._line_items[session["id"]] if item["price"]["type"] == "recurring"]
        data = self._subscription_data.get(session["id"], {})
        subscription = self._new_subscription_locked(
            customer["id"], line["price"], line["quantity"], metadata=data.get("metadata") or {},
            description=data.get("description"), payment_method=pm["id"])
        self._emit(call, "customer.subscription.created", subscription)
        session.update(
            status="complete", payment_status="paid", subscription=subscription["id"], url=None,
            customer_details={"address": None, "email": email, "name": customer.get("name"), "phone": None,
                              "tax_exempt": "none", "tax_ids": []})
        self._emit(call, "checkout.session.completed", session)

    def _new_subscription_locked(self, customer_id: str, price: dict, quantity: int, *, metadata: dict,
                                 description: str | None, payment_method: str) -> dict:
        now = self.now()
        sub_id = new_id("sub_test_")
        subscription = {
            "id": sub_id, "object": "subscription", "application": None, "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": now, "billing_cycle_anchor_config": None,
            # Flexible is the default for new subscriptions since API version 2025-09-30.clover.
            "billing_mode": {"flexible": {"proration_discounts": "included"}, "type": "flexible",
                             "updated_at": now},
            "billing_thresholds": None, "cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically", "created": now, "currency": price["currency"],
            "customer": customer_id, "customer_account": None, "days_until_due": None,
            "default_payment_method": payment_method, "default_source": None, "default_tax_rates": [],
            "description": description, "discounts": [], "ended_at": None,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "items": {"object": "list", "data": [], "has_more": False, "total_count": 1,
                      "url": f"/v1/subscription_items?subscription={sub_id}"},
            "latest_invoice": None, "livemode": False, "metadata": dict(metadata),
            "next_pending_invoice_item_invoice": None, "on_behalf_of": None, "pause_collection": None,
            "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                                 "save_default_payment_method": "off"},
            "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
            "presentment_details": None, "schedule": None, "start_date": now, "status": "active",
            "status_details": None, "test_clock": None, "transfer_data": None, "trial_end": None,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}}, "trial_start": None,
        }
        end = _period_end(now, now, price["recurring"])
        subscription["items"]["data"].append({
            "id": new_id("si_test_", 14), "object": "subscription_item", "billed_until": None,
            "billing_thresholds": None, "created": now, "current_period_end": end, "current_period_start": now,
            "current_trial": None, "discounts": [], "metadata": {}, "plan": _plan(price),
            "price": copy.deepcopy(price), "quantity": quantity, "subscription": sub_id, "tax_rates": [],
        })
        self._subscriptions[sub_id] = subscription
        return subscription

    def _api_get_subscription(self, call: _Call, params: dict, request: Request, sub_id: str):
        return 200, self._render(self._subscription_or_404(sub_id), params)

    def _api_list_subscriptions(self, call: _Call, params: dict, request: Request) -> tuple[int, dict]:
        _known_and_modelled(params, _SUBSCRIPTION_LIST_PARAMS, tuple(
            _SUBSCRIPTION_LIST_PARAMS - {"customer", "price", "status", "limit", "starting_after", "expand"}))
        status = params.get("status") or None
        if status is not None and status not in (*_SUBSCRIPTION_STATUSES, "all", "ended"):
            raise StripeError(400, f"Invalid status: {status}", param="status")
        items = list(self._subscriptions.values())
        if status is None:  # like Stripe: without a status, canceled subscriptions are left out
            items = [s for s in items if s["status"] != "canceled"]
        elif status == "ended":
            items = [s for s in items if s["status"] in ("canceled", "incomplete_expired")]
        elif status != "all":
            items = [s for s in items if s["status"] == status]
        if params.get("customer"):
            items = [s for s in items if s["customer"] == params["customer"]]
        if params.get("price"):
            items = [s for s in items if any(i["price"]["id"] == params["price"] for i in s["items"]["data"])]
        return 200, self._render(self._page_of(items, params, "/v1/subscriptions"), {"expand": params.get("expand")})

    def _api_update_subscription(self, call: _Call, params: dict, request: Request, sub_id: str):
        _known_and_modelled(params, _SUBSCRIPTION_UPDATE_PARAMS | _SUBSCRIPTION_UPDATE_UNSUPPORTED,
                            tuple(_SUBSCRIPTION_UPDATE_UNSUPPORTED))
        sub = self._subscription_or_404(sub_id)
        if sub["status"] == "canceled" and set(params) - {"metadata", "cancellation_details", "expand"}:
            raise StripeError(400, _CANCELED_UPDATE)
        proration = params.get("proration_behavior") or None
        if proration is not None and proration not in ("always_invoice", "create_prorations", "none"):
            raise StripeError(400, "Invalid proration_behavior: must be one of always_invoice, create_prorations, "
                                   "or none", param="proration_behavior")
        details = _cancellation_details(params.get("cancellation_details"))
        metadata = None
        if "metadata" in params:
            raw = params["metadata"]
            _metadata(raw, "metadata")  # validates
            metadata = {} if raw == "" else {**sub["metadata"], **raw}
            metadata = {k: v for k, v in metadata.items() if v != ""}
        new_items = self._items_update(sub, params["items"]) if params.get("items") not in (None, "") else None
        previous: dict[str, Any] = {}
        details_before = copy.deepcopy(sub["cancellation_details"])
        if "cancel_at_period_end" in params:
            at_end = _flag(params["cancel_at_period_end"], "cancel_at_period_end")
            if at_end != sub["cancel_at_period_end"]:
                previous.update(cancel_at=sub["cancel_at"], cancel_at_period_end=sub["cancel_at_period_end"],
                                canceled_at=sub["canceled_at"])
                # Like Stripe: cancel_at becomes the period end, canceled_at the time of this request.
                if at_end:
                    sub.update(cancel_at=_current_period_end(sub), cancel_at_period_end=True,
                               canceled_at=self.now())
                else:
                    sub.update(cancel_at=None, cancel_at_period_end=False, canceled_at=None)
                sub["cancellation_details"] = {"comment": None, "feedback": None,
                                               "reason": "cancellation_requested" if at_end else None}
        sub["cancellation_details"].update(details)
        if sub["cancellation_details"] != details_before:
            previous["cancellation_details"] = details_before
        if metadata is not None and metadata != sub["metadata"]:
            previous["metadata"] = sub["metadata"]
            sub["metadata"] = metadata
        if "description" in params and (params["description"] or None) != sub["description"]:
            previous["description"] = sub["description"]
            sub["description"] = params["description"] or None
        if new_items is not None and new_items != sub["items"]["data"]:
            previous["items"] = copy.deepcopy(sub["items"])
            sub["items"]["data"] = new_items
        if previous:
            self._emit(call, "customer.subscription.updated", sub, previous_attributes=previous)
        return 200, self._render(sub, params)

    def _items_update(self, sub: dict, raw: Any) -> list[dict]:
        """items[n][id] with [price] and/or [quantity]: the subscription's items after the change."""
        items = copy.deepcopy(sub["items"]["data"])
        for at, entry in _hash_entries(raw, "items", _SUBSCRIPTION_ITEM_PARAMS):
            for name in entry:
                if name not in ("id", "price", "quantity", "metadata"):
                    raise StripeError(400, f"The stand-in does not support {at}[{name}]: change an item's price "
                                           "or quantity by its id.", param=f"{at}[{name}]")
            if not entry.get("id"):
                raise StripeError(400, "The stand-in only changes existing items: pass "
                                       f"{at}[id] (adding items is not modelled).", param=f"{at}[id]")
            item = next((it for it in items if it["id"] == entry["id"]), None)
            if item is None:
                raise StripeError(400, f"No such subscription_item: '{entry['id']}'", param=f"{at}[id]",
                                  code="resource_missing")
            if entry.get("price"):
                price = self._prices.get(str(entry["price"]))
                if price is None:
                    raise StripeError(400, f"No such price: '{entry['price']}'", param=f"{at}[price]",
                                      code="resource_missing")
                if price["type"] != "recurring":
                    raise StripeError(400, "The price specified is set to `type=one_time` but this field only "
                                           "accepts prices with `type=recurring`.", param=f"{at}[price]")
                if not price["active"]:
                    raise StripeError(400, "The price specified is inactive. This field only accepts active "
                                           "prices.", param=f"{at}[price]")
                if price["currency"] != sub["currency"]:
                    raise StripeError(400, f"The price specified uses currency {price['currency']}, but this "
                                           f"subscription uses {sub['currency']}.", param=f"{at}[price]")
                item.update(price=copy.deepcopy(price), plan=_plan(price))
            if entry.get("quantity") not in (None, ""):
                quantity = _int(entry["quantity"], f"{at}[quantity]")
                if quantity < 1:
                    raise StripeError(400, "This value must be greater than or equal to 1.",
                                      param=f"{at}[quantity]")
                item["quantity"] = quantity
            if "metadata" in entry:
                item["metadata"] = _metadata(entry["metadata"], f"{at}[metadata]")
        return items

    def _api_cancel_subscription(self, call: _Call, params: dict, request: Request, sub_id: str):
        for name in params:
            if name not in _SUBSCRIPTION_CANCEL_PARAMS:
                raise _unknown(name)
        _flag(params.get("invoice_now"), "invoice_now")  # no invoices are modelled: checked, then ignored
        _flag(params.get("prorate"), "prorate")
        details = _cancellation_details(params.get("cancellation_details"))
        sub = self._subscription_or_404(sub_id)
        if sub["status"] == "canceled":
            raise StripeError(400, f"This subscription ({sub_id}) has already been canceled.")
        now = self.now()
        sub.update(status="canceled", canceled_at=now, ended_at=now)
        sub["cancellation_details"] = {"comment": None, "feedback": None, **details,
                                       "reason": "cancellation_requested"}
        self._emit(call, "customer.subscription.deleted", sub)
        return 200, self._render(sub, params)

    # Python-side billing: what Stripe does by itself when a period ends -----

    def renew(self, subscription_id: str) -> dict:
        """The renewal is paid: an active subscription starts its next period; a past_due one (whose renewal
        failed, see `fail_renewal`) is paid up and active again, its period unchanged. Delivers
        customer.subscription.updated (previous_attributes: items, or status); returns the subscription."""
        def run(call: _Call) -> dict:
            sub = self._billable_locked(subscription_id)
            if sub["status"] == "past_due":
                sub["status"] = "active"
                self._emit(call, "customer.subscription.updated", sub, previous_attributes={"status": "past_due"})
            else:
                previous = {"items": copy.deepcopy(sub["items"])}
                self._next_period_locked(sub)
                self._emit(call, "customer.subscription.updated", sub, previous_attributes=previous)
            return copy.deepcopy(sub)
        return self._run(run, sweep=False)

    def fail_renewal(self, subscription_id: str) -> dict:
        """The renewal payment is declined: as at Stripe, the next period starts anyway (its invoice stays
        unpaid) and the subscription turns past_due. Delivers customer.subscription.updated."""
        def run(call: _Call) -> dict:
            sub = self._billable_locked(subscription_id)
            if sub["status"] != "active":
                raise StripeError(400, f"Subscription {subscription_id} is {sub['status']}: only an active "
                                       "subscription renews.")
            previous = {"items": copy.deepcopy(sub["items"]), "status": "active"}
            self._next_period_locked(sub)
            sub["status"] = "past_due"
            self._emit(call, "customer.subscription.updated", sub, previous_attributes=previous)
            return copy.deepcopy(sub)
        return self._run(run, sweep=False)

    def end_period(self, subscription_id: str) -> dict:
        """A subscription set to cancel_at_period_end reaches its period end: canceled (ended_at = the period
        end), customer.subscription.deleted. Returns the subscription."""
        def run(call: _Call) -> dict:
            sub = self._subscription_or_404(subscription_id)
            if sub["status"] == "canceled":
                raise StripeError(400, f"Subscription {subscription_id} is already canceled.")
            if not sub["cancel_at_period_end"]:
                raise StripeError(400, f"Subscription {subscription_id} is not set to cancel at period end: "
                                       "call renew or fail_renewal.")
            sub.update(status="canceled", ended_at=_current_period_end(sub))
            self._emit(call, "customer.subscription.deleted", sub)
            return copy.deepcopy(sub)
        return self._run(run, sweep=False)

    def _billable_locked(self, subscription_id: str) -> dict:
        sub = self._subscription_or_404(subscription_id)
        if sub["status"] == "canceled":
            raise StripeError(400, f"Subscription {subscription_id} is canceled.")
        if sub["cancel_at_period_end"]:
            raise StripeError(400, f"Subscription {subscription_id} cancels at period end: it does not renew "
                                   "(call end_period).")
        return sub

    def _next_period_locked(self, sub: dict) -> None:
        for item in sub["items"]["data"]:
            start = item["current_period_end"]
            item.update(current_period_start=start,
                        current_period_end=_period_end(start, sub["billing_cycle_anchor"],
                                                       item["price"]["recurring"]))

    # ------------------------------------------------------- dev checkout page

    def _page(self, status: int, title: str, body: str) -> Response:
        document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · Stripe stand-in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body {{ font: 16px/1.5 system-ui, sans-serif; background: #f6f9fc; color: #1a1f36; margin: 0; }}
 main {{ max-width: 36rem; margin: 2rem auto; background: #fff; padding: 1.5rem 2rem; border-radius: 8px;
        box-shadow: 0 2px 8px rgba(0,0,0,.08); }}
 .banner {{ background: #fff4d6; border: 1px solid #f0c36d; padding: .25rem .75rem; border-radius: 4px;
           font-size: .85rem; }}
 table {{ width: 100%; border-collapse: collapse; margin: 1rem 0; }}
 th, td {{ text-align: left; padding: .35rem .25rem; border-bottom: 1px solid #e3e8ee; }}
 td.num, th.num {{ text-align: right; }}
 .actions {{ display: flex; gap: .75rem; flex-wrap: wrap; margin-top: 1rem; }}
 .actions form {{ margin: 0; }}
 button {{ font: inherit; padding: .5rem 1rem; border-radius: 6px; border: 1px solid #635bff; cursor: pointer; }}
 #pay {{ background: #635bff; color: #fff; }}
 #cancel, #pay-late {{ background: #fff; color: #635bff; }}
 .status {{ font-weight: 600; }}
</style></head>
<body><main>
<p class="banner">Local Stripe stand-in: test mode, no real money moves.</p>
{body}
</main></body></html>"""
        return Response(document, status=status, content_type="text/html; charset=utf-8")

    def _page_index(self, request: Request) -> Response:
        with self._lock:
            sessions = sorted(self._sessions.values(), key=lambda s: s["created"], reverse=True)
            rows = "".join(
                f'<tr><td><a href="{html.escape(request.script_root)}/checkout/{html.escape(s["id"])}">'
                f'{html.escape(s["id"][:24])}…</a></td><td>{_money(s["amount_total"], s["currency"])}</td>'
                f'<td class="status">{html.escape(s["status"])}</td>'
                f'<td>{html.escape(s["payment_status"])}</td></tr>'
                for s in sessions)
        body = ("<h1>Checkout Sessions</h1>"
                + (f"<table><tr><th>Session</th><th>Total</th><th>Status</th><th>Payment</th></tr>{rows}</table>"
                   if rows else "<p>No sessions yet.</p>"))
        return self._page(200, "Checkout Sessions", body)

    def _page_checkout(self, request: Request, session_id: str) -> Response:
        def show(call: _Call) -> Response:
            session = self._sessions.get(session_id)
            if session is None:
                return self._page(404, "Unknown session",
                                  f"<h1>Unknown session</h1><p>{html.escape(session_id)}</p>")
            return self._page(200, "Checkout", self._checkout_body(request, session))
        return self._run(show)

    def _checkout_body(self, request: Request, session: dict) -> str:
        currency = session["currency"]
        rows = "".join(
            f"<tr><td>{html.escape(item['description'])}</td><td class='num'>{item['quantity']}</td>"
            f"<td class='num'>{_money(item['price']['unit_amount'], currency)}{_per(item['price'])}</td>"
            f"<td class='num'>{_money(item['amount_total'], currency)}{_per(item['price'])}</td></tr>"
            for item in self._line_items[session["id"]])
        action = f"{html.escape(request.script_root)}/checkout/{html.escape(session['id'])}"
        total = _money(session["amount_total"], currency)
        if session["status"] == "open" and session["mode"] == "subscription":
            actions = f"""<div class="actions">
<form method="post" action="{action}/pay"><button id="pay" type="submit">Subscribe: pay {total}</button></form>
<form method="post" action="{action}/cancel"><button id="cancel" type="submit">Cancel</button></form>
</div>"""
        elif session["status"] == "open":
            actions = f"""<div class="actions">
<form method="post" action="{action}/pay"><button id="pay" type="submit">Pay {total}</button></form>
<form method="post" action="{action}/cancel"><button id="cancel" type="submit">Cancel</button></form>
<form method="post" action="{action}/pay-late"><button id="pay-late" type="submit">Pay after expiry</button></form>
</div>"""
        elif session["status"] == "expired" and not session["payment_intent"] and session["mode"] == "payment":
            actions = f"""<p>This session has <strong>expired</strong>. Money can still arrive late:</p>
<div class="actions">
<form method="post" action="{action}/pay-late"><button id="pay-late" type="submit">Pay after expiry</button></form>
</div>"""
        else:
            actions = f"<p>This session is <strong>{html.escape(session['status'])}</strong>; nothing to pay.</p>"
        if session["status"] == "open":
            actions += self._saved_cards_html(session, action, total)
        customer = self._customers.get(session["customer"] or "") or {}
        email = session["customer_email"] or customer.get("email") or "(customer enters it at checkout)"
        status = html.escape(session["status"])
        expires = datetime.fromtimestamp(session["expires_at"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        # Shown by Stripe beside the pay button: Bookwell says there when the order's hold ends.
        submit = (session.get("custom_text") or {}).get("submit") or {}
        submit_message = (f'<p id="submit-message" class="note">{html.escape(submit["message"])}</p>\n'
                          if submit.get("message") else "")
        return f"""<h1>Checkout</h1>
<p>Session <code id="session-id">{html.escape(session['id'])}</code></p>
<p>Status: <span id="status" class="status" data-status="{status}">{status}</span>
 · payment: <span id="payment-status">{html.escape(session['payment_status'])}</span></p>
<p>Customer: {html.escape(email)}</p>
<table id="line-items">
<tr><th>Item</th><th class="num">Qty</th><th class="num">Unit price</th><th class="num">Amount</th></tr>
{rows}
<tr><th colspan="3">Total</th><td class="num" id="total">{total}</td></tr>
</table>
{submit_message}<p>This checkout page closes at <span id="expires-at">{expires}</span>.</p>
{actions}"""

    def _saved_cards_html(self, session: dict, action: str, total: str) -> str:
        """The session customer's saved cards, each with its own pay button (Checkout offers them)."""
        cards = [pm for pm in self._payment_methods.values()
                 if session["customer"] and pm["customer"] == session["customer"] and pm["type"] == "card"]
        if not cards:
            return ""
        items = "".join(
            f'<li><form method="post" action="{action}/pay">'
            f'<input type="hidden" name="payment_method" value="{html.escape(pm["id"])}">'
            f'<button class="saved-card" type="submit" data-payment-method="{html.escape(pm["id"])}">'
            f'Pay {total} with {html.escape(pm["card"]["brand"])} •••• {html.escape(pm["card"]["last4"])} '
            f'(expires {pm["card"]["exp_month"]:02d}/{pm["card"]["exp_year"] % 100:02d})</button></form></li>'
            for pm in cards)
        return f'<h2>Saved cards</h2>\n<ul id="saved-cards">{items}</ul>'

    def _page_pay(self, request: Request, session_id: str, late: bool = False) -> Response:
        payment_method = request.form.get("payment_method") or None

        def pay(call: _Call) -> Response:
            session = self._sessions.get(session_id)
            if session is None:
                return self._page(404, "Unknown session", "<h1>Unknown session</h1>")
            if not (session["payment_intent"] or session["subscription"]):
                if session["status"] != "open" and not late:
                    return self._page(409, "Session not open",
                                      f"<h1>This session is {html.escape(session['status'])}</h1>")
                try:
                    self._pay_locked(call, session_id, late=late, async_payment=False, settle=True,
                                     payment_method=payment_method)
                except StripeError as exc:
                    return self._page(400, "Payment refused", f"<h1>{html.escape(exc.message)}</h1>")
            # else: a second click on Pay changes nothing and goes where the first went.
            target = _success_target(session)
            if target:
                return _redirect(target)
            return self._page(200, "Paid", "<h1>Payment complete</h1><p>No success_url was given.</p>")
        return self._run(pay)

    def _page_pay_late(self, request: Request, session_id: str) -> Response:
        return self._page_pay(request, session_id, late=True)

    def _page_cancel(self, request: Request, session_id: str) -> Response:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return self._page(404, "Unknown session", "<h1>Unknown session</h1>")
            cancel_url = session["cancel_url"]
        if cancel_url:
            return _redirect(cancel_url)
        return self._page(200, "Cancelled", "<h1>Checkout cancelled</h1><p>No cancel_url was given.</p>")


# ---------------------------------------------------------------- helpers

def _int(value: Any, param: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise StripeError(400, f"Invalid integer: {value}", param=param) from None


def _metadata(value: Any, param: str) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise StripeError(400, "Invalid hash", param=param)
    if len(value) > 50:
        raise StripeError(400, "Metadata can have at most 50 keys.", param=param)
    for key, item in value.items():
        if len(key) > 40:
            raise StripeError(400, "Metadata keys can be at most 40 characters.", param=f"{param}[{key}]")
        if not isinstance(item, str):
            raise StripeError(400, "Metadata values must be strings.", param=f"{param}[{key}]")
        if len(item) > 500:
            raise StripeError(400, "Metadata values can be at most 500 characters.", param=f"{param}[{key}]")
    return {k: v for k, v in value.items() if v != ""}


def _flag(value: Any, param: str) -> bool:
    if value in (None, ""):
        return False
    text = str(value).lower()
    if text not in ("true", "false"):
        raise StripeError(400, f"Invalid boolean: {value}", param=param)
    return text == "true"


def _off_session(value: Any) -> bool:
    """off_session: a boolean, or one_off / recurring (both mean true)."""
    return str(value) in ("one_off", "recurring") or _flag(value, "off_session")


def _future_usage(value: Any, param: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in _FUTURE_USAGES:
        raise StripeError(400, "Invalid setup_future_usage: must be one of off_session or on_session", param=param)
    return str(value)


def _email(value: Any, param: str) -> str | None:
    email = value or None
    if email is not None and ("@" not in email or " " in email.strip()):
        raise StripeError(400, f"Invalid email address: {email}", param=param)
    return email


def _known_and_supported(params: dict, known: frozenset[str]) -> None:
    """Refuse what Stripe does not know, and what it knows but the stand-in does not model."""
    for name in params:
        if name not in known:
            raise _unknown(name)
    for name in _SETUP_UNSUPPORTED:
        if params.get(name) not in (None, ""):
            raise StripeError(400, f"The stand-in does not support {name}: pass payment_method with a test card "
                                   "such as pm_card_visa.", param=name)


def _card_only(params: dict) -> list[str] | None:
    """allowed_payment_method_types / payment_method_types: the stand-in sets up cards only."""
    for name in ("allowed_payment_method_types", "payment_method_types"):
        value = params.get(name)
        if value in (None, ""):
            continue
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list):
            raise StripeError(400, "Invalid array", param=name)
        for i, kind in enumerate(value):
            if kind != "card":
                raise StripeError(400, f"The stand-in only sets up card payment methods, not {kind!r}.",
                                  param=f"{name}[{i}]")
    return ["card"] if params.get("allowed_payment_method_types") else None


def _known_hash(value: Any, param: str, known: frozenset[str]) -> dict:
    """A hash parameter whose keys Stripe knows; returns it."""
    if not isinstance(value, dict):
        raise StripeError(400, "Invalid hash", param=param)
    for name in value:
        if name not in known:
            raise _unknown(f"{param}[{name}]")
    return value


def _hash_entries(raw: Any, param: str, known: frozenset[str]) -> Iterator[tuple[str, dict]]:
    """The hashes of an array parameter (line_items, items), each with its path; unknown keys refused."""
    if not isinstance(raw, list):
        raise StripeError(400, "Invalid array", param=param)
    for i, entry in enumerate(raw):
        at = f"{param}[{i}]"
        yield at, _known_hash(entry, at, known)


def _nested(prefix: str, name: str) -> str:
    return f"{prefix}[{name}]" if prefix else name


def _currency(data: dict, prefix: str = "") -> str:
    """`currency` of a price (or of price_data, under `prefix`): three letters, lower-cased."""
    currency = str(data.get("currency") or "").lower()
    if not currency:
        raise _missing(_nested(prefix, "currency"))
    if len(currency) != 3 or not currency.isalpha():
        raise StripeError(400, f"Invalid currency: {currency}", param=_nested(prefix, "currency"))
    return currency


def _unit_amount(data: dict, prefix: str = "") -> int:
    """`unit_amount`, or a whole `unit_amount_decimal`, of a price (or of price_data, under `prefix`)."""
    if "unit_amount" in data:
        unit_amount = _int(data["unit_amount"], _nested(prefix, "unit_amount"))
    elif "unit_amount_decimal" in data:
        raw_decimal = str(data["unit_amount_decimal"])
        if not raw_decimal.isdigit():
            raise StripeError(400, "The stand-in only takes whole unit_amount_decimal values.",
                              param=_nested(prefix, "unit_amount_decimal"))
        unit_amount = int(raw_decimal)
    else:
        raise _missing(_nested(prefix, "unit_amount"))
    if unit_amount < 0:
        raise StripeError(400, "This value must be greater than or equal to 0.", param=_nested(prefix, "unit_amount"))
    return unit_amount


def _known_and_modelled(params: dict, known: frozenset[str], unsupported: Iterable[str]) -> None:
    """Refuse what Stripe does not know (parameter_unknown), and what it knows but the stand-in does not model."""
    for name in params:
        if name not in known:
            raise _unknown(name)
    for name in unsupported:
        if params.get(name) not in (None, ""):
            raise StripeError(400, f"The stand-in does not support {name}.", param=name)


def _recurring(value: Any, param: str, allowed: frozenset[str]) -> dict:
    """A price's `recurring` as Stripe stores it: interval, interval_count, meter, trial_period_days, usage_type."""
    _known_hash(value, param, allowed)
    interval = value.get("interval")
    if not interval:
        raise _missing(f"{param}[interval]")
    if interval not in _MAX_INTERVAL_COUNT:
        raise StripeError(400, f"Invalid {param}[interval]: must be one of day, week, month, or year",
                          param=f"{param}[interval]")
    count = _int(value.get("interval_count", 1), f"{param}[interval_count]")
    if not 1 <= count <= _MAX_INTERVAL_COUNT[interval]:
        raise StripeError(400, "The maximum billing interval is 3 years (3 years, 36 months, 156 weeks or 1095 "
                               "days).", param=f"{param}[interval_count]")
    if value.get("usage_type", "licensed") != "licensed" or value.get("meter"):
        raise StripeError(400, "The stand-in only supports licensed (not metered) recurring prices.",
                          param=f"{param}[usage_type]")
    trial = value.get("trial_period_days")
    return {"interval": interval, "interval_count": count, "meter": None,
            "trial_period_days": _int(trial, f"{param}[trial_period_days]") if trial not in (None, "") else None,
            "usage_type": "licensed"}


def _subscription_data(value: Any) -> dict:
    """A session's subscription_data: metadata and description are used, the rest refused."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise StripeError(400, "Invalid hash", param="subscription_data")
    for name in value:
        if name in _SUBSCRIPTION_DATA_UNSUPPORTED:
            raise StripeError(400, f"The stand-in does not support subscription_data[{name}] (no trials, anchors "
                                   "or invoices are modelled).", param=f"subscription_data[{name}]")
        if name not in _SUBSCRIPTION_DATA_PARAMS:
            raise _unknown(f"subscription_data[{name}]")
    description = value.get("description") or None
    if description is not None and len(description) > 500:
        raise StripeError(400, "Invalid string: description must be at most 500 characters.",
                          param="subscription_data[description]")
    return {"metadata": _metadata(value.get("metadata"), "subscription_data[metadata]"), "description": description}


def _cancellation_details(value: Any) -> dict:
    """cancellation_details[comment|feedback] given with an update or a cancel."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise StripeError(400, "Invalid hash", param="cancellation_details")
    out: dict[str, Any] = {}
    for name, item in value.items():
        if name not in _CANCELLATION_DETAILS_PARAMS:
            raise _unknown(f"cancellation_details[{name}]")
        if name == "feedback_option":
            raise StripeError(400, "The stand-in does not support cancellation_details[feedback_option].",
                              param="cancellation_details[feedback_option]")
        if name == "feedback" and item not in ("", *_FEEDBACKS):
            raise StripeError(400, f"Invalid feedback: must be one of {', '.join(sorted(_FEEDBACKS))}",
                              param="cancellation_details[feedback]")
        out[name] = item or None
    return out


def _period_end(start: int, anchor: int, recurring: dict) -> int:
    """When a period that starts at `start` ends: a day or week later, or on the anchor's day of the month
    (the month's last day when it is shorter) and time of day, as Stripe bills."""
    interval, count = recurring["interval"], recurring["interval_count"]
    if interval in ("day", "week"):
        return start + count * (86400 if interval == "day" else 7 * 86400)
    begin = datetime.fromtimestamp(start, timezone.utc)
    first = datetime.fromtimestamp(anchor, timezone.utc)
    months = begin.year * 12 + begin.month - 1 + count * (12 if interval == "year" else 1)
    year, month = divmod(months, 12)
    day = min(first.day, calendar.monthrange(year, month + 1)[1])
    return int(datetime(year, month + 1, day, first.hour, first.minute, first.second, tzinfo=timezone.utc)
               .timestamp())


def _current_period_end(subscription: dict) -> int:
    return min(item["current_period_end"] for item in subscription["items"]["data"])


def _plan(price: dict) -> dict:
    """The legacy Plan that Stripe still puts on a subscription item beside its price."""
    recurring = price["recurring"]
    return {
        "id": price["id"], "object": "plan", "active": price["active"], "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"], "billing_scheme": "per_unit", "created": price["created"],
        "currency": price["currency"], "interval": recurring["interval"],
        "interval_count": recurring["interval_count"], "livemode": False, "metadata": dict(price["metadata"]),
        "meter": None, "nickname": price["nickname"], "product": price["product"], "tiers_mode": None,
        "transform_usage": None, "trial_period_days": recurring["trial_period_days"], "usage_type": "licensed",
    }


def _not_the_customers(pm_id: str) -> StripeError:
    return StripeError(400, f"The customer does not have a payment method with the ID {pm_id}. The payment method "
                            "must be attached to the customer.", param="payment_method")


def _card_details(pm: dict) -> dict:
    """A charge's payment_method_details for a card payment method."""
    card = pm["card"]
    return {"type": "card", "card": {
        "brand": card["brand"], "checks": copy.deepcopy(card["checks"]), "country": card["country"],
        "exp_month": card["exp_month"], "exp_year": card["exp_year"], "fingerprint": card["fingerprint"],
        "funding": card["funding"], "last4": card["last4"], "network": card["brand"], "three_d_secure": None,
        "wallet": None}}


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _money(amount: int, currency: str) -> str:
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    sign_ = "-" if amount < 0 else ""
    return f"{sign_}{abs(amount) // 100}.{abs(amount) % 100:02d} {currency.upper()}"


def _per(price: dict) -> str:
    """ " / month" (or " / 3 months") for a recurring price on the checkout page; "" for a one-time one."""
    recurring = price.get("recurring")
    if not recurring:
        return ""
    count = recurring["interval_count"]
    return f" / {recurring['interval']}" if count == 1 else f" / {count} {recurring['interval']}s"


def _success_target(session: dict) -> str | None:
    url = session.get("success_url")
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None


def _redirect(location: str) -> Response:
    response = Response(f'<a href="{html.escape(location)}">Continue</a>', status=303,
                        content_type="text/html; charset=utf-8")
    response.headers["Location"] = location
    return response
