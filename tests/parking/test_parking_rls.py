"""Who may read and write the parking tables (policies/parking.sql), as PostgREST would run it.

The matrix is the contract: table × command × actor, each probed in a transaction that is rolled
back (tests/support/rls.py), so one arranged world serves the module. Writes are judged by what a
superuser sees afterwards in the same transaction, and run once without `returning` too, so a write
the policies wrongly allow cannot hide behind a SELECT policy.

Anyone reads what is on sale (active lots and their active products, prices, overrides, extras);
the org's owner, admin, manager and staff read the rest of their org; owners and admins write the
catalogue and the policy; a customer reads their own bookings, booking extras and charges; nobody
but the service role writes bookings, days, booking extras or charges (the functions do); the gate
code is not readable through the API, and anon reaches a booking only with its reference + token.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from shared.platform.db import Caller
from tests.support import factories
from tests.support import parking as P
from tests.support.pg import call, refused
from tests.support.rls import assert_case, parse_matrix, probe

ACTORS = ("anon", "outsider", "customer", "other_customer", "owner", "admin", "manager", "staff", "driver",
          "rival_owner", "service_role")

# Legend (tests/support/rls.py): x = no grant (42501 permission denied); p = refused by a policy's
# `with check`; 0 = matches no row; 1 = reads / writes the one target row. Targets belong to the team's
# org; `customer` booked the target booking (signed in), `other_customer` another one at the same lot;
# `driver` is a member of the org in a role that has nothing to do with parking. A `/variant` is another
# target row of the same table.
MATRIX = """
target                           command anon outsider customer other_customer owner admin manager staff driver rival_owner service_role
parking_lots                     select  1    1        1        1              1     1     1       1     1      1           1
parking_lots/inactive            select  0    0        0        0              1     1     1       1     0      0           1
parking_lots                     insert  x    p        p        p              1     1     p       p     p      p           1
parking_lots                     update  x    0        0        0              1     1     0       0     0      0           1
parking_lots/unused              delete  x    0        0        0              1     1     0       0     0      0           1
parking_products                 select  1    1        1        1              1     1     1       1     1      1           1
parking_products/inactive        select  0    0        0        0              1     1     1       1     0      0           1
parking_products/on-inactive-lot select  0    0        0        0              1     1     1       1     0      0           1
parking_products                 insert  x    p        p        p              1     1     p       p     p      p           1
parking_products                 update  x    0        0        0              1     1     0       0     0      0           1
parking_products/unused          delete  x    0        0        0              1     1     0       0     0      0           1
parking_prices                   select  1    1        1        1              1     1     1       1     1      1           1
parking_prices/inactive          select  0    0        0        0              1     1     1       1     0      0           1
parking_prices/on-inactive-lot   select  0    0        0        0              1     1     1       1     0      0           1
parking_prices                   insert  x    p        p        p              1     1     p       p     p      p           1
parking_prices                   update  x    0        0        0              1     1     0       0     0      0           1
parking_prices                   delete  x    0        0        0              1     1     0       0     0      0           1
parking_price_overrides          select  1    1        1        1              1     1     1       1     1      1           1
parking_price_overrides/inactive select  0    0        0        0              1     1     1       1     0      0           1
parking_price_overrides          insert  x    p        p        p              1     1     p       p     p      p           1
parking_price_overrides          update  x    0        0        0              1     1     0       0     0      0           1
parking_price_overrides          delete  x    0        0        0              1     1     0       0     0      0           1
parking_extras                   select  1    1        1        1              1     1     1       1     1      1           1
parking_extras/inactive          select  0    0        0        0              1     1     1       1     0      0           1
parking_extras/on-inactive-lot   select  0    0        0        0              1     1     1       1     0      0           1
parking_extras                   insert  x    p        p        p              1     1     p       p     p      p           1
parking_extras                   update  x    0        0        0              1     1     0       0     0      0           1
parking_extras/unused            delete  x    0        0        0              1     1     0       0     0      0           1
parking_policies                 select  x    0        0        0              1     1     1       1     0      0           1
parking_policies                 insert  x    p        p        p              1     1     p       p     p      p           1
parking_policies                 update  x    0        0        0              1     1     0       0     0      0           1
parking_policies                 delete  x    0        0        0              1     1     0       0     0      0           1
parking_days                     select  x    0        0        0              1     1     1       1     0      0           1
parking_days                     insert  x    x        x        x              x     x     x       x     x      x           1
parking_days                     update  x    x        x        x              x     x     x       x     x      x           1
parking_days                     delete  x    x        x        x              x     x     x       x     x      x           1
parking_bookings                 select  x    0        1        0              1     1     1       1     0      0           1
parking_bookings/gate_code       select  x    x        x        x              x     x     x       x     x      x           1
parking_bookings                 insert  x    x        x        x              x     x     x       x     x      x           1
parking_bookings                 update  x    x        x        x              x     x     x       x     x      x           1
parking_bookings                 delete  x    x        x        x              x     x     x       x     x      x           1
parking_booking_extras           select  x    0        1        0              1     1     1       1     0      0           1
parking_booking_extras           insert  x    x        x        x              x     x     x       x     x      x           1
parking_booking_extras           update  x    x        x        x              x     x     x       x     x      x           1
parking_booking_extras           delete  x    x        x        x              x     x     x       x     x      x           1
parking_charges                  select  x    0        1        0              1     1     1       1     0      0           1
parking_charges                  insert  x    x        x        x              x     x     x       x     x      x           1
parking_charges                  update  x    x        x        x              x     x     x       x     x      x           1
parking_charges                  delete  x    x        x        x              x     x     x       x     x      x           1
"""
# service_role is BYPASSRLS with every grant (Supabase's contract for the server key); its column is
# here so a change to that contract shows.

CASES = parse_matrix(MATRIX, ACTORS)
TABLES = ("parking_lots", "parking_products", "parking_prices", "parking_price_overrides", "parking_extras",
          "parking_days", "parking_policies", "parking_bookings", "parking_booking_extras", "parking_charges")
MARK = 424242  # an amount no arranged row has


@dataclass(frozen=True)
class Probe:
    statement: str
    check: str | None = None  # superuser count of rows showing the write's effect; None for select


def select(table: str, key: str, column: str = "id") -> Probe:
    return Probe(f"select {column} from public.{table} where id = %({key})s")


def update(table: str, key: str, column: str, value: str = "%(marker)s") -> Probe:
    return Probe(f"update public.{table} set {column} = {value} where id = %({key})s returning id",
                 f"select count(*) from public.{table} where id = %({key})s and {column} = {value}")


def delete(table: str, key: str) -> Probe:
    return Probe(f"delete from public.{table} where id = %({key})s returning id",
                 f"select 1 - count(*) from public.{table} where id = %({key})s")


def insert(table: str, columns: str, values: str, marker_column: str, marker: str = "%(marker)s") -> Probe:
    return Probe(f"insert into public.{table} ({columns}) values ({values}) returning {marker_column}",
                 f"select count(*) from public.{table} where {marker_column} = {marker}")


PRICE = "product_id = %(flex_id)s and days = 3"
DAY = "lot_id = %(lot_id)s and day = %(day)s"
EXTRA = "booking_id = %(booking_id)s and extra_id = %(wash_id)s"
PROBES: dict[tuple[str, str], Probe] = {
    ("parking_lots", "select"): select("parking_lots", "lot_id"),
    ("parking_lots/inactive", "select"): select("parking_lots", "inactive_lot_id"),
    ("parking_lots", "insert"): insert("parking_lots", "org_id, name, iata_code, timezone, default_spaces",
                                       "%(org_id)s, %(marker)s, 'LGW', 'Europe/London', 10", "name"),
    ("parking_lots", "update"): update("parking_lots", "lot_id", "name"),
    ("parking_lots/unused", "delete"): delete("parking_lots", "unused_lot_id"),
    ("parking_products", "select"): select("parking_products", "flex_id"),
    ("parking_products/inactive", "select"): select("parking_products", "retired_id"),
    ("parking_products/on-inactive-lot", "select"): select("parking_products", "closed_product_id"),
    ("parking_products", "insert"): insert("parking_products", "org_id, lot_id, name, service",
                                           "%(org_id)s, %(lot_id)s, %(marker)s, 'valet'", "name"),
    ("parking_products", "update"): update("parking_products", "flex_id", "name"),
    ("parking_products/unused", "delete"): delete("parking_products", "unused_product_id"),
    ("parking_prices", "select"): Probe(f"select days from public.parking_prices where {PRICE}"),
    ("parking_prices/inactive", "select"): Probe(
        "select days from public.parking_prices where product_id = %(retired_id)s and days = 1"),
    ("parking_prices/on-inactive-lot", "select"): Probe(
        "select days from public.parking_prices where product_id = %(closed_product_id)s and days = 1"),
    ("parking_prices", "insert"): insert("parking_prices", "product_id, org_id, days, price_minor",
                                         f"%(flex_id)s, %(org_id)s, 14, {MARK}", "price_minor", str(MARK)),
    ("parking_prices", "update"): Probe(f"update public.parking_prices set price_minor = {MARK} where {PRICE}"
                                        " returning days",
                                        f"select count(*) from public.parking_prices where {PRICE}"
                                        f" and price_minor = {MARK}"),
    ("parking_prices", "delete"): Probe(f"delete from public.parking_prices where {PRICE} returning days",
                                        f"select 1 - count(*) from public.parking_prices where {PRICE}"),
    ("parking_price_overrides", "select"): select("parking_price_overrides", "override_id"),
    ("parking_price_overrides/inactive", "select"): select("parking_price_overrides", "retired_override_id"),
    ("parking_price_overrides", "insert"): insert(
        "parking_price_overrides", "org_id, product_id, first_day, last_day, percent, note",
        "%(org_id)s, %(flex_id)s, %(far_day)s, %(far_day)s, 110, %(marker)s", "note"),
    ("parking_price_overrides", "update"): update("parking_price_overrides", "override_id", "note"),
    ("parking_price_overrides", "delete"): delete("parking_price_overrides", "override_id"),
    ("parking_extras", "select"): select("parking_extras", "wash_id"),
    ("parking_extras/inactive", "select"): select("parking_extras", "retired_extra_id"),
    ("parking_extras/on-inactive-lot", "select"): select("parking_extras", "closed_extra_id"),
    ("parking_extras", "insert"): insert("parking_extras", "org_id, lot_id, kind, name, price_minor",
                                         "%(org_id)s, %(lot_id)s, 'other', %(marker)s, 100", "name"),
    ("parking_extras", "update"): update("parking_extras", "wash_id", "name"),
    ("parking_extras/unused", "delete"): delete("parking_extras", "unused_extra_id"),
    # parking_policies: the org's row; a new row goes to a second org of the same team (one row per org).
    ("parking_policies", "select"): Probe("select org_id from public.parking_policies where org_id = %(org_id)s"),
    ("parking_policies", "insert"): insert("parking_policies", "org_id, admin_fee_minor",
                                           f"%(sister_org_id)s, {MARK}", "admin_fee_minor", str(MARK)),
    ("parking_policies", "update"): Probe(
        f"update public.parking_policies set admin_fee_minor = {MARK} where org_id = %(org_id)s returning org_id",
        f"select count(*) from public.parking_policies where org_id = %(org_id)s and admin_fee_minor = {MARK}"),
    ("parking_policies", "delete"): Probe(
        "delete from public.parking_policies where org_id = %(org_id)s returning org_id",
        "select 1 - count(*) from public.parking_policies where org_id = %(org_id)s"),
    # parking_days: a day of the customer's stay; a new row far ahead.
    ("parking_days", "select"): Probe(f"select day from public.parking_days where {DAY}"),
    ("parking_days", "insert"): insert("parking_days", "lot_id, org_id, day, spaces, released",
                                       f"%(lot_id)s, %(org_id)s, %(far_day)s, {MARK}, 0", "spaces", str(MARK)),
    ("parking_days", "update"): Probe(f"update public.parking_days set spaces = {MARK} where {DAY} returning day",
                                      f"select count(*) from public.parking_days where {DAY} and spaces = {MARK}"),
    ("parking_days", "delete"): Probe(f"delete from public.parking_days where {DAY} returning day",
                                      f"select 1 - count(*) from public.parking_days where {DAY}"),
    # parking_bookings: the customer's booking (only granted columns selected, then the gate code).
    ("parking_bookings", "select"): select("parking_bookings", "booking_id", "id, status, plate, customer_email"),
    ("parking_bookings/gate_code", "select"): select("parking_bookings", "booking_id", "gate_code"),
    ("parking_bookings", "insert"): insert(
        "parking_bookings", "org_id, lot_id, product_id, order_id, customer_name, customer_email, entry_at, exit_at,"
        " first_day, last_day, billable_days, plate, stay_minor, gate_code",
        "%(org_id)s, %(lot_id)s, %(flex_id)s, %(spare_order_id)s, %(marker)s, 'probe@example.com', %(entry_at)s,"
        " %(entry_at)s + interval '1 hour', %(day)s, %(day)s, 1, 'PROBE1', 1200, %(marker)s", "customer_name"),
    ("parking_bookings", "update"): update("parking_bookings", "booking_id", "customer_name"),
    ("parking_bookings", "delete"): delete("parking_bookings", "booking_id"),
    ("parking_booking_extras", "select"): Probe(f"select extra_id from public.parking_booking_extras where {EXTRA}"),
    ("parking_booking_extras", "insert"): insert(
        "parking_booking_extras", "booking_id, extra_id, org_id, price_minor",
        f"%(booking_id)s, %(ev_id)s, %(org_id)s, {MARK}", "price_minor", str(MARK)),
    ("parking_booking_extras", "update"): Probe(
        f"update public.parking_booking_extras set price_minor = {MARK} where {EXTRA} returning extra_id",
        f"select count(*) from public.parking_booking_extras where {EXTRA} and price_minor = {MARK}"),
    ("parking_booking_extras", "delete"): Probe(
        f"delete from public.parking_booking_extras where {EXTRA} returning extra_id",
        f"select 1 - count(*) from public.parking_booking_extras where {EXTRA}"),
    ("parking_charges", "select"): select("parking_charges", "charge_id", "id, reason, amount_minor"),
    ("parking_charges", "insert"): insert("parking_charges", "org_id, booking_id, order_id, reason, amount_minor",
                                          f"%(org_id)s, %(booking_id)s, %(spare_order_id)s, 'overstay', {MARK}",
                                          "amount_minor", str(MARK)),
    ("parking_charges", "update"): update("parking_charges", "charge_id", "amount_minor", str(MARK)),
    ("parking_charges", "delete"): delete("parking_charges", "charge_id"),
}


@pytest.fixture(scope="module")
def prober(database_url):
    """One connection for all probes; every probe runs in a transaction that is rolled back."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture(scope="module")
def world(db, park) -> dict:
    lot, org_id, people = park["lot"], park["org_id"], dict(park["people"])
    people["customer"] = db.user(full_name="Cee Customer", confirmed=True)
    people["other_customer"] = db.user(full_name="Otto Other", confirmed=True)
    P.set_policy(db, org_id, admin_fee_minor=300)
    sister = factories.org(db, people["owner"])
    for role in ("admin", "manager", "staff", "driver"):
        factories.member(db, sister, people[role], role)

    request = P.stay(park, entry=P.local(lot, 10, 9), exit=P.local(lot, 12, 9), extras=[park["wash"]])
    mine = P.booked(db, park, request, caller=people["customer"].caller, who={})
    theirs = P.booked(db, park, P.stay(park), caller=people["other_customer"].caller, who={})
    guest = P.booked(db, park, P.stay(park, extras=[park["ev"]]))
    dearer = call(db, Caller.service(), "select public.amend_parking_booking(%s, %s, %s)", P.local(lot, 10, 9),
                  P.local(lot, 13, 9), mine["row"]["id"])
    charge_id = db.value("select id from public.parking_charges where order_id = %s", (dearer["charge"]["order_id"],))
    assert dearer["charge"]["amount_minor"] == 700  # 2 days (2000) -> 3 days (2700)
    other_charge = call(db, Caller.service(), "select public.amend_parking_booking(%s, %s, %s)", P.local(lot, 10, 9),
                        P.local(lot, 18, 9), theirs["row"]["id"])["charge"]
    assert other_charge["amount_minor"] == 500  # 4 days (4500) -> 8 days (5000)

    retired = P.product(db, lot, name="Retired", prices={1: 100}, extra_day=0)
    db.sql("update public.parking_products set active = false where id = %s", (retired["id"],))
    today = P.today_at(lot)
    override = db.one("insert into public.parking_price_overrides (org_id, product_id, first_day, last_day, percent)"
                      " values (%s, %s, %s, %s, 125) returning id", (org_id, park["flex"]["id"],
                                                                      today + timedelta(days=100),
                                                                      today + timedelta(days=110)))
    retired_override = db.one("insert into public.parking_price_overrides (org_id, product_id, first_day, last_day,"
                              " percent) values (%s, %s, %s, %s, 90) returning id",
                              (org_id, retired["id"], today, today + timedelta(days=5)))
    retired_extra = P.extra(db, lot, kind="other", name="Retired extra", price=100)
    db.sql("update public.parking_extras set active = false where id = %s", (retired_extra["id"],))
    closed = P.lot(db, org_id)
    closed_product = P.product(db, closed, name="Closed lot's product", prices={1: 100}, extra_day=0)
    closed_extra = P.extra(db, closed, kind="wash", name="Closed lot's wash", price=100)
    db.sql("update public.parking_lots set active = false where id = %s", (closed["id"],))
    unused_lot = P.lot(db, org_id)
    unused_product = P.product(db, lot, name="Unused", prices={}, extra_day=0)
    unused_extra = P.extra(db, lot, kind="other", name="Unused extra", price=100)

    rival_park = {**park, "lot": P.lot(db, park["rival"]["id"])}
    rival_park["flex"] = P.product(db, rival_park["lot"], name="Rival P&R", prices=P.FLEX_PRICES, extra_day=500)
    rival_booking = P.booked(db, rival_park, P.stay(rival_park))
    spare_order = db.one("insert into public.orders (org_id, number, kind, buyer_email, buyer_name, currency,"
                         " tracking_token_hash) values (%s, %s, 'parking', 'spare@example.com', 'Spare', 'GBP',"
                         " sha256('spare'::bytea)) returning id", (org_id, f"BW-SPARE{uuid.uuid4().hex[:3].upper()}"))

    callers = {role: user.caller for role, user in people.items()}
    callers["anon"] = Caller.anon()
    callers["service_role"] = Caller.service()
    row = P.booking_row(db, mine["order_id"])
    return {
        "park": park, "people": people, "callers": callers, "mine": mine, "theirs": theirs, "guest": guest,
        "dearer": dearer,
        "rival_booking": rival_booking, "rival_org_id": park["rival"]["id"],
        "params": {
            "org_id": org_id, "sister_org_id": sister["id"], "lot_id": lot["id"], "inactive_lot_id": closed["id"],
            "unused_lot_id": unused_lot["id"], "flex_id": park["flex"]["id"], "retired_id": retired["id"],
            "closed_product_id": closed_product["id"], "unused_product_id": unused_product["id"],
            "override_id": override["id"], "retired_override_id": retired_override["id"],
            "wash_id": park["wash"]["id"], "ev_id": park["ev"]["id"], "retired_extra_id": retired_extra["id"],
            "closed_extra_id": closed_extra["id"], "unused_extra_id": unused_extra["id"],
            "booking_id": row["id"], "charge_id": charge_id, "day": row["first_day"], "entry_at": row["entry_at"],
            "far_day": today + timedelta(days=400), "spare_order_id": spare_order["id"],
            "marker": f"probe-{uuid.uuid4().hex[:8]}",
        },
    }


@pytest.mark.parametrize(("target", "command", "actor", "expected"), CASES,
                         ids=[f"{t}-{c}-{a}" for t, c, a, _ in CASES])
def test_rls_matrix(prober, world, target, command, actor, expected):
    spec = PROBES[(target, command)]
    assert_case(prober, world["callers"][actor], spec.statement, world["params"], spec.check, expected,
                f"{actor} {command} on {target}")


def test_the_matrix_covers_every_command_on_every_parking_table(db):
    parking = {r["relname"] for r in db.sql("select relname from pg_class where relnamespace = 'public'::regnamespace"
                                            " and relkind in ('r', 'p') and relname like 'parking%%'")}
    assert parking == set(TABLES)
    for table in TABLES:
        for command in ("select", "insert", "update", "delete"):
            assert any(t.split("/")[0] == table and c == command for t, c in PROBES), f"{table} {command}"
    assert set(PROBES) == {(t, c) for t, c, *_ in CASES}


def test_every_parking_table_has_rls_on_and_one_policy_per_role_and_command(db):
    rows = db.sql("select relname, relrowsecurity from pg_class where relnamespace = 'public'::regnamespace"
                  " and relname = any(%s)", (list(TABLES),))
    assert {r["relname"]: r["relrowsecurity"] for r in rows} == {t: True for t in TABLES}
    policies = db.sql("select tablename, cmd, roles, count(*) over (partition by tablename, cmd, roles) as n"
                      " from pg_policies where schemaname = 'public' and tablename = any(%s)", (list(TABLES),))
    assert all(r["roles"] != ["public"] for r in policies), [r for r in policies if r["roles"] == ["public"]]
    assert all(r["n"] == 1 for r in policies), [r for r in policies if r["n"] > 1]


# ---------------------------------------------------------------------------
# Whole tables as each role sees them
# ---------------------------------------------------------------------------
VISIBLE = {"parking_bookings": "select id from public.parking_bookings",
           "parking_booking_extras": "select booking_id, extra_id from public.parking_booking_extras",
           "parking_charges": "select id from public.parking_charges",
           "parking_days": "select lot_id, day from public.parking_days",
           "parking_policies": "select org_id from public.parking_policies"}


def seen(prober, caller: Caller, query: str) -> list[tuple]:
    status, result, _ = probe(prober, caller, query, {})
    assert status == "ok", result
    return sorted(tuple(str(v) for v in r.values()) for r in result)


def everything(db, query: str, where: str = "") -> list[tuple]:
    return sorted(tuple(str(v) for v in r.values()) for r in db.sql(query + where))


@pytest.mark.parametrize("who", ["customer", "other_customer"])
def test_a_customer_sees_only_their_own_booking_its_extras_and_charges(prober, world, who):
    caller = world["callers"][who]
    booking = world["mine" if who == "customer" else "theirs"]["row"]
    assert seen(prober, caller, VISIBLE["parking_bookings"]) == [(str(booking["id"]),)]
    extras = seen(prober, caller, VISIBLE["parking_booking_extras"])
    assert extras == ([(str(booking["id"]), str(world["params"]["wash_id"]))] if who == "customer" else [])
    charges = seen(prober, caller, "select booking_id, reason, amount_minor from public.parking_charges")
    assert charges == [(str(booking["id"]), "amendment", "700" if who == "customer" else "500")]
    for table in ("parking_days", "parking_policies"):
        assert seen(prober, caller, VISIBLE[table]) == [], table


@pytest.mark.parametrize("who", ["owner", "admin", "manager", "staff"])
def test_the_lots_team_sees_all_of_its_org_and_nothing_of_the_rivals(prober, db, world, who):
    caller = world["callers"][who]
    org_id, rival_id = world["params"]["org_id"], world["rival_org_id"]
    for table, query in VISIBLE.items():
        mine = everything(db, query, f" where org_id = '{org_id}'")
        assert mine, table
        assert seen(prober, caller, query + f" where org_id = '{org_id}'") == mine, table
        assert seen(prober, caller, query + f" where org_id = '{rival_id}'") == [], table


@pytest.mark.parametrize("who", ["rival_owner", "driver", "outsider"])
def test_other_orgs_staff_field_roles_and_strangers_see_no_bookings_days_or_money(prober, db, world, who):
    caller = world["callers"][who]
    for table, query in VISIBLE.items():
        visible = seen(prober, caller, query)
        if who == "rival_owner":  # their own org's rows only
            assert visible == everything(db, query, f" where org_id = '{world['rival_org_id']}'"), table
        else:
            assert visible == [], table


def test_anon_reads_exactly_what_is_on_sale(prober, db, world):
    p = world["params"]
    anon = Caller.anon()
    assert seen(prober, anon, f"select id from public.parking_lots where org_id = '{p['org_id']}'") == everything(
        db, "select id from public.parking_lots", f" where org_id = '{p['org_id']}' and active")
    products = seen(prober, anon, f"select name from public.parking_products where org_id = '{p['org_id']}'")
    assert products == [("Park & Ride",), ("Saver",), ("Unused",)]
    extras = seen(prober, anon, f"select name from public.parking_extras where org_id = '{p['org_id']}'")
    assert extras == [("Cancellation cover",), ("EV charge",), ("Unused extra",), ("Valet wash",)]
    prices = seen(prober, anon, f"select product_id, days from public.parking_prices where org_id = '{p['org_id']}'")
    assert {r[0] for r in prices} == {str(world["park"]["flex"]["id"]), str(world["park"]["saver"]["id"])}
    assert len(prices) == len(P.FLEX_PRICES) + len(P.SAVER_PRICES)
    assert seen(prober, anon, "select id from public.parking_price_overrides") == [(str(p["override_id"]),)]
    for table in ("parking_days", "parking_policies", "parking_bookings", "parking_booking_extras", "parking_charges"):
        status, result, _ = probe(prober, anon, f"select 1 from public.{table} limit 1", {})
        assert status == "error" and isinstance(result, psycopg.errors.InsufficientPrivilege), table


# ---------------------------------------------------------------------------
# The gate code, and anon's one way to a booking
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["customer", "owner", "staff"])
def test_the_gate_code_is_not_selectable_by_anyone_signed_in(prober, world, who):
    for query in ("select gate_code from public.parking_bookings", "select * from public.parking_bookings",
                  "select id from public.parking_bookings where gate_code = 'x'"):
        status, result, _ = probe(prober, world["callers"][who], query, {})
        assert status == "error" and isinstance(result, psycopg.errors.InsufficientPrivilege), (who, query)
        assert "permission denied" in str(result)


def test_a_customer_gets_their_gate_codes_only_from_my_parking_bookings(db, world):
    mine = call(db, world["callers"]["customer"], "select public.my_parking_bookings()")
    row = world["mine"]["row"]
    assert [(b["id"], b["gate_code"]) for b in mine] == [(str(row["id"]), row["gate_code"])]
    assert mine[0]["charges"][0]["amount_minor"] == 700 and mine[0]["balance_due_minor"] == 700
    theirs = call(db, world["callers"]["other_customer"], "select public.my_parking_bookings()")
    assert [b["id"] for b in theirs] == [str(world["theirs"]["row"]["id"])]
    assert call(db, world["callers"]["owner"], "select public.my_parking_bookings()") == []
    denied = call(db, Caller.anon(), "select public.my_parking_bookings()")
    assert isinstance(denied, psycopg.errors.InsufficientPrivilege), denied


def test_anon_reaches_a_booking_only_with_its_reference_and_token(db, world):
    guest = world["guest"]
    found = call(db, Caller.anon(), "select public.lookup_parking_booking(%s, %s)", guest["number"],
                 guest["tracking_token"])
    assert (found["id"], found["reference"], found["gate_code"], found["plate"]) == (
        str(guest["row"]["id"]), guest["number"], guest["row"]["gate_code"], "AB12CDE")
    assert [e["kind"] for e in found["extras"]] == ["ev_charge"]
    # Lower case and spaces around the reference are the same reference.
    assert call(db, Caller.anon(), "select public.lookup_parking_booking(%s, %s)", f"  {guest['number'].lower()} ",
                guest["tracking_token"])["id"] == found["id"]
    # A wrong token, or another booking's: nothing, and the failure is counted once per attempt.
    for n, token in enumerate(("nope-nope-nope", world["mine"]["tracking_token"]), start=1):
        assert call(db, Caller.anon(), "select public.lookup_parking_booking(%s, %s)", guest["number"], token) is None
        assert db.value("select failures from private.order_lookup_failures where order_number = %s",
                        (guest["number"],)) == n
    # A charge's own reference and token open the charge's order, not a booking.
    charge = world["dearer"]["charge"]
    refused(call(db, Caller.anon(), "select public.lookup_parking_booking(%s, %s)", charge["order_number"],
                 charge["tracking_token"]), "PT404", "booking_not_found")
