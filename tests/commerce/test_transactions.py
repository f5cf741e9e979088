"""Transaction history: a buyer's payments and refunds across orgs and providers, an org's for its owners
and admins, with date, provider and kind filters and a CSV export; nobody else's, whoever asks."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from shared.platform import reports
from shared.platform.db import Caller
from tests.support import factories, ticketing as tk
from tests.support.pg import call, refused


def ticket_order(db, event, tier, buyer, quantity: int = 1) -> dict:
    with db.as_user(buyer) as cur:
        cur.execute("select public.place_ticket_order(%s, %s::jsonb, %s, 'Pat Buyer', null) as s",
                    (event["id"], json.dumps([{"tier_id": str(tier["id"]), "quantity": quantity}]), buyer.email))
        return cur.fetchone()["s"]


def paid(db, order: dict, provider: str) -> str:
    reference = f"{'pi' if provider == 'stripe' else 'CAP'}_{uuid.uuid4().hex[:12]}"
    assert db.value("select private.record_payment(%s, %s, %s, %s, 'GBP')",
                    (order["order_id"], provider, reference, order["total_minor"])) == "fulfilled"
    return reference


@pytest.fixture(scope="module")
def world(db):
    pat, sam = db.user(confirmed=True), db.user(confirmed=True)
    first_org, second_org = factories.org(db), factories.org(db)
    first, second = tk.event(db, first_org), tk.event(db, second_org)
    first_tier, second_tier = tk.tier(db, first, price_minor=2500), tk.tier(db, second, price_minor=4000)
    pat_stripe = ticket_order(db, first, first_tier, pat, 2)
    pat_paypal = ticket_order(db, second, second_tier, pat)
    sam_order = ticket_order(db, first, first_tier, sam)
    refs = {"pat_stripe": paid(db, pat_stripe, "stripe"), "pat_paypal": paid(db, pat_paypal, "paypal"),
            "sam": paid(db, sam_order, "stripe")}
    with db.as_service() as cur:
        cur.execute("select private.request_refund(%s, 1500, 'changed my mind')", (pat_stripe["order_id"],))
    return {"pat": pat, "sam": sam, "refs": refs, "first_org": first_org, "second_org_id": second_org["id"],
            "orders": {"pat_stripe": pat_stripe, "pat_paypal": pat_paypal, "sam": sam_order},
            "today": db.value("select (now() at time zone 'Europe/London')::date")}


def mine(db, who, *, days=(-1, 1), provider=None, kind=None):
    today = db.value("select (now() at time zone 'Europe/London')::date")
    return call(db, who.caller, "select coalesce(jsonb_agg(t), '[]') from public.my_transactions(%s, %s, %s, %s) t",
                today + timedelta(days=days[0]), today + timedelta(days=days[1]), provider, kind)


def test_a_buyer_sees_their_payments_and_refunds_across_orgs_and_providers_only(db, world):
    rows = mine(db, world["pat"])
    seen = sorted((r["type"], r["provider"], r["amount_minor"], r["order_number"]) for r in rows)
    orders = world["orders"]
    assert seen == sorted([("payment", "stripe", 5000, orders["pat_stripe"]["number"]),
                           ("payment", "paypal", 4000, orders["pat_paypal"]["number"]),
                           ("refund", "stripe", -1500, orders["pat_stripe"]["number"])])
    assert {r["organization_id"] for r in rows} == {str(world["first_org"]["id"]), str(world["second_org_id"])}
    refund = next(r for r in rows if r["type"] == "refund")
    assert (refund["status"], refund["reason"]) == ("pending", "changed my mind")
    assert [r["amount_minor"] for r in mine(db, world["sam"])] == [2500]


@pytest.mark.parametrize("filters, expected", [
    ({"provider": "paypal"}, [4000]),
    ({"provider": "stripe"}, [-1500, 5000]),
    ({"kind": "tickets"}, [-1500, 4000, 5000]),
    ({"kind": "parking"}, []),
    ({"days": (-10, -2)}, []),
])
def test_the_filters_narrow_the_history(db, world, filters, expected):
    assert sorted(r["amount_minor"] for r in mine(db, world["pat"], **filters)) == expected


def test_an_org_sees_every_buyer_of_its_own_and_nobody_else_does(db, world):
    org = world["first_org"]
    today = world["today"]
    query = "select coalesce(jsonb_agg(t), '[]') from public.org_transactions(%s, %s, %s) t"
    admin = factories.member(db, org, role="admin")
    for who in (org["owner"], admin):
        rows = call(db, who.caller, query, org["id"], today, today)
        assert sorted(r["amount_minor"] for r in rows) == [-1500, 2500, 5000]
        assert {r["provider_reference"] for r in rows if r["type"] == "payment"} == {
            world["refs"]["pat_stripe"], world["refs"]["sam"]}
    for role in ("manager", "staff"):
        refused(call(db, factories.member(db, org, role=role).caller, query, org["id"], today, today),
                "PT404", "org_not_found")
    refused(call(db, world["pat"].caller, query, org["id"], today, today), "PT404", "org_not_found")
    refused(call(db, factories.org(db)["owner"].caller, query, org["id"], today, today), "PT404", "org_not_found")
    anon = call(db, Caller.anon(), query, org["id"], today, today)
    assert getattr(anon, "sqlstate", None) == "42501"
    assert getattr(call(db, Caller.anon(), "select count(*) from public.my_transactions(%s, %s)", today, today),
                   "sqlstate", None) == "42501"


def test_bad_ranges_and_providers_are_422(db, world):
    today = world["today"]
    q = "select count(*) from public.my_transactions(%s, %s, %s)"
    refused(call(db, world["pat"].caller, q, today, today - timedelta(days=1), None), "PT422", "invalid_date_range")
    refused(call(db, world["pat"].caller, q, today - timedelta(days=400), today, None), "PT422", "date_range_too_long")
    refused(call(db, world["pat"].caller, q, today, today, "bitcoin"), "PT422", "invalid_provider")


def test_the_org_export_is_csv_with_decimal_amounts_and_a_provider_group(db, world):
    org = world["first_org"]
    today = world["today"]
    with db.as_user(org["owner"]) as cur:
        result = reports.run(cur, "transactions", org_id=str(org["id"]), date_from=today, date_to=today, group=None)
        only_paypal = reports.run(cur, "transactions", org_id=str(org["id"]), date_from=today, date_to=today,
                                  group="paypal")
    lines = reports.to_csv(result).splitlines()
    assert lines[0].split(",")[:5] == ["occurred_at", "type", "provider", "amount", "currency"]
    amounts = sorted(line.split(",")[3] for line in lines[1:])
    assert amounts == ["-15.00", "25.00", "50.00"]
    assert only_paypal["rows"] == []
