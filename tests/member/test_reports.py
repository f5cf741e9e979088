"""A member's reports over real HTTP: spending by category over time, income vs expenses, budget vs actual
and trip costs, as JSON and CSV, each figure equal to a plain sum of that member's own rows only."""

from __future__ import annotations

import csv
import io
from datetime import date

import httpx
import pytest

from tests.support import member as M
from tests.support.pg import call


@pytest.fixture(scope="module")
def alice(db):
    user, cats = M.member(db)
    for on, cat, amount in ((date(2026, 1, 5), "Fuel", 6000), (date(2026, 1, 20), "Fuel", 4000),
                            (date(2026, 1, 9), "Campsites", 2500), (date(2026, 2, 2), "Fuel", 5500)):
        M.spend(db, user, cats[cat], amount, on)
    call(db, user.caller, "insert into public.income_entries (category_id, source, amount_minor, currency, received_on)"
                          " values (%s, 'Pension', 90000, 'GBP', '2026-01-15')", cats["Pension"])
    M.budget(db, user, cats["Fuel"], 12000, rollover="rollover", starts_on=date(2026, 1, 1))
    trip = call(db, user.caller, "insert into public.trips (name, starts_on, ends_on, distance_km)"
                                 " values ('Wales', '2026-01-05', '2026-01-09', 400) returning id")
    db.sql("update public.expenses set trip_id = %s where user_id = %s and spent_on between '2026-01-05' and '2026-01-09'",
           (trip, user.id))
    other, theirs = M.member(db)
    M.spend(db, other, theirs["Fuel"], 99999, date(2026, 1, 6))  # someone else's: never in alice's figures
    return user


def get(stack, user, path: str, **params) -> httpx.Response:
    return httpx.get(f"{stack.functions_url}/member-reports/{path}", params=params, headers=user.headers, timeout=30)


def test_spending_by_category_per_month(stack, db, alice):
    rows = get(stack, alice, "spending", **{"from": "2026-01-01", "to": "2026-02-28"}).json()["rows"]
    assert [(r["period_start"], r["category"], r["spent_minor"], r["expenses"]) for r in rows] == [
        ("2026-01-01", "Fuel", 10000, 2), ("2026-01-01", "Campsites", 2500, 1), ("2026-02-01", "Fuel", 5500, 1)]


def test_income_vs_expenses_as_csv_with_decimal_amounts(stack, db, alice):
    r = get(stack, alice, "income-vs-expenses", **{"from": "2026-01-01", "to": "2026-02-28", "format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert [(t["period_start"], t["income"], t["expenses"], t["net"]) for t in table] == [
        ("2026-01-01", "900.00", "125.00", "775.00"), ("2026-02-01", "0.00", "55.00", "-55.00")]


def test_budget_vs_actual_and_trip_costs(stack, db, alice):
    [budget] = get(stack, alice, "budget-vs-actual", on="2026-02-10").json()["rows"]
    assert (budget["category"], budget["period_start"], budget["budgeted_minor"], budget["carried_minor"],
            budget["spent_minor"], budget["left_minor"]) == ("Fuel", "2026-02-01", 12000, 2000, 5500, 8500)
    [trip] = get(stack, alice, "trip-costs").json()["rows"]
    assert (trip["trip"], trip["spent_minor"], trip["per_day_minor"], trip["per_km_minor"]) == ("Wales", 8500, 1700, 21)


@pytest.mark.parametrize("path, params, status, code", [
    ("spending", {"from": "2026-02-01", "to": "2026-01-01"}, 422, "invalid_date_range"),
    ("spending", {"from": "2026-01-01", "to": "2026-02-01", "group": "decade"}, 422, "invalid_group"),
    ("spending", {}, 422, "invalid_date_range"),
    ("gossip", {}, 404, "unknown_report"),
])
def test_bad_requests_are_clear_4xx(stack, db, alice, path, params, status, code):
    r = get(stack, alice, path, **params)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code)


def test_reports_need_a_signed_in_member(stack, db, alice):
    assert httpx.get(f"{stack.functions_url}/member-reports/trip-costs", timeout=30).status_code == 401
