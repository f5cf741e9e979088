"""Fixtures for the Stripe stand-in's tests: a verifying webhook receiver, the stand-in on real HTTP,
and a real stripe-python client pointed at it."""

from __future__ import annotations

import pytest
import stripe

from shared.devstack.standins.stripe_standin import StripeStandin
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
