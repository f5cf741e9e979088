"""Member budgets (issue #15): budget status computed from 50,000 expenses, as a ratio measured in one run.

    .venv/bin/python benchmarks/budgets.py [--expenses 50000] [--calls 50]

One member with N expenses over five years across ten categories (a fifth of them fuel). A monthly fuel
budget from the first day: public.budget_status(budget, on) for its 60 periods, called as the member the
way PostgREST would (RLS on), against a plain indexed sum of the same rows (sum of the fuel expenses in
the budget's currency over the five years, as the superuser), both fetched to the client; median of
--calls. Afterwards the status's spent, period by period, is checked against plain sums.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Bench, say  # noqa: E402

from shared.platform.db import Caller  # noqa: E402

START, THROUGH = date(2021, 1, 1), date(2025, 12, 31)


def build(pg: common.Pg, expenses: int) -> dict:
    user = pg.value("insert into auth.users (id, email, raw_user_meta_data) values (gen_random_uuid(),"
                    " 'member@bench.example.com', '{}') returning id")
    pg.sql("insert into public.member_settings (user_id) values (%s)", (user,))
    pg.sql("insert into public.expense_categories (user_id, name) select %s, 'Category ' || g from generate_series(1, 10) g",
           (user,))
    categories = [r["id"] for r in pg.sql("select id from public.expense_categories where user_id = %s order by name",
                                          (user,))]
    pg.sql("alter table public.expenses disable trigger expenses_check")  # bulk load: the rows are valid by construction
    pg.sql("""
        insert into public.expenses (user_id, category_id, amount_minor, currency, spent_on)
        select %(user)s, (%(cats)s::uuid[])[1 + g %% 10], 100 + (g * 37) %% 20000, 'GBP',
               %(start)s::date + (g %% (%(through)s::date - %(start)s::date + 1))
        from generate_series(1, %(n)s) g""",
           {"user": user, "cats": categories, "start": START, "through": THROUGH, "n": expenses})
    pg.sql("alter table public.expenses enable trigger expenses_check")
    fuel = categories[0]
    budget = pg.value("insert into public.budgets (user_id, category_id, period, amount_minor, currency, rollover,"
                      " starts_on) values (%s, %s, 'monthly', 200000, 'GBP', 'rollover', %s) returning id",
                      (user, fuel, START))
    return {"user": str(user), "fuel": fuel, "budget": budget}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--expenses", type=int, default=50_000)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    with Bench(time_limit=300) as bench:
        pg = bench.main
        say(f"building a member with {args.expenses} expenses")
        world = build(pg, args.expenses)
        pg.settle()
        member = Caller.user(world["user"], "member@bench.example.com")
        status_ms = common.time_calls(pg, args.calls, "select * from public.budget_status(%s, %s)",
                                      (world["budget"], THROUGH), member)
        sum_ms = common.time_calls(pg, args.calls, "select sum(amount_minor) from public.expenses where user_id = %s"
                                   " and category_id = %s and currency = 'GBP' and spent_on between %s and %s",
                                   (world["user"], world["fuel"], START, THROUGH), None)
        fuel_rows = pg.value("select count(*) from public.expenses where category_id = %s", (world["fuel"],))
        periods = pg.sql("select * from public.budget_status(%s, %s)", (world["budget"], THROUGH))
        wrong = sum(1 for p in periods if p["spent_minor"] != pg.value(
            "select coalesce(sum(amount_minor), 0) from public.expenses where category_id = %s and currency = 'GBP'"
            " and spent_on between %s and %s", (world["fuel"], p["period_start"], p["period_end"])))
        print(f"# budgets benchmark · {bench.describe()}")
        print(f"budget status over {len(periods)} monthly periods of {fuel_rows} fuel expenses (of {args.expenses}):"
              f" {status_ms:.2f} ms per call (median of {args.calls}) as the member; plain indexed sum of the same"
              f" rows: {sum_ms:.2f} ms; ratio status / sum {status_ms / sum_ms:.1f}")
        print(f"correctness: periods whose spent differs from a plain sum: {wrong}")
        if wrong:
            raise SystemExit("budget status drifted")


if __name__ == "__main__":
    main()
