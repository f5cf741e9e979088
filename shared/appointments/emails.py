"""Appointment emails (and texts): confirmation, cancellation, reschedule and change requests.

Message kinds (shared/comms/templates.py) whose wording an org may change; their
variables are read at send time (a confirmation, cancellation or new time is
also texted to the customer's phone, when they gave one) from the row's payload (written by the
appointment routines) and, for confirmations, the order's current
appointments. Times are written in the org's timezone as people read them
("Tue 8 Dec 2026, 09:30 GMT"), money by locale (shared/platform/formatting.py). Same
layout as every Bookwell email, with a plain-text part.
"""

from __future__ import annotations

import datetime as dt

import psycopg
from babel.dates import format_date

from shared.platform.formatting import current_locale, money, span, when
from shared.comms import templates
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


def _kind(name: str, variables: dict[str, str], sample: dict, context, email: dict[str, str],
          purpose: str = "transactional", sms: str | None = None) -> templates.Kind:
    defaults = {"email": email} | ({"sms": {"body": sms}} if sms else {})
    return templates.register(templates.Kind(name=name, purpose=purpose, variables=variables, sample=sample,
                                             context=context, defaults=defaults))


def _org_name(cur: psycopg.Cursor, row: dict) -> str:
    cur.execute("select name from public.organizations where id = %s", (row.get("org_id"),))
    found = cur.fetchone()
    return found["name"] if found else ""


def _confirmed(cur: psycopg.Cursor, row: dict) -> dict:
    cur.execute("select private.appointment_order_summary(%s) as s", (row["payload"]["order_id"],))
    order = cur.fetchone()["s"]
    zone = _zone(cur, row)
    return {"buyer_name": order["buyer_name"], "number": order["number"], "org_name": _org_name(cur, row),
            "total": money(order["total_minor"], order["currency"]),
            "visits": [f"{a['service']} with {a['staff_name']}: {span(a['start'], a['end'], zone)}"
                       for a in order.get("appointments") or [] if a["status"] == "booked"]}


_kind("appointment_confirmed",
      {"buyer_name": "the buyer's name", "number": "the order number", "total": "the amount paid, e.g. £48.00",
       "visits": "the booked visits, each 'Service with Staff: Tue 8 Dec 2026, 09:00–10:30 GMT'",
       "org_name": "your business's name"},
      {"buyer_name": "Casey Customer", "number": "BW-7K3M9QXA", "total": "£48.00", "org_name": "Sparkle Cleaning",
       "visits": ["Oven clean with Val Cleaner: Tue 8 Dec 2026, 09:00–10:30 GMT"]},
      _confirmed,
      {"subject": "Booked: order {{ number }}",
       "html": ('<h1 style="margin:0 0 12px;font-size:22px">{{ subject }}</h1>\n'
                "<p>Thank you, {{ buyer_name }}. Order {{ number }} is confirmed ({{ total }}).</p>"
                "{% for visit in visits %}\n<p>{{ visit }}</p>{% endfor %}"),
       "text": ("{{ subject }}\n\nThank you, {{ buyer_name }}. Order {{ number }} is confirmed ({{ total }})."
                "{% for visit in visits %}\n\n{{ visit }}{% endfor %}")},
      sms="{{ org_name }}: booked, order {{ number }}. {{ visits | join('; ') }}")


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


SERVICE = {"service": "the service, e.g. Oven clean"}
SAMPLE_WHEN = "Thu 1 May 2031, 10:00 BST"


def _change(cur: psycopg.Cursor, row: dict) -> dict:
    p, zone = row["payload"], _zone(cur, row)
    return {"service": _service(cur, p.get("service_id")), "when": when(p["start"], zone),
            "new_time": span(p["start"], p["end"], zone) if p.get("end") else when(p["start"], zone),
            "previous": when(p["previous_start"], zone) if p.get("previous_start") else "",
            "reason": p.get("reason") or "", "request": p.get("kind") or "",
            "proposed_time": when(p["proposed_start"], zone) if p.get("proposed_start") else "",
            "outcome": "approved" if p.get("decision") == "approved" else "declined", "note": p.get("note") or ""}


_CHANGE_SAMPLE = {"service": "Oven clean", "when": SAMPLE_WHEN, "new_time": "Fri 2 May 2031, 10:00–11:30 BST",
                  "previous": SAMPLE_WHEN, "reason": "Travelling", "request": "reschedule",
                  "proposed_time": "Fri 2 May 2031, 10:00 BST", "outcome": "approved", "note": "See you then"}

_kind("appointment_cancelled",
      {**SERVICE, "when": "when it was booked for", "reason": "why (may be empty)"}, _CHANGE_SAMPLE, _change,
      templates.heading_and_paragraphs("Cancelled: {{ service }}", "{{ service }} on {{ when }} has been cancelled.",
                                       ("reason", "Reason: {{ reason }}")),
      sms="Cancelled: {{ service }} on {{ when }}.{% if reason %} Reason: {{ reason }}{% endif %}")

_kind("appointment_rescheduled",
      {**SERVICE, "previous": "the old time (may be empty)", "new_time": "the new time and end",
       "reason": "why (may be empty)"}, _CHANGE_SAMPLE, _change,
      templates.heading_and_paragraphs(
          "New time: {{ service }}",
          "{{ service }} has moved{% if previous %} from {{ previous }}{% endif %} to {{ new_time }}.",
          ("reason", "Reason: {{ reason }}")),
      sms="New time: {{ service }} is now {{ new_time }}.")

_kind("change_request_received",
      {**SERVICE, "when": "the booked time", "request": "cancel or reschedule",
       "proposed_time": "the time asked for (reschedule)", "reason": "the customer's reason (may be empty)"},
      _CHANGE_SAMPLE, _change,
      templates.heading_and_paragraphs(
          "Change request: {{ service }}",
          "A customer asks to {% if request == 'cancel' %}cancel it{% else %}move it to {{ proposed_time }}"
          "{% endif %}: {{ service }} on {{ when }}.",
          "Reason: {{ reason or 'not given' }}", "Approve or reject it in Bookwell."))

_kind("change_request_decided",
      {**SERVICE, "when": "the booked time", "outcome": "approved or declined", "note": "the business's note"},
      _CHANGE_SAMPLE, _change,
      templates.heading_and_paragraphs(
          "Your change request was {{ outcome }}",
          "Your request about {{ service }} on {{ when }} was {{ outcome }}.", ("note", "Note: {{ note }}")))


# --- Subscriptions (routines/appointments/subscriptions.sql) -------------------------------
_EVERY = {"weekly": "every week", "biweekly": "every other week", "monthly": "every month"}


def _subscription(cur: psycopg.Cursor, row: dict) -> dict:
    p, zone = row["payload"], _zone(cur, row)
    return {
        "service": _service(cur, p.get("service_id")), "number": p.get("number") or "",
        "frequency": _EVERY.get(p.get("frequency"), p.get("frequency") or ""), "months": p.get("months") or "",
        "first_visit": when(p["first_start"], zone) if p.get("first_start") else "",
        "ends_on": format_date(dt.date.fromisoformat(p["ends_on"]), "EEE d MMM y", locale=current_locale())
        if p.get("ends_on") else "",
        "code": p.get("tracking_token") or "",
        "wanted_time": when(p["wanted_start"], zone) if p.get("wanted_start") else "",
        "new_time": when(p["start"], zone) if p.get("start") else "",
        "customer_name": p.get("customer_name") or "",
        "cancelled_count": len(p.get("cancelled") or []),
        "kept": ", ".join(when(k["start"], zone) for k in p.get("kept") or []),
        "reason": p.get("reason") or "",
    }


_SUBSCRIPTION_SAMPLE = {
    "service": "Regular clean", "number": "SUB-4F7KQ2", "frequency": "every other week", "months": 3,
    "first_visit": "Tue 8 Dec 2026, 09:00 GMT", "ends_on": "Mon 8 Mar 2027", "code": "a-long-secret-code",
    "wanted_time": "Tue 22 Dec 2026, 09:00 GMT", "new_time": "Wed 23 Dec 2026, 09:00 GMT",
    "customer_name": "Casey Customer", "cancelled_count": 4, "kept": "Tue 8 Dec 2026, 09:00 GMT", "reason": "Moving"}
_SUBSCRIPTION = {**SERVICE, "number": "the subscription number", "frequency": "e.g. every other week",
                 "months": "how many months", "first_visit": "the first visit's time", "ends_on": "the last day"}

_kind("subscription_created", _SUBSCRIPTION, _SUBSCRIPTION_SAMPLE, _subscription,
      templates.heading_and_paragraphs(
          "Subscribed: {{ service }}",
          "Subscription {{ number }}: {{ service }} {{ frequency }} for {{ months }} month(s), from {{ first_visit }}"
          " until {{ ends_on }}.",
          "Each visit is paid when it happens. Keep your subscription number and tracking link to see or cancel it."))

_kind("subscription_confirm", {**_SUBSCRIPTION, "code": "the confirmation code (also the tracking code)"},
      _SUBSCRIPTION_SAMPLE, _subscription,
      templates.heading_and_paragraphs(
          "Confirm your subscription: {{ service }}",
          "Please confirm subscription {{ number }}: {{ service }} {{ frequency }} for {{ months }} month(s), "
          "from {{ first_visit }}.",
          "Your confirmation code: {{ code }}",
          "Nothing is booked until you confirm. Keep the number and the code: they also let you see or cancel the "
          "subscription later. If you did not ask for this, ignore this email."))

_kind("subscription_occurrence_moved",
      {**SERVICE, "number": "the subscription number", "wanted_time": "when the visit was due",
       "new_time": "when it is booked instead"}, _SUBSCRIPTION_SAMPLE, _subscription,
      templates.heading_and_paragraphs(
          "New time: {{ service }}",
          "Your visit due {{ wanted_time }} (subscription {{ number }}) could not take place then; it is booked "
          "for {{ new_time }} instead, with the same person."))

_kind("subscription_needs_attention",
      {**SERVICE, "number": "the subscription number", "customer_name": "the customer's name",
       "wanted_time": "when the visit was due"}, _SUBSCRIPTION_SAMPLE, _subscription,
      templates.heading_and_paragraphs(
          "Needs attention: {{ service }}",
          "Subscription {{ number }} ({{ customer_name }}): the visit due {{ wanted_time }} could not be booked: "
          "its staff member has no free slot within 3 days.",
          "Nothing was booked. Arrange the visit with the customer in Bookwell."))

_kind("subscription_cancelled",
      {**SERVICE, "number": "the subscription number", "cancelled_count": "how many upcoming visits were cancelled",
       "kept": "visits inside the cut-off, still booked (may be empty)", "reason": "why (may be empty)"},
      _SUBSCRIPTION_SAMPLE, _subscription,
      templates.heading_and_paragraphs(
          "Subscription cancelled: {{ service }}",
          "Subscription {{ number }} for {{ service }} is cancelled; {{ cancelled_count }} upcoming visit(s) were "
          "cancelled.",
          ("kept", "Within the cancellation cut-off, so still booked: {{ kept }}."),
          ("reason", "Reason: {{ reason }}")))
