"""The chauffeur dispatch board and contested assignments (issue #13), as ratios measured in one run.

    .venv/bin/python benchmarks/dispatch.py [--trips 2000] [--calls 50] [--clients 16] [--seconds 10]

Everything on loopback, on one server (benchmarks/common.py):

1. Board: public.dispatch_board(org, day) for a day of N trips (half of them
   assigned, every one with a pickup stop, a customer and a class), called as a
   dispatcher the way PostgREST would, vs a plain indexed scan of the same rows
   (select * from reservations where org_id and pickup_at within the day, as the
   superuser): milliseconds per call and the ratio board / scan.
2. Contested driver: C clients assign one driver, each to its own trip, all of
   them overlapping (public.assign_reservation as the dispatcher): the first
   wins, every other attempt is refused by the exclusion constraint (PT409
   driver_busy; an attempt on the trip the driver already holds succeeds again). Attempts per second as a ratio to pgbench -N with C clients
   on the same server; afterwards no driver holds two overlapping live trips.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402

import common  # noqa: E402
from common import Bench, say  # noqa: E402

from shared.platform.db import Caller, act_as  # noqa: E402

QUOTE = json.dumps({"lines": [{"code": "base", "rule": "bench", "amount_minor": 10000}], "total_minor": 10000})


def many(pg: common.Pg, statements: str, params: dict) -> None:
    for statement in statements.split(";\n"):
        if statement.strip():
            pg.sql(statement, params)


def build(pg: common.Pg, trips: int, day: date) -> dict:
    """An org with a dispatcher, one class, 100 drivers and vehicles, N trips on `day` (London), every
    driver given up to ten non-overlapping trips, and a pool of trips at one time for the contest."""
    org = pg.make_org()
    dispatcher = pg.value("insert into auth.users (id, email, raw_user_meta_data) values (gen_random_uuid(),"
                          " 'dispatch@bench.example.com', '{}') returning id")
    pg.sql("insert into public.memberships (org_id, user_id, role) values (%s, %s, 'dispatcher')", (org["id"], dispatcher))
    klass = pg.value("insert into public.vehicle_classes (org_id, name, seats, hourly_rate_minor) values (%s, 'Sedan', 3,"
                     " 7500) returning id", (org["id"],))
    params = {"org": org["id"], "class": klass, "day": day, "n": trips, "quote": QUOTE}
    many(pg, """
        insert into auth.users (id, email, raw_user_meta_data)
        select gen_random_uuid(), 'driver' || g || '@bench.example.com', '{}' from generate_series(1, 100) g;
        insert into public.memberships (org_id, user_id, role)
        select %(org)s, id, 'driver' from auth.users where email like 'driver%%@bench.example.com';
        insert into public.drivers (org_id, user_id, name, licence_number, licence_expires_on)
        select %(org)s, u.id, u.email, 'LIC' || row_number() over (), '2099-01-01'
        from auth.users u where u.email like 'driver%%@bench.example.com';
        insert into public.vehicles (org_id, class_id, make, model, year, plate, vin, seats)
        select %(org)s, %(class)s, 'Mercedes', 'E', 2024, 'BENCH' || g, upper(substr(md5(g::text), 1, 17)), 3
        from generate_series(1, 100) g;
        insert into public.chauffeur_customers (org_id, name, email)
        select %(org)s, 'Customer ' || g, 'c' || g || '@bench.example.com' from generate_series(1, 500) g;
    """, params)
    # N trips across the day, 06:00-22:00 local, each blocked for 50 minutes.
    many(pg, """
        with c as (select array_agg(id) as ids from public.chauffeur_customers where org_id = %(org)s),
        t as (
          select g, ((%(day)s::date + time '06:00') at time zone 'Europe/London')
                      + make_interval(mins => (g * 37) %% 960) as pickup
          from generate_series(1, %(n)s) g)
        insert into public.reservations (org_id, number, tracking_token_hash, customer_id, service_type, class_id,
          pickup_at, passengers, quote, total_minor, currency, blocked)
        select %(org)s, 'CH-B' || lpad(g::text, 7, '0'), sha256(g::text::bytea), c.ids[1 + g %% 500], 'point_to_point',
               %(class)s, t.pickup, 1, %(quote)s::jsonb, 10000, 'GBP',
               tstzrange(t.pickup - interval '10 minutes', t.pickup + interval '40 minutes')
        from t, c;
        insert into public.reservation_stops (reservation_id, position, org_id, kind, address)
        select id, 0, org_id, 'pickup', 'Pickup for ' || number from public.reservations where org_id = %(org)s;
    """, params)
    # Half the trips assigned, greedily, to a driver and a vehicle who are free then (no overlap by construction).
    pg.sql("""
        do $$
        declare
          r record;
          d uuid;
          v uuid;
        begin
          for r in select id, blocked from public.reservations where org_id = %(org)s and random() < 0.5 order by pickup_at loop
            select x.id into d from public.drivers x where x.org_id = %(org)s and not exists (
              select 1 from public.reservations y where y.driver_id = x.id and y.blocked && r.blocked) limit 1;
            select x.id into v from public.vehicles x where x.org_id = %(org)s and not exists (
              select 1 from public.reservations y where y.vehicle_id = x.id and y.blocked && r.blocked) limit 1;
            update public.reservations set driver_id = d, vehicle_id = v where id = r.id;
          end loop;
        end $$;
    """.replace("%(org)s", f"'{org['id']}'"))
    # The contest: 5000 trips at one time on another day, all overlapping.
    pg.sql("""
        with c as (select min(id::text)::uuid as id from public.chauffeur_customers where org_id = %(org)s)
        insert into public.reservations (org_id, number, tracking_token_hash, customer_id, service_type, class_id,
          pickup_at, passengers, quote, total_minor, currency, blocked)
        select %(org)s, 'CH-C' || lpad(g::text, 7, '0'), sha256(('c' || g)::bytea), c.id, 'point_to_point', %(class)s,
               (%(day)s::date + 2 + time '10:00') at time zone 'Europe/London', 1, %(quote)s::jsonb, 10000, 'GBP',
               tstzrange((%(day)s::date + 2 + time '09:50') at time zone 'Europe/London',
                         (%(day)s::date + 2 + time '10:40') at time zone 'Europe/London')
        from generate_series(1, 5000) g, c;
    """, params)
    pool = [r["id"] for r in pg.sql("select id from public.reservations where org_id = %s and number like 'CH-C%%'",
                                    (org["id"],))]
    contested = pg.value("select id from public.drivers where org_id = %s order by name limit 1", (org["id"],))
    return {"org_id": org["id"], "dispatcher": str(dispatcher), "pool": pool, "driver": contested}


def contest(pg: common.Pg, world: dict, clients: int, seconds: float) -> tuple[common.LoadResult, Counter]:
    caller = Caller.user(world["dispatcher"], "dispatch@bench.example.com")
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def make_worker(lane: int):
        conn = psycopg.connect(pg.url, autocommit=True)
        rng = random.Random(lane)

        def op(_n: int) -> None:
            try:
                with conn.transaction():
                    cur = conn.cursor()
                    act_as(cur, caller)
                    cur.execute("select public.assign_reservation(%s, %s, null)",
                                (rng.choice(world["pool"]), world["driver"]))
                outcome = "ok"
            except psycopg.Error as exc:
                outcome = f"{exc.sqlstate}:{exc.diag.message_detail}"
                if outcome != "PT409:driver_busy":
                    raise
            with lock:
                outcomes[outcome] += 1

        return op, conn.close

    return common.run_load(clients, seconds, 2.0, make_worker), outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trips", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    args = parser.parse_args()
    day = date.today() + timedelta(days=7)
    with Bench(time_limit=420) as bench:
        pg = bench.main
        say(f"building {args.trips} trips on {day}")
        world = build(pg, args.trips, day)
        pg.settle()
        on_day = pg.value("select count(*) from public.reservations where org_id = %s and number like 'CH-B%%'",
                          (world["org_id"],))
        dispatcher = Caller.user(world["dispatcher"], "dispatch@bench.example.com")
        say("the board vs a plain indexed scan")
        board_ms = common.time_calls(pg, args.calls, "select public.dispatch_board(%s, %s)", (world["org_id"], day), dispatcher)
        scan_ms = common.time_calls(pg, args.calls, "select * from public.reservations where org_id = %s"
                             " and pickup_at >= (%s::date::timestamp at time zone 'Europe/London')"
                             " and pickup_at < ((%s::date + 1)::timestamp at time zone 'Europe/London')",
                             (world["org_id"], day, day), None)
        say(f"pgbench -i; pgbench -N -c {args.clients} -j 2 -T {args.pgbench_seconds}")
        bench.pgbench_init(8)
        pgb = bench.pgbench(["-N", "-c", str(args.clients), "-j", "2"], seconds=args.pgbench_seconds)
        say(f"contested driver: {args.clients} clients")
        result, outcomes = contest(pg, world, args.clients, args.seconds)
        doubles = pg.value("""
            select count(*) from public.reservations a join public.reservations b
              on a.driver_id = b.driver_id and a.id < b.id and a.blocked && b.blocked
            where a.status in ('pending', 'confirmed', 'in_progress') and b.status in ('pending', 'confirmed', 'in_progress')""")

        print(f"# dispatch benchmark · {bench.describe()}")
        print(f"board for one day of {on_day} trips: {board_ms:.1f} ms per call (median of {args.calls}) as a dispatcher;"
              f" plain indexed scan of the same rows: {scan_ms:.2f} ms; ratio board / scan {board_ms / scan_ms:.1f}")
        print(f"pgbench -N -c {args.clients} -j 2 -T {args.pgbench_seconds}: {pgb.tps:.0f} TPS")
        print(f"contested driver: {result.rate:.0f} assignment attempts/s; {result.summary()}; outcomes {dict(outcomes)}")
        print(f"ratio contested attempts/s / pgbench TPS: {result.rate / pgb.tps:.3f}")
        held = pg.value("select count(*) from public.reservations where driver_id = %s and number like 'CH-C%%'",
                        (world["driver"],))
        print(f"correctness: overlapping live trips of one driver: {doubles}; contested trips the driver holds: {held}"
              f" (an 'ok' beyond the first re-assigns the trip the driver already holds)")
        if doubles or held != 1:
            raise SystemExit("double booking")


if __name__ == "__main__":
    main()
