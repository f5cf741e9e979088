"""Schemathesis over every operation of the contract (functions/openapi/openapi.json) against the real stack.

Each operation gets generated requests, valid and invalid (the document's schemas, then mutations of
them), sent over HTTP to every function as `bookwell serve` runs it, with the provider stand-ins up and
the AI pointed at the local model. Every answer must keep the contract:

- no status >= 500 (a refusal is a 4xx; a provider that is down is a 502/503, but none is down here);
- every error in the one error shape, {"error": {"code", "message", "details"}};
- every success matching the schema the operation declares, with a declared content type.

The caller is what the operation says (x-bookwell-auth): a signed-in user who owns an organization (so
requests get past sign-in and org checks to the handlers), the service role for cron endpoints,
nothing for public ones and provider webhooks. Ids the fuzzer makes up find nothing, so some requests
name the owner's real organization and its rows instead. Bounded and repeatable: a fixed number of
examples per operation, derandomized.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from shared.comms import templates
from shared.member.subscriptions import PLUS_LOOKUP_KEY
from shared.platform import config
from shared.providers import payments
from tests.conftest import override_env
from tests.support import appointments, chauffeur, orders, parking, ticketing
from tests.support.pg import call
from tests.support.http import ORIGIN, service_headers

DOCUMENT = config.PROJECT_ROOT / "functions" / "openapi" / "openapi.json"
BUYER = "fuzz-buyer@example.com"
EXAMPLES = 12  # per operation, in make test (a run of 300 found nothing more); plus schemathesis's explicit examples

# The checked-in document (tests/foundation/test_openapi.py proves it is the code's).
schema = schemathesis.openapi.from_path(DOCUMENT)

UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def served(stack):
    """The stack with the AI pointed at the local model stand-in, as `make dev` can run it, and the members'
    paid plan on sale at the Stripe stand-in."""
    client = payments.stripe_client(config.settings())
    if payments.price_by_lookup_key(client, PLUS_LOOKUP_KEY) is None:
        client.v1.prices.create(params={
            "unit_amount": 499, "currency": "gbp", "recurring": {"interval": "month"}, "lookup_key": PLUS_LOOKUP_KEY,
            "product_data": {"name": "Wheels & Wins Plus"}})
    with override_env(AI_BASE_URL=f"{stack.base_url}/llm/v1", AI_MODEL="bookwell-local", AI_API_KEY="local",
                      AI_TIMEOUT_SECONDS="3", AI_REQUESTS_PER_MINUTE="1000000", AI_DAILY_TOKENS="1000000000"):
        yield stack


@pytest.fixture(scope="module")
def world(db) -> dict:
    """Something of every area, for the fuzzing user: an organization they own with two events (each with a
    paid order: one to cancel, one to refund), services, a staff profile (theirs) with a job today, a car park
    with a paid booking; their member settings with an expense, a wizard session, a PAM conversation and a
    calendar feed; and a chauffeur reservation of another company, waiting to be authorised."""
    park = parking.car_park(db)
    org, owner = park["org"], park["people"]["owner"]
    org_id = str(org["id"])
    db.sql("insert into public.appointment_settings (org_id) values (%s) on conflict do nothing", (org_id,))
    to_cancel, to_refund = ticketing.event(db, org), ticketing.event(db, org)
    tiers = [ticketing.tier(db, to_cancel), ticketing.tier(db, to_refund)]
    order = orders.paid(db, to_cancel, [(tiers[0], 2)], email=BUYER, name="Fay Fuzz")
    refundable = orders.paid(db, to_refund, [(tiers[1], 3)], email=BUYER, name="Fay Fuzz")
    staffing = appointments.services_and_staff(db, org_id, staff_user=owner)
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    job = db.value(
        "insert into public.appointments (org_id, service_id, staff_id, customer_user_id, customer_name,"
        " customer_phone, address, postcode, status, period) values (%s, %s, %s, %s, 'Casey Customer',"
        " '07700 900123', '1 High Street', 'SW1A 1AA', 'booked', tstzrange(%s, %s, '[)')) returning id",
        (org_id, staffing["service_id"], staffing["staff_id"], owner.id, start, start + timedelta(hours=1)))
    booking = parking.booked(db, park)
    call(db, owner.caller, "select to_jsonb(public.member_setup(%s, %s))", "Europe/London", "GBP")
    category = db.value("select id from public.expense_categories where user_id = %s limit 1", (owner.id,))
    expense = call(db, owner.caller, "insert into public.expenses (category_id, amount_minor, currency, spent_on)"
                                     " values (%s, 4250, 'GBP', current_date) returning id", category)
    session = db.value("insert into public.wizard_sessions (org_id, owner_id, title) values (%s, %s, 'Fuzz')"
                       " returning id", (org_id, owner.id))
    with db.as_user(owner) as cur:
        conversation = cur.execute("insert into public.pam_conversations (title) values ('Fuzz') returning id"
                                   ).fetchone()["id"]
        feed = cur.execute("select public.create_calendar_feed() as feed").fetchone()["feed"]
    firm = chauffeur.company(db)
    reservation = chauffeur.book(db, firm["org_id"], chauffeur.trip(firm["sedan"]))
    ids = {"org_id": [org_id], "event_id": [to_cancel["id"]], "tier_id": [t["id"] for t in tiers],
           "order_id": [refundable["id"]], "service_id": [staffing["service_id"]],
           "staff_id": [staffing["staff_id"]], "job_id": [job], "appointment_id": [job],
           "lot_id": [park["lot"]["id"]], "product_id": [park["flex"]["id"], park["saver"]["id"]],
           "booking_id": [booking["row"]["id"]], "expense_id": [expense], "session_id": [session],
           "conversation_id": [conversation]}
    return {"owner": owner, "lot": park["lot"], "kinds": sorted(templates.KINDS),
            "ids": {key: [str(v) for v in values] for key, values in ids.items()},
            "order": {"order_number": order["number"], "tracking_token": order["summary"]["tracking_token"]},
            "booking": {"reference": booking["number"], "tracking_token": booking["tracking_token"]},
            "reservation": {"order_number": reservation["number"], "tracking_token": reservation["tracking_token"]},
            "feed_token": feed["token"]}


@pytest.fixture(scope="module")
def callers(world) -> dict[str, dict[str, str]]:
    """The headers of each kind of caller the contract names."""
    owner = world["owner"].headers
    return {"user": owner, "anon": owner, "service": service_headers(), "none": {}, "signature": {}}


def reach(case, world) -> None:
    """Point most generated values that name something at the world's real rows, so requests get past
    "not found" to the code behind it: three in four well-formed UUIDs under a known name (org_id,
    event_id, ...), and, chosen by the generated value itself, real order numbers with their tracking
    tokens, the buyer's email, return URLs on an allowed origin, parking times, template kinds and job
    statuses. Malformed values stay as generated, so refusals are fuzzed too."""
    op = case.operation.path

    def chosen(value: Any) -> bool:
        return isinstance(value, str) and len(value) % 4 != 1

    def visit(value: Any) -> Any:
        if isinstance(value, list):
            return [visit(item) for item in value]
        if not isinstance(value, dict):
            return value
        out = {}
        for key, item in value.items():
            if key in world["ids"] and isinstance(item, str) and UUID_TEXT.fullmatch(item) \
                    and int(item[-1], 16) % 4 != 0:
                item = world["ids"][key][int(item[-2], 16) % len(world["ids"][key])]
            elif key.endswith("_url") and chosen(item):
                item = f"{ORIGIN}/fuzzed/{len(item)}"
            elif key in ("entry", "exit") and chosen(item):
                item = parking.local(world["lot"], len(item) % 9 + (2 if key == "entry" else 12), len(item) % 24)
            elif key == "kind" and op.startswith("/message-templates") and chosen(item):
                item = world["kinds"][len(item) % len(world["kinds"])]
            elif key == "status" and op.startswith("/staff-portal") and chosen(item):
                item = ("in_progress", "completed", "no_show")[len(item) % 3]
            elif key in ("email", "buyer_email") and chosen(item):
                item = BUYER
            elif key in ("buyer_phone", "marketing_sms_phone") and chosen(item):
                item = "07700 900123"
            out[key] = visit(item)
        if chosen(out.get("tracking_token")):
            pair = world["reservation" if op == "/authorise-payment" else "booking" if "reference" in out else "order"]
            out |= {k: v for k, v in pair.items() if k in out}
        return out

    token = (case.path_parameters or {}).get("token")
    if chosen(token):
        case.path_parameters["token"] = world["feed_token"]
    for part in ("path_parameters", "query", "body"):
        value = getattr(case, part, None)
        if isinstance(value, (dict, list)):
            setattr(case, part, visit(value))


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
def test_every_operation_keeps_the_contract(case, served, callers, world):
    auth = case.operation.definition.raw.get("x-bookwell-auth", "none")
    reach(case, world)
    case.call_and_validate(base_url=served.functions_url, headers=callers[auth], checks=CHECKS, timeout=30)
