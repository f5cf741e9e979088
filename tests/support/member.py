"""A member of the travellers' app to test against: settings, the default categories, and helpers to
add expenses and budgets as that member (under RLS, as PostgREST would)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from tests.support.pg import call  # noqa: F401  (tests call it as M.call)


def member(db, *, timezone: str = "Europe/London", currency: str = "GBP"):
    """A new confirmed user set up as a member: (user, {category name: id})."""
    user = db.user(confirmed=True)
    settings = call(db, user.caller, "select to_jsonb(public.member_setup(%s, %s))", timezone, currency)
    assert isinstance(settings, dict), settings
    categories = {r["name"]: r["id"] for r in db.sql(
        "select id, name from public.expense_categories where user_id = %s", (user.id,))}
    return user, categories


def today(timezone: str = "Europe/London") -> date:
    return datetime.now(ZoneInfo(timezone)).date()


def spend(db, user, category_id, amount: int, on: date, currency: str = "GBP", **more):
    columns = ["category_id", "amount_minor", "currency", "spent_on", *more]
    values = [category_id, amount, currency, on, *more.values()]
    return call(db, user.caller, f"insert into public.expenses ({', '.join(columns)}) values"
                                 f" ({', '.join(['%s'] * len(values))}) returning id", *values)


def budget(db, user, category_id, amount: int, *, period: str = "monthly", rollover: str = "none",
           starts_on: date, currency: str = "GBP"):
    return call(db, user.caller, "insert into public.budgets (category_id, period, amount_minor, currency, rollover,"
                                 " starts_on) values (%s, %s, %s, %s, %s, %s) returning id",
                category_id, period, amount, currency, rollover, starts_on)


def status(db, user, budget_id, on: date | None = None) -> list[dict]:
    result = call(db, user.caller, "select coalesce(jsonb_agg(s order by s.period_start), '[]')"
                                   " from public.budget_status(%s, %s) s", budget_id, on)
    return result if isinstance(result, (list, Exception)) else result
