"""A member's money: defaults on first use, their rows theirs alone (member A vs member B vs anon, every
table and command), bad input a clear 4xx with nothing written, and recurring items posted once per due
date however often (and however concurrently) cron runs."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import psycopg
import pytest

from shared.platform.db import Caller
from tests.support import member as M
from tests.support.pg import call, refused
from tests.support.races import race

TABLES = ["member_settings", "expense_categories", "recurring_items", "expenses", "income_entries", "budgets",
          "pam_conversations"]


@pytest.fixture(scope="module")
def world(db):
    alice, a_cats = M.member(db)
    bob, b_cats = M.member(db)
    today = M.today()
    M.spend(db, alice, a_cats["Fuel"], 4500, today, payee="Shell")
    M.spend(db, bob, b_cats["Fuel"], 3000, today)
    call(db, alice.caller, "insert into public.income_entries (category_id, source, amount_minor, currency, received_on)"
                           " values (%s, 'State pension', 90000, 'GBP', %s)", a_cats["Pension"], today)
    call(db, alice.caller, "insert into public.recurring_items (kind, category_id, label, amount_minor, currency, every,"
                           " next_due) values ('expense', %s, 'Van insurance', 4200, 'GBP', 'monthly', %s)",
         a_cats["Insurance"], today + timedelta(days=3))
    M.budget(db, alice, a_cats["Fuel"], 20000, starts_on=today)
    db.sql("insert into public.pam_conversations (user_id, title) values (%s, 'Fuel this month?')", (alice.id,))
    return {"alice": alice, "bob": bob, "a_cats": a_cats, "b_cats": b_cats}


def test_setup_gives_sensible_default_categories_once(db):
    user, cats = M.member(db)
    assert {"Fuel", "Campsites", "Groceries", "Insurance", "Pension"} <= set(cats)
    groups = {r["group_name"] for r in db.sql("select group_name from public.expense_categories where user_id = %s",
                                               (user.id,))}
    assert {"Living", "Travel", "Vehicle", "Income"} <= groups
    again = call(db, user.caller, "select to_jsonb(public.member_setup('Europe/Madrid', 'eur'))")
    assert (again["timezone"], again["currency"]) == ("Europe/Madrid", "EUR")
    assert db.value("select count(*) from public.expense_categories where user_id = %s", (user.id,)) == len(cats)


@pytest.mark.parametrize("table", TABLES)
def test_each_member_reads_only_their_own_rows_and_anon_nothing(db, world, table):
    alice, bob = world["alice"], world["bob"]
    mine = db.value(f"select count(*) from public.{table} where user_id = %s", (alice.id,))
    assert mine >= 1
    assert call(db, alice.caller, f"select count(*) from public.{table}") == mine
    assert call(db, bob.caller, f"select count(*) from public.{table} where user_id = %s", alice.id) == 0
    assert getattr(call(db, Caller.anon(), f"select count(*) from public.{table}"), "sqlstate", None) == "42501"


@pytest.mark.parametrize("table", [t for t in TABLES if t != "member_settings"])
def test_nobody_changes_or_deletes_another_members_rows(db, world, table):
    alice, bob = world["alice"], world["bob"]
    before = db.value(f"select count(*) from public.{table} where user_id = %s", (alice.id,))
    assert call(db, bob.caller, f"delete from public.{table} where user_id = %s returning id", alice.id) is None
    assert call(db, bob.caller, f"update public.{table} set created_at = now() where user_id = %s returning id",
                alice.id) is None
    assert db.value(f"select count(*) from public.{table} where user_id = %s", (alice.id,)) == before
    anon = call(db, Caller.anon(), f"delete from public.{table} where user_id = %s", alice.id)
    assert getattr(anon, "sqlstate", None) == "42501"


def test_a_member_cannot_write_rows_for_someone_else(db, world):
    alice, bob = world["alice"], world["bob"]
    forged = call(db, bob.caller, "insert into public.expenses (user_id, category_id, amount_minor, currency, spent_on)"
                                  " values (%s, %s, 100, 'GBP', %s)", alice.id, world["a_cats"]["Fuel"], M.today())
    assert isinstance(forged, psycopg.Error)
    assert db.value("select count(*) from public.expenses where user_id = %s and amount_minor = 100", (alice.id,)) == 0
    moved = call(db, alice.caller, "update public.expenses set user_id = %s where user_id = %s returning id",
                 bob.id, alice.id)
    assert isinstance(moved, psycopg.Error)


@pytest.mark.parametrize("amount, currency, on, category, code", [
    (-500, "GBP", 0, "Fuel", "invalid_amount"),
    (0, "GBP", 0, "Fuel", "invalid_amount"),
    (500, "XYZ", 0, "Fuel", "unknown_currency"),
    (500, "GBP", None, "Fuel", "invalid_date"),             # 2999
    (500, "GBP", -10000, "Fuel", "invalid_date"),           # before 2000
    (500, "GBP", 0, "Pension", "unknown_category"),         # an income category for an expense
    (500, "GBP", 0, "bob's", "unknown_category"),           # someone else's category
])
def test_bad_expenses_are_a_422_and_nothing_is_written(db, world, amount, currency, on, category, code):
    alice = world["alice"]
    category_id = world["b_cats"]["Fuel"] if category == "bob's" else world["a_cats"][category]
    day = date(2999, 1, 1) if on is None else M.today() + timedelta(days=on)
    before = db.value("select count(*) from public.expenses where user_id = %s", (alice.id,))
    refused(M.spend(db, alice, category_id, amount, day, currency=currency), "PT422", code)
    assert db.value("select count(*) from public.expenses where user_id = %s", (alice.id,)) == before


def test_currencies_are_iso_codes_with_their_own_minor_units(db, world):
    alice = world["alice"]
    assert not isinstance(M.spend(db, alice, world["a_cats"]["Fuel"], 1500, M.today(), currency="jpy"), Exception)
    assert db.value("select exponent from private.currencies where code = 'JPY'") == 0
    assert db.value("select exponent from private.currencies where code = 'KWD'") == 3
    assert db.value("select count(*) from public.expenses where user_id = %s and currency = 'JPY'", (alice.id,)) == 1


def test_recurring_items_post_once_per_due_date_however_often_cron_runs(db):
    user, cats = M.member(db)
    today = M.today()
    call(db, user.caller, "insert into public.recurring_items (kind, category_id, label, amount_minor, currency, every,"
                          " next_due) values ('expense', %s, 'Campsite club', 3900, 'GBP', 'weekly', %s)",
         cats["Campsites"], today - timedelta(days=20))  # due 20, 13 and 6 days ago
    call(db, user.caller, "insert into public.recurring_items (kind, category_id, label, amount_minor, currency, every,"
                          " next_due, auto_post) values ('income', %s, 'Pension', 90000, 'GBP', 'monthly', %s, false)",
         cats["Pension"], today - timedelta(days=1))

    def run(lane: int, barrier: threading.Barrier) -> dict:
        with psycopg.connect(db.url, autocommit=True) as conn:
            barrier.wait()
            return conn.execute("select private.post_due_recurring()").fetchone()[0]

    race(4, run)
    posted = db.sql("select spent_on, amount_minor from public.expenses where user_id = %s order by spent_on", (user.id,))
    assert posted == [{"spent_on": today - timedelta(days=d), "amount_minor": 3900} for d in (20, 13, 6)]
    assert db.value("select next_due from public.recurring_items where user_id = %s and kind = 'expense'",
                    (user.id,)) == today + timedelta(days=1)
    assert db.value("select private.post_due_recurring() ->> 'posted'") == "0"
    # The pension waits for the member: listed as due, posted when they confirm, once.
    due = call(db, user.caller, "select jsonb_agg(d) from public.due_recurring() d")
    assert [d["label"] for d in due] == ["Pension"]
    assert call(db, user.caller, "select public.confirm_recurring(%s)", due[0]["id"]) is True
    assert call(db, user.caller, "select public.confirm_recurring(%s)", due[0]["id"]) is False  # next one not due
    assert db.value("select count(*) from public.income_entries where user_id = %s", (user.id,)) == 1
    other, _ = M.member(db)
    refused(call(db, other.caller, "select public.confirm_recurring(%s)", due[0]["id"]), "PT404", "recurring_not_found")
