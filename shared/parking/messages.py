"""Parking messages: the booking confirmed (email with the gate QR code, and SMS), its dates changed,
and its cancellation with what is refunded; and how a parking order reads in the money emails.
Message kinds an org may reword (shared/comms/templates.py), queued by routines/parking/*.sql and
read at send time from the database."""

from __future__ import annotations

import psycopg

from shared.commerce.order_mail import OrderView, describer
from shared.comms import templates
from shared.comms.notifications import Skip
from shared.platform.formatting import money, when
from shared.providers import qr
from shared.providers.mail import InlineImage

RULES = {"cover": "your cancellation cover refunds everything but the cover itself",
         "flexible": "your flexible booking is refunded less the admin fee",
         "flexible_late": "it was cancelled inside the refund window, so nothing is refunded",
         "non_flexible": "this product is not refundable", "unpaid": "nothing had been paid"}


def _booking(cur: psycopg.Cursor, row: dict) -> dict:
    cur.execute("select private.parking_order_summary(%s) as s", (row["payload"]["order_id"],))
    summary = (cur.fetchone() or {}).get("s")
    if not summary or not summary.get("booking"):
        raise Skip("booking_gone")
    b = summary["booking"]
    cur.execute("select b.gate_code, b.entry_at, b.exit_at from public.parking_bookings b where b.id = %s", (b["id"],))
    raw = cur.fetchone()
    if row["template"] == "parking_confirmed" and b["status"] not in ("booked", "parked"):
        raise Skip("booking_not_live")
    payload = row["payload"]
    return {"customer_name": b["customer_name"], "reference": b["reference"], "lot": b["lot"],
            "iata_code": b["iata_code"], "address": b["address"] or "", "product": b["product"],
            "entry": when(raw["entry_at"], b["timezone"]), "exit": when(raw["exit_at"], b["timezone"]),
            "plate": b["plate"], "transfer_minutes": b["transfer_minutes"],
            "total": money(summary["total_minor"], summary["currency"]),
            "gate_code": raw["gate_code"], "cid": f"gate-{b['id']}",
            "refund": money(int(payload.get("refund_minor") or 0), b["currency"]),
            "refunded": int(payload.get("refund_minor") or 0) > 0,
            "rule": RULES.get(payload.get("rule") or "", ""),
            "difference": money(abs(int(payload.get("difference_minor") or 0)), b["currency"]),
            "dearer": int(payload.get("difference_minor") or 0) > 0,
            "balance_due": money(b["balance_due_minor"], b["currency"]), "owes": b["balance_due_minor"] > 0}


def _gate_qr(variables: dict) -> list[InlineImage]:
    return [InlineImage(variables["cid"], "gate-code.png", qr.png(variables["gate_code"]))]


VARIABLES = {"customer_name": "the customer's name", "reference": "the booking reference",
             "lot": "the car park", "iata_code": "the airport code", "address": "the car park's address",
             "product": "what was booked", "entry": "entry, e.g. Sat 9 Jan 2027, 06:30 GMT", "exit": "exit",
             "plate": "the registration plate", "transfer_minutes": "minutes to the terminal",
             "total": "the order total", "gate_code": "the code in the QR", "cid": "the QR image: <img src=\"cid:{{ cid }}\">",
             "refund": "the amount refunded (cancellation, amendment)", "refunded": "true when money comes back", "rule": "why that refund",
             "difference": "the price difference of an amendment", "dearer": "true when the change costs more",
             "balance_due": "unpaid charges", "owes": "true when something is unpaid"}
SAMPLE = {"customer_name": "Casey Customer", "reference": "BW-7K3M9QXA", "lot": "Bookwell Parking T5",
          "iata_code": "LHR", "address": "Bath Road, Heathrow", "product": "Park & Ride",
          "entry": "Sat 9 Jan 2027, 06:30 GMT", "exit": "Sat 16 Jan 2027, 22:00 GMT", "plate": "AB12CDE",
          "transfer_minutes": 10, "total": "£64.00", "gate_code": "sample-gate-code", "cid": "gate-sample",
          "refund": "£59.00", "refunded": True, "rule": RULES["flexible"], "difference": "£8.00", "dearer": True,
          "balance_due": "£8.00", "owes": True}

CONFIRMED_HTML = """<h1 style="margin:0 0 12px;font-size:22px">{{ subject }}</h1>
<p>Hello {{ customer_name }}, your {{ product }} at {{ lot }} ({{ iata_code }}) is booked.</p>
<p><strong>Entry:</strong> {{ entry }}<br><strong>Exit:</strong> {{ exit }}<br>
<strong>Vehicle:</strong> {{ plate }}<br><strong>Reference:</strong> {{ reference }} ({{ total }})</p>
{% if address %}<p>{{ address }}{% if transfer_minutes %} · {{ transfer_minutes }} minutes to the terminal{% endif %}</p>{% endif %}
<p>Show this code at the entry and exit gates:</p>
<img src="cid:{{ cid }}" width="240" height="240" alt="QR code for the gates" style="display:block;width:240px;max-width:100%;height:auto">
<p style="font-family:monospace;font-size:11px;color:#71717a;word-break:break-all">{{ gate_code }}</p>"""

CONFIRMED_TEXT = """{{ subject }}

Hello {{ customer_name }}, your {{ product }} at {{ lot }} ({{ iata_code }}) is booked.
Entry: {{ entry }}
Exit: {{ exit }}
Vehicle: {{ plate }}
Reference: {{ reference }} ({{ total }})
Gate code: {{ gate_code }}"""

templates.register(templates.Kind(
    name="parking_confirmed", purpose="transactional", variables=VARIABLES, sample=SAMPLE, context=_booking,
    images=_gate_qr,
    defaults={"email": {"subject": "Parking booked: {{ reference }}, {{ entry }}", "html": CONFIRMED_HTML,
                        "text": CONFIRMED_TEXT},
              "sms": {"body": "{{ lot }}: parking {{ reference }} for {{ plate }} is booked, {{ entry }} to {{ exit }}."
                              " Show the QR code from your email at the gate."}}))

AMENDED_TEXT = """Hello {{ customer_name }}, your parking {{ reference }} at {{ lot }} now runs from {{ entry }} to {{ exit }}.
{% if dearer %}The new dates cost {{ difference }} more{% if owes %}: {{ balance_due }} is due, online or at the exit{% endif %}.
{% elif refunded %}{{ refund }} is on its way back to you.
{% endif %}"""

templates.register(templates.Kind(
    name="parking_amended", purpose="transactional", variables=VARIABLES, sample=SAMPLE, context=_booking,
    defaults={"email": {"subject": "New dates for parking {{ reference }}",
                        "html": "<p>" + AMENDED_TEXT.replace("\n", "<br>\n") + "</p>", "text": AMENDED_TEXT}}))

CANCELLED_TEXT = """Hello {{ customer_name }}, your parking {{ reference }} at {{ lot }} ({{ entry }}) is cancelled.
{% if refunded %}{{ refund }} is refunded: {{ rule }}.{% elif rule %}Nothing is refunded: {{ rule }}.{% endif %}"""

templates.register(templates.Kind(
    name="parking_cancelled", purpose="transactional", variables=VARIABLES, sample=SAMPLE, context=_booking,
    defaults={"email": {"subject": "Parking {{ reference }} cancelled",
                        "html": "<p>" + CANCELLED_TEXT.replace("\n", "<br>\n") + "</p>", "text": CANCELLED_TEXT}}))


@describer("parking")
def describe_parking_order(cur: psycopg.Cursor, order_id: str) -> OrderView:
    """How a parking order (a booking's own, or a charge on one) reads in the receipt, refund and dispute emails."""
    cur.execute("select private.parking_order_summary(%s) as s", (order_id,))
    s = cur.fetchone()["s"]
    b = s.get("booking") or {}
    what = (f"parking at {b['lot']}, {b['entry_at'][:10]} to {b['exit_at'][:10]} ({b['plate']})" if b
            else f"order {s['number']}")
    return OrderView(s["number"], s["status"], s["total_minor"], s["currency"], what=what, goods="parking",
                     void_note="The parking booking is cancelled.", kept_note="The parking booking stands.",
                     lost_reason="the car park filled up")
