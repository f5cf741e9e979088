"""Row-level security of the chauffeur area (policies/chauffeur.sql), table by table and role by role:
dispatch sees its org's trips, a driver only their own, a customer only theirs, an affiliate, staff, a
manager, an outsider and another org none; the fleet is written by owners and admins only; trips are
written only through the functions; anon reads active classes and nothing else."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from shared.platform.db import Caller
from tests.support.chauffeur import book, company, driver, trip, vehicle_class
from tests.support.pg import call

TABLES = ("reservations", "reservation_stops", "chauffeur_customers", "vehicles", "vehicle_classes", "drivers",
          "affiliates", "chauffeur_rate_rules", "chauffeur_settings")


@pytest.fixture(scope="module")
def world(db) -> dict:
    firm = company(db)
    org_id = firm["org_id"]
    dispatcher = firm["people"]["dispatcher"].caller
    mine = book(db, org_id, trip(firm["sedan"], days=5), caller=dispatcher)["reservation_id"]
    call(db, dispatcher, "select public.assign_reservation(%s, %s, null)", mine, firm["dee"]["id"])
    book(db, org_id, trip(firm["sedan"], days=6))                                 # nobody's yet
    customer = db.user(confirmed=True)
    with db.acting(customer.caller) as cur:                                       # signed in, books for themself
        cur.execute("select public.book_reservation(%s, %s, %s) as a",
                    (org_id, Jsonb(trip(firm["sedan"], days=7)), Jsonb({"name": "Cee", "email": customer.email})))
    other_driver = driver(db, firm["org"], name="Otto Other")
    db.sql("insert into public.affiliates (org_id, user_id, company) values (%s, %s, 'Farm Out Ltd')",
           (org_id, firm["people"]["affiliate"].id))
    db.sql("insert into public.chauffeur_rate_rules (org_id, name, kind, unit, percent, basis)"
           " values (%s, 'Gratuity', 'gratuity', 'percent', 20, 'base')", (org_id,))
    db.sql("insert into public.chauffeur_settings (org_id) values (%s)", (org_id,))
    vehicle_class(db, org_id, name="Retired limo", seats=8)
    db.sql("update public.vehicle_classes set active = false where name = 'Retired limo' and org_id = %s", (org_id,))
    rival = company(db)
    book(db, rival["org_id"], trip(rival["sedan"], days=5))
    return {**firm, "customer": customer, "other_driver": other_driver, "rival_firm": rival}


def visible(db, caller: Caller, org_id) -> dict[str, int]:
    counts = {}
    with db.acting(caller) as cur:
        for table in TABLES:
            cur.execute(f"select count(*) as n from public.{table} where org_id = %s", (org_id,))
            counts[table] = cur.fetchone()["n"]
    return counts


def everything(db, org_id) -> dict[str, int]:
    return {t: db.value(f"select count(*) from public.{t} where org_id = %s", (org_id,)) for t in TABLES}


@pytest.mark.parametrize("who", ["owner", "admin", "dispatcher"])
def test_the_orgs_managers_and_dispatchers_see_everything_of_their_org(db, world, who):
    assert visible(db, world["people"][who].caller, world["org_id"]) == everything(db, world["org_id"])


def test_a_driver_sees_their_own_trip_its_stops_and_customer_and_the_fleet(db, world):
    seen = visible(db, world["people"]["driver"].caller, world["org_id"])
    assert seen["reservations"] == 1 and seen["reservation_stops"] == 2 and seen["chauffeur_customers"] == 1
    assert seen["vehicles"] == 2 and seen["vehicle_classes"] == 3 and seen["chauffeur_settings"] == 1
    assert (seen["drivers"], seen["affiliates"], seen["chauffeur_rate_rules"]) == (1, 0, 0), "their own driver row"
    other = visible(db, world["other_driver"]["user"].caller, world["org_id"])
    assert (other["reservations"], other["chauffeur_customers"]) == (0, 0), "another driver: none of Dee's trips"


def test_a_customer_sees_their_own_trip_and_record_and_nothing_of_the_fleet(db, world):
    seen = visible(db, world["customer"].caller, world["org_id"])
    assert (seen["reservations"], seen["reservation_stops"], seen["chauffeur_customers"]) == (1, 2, 1)
    assert (seen["vehicles"], seen["drivers"], seen["chauffeur_rate_rules"], seen["chauffeur_settings"]) == (0, 0, 0, 0)
    assert seen["vehicle_classes"] == 2, "the active classes, as on the booking page"


@pytest.mark.parametrize("who", ["affiliate", "staff", "manager", "outsider", "rival_owner"])
def test_others_see_no_trips_or_customers(db, world, who):
    seen = visible(db, world["people"][who].caller, world["org_id"])
    assert (seen["reservations"], seen["reservation_stops"], seen["chauffeur_customers"], seen["vehicles"],
            seen["chauffeur_rate_rules"]) == (0, 0, 0, 0, 0)
    assert seen["affiliates"] == (1 if who == "affiliate" else 0), "an affiliate reads their own row"
    assert seen["vehicle_classes"] == 2


def test_anon_reads_active_classes_and_nothing_else(db, world):
    with db.as_anon() as cur:
        cur.execute("select name from public.vehicle_classes where org_id = %s order by name", (world["org_id"],))
        assert [r["name"] for r in cur.fetchall()] == ["Executive Sedan", "Luxury SUV"]
    for table in TABLES:
        if table == "vehicle_classes":
            continue
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with db.as_anon() as cur:
                cur.execute(f"select 1 from public.{table} limit 1")


@pytest.mark.parametrize(("who", "allowed"), [("owner", True), ("admin", True), ("dispatcher", False),
                                              ("driver", False), ("rival_owner", False)])
def test_only_owners_and_admins_write_the_fleet_and_rates(db, world, who, allowed):
    caller = world["people"][who].caller
    statements = [
        ("insert into public.vehicle_classes (org_id, name, seats, hourly_rate_minor) values (%s, %s, 4, 5000)",
         lambda: (world["org_id"], f"Class {uuid.uuid4().hex[:6]}")),
        ("insert into public.chauffeur_rate_rules (org_id, name, kind, unit, amount_minor) values (%s, %s, 'fee', 'flat', 1)",
         lambda: (world["org_id"], f"Rule {uuid.uuid4().hex[:6]}")),
        ("update public.vehicles set mileage = mileage + 1 where org_id = %s", lambda: (world["org_id"],)),
    ]
    for statement, params in statements:
        before = everything(db, world["org_id"])
        mileage = db.value("select sum(mileage) from public.vehicles where org_id = %s", (world["org_id"],))
        try:
            with db.acting(caller) as cur:
                cur.execute(statement, params())
                wrote = cur.rowcount > 0
        except psycopg.errors.InsufficientPrivilege:
            wrote = False
        assert wrote == allowed, (who, statement)
        changed = everything(db, world["org_id"]) != before or db.value(
            "select sum(mileage) from public.vehicles where org_id = %s", (world["org_id"],)) != mileage
        assert changed == allowed, (who, statement)


@pytest.mark.parametrize("who", ["owner", "dispatcher", "driver", "customer"])
def test_trips_are_written_only_through_the_functions(db, world, who):
    caller = world["customer"].caller if who == "customer" else world["people"][who].caller
    for statement in ("update public.reservations set total_minor = 1 where org_id = %s",
                      "delete from public.reservations where org_id = %s",
                      "update public.reservation_stops set address = 'x' where org_id = %s"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with db.acting(caller) as cur:
                cur.execute(statement, (world["org_id"],))


def test_a_vehicles_mileage_only_goes_up_and_its_plate_and_vin_are_checked(db, world):
    car = world["sedan_car"]
    with pytest.raises(psycopg.Error, match="Mileage only goes up") as caught:
        with db.acting(world["people"]["owner"].caller) as cur:
            cur.execute("update public.vehicles set mileage = 10 where id = %s", (car["id"],))
            cur.execute("update public.vehicles set mileage = 9 where id = %s", (car["id"],))
    assert caught.value.sqlstate == "PT422"
    made = db.one("insert into public.vehicles (org_id, class_id, make, model, year, plate, vin, seats)"
                  " values (%s, %s, 'Tesla', 'Model S', 2025, 'vv 24-xyz', '5yj3e1ea7kf317000', 4) returning *",
                  (world["org_id"], world["sedan"]["id"]))
    assert (made["plate"], made["vin"]) == ("VV24XYZ", "5YJ3E1EA7KF317000")
    for plate, vin in (("VV24XYZ", "5YJ3E1EA7KF317001"), ("NEW1", "5YJ3E1EA7KF31700"), ("NEW2", "5YJ3E1EA7KF3170O0")):
        with pytest.raises(psycopg.errors.IntegrityError):
            db.sql("insert into public.vehicles (org_id, class_id, make, model, year, plate, vin, seats)"
                   " values (%s, %s, 'Tesla', 'Model S', 2025, %s, %s, 4)", (world["org_id"], world["sedan"]["id"], plate, vin))


def test_drivers_and_affiliates_must_be_members_with_that_role(db, world):
    for table, columns in (("drivers", "name, licence_number, licence_expires_on"),
                           ("affiliates", "company")):
        values = "'X', 'LIC-NOT-A-DRIVER', '2099-01-01'" if table == "drivers" else "'X'"
        with pytest.raises(psycopg.Error, match="must be a member") as caught:
            db.sql(f"insert into public.{table} (org_id, user_id, {columns}) values (%s, %s, {values})",
                   (world["org_id"], world["people"]["staff"].id))
        assert caught.value.sqlstate == "PT422"
