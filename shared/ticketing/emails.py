"""Ticketing emails: the tickets (one inline QR per ticket), and how a ticket
order reads in the refund, late-payment and dispute emails every order kind
sends (shared/commerce/order_mail.py). A message kind an org may reword
(shared/comms/templates.py), its variables read at send time from the database, so a
resend shows the current truth. Mobile-friendly: one column, 600 px at most,
inline styles only, and a plain-text part."""

from __future__ import annotations

import psycopg

from shared.providers import qr
from shared.platform.formatting import money, when
from shared.comms import templates
from shared.comms.notifications import Skip
from shared.providers.mail import InlineImage
from shared.commerce.order_mail import OrderView, describer


def _order(cur: psycopg.Cursor, order_id: str) -> dict:
    cur.execute("select private.ticket_order_summary(%s) as s", (order_id,))
    return cur.fetchone()["s"]


def _starts(cur: psycopg.Cursor, order: dict) -> str:
    """When the event starts, in its organizer's timezone: "Sat 9 Jan 2027, 19:00 GMT"."""
    cur.execute("select o.timezone from public.events e join public.organizations o on o.id = e.org_id"
                " where e.id = %s", (order["event_id"],))
    found = cur.fetchone()
    return when(order["event_starts_at"], found["timezone"] if found else None)


def _tickets(cur: psycopg.Cursor, row: dict) -> dict:
    order = _order(cur, row["payload"]["order_id"])
    cur.execute("select private.ticket_passes_for(%s) as p", (order["order_id"],))
    passes = [p for p in cur.fetchone()["p"] if p["status"] == "valid"]
    return {"event_title": order["event_title"], "starts": _starts(cur, order), "buyer_name": order["buyer_name"],
            "number": order["number"], "total": money(order["total_minor"], order["currency"]),
            "tickets": [{"tier": t["tier"], "attendee_name": t["attendee_name"], "secret": t["secret"],
                         "cid": f"ticket-{t['ticket_id']}"} for t in passes]}


def _qr_codes(variables: dict) -> list[InlineImage]:
    return [InlineImage(t["cid"], f"ticket-{n}.png", qr.png(t["secret"]))
            for n, t in enumerate(variables["tickets"], 1)]


TICKET_HTML = """<h1 style="margin:0 0 8px;font-size:22px">{{ event_title }}</h1>
<p style="margin:0 0 16px;color:#52525b">{{ starts }}</p>
<p style="margin:0 0 8px">Hello {{ buyer_name }}, here are your tickets for order
<strong>{{ number }}</strong> ({{ total }}).
Show one code per person at the door.</p>
{% for ticket in tickets %}
<table role="presentation" width="100%" style="border:1px solid #e4e4e7;border-radius:8px;margin:12px 0">
<tr><td align="center" style="padding:16px">
<p style="margin:0 0 4px;font-size:16px;font-weight:600">{{ ticket.tier }}</p>
<p style="margin:0 0 12px;color:#52525b">{{ ticket.attendee_name }} · ticket {{ loop.index }} of {{ tickets|length }}</p>
<img src="cid:{{ ticket.cid }}" width="240" height="240" alt="QR code for ticket {{ loop.index }}" style="display:block;width:240px;max-width:100%;height:auto">
<p style="margin:8px 0 0;font-family:monospace;font-size:11px;color:#71717a;word-break:break-all">{{ ticket.secret }}</p>
</td></tr></table>
{% endfor %}"""

TICKET_TEXT = """{{ subject }}

Order {{ number }} - {{ total }}
Starts: {{ starts }}

Your tickets (show the QR code, or this code, at the door):
{% for ticket in tickets %}- {{ ticket.tier }} for {{ ticket.attendee_name }}: {{ ticket.secret }}
{% endfor %}"""

templates.register(templates.Kind(
    name="tickets", purpose="transactional",
    variables={"event_title": "the event", "starts": "when it starts, e.g. Sat 9 Jan 2027, 19:00 GMT",
               "buyer_name": "the buyer's name", "number": "the order number", "total": "the amount paid",
               "tickets": "the valid tickets, each with tier, attendee_name, secret and cid (its QR image: "
                          "<img src=\"cid:{{ ticket.cid }}\">)"},
    sample={"event_title": "Spring Gala", "starts": "Sat 9 Jan 2027, 19:00 GMT", "buyer_name": "Casey Customer",
            "number": "BW-7K3M9QXA", "total": "£45.00",
            "tickets": [{"tier": "General", "attendee_name": "Casey Customer", "secret": "sample-ticket-secret",
                         "cid": "ticket-sample"}]},
    context=_tickets, images=_qr_codes,
    defaults={"email": {"subject": "Your tickets for {{ event_title }}", "html": TICKET_HTML,
                        "text": TICKET_TEXT}}))


@describer("tickets")
def describe_ticket_order(cur: psycopg.Cursor, order_id: str) -> OrderView:
    order = _order(cur, order_id)
    return OrderView(order["number"], order["status"], order["total_minor"], order["currency"],
                     what=order["event_title"] or f"order {order['number']}", goods="tickets",
                     void_note="Your tickets for this order are no longer valid.",
                     kept_note="Your tickets remain valid.", lost_reason="the tickets were sold")


def _event_cancelled(cur: psycopg.Cursor, row: dict) -> dict:
    """One buyer's orders of a cancelled event, with what each has had back."""
    event_id, email = row["payload"]["event_id"], row["payload"]["buyer_email"]
    cur.execute("select e.title, e.starts_at, e.cancel_reason, z.timezone from public.events e"
                " join public.organizations z on z.id = e.org_id where e.id = %s", (event_id,))
    event = cur.fetchone()
    cur.execute(
        "select o.number, o.buyer_name, o.currency,"
        " (select coalesce(sum(r.amount_minor), 0) from public.refunds r"
        "  where r.order_id = o.id and r.status <> 'failed') as refunded_minor"
        " from public.orders o where o.event_id = %s and lower(o.buyer_email) = %s"
        " and o.status = 'refunded' and o.close_reason = 'event_cancelled' order by o.created_at",
        (event_id, email))
    orders = cur.fetchall()
    if not orders:
        raise Skip("no_cancelled_order")
    return {"event_title": event["title"], "starts": when(event["starts_at"], event["timezone"]),
            "reason": event["cancel_reason"] or "", "buyer_name": orders[-1]["buyer_name"],
            "orders": [{"number": o["number"], "refund": money(o["refunded_minor"], o["currency"])} for o in orders],
            "total_refund": money(total, orders[0]["currency"]) if (total := sum(o["refunded_minor"] for o in orders))
            else ""}


CANCELLED_HTML = """<h1 style="margin:0 0 8px;font-size:22px">{{ event_title }} is cancelled</h1>
<p style="margin:0 0 16px;color:#52525b">It was to start {{ starts }}.</p>
<p style="margin:0 0 8px">Hello {{ buyer_name }}, we are sorry: the organizer has cancelled this event.
{% if reason %}They said: “{{ reason }}”{% endif %}</p>
<p style="margin:0 0 8px">Your tickets are no longer valid.{% if total_refund %} We are refunding {{ total_refund }}
to the way you paid; it may take a few days to show.{% endif %}</p>
<ul style="margin:0 0 8px;padding-left:20px">{% for order in orders %}
<li>Order <strong>{{ order.number }}</strong>: {{ order.refund }} back</li>{% endfor %}
</ul>"""

CANCELLED_TEXT = """{{ subject }}

Hello {{ buyer_name }}, the organizer has cancelled {{ event_title }} ({{ starts }}).
{% if reason %}Their reason: {{ reason }}
{% endif %}Your tickets are no longer valid.{% if total_refund %} We are refunding {{ total_refund }} to the way you paid.{% endif %}
{% for order in orders %}- Order {{ order.number }}: {{ order.refund }} back
{% endfor %}"""

templates.register(templates.Kind(
    name="event_cancelled", purpose="transactional",
    variables={"event_title": "the event", "starts": "when it was to start", "reason": "the organizer's reason, "
               "if they gave one", "buyer_name": "the buyer's name", "total_refund": "what all their orders get back (empty when nothing was paid)",
               "orders": "their orders, each with number and refund"},
    sample={"event_title": "Spring Gala", "starts": "Sat 9 Jan 2027, 19:00 GMT", "reason": "The venue flooded",
            "buyer_name": "Casey Customer", "total_refund": "£45.00",
            "orders": [{"number": "BW-7K3M9QXA", "refund": "£45.00"}]},
    context=_event_cancelled,
    defaults={"email": {"subject": "Cancelled: {{ event_title }}, and your refund", "html": CANCELLED_HTML,
                        "text": CANCELLED_TEXT}}))
