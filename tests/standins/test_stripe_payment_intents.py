"""The Stripe stand-in's PaymentIntents with manual capture (authorise now, capture the final amount
later), driven by the real stripe-python SDK over real HTTP; the webhooks verified as the product
verifies them. What Stripe refuses, the stand-in refuses the same way."""

from __future__ import annotations

import pytest
import stripe



def authorised(client, amount: int = 12000, **extra):
    return client.v1.payment_intents.create({
        "amount": amount, "currency": "gbp", "capture_method": "manual", "payment_method": "pm_card_visa",
        "confirm": True, "metadata": {"reservation_id": "r-1"}, **extra})


def test_authorise_then_capture_less_releases_the_rest_and_refunds_come_from_the_captured(client, standin, receiver):
    pi = authorised(client)
    assert (pi.status, pi.amount_capturable, pi.amount_received, pi.capture_method) == (
        "requires_capture", 12000, 0, "manual")
    assert receiver.types() == ["payment_intent.created", "payment_intent.amount_capturable_updated"]
    captured = client.v1.payment_intents.capture(pi.id, {"amount_to_capture": 10500})
    assert (captured.status, captured.amount_received, captured.amount_capturable) == ("succeeded", 10500, 0)
    charge = client.v1.charges.retrieve(captured.latest_charge)
    assert (charge.amount, charge.amount_captured, charge.amount_refunded, charge.captured) == (12000, 10500, 1500, True)
    [succeeded] = receiver.of_type("payment_intent.succeeded")
    assert succeeded["data"]["object"]["amount_received"] == 10500
    assert succeeded["data"]["object"]["metadata"] == {"reservation_id": "r-1"}
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create({"payment_intent": pi.id, "amount": 10501})
    assert too_much.value.code == "amount_too_large"
    assert client.v1.refunds.create({"payment_intent": pi.id, "amount": 10500}).amount == 10500


def test_capturing_more_than_authorised_or_twice_is_refused(client):
    pi = authorised(client, 5000)
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.payment_intents.capture(pi.id, {"amount_to_capture": 5001})
    assert (too_much.value.code, too_much.value.param) == ("amount_too_large", "amount_to_capture")
    client.v1.payment_intents.capture(pi.id)
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.payment_intents.capture(pi.id)
    assert twice.value.code == "payment_intent_unexpected_state"


def test_a_declined_card_is_a_card_error_and_a_payment_failed_event(client, receiver):
    with pytest.raises(stripe.CardError) as declined:
        authorised(client, payment_method="pm_card_chargeDeclined")
    assert declined.value.code == "card_declined"
    [failed] = receiver.of_type("payment_intent.payment_failed")
    assert failed["data"]["object"]["status"] == "requires_payment_method"
    assert failed["data"]["object"]["last_payment_error"]["decline_code"] == "generic_decline"
    # The buyer tries another card on the same PaymentIntent.
    retried = client.v1.payment_intents.confirm(failed["data"]["object"]["id"], {"payment_method": "pm_card_visa"})
    assert retried.status == "requires_capture"


def test_cancel_releases_an_authorisation_and_a_cancelled_intent_cannot_be_captured(client, receiver):
    pi = authorised(client, 7000)
    cancelled = client.v1.payment_intents.cancel(pi.id, {"cancellation_reason": "requested_by_customer"})
    assert (cancelled.status, cancelled.cancellation_reason, cancelled.amount_capturable) == (
        "canceled", "requested_by_customer", 0)
    assert client.v1.charges.retrieve(pi.latest_charge).refunded is True
    assert receiver.types()[-1] == "payment_intent.canceled"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.capture(pi.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.cancel(pi.id)


def test_automatic_capture_succeeds_at_once_and_bad_requests_are_refused_like_stripe(client):
    paid = client.v1.payment_intents.create({"amount": 999, "currency": "gbp", "payment_method": "pm_card_visa",
                                             "confirm": True})
    assert (paid.status, paid.amount_received, paid.capture_method) == ("succeeded", 999, "automatic_async")
    pending = client.v1.payment_intents.create({"amount": 999, "currency": "gbp"})
    assert pending.status == "requires_payment_method" and pending.client_secret.startswith(pending.id)
    with pytest.raises(stripe.InvalidRequestError) as missing_pm:
        client.v1.payment_intents.confirm(pending.id)
    assert missing_pm.value.code == "payment_intent_unexpected_state"
    for bad, param in (({"amount": 0, "currency": "gbp"}, "amount"), ({"amount": 100, "currency": "pounds"}, "currency"),
                       ({"amount": 100, "currency": "gbp", "capture_method": "later"}, "capture_method"),
                       ({"amount": 100, "currency": "gbp", "tip": 5}, "tip"), ({"currency": "gbp"}, "amount")):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.payment_intents.create(bad)
        assert refused.value.param == param, bad
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_intents.confirm(pending.id, {"payment_method": "pm_card_nonsense"})
    assert unknown.value.code == "resource_missing"


def test_a_replayed_idempotency_key_creates_one_intent(client, standin):
    first = client.v1.payment_intents.create({"amount": 4000, "currency": "gbp", "capture_method": "manual"},
                                             {"idempotency_key": "reservation-1-authorise"})
    again = client.v1.payment_intents.create({"amount": 4000, "currency": "gbp", "capture_method": "manual"},
                                             {"idempotency_key": "reservation-1-authorise"})
    assert first.id == again.id and len(standin.payment_intents) == 1
