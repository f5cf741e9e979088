"""Ticketing emails: the tickets (one inline QR per ticket), refunds, late
payments and disputes. Rendered at send time from the database, so a resend
shows the current truth. Mobile-friendly: one column, 600 px at most,
inline styles only, and a plain-text part."""

from __future__ import annotations

import html

import psycopg

from shared import qr
from shared.formatting import money, when
from shared.mail import Email, InlineImage, layout
from shared.notifications import renderer


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


@renderer("order_refunded")
def render_refund(cur: psycopg.Cursor, row: dict) -> Email:
    order = _order(cur, row["payload"]["order_id"])
    cur.execute("select amount_minor, currency from public.refunds where id = %s", (row["payload"]["refund_id"],))
    refund = cur.fetchone()
    amount = money(refund["amount_minor"], refund["currency"])
    title = f"Refund for order {order['number']}"
    full = order["status"] == "refunded"
    note = "Your tickets for this order are no longer valid." if full else "Your tickets remain valid."
    body = f"""<h1 style="margin:0 0 12px;font-size:22px">{html.escape(title)}</h1>
<p>We are refunding <strong>{amount}</strong> for {html.escape(order['event_title'] or 'your order')}.
It usually reaches your account within 5-10 days.</p><p>{note}</p>"""
    text = f"{title}\n\nWe are refunding {amount} for {order['event_title']}. {note}"
    return Email(row["recipient"], title, layout(title, body), text)


@renderer("late_payment_refunded")
def render_late_payment(cur: psycopg.Cursor, row: dict) -> Email:
    order = _order(cur, row["payload"]["order_id"])
    amount = money(order["total_minor"], order["currency"])
    title = f"Your payment for {order['event_title']} is being refunded"
    cur.execute("select close_reason from public.orders where id = %s", (order["order_id"],))
    lost = ("the promo code you used reached its limit"
            if cur.fetchone()["close_reason"] == "late_payment_promo_exhausted" else "the tickets were sold")
    why = (f"Your payment arrived after your reservation had run out, and {lost} in the meantime. "
           "The full amount is on its way back to you.")
    body = f"""<h1 style="margin:0 0 12px;font-size:22px">Sorry, those tickets are gone</h1>
<p>{why}</p><p>Refund: <strong>{amount}</strong> for order {html.escape(order['number'])}.
It usually reaches your account within 5-10 days.</p>"""
    text = f"Sorry, those tickets are gone\n\n{why}\n\nRefund: {amount} for order {order['number']}."
    return Email(row["recipient"], title, layout(title, body), text)


@renderer("dispute_opened")
def render_dispute(cur: psycopg.Cursor, row: dict) -> Email:
    order = _order(cur, row["payload"]["order_id"])
    title = f"Payment dispute on order {order['number']}"
    reason = row["payload"].get("reason") or "not given"
    body = f"""<h1 style="margin:0 0 12px;font-size:22px">{html.escape(title)}</h1>
<p>The buyer's bank has opened a dispute ({html.escape(reason)}) on {money(order['total_minor'], order['currency'])}
for {html.escape(order['event_title'] or '')}. Respond in your Stripe dashboard before the deadline.</p>"""
    text = f"{title}\n\nReason: {reason}. Respond in your Stripe dashboard before the deadline."
    return Email(row["recipient"], title, layout(title, body), text)
