"""The emails about an order's money that every kind of order sends: the receipt for a payment, a
refund, a late payment refunded, a dispute (queued by routines/commerce/orders.sql for any order). They are message kinds whose wording
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
from shared.platform.formatting import money, when


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
           "reason": "fraudulent", "org_name": "Riverside Arts", "buyer_name": "Casey Customer",
           "lines": [{"description": "General", "quantity": 2, "amount": "£50.00"}], "discount": "£5.00",
           "paid": "£45.00", "paid_at": "Tue 8 Dec 2026, 09:30 GMT", "method": "Card (Stripe)",
           "reference": "pi_3QxSample"}


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


def _receipt(cur: psycopg.Cursor, row: dict) -> dict:
    variables, _ = _order(cur, row["payload"]["order_id"])
    cur.execute("select p.provider, p.provider_payment_id, p.amount_minor, p.currency, p.created_at,"
                " x.buyer_name, x.discount_minor, g.name as org_name, g.timezone"
                " from public.payments p join public.orders x on x.id = p.order_id"
                " join public.organizations g on g.id = x.org_id where p.id = %s", (row["payload"]["payment_id"],))
    paid = cur.fetchone()
    cur.execute("select description, quantity, unit_price_minor * quantity as amount_minor from public.order_items"
                " where order_id = %s order by description, id", (row["payload"]["order_id"],))
    lines = [{"description": i["description"], "quantity": i["quantity"],  # before discount, shown on its own line
              "amount": money(i["amount_minor"], paid["currency"])} for i in cur.fetchall()]
    return {**variables, "org_name": paid["org_name"], "buyer_name": paid["buyer_name"], "lines": lines,
            "discount": money(paid["discount_minor"], paid["currency"]) if paid["discount_minor"] else "",
            "paid": money(paid["amount_minor"], paid["currency"]), "paid_at": when(paid["created_at"], paid["timezone"]),
            "method": PROVIDERS.get(paid["provider"], paid["provider"]), "reference": paid["provider_payment_id"]}


PROVIDERS = {"stripe": "Card (Stripe)", "paypal": "PayPal"}

RECEIPT_HTML = """<h1 style="margin:0 0 12px;font-size:22px">{{ subject }}</h1>
<p>Thank you, {{ buyer_name }}. {{ org_name }} received {{ paid }} for {{ what }}.</p>
<table role="presentation" width="100%" style="border-collapse:collapse;margin:12px 0">
{% for line in lines %}<tr><td style="padding:4px 0">{{ line.quantity }} × {{ line.description }}</td>
<td align="right" style="padding:4px 0">{{ line.amount }}</td></tr>
{% endfor %}{% if discount %}<tr><td style="padding:4px 0">Discount</td><td align="right">-{{ discount }}</td></tr>
{% endif %}<tr><td style="padding:8px 0;border-top:1px solid #e4e4e7;font-weight:600">Total</td>
<td align="right" style="padding:8px 0;border-top:1px solid #e4e4e7;font-weight:600">{{ total }}</td></tr>
</table>
<p style="color:#52525b">Paid {{ paid_at }} by {{ method }}, reference {{ reference }}.</p>"""

RECEIPT_TEXT = """{{ subject }}

Thank you, {{ buyer_name }}. {{ org_name }} received {{ paid }} for {{ what }}.

{% for line in lines %}{{ line.quantity }} x {{ line.description }}: {{ line.amount }}
{% endfor %}{% if discount %}Discount: -{{ discount }}
{% endif %}Total: {{ total }}

Paid {{ paid_at }} by {{ method }}, reference {{ reference }}."""


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

_kind("payment_receipt", {**_ORDER, "org_name": "who was paid", "buyer_name": "the buyer's name",
                          "lines": "the order's lines, each with description, quantity and amount",
                          "discount": "the order's discount, empty when none", "paid": "the amount of this payment",
                          "paid_at": "when it was paid, in the org's timezone", "method": "how, e.g. Card (Stripe)",
                          "reference": "the payment provider's reference"}, _receipt,
      {"subject": "Receipt for order {{ number }}", "html": RECEIPT_HTML, "text": RECEIPT_TEXT})
