"""Chauffeur messages: the reservation confirmed (email, with its itemised breakdown) and the driver on
location (SMS). Message kinds whose wording an org may change (shared/comms/templates.py); queued by
routines/chauffeur/reservations.sql."""

from __future__ import annotations

import psycopg

from shared.commerce.order_mail import OrderView, describer
from shared.comms import templates
from shared.comms.notifications import Skip
from shared.platform.formatting import money, when


def _reservation(cur: psycopg.Cursor, row: dict) -> dict:
    cur.execute("select r.*, c.name as customer_name, o.name as org_name, o.timezone, vc.name as class_name,"
                " (select s.address from public.reservation_stops s where s.reservation_id = r.id"
                "  order by s.position limit 1) as pickup_address,"
                " d.name as driver_name, v.make, v.model, v.plate"
                " from public.reservations r join public.chauffeur_customers c on c.id = r.customer_id"
                " join public.organizations o on o.id = r.org_id join public.vehicle_classes vc on vc.id = r.class_id"
                " left join public.drivers d on d.id = r.driver_id left join public.vehicles v on v.id = r.vehicle_id"
                " where r.id = %s", (row["payload"]["reservation_id"],))
    found = cur.fetchone()
    if found is None or found["status"] in ("cancelled", "no_show"):
        raise Skip("reservation_closed")
    lines = [{"rule": line["rule"], "amount": money(line["amount_minor"], found["currency"])}
             for line in found["quote"]["lines"]]
    return {"customer_name": found["customer_name"], "org_name": found["org_name"], "number": found["number"],
            "pickup": when(found["pickup_at"], found["timezone"]), "pickup_address": found["pickup_address"] or "",
            "vehicle_class": found["class_name"], "lines": lines,
            "total": money(found["total_minor"], found["currency"]), "driver_name": found["driver_name"] or "",
            "vehicle": " ".join(filter(None, (found["make"], found["model"]))),
            "plate": found["plate"] or ""}


VARIABLES = {"customer_name": "the customer's name", "org_name": "your business's name",
             "number": "the confirmation number", "pickup": "when, e.g. Tue 8 Dec 2026, 09:30 GMT",
             "pickup_address": "where", "vehicle_class": "the class booked", "total": "the quoted total",
             "lines": "the breakdown, each line with rule and amount", "driver_name": "the driver (may be empty)",
             "vehicle": "make and model (may be empty)", "plate": "the plate (may be empty)"}
SAMPLE = {"customer_name": "Casey Customer", "org_name": "Velocity VVIP", "number": "CH-7K3M9QXA",
          "pickup": "Tue 8 Dec 2026, 09:30 GMT", "pickup_address": "Heathrow Terminal 5",
          "vehicle_class": "Executive Sedan", "lines": [{"rule": "Executive Sedan airport transfer base fare",
                                                        "amount": "£95.00"}],
          "total": "£95.00", "driver_name": "Dee Driver", "vehicle": "Mercedes S-Class", "plate": "VV22ABC"}

CONFIRMED_HTML = """<h1 style="margin:0 0 12px;font-size:22px">{{ subject }}</h1>
<p>Hello {{ customer_name }}, {{ org_name }} confirms your {{ vehicle_class }} on {{ pickup }}
from {{ pickup_address }}.</p>
<table role="presentation" width="100%" style="border-collapse:collapse;margin:12px 0">
{% for line in lines %}<tr><td style="padding:4px 0">{{ line.rule }}</td><td align="right">{{ line.amount }}</td></tr>
{% endfor %}<tr><td style="padding:8px 0;border-top:1px solid #e4e4e7;font-weight:600">Total</td>
<td align="right" style="padding:8px 0;border-top:1px solid #e4e4e7;font-weight:600">{{ total }}</td></tr>
</table>"""

CONFIRMED_TEXT = """{{ subject }}

Hello {{ customer_name }}, {{ org_name }} confirms your {{ vehicle_class }} on {{ pickup }} from {{ pickup_address }}.

{% for line in lines %}{{ line.rule }}: {{ line.amount }}
{% endfor %}Total: {{ total }}"""

templates.register(templates.Kind(
    name="reservation_confirmed", purpose="transactional", variables=VARIABLES, sample=SAMPLE, context=_reservation,
    defaults={"email": {"subject": "Confirmed: {{ number }}, {{ pickup }}", "html": CONFIRMED_HTML,
                        "text": CONFIRMED_TEXT}}))

templates.register(templates.Kind(
    name="driver_on_location", purpose="transactional", variables=VARIABLES, sample=SAMPLE, context=_reservation,
    defaults={"sms": {"body": "{{ org_name }}: {{ driver_name or 'your driver' }} is waiting at {{ pickup_address }}"
                              "{% if vehicle %} in a {{ vehicle }}{% endif %}{% if plate %} ({{ plate }}){% endif %}."}}))


@describer("reservation")
def describe_reservation_order(cur: psycopg.Cursor, order_id: str) -> OrderView:
    """How a trip's order reads in the receipt, refund and dispute emails (shared/commerce/order_mail.py)."""
    cur.execute("select x.number, x.status::text as status, x.total_minor, x.currency, r.quote, o.timezone"
                " from public.orders x join public.organizations o on o.id = x.org_id"
                " left join public.reservations r on r.order_id = x.id where x.id = %s", (order_id,))
    found = cur.fetchone()
    quote = found["quote"] or {}
    what = (f"your {quote.get('class', 'chauffeur')} trip on {when(quote['pickup_at'], found['timezone'])}"
            if quote.get("pickup_at") else f"trip {found['number']}")
    return OrderView(found["number"], found["status"], found["total_minor"], found["currency"], what=what,
                     goods="trip", void_note="The trip is cancelled.", kept_note="The trip stands.",
                     lost_reason="the trip could not be kept")
