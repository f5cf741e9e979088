"""Booking attempts on one contested slot vs uncontested slots, as ratios to pgbench on the same server.

    .venv/bin/python benchmarks/contested_slot.py [--clients 16] [--seconds 10] [--pgbench-seconds 10]

What runs, in one process, against one embedded PostgreSQL 18 (benchmarks/common.Bench):
  0. pgbench -N -c <clients> -j 2 after `pgbench -i -s 8`, on the same server -> TPS.
  1. contested: <clients> clients, each on its own connection acting as anon (exactly what
     PostgREST does), call public.place_appointment_order for ONE staff member's current
     slot, back to back. The first to book it moves everyone to the next slot (many slots
     contested in turn); everyone else is refused (PT409 slot_taken when it lost the queue on
     the staff member's booking lock, slot_unavailable when the winner had committed before
     it looked). Every answer is an attempt; anything else (40P01 deadlock, 55P03 lock
     timeout, 23P01) is an error and is reported.
  2. one staff member, different slots: the same clients book distinct free slots of one
     staff member: nobody loses, but every booking queues on that staff member's lock.
  3. uncontested: each client books distinct free slots of its own staff member.
Printed: attempts/s and bookings/s per phase, latency, outcome counts, deadlocks counted by
pg_stat_database during the phases, and the ratios contested/uncontested and each/pgbench,
all measured in this one run. Orders are priced, so each booking is a pending order with a
held appointment (the checkout hold), as a buyer's first step makes it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402

import common  # noqa: E402
from common import Bench, cpu_delta, cpu_snapshot, say  # noqa: E402

from shared.platform.db import Caller, act_as  # noqa: E402

LONDON = ZoneInfo("Europe/London")
HOURS = range(6, 22)  # 60-minute slots 06:00 .. 21:00, every day of the week
RPC = "select public.place_appointment_order(%s, %s::jsonb, 'SW1A 1AA', %s, 'Bench Buyer') as o"


def build(pg: common.Pg, staff: int) -> dict:
    """An org whose staff members each do their own service (so a booking for one staff member
    never falls back to another: the contest stays on one staff member's slot), every day
    06:00-22:00, covering SW1A, no notice, 730 days ahead, 60-minute holds."""
    org = pg.make_org()
    pg.sql("insert into public.appointment_settings (org_id, slot_interval_minutes, min_notice_minutes,"
           " max_days_ahead, hold_minutes) values (%s, 15, 0, 730, 60)", (org["id"],))
    team = [r["id"] for r in pg.sql(
        "insert into public.staff (org_id, display_name) select %s, 'Staff ' || lpad(n::text, 3, '0')"
        " from generate_series(1, %s) n returning id", (org["id"], staff))]
    services = {}
    for n, staff_id in enumerate(team):
        services[staff_id] = pg.value("insert into public.services (org_id, name, duration_minutes, price_minor)"
                                      " values (%s, %s, 60, 4800) returning id", (org["id"], f"Clean {n}"))
        pg.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
               (staff_id, services[staff_id], org["id"]))
    params = {"org": org["id"], "team": team}
    pg.sql("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
           " select %(org)s, s, d, '06:00', '22:00' from unnest(%(team)s::uuid[]) s, generate_series(0, 6) d", params)
    pg.sql("insert into public.staff_service_areas (org_id, staff_id, outcode, radius_km)"
           " select %(org)s, s, 'SW1A', 20 from unnest(%(team)s::uuid[]) s", params)
    return {"org_id": org["id"], "services": services, "team": team}


def slot_start(first_day: date, k: int) -> str:
    day = first_day + timedelta(days=k // len(HOURS))
    return datetime(day.year, day.month, day.day, HOURS[k % len(HOURS)], tzinfo=LONDON).isoformat()


def items(world: dict, staff_id, start: str) -> str:
    return json.dumps([{"service_id": str(world["services"][staff_id]), "staff_id": str(staff_id), "start": start}])


def deadlock_count(pg: common.Pg) -> int:
    return pg.value("select deadlocks from pg_stat_database where datname = current_database()")


def phase(bench: Bench, pg: common.Pg, world: dict, clients: int, seconds: float, pick) -> dict:
    """Closed loop: each client calls the RPC for pick(lane) -> (staff_id, slot index, on_ok)."""
    outcomes: Counter = Counter()
    lock = threading.Lock()
    first_day = date.today() + timedelta(days=1)

    def make_worker(lane: int):
        conn = psycopg.connect(pg.url, autocommit=True)
        email = f"bench{lane}@example.com"

        def op(_n: int) -> None:
            staff_id, k, on_ok = pick(lane)
            try:
                with conn.transaction():
                    cur = conn.cursor()
                    act_as(cur, Caller.anon(), lock_timeout_ms=5000)  # as shared/db.run
                    cur.execute(RPC, (world["org_id"], items(world, staff_id, slot_start(first_day, k)), email))
                outcome = "ok"
                on_ok(k)
            except psycopg.Error as exc:
                state = exc.sqlstate or "?"
                outcome = f"{state}:{exc.diag.message_detail}" if state.startswith("PT") else state
            with lock:
                outcomes[outcome] += 1
            if outcome != "ok" and not outcome.startswith("PT409"):
                raise RuntimeError(outcome)

        return op, conn.close

    before = deadlock_count(pg)
    result = common.run_load(clients, seconds, 2.0, make_worker, sample=lambda: cpu_snapshot(bench))
    time.sleep(1.5)  # backends report deadlocks when idle or gone: let them
    result_deadlocks = deadlock_count(pg) - before
    share_ok = outcomes["ok"] / max(1, sum(outcomes.values()))
    return {"result": result, "outcomes": dict(outcomes), "deadlocks": result_deadlocks,
            "bookings_per_s": result.rate * share_ok,
            "cpu": cpu_delta(*result.cpu, result.seconds, result.ops, "attempt")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--scale", type=int, default=8)
    parser.add_argument("--statements", action="store_true",
                        help="diagnostic: load pg_stat_statements (track=all) and print the statements of the"
                             " uncontested phase by total time")
    args = parser.parse_args()
    n = args.clients
    statements: list[str] = []
    with Bench(time_limit=420, pg_options=common.STATEMENTS_OPTIONS if args.statements else ()) as bench:
        pg = bench.main
        say("building the world")
        world = build(pg, n + 2)
        pg.settle()
        say(f"pgbench -i -s {args.scale}")
        bench.pgbench_init(args.scale)
        say(f"pgbench -N -c {n} -j 2 -T {args.pgbench_seconds}")
        before = cpu_snapshot(bench)
        t0 = time.perf_counter()
        pgb = bench.pgbench(["-N", "-c", str(n), "-j", "2"], seconds=args.pgbench_seconds)
        pgb_cpu = cpu_delta(before, cpu_snapshot(bench), time.perf_counter() - t0, pgb.transactions, "txn")

        # 1. contested: everyone at the current slot of staff 1; the winner moves the slot on.
        contested_staff, current = world["team"][0], {"k": 0}
        turn = threading.Lock()

        def next_slot(k: int) -> None:
            with turn:
                current["k"] = max(current["k"], k + 1)

        say(f"contested: {n} clients at one slot at a time")
        contested = phase(bench, pg, world, n, args.seconds,
                          lambda lane: (contested_staff, current["k"], next_slot))
        pg.settle()

        # 2. one staff member, every attempt a different free slot.
        shared_staff, counter = world["team"][1], itertools.count()
        say(f"one staff member, distinct slots: {n} clients")
        one_staff = phase(bench, pg, world, n, args.seconds,
                          lambda lane: (shared_staff, next(counter), lambda k: None))
        pg.settle()

        # 3. uncontested: each client its own staff member and its own slots.
        own = [itertools.count() for _ in range(n)]
        say(f"uncontested: {n} clients, each its own staff member")
        if args.statements:
            common.statements_reset(pg)
        uncontested = phase(bench, pg, world, n, args.seconds,
                            lambda lane: (world["team"][2 + lane], next(own[lane]), lambda k: None))
        if args.statements:
            statements = common.statements_top(pg)

        doubles = pg.value("""
            select count(*) from public.appointments a join public.appointments b
              on a.staff_id = b.staff_id and a.id < b.id and a.blocked && b.blocked
            where a.status in ('held', 'booked', 'in_progress') and b.status in ('held', 'booked', 'in_progress')""")

        print(f"# contested slot benchmark · {bench.describe()}")
        print(f"clients {n}, {args.seconds:.0f} s per phase after 2 s warm-up; RPC public.place_appointment_order"
              f" as anon on one connection per client (PostgREST's path), default deadlock_timeout (1 s)")
        print(f"pgbench -N -c {n} -j 2 -T {args.pgbench_seconds}: {pgb.tps:.0f} TPS, latency {pgb.latency_ms} ms;"
              f" {pgb_cpu}")
        rows = (("contested (one slot at a time)", contested), ("one staff, distinct slots", one_staff),
                ("uncontested (own staff each)", uncontested))
        for name, r in rows:
            res = r["result"]
            print(f"{name}: {res.rate:.0f} attempts/s, {r['bookings_per_s']:.0f} bookings/s; {res.summary()};"
                  f" outcomes {r['outcomes']}; deadlocks +{r['deadlocks']}")
            print(f"    cpu: {r['cpu']}")
        c, u = contested["result"].rate, uncontested["result"].rate
        print(f"ratio contested / uncontested attempts/s: {c / u:.2f}; one staff / uncontested:"
              f" {one_staff['result'].rate / u:.2f}")
        print(f"ratio to pgbench TPS: contested {c / pgb.tps:.3f}, one staff {one_staff['result'].rate / pgb.tps:.3f},"
              f" uncontested {u / pgb.tps:.3f}")
        print(f"correctness: overlapping live appointments of one staff member: {doubles};"
              f" deadlocks during the phases: {contested['deadlocks'] + one_staff['deadlocks'] + uncontested['deadlocks']}")
        if statements:
            print("statements of the uncontested phase by total time (pg_stat_statements, track=all;"
                  " wall time inside the server):")
            print("\n".join(statements))
        if doubles:
            raise SystemExit("double booking")


if __name__ == "__main__":
    main()
