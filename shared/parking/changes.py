"""Changing a parking booking and scanning it at the gates, with the payment of what that makes owed.

The rules are Postgres' (routines/parking/changes.sql, gates.sql): who may,
until when, what is refunded, whether the new days fit. Here, after the
change commits: refunds it queued are sent to the provider at once (the
refund job retries any that fail), and a charge it raised (a dearer
amendment, an overstay) gets a payment page (Stripe or PayPal, as asked), so
the customer can pay by link or at the exit. If the provider is down the change stands and the
charge stays payable (`pay`), since the money is owed either way.
"""

from __future__ import annotations

from typing import Any

import stripe

from shared.commerce import checkout, refunds
from shared.platform import db, errors, log
from shared.platform.config import Settings
from shared.providers import payments


def change(caller: db.Caller, action: str, *, booking_id: str | None, reference: str | None,
           tracking_token: str | None, entry: str | None = None, exit: str | None = None) -> dict:
    """cancel | amend | terms, as the caller (guest by reference + token, else by booking id).

    A wrong reference + token is answered null by Postgres, so that the throttle's count of it commits;
    it is refused here, after the transaction: 404 booking_not_found."""
    def work(cur) -> dict | None:
        cur.execute("select private.parking_change(%s, %s, %s, %s, %s, %s) as result",
                    (action, booking_id, reference, tracking_token, entry, exit))
        return cur.fetchone()["result"]

    result = db.run(caller, work)
    if result is None:
        raise errors.not_found("booking_not_found", "No such booking")
    return result


def gate(caller: db.Caller, *, lot_id: str, direction: str, code: str | None, plate: str | None) -> dict:
    with db.transaction(caller) as cur:
        cur.execute("select private.parking_gate(%s, %s, %s, %s) as result", (lot_id, direction, code, plate))
        return cur.fetchone()["result"]


def send_refunds(client: stripe.StripeClient, order_ids: list[str]) -> int:
    """Execute the pending refunds of these orders now; returns how many went through."""
    with db.as_service() as cur:
        cur.execute("select id from public.refunds where order_id = any(%s::uuid[]) and status = 'pending'"
                    " and provider_refund_id is null", (order_ids,))
        pending = [str(r["id"]) for r in cur.fetchall()]
    return sum(refunds.execute_pending(client, only=refund_id)["executed"] for refund_id in pending)


def booking_order_ids(booking_id: str) -> list[str]:
    with db.as_service() as cur:
        cur.execute("select order_id from public.parking_bookings where id = %s"
                    " union all select order_id from public.parking_charges where booking_id = %s",
                    (booking_id, booking_id))
        return [str(r["order_id"]) for r in cur.fetchall()]


def open_charge_payment(charge: dict[str, Any] | None, *, settings: Settings, client: stripe.StripeClient,
                        success_url: str, cancel_url: str, provider: str = "stripe") -> dict | None:
    """The charge with a checkout_url to pay it at the provider chosen (null, with payment_error, when the
    provider is down: the charge stays payable)."""
    if not charge:
        return None
    with db.as_service() as cur:
        cur.execute("select private.parking_order_summary(%s) as s", (charge["order_id"],))
        order = cur.fetchone()["s"]
    if order["status"] != "pending":
        return charge | {"checkout_url": None, "status": order["status"]}
    replacing = None
    if order.get("checkout_url"):
        session_id = _stripe_session(charge["order_id"])
        if session_id is None or provider == "paypal" or _still_open(client, session_id):
            return charge | {"checkout_url": order["checkout_url"], "status": "pending"}
        replacing = session_id  # Stripe expired the link (24 hours): the money is still owed, so a new one
    try:
        url = checkout.open_payment(order, provider=provider, success_url=success_url, cancel_url=cancel_url,
                                    settings=settings, client=client, close_on_failure=False, replacing=replacing)
    except errors.DomainError as exc:
        log.event("parking_charge_link_failed", order_id=str(charge["order_id"]), error=exc.code)
        return charge | {"checkout_url": None, "status": "pending", "payment_error": exc.code}
    return charge | {"checkout_url": url, "status": "pending"}


def _stripe_session(order_id: str) -> str | None:
    with db.as_service() as cur:
        cur.execute("select checkout_session_id from public.orders where id = %s", (order_id,))
        return cur.fetchone()["checkout_session_id"]


def _still_open(client: stripe.StripeClient, session_id: str) -> bool:
    """Whether a charge's Checkout Session can still be paid (when Stripe cannot say, assume it can)."""
    try:
        return payments.retrieve_checkout_session(client, session_id).status == "open"
    except stripe.StripeError:
        return True


def pay(number: str, tracking_token: str, *, settings: Settings, client: stripe.StripeClient, success_url: str,
        cancel_url: str, provider: str = "stripe") -> dict:
    """A link to pay a charge, for the holder of its order number and token."""
    with db.transaction(db.Caller.anon()) as cur:
        cur.execute("select private.authorize_guest(%s, %s) as order_id", (number, tracking_token))
        order_id = cur.fetchone()["order_id"]
    with db.as_service() as cur:
        cur.execute("select c.id, c.reason, c.amount_minor, o.id as order_id, o.number as order_number, o.currency"
                    " from public.parking_charges c join public.orders o on o.id = c.order_id where o.id = %s",
                    (order_id,))
        charge = cur.fetchone()
    if charge is None:
        raise errors.not_found("charge_not_found", "No such charge")
    charge = {"charge_id": str(charge["id"]), "reason": charge["reason"], "amount_minor": charge["amount_minor"],
              "order_id": str(charge["order_id"]), "order_number": charge["order_number"],
              "currency": charge["currency"]}
    opened = open_charge_payment(charge, settings=settings, client=client, success_url=success_url,
                                 cancel_url=cancel_url, provider=provider)
    if opened.get("payment_error"):
        raise errors.bad_gateway(opened["payment_error"], "The payment provider is not answering; please try again.")
    return opened
