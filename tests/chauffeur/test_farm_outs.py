"""Farm-outs and chauffeur reports (routines/chauffeur/farm_outs.sql, reports.sql, functions/reports):
a trip offered to an affiliate is accepted, declined or withdrawn, one live farm-out per trip; the
affiliate sees only their own offers and only what they need of the passenger, drives the trip through
the same steps, and the settlement report owes them their commission."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import httpx
import psycopg
import pytest

from shared.platform.db import Caller
from tests.support import factories
from tests.support.chauffeur import book, trip
from tests.support.pg import call, refused


@pytest.fixture(scope="module")
def firm(firm, db) -> dict:
    """The company, with two active affiliates: Farm Out Ltd (15 %) and Flat Cars (£20 a trip)."""
    affiliate = firm["people"]["affiliate"]
    firm["partner"] = db.one("insert into public.affiliates (org_id, user_id, company, commission_kind, commission_value,"
                             " status) values (%s, %s, 'Farm Out Ltd', 'percent', 15, 'active') returning *",
                             (firm["org_id"], affiliate.id))
    other = factories.member(db, firm["org"], role="affiliate")
    firm["other_partner"] = db.one("insert into public.affiliates (org_id, user_id, company, commission_kind,"
                                   " commission_value, status) values (%s, %s, 'Flat Cars', 'flat', 2000, 'active')"
                                   " returning *", (firm["org_id"], other.id))
    firm["other_affiliate"] = other
    return firm


def booked(db, firm, **extra) -> dict:
    answer = book(db, firm["org_id"], trip(firm["sedan"], **extra), {
        "name": "Pat Passenger", "email": f"pat-{uuid.uuid4().hex[:6]}@example.com", "phone": "07700 900888"})
    return db.one("select * from public.reservations where id = %s", (answer["reservation_id"],))


def offer(db, firm, reservation, partner="partner", caller=None):
    return call(db, caller or firm["people"]["dispatcher"].caller, "select to_jsonb(public.offer_farm_out(%s, %s))",
                reservation["id"], firm[partner]["id"])


def respond(db, who, farm_out_id, accept: bool):
    return call(db, who.caller, "select to_jsonb(public.respond_farm_out(%s, %s))", farm_out_id, accept)


def mine(db, who) -> list[dict]:
    return call(db, who.caller, "select public.my_farm_outs()")


def test_an_offer_accepted_shows_the_affiliate_only_what_they_need_and_keeps_our_drivers_off(db, firm):
    r = booked(db, firm, days=12)
    made = offer(db, firm, r)
    assert (made["status"], made["commission_minor"]) == ("offered", (r["total_minor"] * 15 + 50) // 100)  # 15 %, half up
    refused(offer(db, firm, r, "other_partner"), "PT409", "already_farmed_out")
    [seen] = mine(db, firm["people"]["affiliate"])
    assert seen["number"] == r["number"] and seen["passenger"] == {"name": "Pat Passenger", "phone": None}
    assert "@" not in str(seen), "never the customer's email"
    assert mine(db, firm["other_affiliate"]) == []
    refused(respond(db, firm["other_affiliate"], made["id"], True), "PT404", "offer_not_found")
    assert respond(db, firm["people"]["affiliate"], made["id"], True)["status"] == "accepted"
    assert mine(db, firm["people"]["affiliate"])[0]["passenger"]["phone"] == "+447700900888"
    refused(call(db, firm["people"]["dispatcher"].caller, "select public.assign_reservation(%s, %s, null)", r["id"],
                 firm["dee"]["id"]), "PT409", "farmed_out")
    refused(respond(db, firm["people"]["affiliate"], made["id"], False), "PT404", "offer_not_found")  # answered
    call(db, firm["people"]["dispatcher"].caller, "select public.set_reservation_status(%s, 'confirmed')", r["id"])
    day = db.value("select (pickup_at at time zone 'Europe/London')::date from public.reservations where id = %s",
                   (r["id"],))
    board = call(db, firm["people"]["dispatcher"].caller, "select public.dispatch_board(%s, %s)", firm["org_id"], day)
    [farmed] = [t for t in board["farmed_out"] if t["id"] == str(r["id"])]
    assert farmed["farm_out"] == {"status": "accepted", "affiliate": "Farm Out Ltd"} and farmed["problems"] == []
    assert str(r["id"]) not in {t["id"] for t in board["unassigned"] + board["conflicts"]}


def test_the_affiliate_drives_the_trip_and_the_settlement_owes_their_commission(db, firm, stack):
    r = booked(db, firm, days=13)
    made = offer(db, firm, r)
    respond(db, firm["people"]["affiliate"], made["id"], True)
    call(db, firm["people"]["dispatcher"].caller, "select public.set_reservation_status(%s, 'confirmed')", r["id"])
    for step in ("en_route", "on_location", "on_board", "completed"):
        refused(call(db, firm["other_affiliate"].caller, "select public.advance_trip(%s, %s)", r["id"], step),
                "PT404", "trip_not_found")
        call(db, firm["people"]["affiliate"].caller, "select public.advance_trip(%s, %s)", r["id"], step)
    assert db.value("select status::text from public.reservations where id = %s", (r["id"],)) == "completed"
    refused(call(db, firm["people"]["dispatcher"].caller, "select public.withdraw_farm_out(%s)", made["id"]),
            "PT404", "farm_out_not_found")  # the trip is done

    day = db.value("select (pickup_at at time zone 'Europe/London')::date from public.reservations where id = %s",
                   (r["id"],))
    final = db.value("select final_total_minor from public.reservations where id = %s", (r["id"],))
    rows = call(db, firm["people"]["dispatcher"].caller,
                "select jsonb_agg(c) from public.report_commission(%s, %s, %s) c", firm["org_id"], day, day)
    assert rows == [{"affiliate": "Farm Out Ltd", "trips": 1, "revenue_minor": final,
                     "commission_minor": made["commission_minor"], "currency": "GBP"}]
    by_affiliate = call(db, firm["people"]["owner"].caller,
                        "select jsonb_agg(c) from public.report_trip_revenue(%s, %s, %s, 'affiliate') c",
                        firm["org_id"], day, day)
    assert by_affiliate == [{"name": "Farm Out Ltd", "trips": 1, "revenue_minor": final, "currency": "GBP"}]
    refused(call(db, firm["people"]["driver"].caller, "select count(*) from public.report_commission(%s, %s, %s)",
                 firm["org_id"], day, day), "PT403", "not_a_dispatcher")
    refused(call(db, firm["people"]["owner"].caller, "select count(*) from public.report_commission(%s, %s, %s)",
                 firm["org_id"], day, day - timedelta(days=1)), "PT422", "invalid_range")

    r2 = httpx.get(f"{stack.functions_url}/reports/commission", timeout=30,
                   params={"org_id": str(firm["org_id"]), "from": str(day), "to": str(day), "format": "csv"},
                   headers=firm["people"]["owner"].headers)
    assert r2.status_code == 200, r2.text
    [row] = list(csv.DictReader(io.StringIO(r2.text)))
    assert row == {"affiliate": "Farm Out Ltd", "trips": "1", "revenue": f"{final / 100:.2f}",
                   "commission": f"{made['commission_minor'] / 100:.2f}", "currency": "GBP"}


def test_declined_or_withdrawn_offers_free_the_trip_for_another_and_flat_terms_apply(db, firm):
    r = booked(db, firm, days=14)
    first = offer(db, firm, r)
    assert respond(db, firm["people"]["affiliate"], first["id"], False)["status"] == "declined"
    second = offer(db, firm, r, "other_partner")
    assert second["commission_minor"] == 2000
    refused(call(db, firm["people"]["affiliate"].caller, "select public.withdraw_farm_out(%s)", second["id"]),
            "PT404", "farm_out_not_found")  # an affiliate does not withdraw dispatch's offers
    call(db, firm["people"]["dispatcher"].caller, "select public.withdraw_farm_out(%s)", second["id"])
    assert offer(db, firm, r)["status"] == "offered"


def test_offers_only_for_live_trips_without_a_driver_to_active_affiliates_by_dispatch(db, firm):
    r = booked(db, firm, days=15)
    call(db, firm["people"]["dispatcher"].caller, "select public.assign_reservation(%s, %s, null)", r["id"],
         firm["dee"]["id"])
    refused(offer(db, firm, r), "PT409", "has_driver")
    other = booked(db, firm, days=15, hour=16)
    db.sql("update public.affiliates set status = 'inactive' where id = %s", (firm["other_partner"]["id"],))
    try:
        refused(offer(db, firm, other, "other_partner"), "PT422", "affiliate_not_active")
    finally:
        db.sql("update public.affiliates set status = 'active' where id = %s", (firm["other_partner"]["id"],))
    for who in ("driver", "affiliate", "staff", "rival_owner"):
        refused(offer(db, firm, other, caller=firm["people"][who].caller), "PT404", "reservation_not_found")
    call(db, firm["people"]["dispatcher"].caller, "select public.set_reservation_status(%s, 'cancelled', 'No longer needed')",
         other["id"])
    refused(offer(db, firm, other), "PT409", "reservation_closed")


def test_farm_outs_are_visible_to_dispatch_and_to_their_affiliate_only(db, firm):
    r = booked(db, firm, days=16)
    offer(db, firm, r)
    total = db.value("select count(*) from public.farm_outs where org_id = %s", (firm["org_id"],))
    mine_count = db.value("select count(*) from public.farm_outs where affiliate_id = %s", (firm["partner"]["id"],))
    for who, sees in (("owner", total), ("dispatcher", total), ("affiliate", mine_count), ("driver", 0),
                      ("staff", 0), ("rival_owner", 0)):
        with db.acting(firm["people"][who].caller) as cur:
            cur.execute("select count(*) as n from public.farm_outs where org_id = %s", (firm["org_id"],))
            assert cur.fetchone()["n"] == sees, who
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with db.acting(firm["people"]["dispatcher"].caller) as cur:
            cur.execute("update public.farm_outs set commission_minor = 0 where org_id = %s", (firm["org_id"],))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with db.as_anon() as cur:
            cur.execute("select 1 from public.farm_outs")
    assert isinstance(call(db, Caller.anon(), "select public.my_farm_outs()"), psycopg.errors.InsufficientPrivilege)
