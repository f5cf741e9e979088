"""Reports and ratings (routines/appointments/reports.sql, policies/appointments.sql,
shared/appointments/reports.py, functions/reports).

One hand-built org in Europe/London (two services, two cleaners, one idle
cleaner) around the spring DST change (Sunday 29 March 2026, 01:00 GMT ->
02:00 BST) and the March/April month boundary. Every expected figure below is
worked out by hand from this table, not by re-running the SQL:

    job  staff service local start (London)      status     order                 booked  collected
    J9   Ann   Oven    Thu 26 Mar 11:00 GMT      no_show    -                     7000    0
    J6   Bob   Clean   Fri 27 Mar 16:00 GMT      cancelled  -   (late: override)  0       0
    J1   Ann   Clean   Sat 28 Mar 10:00 GMT      completed  O1 5000 paid          5000    5000
    J10  Bob   Clean   Sat 28 Mar 10:00 GMT      completed  -                     5000    0
    J2   Bob   Oven    Sun 29 Mar 09:30 BST      completed  O2 line 7000          7000    6417
    J5   Ann   Oven    Mon 30 Mar 09:00 BST      cancelled  O3 6300, refunded     0       0
    J4   Bob   Clean   Tue 31 Mar 14:00 BST      completed  -                     5000    0
    J3   Ann   Clean   Wed  1 Apr 00:30 BST      booked     O2 line 5000          5000    4583
    (a held job, a job in February and a rival org's paid job never count)

O2 = 7000 + 5000 paid 12000, 1000 refunded: it kept 11000, shared 7000:5000 ->
6416.67 / 4583.33 -> the leftover unit goes to the larger remainder: 6417 /
4583. J3 starts at 23:30 UTC on 31 March: a UTC report would put it in March.
J2 starts at 08:30 UTC: its local hour is 9.
"""

from __future__ import annotations

import csv
import io
import threading
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import psycopg
from psycopg.rows import dict_row
import pytest

from shared.platform import reports
from shared.platform.db import Caller, act_as
from tests.support import factories
from tests.support.http import anon_headers
from tests.support.rls import assert_case, probe
from tests.support.pg import ArrangingDb

LONDON = ZoneInfo("Europe/London")
FROM, TO = date(2026, 3, 23), date(2026, 4, 5)  # Monday 23 March .. Sunday 5 April
CLEAN, OVEN = 5000, 7000


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LONDON)


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


# ---------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------
def make_order(db, org_id, lines: list[tuple[str, int, int]], token: str) -> dict:
    """An appointment order (pending) with lines (service_id, price, discount); its number and item ids."""
    subtotal = sum(p for _, p, _ in lines)
    discount = sum(d for _, _, d in lines)
    order = db.one(
        "insert into public.orders (org_id, number, kind, status, buyer_email, buyer_name, currency, subtotal_minor,"
        " discount_minor, total_minor, tracking_token_hash, hold_expires_at)"
        " values (%s, private.new_order_number(), 'appointments', 'pending', 'buyer@example.com', 'Bea Buyer', 'GBP',"
        " %s, %s, %s, private.token_hash(%s), now() + interval '1 hour') returning id, number",
        (org_id, subtotal, discount, subtotal - discount, token))
    order["items"] = [db.value(
        "insert into public.order_items (order_id, org_id, description, quantity, unit_price_minor, discount_minor,"
        " service_id) values (%s, %s, 'Appointment', 1, %s, %s, %s) returning id",
        (order["id"], org_id, price, disc, service_id)) for service_id, price, disc in lines]
    order["token"] = token
    return order


def pay(db, order_id) -> None:
    total = db.value("select total_minor from public.orders where id = %s", (order_id,))
    with db.as_service() as cur:
        cur.execute("select private.record_payment(%s, 'stripe', %s, %s, 'GBP') as outcome",
                    (order_id, f"pi_{uuid.uuid4().hex[:16]}", total))
        assert cur.fetchone()["outcome"] == "fulfilled"


def refund(db, order_id, amount: int | None) -> None:
    with db.as_service() as cur:
        cur.execute("select id from private.request_refund(%s, %s, 'test')", (order_id, amount))


def job(db, w, staff, service, start: datetime, status: str, *, order=None, item=None, customer=None,
        minutes: int | None = None) -> str:
    minutes = minutes or (60 if service == "clean" else 90)
    return str(db.value(
        "insert into public.appointments (org_id, service_id, staff_id, order_id, order_item_id, customer_user_id,"
        " customer_name, customer_email, status, period, hold_expires_at)"
        " values (%s, %s, %s, %s, %s, %s, 'Casey', 'casey@example.com', %s, tstzrange(%s, %s, '[)'),"
        "         case when %s = 'held' then now() + interval '10 minutes' end) returning id",
        (w["org_id"], w[service], w[staff], order["id"] if order else None, item,
         customer.id if customer else None, status, start, start + timedelta(minutes=minutes), status)))


@pytest.fixture(scope="module")
def world(db) -> dict:
    org = factories.org(db, timezone="Europe/London", currency="GBP")
    org_id = org["id"]
    w: dict = {"org_id": org_id, "org": org, "people": {"owner": org["owner"]}}
    people = w["people"]
    for role in ("admin", "manager"):
        people[role] = factories.member(db, org, role=role)
    for key in ("staff_ann", "staff_bob"):
        people[key] = factories.member(db, org, role="staff")
    people["customer"], people["customer2"], people["outsider"] = db.user(), db.user(), db.user()

    w["clean"] = str(db.value("insert into public.services (org_id, name, duration_minutes, price_minor)"
                              " values (%s, 'Clean', 60, %s) returning id", (org_id, CLEAN)))
    w["oven"] = str(db.value("insert into public.services (org_id, name, duration_minutes, price_minor)"
                             " values (%s, 'Oven', 90, %s) returning id", (org_id, OVEN)))
    w["euro"] = str(db.value("insert into public.services (org_id, name, duration_minutes, price_minor, currency)"
                             " values (%s, 'Euro clean', 60, 4000, 'EUR') returning id", (org_id,)))
    for key, name, user in (("ann", "Ann", people["staff_ann"]), ("bob", "Bob", people["staff_bob"]),
                            ("dee", "Dee", None), ("cy", "Cy (left)", None)):
        w[key] = str(db.value("insert into public.staff (org_id, display_name, user_id, active)"
                              " values (%s, %s, %s, %s) returning id",
                              (org_id, name, user.id if user else None, key != "cy")))
        for service in ("clean", "oven", "euro"):
            db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
                   (w[key], w[service], org_id))
    people["mgr_bob"] = factories.member(db, org, role="manager", scope={"staff_ids": [w["bob"]]})
    people["mgr_oven"] = factories.member(db, org, role="manager", scope={"service_ids": [w["oven"]]})

    # Availability. Ann: every day 09:00-17:00, lunch 12:00-13:00; off Monday 30 March 13:00-17:00.
    # Bob: Sundays 00:30-03:30 (the DST gap swallows an hour on 29 March), Tuesdays 10:00-16:00.
    def weekly(table, staff, weekday, starts, ends):
        db.sql(f"insert into public.{table} (org_id, staff_id, weekday, starts_at, ends_at)"
               " values (%s, %s, %s, %s, %s)", (org_id, w[staff], weekday, starts, ends))
    for weekday in range(7):
        weekly("staff_schedules", "ann", weekday, "09:00", "17:00")
        weekly("staff_breaks", "ann", weekday, "12:00", "13:00")
    weekly("staff_schedules", "bob", 6, "00:30", "03:30")
    weekly("staff_schedules", "bob", 1, "10:00", "16:00")
    db.sql("insert into public.staff_time_off (org_id, staff_id, period) values (%s, %s, tstzrange(%s, %s))",
           (org_id, w["ann"], at(3, 30, 13), at(3, 30, 17)))

    o1 = make_order(db, org_id, [(w["clean"], CLEAN, 0)], "token-one")
    o2 = make_order(db, org_id, [(w["oven"], OVEN, 0), (w["clean"], CLEAN, 0)], "token-two")
    o3 = make_order(db, org_id, [(w["oven"], OVEN, 700)], "token-three")
    o4 = make_order(db, org_id, [(w["clean"], CLEAN, 1000)], "token-four")  # a £10 promo: the line is 4000
    w["orders"] = {"o1": o1, "o2": o2, "o3": o3, "o4": o4}
    c, c2 = people["customer"], people["customer2"]
    w["jobs"] = jobs = {
        "J9": job(db, w, "ann", "oven", at(3, 26, 11), "no_show"),
        "J6": job(db, w, "bob", "clean", at(3, 27, 16), "booked", customer=c),
        "J1": job(db, w, "ann", "clean", at(3, 28, 10), "completed", order=o1, item=o1["items"][0], customer=c),
        "J10": job(db, w, "bob", "clean", at(3, 28, 10), "completed", customer=c2),
        "J2": job(db, w, "bob", "oven", at(3, 29, 9, 30), "completed", order=o2, item=o2["items"][0]),
        "J5": job(db, w, "ann", "oven", at(3, 30, 9), "booked", order=o3, item=o3["items"][0], customer=c),
        "J4": job(db, w, "bob", "clean", at(3, 31, 14), "completed", customer=c),
        "J3": job(db, w, "ann", "clean", at(4, 1, 0, 30), "booked", order=o2, item=o2["items"][1], customer=c),
        "held": job(db, w, "bob", "clean", at(3, 30, 11), "held"),
        "february": job(db, w, "ann", "clean", at(2, 10, 10), "completed", customer=c),
        "race": job(db, w, "ann", "oven", at(2, 11, 10), "completed", customer=c),
        "feb_promo": job(db, w, "bob", "clean", at(2, 12, 10), "completed", order=o4, item=o4["items"][0]),
        "euro": job(db, w, "ann", "euro", at(1, 15, 10), "completed"),
    }
    for o in (o1, o2, o3, o4):
        pay(db, o["id"])
    refund(db, o2["id"], 1000)
    refund(db, o3["id"], None)  # full: the order is refunded and J5 cancelled by the order's trigger
    assert db.value("select status::text from public.appointments where id = %s", (jobs["J5"],)) == "cancelled"
    # J6: the owner cancels after the cut-off (it is long past), an audited override.
    with db.as_user(people["owner"]) as cur:
        cur.execute("select public.override_appointment_change(%s, 'cancel', null, 'customer phoned')", (jobs["J6"],))

    # A rival org's paid job in the same week, and its owner.
    rival = factories.org(db, timezone="Europe/London")
    people["rival_owner"] = rival["owner"]
    rs = db.value("insert into public.services (org_id, name, duration_minutes, price_minor)"
                  " values (%s, 'Clean', 60, 9999) returning id", (rival["id"],))
    rst = db.value("insert into public.staff (org_id, display_name) values (%s, 'Rita') returning id", (rival["id"],))
    db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
           (rst, rs, rival["id"]))
    ro = make_order(db, rival["id"], [(rs, 9999, 0)], "token-rival")
    db.value("insert into public.appointments (org_id, service_id, staff_id, order_id, order_item_id, customer_name,"
             " status, period) values (%s, %s, %s, %s, %s, 'R', 'completed', tstzrange(%s, %s)) returning id",
             (rival["id"], rs, rst, ro["id"], ro["items"][0], at(3, 28, 10), at(3, 28, 11)))
    pay(db, ro["id"])
    w["rival_id"] = rival["id"]

    # Ratings: J1 5 (customer), J10 4 (customer2), J4 2 (customer), J2 3 (guest of O2).
    for key, who, stars in (("J1", c, 5), ("J10", c2, 4), ("J4", c, 2)):
        with db.as_user(who) as cur:
            cur.execute("select public.review_appointment(%s, %s, 'thanks') as r", (jobs[key], stars))
    with db.as_anon() as cur:
        cur.execute("select public.review_appointment_as_guest(%s, %s, %s, 3, null) as r",
                    (o2["number"], "token-two", jobs["J2"]))
        assert cur.fetchone()["r"]["rating"] == 3
    return w


def report(db, w, who: str, sql: str, *args):
    """Rows of a report RPC as `who` (raises on refusal)."""
    with db.as_user(w["people"][who]) as cur:
        cur.execute(sql, (w["org_id"], *args))
        return cur.fetchall()


def refused(db, w, who, sql, *args, org_id=None) -> psycopg.Error:
    caller = Caller.anon() if who == "anon" else w["people"][who].caller
    result = db.attempt(caller, sql, (org_id or w["org_id"], *args))
    assert isinstance(result, psycopg.Error), result
    return result


def by_period(rows, *keys):
    return {r["period_start"]: tuple(r[k] for k in keys) for r in rows}


# ---------------------------------------------------------------------------
# Revenue
# ---------------------------------------------------------------------------
def test_revenue_by_day_is_dense_local_and_nets_refunds(db, world):
    rows = report(db, world, "owner", "select * from public.report_revenue(%s, %s, %s, 'day')", FROM, TO)
    assert [r["period_start"] for r in rows] == [FROM + timedelta(days=k) for k in range(14)]
    assert {r["currency"] for r in rows} == {"GBP"}
    got = {d: v for d, v in by_period(rows, "appointments", "booked_value_minor", "collected_minor").items()
           if v != (0, 0, 0)}
    assert got == {
        date(2026, 3, 26): (1, 7000, 0),            # J9 no-show, no order
        date(2026, 3, 28): (2, 10000, 5000),        # J1 paid + J10 phone booking
        date(2026, 3, 29): (1, 7000, 6417),         # J2: its share of O2 after the £10 refund
        date(2026, 3, 31): (1, 5000, 0),            # J4 phone booking
        date(2026, 4, 1): (1, 5000, 4583),          # J3: 23:30 UTC on 31 March, local 1 April
    }  # J6 and J5 cancelled (J5 refunded in full), the held job and the rival's order: nothing


def test_revenue_by_week_starts_on_monday_across_the_dst_change(db, world):
    rows = report(db, world, "owner", "select * from public.report_revenue(%s, %s, %s, 'week')", FROM, TO)
    assert by_period(rows, "appointments", "booked_value_minor", "collected_minor") == {
        date(2026, 3, 23): (4, 24000, 11417),
        date(2026, 3, 30): (2, 10000, 4583),
    }


def test_revenue_by_month_puts_a_just_after_midnight_job_in_april(db, world):
    rows = report(db, world, "admin", "select * from public.report_revenue(%s, %s, %s, 'month')", FROM, TO)
    assert by_period(rows, "appointments", "booked_value_minor", "collected_minor") == {
        date(2026, 3, 1): (5, 29000, 11417),
        date(2026, 4, 1): (1, 5000, 4583),
    }
    # Collected in total = what the org kept: O1 5000 + O2 (12000 - 1000) + O3 (6300 - 6300).
    assert sum(r["collected_minor"] for r in rows) == 5000 + 11000 + 0


def test_revenue_by_service_and_by_staff(db, world):
    services = report(db, world, "owner", "select * from public.report_revenue_by_service(%s, %s, %s)", FROM, TO)
    assert [(r["service"], r["currency"], r["appointments"], r["booked_value_minor"], r["collected_minor"])
            for r in services] == [("Clean", "GBP", 4, 20000, 9583), ("Oven", "GBP", 2, 14000, 6417)]
    staff = report(db, world, "owner", "select * from public.report_revenue_by_staff(%s, %s, %s)", FROM, TO)
    assert [(r["staff"], r["appointments"], r["booked_value_minor"], r["collected_minor"]) for r in staff] == [
        ("Ann", 3, 17000, 9583), ("Bob", 3, 17000, 6417)]
    assert {str(r["staff_id"]) for r in staff} == {world["ann"], world["bob"]}


def test_a_scoped_manager_sees_only_the_jobs_in_their_scope(db, world):
    rows = report(db, world, "mgr_bob", "select * from public.report_revenue(%s, %s, %s, 'month')", FROM, TO)
    assert by_period(rows, "appointments", "booked_value_minor", "collected_minor") == {
        date(2026, 3, 1): (3, 17000, 6417),  # J10, J2, J4 (J6 cancelled)
        date(2026, 4, 1): (0, 0, 0),
    }
    staff = report(db, world, "mgr_bob", "select * from public.report_revenue_by_staff(%s, %s, %s)", FROM, TO)
    assert [r["staff"] for r in staff] == ["Bob"]
    services = report(db, world, "mgr_oven", "select * from public.report_revenue_by_service(%s, %s, %s)", FROM, TO)
    assert [(r["service"], r["booked_value_minor"], r["collected_minor"]) for r in services] == [
        ("Oven", 14000, 6417)]
    whole = report(db, world, "manager", "select * from public.report_revenue_by_service(%s, %s, %s)", FROM, TO)
    assert [r["service"] for r in whole] == ["Clean", "Oven"]


def test_february_values_an_order_line_after_its_discount_and_phone_jobs_at_the_price(db, world):
    rows = report(db, world, "owner", "select * from public.report_revenue(%s, %s, %s, 'month')",
                  date(2026, 2, 1), date(2026, 2, 28))
    # Two completed jobs without orders at the service's price (nothing collected) and one
    # whose order line was 5000 - 1000 promo, paid 4000.
    assert by_period(rows, "appointments", "booked_value_minor", "collected_minor") == {
        date(2026, 2, 1): (3, CLEAN + OVEN + 4000, 4000)}


def test_each_currency_has_its_own_rows(db, world):
    rows = report(db, world, "owner", "select * from public.report_revenue(%s, %s, %s, 'month')",
                  date(2026, 1, 1), date(2026, 2, 28))
    assert [(r["period_start"], r["currency"], r["appointments"], r["booked_value_minor"]) for r in rows] == [
        (date(2026, 1, 1), "EUR", 1, 4000), (date(2026, 1, 1), "GBP", 0, 0),
        (date(2026, 2, 1), "EUR", 0, 0), (date(2026, 2, 1), "GBP", 3, CLEAN + OVEN + 4000)]
    staff = report(db, world, "owner", "select * from public.report_revenue_by_staff(%s, %s, %s)",
                   date(2026, 1, 1), date(2026, 2, 28))
    assert [(r["staff"], r["currency"], r["booked_value_minor"]) for r in staff] == [
        ("Ann", "EUR", 4000), ("Ann", "GBP", CLEAN + OVEN), ("Bob", "GBP", 4000)]


def test_the_other_org_is_refused(db, world):
    rival = refused(db, world, "owner", "select * from public.report_revenue(%s, %s, %s, 'day')", FROM, TO,
                    org_id=world["rival_id"])
    assert rival.sqlstate == "PT403"


# ---------------------------------------------------------------------------
# Bookings, peak hours, cancellations
# ---------------------------------------------------------------------------
def test_bookings_by_week_count_every_non_held_job_by_status(db, world):
    rows = report(db, world, "owner", "select * from public.report_bookings(%s, %s, %s, 'week')", FROM, TO)
    assert by_period(rows, "bookings", "booked", "completed", "no_show", "cancelled") == {
        date(2026, 3, 23): (5, 0, 3, 1, 1),
        date(2026, 3, 30): (3, 1, 1, 0, 1),
    }


def test_peak_hours_are_local_weekday_and_hour_of_start(db, world):
    rows = report(db, world, "owner", "select * from public.report_peak_hours(%s, %s, %s)", FROM, TO)
    assert [(r["weekday"], r["day_name"], r["hour"], r["bookings"]) for r in rows] == [
        (1, "Tuesday", 14, 1),     # J4 (13:00 UTC)
        (2, "Wednesday", 0, 1),    # J3 (23:30 UTC on a Tuesday)
        (3, "Thursday", 11, 1),    # J9
        (5, "Saturday", 10, 2),    # J1 and J10
        (6, "Sunday", 9, 1),       # J2 (08:30 UTC)
    ]


def test_cancellation_rate_and_late_cancellations(db, world):
    rows = report(db, world, "owner", "select * from public.report_cancellations(%s, %s, %s, 'month')", FROM, TO)
    assert by_period(rows, "bookings", "cancelled", "late_cancellations", "cancellation_rate") == {
        date(2026, 3, 1): (7, 2, 1, Decimal("0.2857")),  # J6 (override past the cut-off) and J5 (refund)
        date(2026, 4, 1): (1, 0, 0, Decimal("0.0000")),
    }
    days = report(db, world, "owner", "select * from public.report_cancellations(%s, %s, %s, 'day')",
                  date(2026, 3, 23), date(2026, 3, 24))
    assert [r["cancellation_rate"] for r in days] == [None, None]  # nothing booked: no rate, not 0


# ---------------------------------------------------------------------------
# Utilisation and ratings
# ---------------------------------------------------------------------------
def test_utilisation_uses_schedules_breaks_time_off_and_real_hours_on_the_dst_day(db, world):
    rows = report(db, world, "owner", "select * from public.report_staff_utilisation(%s, %s, %s)",
                  date(2026, 3, 28), date(2026, 3, 31))
    got = {r["staff"]: (r["available_minutes"], r["booked_minutes"], r["utilisation"]) for r in rows}
    # Ann: Sat 7 h + Sun 7 h + Mon 3 h (off from 13:00) + Tue 7 h = 24 h; booked J1 (60 min); J5 cancelled.
    # Bob: Sun 00:30-03:30 is 2 real hours on 29 March + Tue 6 h = 8 h; booked J10 60 + J2 90 + J4 60.
    # Dee: active, no schedule: no rate. Cy: inactive, nothing: not listed.
    assert got == {
        "Ann": (24 * 60, 60, Decimal("0.0417")),
        "Bob": (8 * 60, 210, Decimal("0.4375")),
        "Dee": (0, 0, None),
    }
    assert {r["staff"]: r["available_hours"] for r in rows} == {
        "Ann": Decimal("24.00"), "Bob": Decimal("8.00"), "Dee": Decimal("0.00")}
    scoped = report(db, world, "mgr_bob", "select * from public.report_staff_utilisation(%s, %s, %s)",
                    date(2026, 3, 28), date(2026, 3, 31))
    assert [(r["staff"], r["booked_minutes"]) for r in scoped] == [("Bob", 210)]
    ovens = report(db, world, "mgr_oven", "select * from public.report_staff_utilisation(%s, %s, %s)",
                   date(2026, 3, 28), date(2026, 3, 31))
    assert {r["staff"]: r["booked_minutes"] for r in ovens} == {"Ann": 0, "Bob": 90, "Dee": 0}


def test_a_normal_sunday_gives_bob_three_hours(db, world):
    rows = report(db, world, "owner", "select * from public.report_staff_utilisation(%s, %s, %s)",
                  date(2026, 4, 5), date(2026, 4, 5))
    assert {r["staff"]: r["available_minutes"] for r in rows}["Bob"] == 180


def test_ratings_per_staff_and_per_service(db, world):
    staff = report(db, world, "owner", "select * from public.report_ratings(%s, %s, %s, 'staff')", FROM, TO)
    assert [(r["subject"], r["reviews"], r["average_rating"], r["stars_1"], r["stars_2"], r["stars_3"],
             r["stars_4"], r["stars_5"]) for r in staff] == [
        ("Ann", 1, Decimal("5.00"), 0, 0, 0, 0, 1),
        ("Bob", 3, Decimal("3.00"), 0, 1, 1, 1, 0),
    ]
    services = report(db, world, "owner", "select * from public.report_ratings(%s, %s, %s, 'service')", FROM, TO)
    assert [(r["subject"], r["reviews"], r["average_rating"]) for r in services] == [
        ("Clean", 3, Decimal("3.67")), ("Oven", 1, Decimal("3.00"))]
    scoped = report(db, world, "mgr_oven", "select * from public.report_ratings(%s, %s, %s, 'service')", FROM, TO)
    assert [(r["subject"], r["reviews"]) for r in scoped] == [("Oven", 1)]


# ---------------------------------------------------------------------------
# Who may ask, and bad input
# ---------------------------------------------------------------------------
ALL_REPORTS = [
    "select * from public.report_revenue(%s, %s, %s, 'day')",
    "select * from public.report_revenue_by_service(%s, %s, %s)",
    "select * from public.report_revenue_by_staff(%s, %s, %s)",
    "select * from public.report_bookings(%s, %s, %s, 'month')",
    "select * from public.report_peak_hours(%s, %s, %s)",
    "select * from public.report_cancellations(%s, %s, %s, 'week')",
    "select * from public.report_staff_utilisation(%s, %s, %s)",
    "select * from public.report_ratings(%s, %s, %s, 'staff')",
]


@pytest.mark.parametrize("sql", ALL_REPORTS)
@pytest.mark.parametrize("who", ["staff_ann", "customer", "outsider", "rival_owner"])
def test_staff_customers_and_other_tenants_get_no_report(db, world, who, sql):
    exc = refused(db, world, who, sql, FROM, TO)
    assert exc.sqlstate == "PT403" and exc.diag.message_detail == "not_a_manager", exc


@pytest.mark.parametrize("sql", ALL_REPORTS)
def test_anon_cannot_call_a_report(db, world, sql):
    exc = refused(db, world, "anon", sql, FROM, TO)
    assert isinstance(exc, psycopg.errors.InsufficientPrivilege), exc


@pytest.mark.parametrize("sql", ALL_REPORTS)
def test_anon_cannot_call_the_private_halves_either(db, world, sql):
    exc = refused(db, world, "anon", sql.replace("public.", "private."), FROM, TO)
    assert isinstance(exc, psycopg.errors.InsufficientPrivilege), exc


def test_the_jobs_helper_is_not_callable_by_api_users(db, world):
    exc = db.attempt(world["people"]["owner"].caller,
                     "select * from private.report_jobs(%s, '{}'::jsonb, 'UTC', now() - interval '1 year', now())",
                     (world["org_id"],))
    assert isinstance(exc, psycopg.errors.InsufficientPrivilege), exc


@pytest.mark.parametrize(("args", "code"), [
    ((date(2026, 4, 2), date(2026, 4, 1)), "invalid_date_range"),
    ((None, date(2026, 4, 1)), "invalid_date_range"),
    ((date(2025, 1, 1), date(2026, 1, 2)), "date_range_too_long"),  # 367 days; 366 is the most
])
def test_bad_ranges_are_refused(db, world, args, code):
    exc = refused(db, world, "owner", "select * from public.report_revenue(%s, %s, %s, 'day')", *args)
    assert (exc.sqlstate, exc.diag.message_detail) == ("PT422", code)
    leap_year = report(db, world, "owner", "select * from public.report_bookings(%s, %s, %s, 'month')",
                       date(2024, 1, 1), date(2024, 12, 31))  # 366 days: allowed
    assert len(leap_year) == 12


def test_a_bad_group_and_a_missing_org_are_refused(db, world):
    exc = refused(db, world, "owner", "select * from public.report_revenue(%s, %s, %s, 'fortnight')", FROM, TO)
    assert (exc.sqlstate, exc.diag.message_detail) == ("PT422", "invalid_group")
    exc = refused(db, world, "owner", "select * from public.report_ratings(%s, %s, %s, 'weather')", FROM, TO)
    assert (exc.sqlstate, exc.diag.message_detail) == ("PT422", "invalid_group")
    result = db.attempt(world["people"]["owner"].caller,
                        "select * from public.report_peak_hours(null, %s, %s)", (FROM, TO))
    assert isinstance(result, psycopg.Error) and result.diag.message_detail == "invalid_org"


# ---------------------------------------------------------------------------
# Ratings: writing them
# ---------------------------------------------------------------------------
def review_as(db, who, appointment_id, rating, comment=None):
    return db.attempt(who.caller, "select public.review_appointment(%s, %s, %s) as r",
                      (appointment_id, rating, comment))


def test_a_review_is_stored_once_with_its_org(db, world):
    row = db.one("select org_id, rating, comment, created_by from public.appointment_reviews"
                 " where appointment_id = %s", (world["jobs"]["J1"],))
    assert (row["org_id"], row["rating"], row["comment"], str(row["created_by"])) == (
        world["org_id"], 5, "thanks", world["people"]["customer"].id)
    again = review_as(db, world["people"]["customer"], world["jobs"]["J1"], 1)
    assert (again.sqlstate, again.diag.message_detail) == ("PT409", "already_reviewed")
    assert db.value("select count(*) from public.appointment_reviews where appointment_id = %s",
                    (world["jobs"]["J1"],)) == 1


def test_only_completed_appointments_can_be_rated(db, world):
    for key in ("J3", "J5", "J9"):  # booked, cancelled, no-show
        exc = review_as(db, world["people"]["customer"], world["jobs"][key], 4)
        assert isinstance(exc, psycopg.Error), key
        if key != "J9":  # J9 has no customer: not theirs
            assert (exc.sqlstate, exc.diag.message_detail) == ("PT409", "not_completed"), key


def test_nobody_else_can_rate_a_customers_appointment(db, world):
    for who in ("customer2", "staff_ann", "owner", "outsider"):
        exc = review_as(db, world["people"][who], world["jobs"]["february"], 1)
        assert (exc.sqlstate, exc.diag.message_detail) == ("PT404", "appointment_not_found"), who
    anon = db.attempt(Caller.anon(), "select public.review_appointment(%s, 1)", (world["jobs"]["february"],))
    assert isinstance(anon, psycopg.errors.InsufficientPrivilege)
    assert db.value("select count(*) from public.appointment_reviews where appointment_id = %s",
                    (world["jobs"]["february"],)) == 0


@pytest.mark.parametrize(("rating", "comment", "code"), [
    (0, None, "invalid_rating"), (6, None, "invalid_rating"), (None, None, "invalid_rating"),
    (3, "x" * 2001, "invalid_comment")])
def test_bad_ratings_are_refused_and_nothing_is_written(db, world, rating, comment, code):
    exc = review_as(db, world["people"]["customer"], world["jobs"]["february"], rating, comment)
    assert (exc.sqlstate, exc.diag.message_detail) == ("PT422", code)
    assert db.value("select count(*) from public.appointment_reviews where appointment_id = %s",
                    (world["jobs"]["february"],)) == 0


def test_a_guest_needs_the_right_order_number_and_token(db, world):
    o2, o1 = world["orders"]["o2"], world["orders"]["o1"]
    with db.as_anon() as cur:
        cur.execute("select public.review_appointment_as_guest(%s, 'wrong-token', %s, 5) as r",
                    (o2["number"], world["jobs"]["J2"]))
        assert cur.fetchone()["r"] is None
    # The right pair, but an appointment of another order.
    exc = db.attempt(Caller.anon(), "select public.review_appointment_as_guest(%s, %s, %s, 5)",
                     (o1["number"], o1["token"], world["jobs"]["J2"]))
    assert (exc.sqlstate, exc.diag.message_detail) == ("PT404", "appointment_not_found")
    # J3 is O2's but still booked.
    exc = db.attempt(Caller.anon(), "select public.review_appointment_as_guest(%s, %s, %s, 5)",
                     (o2["number"], o2["token"], world["jobs"]["J3"]))
    assert (exc.sqlstate, exc.diag.message_detail) == ("PT409", "not_completed")
    row = db.one("select rating, created_by from public.appointment_reviews where appointment_id = %s",
                 (world["jobs"]["J2"],))
    assert (row["rating"], row["created_by"]) == (3, None)


def test_a_concurrent_double_submit_gives_one_review(db, world):
    target = world["jobs"]["race"]
    customer = world["people"]["customer"]
    attempts = 8
    barrier = threading.Barrier(attempts)
    outcomes: list = []

    def submit(stars):
        with db.connect() as conn:
            conn.autocommit = False
            cur = conn.cursor()
            act_as(cur, customer.caller)
            barrier.wait()
            try:
                cur.execute("select public.review_appointment(%s, %s, null) as r", (target, stars))
                conn.commit()
                outcomes.append("ok")
            except psycopg.Error as exc:
                conn.rollback()
                outcomes.append(exc.diag.message_detail)

    threads = [threading.Thread(target=submit, args=(1 + k % 5,)) for k in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["already_reviewed"] * (attempts - 1) + ["ok"]
    assert db.value("select count(*) from public.appointment_reviews where appointment_id = %s", (target,)) == 1


def test_the_unique_constraint_alone_refuses_a_second_row(db, world):
    """The lock in the RPC serialises submitters; underneath it, the table itself refuses a duplicate."""
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.sql("insert into public.appointment_reviews (org_id, appointment_id, rating) values (%s, %s, 1)",
               (world["org_id"], world["jobs"]["J1"]))


# ---------------------------------------------------------------------------
# Ratings: who reads them (RLS matrix)
# ---------------------------------------------------------------------------
ACTORS = ("anon", "owner", "admin", "manager", "mgr_bob", "mgr_oven", "staff_ann", "staff_bob", "customer",
          "customer2", "outsider", "rival_owner")
# J1 is Ann's clean for `customer`; J10 Bob's clean for `customer2`; J2 Bob's oven for a guest.
READS = {
    "J1": "x 1 1 1 0 0 1 0 1 0 0 0",
    "J10": "x 1 1 1 1 0 0 1 0 1 0 0",
    "J2": "x 1 1 1 1 1 0 1 0 0 0 0",
}


@pytest.fixture(scope="module")
def prober(database_url):
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def _caller(world, actor):
    return Caller.anon() if actor == "anon" else world["people"][actor].caller


@pytest.mark.parametrize("key", list(READS))
@pytest.mark.parametrize("actor", ACTORS)
def test_who_reads_a_review(prober, world, key, actor):
    expected = dict(zip(ACTORS, READS[key].split()))[actor]
    assert_case(prober, _caller(world, actor), "select id from public.appointment_reviews where appointment_id = %s",
                (world["jobs"][key],), None, expected, f"{actor} select review of {key}")


WRITES = {
    "insert": "insert into public.appointment_reviews (org_id, appointment_id, rating) values (%s, %s, 5) returning id",
    "update": "update public.appointment_reviews set rating = 1 where org_id = %s and appointment_id = %s returning id",
    "delete": "delete from public.appointment_reviews where org_id = %s and appointment_id = %s returning id",
}


@pytest.mark.parametrize("command", list(WRITES))
@pytest.mark.parametrize("actor", ACTORS)
def test_nobody_writes_reviews_directly(prober, world, command, actor):
    """No API role has a write grant: 42501 before any policy, and the table is unchanged."""
    target = world["jobs"]["J9"] if command == "insert" else world["jobs"]["J1"]
    status, result, unchanged = probe(
        prober, _caller(world, actor), WRITES[command], (world["org_id"], target),
        "select count(*) = 1 and min(rating) = 5 from public.appointment_reviews where org_id = %s"
        " and appointment_id = %s" if command != "insert" else
        "select count(*) = 0 from public.appointment_reviews where org_id = %s and appointment_id = %s")
    assert status == "error" and isinstance(result, psycopg.errors.InsufficientPrivilege), (actor, command, result)
    assert "row-level security" not in str(result)  # no grant at all, not a policy
    assert unchanged is True


# ---------------------------------------------------------------------------
# Over HTTP: JSON, CSV, parameters, callers
# ---------------------------------------------------------------------------
def get(stack, path: str, who=None, *, params: dict, headers: dict | None = None) -> httpx.Response:
    h = dict(headers or {})
    h.update(who.headers if who is not None else anon_headers())
    return httpx.get(f"{stack.functions_url}/reports{path}", params=params, headers=h, timeout=30)


def params(world, **extra) -> dict:
    return {"org_id": str(world["org_id"]), "from": FROM.isoformat(), "to": TO.isoformat(), **extra}


def test_json_revenue_by_week_over_http(stack, world):
    r = get(stack, "/revenue", world["people"]["owner"], params=params(world, group="week"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["report"], body["group"], body["from"], body["to"]) == ("revenue", "week", "2026-03-23", "2026-04-05")
    assert body["columns"] == ["period_start", "currency", "appointments", "booked_value_minor", "collected_minor"]
    assert [(x["period_start"], x["booked_value_minor"], x["collected_minor"]) for x in body["rows"]] == [
        ("2026-03-23", 24000, 11417), ("2026-03-30", 10000, 4583)]
    assert r.headers["cache-control"] == "private, no-store"


@pytest.mark.parametrize(("path", "group"), [
    ("/revenue", "day"), ("/revenue", "month"), ("/revenue", "service"), ("/revenue", "staff"),
    ("/bookings", "week"), ("/cancellations", "month"), ("/peak-hours", None), ("/utilisation", None),
    ("/ratings", "staff"), ("/ratings", "service")])
def test_csv_parses_back_and_matches_the_json(stack, world, path, group):
    owner = world["people"]["owner"]
    query = params(world, **({"group": group} if group else {}))
    as_json = get(stack, path, owner, params=query).json()
    r = get(stack, path, owner, params={**query, "format": "csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=") and disposition.endswith('.csv"')
    assert r.content.endswith(b"\r\n")
    table = list(csv.reader(io.StringIO(r.text)))
    header, body = table[0], table[1:]
    assert header == [c.removesuffix("_minor") for c in as_json["columns"]]
    assert len(body) == len(as_json["rows"]) > 0
    for line, row in zip(body, as_json["rows"]):
        for name, cell in zip(as_json["columns"], line):
            value = row[name]
            if name.endswith("_minor"):
                assert Decimal(cell) == Decimal(value) / 100 and cell.count(".") == 1 and len(cell.split(".")[1]) == 2
            else:
                assert cell == ("" if value is None else str(value)), (name, cell, value)
    # Accept: text/csv without format= gives the same bytes.
    negotiated = get(stack, path, owner, params=query, headers={"accept": "text/csv"})
    assert negotiated.status_code == 200 and negotiated.text == r.text


def test_csv_money_is_decimal_text_with_its_currency(stack, world):
    r = get(stack, "/revenue", world["people"]["owner"], params=params(world, group="staff", format="csv"))
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["staff"], x["currency"], x["booked_value"], x["collected"]) for x in rows] == [
        ("Ann", "GBP", "170.00", "95.83"), ("Bob", "GBP", "170.00", "64.17")]
    assert r.headers["content-disposition"] == 'attachment; filename="revenue-staff-2026-03-23-2026-04-05.csv"'


def test_format_json_wins_over_accept(stack, world):
    r = get(stack, "/peak-hours", world["people"]["owner"], params=params(world, format="json"),
            headers={"accept": "text/csv"})
    assert r.headers["content-type"].startswith("application/json") and r.json()["rows"]


@pytest.mark.parametrize(("path", "query", "code"), [
    ("/revenue", {"from": "2026-04-05", "to": "2026-03-23"}, "invalid_date_range"),
    ("/revenue", {"from": "2025-01-01", "to": "2026-03-01"}, "date_range_too_long"),
    ("/revenue", {"from": "2026-02-30"}, "invalid_request"),
    ("/revenue", {"from": "yesterday"}, "invalid_request"),
    ("/revenue", {"org_id": "not-a-uuid"}, "invalid_request"),
    ("/revenue", {"org_id": None}, "invalid_request"),
    ("/revenue", {"group": "year"}, "invalid_group"),
    ("/peak-hours", {"group": "day"}, "invalid_group"),
    ("/ratings", {"group": "month"}, "invalid_group"),
    ("/bookings", {"format": "xml"}, "invalid_request"),
    ("/bookings", {"limit": "5"}, "invalid_request"),
])
def test_bad_parameters_are_422(stack, world, path, query, code):
    q = params(world, **query)
    q = {k: v for k, v in q.items() if v is not None}
    r = get(stack, path, world["people"]["owner"], params=q)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code


def test_an_unknown_report_is_404(stack, world):
    r = get(stack, "/salaries", world["people"]["owner"], params=params(world))
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_report"


@pytest.mark.parametrize("who", ["staff_ann", "customer", "outsider", "rival_owner"])
def test_non_managers_get_403_over_http(stack, world, who):
    r = get(stack, "/revenue", world["people"][who], params=params(world))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "not_a_manager"


def test_anon_and_no_token_get_401(stack, world):
    assert get(stack, "/revenue", None, params=params(world)).status_code == 401
    r = httpx.get(f"{stack.functions_url}/reports/revenue", params=params(world), timeout=30)
    assert r.status_code == 401


def test_a_scoped_manager_over_http(stack, world):
    r = get(stack, "/revenue", world["people"]["mgr_bob"], params=params(world, group="staff", format="csv"))
    assert [row["staff"] for row in csv.DictReader(io.StringIO(r.text))] == ["Bob"]


def test_decimal_amounts_follow_the_currency_exponent():
    assert reports.decimal_amount(641700, "GBP") == "6417.00"
    assert reports.decimal_amount(5, "EUR") == "0.05"
    assert reports.decimal_amount(1200, "JPY") == "1200"
    assert reports.decimal_amount(1234, "KWD") == "1.234"
    assert reports.decimal_amount(-150, "USD") == "-1.50"


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_defused():
    """Names are typed by members; the export is opened by owners (OWASP CSV injection)."""
    from shared.platform import reports

    result = {"columns": ["staff_name", "bookings", "collected_minor", "currency"],
              "rows": [{"staff_name": '=HYPERLINK("http://evil.example","x")', "bookings": 3,
                        "collected_minor": -500, "currency": "GBP"},
                       {"staff_name": "@SUM(A1)", "bookings": 1, "collected_minor": 100, "currency": "GBP"},
                       {"staff_name": "Ann-Marie", "bookings": 2, "collected_minor": 0, "currency": "GBP"}]}
    rows = list(csv.reader(io.StringIO(reports.to_csv(result))))
    assert rows[1] == ["'=HYPERLINK(\"http://evil.example\",\"x\")", "3", "-5.00", "GBP"]
    assert rows[2][0] == "'@SUM(A1)" and rows[3][0] == "Ann-Marie"
