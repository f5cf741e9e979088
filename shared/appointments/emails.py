"""Appointment emails: confirmation, cancellation, reschedule and change requests.

Rendered at send time by the outbox worker from the row's payload (written by
the appointment migrations) and, for confirmations, the order's current
appointments. Times are written in the org's timezone as people read them
("Tue 8 Dec 2026, 09:30 GMT"), money by locale (shared/platform/formatting.py). Same
layout as every Bookwell email, with a plain-text part.
"""

from __future__ import annotations

import datetime as dt
import html

import psycopg
from babel.dates import format_date

from shared.platform.formatting import DEFAULT_LOCALE, money, span, when
from shared.providers.mail import Email, layout
from shared.comms.notifications import renderer
from shared.commerce.order_mail import OrderView, describer


def _service(cur: psycopg.Cursor, service_id: str | None) -> str:
    if not service_id:
        return "Your appointment"
    cur.execute("select name from public.services where id = %s", (service_id,))
    row = cur.fetchone()
    return row["name"] if row else "Your appointment"


def _zone(cur: psycopg.Cursor, row: dict) -> str | None:
    """The org's timezone, in which every time in the message is written."""
    cur.execute("select timezone from public.organizations where id = %s", (row.get("org_id"),))
    found = cur.fetchone()
    return found["timezone"] if found else None


def _email(row: dict, title: str, lines: list[str]) -> Email:
    body = f'<h1 style="margin:0 0 12px;font-size:22px">{html.escape(title)}</h1>' + "".join(
        f"<p>{html.escape(line)}</p>" for line in lines)
    return Email(row["recipient"], title, layout(title, body), "\n\n".join([title, *lines]))


@renderer("appointment_confirmed")
def render_confirmed(cur: psycopg.Cursor, row: dict) -> Email:
    cur.execute("select private.appointment_order_summary(%s) as s", (row["payload"]["order_id"],))
    order = cur.fetchone()["s"]
    zone = _zone(cur, row)
    lines = [f"Thank you, {order['buyer_name']}. Order {order['number']} is confirmed "
             f"({money(order['total_minor'], order['currency'])})."]
    lines += [f"{a['service']} with {a['staff_name']}: {span(a['start'], a['end'], zone)}"
              for a in order.get("appointments") or [] if a["status"] == "booked"]
    return _email(row, f"Booked: order {order['number']}", lines)


@describer("appointments")
def describe_appointment_order(cur: psycopg.Cursor, order_id: str) -> OrderView:
    """How an appointment order reads in the refund, late-payment and dispute emails (shared/commerce/order_mail.py)."""
    cur.execute("select private.appointment_order_summary(%s) as s, o.timezone from public.orders x"
                " join public.organizations o on o.id = x.org_id where x.id = %s", (order_id, order_id))
    found = cur.fetchone()
    order, zone = found["s"], found["timezone"]
    visits = "; ".join(f"{a['service']}, {span(a['start'], a['end'], zone)}" for a in order.get("appointments") or [])
    return OrderView(order["number"], order["status"], order["total_minor"], order["currency"],
                     what=visits or f"order {order['number']}", goods="appointments",
                     void_note="The appointments in this order are cancelled.",
                     kept_note="Your appointments stand.", lost_reason="the times you chose were taken")


@renderer("appointment_cancelled")
def render_cancelled(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    lines = [f"{service} on {when(p['start'], _zone(cur, row))} has been cancelled."]
    if p.get("reason"):
        lines.append(f"Reason: {p['reason']}")
    return _email(row, f"Cancelled: {service}", lines)


@renderer("appointment_rescheduled")
def render_rescheduled(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    zone = _zone(cur, row)
    before = f" from {when(p['previous_start'], zone)}" if p.get("previous_start") else ""
    lines = [f"{service} has moved{before} to {span(p['start'], p['end'], zone)}."]
    if p.get("reason"):
        lines.append(f"Reason: {p['reason']}")
    return _email(row, f"New time: {service}", lines)


@renderer("change_request_received")
def render_request_received(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    zone = _zone(cur, row)
    wish = "cancel it" if p.get("kind") == "cancel" else f"move it to {when(p['proposed_start'], zone)}"
    lines = [f"A customer asks to {wish}: {service} on {when(p['start'], zone)}.",
             f"Reason: {p.get('reason') or 'not given'}", "Approve or reject it in Bookwell."]
    return _email(row, f"Change request: {service}", lines)


@renderer("change_request_decided")
def render_request_decided(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    outcome = "approved" if p.get("decision") == "approved" else "declined"
    lines = [f"Your request about {service} on {when(p['start'], _zone(cur, row))} was {outcome}."]
    if p.get("note"):
        lines.append(f"Note: {p['note']}")
    return _email(row, f"Your change request was {outcome}", lines)


# --- Subscriptions (migrations/*_appointments_subscriptions.sql) -------------------------------
_EVERY = {"weekly": "every week", "biweekly": "every other week", "monthly": "every month"}


@renderer("subscription_created")
def render_subscription_created(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    lines = [f"Subscription {p['number']}: {service} {_EVERY.get(p.get('frequency'), p.get('frequency'))} "
             f"for {p.get('months')} month(s), from {when(p['first_start'], _zone(cur, row))}"
             f" until {format_date(dt.date.fromisoformat(p['ends_on']), 'EEE d MMM y', locale=DEFAULT_LOCALE)}.",
             "Each visit is paid when it happens. Keep your subscription number and tracking link to "
             "see or cancel it."]
    return _email(row, f"Subscribed: {service}", lines)


@renderer("subscription_confirm")
def render_subscription_confirm(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    lines = [f"Please confirm subscription {p['number']}: {service} "
             f"{_EVERY.get(p.get('frequency'), p.get('frequency'))} for {p.get('months')} month(s), "
             f"from {when(p['first_start'], _zone(cur, row))}.",
             f"Your confirmation code: {p['tracking_token']}",
             "Nothing is booked until you confirm. Keep the number and the code: they also let you see or "
             "cancel the subscription later. If you did not ask for this, ignore this email."]
    return _email(row, f"Confirm your subscription: {service}", lines)


@renderer("subscription_occurrence_moved")
def render_subscription_occurrence_moved(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    zone = _zone(cur, row)
    lines = [f"Your visit due {when(p['wanted_start'], zone)} (subscription {p.get('number')}) could not take "
             f"place then; it is booked for {when(p['start'], zone)} instead, with the same person."]
    return _email(row, f"New time: {service}", lines)


@renderer("subscription_needs_attention")
def render_subscription_needs_attention(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    lines = [f"Subscription {p.get('number')} ({p.get('customer_name')}): the visit due "
             f"{when(p['wanted_start'], _zone(cur, row))} "
             "could not be booked: its staff member has no free slot within 3 days.",
             "Nothing was booked. Arrange the visit with the customer in Bookwell."]
    return _email(row, f"Needs attention: {service}", lines)


@renderer("subscription_cancelled")
def render_subscription_cancelled(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    lines = [f"Subscription {p.get('number')} for {service} is cancelled; "
             f"{len(p.get('cancelled') or [])} upcoming visit(s) were cancelled."]
    kept = [when(k["start"], _zone(cur, row)) for k in p.get("kept") or []]
    if kept:
        lines.append("Within the cancellation cut-off, so still booked: " + ", ".join(kept) + ".")
    if p.get("reason"):
        lines.append(f"Reason: {p['reason']}")
    return _email(row, f"Subscription cancelled: {service}", lines)
