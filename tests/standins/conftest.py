"""Fixtures for the Stripe and PayPal stand-ins' tests: a verifying webhook receiver, the stand-in on
real HTTP, and a real client of the provider's SDK pointed at it."""

from __future__ import annotations

import threading

import pytest
import stripe
from werkzeug.wrappers import Request, Response

from shared.devstack.standins.paypal_standin import PaypalStandin
from shared.devstack.standins.stripe_standin import StripeStandin
from shared.platform.config import Settings
from shared.providers import paypal
from tests.standins import serve
from tests.support.stripe_receiver import API_KEY, SECRET, Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    with serve(r.wsgi) as url:
        r.url = url + "/webhook"
        yield r


@pytest.fixture
def standin(receiver):
    return StripeStandin(receiver.url, SECRET, API_KEY)


@pytest.fixture
def api(standin):
    with serve(standin.wsgi, "/stripe") as base:
        yield base


@pytest.fixture
def client(api):
    return stripe.StripeClient(API_KEY, base_addresses={"api": api}, max_network_retries=0)


# ---------------------------------------------------------------- PayPal

PAYPAL_CLIENT_ID = "test-paypal-client"
PAYPAL_CLIENT_SECRET = "test-paypal-secret"
PAYPAL_WEBHOOK_ID = "WHTESTPAYPAL0001"


class PaypalReceiver:
    """A webhook endpoint that trusts what shared/providers/paypal.verify_webhook accepts, as the
    product's endpoint will: `events` (verified bodies), `transmissions` (their PAYPAL-TRANSMISSION-IDs),
    `rejected` (the reasons)."""

    def __init__(self) -> None:
        self.url = ""
        self.settings: Settings | None = None
        self.events: list[dict] = []
        self.transmissions: list[str] = []
        self.rejected: list[str] = []
        self._lock = threading.Lock()

    def wsgi(self, environ, start_response):
        request = Request(environ)
        try:
            event = paypal.verify_webhook(request.headers, request.get_data(), self.settings)
        except paypal.PaypalWebhookInvalid as exc:
            with self._lock:
                self.rejected.append(str(exc))
            return Response("rejected", status=400)(environ, start_response)
        with self._lock:
            self.events.append(event)
            self.transmissions.append(request.headers["PAYPAL-TRANSMISSION-ID"])
        return Response("ok", status=200)(environ, start_response)

    def types(self) -> list[str]:
        return [e["event_type"] for e in self.events]


def paypal_settings_for(base: str, **overrides: str) -> Settings:
    return Settings(**{"PAYPAL_CLIENT_ID": PAYPAL_CLIENT_ID, "PAYPAL_CLIENT_SECRET": PAYPAL_CLIENT_SECRET,
                       "PAYPAL_API_BASE": base, "PAYPAL_WEBHOOK_ID": PAYPAL_WEBHOOK_ID} | overrides)


@pytest.fixture
def paypal_receiver():
    r = PaypalReceiver()
    with serve(r.wsgi) as url:
        r.url = url + "/paypal-webhook"
        yield r


@pytest.fixture
def paypal_standin(paypal_receiver):
    return PaypalStandin(paypal_receiver.url, PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET, PAYPAL_WEBHOOK_ID)


@pytest.fixture
def paypal_api(paypal_standin, paypal_receiver):
    """The stand-in on real HTTP under /paypal, its base URL; the receiver verifies against it."""
    with serve(paypal_standin.wsgi, "/paypal") as base:
        paypal_receiver.settings = paypal_settings_for(base)
        yield base


@pytest.fixture
def paypal_settings(paypal_api) -> Settings:
    return paypal_settings_for(paypal_api)


@pytest.fixture
def paypal_client(paypal_settings):
    """The real paypal-server-sdk client, built by shared/providers/paypal.py."""
    return paypal.paypal_client(paypal_settings)
