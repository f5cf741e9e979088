"""Saved payment methods: provider ids only, never card numbers; listed and removed by their owner only;
reused at checkout.

Saving is two steps, as the providers want it, so the card or wallet is entered only on the provider's
own page:
- Stripe: `setup` creates (once) the user's Stripe Customer and a SetupIntent, whose client secret the
  page confirms with Stripe.js; `save` {setup_intent_id} then reads the SetupIntent back from Stripe and
  keeps its PaymentMethod only if it succeeded for this user's customer.
- PayPal: `setup` creates a vault setup token and answers its approval URL; after the buyer approves,
  `save` {setup_token_id} turns it into a payment token at PayPal and keeps that.
The row keeps the provider's id and what a list shows (brand, last four, expiry, PayPal email).

`remove` detaches the method at the provider first, then forgets it. At checkout a signed-in buyer may
name one of their own methods (`saved_method_id`): the order is charged at once (Stripe off-session, or a
PayPal capture with the vault token) and recorded like any payment; a decline cancels the order (nothing
stays held) and answers 402.

Error codes: method_not_found, method_taken, setup_not_confirmed, card_declined, payment_provider_unavailable,
paypal_disabled, not_authenticated.
"""

from __future__ import annotations

import uuid
from typing import Any

import stripe

from shared.commerce import paypal_checkout
from shared.platform import db, errors, log
from shared.platform.config import Settings
from shared.providers import payments, paypal


def _unavailable(exc: Exception) -> errors.DomainError:
    return errors.bad_gateway("payment_provider_unavailable", "The payment provider is not answering; try again",
                              {"provider_error": type(exc).__name__})


def _customer(caller: db.Caller, provider: str) -> str | None:
    with db.transaction(caller) as cur:
        cur.execute("select private.payment_customer(%s) as c", (provider,))
        return cur.fetchone()["c"]


def _keep_customer(user_id: str, provider: str, customer_id: str) -> str:
    with db.as_service() as cur:
        cur.execute("select private.record_payment_customer(%s, %s, %s) as c", (user_id, provider, customer_id))
        return cur.fetchone()["c"]


def _row(saved: dict) -> dict:
    return {k: saved[k] for k in ("id", "provider", "brand", "last4", "exp_month", "exp_year", "wallet_email",
                                  "created_at")}


def listing(caller: db.Caller) -> list[dict]:
    with db.transaction(caller) as cur:
        cur.execute("select id, provider, brand, last4, exp_month, exp_year, wallet_email, created_at"
                    " from public.saved_payment_methods order by created_at desc")
        return cur.fetchall()


def setup(caller: db.Caller, provider: str, *, settings: Settings, client: stripe.StripeClient,
          return_url: str | None, cancel_url: str | None) -> dict:
    user_id = caller.user_id
    if provider == "stripe":
        try:
            customer = _customer(caller, "stripe") or _keep_customer(
                user_id, "stripe", payments.ensure_customer(client, user_id=user_id, email=caller.email or "").id)
            intent = payments.create_setup_intent(client, customer_id=customer, user_id=user_id)
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        return {"provider": "stripe", "setup_intent_id": intent.id, "client_secret": intent.client_secret}
    paypal_checkout.require_enabled(settings)
    try:
        token_id, approve_url = paypal.create_setup_token(
            paypal.paypal_client(settings), return_url=return_url, cancel_url=cancel_url,
            request_id=f"setup:{uuid.uuid4()}",  # each setup is a new token; nothing to deduplicate
            customer_id=_customer(caller, "paypal"))
    except paypal.PaypalError as exc:
        raise _unavailable(exc) from exc
    return {"provider": "paypal", "setup_token_id": token_id, "approve_url": approve_url}


def save(caller: db.Caller, provider: str, reference: str, *, settings: Settings, client: stripe.StripeClient) -> dict:
    user_id = caller.user_id
    if provider == "stripe":
        customer = _customer(caller, "stripe")
        try:
            intent = payments.retrieve_setup_intent(client, reference)
            if customer is None or intent.customer != customer or intent.status != "succeeded":
                raise errors.conflict("setup_not_confirmed", "This card was not saved for you at Stripe")
            method = payments.retrieve_payment_method(client, intent.payment_method)
        except stripe.InvalidRequestError as exc:
            raise errors.not_found("setup_not_confirmed", "Stripe does not know this setup") from exc
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        card = method.card
        saved = _save(user_id, "stripe", method.id, brand=card.brand, last4=card.last4, exp_month=card.exp_month,
                      exp_year=card.exp_year)
    else:
        paypal_checkout.require_enabled(settings)
        try:
            token = paypal.save_payment_token(paypal.paypal_client(settings), reference,
                                              request_id=f"vault:{user_id}:{reference}")
        except paypal.PaypalRefused as exc:
            raise errors.conflict("setup_not_confirmed", "PayPal has not approved saving this wallet",
                                  {"issue": exc.issue}) from exc
        except paypal.PaypalError as exc:
            raise _unavailable(exc) from exc
        if token.get("customer_id"):
            _keep_customer(user_id, "paypal", token["customer_id"])
        saved = _save(user_id, "paypal", token["payment_token_id"], wallet_email=token.get("email"))
    return _row(saved)


def _save(user_id: str, provider: str, method_id: str, **shown: Any) -> dict:
    with db.as_service() as cur:
        cur.execute("select * from private.save_payment_method(%s, %s, %s, %s, %s, %s, %s, %s)",
                    (user_id, provider, method_id, shown.get("brand"), shown.get("last4"), shown.get("exp_month"),
                     shown.get("exp_year"), shown.get("wallet_email")))
        return cur.fetchone()


def own(caller: db.Caller, method_id: str) -> dict:
    with db.transaction(caller) as cur:
        cur.execute("select private.own_payment_method(%s) as m", (method_id,))
        return cur.fetchone()["m"]


def remove(caller: db.Caller, method_id: str, *, settings: Settings, client: stripe.StripeClient) -> dict:
    method = own(caller, method_id)  # 404 for anyone else's
    try:
        if method["provider"] == "stripe":
            payments.detach_payment_method(client, method["provider_method_id"])
        else:
            paypal.delete_payment_token(paypal.paypal_client(settings), method["provider_method_id"])
    except (stripe.InvalidRequestError, paypal.PaypalRefused) as exc:
        log.event("saved_method_gone_at_provider", method_id=method_id, error=type(exc).__name__)
    except (stripe.StripeError, paypal.PaypalError) as exc:
        raise _unavailable(exc) from exc
    with db.transaction(caller) as cur:
        cur.execute("select private.forget_payment_method(%s)", (method_id,))
    return {"removed": method_id}


def charge(order: dict, method: dict, *, settings: Settings, client: stripe.StripeClient) -> str:
    """Charge a placed order with a saved method now; returns the recorded outcome. A decline or an outage
    cancels the unpaid order (its goods go back) and raises 402 card_declined / 502."""
    def give_up(reason: str) -> None:
        with db.as_service() as cur:
            cur.execute("select private.close_unpaid_order(%s, 'cancelled', %s)", (order["order_id"], reason))

    try:
        if method["provider"] == "stripe":
            intent = payments.charge_saved_card(client, order=order, customer_id=method["customer_id"],
                                                payment_method_id=method["provider_method_id"])
            with db.as_service() as cur:
                cur.execute("select private.attach_payment_intent(%s, %s)", (order["order_id"], intent.id))
                cur.execute("select private.record_payment(%s, 'stripe', %s, %s, %s) as r",
                            (order["order_id"], intent.id, intent.amount_received or intent.amount, intent.currency))
                return cur.fetchone()["r"]
        paypal_checkout.require_enabled(settings)
        captured = paypal.charge_saved_wallet(paypal.paypal_client(settings), order,
                                              payment_token_id=method["provider_method_id"])
        with db.as_service() as cur:
            cur.execute("select private.attach_paypal_order(%s, %s, null, null)",
                        (order["order_id"], captured["paypal_order_id"]))
            cur.execute("select private.record_paypal_capture(%s, %s, %s, %s) as r",
                        (captured["paypal_order_id"], captured["capture_id"], captured["amount_minor"],
                         captured["currency"]))
            return cur.fetchone()["r"]["result"]
    except stripe.CardError as exc:
        give_up("card_declined")
        raise errors.DomainError(402, "card_declined", "The saved card was declined; choose another way to pay",
                                 {"decline_code": getattr(exc, "code", None)}) from exc
    except paypal.PaypalRefused as exc:
        give_up("card_declined")
        raise errors.DomainError(402, "card_declined", "PayPal declined the saved wallet; choose another way to pay",
                                 {"issue": exc.issue}) from exc
    except (stripe.StripeError, paypal.PaypalError) as exc:
        give_up("payment_provider_unavailable")
        raise _unavailable(exc) from exc
