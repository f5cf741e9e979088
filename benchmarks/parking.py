"""Airport parking (issue #14): booking under contention for one lot's busiest day, and the quote, as
ratios measured in one run.

    .venv/bin/python benchmarks/parking.py [--clients 16] [--seconds 10] [--calls 200]

Everything on loopback, on one server (benchmarks/common.py):

1. Contended day: C clients book stays that all cover one day of one lot (each stay 1-5 days around
   it), through private.place_parking_order as an anonymous buyer, exactly as checkout runs it: every
   booking takes that day's row lock, in date order with its other days. First with room for every
   attempt (the contended success path), then with the day nearly full (the refusal path:
   parking_day_full). Attempts per second as a ratio to `pgbench -N` with C clients on the same
   server; afterwards every day's counts equal the live bookings whose stay includes it, and no day
   holds more than its spaces.
2. Quote: public.quote_parking for a 14-day stay as anon (the breakdown and the 14 days' room), median
   of N calls, against a plain indexed scan of the same 14 day rows.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402

import common  # noqa: E402
from common import Bench, say  # noqa: E402

from shared.platform.db import Caller, act_as  # noqa: E402


# The same queue with nothing else in it: every client updates one row, one transaction each.
HOT_ROW = "update pgbench_branches set bbalance = bbalance + 1 where bid = 1;\n"


def build(pg: common.Pg, busiest: date) -> dict:
    org = pg.make_org()
    lot = pg.value("insert into public.parking_lots (org_id, name, iata_code, timezone, default_spaces)"
                   " values (%s, 'Bench Parking', 'LHR', 'Europe/London', 100000) returning id", (org["id"],))
    product = pg.value("insert into public.parking_products (org_id, lot_id, name, service, extra_day_minor, max_days)"
                       " values (%s, %s, 'Park & Ride', 'park_and_ride', 500, 30) returning id", (org["id"], lot))
    for days, price in ((1, 1200), (2, 2000), (3, 2700), (7, 4500), (14, 7900)):
        pg.sql("insert into public.parking_prices (product_id, org_id, days, price_minor) values (%s, %s, %s, %s)",
               (product, org["id"], days, price))
    return {"org_id": org["id"], "lot": lot, "product": product, "busiest": busiest}


def stay(world: dict, rng: random.Random) -> dict:
    before, after = rng.randint(0, 2), rng.randint(0, 2)
    entry = world["busiest"] - timedelta(days=before)
    exit_ = world["busiest"] + timedelta(days=after)
    return {"lot_id": str(world["lot"]), "product_id": str(world["product"]),
            "entry": f"{entry.isoformat()}T{rng.randint(0, 11):02d}:15", "exit": f"{exit_.isoformat()}T20:45",
            "plate": f"BN{rng.randint(10, 99)}CDE", "passengers": 1}


def contend(pg: common.Pg, world: dict, clients: int, seconds: float) -> tuple[common.LoadResult, Counter]:
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def make_worker(lane: int):
        conn = psycopg.connect(pg.url, autocommit=True)
        rng = random.Random(lane)

        def op(n: int) -> None:
            try:
                with conn.transaction():
                    cur = conn.cursor()
                    act_as(cur, Caller.anon())
                    cur.execute("select private.place_parking_order(%s, %s, null, null, 'bench')",
                                (Jsonb(stay(world, rng)), Jsonb({"email": f"b{lane}-{n}@bench.example.com",
                                                                 "name": "Bench Buyer"})))
                outcome = "booked"
            except psycopg.Error as exc:
                outcome = f"{exc.sqlstate}:{exc.diag.message_detail}"
                if outcome != "PT409:parking_day_full":
                    raise
            with lock:
                outcomes[outcome] += 1

        return op, conn.close

    return common.run_load(clients, seconds, 2.0, make_worker), outcomes


def check(pg: common.Pg, world: dict) -> tuple[int, int]:
    """(days whose counts differ from the live bookings covering them, days over their spaces)."""
    drift = pg.value("""
        with live as (
          select d::date as day, count(*) as n from public.parking_bookings b,
                 generate_series(b.first_day, b.last_day, interval '1 day') d
          where b.lot_id = %s and b.status <> 'cancelled' group by 1)
        select count(*) from public.parking_days p full join live l on l.day = p.day and p.lot_id = %s
        where (p.lot_id = %s or p.lot_id is null) and coalesce(p.booked, 0) <> coalesce(l.n, 0)""",
                     (world["lot"], world["lot"], world["lot"]))
    over = pg.value("select count(*) from public.parking_days where lot_id = %s and booked > spaces", (world["lot"],))
    return drift, over


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--statements", action="store_true",
                        help="diagnostic: load pg_stat_statements (track=all) and print the statements of the"
                             " contended day with room by total time")
    args = parser.parse_args()
    busiest = date.today() + timedelta(days=30)
    statements: list[str] = []
    with Bench(time_limit=420, pg_options=common.STATEMENTS_OPTIONS if args.statements else ()) as bench:
        pg = bench.main
        world = build(pg, busiest)
        pg.settle()
        say(f"pgbench -i; pgbench -N -c {args.clients} -j 2 -T {args.pgbench_seconds}")
        bench.pgbench_init(8)
        pgb = bench.pgbench(["-N", "-c", str(args.clients), "-j", "2"], seconds=args.pgbench_seconds)
        # The bound of a contended day: every booking of that day queues on one row until it commits.
        hot_row = bench.pgbench(["-c", str(args.clients), "-j", "2"], script=HOT_ROW, seconds=args.pgbench_seconds)

        say(f"contended day with room: {args.clients} clients")
        if args.statements:
            common.statements_reset(pg)
        roomy, roomy_outcomes = contend(pg, world, args.clients, args.seconds)
        if args.statements:
            statements = common.statements_top(pg)
        booked = pg.value("select booked from public.parking_days where lot_id = %s and day = %s",
                          (world["lot"], busiest))
        say("contended day, full: the same clients, refused")
        pg.sql("update public.parking_days set spaces = booked, released = least(released, booked)"
               " where lot_id = %s and day = %s", (world["lot"], busiest))
        pg.settle()
        full, full_outcomes = contend(pg, world, args.clients, args.seconds)
        drift, over = check(pg, world)

        say("quote for a 14-day stay vs a plain scan of its 14 day rows")
        entry, exit_ = busiest - timedelta(days=7), busiest + timedelta(days=6)
        pg.sql("select private.ensure_parking_days(%s, %s, %s)", (world["lot"], entry, exit_))  # all 14 rows exist
        quote_ms = common.time_calls(pg, args.calls, "select public.quote_parking(%s, %s, %s, %s)",
                              (world["lot"], world["product"], f"{entry}T09:00", f"{exit_}T08:00"), Caller.anon())
        scan_ms = common.time_calls(pg, args.calls, "select * from public.parking_days where lot_id = %s and day between %s and %s",
                             (world["lot"], entry, exit_), None)
        days_in_scan = pg.value("select count(*) from public.parking_days where lot_id = %s and day between %s and %s",
                                (world["lot"], entry, exit_))

        print(f"# parking benchmark · {bench.describe()}")
        print(f"pgbench -N -c {args.clients} -j 2 -T {args.pgbench_seconds}: {pgb.tps:.0f} TPS")
        print(f"pgbench, {args.clients} clients updating one row (a contended day's bound): {hot_row.tps:.0f} TPS")
        print(f"contended day with room: {roomy.rate:.0f} booking attempts/s; {roomy.summary()};"
              f" outcomes {dict(roomy_outcomes)}; ratio to pgbench {roomy.rate / pgb.tps:.3f},"
              f" to the one-row bound {roomy.rate / hot_row.tps:.3f}")
        print(f"contended day, full: {full.rate:.0f} booking attempts/s; {full.summary()};"
              f" outcomes {dict(full_outcomes)}; ratio to pgbench {full.rate / pgb.tps:.3f}")
        print(f"quote for a 14-day stay: {quote_ms:.2f} ms per call (median of {args.calls}) as anon;"
              f" plain scan of its {days_in_scan} day rows: {scan_ms:.2f} ms; ratio quote / scan {quote_ms / scan_ms:.1f}")
        print(f"correctness: bookings on the busiest day before it was closed off {booked}; days whose counts differ"
              f" from their live bookings {drift}; days over their spaces {over}")
        if statements:
            print("statements of the contended day with room by total time (pg_stat_statements, track=all;"
                  " wall time inside the server):")
            print("\n".join(statements))
        if drift or over or full_outcomes.get("booked"):
            raise SystemExit("capacity invariant broken")


if __name__ == "__main__":
    main()
