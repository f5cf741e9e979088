"""Ticketing emails: the tickets (one inline QR per ticket), and how a ticket
order reads in the refund, late-payment and dispute emails every order kind
sends (shared/commerce/order_mail.py). Rendered at send time from the database, so a
resend shows the current truth. Mobile-friendly: one column, 600 px at most,
inline styles only, and a plain-text part."""

from __future__ import annotations

import html

import psycopg

from shared.providers import qr
from shared.platform.formatting import money, when
from shared.providers.mail import Email, InlineImage, layout
from shared.comms.notifications import renderer
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


@renderer("tickets")
def render_tickets(cur: psycopg.Cursor, row: dict) -> Email:
    order = _order(cur, row["payload"]["order_id"])
    cur.execute("select private.ticket_passes_for(%s) as p", (order["order_id"],))
    passes = [p for p in cur.fetchone()["p"] if p["status"] == "valid"]
    title = f"Your tickets for {order['event_title']}"
    images, blocks, lines = [], [], []
    for n, ticket in enumerate(passes, 1):
        cid = f"ticket-{ticket['ticket_id']}"
        images.append(InlineImage(cid, f"ticket-{n}.png", qr.png(ticket["secret"])))
        blocks.append(f"""
<table role="presentation" width="100%" style="border:1px solid #e4e4e7;border-radius:8px;margin:12px 0">
<tr><td align="center" style="padding:16px">
<p style="margin:0 0 4px;font-size:16px;font-weight:600">{html.escape(ticket['tier'])}</p>
<p style="margin:0 0 12px;color:#52525b">{html.escape(ticket['attendee_name'])} · ticket {n} of {len(passes)}</p>
<img src="cid:{cid}" width="240" height="240" alt="QR code for ticket {n}" style="display:block;width:240px;max-width:100%;height:auto">
<p style="margin:8px 0 0;font-family:monospace;font-size:11px;color:#71717a;word-break:break-all">{html.escape(ticket['secret'])}</p>
</td></tr></table>""")
        lines.append(f"- {ticket['tier']} for {ticket['attendee_name']}: {ticket['secret']}")
    starts = _starts(cur, order)
    body = f"""
<h1 style="margin:0 0 8px;font-size:22px">{html.escape(order['event_title'])}</h1>
<p style="margin:0 0 16px;color:#52525b">{html.escape(starts)}</p>
<p style="margin:0 0 8px">Hello {html.escape(order['buyer_name'])}, here are your tickets for order
<strong>{html.escape(order['number'])}</strong> ({money(order['total_minor'], order['currency'])}).
Show one code per person at the door.</p>
{''.join(blocks)}"""
    text = "\n".join([
        title, "", f"Order {order['number']} - {money(order['total_minor'], order['currency'])}",
        f"Starts: {starts}", "", "Your tickets (show the QR code, or this code, at the door):", *lines,
    ])
    return Email(row["recipient"], title, layout(title, body), text, images)


@describer("tickets")
def describe_ticket_order(cur: psycopg.Cursor, order_id: str) -> OrderView:
    order = _order(cur, order_id)
    return OrderView(order["number"], order["status"], order["total_minor"], order["currency"],
                     what=order["event_title"] or f"order {order['number']}", goods="tickets",
                     void_note="Your tickets for this order are no longer valid.",
                     kept_note="Your tickets remain valid.", lost_reason="the tickets were sold")
