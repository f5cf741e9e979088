"""Builders for subscription tests: a shop with two cleaners working every day; subscriptions made
as a customer, a guest or by hand; the generator run with an explicit clock; and what it should book,
worked out independently with zoneinfo."""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import psycopg
import pytest

from shared.platform.db import Caller
from tests.support.appointments import make_service, make_staff
from tests.support import factories
from tests.support.pg import ArrangingDb, call, refused

POSTCODE = "SW1A 1AA"

LONDON = ZoneInfo("Europe/London")

FOUR_WEEKS = dt.timedelta(weeks=4)

ALL_WEEK = {d: [("09:00", "17:00")] for d in range(7)}


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


def raw_subscription(db, shop: dict, first_date, start_time: str = "09:00", *, frequency: str = "weekly",
                     months: int = 1, customer=None, email: str = "sam@example.com", staff_id=None) -> dict:
    """A subscription inserted as superuser (no checks, nothing generated): for injected-clock tests."""
    return db.one(
        "insert into public.appointment_subscriptions (org_id, number, service_id, staff_id, customer_user_id,"
        " customer_name, customer_email, postcode, frequency, first_date, start_time, months, tracking_token_hash)"
        " values (%s, 'SUB-' || substr(private.new_order_number(), 4), %s, %s, %s, 'Sam Subscriber', %s, %s, %s,"
        " %s, %s, %s, private.token_hash(%s)) returning *",
        (shop["org"]["id"], shop["service"], staff_id or shop["val"], customer.id if customer else None, email,
         POSTCODE, frequency, first_date, start_time, months, uuid.uuid4().hex))


def generate_one(db, subscription_id, *, now, horizon: str = "4 weeks") -> dict:
    with db.as_service() as cur:
        cur.execute("select private.generate_for_subscription(%s, %s::interval, %s) as counts",
                    (subscription_id, horizon, now))
        return cur.fetchone()["counts"]


def visits(db, subscription_id) -> list[dict]:
    """The subscription's appointments, with their start as London wall-clock text."""
    return db.sql(
        "select a.subscription_occurrence as n, a.status::text as status, a.staff_id, a.order_id,"
        " to_char(lower(a.period) at time zone o.timezone, 'YYYY-MM-DD HH24:MI') as local,"
        " extract(hour from lower(a.period) at time zone 'UTC')::int as utc_hour"
        " from public.appointments a join public.organizations o on o.id = a.org_id"
        " where a.subscription_id = %s order by a.subscription_occurrence", (subscription_id,))


def ledger(db, subscription_id) -> list[dict]:
    return db.sql("select occurrence as n, status::text as status, wanted_start, actual_start, appointment_id"
                  " from public.subscription_occurrences where subscription_id = %s order by occurrence",
                  (subscription_id,))


def outbox(db, template: str, **payload) -> list[dict]:
    where = "".join(f" and payload ->> '{k}' = %s" for k in payload)
    return db.sql(f"select recipient, payload from public.notification_outbox where template = %s{where}",
                  (template, *map(str, payload.values())))


def db_now(db) -> dt.datetime:
    """The database's clock: what the RPCs read as now(), and the clock these tests hand the generator."""
    return db.value("select now()")


def visit_day(db, weeks: int = 1) -> dt.date:
    """The local date 7 * weeks + 3 days after today in London, by the database's clock. Weekly visits from
    it, at any hour, fall at +10, +17, +24 days (weeks=1): inside a 4-week horizon whatever the time of day
    or the day of the week, with the next one (+31) beyond it. Never on the horizon's edge."""
    today = db.value("select (now() at time zone 'Europe/London')::date")
    return today + dt.timedelta(days=7 * weeks + 3)


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus whole months, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expected_visits(first: dt.date, hhmm: str, *, now: dt.datetime, months: int, frequency: str = "weekly",
                    horizon: dt.timedelta = FOUR_WEEKS) -> list[str]:
    """The London starts ("YYYY-MM-DD HH:MM") a generator run at `now` books: every occurrence before the
    subscription ends whose start lies in [now, now + horizon). Worked out here with zoneinfo, not by the SQL."""
    step = {"weekly": 7, "biweekly": 14}.get(frequency)
    ends = add_months(first, months)
    starts = []
    for n in range(61):
        day = first + dt.timedelta(days=step * n) if step else add_months(first, n)
        if day >= ends:
            break
        start = dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=LONDON)
        if now <= start < now + horizon:
            starts.append(f"{day} {hhmm}")
    return starts


def subscribe(db, caller: Caller, shop: dict, first_date, start_time: str = "10:00", *, frequency="weekly",
              months=2, staff_id=None, name="Gus Guest", email="gus@example.com", postcode=POSTCODE,
              service_id=None, confirm: bool = True):
    """Create a subscription; a guest's (pending until confirmed) is confirmed with the code from its email,
    as the guest would, unless confirm=False. The answer carries the tracking token either way."""
    answer = call(db, caller,
                  "select public.create_appointment_subscription(%s, %s, %s, %s, %s, %s, %s, %s, %s, '07700 900123',"
                  " '1 Example Street', 'Key under the mat')",
                  service_id or shop["service"], postcode, frequency, first_date, start_time, months,
                  staff_id, name, email)
    if isinstance(answer, psycopg.Error) or answer["status"] != "pending":
        return answer
    token = emailed_code(db, answer["subscription_id"])
    if confirm:
        answer = call(db, Caller.anon(), "select public.confirm_subscription(%s, %s)", answer["number"], token)
    return {**answer, "tracking_token": token}


def emailed_code(db, subscription_id) -> str:
    """The confirmation code, as the guest reads it in their mailbox (the outbox row)."""
    return db.value("select payload ->> 'tracking_token' from public.notification_outbox"
                    " where template = 'subscription_confirm' and payload ->> 'subscription_id' = %s",
                    (str(subscription_id),))


@pytest.fixture(scope="module")
def shop(db) -> dict:
    """Europe/London, 30-minute grid, no notice; a 60-minute clean; Val works 09:00-17:00 every day and
    covers SW1A; Bea (linked to the team's staff member) too. One member per role (factories.team)."""
    team = factories.team(db)
    organization = team["org"]
    db.sql("update public.organizations set timezone = 'Europe/London' where id = %s", (organization["id"],))
    db.sql("insert into public.appointment_settings (org_id, slot_interval_minutes, min_notice_minutes,"
           " max_days_ahead) values (%s, 30, 0, 400)", (organization["id"],))
    organization["timezone"] = "Europe/London"
    service = make_service(db, organization, 60, name="Regular clean")
    val = make_staff(db, organization, [service], hours=ALL_WEEK, name="Val")
    bea = make_staff(db, organization, [service], hours=ALL_WEEK, name="Bea")
    people = dict(team["people"])
    db.sql("update public.staff set user_id = %s where id = %s", (people["staff"].id, bea))
    people["customer"] = db.user(full_name="Casey Customer")
    people["other_customer"] = db.user()
    return {"org": organization, "rival": team["rival"], "service": service, "val": val, "bea": bea,
            "people": people}
