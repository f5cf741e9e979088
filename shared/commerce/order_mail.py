"""The emails about an order's money that every kind of order sends: a refund, a late payment refunded,
a dispute (queued by migrations/*_commerce_orders.sql for any order).

What the order is for is the area's business: each area registers, with
@describer(kind), how its orders read in these emails ("2 tickets for Spring
Gala", "Regular clean, Tue 8 Dec 2026, 09:00-11:00 GMT"). Nothing here names
an area, and an order of a kind nobody described is still told about in
plain terms (its number and amount), never as "None".
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from shared.platform.formatting import money
from shared.providers.mail import Email, layout
from shared.comms.notifications import renderer


@dataclass(frozen=True)
class OrderView:
    """An order as these emails speak of it."""

    number: str
    status: str
    total_minor: int
    currency: str
    what: str             # "Spring Gala" / "Regular clean, Tue 8 Dec 2026, 09:00-11:00 GMT"
    goods: str            # "tickets" / "appointments": what the money bought
    void_note: str        # said when the whole order is refunded
    kept_note: str        # said when part of it is
    lost_reason: str      # why a late payment found nothing left: "the tickets were sold"


Describer = Callable[[psycopg.Cursor, str], OrderView]
DESCRIBERS: dict[str, Describer] = {}


def describer(kind: str) -> Callable[[Describer], Describer]:
    """Register how an area's orders (orders.kind = kind) read in the money emails."""
    def register(fn: Describer) -> Describer:
        DESCRIBERS[kind] = fn
        return fn

    return register


def view(cur: psycopg.Cursor, order_id: str) -> OrderView:
    cur.execute("select kind::text as kind, number, status::text as status, total_minor, currency"
                " from public.orders where id = %s", (order_id,))
    order = cur.fetchone()
    if order["kind"] in DESCRIBERS:
        return DESCRIBERS[order["kind"]](cur, order_id)
    return OrderView(order["number"], order["status"], order["total_minor"], order["currency"],
                     what=f"order {order['number']}", goods="order", void_note="The order is cancelled.",
                     kept_note="The rest of the order stands.", lost_reason="what you ordered was taken")


def _email(row: dict, title: str, heading: str, paragraphs: list[str]) -> Email:
    body = f'<h1 style="margin:0 0 12px;font-size:22px">{html.escape(heading)}</h1>' + "".join(
        f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return Email(row["recipient"], title, layout(title, body), "\n\n".join([heading, *paragraphs]))


@renderer("order_refunded")
def render_refund(cur: psycopg.Cursor, row: dict) -> Email:
    order = view(cur, row["payload"]["order_id"])
    cur.execute("select amount_minor, currency from public.refunds where id = %s", (row["payload"]["refund_id"],))
    refund = cur.fetchone()
    amount = money(refund["amount_minor"], refund["currency"])
    title = f"Refund for order {order.number}"
    note = order.void_note if order.status == "refunded" else order.kept_note
    return _email(row, title, title, [
        f"We are refunding {amount} for {order.what}. It usually reaches your account within 5-10 days.", note])


@renderer("late_payment_refunded")
def render_late_payment(cur: psycopg.Cursor, row: dict) -> Email:
    order = view(cur, row["payload"]["order_id"])
    cur.execute("select close_reason from public.orders where number = %s", (order.number,))
    lost = ("the promo code you used reached its limit"
            if cur.fetchone()["close_reason"] == "late_payment_promo_exhausted" else order.lost_reason)
    why = (f"Your payment arrived after your reservation had run out, and {lost} in the meantime. "
           "The full amount is on its way back to you.")
    return _email(row, f"Your payment for {order.what} is being refunded", f"Sorry, those {order.goods} are gone", [
        why, f"Refund: {money(order.total_minor, order.currency)} for order {order.number}. "
             "It usually reaches your account within 5-10 days."])


@renderer("dispute_opened")
def render_dispute(cur: psycopg.Cursor, row: dict) -> Email:
    order = view(cur, row["payload"]["order_id"])
    title = f"Payment dispute on order {order.number}"
    reason = row["payload"].get("reason") or "not given"
    return _email(row, title, title, [
        f"The buyer's bank has opened a dispute ({reason}) on {money(order.total_minor, order.currency)} "
        f"for {order.what}. Respond in your Stripe dashboard before the deadline."])
