"""The emails about an order's money that every kind of order sends: a refund, a late payment refunded,
a dispute (queued by routines/commerce/orders.sql for any order). They are message kinds whose wording
an org may change (shared/comms/templates.py).

What the order is for is the area's business: each area registers, with
@describer(kind), how its orders read in these emails ("2 tickets for Spring
Gala", "Regular clean, Tue 8 Dec 2026, 09:00-11:00 GMT"). Nothing here names
an area, and an order of a kind nobody described is still told about in
plain terms (its number and amount), never as "None".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from shared.comms import templates
from shared.platform.formatting import money


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


_ORDER = {"number": "the order number", "what": "what the order is for, e.g. 2 tickets for Spring Gala",
          "goods": "what the money bought, e.g. tickets", "total": "the order's total, e.g. £45.00"}
_SAMPLE = {"number": "BW-7K3M9QXA", "what": "Spring Gala", "goods": "tickets", "total": "£45.00",
           "amount": "£20.00", "note": "The rest of the order stands.", "lost": "the tickets were sold",
           "reason": "fraudulent"}


def _order(cur: psycopg.Cursor, order_id: str) -> tuple[dict, OrderView]:
    order = view(cur, order_id)
    return {"number": order.number, "what": order.what, "goods": order.goods,
            "total": money(order.total_minor, order.currency)}, order


def _refund(cur: psycopg.Cursor, row: dict) -> dict:
    variables, order = _order(cur, row["payload"]["order_id"])
    cur.execute("select amount_minor, currency from public.refunds where id = %s", (row["payload"]["refund_id"],))
    refund = cur.fetchone()
    return {**variables, "amount": money(refund["amount_minor"], refund["currency"]),
            "note": order.void_note if order.status == "refunded" else order.kept_note}


def _late_payment(cur: psycopg.Cursor, row: dict) -> dict:
    variables, order = _order(cur, row["payload"]["order_id"])
    cur.execute("select close_reason from public.orders where number = %s", (order.number,))
    lost = ("the promo code you used reached its limit"
            if cur.fetchone()["close_reason"] == "late_payment_promo_exhausted" else order.lost_reason)
    return {**variables, "lost": lost}


def _dispute(cur: psycopg.Cursor, row: dict) -> dict:
    variables, _ = _order(cur, row["payload"]["order_id"])
    return {**variables, "reason": row["payload"].get("reason") or "not given"}


def _kind(name: str, variables: dict[str, str], context, email: dict[str, str]) -> None:
    templates.register(templates.Kind(name=name, purpose="transactional", variables=variables, sample=_SAMPLE,
                                      context=context, defaults={"email": email}))


_kind("order_refunded", {**_ORDER, "amount": "the amount refunded",
                         "note": "whether the order stands or is cancelled, as its area says it"}, _refund,
      templates.heading_and_paragraphs(
          "Refund for order {{ number }}",
          "We are refunding {{ amount }} for {{ what }}. It usually reaches your account within 5-10 days.",
          "{{ note }}"))

_kind("late_payment_refunded", {**_ORDER, "lost": "why nothing was left, e.g. the tickets were sold"},
      _late_payment,
      templates.heading_and_paragraphs(
          "Your payment for {{ what }} is being refunded",
          "Your payment arrived after your reservation had run out, and {{ lost }} in the meantime. "
          "The full amount is on its way back to you.",
          "Refund: {{ total }} for order {{ number }}. It usually reaches your account within 5-10 days.",
          heading="Sorry, those {{ goods }} are gone"))

_kind("dispute_opened", {**_ORDER, "reason": "the reason the bank gave"}, _dispute,
      templates.heading_and_paragraphs(
          "Payment dispute on order {{ number }}",
          "The buyer's bank has opened a dispute ({{ reason }}) on {{ total }} for {{ what }}. "
          "Respond in your Stripe dashboard before the deadline."))
