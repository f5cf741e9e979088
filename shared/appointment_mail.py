"""Appointment emails: confirmation, cancellation, reschedule and change requests.

Rendered at send time by the outbox worker from the row's payload (written by
the appointment migrations) and, for confirmations, the order's current
appointments. Same layout as every Bookwell email, with a plain-text part.
"""

from __future__ import annotations

import html

import psycopg

from shared.mail import Email, layout, money
from shared.notifications import renderer


def _service(cur: psycopg.Cursor, service_id: str | None) -> str:
    if not service_id:
        return "Your appointment"
    cur.execute("select name from public.services where id = %s", (service_id,))
    row = cur.fetchone()
    return row["name"] if row else "Your appointment"


def _email(row: dict, title: str, lines: list[str]) -> Email:
    body = f'<h1 style="margin:0 0 12px;font-size:22px">{html.escape(title)}</h1>' + "".join(
        f"<p>{html.escape(line)}</p>" for line in lines)
    return Email(row["recipient"], title, layout(title, body), "\n\n".join([title, *lines]))


@renderer("appointment_confirmed")
def render_confirmed(cur: psycopg.Cursor, row: dict) -> Email:
    cur.execute("select private.appointment_order_summary(%s) as s", (row["payload"]["order_id"],))
    order = cur.fetchone()["s"]
    lines = [f"Thank you, {order['buyer_name']}. Order {order['number']} is confirmed "
             f"({money(order['total_minor'], order['currency'])})."]
    lines += [f"{a['service']} with {a['staff_name']}: {a['start']} to {a['end']}"
              for a in order.get("appointments") or [] if a["status"] == "booked"]
    return _email(row, f"Booked: order {order['number']}", lines)


@renderer("appointment_cancelled")
def render_cancelled(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    lines = [f"{service} on {p['start']} has been cancelled."]
    if p.get("reason"):
        lines.append(f"Reason: {p['reason']}")
    return _email(row, f"Cancelled: {service}", lines)


@renderer("appointment_rescheduled")
def render_rescheduled(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    lines = [f"{service} has moved from {p.get('previous_start')} to {p['start']} (ends {p['end']})."]
    if p.get("reason"):
        lines.append(f"Reason: {p['reason']}")
    return _email(row, f"New time: {service}", lines)


@renderer("change_request_received")
def render_request_received(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    wish = "cancel it" if p.get("kind") == "cancel" else f"move it to {p.get('proposed_start')}"
    lines = [f"A customer asks to {wish}: {service} on {p['start']}.",
             f"Reason: {p.get('reason') or 'not given'}", "Approve or reject it in Bookwell."]
    return _email(row, f"Change request: {service}", lines)


@renderer("change_request_decided")
def render_request_decided(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    outcome = "approved" if p.get("decision") == "approved" else "declined"
    lines = [f"Your request about {service} on {p['start']} was {outcome}."]
    if p.get("note"):
        lines.append(f"Note: {p['note']}")
    return _email(row, f"Your change request was {outcome}", lines)


# --- Subscriptions (migrations/*_appointment_subscriptions.sql) -------------------------------
_EVERY = {"weekly": "every week", "biweekly": "every other week", "monthly": "every month"}


@renderer("subscription_created")
def render_subscription_created(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    lines = [f"Subscription {p['number']}: {service} {_EVERY.get(p.get('frequency'), p.get('frequency'))} "
             f"for {p.get('months')} month(s), from {p['first_start']} until {p.get('ends_on')}.",
             "Each visit is paid when it happens. Keep your subscription number and tracking link to "
             "see or cancel it."]
    return _email(row, f"Subscribed: {service}", lines)


@renderer("subscription_confirm")
def render_subscription_confirm(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    lines = [f"Please confirm subscription {p['number']}: {service} "
             f"{_EVERY.get(p.get('frequency'), p.get('frequency'))} for {p.get('months')} month(s), "
             f"from {p['first_start']}.",
             f"Your confirmation code: {p['tracking_token']}",
             "Nothing is booked until you confirm. Keep the number and the code: they also let you see or "
             "cancel the subscription later. If you did not ask for this, ignore this email."]
    return _email(row, f"Confirm your subscription: {service}", lines)


@renderer("subscription_occurrence_moved")
def render_subscription_occurrence_moved(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    lines = [f"Your visit due {p.get('wanted_start')} (subscription {p.get('number')}) could not take place then; "
             f"it is booked for {p['start']} instead, with the same person."]
    return _email(row, f"New time: {service}", lines)


@renderer("subscription_needs_attention")
def render_subscription_needs_attention(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    lines = [f"Subscription {p.get('number')} ({p.get('customer_name')}): the visit due {p['wanted_start']} "
             "could not be booked: its staff member has no free slot within 3 days.",
             "Nothing was booked. Arrange the visit with the customer in Bookwell."]
    return _email(row, f"Needs attention: {service}", lines)


@renderer("subscription_cancelled")
def render_subscription_cancelled(cur: psycopg.Cursor, row: dict) -> Email:
    p = row["payload"]
    service = _service(cur, p.get("service_id"))
    lines = [f"Subscription {p.get('number')} for {service} is cancelled; "
             f"{len(p.get('cancelled') or [])} upcoming visit(s) were cancelled."]
    kept = [k["start"] for k in p.get("kept") or []]
    if kept:
        lines.append("Within the cancellation cut-off, so still booked: " + ", ".join(kept) + ".")
    if p.get("reason"):
        lines.append(f"Reason: {p['reason']}")
    return _email(row, f"Subscription cancelled: {service}", lines)
