"""Budgets whose status is computed from the expenses: each rollover mode checked by hand across period
edges, the member's timezone deciding which period is current, and the free tier's budget limit held by
Postgres under concurrent inserts."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import psycopg
import pytest

from shared.platform.db import act_as
from tests.support import member as M
from tests.support.pg import call, refused
from tests.support.races import race

# Fixed months in the past: the arithmetic is by hand, and no clock decides it (status is asked "on" a date).
JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)


def rows(db, user, budget_id, on: date) -> list[tuple[str, int, int, int, int]]:
    return [(r["period_start"], r["budgeted_minor"], r["carried_minor"], r["spent_minor"], r["left_minor"])
            for r in M.status(db, user, budget_id, on)]


@pytest.mark.parametrize("mode, expected", [
    # January: 25 budgeted, 35 spent (10 over). February: 25 budgeted, 5 spent. March: nothing spent.
    ("none", [("2026-01-01", 2500, 0, 3500, -1000), ("2026-02-01", 2500, 0, 500, 2000),
              ("2026-03-01", 2500, 0, 0, 2500)]),
    ("adjusted", [("2026-01-01", 2500, 0, 3500, -1000), ("2026-02-01", 2500, -1000, 500, 1000),  # 25 - 10 -> 15 to spend
                  ("2026-03-01", 2500, 0, 0, 2500)]),
    ("rollover", [("2026-01-01", 2500, 0, 3500, -1000), ("2026-02-01", 2500, 0, 500, 2000),
                  ("2026-03-01", 2500, 2000, 0, 4500)]),
])
def test_rollover_modes_across_month_edges(db, mode, expected):
    user, cats = M.member(db)
    b = M.budget(db, user, cats["Fuel"], 2500, rollover=mode, starts_on=date(2026, 1, 15))
    M.spend(db, user, cats["Fuel"], 2000, JAN)
    M.spend(db, user, cats["Fuel"], 1500, date(2026, 1, 31))   # the last day is January's
    M.spend(db, user, cats["Fuel"], 500, FEB)                 # the first day is February's
    M.spend(db, user, cats["Groceries"], 9999, FEB)           # another category: not this budget's
    M.spend(db, user, cats["Fuel"], 7777, FEB, currency="EUR")  # another currency: not this budget's
    assert rows(db, user, b, date(2026, 3, 20)) == expected
    # The 25-budgeted, 35-spent example of the issue: 15 to spend next month under "adjusted".
    if mode == "adjusted":
        february = M.status(db, user, b, FEB)[-1]
        assert february["budgeted_minor"] + february["carried_minor"] == 1500


def test_weekly_periods_start_on_monday_and_the_start_is_moved_to_its_period(db):
    user, cats = M.member(db)
    b = M.budget(db, user, cats["Campsites"], 10000, period="weekly", starts_on=date(2026, 3, 4))  # a Wednesday
    assert db.value("select starts_on from public.budgets where id = %s", (b,)) == date(2026, 3, 2)
    M.spend(db, user, cats["Campsites"], 3000, date(2026, 3, 8))   # Sunday: week 1
    M.spend(db, user, cats["Campsites"], 4000, date(2026, 3, 9))   # Monday: week 2
    assert [(r["period_start"], r["period_end"], r["spent_minor"]) for r in M.status(db, user, b, date(2026, 3, 10))] == [
        ("2026-03-02", "2026-03-08", 3000), ("2026-03-09", "2026-03-15", 4000)]


def test_the_members_own_timezone_decides_the_current_period(db):
    """At a moment when it is already tomorrow in Auckland, an Auckland member's status runs to their today."""
    auckland, cats = M.member(db, timezone="Pacific/Auckland")
    b = M.budget(db, auckland, cats["Fuel"], 1000, period="weekly", starts_on=M.today("Pacific/Auckland") - timedelta(days=30))
    last = M.status(db, auckland, b)[-1]
    assert date.fromisoformat(last["period_start"]) <= M.today("Pacific/Auckland") <= date.fromisoformat(last["period_end"])
    london, lcats = M.member(db)
    lb = M.budget(db, london, lcats["Fuel"], 1000, period="weekly", starts_on=M.today() - timedelta(days=30))
    last = M.status(db, london, lb)[-1]
    assert date.fromisoformat(last["period_start"]) <= M.today() <= date.fromisoformat(last["period_end"])


def test_another_members_budget_is_not_found_and_anon_may_not_ask(db):
    user, cats = M.member(db)
    other, _ = M.member(db)
    b = M.budget(db, user, cats["Fuel"], 1000, starts_on=JAN)
    refused(call(db, other.caller, "select count(*) from public.budget_status(%s, %s)", b, FEB), "PT404", "budget_not_found")
    from shared.platform.db import Caller
    assert getattr(call(db, Caller.anon(), "select count(*) from public.budget_status(%s, %s)", b, FEB),
                   "sqlstate", None) == "42501"


@pytest.mark.parametrize("change, code", [
    ({"amount_minor": -500}, "invalid_amount"),
    ({"amount_minor": 0}, "invalid_amount"),
    ({"currency": "XYZ"}, "unknown_currency"),
    ({"starts_on": date(2999, 1, 1)}, "invalid_date"),
])
def test_a_bad_budget_is_a_422_and_nothing_is_written(db, change, code):
    user, cats = M.member(db)
    args = {"amount": 1000, "starts_on": JAN, "currency": "GBP"} | {
        {"amount_minor": "amount"}.get(k, k): v for k, v in change.items()}
    refused(M.budget(db, user, cats["Fuel"], args["amount"], starts_on=args["starts_on"], currency=args["currency"]),
            "PT422", code)
    assert db.value("select count(*) from public.budgets where user_id = %s", (user.id,)) == 0


def test_a_budget_on_someone_elses_or_an_income_category_is_refused(db):
    user, cats = M.member(db)
    _, theirs = M.member(db)
    refused(M.budget(db, user, theirs["Fuel"], 1000, starts_on=JAN), "PT422", "unknown_category")
    refused(M.budget(db, user, cats["Pension"], 1000, starts_on=JAN), "PT422", "unknown_category")


@pytest.mark.slow
def test_the_free_tier_keeps_three_budgets_even_when_ten_are_added_at_once(db):
    user, cats = M.member(db)
    names = list(cats)[:10]
    expense_names = [n for n in names if n not in ("Pension", "Work", "Other income")]

    def add(lane: int, barrier: threading.Barrier) -> str:
        with psycopg.connect(db.url, autocommit=False) as conn:
            cur = conn.cursor()
            act_as(cur, user.caller)
            barrier.wait()
            try:
                cur.execute("insert into public.budgets (category_id, period, amount_minor, currency, starts_on)"
                            " values (%s, 'monthly', 1000, 'GBP', %s)", (cats[expense_names[lane]], JAN))
                conn.commit()
                return "added"
            except psycopg.Error as exc:
                conn.rollback()
                return exc.diag.message_detail or exc.sqlstate

    outcomes = race(len(expense_names), add)
    assert outcomes.count("added") == 3 and set(outcomes) == {"added", "tier_limit"}, outcomes
    assert db.value("select count(*) from public.budgets where user_id = %s", (user.id,)) == 3
    # A paid tier lifts it (only the service role changes a tier; the member cannot).
    from shared.platform.db import Caller
    assert getattr(call(db, user.caller, "update public.member_settings set tier = 'plus' where user_id = %s", user.id),
                   "sqlstate", None) == "42501"
    call(db, Caller.service(), "update public.member_settings set tier = 'plus' where user_id = %s", user.id)
    taken = {r["category_id"] for r in db.sql("select category_id from public.budgets where user_id = %s", (user.id,))}
    unbudgeted = next(cats[n] for n in expense_names if cats[n] not in taken)
    assert not isinstance(M.budget(db, user, unbudgeted, 1000, starts_on=JAN), Exception)
    assert db.value("select count(*) from public.budgets where user_id = %s", (user.id,)) == 4
