"""Postcode first (routines/appointments/slots.sql): public.services_for_postcode(org_slug,
postcode) normalises the postcode, refuses malformed and uncovered ones with a
clear message, and lists the org's active services that at least one active,
qualified staff member covers there, with how many do (never who).

A staff member covers a district when the great-circle distance between the
district's centroid and the centroid of one of their areas' outward codes is at
most the area's radius. Reference distances (public.uk_outcodes, haversine):
SW1A-SE1 3.04 km, SW1A-N1 4.67 km, N1-SE1 4.41 km, M1-M3 1.22 km.
"""

from __future__ import annotations

import psycopg
import pytest

from shared.platform.db import Caller
from tests.support.appointments import make_org, make_service, make_staff
from tests.support.pg import ArrangingDb


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def world(db) -> dict:
    org = make_org(db)
    regular = make_service(db, org, 120, name="Regular clean")
    oven = make_service(db, org, 90, name="Oven clean")
    carpets = make_service(db, org, 60, name="Carpets")             # only staff far away do it
    windows = make_service(db, org, 60, name="Windows")             # only an inactive staff member does it
    retired = make_service(db, org, 60, name="Retired", active=False)
    make_staff(db, org, [regular, oven, retired], areas=(("SW1A", 0),), name="Ann")   # SW1A itself
    make_staff(db, org, [regular], areas=(("N1", 4.7),), name="Bob")                  # reaches SW1A (4.67 km)
    make_staff(db, org, [oven], areas=(("N1", 4.6),), name="Cat")                     # just short of it
    make_staff(db, org, [carpets], areas=(("M1", 50),), name="Dan")                   # Manchester
    make_staff(db, org, [windows], areas=(("SW1A", 20),), name="Eve", active=False)
    rival = make_org(db)
    rival_service = make_service(db, rival, 60, name="Rival clean")
    make_staff(db, rival, [rival_service], areas=(("SW1A", 10),))
    return {"org": org, "rival": rival, "ids": {"regular": str(regular), "oven": str(oven),
                                                "carpets": str(carpets), "windows": str(windows)}}


def coverage(db, caller, slug, postcode):
    result = db.attempt(caller, "select public.services_for_postcode(%s, %s) as c", (slug, postcode))
    return result if isinstance(result, psycopg.Error) else result[0]["c"]


def counts(answer: dict) -> dict[str, int]:
    return {s["name"]: s["staff_count"] for s in answer["services"]}


def test_services_are_listed_with_the_number_of_staff_who_cover_the_postcode(db, world):
    answer = coverage(db, Caller.anon(), world["org"]["slug"], "sw1a1aa")
    assert answer["postcode"] == "SW1A 1AA" and answer["outward"] == "SW1A"
    assert answer["org"] == {"id": str(world["org"]["id"]), "slug": world["org"]["slug"], "name": world["org"]["name"],
                             "timezone": "Europe/London"}
    # Regular: Ann (same district, radius 0) and Bob (4.67 km <= 4.7). Oven: Ann; Cat's 4.6 km falls short.
    # Carpets: Dan is in Manchester. Windows: Eve is inactive. Retired: inactive service.
    assert counts(answer) == {"Regular clean": 2, "Oven clean": 1}
    regular = next(s for s in answer["services"] if s["name"] == "Regular clean")
    assert regular["id"] == world["ids"]["regular"] and regular["duration_minutes"] == 120
    assert regular["price_minor"] == 5000 and regular["currency"] == "GBP"


@pytest.mark.parametrize(("postcode", "expected"), [
    ("SW1A", {"Regular clean": 2, "Oven clean": 1}),           # an outward code alone
    ("  sw1a   2aa ", {"Regular clean": 2, "Oven clean": 1}),  # spacing and case
    ("N1 9GU", {"Regular clean": 1, "Oven clean": 1}),         # Bob's and Cat's own district (0 km)
    ("SE1 7PB", {"Regular clean": 1, "Oven clean": 1}),        # Ann's radius is 0; N1-SE1 4.41 km (Bob, Cat)
    ("M1 1AE", {"Carpets": 1}),
    ("EH1 1YZ", {}),                                            # nobody goes to Edinburgh
])
def test_coverage_depends_on_distance_and_radius(db, world, postcode, expected):
    assert counts(coverage(db, Caller.anon(), world["org"]["slug"], postcode)) == expected


def test_the_radius_boundary_is_inclusive_and_follows_edits(db, world):
    slug = world["org"]["slug"]
    cat = db.value("select id from public.staff where org_id = %s and display_name = 'Cat'", (world["org"]["id"],))
    db.sql("update public.staff_service_areas set radius_km = 4.7 where staff_id = %s", (cat,))
    try:
        assert counts(coverage(db, Caller.anon(), slug, "SW1A"))["Oven clean"] == 2
    finally:
        db.sql("update public.staff_service_areas set radius_km = 4.6 where staff_id = %s", (cat,))
    assert counts(coverage(db, Caller.anon(), slug, "SW1A"))["Oven clean"] == 1


def test_another_orgs_staff_never_count(db, world):
    assert counts(coverage(db, Caller.anon(), world["rival"]["slug"], "SW1A")) == {"Rival clean": 1}


def test_the_answer_carries_no_staff_personal_data(db, world):
    text = str(coverage(db, Caller.anon(), world["org"]["slug"], "SW1A"))
    for secret in ("secret-staff@example.com", "07700", "Ann", "Bob", "staff_id"):
        assert secret not in text


@pytest.mark.parametrize(("postcode", "code", "words"), [
    ("SW1A 1A", "invalid_postcode", "not a UK postcode"),
    ("", "invalid_postcode", "not a UK postcode"),
    (None, "invalid_postcode", "not a UK postcode"),
    ("Q1 1AA", "invalid_postcode", "not a UK postcode"),
    ("JE2 3AB", "postcode_not_covered", "Jersey (Channel Islands)"),
    ("GY1 1AA", "postcode_not_covered", "Guernsey (Channel Islands)"),
    ("IM1 1AA", "postcode_not_covered", "Isle of Man"),
    ("W1E", "postcode_not_covered", "no known location"),
    ("GIR 0AA", "postcode_not_covered", "non-geographic"),
])
def test_malformed_and_uncovered_postcodes_are_refused_with_a_reason(db, world, postcode, code, words):
    result = coverage(db, Caller.anon(), world["org"]["slug"], postcode)
    assert isinstance(result, psycopg.Error), result
    assert (result.sqlstate, result.diag.message_detail) == ("PT422", code)
    assert words in result.diag.message_primary, result.diag.message_primary


@pytest.mark.parametrize(("slug", "expected"), [
    ("no-such-org", ("PT404", "org_not_found")),
    ("Not A Slug!", ("PT422", "invalid_org_slug")),
    (None, ("PT422", "invalid_org_slug")),
])
def test_an_unknown_or_malformed_org_is_refused(db, world, slug, expected):
    result = coverage(db, Caller.anon(), slug, "SW1A")
    assert (result.sqlstate, result.diag.message_detail) == expected


def test_a_signed_in_customer_and_the_server_get_the_same_answer_as_anon(db, world):
    slug = world["org"]["slug"]
    anon = coverage(db, Caller.anon(), slug, "SW1A")
    assert coverage(db, db.user().caller, slug, "SW1A") == anon
    assert coverage(db, Caller.service(), slug, "SW1A") == anon


def test_anon_cannot_read_service_areas_directly(db, world):
    result = db.attempt(Caller.anon(), "select outcode, radius_km from public.staff_service_areas")
    assert isinstance(result, psycopg.errors.InsufficientPrivilege), result
    customer = db.user()  # signed in, not a member: policies hide every row
    assert db.attempt(customer.caller, "select count(*) as n from public.staff_service_areas")[0]["n"] == 0
