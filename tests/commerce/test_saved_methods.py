"""Saved payment methods over real HTTP: a card saved through a Stripe SetupIntent, a PayPal wallet
through the vault; listed and removed by their owner only; reused at checkout (charged at once); a
decline cancels the order with nothing held. Only provider ids and what a list shows are stored."""

from __future__ import annotations

import httpx
import pytest
import stripe

from shared.platform.db import Caller
from tests.support import ticketing as tk
from tests.support.http import ORIGIN, buy, checkout_body
from tests.support.pg import call


def methods(stack, user, payload: dict | None = None) -> httpx.Response:
    url = f"{stack.functions_url}/payment-methods"
    if payload is None:
        return httpx.get(url, headers=user.headers, timeout=30)
    return httpx.post(url, json=payload, headers=user.headers, timeout=30)


def save_paypal_wallet(stack, user) -> dict:
    setup = methods(stack, user, {"action": "setup", "provider": "paypal", "return_url": f"{ORIGIN}/wallet/saved",
                                  "cancel_url": f"{ORIGIN}/wallet"})
    assert setup.status_code == 200, setup.text
    token = setup.json()["setup_token_id"]
    stack.paypal.approve_setup_token(token)
    saved = methods(stack, user, {"action": "save", "provider": "paypal", "setup_token_id": token})
    assert saved.status_code == 200, saved.text
    return saved.json()


def save_stripe_card(stack, user, card: str = "pm_card_visa") -> dict:
    setup = methods(stack, user, {"action": "setup", "provider": "stripe"})
    assert setup.status_code == 200, setup.text
    intent = setup.json()
    # What Stripe.js does in the buyer's browser with the client secret: confirm with the card entered.
    from shared.platform.config import settings
    client = stripe.StripeClient(settings().stripe.secret_key, base_addresses={"api": f"{stack.base_url}/stripe"})
    client.v1.setup_intents.confirm(intent["setup_intent_id"], params={"payment_method": card})
    saved = methods(stack, user, {"action": "save", "provider": "stripe", "setup_intent_id": intent["setup_intent_id"]})
    assert saved.status_code == 200, saved.text
    return saved.json()


@pytest.fixture
def buyer(db):
    return db.user(confirmed=True)


def test_a_paypal_wallet_is_saved_listed_reused_at_checkout_and_removed_by_its_owner_only(stack, db, sale, buyer):
    event, tier = sale
    wallet = save_paypal_wallet(stack, buyer)
    assert wallet["provider"] == "paypal" and wallet["wallet_email"] and wallet["last4"] is None
    listed = methods(stack, buyer).json()["methods"]
    assert [m["id"] for m in listed] == [wallet["id"]]
    stored = db.one("select * from public.saved_payment_methods where id = %s", (wallet["id"],))
    assert stored["provider_method_id"] in stack.paypal.payment_tokens

    r = buy(stack.functions_url, checkout_body(event, [(tier, 2)], saved_method_id=wallet["id"],
                                               buyer_email=buyer.email), headers=buyer.headers)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["status"], answer["payment"], answer["checkout_url"]) == ("paid", "fulfilled", None)
    assert db.value("select provider from public.payments where order_id = %s", (answer["order_id"],)) == "paypal"

    someone = db.user(confirmed=True)
    assert methods(stack, someone).json()["methods"] == []
    stolen = buy(stack.functions_url, checkout_body(event, [(tier, 1)], saved_method_id=wallet["id"]),
                 headers=someone.headers)
    assert (stolen.status_code, stolen.json()["error"]["code"]) == (404, "method_not_found")
    anon = buy(stack.functions_url, checkout_body(event, [(tier, 1)], saved_method_id=wallet["id"]))
    assert (anon.status_code, anon.json()["error"]["code"]) == (401, "not_authenticated")
    assert tk.seats_taken(db, tier["id"]) == 2

    refused = methods(stack, someone, {"action": "remove", "id": wallet["id"]})
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "method_not_found")
    assert methods(stack, buyer, {"action": "remove", "id": wallet["id"]}).status_code == 200
    assert methods(stack, buyer).json()["methods"] == []
    assert stored["provider_method_id"] not in stack.paypal.payment_tokens


def test_a_stripe_card_is_saved_from_a_confirmed_setup_intent_and_charged_off_session(stack, db, sale, buyer):
    event, tier = sale
    card = save_stripe_card(stack, buyer)
    assert (card["provider"], card["brand"], card["last4"]) == ("stripe", "visa", "4242")
    columns = {r["column_name"] for r in db.sql(
        "select column_name from information_schema.columns where table_name = 'saved_payment_methods'")}
    assert not columns & {"number", "card_number", "cvc", "pan"}

    r = buy(stack.functions_url, checkout_body(event, [(tier, 1)], saved_method_id=card["id"],
                                               buyer_email=buyer.email), headers=buyer.headers)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["status"], answer["payment"]) == ("paid", "fulfilled")
    payment = db.one("select provider, provider_payment_id, amount_minor from public.payments where order_id = %s",
                     (answer["order_id"],))
    assert payment["provider"] == "stripe" and payment["amount_minor"] == 2500
    assert payment["provider_payment_id"].startswith("pi_")


def test_a_declined_saved_card_cancels_the_order_and_holds_nothing(stack, db, sale, buyer):
    event, tier = sale
    card = save_stripe_card(stack, buyer, "pm_card_chargeCustomerFail")  # saves, then every charge fails
    before = tk.seats_taken(db, tier["id"])
    r = buy(stack.functions_url, checkout_body(event, [(tier, 3)], saved_method_id=card["id"],
                                               buyer_email=buyer.email), headers=buyer.headers)
    assert (r.status_code, r.json()["error"]["code"]) == (402, "card_declined"), r.text
    assert tk.seats_taken(db, tier["id"]) == before
    assert db.value("select status from public.orders where buyer_user_id = %s order by created_at desc limit 1",
                    (buyer.id,)) == "cancelled"


def test_a_setup_confirmed_for_someone_else_is_not_saved(stack, db, buyer):
    other = db.user(confirmed=True)
    setup = methods(stack, other, {"action": "setup", "provider": "stripe"}).json()
    from shared.platform.config import settings
    client = stripe.StripeClient(settings().stripe.secret_key, base_addresses={"api": f"{stack.base_url}/stripe"})
    client.v1.setup_intents.confirm(setup["setup_intent_id"], params={"payment_method": "pm_card_visa"})
    methods(stack, buyer, {"action": "setup", "provider": "stripe"})  # the buyer has a customer of their own
    r = methods(stack, buyer, {"action": "save", "provider": "stripe", "setup_intent_id": setup["setup_intent_id"]})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "setup_not_confirmed")
    assert db.value("select count(*) from public.saved_payment_methods where user_id = %s", (buyer.id,)) == 0


def test_only_the_owner_reads_saved_methods_and_nobody_writes_them_directly(stack, db, buyer):
    wallet = save_paypal_wallet(stack, buyer)
    other = db.user(confirmed=True)
    assert call(db, buyer.caller, "select count(*) from public.saved_payment_methods") == 1
    assert call(db, other.caller, "select count(*) from public.saved_payment_methods where id = %s", wallet["id"]) == 0
    assert call(db, buyer.caller, "select count(*) from public.payment_customers") == 1
    for who in (Caller.anon(), buyer.caller):
        for statement in ("insert into public.saved_payment_methods (user_id, provider, provider_method_id)"
                          " values (%s, 'stripe', 'pm_forged')",
                          "delete from public.saved_payment_methods where user_id = %s",
                          "update public.saved_payment_methods set provider_method_id = 'x' where user_id = %s"):
            result = call(db, who, statement, buyer.id)
            assert getattr(result, "sqlstate", None) == "42501", (who, statement, result)
    assert getattr(call(db, Caller.anon(), "select count(*) from public.saved_payment_methods"), "sqlstate",
                   None) == "42501"
    assert db.value("select count(*) from public.saved_payment_methods where user_id = %s", (buyer.id,)) == 1
    assert methods(stack, other).json()["methods"] == []
    unsigned = httpx.get(f"{stack.functions_url}/payment-methods", timeout=30)
    assert unsigned.status_code == 401
