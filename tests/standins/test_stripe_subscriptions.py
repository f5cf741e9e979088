"""Subscriptions at the Stripe stand-in: Products, Prices (by lookup key), Checkout Sessions in subscription
mode, Subscriptions updated, cancelled and renewed, driven through shared/providers/payments.py and the real
stripe-python SDK over real HTTP; every webhook verified as the product verifies it. What Stripe refuses, the
stand-in refuses the same way."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import httpx
import pytest
import stripe

from shared.devstack.standins.stripe_standin import StripeError
from shared.providers import payments
from tests.support.stripe_receiver import SECRET

NOW = 1_900_000_000  # 2030-03-17 17:46:40 UTC
APRIL_17 = int(datetime(2030, 4, 17, 17, 46, 40, tzinfo=timezone.utc).timestamp())


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


@pytest.fixture(autouse=True)
def fixed_clock(standin):
    standin.set_clock(lambda: NOW)


@pytest.fixture
def plan(client):
    """A product with a monthly and a yearly price, found by lookup key as the product finds them."""
    product = client.v1.products.create({"name": "Bookwell Pro", "metadata": {"tier": "pro"}})
    monthly = client.v1.prices.create({"product": product.id, "currency": "gbp", "unit_amount": 1500,
                                       "recurring": {"interval": "month"}, "lookup_key": "pro_monthly"})
    yearly = client.v1.prices.create({"product": product.id, "currency": "gbp", "unit_amount": 15000,
                                      "recurring": {"interval": "year"}, "lookup_key": "pro_yearly"})
    return {"product": product, "monthly": monthly, "yearly": yearly}


def subscribe(client, standin, price_id: str, *, user_id: str = "u-1", email: str | None = "ann@example.com",
              customer_id: str | None = None) -> tuple[str, str]:
    """Checkout for `price_id`, paid as the buyer would: (session id, subscription id)."""
    session = payments.create_subscription_checkout(
        client, user_id=user_id, email=email, customer_id=customer_id, price_id=price_id,
        success_url="https://shop.example/welcome?session={CHECKOUT_SESSION_ID}",
        cancel_url="https://shop.example/pricing")
    paid = standin.pay(session.id)
    return session.id, paid["subscription"]


def verified(standin, type_: str) -> list[stripe.Event]:
    """Every delivery of `type_`, checked with construct_event from the exact bytes and signature sent."""
    return [stripe.Webhook.construct_event(d.payload, d.signature, SECRET, tolerance=300)
            for d in standin.events_sent if d.type == type_]


# --------------------------------------------------------- products, prices

def test_prices_are_found_by_lookup_key(client, plan):
    monthly = payments.price_by_lookup_key(client, "pro_monthly")
    assert monthly.id == plan["monthly"].id and monthly.id.startswith("price_")
    assert (monthly.object, monthly.type, monthly.unit_amount, monthly.currency, monthly.active) == (
        "price", "recurring", 1500, "gbp", True)
    assert (monthly.recurring.interval, monthly.recurring.interval_count, monthly.recurring.usage_type) == (
        "month", 1, "licensed")
    assert monthly.product == plan["product"].id and monthly.lookup_key == "pro_monthly"
    assert payments.price_by_lookup_key(client, "pro_yearly").recurring.interval == "year"
    assert payments.price_by_lookup_key(client, "no_such_key") is None

    both = client.v1.prices.list({"lookup_keys": ["pro_monthly", "pro_yearly"]})
    assert {p.lookup_key for p in both.data} == {"pro_monthly", "pro_yearly"} and both.has_more is False
    assert client.v1.prices.retrieve(monthly.id).to_dict() == monthly.to_dict()
    expanded = client.v1.prices.retrieve(monthly.id, {"expand": ["product"]})
    assert expanded.product.name == "Bookwell Pro" and expanded.product.metadata.to_dict() == {"tier": "pro"}
    assert client.v1.products.retrieve(plan["product"].id).name == "Bookwell Pro"

    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.prices.retrieve("price_nope")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


def test_a_lookup_key_names_one_price_and_can_be_transferred(client, plan):
    with pytest.raises(stripe.InvalidRequestError) as taken:
        client.v1.prices.create({"product": plan["product"].id, "currency": "gbp", "unit_amount": 1800,
                                 "recurring": {"interval": "month"}, "lookup_key": "pro_monthly"})
    assert taken.value.param == "lookup_key" and plan["monthly"].id in taken.value.user_message

    raised = client.v1.prices.create({"product": plan["product"].id, "currency": "gbp", "unit_amount": 1800,
                                      "recurring": {"interval": "month"}, "lookup_key": "pro_monthly",
                                      "transfer_lookup_key": True})
    assert payments.price_by_lookup_key(client, "pro_monthly").id == raised.id
    assert client.v1.prices.retrieve(plan["monthly"].id).lookup_key is None

    retired = client.v1.prices.create({"product": plan["product"].id, "currency": "gbp", "unit_amount": 900,
                                       "recurring": {"interval": "month"}, "lookup_key": "old_plan",
                                       "active": False})
    assert retired.active is False and payments.price_by_lookup_key(client, "old_plan") is None


def test_a_price_with_product_data_makes_its_product_and_bad_prices_are_refused(client, standin):
    price = client.v1.prices.create({"product_data": {"name": "Day pass"}, "currency": "gbp", "unit_amount": 700})
    assert (price.type, price.recurring) == ("one_time", None)
    assert standin.products[price.product]["name"] == "Day pass"

    for params, param in [
        ({"currency": "gbp", "unit_amount": 1}, "product"),
        ({"product": "prod_nope", "currency": "gbp", "unit_amount": 1}, "product"),
        ({"product_data": {"name": "X"}, "unit_amount": 1}, "currency"),
        ({"product_data": {"name": "X"}, "currency": "gbp", "unit_amount": 1,
          "recurring": {"interval": "fortnight"}}, "recurring[interval]"),
        ({"product_data": {"name": "X"}, "currency": "gbp", "unit_amount": 1,
          "recurring": {"interval": "month", "interval_count": 37}}, "recurring[interval_count]"),
        ({"product_data": {"name": "X"}, "currency": "gbp", "unit_amount": 1, "colour": "teal"}, "colour"),
    ]:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.prices.create(params)
        assert (refused.value.http_status, refused.value.param) == (400, param)


# ------------------------------------------------------ subscription checkout

def test_a_paid_subscription_checkout_makes_an_active_subscription_and_signed_events_in_order(
        client, standin, receiver, plan):
    session = payments.create_subscription_checkout(
        client, user_id="u-1", email="ann@example.com", customer_id=None, price_id=plan["monthly"].id,
        success_url="https://shop.example/welcome?session={CHECKOUT_SESSION_ID}",
        cancel_url="https://shop.example/pricing")
    assert (session.mode, session.status, session.payment_status) == ("subscription", "open", "unpaid")
    assert (session.subscription, session.payment_intent, session.customer) == (None, None, None)
    assert session.metadata.to_dict() == {"user_id": "u-1"} and session.client_reference_id == "u-1"
    assert (session.amount_total, session.currency) == (1500, "gbp")
    [line] = client.v1.checkout.sessions.line_items.list(session.id).data
    assert (line.price.id, line.price.type, line.quantity, line.description) == (
        plan["monthly"].id, "recurring", 1, "Bookwell Pro")

    standin.pay(session.id)

    paid = client.v1.checkout.sessions.retrieve(session.id)
    assert (paid.status, paid.payment_status, paid.payment_intent, paid.invoice) == ("complete", "paid", None, None)
    assert paid.subscription.startswith("sub_") and paid.customer.startswith("cus_")
    sub = payments.retrieve_subscription(client, paid.subscription)
    assert (sub.object, sub.status, sub.customer, sub.cancel_at_period_end) == (
        "subscription", "active", paid.customer, False)
    assert sub.metadata.to_dict() == {"user_id": "u-1"}
    assert (sub.currency, sub.start_date, sub.created, sub.billing_cycle_anchor) == ("gbp", NOW, NOW, NOW)
    assert (sub.canceled_at, sub.cancel_at, sub.ended_at, sub.latest_invoice) == (None, None, None, None)
    [item] = sub["items"].data  # `sub.items` is dict.items on a StripeObject
    assert item.object == "subscription_item" and item.subscription == sub.id and item.quantity == 1
    assert (item.price.id, item.price.lookup_key, item.plan.interval) == (plan["monthly"].id, "pro_monthly", "month")
    # Since API 2025-03-31.basil the period lives on the items, not on the subscription.
    assert (item.current_period_start, item.current_period_end) == (NOW, APRIL_17)
    assert "current_period_end" not in sub.to_dict()
    customer = client.v1.customers.retrieve(sub.customer)
    assert customer.email == "ann@example.com"
    card = client.v1.payment_methods.retrieve(sub.default_payment_method)
    assert card.customer == customer.id and card.card.last4 == "4242"

    assert receiver.rejected == []
    assert receiver.types() == ["customer.created", "payment_method.attached", "customer.subscription.created",
                                "checkout.session.completed"]
    [created] = verified(standin, "customer.subscription.created")
    obj = created.data.object
    assert (obj.id, obj.status, obj.customer, obj.metadata.user_id) == (sub.id, "active", customer.id, "u-1")
    assert obj["items"].data[0].price.lookup_key == "pro_monthly"
    assert obj["items"].data[0].current_period_end == APRIL_17
    [completed] = verified(standin, "checkout.session.completed")
    assert (completed.data.object.subscription, completed.data.object.customer) == (sub.id, customer.id)
    assert (completed.data.object.metadata.user_id, completed.data.object.client_reference_id) == ("u-1", "u-1")
    assert created.request.idempotency_key is None  # made by the buyer at Checkout, not by an API call


def test_paying_on_the_checkout_page_for_an_existing_customer(client, api, standin, receiver, plan):
    customer = payments.ensure_customer(client, user_id="u-2", email="bob@example.com")
    session = payments.create_subscription_checkout(
        client, user_id="u-2", email="ignored@example.com", customer_id=customer.id,
        price_id=plan["yearly"].id, success_url="https://shop.example/welcome?session={CHECKOUT_SESSION_ID}",
        cancel_url="https://shop.example/pricing")
    assert (session.customer, session.customer_email) == (customer.id, None)
    page = httpx.get(session.url)
    assert page.status_code == 200
    assert "150.00 GBP / year" in page.text and 'id="pay"' in page.text and 'id="pay-late"' not in page.text

    paid = httpx.post(f"{api}/checkout/{session.id}/pay")
    assert (paid.status_code, paid.headers["Location"]) == (303, f"https://shop.example/welcome?session={session.id}")
    again = httpx.post(f"{api}/checkout/{session.id}/pay")
    assert again.status_code == 303  # a second click goes where the first went; nothing new is made
    assert receiver.types() == ["customer.created", "payment_method.attached", "customer.subscription.created",
                                "checkout.session.completed"]  # customer.created: ensure_customer's
    [sub] = standin.subscriptions.values()
    assert sub["customer"] == customer.id
    assert sub["items"]["data"][0]["current_period_end"] == utc(2031, 3, 17, 17, 46, 40)
    assert httpx.post(f"{api}/checkout/{session.id}/pay-late").status_code == 303
    assert len(standin.subscriptions) == 1


def test_a_subscription_session_is_not_paid_late_or_asynchronously(client, standin, plan):
    session = payments.create_subscription_checkout(
        client, user_id="u-1", email=None, customer_id=None, price_id=plan["monthly"].id,
        success_url="https://shop.example/ok", cancel_url="https://shop.example/no")
    for kwargs in ({"late": True}, {"async_payment": True}):
        with pytest.raises(StripeError):
            standin.pay(session.id, **kwargs)
    standin.expire(session.id)
    with pytest.raises(StripeError):
        standin.pay(session.id)
    assert standin.subscriptions == {}


def test_unknown_and_one_time_prices_are_refused_as_stripe_refuses_them(client, plan):
    base = {"success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/no"}
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.checkout.sessions.create({**base, "mode": "subscription",
                                            "line_items": [{"price": "price_nope", "quantity": 1}]})
    assert (unknown.value.http_status, unknown.value.code, unknown.value.param) == (
        400, "resource_missing", "line_items[0][price]")

    one_time = client.v1.prices.create({"product": plan["product"].id, "currency": "gbp", "unit_amount": 500})
    with pytest.raises(stripe.InvalidRequestError) as not_recurring:
        client.v1.checkout.sessions.create({**base, "mode": "subscription",
                                            "line_items": [{"price": one_time.id, "quantity": 1}]})
    assert not_recurring.value.http_status == 400
    assert "at least one recurring price in `subscription` mode" in not_recurring.value.user_message

    with pytest.raises(stripe.InvalidRequestError) as recurring_in_payment:
        client.v1.checkout.sessions.create({**base, "mode": "payment",
                                            "line_items": [{"price": plan["monthly"].id, "quantity": 1}]})
    assert "You specified `payment` mode but passed a recurring price" in recurring_in_payment.value.user_message

    # A one-time price by id is fine in payment mode, and beside the recurring one in subscription mode.
    assert client.v1.checkout.sessions.create({**base, "mode": "payment", "line_items": [
        {"price": one_time.id, "quantity": 2}]}).amount_total == 1000
    mixed = client.v1.checkout.sessions.create({**base, "mode": "subscription", "line_items": [
        {"price": plan["monthly"].id, "quantity": 1}, {"price": one_time.id, "quantity": 1}]})
    assert mixed.amount_total == 2000


def test_mode_specific_parameters_are_refused_in_the_other_mode(client, plan):
    base = {"success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/no"}
    payment_items = [{"price_data": {"currency": "gbp", "unit_amount": 500, "product_data": {"name": "X"}},
                      "quantity": 1}]
    for params, param in [
        ({"mode": "payment", "line_items": payment_items, "subscription_data": {"metadata": {"a": "b"}}},
         "subscription_data"),
        ({"mode": "subscription", "line_items": [{"price": plan["monthly"].id, "quantity": 1}],
          "payment_intent_data": {"metadata": {"a": "b"}}}, "payment_intent_data"),
        ({"mode": "subscription", "line_items": [{"price": plan["monthly"].id, "quantity": 1}],
          "subscription_data": {"trial_period_days": 7}}, "subscription_data[trial_period_days]"),
        ({"mode": "subscription", "line_items": [{"price": plan["monthly"].id, "quantity": 1}],
          "subscription_data": {"colour": "teal"}}, "subscription_data[colour]"),
    ]:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.checkout.sessions.create({**base, **params})
        assert (refused.value.http_status, refused.value.param) == (400, param)


def test_recurring_price_data_makes_an_inline_subscription_price(client, standin):
    session = client.v1.checkout.sessions.create({
        "mode": "subscription", "customer_email": "cat@example.com",
        "line_items": [{"price_data": {"currency": "gbp", "unit_amount": 400, "product_data": {"name": "Weekly"},
                                       "recurring": {"interval": "week", "interval_count": 2}}, "quantity": 3}],
        "subscription_data": {"metadata": {"user_id": "u-3"}, "description": "Fortnightly clean"},
        "success_url": "https://shop.example/ok"})
    sub_id = standin.pay(session.id)["subscription"]
    sub = standin.subscriptions[sub_id]
    [item] = sub["items"]["data"]
    assert (item["quantity"], item["price"]["active"], item["price"]["recurring"]["interval_count"]) == (3, False, 2)
    assert item["current_period_end"] == NOW + 14 * 86400
    assert (sub["metadata"], sub["description"]) == ({"user_id": "u-3"}, "Fortnightly clean")


# ------------------------------------------------------------ subscriptions

def test_cancel_at_period_end_then_the_period_ends(client, standin, receiver, plan):
    _, sub_id = subscribe(client, standin, plan["monthly"].id)
    standin.advance(86400)

    cancelling = payments.cancel_subscription_at_period_end(client, sub_id)
    assert (cancelling.status, cancelling.cancel_at_period_end) == ("active", True)
    assert (cancelling.cancel_at, cancelling.canceled_at) == (APRIL_17, NOW + 86400)
    assert cancelling.cancellation_details.reason == "cancellation_requested"
    [updated] = verified(standin, "customer.subscription.updated")
    assert updated.data.object.cancel_at_period_end is True
    assert updated.data.previous_attributes.to_dict() == {
        "cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None}}
    again = payments.cancel_subscription_at_period_end(client, sub_id)  # no change, no event
    assert again.cancel_at_period_end is True and len(receiver.of_type("customer.subscription.updated")) == 1
    with pytest.raises(StripeError):
        standin.renew(sub_id)  # it does not renew any more

    ended = standin.end_period(sub_id)
    assert (ended["status"], ended["ended_at"], ended["canceled_at"]) == ("canceled", APRIL_17, NOW + 86400)
    [deleted] = verified(standin, "customer.subscription.deleted")
    assert (deleted.data.object.id, deleted.data.object.status, deleted.data.object.metadata.user_id) == (
        sub_id, "canceled", "u-1")
    assert receiver.types()[-2:] == ["customer.subscription.updated", "customer.subscription.deleted"]
    assert receiver.rejected == []

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.subscriptions.update(sub_id, {"cancel_at_period_end": False})
    assert refused.value.user_message == (
        "A canceled subscription can only update its cancellation_details and metadata.")
    assert client.v1.subscriptions.update(sub_id, {"metadata": {"note": "x"}}).metadata.to_dict() == {
        "user_id": "u-1", "note": "x"}


def test_undoing_cancel_at_period_end_before_the_end(client, standin, plan):
    _, sub_id = subscribe(client, standin, plan["monthly"].id)
    payments.cancel_subscription_at_period_end(client, sub_id)
    kept = client.v1.subscriptions.update(sub_id, {"cancel_at_period_end": False})
    assert (kept.cancel_at_period_end, kept.cancel_at, kept.canceled_at) == (False, None, None)
    assert kept.cancellation_details.reason is None
    with pytest.raises(StripeError):
        standin.end_period(sub_id)
    assert standin.renew(sub_id)["status"] == "active"


def test_renewals_move_the_period_on_and_a_failed_one_makes_it_past_due(client, standin, receiver, plan):
    standin.set_clock(lambda: utc(2030, 1, 31, 12))
    _, sub_id = subscribe(client, standin, plan["monthly"].id)

    renewed = standin.renew(sub_id)
    item = renewed["items"]["data"][0]
    # Billed on the anchor's day of the month, or the month's last day when it is shorter.
    assert (item["current_period_start"], item["current_period_end"]) == (utc(2030, 2, 28, 12), utc(2030, 3, 31, 12))
    [event] = verified(standin, "customer.subscription.updated")
    assert event.data.object.status == "active"
    assert event.data.object["items"].data[0].current_period_end == utc(2030, 3, 31, 12)
    assert event.data.previous_attributes["items"].data[0].current_period_end == utc(2030, 2, 28, 12)

    failed = standin.fail_renewal(sub_id)
    assert failed["status"] == "past_due"
    assert failed["items"]["data"][0]["current_period_end"] == utc(2030, 4, 30, 12)
    assert receiver.events[-1]["data"]["previous_attributes"]["status"] == "active"
    assert payments.retrieve_subscription(client, sub_id).status == "past_due"

    recovered = standin.renew(sub_id)  # the retry is paid: active again, same period
    assert recovered["status"] == "active"
    assert recovered["items"]["data"][0]["current_period_end"] == utc(2030, 4, 30, 12)
    assert receiver.events[-1]["data"]["previous_attributes"] == {"status": "past_due"}
    assert receiver.types().count("customer.subscription.updated") == 3 and receiver.rejected == []


def test_cancelling_now_deletes_the_subscription(client, standin, receiver, plan):
    _, sub_id = subscribe(client, standin, plan["monthly"].id)
    standin.advance(3600)
    cancelled = client.v1.subscriptions.cancel(
        sub_id, {"cancellation_details": {"comment": "moving away", "feedback": "unused"}})
    assert (cancelled.status, cancelled.canceled_at, cancelled.ended_at) == ("canceled", NOW + 3600, NOW + 3600)
    assert cancelled.cancellation_details.to_dict() == {
        "comment": "moving away", "feedback": "unused", "reason": "cancellation_requested"}
    [deleted] = verified(standin, "customer.subscription.deleted")
    assert deleted.data.object.status == "canceled" and deleted.request.idempotency_key is None
    assert deleted.request.id.startswith("req_")
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.cancel(sub_id)
    with pytest.raises(StripeError):
        standin.renew(sub_id)

    customer = cancelled.customer
    assert client.v1.subscriptions.list({"customer": customer}).data == []
    assert [s.id for s in client.v1.subscriptions.list({"customer": customer, "status": "all"}).data] == [sub_id]


def test_changing_the_items_price_is_an_update(client, standin, plan):
    _, sub_id = subscribe(client, standin, plan["monthly"].id)
    sub = payments.retrieve_subscription(client, sub_id)
    item_id = sub["items"].data[0].id
    premium = client.v1.prices.create({"product_data": {"name": "Bookwell Premium"}, "currency": "gbp",
                                       "unit_amount": 2500, "recurring": {"interval": "month"},
                                       "lookup_key": "premium_monthly"})

    changed = client.v1.subscriptions.update(sub_id, {"items": [{"id": item_id, "price": premium.id}],
                                                      "proration_behavior": "none"})
    [item] = changed["items"].data
    assert (item.id, item.price.id, item.price.lookup_key, item.plan.amount) == (
        item_id, premium.id, "premium_monthly", 2500)
    assert item.current_period_end == APRIL_17  # same interval: the period does not move
    [event] = verified(standin, "customer.subscription.updated")
    assert event.data.previous_attributes["items"].data[0].price.id == plan["monthly"].id

    one_time = client.v1.prices.create({"product": plan["product"].id, "currency": "gbp", "unit_amount": 100})
    for entry, param, fragment in [
        ({"id": item_id, "price": one_time.id}, "items[0][price]", "type=one_time"),
        ({"id": item_id, "price": "price_nope"}, "items[0][price]", "No such price"),
        ({"id": "si_nope", "price": premium.id}, "items[0][id]", "No such subscription_item"),
    ]:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.subscriptions.update(sub_id, {"items": [entry]})
        assert refused.value.param == param and fragment in refused.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.subscriptions.update(sub_id, {"colour": "teal"})
    assert unknown.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.subscriptions.retrieve("sub_nope")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


def test_the_session_expands_to_its_subscription_and_the_price_to_its_product(client, standin, plan):
    session_id, sub_id = subscribe(client, standin, plan["monthly"].id)
    session = client.v1.checkout.sessions.retrieve(
        session_id, {"expand": ["subscription.items.data.price.product"]})
    assert session.subscription.id == sub_id
    assert session.subscription["items"].data[0].price.product.name == "Bookwell Pro"
    assert re.fullmatch(r"sub_test_[A-Za-z0-9]{24}", sub_id)
