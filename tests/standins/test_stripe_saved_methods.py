"""Saved cards at the Stripe stand-in: Customers, PaymentMethods, SetupIntents, off-session charges and
Checkout for a customer, driven through shared/providers/payments.py and the real stripe-python SDK over
real HTTP; the webhooks verified as the product verifies them. What Stripe refuses, the stand-in refuses
the same way."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
import stripe

from shared.providers import payments
from tests.support.stripe_receiver import SECRET

NOW = 1_900_000_000  # 2030-03-17 UTC: cards made now expire in 03/2031


@pytest.fixture(autouse=True)
def fixed_clock(standin):
    standin.set_clock(lambda: NOW)


def order(total_minor: int = 4250, number: str = "BW-1001") -> dict:
    return {"order_id": str(uuid.uuid4()), "number": number, "total_minor": total_minor, "currency": "GBP"}


def saved_card(client, customer_id: str, card: str = "pm_card_visa") -> str:
    """A card saved the way the product saves one: a SetupIntent the buyer's page confirms."""
    intent = payments.create_setup_intent(client, customer_id=customer_id, user_id="u-1")
    confirmed = client.v1.setup_intents.confirm(intent.id, {"payment_method": card})
    assert confirmed.status == "succeeded"
    return confirmed.payment_method


# -------------------------------------------------------------- customers

def test_a_customer_is_created_and_retrieved_with_stripes_shape(client, standin, receiver):
    customer = client.v1.customers.create({"email": "ann@example.com", "name": "Ann Example",
                                           "metadata": {"user_id": "u-1"}})
    assert customer.id.startswith("cus_") and customer.object == "customer"
    assert (customer.email, customer.name, customer.created, customer.livemode) == (
        "ann@example.com", "Ann Example", NOW, False)
    assert customer.metadata.to_dict() == {"user_id": "u-1"}
    assert customer.invoice_settings.default_payment_method is None
    assert (customer.balance, customer.tax_exempt, customer.preferred_locales) == (0, "none", [])
    assert client.v1.customers.retrieve(customer.id).to_dict() == customer.to_dict()
    [created] = receiver.of_type("customer.created")
    assert created["data"]["object"]["id"] == customer.id and receiver.rejected == []

    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve("cus_nope")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as bad_email:
        client.v1.customers.create({"email": "not an email"})
    assert (bad_email.value.http_status, bad_email.value.param) == (400, "email")
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.create({"email": "ann@example.com", "favourite_colour": "teal"})
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "favourite_colour")
    assert list(standin.customers) == [customer.id]


def test_ensure_customer_is_once_per_user_within_the_idempotency_window(client, standin):
    first = payments.ensure_customer(client, user_id="u-1", email="ann@example.com")
    again = payments.ensure_customer(client, user_id="u-1", email="ann@example.com")
    assert again.id == first.id and list(standin.customers) == [first.id]
    assert first.metadata.to_dict() == {"user_id": "u-1"} and first.email == "ann@example.com"
    other = payments.ensure_customer(client, user_id="u-2", email="bob@example.com")
    assert other.id != first.id and len(standin.customers) == 2
    with pytest.raises(stripe.IdempotencyError):
        payments.ensure_customer(client, user_id="u-1", email="ann.new@example.com")
    no_email = payments.ensure_customer(client, user_id="u-3", email="")
    assert no_email.email is None


# ---------------------------------------------------- setup intents, saving

def test_a_setup_intent_confirmed_with_a_test_card_saves_a_real_payment_method(client, standin, receiver):
    customer = payments.ensure_customer(client, user_id="u-1", email="ann@example.com")
    intent = payments.create_setup_intent(client, customer_id=customer.id, user_id="u-1")
    assert intent.id.startswith("seti_") and intent.object == "setup_intent"
    assert (intent.status, intent.usage, intent.customer, intent.payment_method) == (
        "requires_payment_method", "off_session", customer.id, None)
    assert re.fullmatch(rf"{intent.id}_secret_[A-Za-z0-9]+", intent.client_secret)
    assert intent.payment_method_types == ["card"] and intent.allowed_payment_method_types == ["card"]
    assert intent.metadata.to_dict() == {"user_id": "u-1"} and intent.created == NOW

    confirmed = client.v1.setup_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert (confirmed.status, confirmed.last_setup_error) == ("succeeded", None)
    pm_id = confirmed.payment_method
    assert pm_id.startswith("pm_") and pm_id != "pm_card_visa"
    assert payments.retrieve_setup_intent(client, intent.id).to_dict() == confirmed.to_dict()

    method = payments.retrieve_payment_method(client, pm_id)
    assert (method.object, method.type, method.customer, method.created) == (
        "payment_method", "card", customer.id, NOW)
    card = method.card
    assert (card.brand, card.last4, card.exp_month, card.exp_year, card.country, card.funding) == (
        "visa", "4242", 3, 2031, "US", "credit")
    assert re.fullmatch(r"[A-Za-z0-9]{16}", card.fingerprint)

    assert [m.id for m in payments.list_payment_methods(client, customer.id)] == [pm_id]
    by_query = client.v1.payment_methods.list({"customer": customer.id, "type": "card"})
    assert [m.id for m in by_query.data] == [pm_id] and by_query.has_more is False
    assert client.v1.customers.payment_methods.retrieve(customer.id, pm_id).card.last4 == "4242"

    assert receiver.types() == ["customer.created", "setup_intent.created", "payment_method.attached",
                                "setup_intent.succeeded"]
    [succeeded] = [d for d in standin.events_sent if d.type == "setup_intent.succeeded"]
    assert succeeded.status == 200 and receiver.rejected == []
    event = stripe.Webhook.construct_event(succeeded.payload, succeeded.signature, SECRET, tolerance=300)
    assert (event.data.object.id, event.data.object.status, event.data.object.payment_method) == (
        intent.id, "succeeded", pm_id)
    assert event.request.idempotency_key  # the SDK's own key on the confirm call


def test_setup_intent_create_can_confirm_at_once_and_a_setup_intent_confirms_only_once(client):
    customer = client.v1.customers.create({"email": "ann@example.com"})
    at_once = client.v1.setup_intents.create({"customer": customer.id, "payment_method": "pm_card_mastercard",
                                              "confirm": True, "payment_method_types": ["card"]})
    assert at_once.status == "succeeded" and at_once.allowed_payment_method_types is None
    method = client.v1.payment_methods.retrieve(at_once.payment_method)
    assert (method.card.brand, method.card.last4, method.customer) == ("mastercard", "4444", customer.id)

    waiting = client.v1.setup_intents.create({"customer": customer.id, "payment_method": "pm_card_visa",
                                              "usage": "on_session"})
    assert (waiting.status, waiting.usage) == ("requires_confirmation", "on_session")
    assert client.v1.setup_intents.confirm(waiting.id).status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.setup_intents.confirm(waiting.id, {"payment_method": "pm_card_visa"})
    assert (twice.value.http_status, twice.value.code) == (400, "setup_intent_unexpected_state")

    empty = client.v1.setup_intents.create({"customer": customer.id})
    with pytest.raises(stripe.InvalidRequestError) as no_card:
        client.v1.setup_intents.confirm(empty.id)
    assert no_card.value.code == "setup_intent_unexpected_state"
    for bad, param in (({"usage": "sometimes"}, "usage"), ({"payment_method_types": ["sepa_debit"]},
                                                            "payment_method_types[0]"),
                       ({"payment_method_data": {"type": "card"}}, "payment_method_data"),
                       ({"colour": "red"}, "colour")):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.setup_intents.create({"customer": customer.id, **bad})
        assert refused.value.param == param, bad
    with pytest.raises(stripe.InvalidRequestError) as unknown_pm:
        client.v1.setup_intents.confirm(empty.id, {"payment_method": "pm_card_nonsense"})
    assert (unknown_pm.value.http_status, unknown_pm.value.code) == (400, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as missing:
        payments.retrieve_setup_intent(client, "seti_nope")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


def test_the_same_card_number_always_has_the_same_fingerprint(client):
    customer = client.v1.customers.create({"email": "ann@example.com"})
    first, second = saved_card(client, customer.id), saved_card(client, customer.id)
    mastercard = saved_card(client, customer.id, "pm_card_mastercard")
    cards = {m.id: m.card for m in payments.list_payment_methods(client, customer.id)}
    assert set(cards) == {first, second, mastercard}
    assert cards[first].fingerprint == cards[second].fingerprint != cards[mastercard].fingerprint


def test_a_card_its_issuer_refuses_is_not_saved_and_the_setup_intent_waits_for_another(client, receiver):
    customer = client.v1.customers.create({"email": "ann@example.com"})
    intent = payments.create_setup_intent(client, customer_id=customer.id, user_id="u-1")
    with pytest.raises(stripe.CardError) as declined:
        client.v1.setup_intents.confirm(intent.id, {"payment_method": "pm_card_chargeDeclined"})
    assert (declined.value.http_status, declined.value.code) == (402, "card_declined")
    assert declined.value.error.decline_code == "generic_decline"
    assert declined.value.error.setup_intent.status == "requires_payment_method"
    after = payments.retrieve_setup_intent(client, intent.id)
    assert (after.status, after.payment_method) == ("requires_payment_method", None)
    assert (after.last_setup_error.code, after.last_setup_error.payment_method.card.last4) == ("card_declined", "0002")
    assert payments.list_payment_methods(client, customer.id) == []
    assert receiver.types()[-1] == "setup_intent.setup_failed"

    retried = client.v1.setup_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert retried.status == "succeeded"
    assert [m.card.last4 for m in payments.list_payment_methods(client, customer.id)] == ["4242"]


# ---------------------------------------------- attach, detach, who may use

def test_detach_removes_a_card_from_the_list_for_good(client, standin, receiver):
    customer = client.v1.customers.create({"email": "ann@example.com"})
    visa = saved_card(client, customer.id)
    mastercard = saved_card(client, customer.id, "pm_card_mastercard")
    assert {m.id for m in payments.list_payment_methods(client, customer.id)} == {visa, mastercard}

    detached = payments.detach_payment_method(client, visa)
    assert (detached.id, detached.customer) == (visa, None)
    assert [m.id for m in payments.list_payment_methods(client, customer.id)] == [mastercard]
    [event] = receiver.of_type("payment_method.detached")
    assert event["data"]["object"]["id"] == visa and event["data"]["previous_attributes"] == {"customer": customer.id}

    with pytest.raises(stripe.InvalidRequestError) as again:
        payments.detach_payment_method(client, visa)
    assert (again.value.http_status, again.value.param) == (400, "payment_method")
    with pytest.raises(stripe.InvalidRequestError) as reattach:
        client.v1.payment_methods.attach(visa, {"customer": customer.id})
    assert "may not be used again" in reattach.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as charged:
        payments.charge_saved_card(client, order=order(), customer_id=customer.id, payment_method_id=visa)
    assert "may not be used again" in charged.value.user_message
    assert standin.payment_intents == {}


def test_attach_saves_a_test_card_once_and_refuses_a_declining_one(client, receiver):
    customer = client.v1.customers.create({"email": "ann@example.com"})
    attached = client.v1.payment_methods.attach("pm_card_mastercard", {"customer": customer.id})
    assert (attached.customer, attached.card.brand, attached.card.last4) == (customer.id, "mastercard", "4444")
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.payment_methods.attach(attached.id, {"customer": customer.id})
    assert twice.value.user_message == "The payment method you provided has already been attached to a customer."
    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_methods.attach("pm_card_visa_chargeDeclined", {"customer": customer.id})
    assert (declined.value.code, declined.value.error.decline_code) == ("card_declined", "generic_decline")
    with pytest.raises(stripe.InvalidRequestError) as no_customer:
        client.v1.payment_methods.attach("pm_card_visa", {"customer": "cus_nope"})
    assert (no_customer.value.http_status, no_customer.value.code, no_customer.value.param) == (
        400, "resource_missing", "customer")
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_methods.retrieve("pm_nope")
    assert (unknown.value.http_status, unknown.value.code) == (404, "resource_missing")
    assert [m.id for m in payments.list_payment_methods(client, customer.id)] == [attached.id]
    assert receiver.types().count("payment_method.attached") == 1


def test_an_unknown_customer_is_a_400_resource_missing_wherever_it_is_named(client, api):
    for call in (lambda: payments.create_setup_intent(client, customer_id="cus_nope", user_id="u-1"),
                 lambda: client.v1.payment_intents.create({"amount": 100, "currency": "gbp", "customer": "cus_nope"}),
                 lambda: client.v1.payment_methods.list({"customer": "cus_nope", "type": "card"}),
                 lambda: client.v1.checkout.sessions.create(session_params(customer="cus_nope"))):
        with pytest.raises(stripe.InvalidRequestError) as missing:
            call()
        assert (missing.value.http_status, missing.value.code, missing.value.param) == (
            400, "resource_missing", "customer")
        assert missing.value.user_message == "No such customer: 'cus_nope'"
    with pytest.raises(stripe.InvalidRequestError) as in_path:
        payments.list_payment_methods(client, "cus_nope")
    assert (in_path.value.http_status, in_path.value.code) == (404, "resource_missing")


def test_a_card_saved_for_another_customer_cannot_be_used_for_this_one(client, standin):
    ann = client.v1.customers.create({"email": "ann@example.com"})
    bob = client.v1.customers.create({"email": "bob@example.com"})
    anns_card = saved_card(client, ann.id)
    with pytest.raises(stripe.InvalidRequestError) as not_bobs:
        payments.charge_saved_card(client, order=order(), customer_id=bob.id, payment_method_id=anns_card)
    assert (not_bobs.value.http_status, not_bobs.value.param) == (400, "payment_method")
    assert not_bobs.value.user_message == (f"The customer does not have a payment method with the ID {anns_card}. "
                                           "The payment method must be attached to the customer.")
    with pytest.raises(stripe.InvalidRequestError) as no_customer:
        client.v1.payment_intents.create({"amount": 500, "currency": "gbp", "payment_method": anns_card,
                                          "confirm": True, "off_session": True})
    assert (no_customer.value.http_status, no_customer.value.param) == (400, "payment_method")
    with pytest.raises(stripe.InvalidRequestError) as setup_for_bob:
        client.v1.setup_intents.create({"customer": bob.id, "payment_method": anns_card, "confirm": True})
    assert setup_for_bob.value.param == "payment_method"
    assert standin.payment_intents == {} and standin.payment_methods[anns_card]["customer"] == ann.id


def test_a_card_used_without_being_saved_cannot_be_used_again(client):
    paid = client.v1.payment_intents.create({"amount": 700, "currency": "gbp", "payment_method": "pm_card_visa",
                                             "confirm": True})
    assert paid.status == "succeeded" and paid.payment_method.startswith("pm_")
    customer = client.v1.customers.create({"email": "ann@example.com"})
    for call in (lambda: client.v1.payment_intents.create({"amount": 700, "currency": "gbp", "confirm": True,
                                                           "payment_method": paid.payment_method}),
                 lambda: client.v1.payment_methods.attach(paid.payment_method, {"customer": customer.id})):
        with pytest.raises(stripe.InvalidRequestError) as spent:
            call()
        assert (spent.value.http_status, spent.value.param) == (400, "payment_method")
        assert "may not be used again" in spent.value.user_message


# ------------------------------------------------------ off-session charges

def test_charge_saved_card_charges_the_order_total_off_session_and_captures_it(client, standin, receiver):
    customer = payments.ensure_customer(client, user_id="u-1", email="ann@example.com")
    card = saved_card(client, customer.id)
    placed = order(4250, "BW-1001")
    intent = payments.charge_saved_card(client, order=placed, customer_id=customer.id, payment_method_id=card)
    assert (intent.status, intent.amount, intent.amount_received, intent.currency) == ("succeeded", 4250, 4250, "gbp")
    assert (intent.customer, intent.payment_method, intent.description) == (customer.id, card, "Order BW-1001")
    assert intent.metadata.to_dict() == {"order_id": placed["order_id"], "order_number": "BW-1001"}
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.captured, charge.amount_captured, charge.paid, charge.customer) == (True, 4250, True, customer.id)
    assert (charge.payment_method_details.type, charge.payment_method_details.card.last4) == ("card", "4242")
    assert [m.id for m in payments.list_payment_methods(client, customer.id)] == [card]  # still saved
    [succeeded] = receiver.of_type("payment_intent.succeeded")
    assert succeeded["data"]["object"]["id"] == intent.id

    again = payments.charge_saved_card(client, order=placed, customer_id=customer.id, payment_method_id=card)
    assert again.id == intent.id and len(standin.payment_intents) == 1 and len(standin.charges) == 1
    refund = client.v1.refunds.create({"payment_intent": intent.id, "amount": 1000})
    assert refund.amount == 1000


def test_a_saved_card_that_stops_working_is_a_card_error_and_replays_the_same(client, standin, receiver):
    customer = client.v1.customers.create({"email": "ann@example.com"})
    card = saved_card(client, customer.id, "pm_card_chargeCustomerFail")  # saving it succeeds
    placed = order(1800)
    with pytest.raises(stripe.CardError) as declined:
        payments.charge_saved_card(client, order=placed, customer_id=customer.id, payment_method_id=card)
    assert (declined.value.http_status, declined.value.code) == (402, "card_declined")
    assert declined.value.error.decline_code == "generic_decline"
    assert declined.value.error.payment_method.id == card
    failed_intent = declined.value.error.payment_intent
    assert (failed_intent.status, failed_intent.amount, failed_intent.customer) == (
        "requires_payment_method", 1800, customer.id)
    [failed] = receiver.of_type("payment_intent.payment_failed")
    assert failed["data"]["object"]["last_payment_error"]["code"] == "card_declined"
    assert [m.id for m in payments.list_payment_methods(client, customer.id)] == [card]

    with pytest.raises(stripe.CardError) as replayed:
        payments.charge_saved_card(client, order=placed, customer_id=customer.id, payment_method_id=card)
    assert replayed.value.error.payment_intent.id == failed_intent.id
    assert replayed.value.headers["Idempotent-Replayed"] == "true"
    assert list(standin.payment_intents) == [failed_intent.id]


def test_a_payment_intent_can_save_its_card_and_off_session_needs_confirm(client):
    customer = client.v1.customers.create({"email": "ann@example.com"})
    paid = client.v1.payment_intents.create({"amount": 900, "currency": "gbp", "customer": customer.id,
                                             "payment_method": "pm_card_visa", "setup_future_usage": "off_session",
                                             "confirm": True})
    assert (paid.status, paid.setup_future_usage) == ("succeeded", "off_session")
    assert [m.id for m in payments.list_payment_methods(client, customer.id)] == [paid.payment_method]
    with pytest.raises(stripe.InvalidRequestError) as no_confirm:
        client.v1.payment_intents.create({"amount": 900, "currency": "gbp", "customer": customer.id,
                                          "payment_method": paid.payment_method, "off_session": True})
    assert no_confirm.value.param == "off_session"
    with pytest.raises(stripe.InvalidRequestError) as bad_usage:
        client.v1.payment_intents.create({"amount": 900, "currency": "gbp", "setup_future_usage": "later"})
    assert bad_usage.value.param == "setup_future_usage"


# ------------------------------------------------------------------ faults

def test_faults_surface_as_stripe_errors_and_a_lost_answer_replays(client, api, standin):
    standin.fail_next(1, status=500)
    with pytest.raises(stripe.APIError) as down:
        payments.ensure_customer(client, user_id="u-1", email="ann@example.com")
    assert down.value.http_status == 500 and standin.customers == {}
    customer = payments.ensure_customer(client, user_id="u-1", email="ann@example.com")

    standin.fail_next(1, status=429)
    with pytest.raises(stripe.RateLimitError) as limited:
        payments.create_setup_intent(client, customer_id=customer.id, user_id="u-1")
    assert limited.value.http_status == 429 and standin.setup_intents == {}
    card = saved_card(client, customer.id)

    standin.fail_next(1, status=503)
    with pytest.raises(stripe.APIError):
        payments.list_payment_methods(client, customer.id)

    placed = order(3000)
    standin.fail_next(1, status=500, after=True)  # charged, but the answer is lost
    with pytest.raises(stripe.APIError):
        payments.charge_saved_card(client, order=placed, customer_id=customer.id, payment_method_id=card)
    [charged] = standin.payment_intents.values()
    assert (charged["status"], charged["amount_received"]) == ("succeeded", 3000)
    retried = payments.charge_saved_card(client, order=placed, customer_id=customer.id, payment_method_id=card)
    assert retried.id == charged["id"] and len(standin.charges) == 1


# ------------------------------------------------- Checkout for a customer

def session_params(**overrides) -> dict:
    return {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "gbp", "unit_amount": 1250,
                                       "product_data": {"name": "Adult ticket"}}, "quantity": 2}],
        "metadata": {"order_id": "order-9"},
        "success_url": "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.example/cart",
        **overrides,
    }


def test_checkout_for_a_customer_saves_the_card_and_offers_it_next_time(client, api, standin, receiver):
    customer = client.v1.customers.create({"email": "ann@example.com", "name": "Ann Example"})
    first = client.v1.checkout.sessions.create(session_params(
        customer=customer.id, payment_intent_data={"setup_future_usage": "off_session"}))
    assert (first.customer, first.customer_email) == (customer.id, None)
    page = httpx.get(first.url)
    assert "ann@example.com" in page.text and 'id="saved-cards"' not in page.text
    assert httpx.post(f"{api}/checkout/{first.id}/pay").status_code == 303
    paid = client.v1.payment_intents.retrieve(client.v1.checkout.sessions.retrieve(first.id).payment_intent)
    assert (paid.status, paid.customer, paid.setup_future_usage) == ("succeeded", customer.id, "off_session")
    [saved] = payments.list_payment_methods(client, customer.id)
    assert (saved.id, saved.card.last4) == (paid.payment_method, "4242")

    second = client.v1.checkout.sessions.create(session_params(customer=customer.id))
    page = httpx.get(second.url)
    offered = re.findall(r'name="payment_method" value="([^"]+)"', page.text)
    assert offered == [saved.id] and "visa •••• 4242 (expires 03/31)" in page.text
    with_saved = httpx.post(f"{api}/checkout/{second.id}/pay", data={"payment_method": saved.id})
    assert with_saved.headers["Location"] == f"https://shop.example/thanks?session={second.id}"
    second_paid = client.v1.checkout.sessions.retrieve(second.id, {"expand": ["payment_intent"]})
    assert (second_paid.payment_status, second_paid.payment_intent.payment_method) == ("paid", saved.id)
    assert second_paid.customer_details.email == "ann@example.com"
    assert receiver.types().count("checkout.session.completed") == 2 and receiver.rejected == []


def test_checkout_refuses_a_customer_with_an_email_or_a_card_that_is_not_the_customers(client, api, standin):
    ann = client.v1.customers.create({"email": "ann@example.com"})
    bob = client.v1.customers.create({"email": "bob@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as both:
        client.v1.checkout.sessions.create(session_params(customer=ann.id, customer_email="ann@example.com"))
    assert both.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as bad_usage:
        client.v1.checkout.sessions.create(session_params(payment_intent_data={"setup_future_usage": "always"}))
    assert bad_usage.value.param == "payment_intent_data[setup_future_usage]"
    anns_card = saved_card(client, ann.id)
    session = client.v1.checkout.sessions.create(session_params(customer=bob.id))
    refused = httpx.post(f"{api}/checkout/{session.id}/pay", data={"payment_method": anns_card})
    assert refused.status_code == 400 and "does not have a payment method" in refused.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_checkout_saving_a_card_without_a_customer_makes_one(client, standin, receiver):
    session = client.v1.checkout.sessions.create(session_params(
        customer_email="new@example.com", payment_intent_data={"setup_future_usage": "off_session"}))
    paid = standin.pay(session.id)
    assert paid["customer"].startswith("cus_")
    assert standin.customers[paid["customer"]]["email"] == "new@example.com"
    [saved] = payments.list_payment_methods(client, paid["customer"])
    assert saved.billing_details.email == "new@example.com"
    assert receiver.types() == ["customer.created", "payment_method.attached", "checkout.session.completed"]
