"""Checkout throughput on one hot ticket tier, as ratios to pgbench on the same server.

    .venv/bin/python benchmarks/checkout.py [--clients 16] [--seconds 15] [--pgbench-seconds 20] [--no-fsync]
    .venv/bin/python benchmarks/checkout.py --profile-http cpu|wall     # diagnostic: cProfile the function

One run, loopback only, everything in a temporary directory removed at exit
(about 2.5 minutes on 2 cores). Every phase gets a fresh copy of the migrated
database holding one published event with ONE hot tier of 100000 seats (never
sold out here), so no phase inherits another's rows:

  1. pgbench -N -c 16 -j 2 -T 20 after `pgbench -i -s 16`, on the same server:
     the yardstick TPS.
  (a) The hold-and-create-order transaction alone, 16 client threads calling
      the product's own shared.ticketing.checkout.place_ticket_order (shared.platform.db pool sized 16,
      i.e. one connection per client; per transaction `set_config('role',
      'anon')` + `request.jwt.claims` + lock_timeout in one statement, then `select
      private.place_ticket_order(...)`), 1 or 2 tickets per order, a unique
      idempotency key each -> TPS and ratio to pgbench (goal >= 0.5).
      Canary: the same, in a database where private.claim_seats is swapped for
      one counter row every buyer of the tier updates (`update bench.counters
      set held = held + n where tier_id = $1 and held + n <= cap`); the order
      insert and everything else stay the product's. Its ratio shows what one
      row per seat with `for update skip locked` buys.
  Diagnostics (shorter):
      - both transactions again with pgbench as the client (same statements,
        no Python), to split database cost from client cost;
      - a minimal order's writes alone with pgbench as the client (MINIMAL_SCRIPT: insert
        the order and its line, claim the seats; no PL/pgSQL, no role): the floor the
        schema's constraints, indexes and foreign keys set;
      - the product's transaction on a hot tier created after 300000 seats of
        an earlier event (a platform that has sold before): the plan of the pick
        decides whether a claim costs O(1) or a scan of every seat in the table.
  (b) The whole create-checkout-session over HTTP: 16 httpx clients with the
      anon key against every function served as `bookwell serve` serves them
      (werkzeug, threaded, one process, product default pool of 10), the
      Stripe stand-in in its own process -> orders/s and ratio to the same
      pgbench TPS (goal >= 0.1).
After every phase: no tier oversold (seats taken == quantities of live
orders == what the clients were sold; each order holds exactly its quantity;
for the canary, counter == quantities). CPU seconds per process are sampled
over each timed window (load generator = this process plus pgbench).
The product's files are never changed; variants live only in throwaway copies.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import os
import pstats
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Bench, cpu_delta, cpu_snapshot, say  # noqa: E402

import httpx  # noqa: E402

from shared.platform import db  # noqa: E402
import shared.areas  # noqa: F401,E402  every order kind
from shared.ticketing import checkout as ticket_checkout  # noqa: E402
from shared.platform.config import settings  # noqa: E402

GOAL_TXN = 0.5
GOAL_HTTP = 0.1

COUNTER_SQL = """
create schema if not exists bench;
create table if not exists bench.counters (
  tier_id uuid primary key,
  held integer not null default 0,
  cap integer not null
);
insert into bench.counters (tier_id, cap) select id, capacity from public.ticket_tiers;
-- The canary: one counter row per tier that every buyer updates, in place of one row per seat.
create or replace function private.claim_seats(p_tier_id uuid, p_order_id uuid, p_quantity integer) returns integer
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  update bench.counters set held = held + p_quantity
  where tier_id = p_tier_id and held + p_quantity <= cap;
  if found then
    return p_quantity;
  end if;
  return 0;
end;
$$;
"""

# The transaction as shared/commerce/checkout.py sends it, for pgbench: role and claims, then the call.
PGBENCH_SCRIPT = """\\set qty random(1, 2)
BEGIN;
select set_config('role', 'anon', true), set_config('request.jwt.claims', '{{"role": "anon"}}', true),
       set_config('lock_timeout', '5000', true);
select private.place_ticket_order('{event}'::uuid, jsonb_build_array(jsonb_build_object('tier_id', '{tier}', 'quantity', :qty)), 'guest@example.com', 'Gemma Guest', null, 'pgb-' || gen_random_uuid(), md5(random()::text), make_interval(mins => 15));
END;
"""


# The floor our schema sets: a minimal order's writes alone, as the database owner (no role, no checks in
# PL/pgSQL, no summary): insert the order and its line, claim the seats (skip locked, from a random seat), commit.
# Every constraint, index, foreign key and trigger on those tables still runs.
MINIMAL_SCRIPT = """\\set qty random(1, 2)
\\set start random(1, 90000)
BEGIN;
insert into public.orders (org_id, number, kind, event_id, buyer_email, buyer_name, currency, subtotal_minor,
  total_minor, tracking_token_hash, idempotency_key, hold_expires_at)
values ('{org}', 'BW-' || left(md5(random()::text), 8), 'tickets', '{event}', 'guest@example.com', 'Gemma Guest', 'GBP',
  2500 * :qty, 2500 * :qty, sha256(gen_random_uuid()::text::bytea), 'pgb-' || gen_random_uuid(),
  now() + interval '15 minutes')
returning id as order_id \\gset
insert into public.order_items (order_id, org_id, ticket_tier_id, description, quantity, unit_price_minor)
values (':order_id', '{org}', '{tier}', 'Benchmark Night - General', :qty, 2500);
update private.ticket_seats set order_id = ':order_id'
where id = any (array(select id from private.ticket_seats where tier_id = '{tier}' and order_id is null
                      and seat_no >= :start order by seat_no limit :qty for update skip locked));
END;
"""


def install_counter_canary(pg: common.Pg) -> None:
    """Swap private.claim_seats IN THIS PHASE'S THROWAWAY DATABASE ONLY (the product's files
    are untouched) for one counter row per tier (COUNTER_SQL), so the rest -
    shared.ticketing.checkout.place_ticket_order, private.place_ticket_order, the order insert -
    stays exactly the product's."""
    with pg.connect() as conn:
        found = conn.execute("select p.oid::regprocedure::text as sig from pg_proc p"
                             " where p.proname = 'claim_seats' and p.pronamespace = 'private'::regnamespace"
                             ).fetchall()
        if [r["sig"] for r in found] != ["private.claim_seats(uuid,uuid,integer)"]:
            raise RuntimeError(f"private.claim_seats changed shape ({found}); update the benchmark")
        conn.execute(COUNTER_SQL)


def product_place(caller: db.Caller, req: ticket_checkout.TicketCheckoutRequest, idempotency_key: str | None) -> dict:
    """The product's own call, as commerce's checkout makes it: shared.ticketing.checkout.place_ticket_order
    in one transaction as the caller, retried on a deadlock or lock timeout (shared.platform.db.run)."""
    return db.run(caller, lambda cur: ticket_checkout.place_ticket_order(cur, req, idempotency_key, settings()))


def counter_check(pg: common.Pg, tier_id, client_quantity: int | None) -> tuple[bool, str]:
    row = pg.one("""
        select c.held, c.cap,
          (select count(*) from public.order_items i join public.orders o on o.id = i.order_id
            where i.ticket_tier_id = c.tier_id and o.status in ('pending', 'processing', 'paid')) as orders,
          (select coalesce(sum(i.quantity), 0) from public.order_items i join public.orders o on o.id = i.order_id
            where i.ticket_tier_id = c.tier_id and o.status in ('pending', 'processing', 'paid')) as ordered
        from bench.counters c where c.tier_id = %s""", (tier_id,))
    ok = row["held"] == row["ordered"] and row["held"] <= row["cap"] and (
        client_quantity is None or client_quantity == row["ordered"])
    told = "" if client_quantity is None else f", clients were sold {client_quantity}"
    return ok, (f"{'OK' if ok else 'OVERSOLD/INCONSISTENT'}: counter held {row['held']} of {row['cap']}, "
                f"{row['orders']} live orders for {row['ordered']} tickets{told}")


def python_phase(bench: Bench, pg: common.Pg, ev: dict, tier: dict, place, clients: int, seconds: float,
                 warmup: float = 2.0):
    """`clients` threads calling `place` (the product's place_order or a variant) back to back,
    through shared.platform.db's pool (max size = clients: one connection per client)."""
    bench.use(pg)
    requests = [ticket_checkout.TicketCheckoutRequest.model_validate(common.checkout_body(ev["id"], tier["id"], q))
                for q in (1, 2)]
    sold = [0] * clients

    def make_worker(lane: int):
        caller = db.Caller.anon()

        def op(n: int) -> None:
            req = requests[n % 2]
            summary = place(caller, req, f"bench-{uuid.uuid4()}")
            if summary["status"] != "pending":
                raise RuntimeError(f"unexpected order status {summary['status']}")
            sold[lane] += req.items[0].quantity

        return op, lambda: None

    result = common.run_load(clients, seconds, warmup, make_worker, sample=lambda: cpu_snapshot(bench))
    db.close_pools()
    return result, sum(sold)


def http_phase(bench: Bench, ev: dict, tier: dict, clients: int, seconds: float):
    key = common.anon_key()
    url = f"{bench.functions.url}/functions/v1/create-checkout-session"
    bodies = [common.checkout_body(ev["id"], tier["id"], q) for q in (1, 2)]
    sold = [0] * clients

    def make_worker(lane: int):
        client = httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=30)

        def op(n: int) -> None:
            body = bodies[n % 2]
            r = client.post(url, json=body, headers={"idempotency-key": f"bench-{uuid.uuid4()}"})
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
            answer = r.json()
            if not answer.get("checkout_url") or answer.get("status") != "pending":
                raise RuntimeError(f"no checkout session: {json.dumps(answer)[:200]}")
            sold[lane] += body["items"][0]["quantity"]

        return op, client.close

    result = common.run_load(clients, seconds, 3.0, make_worker, sample=lambda: cpu_snapshot(bench))
    return result, sum(sold)


def pgbench_phase(bench: Bench, pg: common.Pg, ev: dict, tier: dict, clients: int, seconds: int,
                  template: str = PGBENCH_SCRIPT):
    script = template.format(event=ev["id"], tier=tier["id"], org=ev["org_id"])
    before = cpu_snapshot(bench)
    t0 = time.perf_counter()
    res = bench.pgbench(["-c", str(clients), "-j", "2"], database=pg.name, script=script, seconds=seconds)
    cpu = cpu_delta(before, cpu_snapshot(bench), time.perf_counter() - t0, res.transactions, "txn")
    return res, cpu


def profile_http(args) -> int:
    """(b) alone, the functions process under cProfile (distorts speed; shows where time goes)."""
    os.environ["BENCH_PROFILE_FUNCTIONS"] = args.profile_http
    with Bench(fsync=not args.no_fsync, functions=True, time_limit=args.time_limit) as bench:
        ev, tier = bench.main.hot_tier()
        bench.main.settle()
        result, _ = http_phase(bench, ev, tier, args.clients, args.seconds)
        bench.functions.stop()  # writes the profile
        stats = pstats.Stats(str(bench.tmp / "functions.prof"))
        print(f"(b) under cProfile ({args.profile_http} time): {result.rate:.1f} orders/s, {result.summary()}")
        stats.sort_stats("cumulative").print_stats(r"shared/|functions/|stripe/_|ssl|psycopg/connection|"
                                                   r"requests/sessions|urllib/request|jwt/", 40)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15, help="timed window of (a), its canary and (b)")
    parser.add_argument("--pgbench-seconds", type=int, default=20)
    parser.add_argument("--diagnostic-seconds", type=int, default=8, help="each diagnostic phase")
    parser.add_argument("--scale", type=int, default=16)
    parser.add_argument("--no-fsync", action="store_true", help="run Postgres with fsync=off")
    parser.add_argument("--time-limit", type=float, default=420)
    parser.add_argument("--statements", action="store_true",
                        help="diagnostic: load pg_stat_statements (track=all) and print, after (a), the statements"
                             " inside place_ticket_order by total time")
    parser.add_argument("--profile-http", choices=["cpu", "wall"],
                        help="diagnostic only: run (b) alone with the functions under cProfile and print where"
                             " a request's CPU time (cpu) or waiting time (wall) goes")
    args = parser.parse_args()
    if args.profile_http:
        return profile_http(args)
    load_start = os.getloadavg()
    clients, secs, dsecs = args.clients, args.seconds, args.diagnostic_seconds
    checks: list[tuple[str, bool, str]] = []

    pg_options = common.STATEMENTS_OPTIONS if args.statements else ()
    statements: list[str] = []
    with Bench(fsync=not args.no_fsync, functions=True, time_limit=args.time_limit,
               pool_max_size=clients, pg_options=pg_options) as bench:
        say("creating the hot tiers (100000 seats each), one database per phase")
        http_ev, http_tier = bench.main.hot_tier()
        dbs = {name: bench.clone(name) for name in
               ("a_seats", "a_counter", "d_seats_pgbench", "d_counter_pgbench", "d_minimal_pgbench", "d_behind")}
        with ThreadPoolExecutor(max_workers=3) as pool:  # seats are rows: 1.3 million of them to write
            futures = {name: pool.submit(dbs[name].hot_tier, seats_before=300_000 if name.startswith("d_behind") else 0)
                       for name in dbs}
            hot = {name: f.result() for name, f in futures.items()}
        install_counter_canary(dbs["a_counter"])
        install_counter_canary(dbs["d_counter_pgbench"])
        say(f"pgbench -i -s {args.scale}")
        init_s = bench.pgbench_init(args.scale)
        say(f"initialised in {init_s:.1f} s")
        machine = bench.describe()

        # 1. The yardstick (run again at the end: the ratio uses the mean of the two runs).
        def yardstick() -> tuple[common.PgbenchResult, str]:
            say(f"pgbench -N -c {clients} -j 2 -T {args.pgbench_seconds}")
            before = cpu_snapshot(bench)
            t0 = time.perf_counter()
            res = bench.pgbench(["-N", "-c", str(clients), "-j", "2"], seconds=args.pgbench_seconds)
            cpu = cpu_delta(before, cpu_snapshot(bench), time.perf_counter() - t0, res.transactions, "txn")
            say(f"pgbench: {res.tps:.1f} TPS")
            return res, cpu

        yards = [yardstick()]

        # (a) the transaction alone, from Python, as shared/commerce/checkout.py runs it.
        pg = dbs["a_seats"]
        pg.settle()
        if args.statements:
            common.statements_reset(pg)
        say(f"(a) place_ticket_order from Python, {clients} clients, {secs:.0f} s")
        seats, sold = python_phase(bench, pg, *hot["a_seats"], product_place, clients, secs)
        if args.statements:
            statements = common.statements_top(pg)
        check = pg.tier_check(hot["a_seats"][1]["id"], sold)
        checks.append(("(a) seats, Python", check.ok, str(check)))
        say(f"seats: {seats.rate:.1f} TPS ({seats.drift()}); {check}")

        pg = dbs["a_counter"]
        pg.settle()
        say(f"(a) canary: one counter row, from Python, {clients} clients, {secs:.0f} s")
        canary, sold = python_phase(bench, pg, *hot["a_counter"], product_place, clients, secs)
        ok, text = counter_check(pg, hot["a_counter"][1]["id"], sold)
        checks.append(("(a) canary counter, Python", ok, text))
        say(f"canary: {canary.rate:.1f} TPS; {text}")

        # Diagnostics: the same transactions with pgbench as the client (no Python) ...
        diag = {}
        for name in ("d_seats_pgbench", "d_counter_pgbench", "d_minimal_pgbench"):
            pg = dbs[name]
            pg.settle()
            say(f"diagnostic: {name} driven by pgbench, {dsecs} s")
            ev, tier = hot[name]
            res, cpu = pgbench_phase(bench, pg, ev, tier, clients, dsecs,
                                     MINIMAL_SCRIPT if name == "d_minimal_pgbench" else PGBENCH_SCRIPT)
            orders = pg.value("select count(*) from public.order_items where ticket_tier_id = %s", (tier["id"],))
            if "counter" in name:
                ok, text = counter_check(pg, tier["id"], None)
            else:
                c = pg.tier_check(tier["id"])
                ok, text = c.ok, str(c)
            checks.append((f"diagnostic {name} ({res.transactions} pgbench txns, {res.failed} failed)",
                           ok and orders == res.transactions, text))
            diag[name] = (res, cpu)
            say(f"{name}: {res.tps:.1f} TPS; {text}")

        # ... and the hot tier behind 300000 seats of an earlier event, as the product claims.
        behind = {}
        for name in ("d_behind",):
            pg = dbs[name]
            pg.settle()
            say(f"diagnostic: {name} from Python, {dsecs} s")
            res, sold = python_phase(bench, pg, *hot[name], product_place, clients, dsecs)
            c = pg.tier_check(hot[name][1]["id"], sold)
            checks.append((f"diagnostic {name}, Python", c.ok, str(c)))
            behind[name] = res
            say(f"{name}: {res.rate:.1f} TPS ({res.drift()}); {c}")

        # (b) the whole function over HTTP.
        bench.main.settle()
        say(f"(b) create-checkout-session over HTTP, {clients} clients, {secs:.0f} s")
        http, sold = http_phase(bench, http_ev, http_tier, clients, secs)
        check = bench.main.tier_check(http_tier["id"], sold)
        sessions = bench.main.value(
            "select count(*) from public.orders o join public.order_items i on i.order_id = o.id"
            " where i.ticket_tier_id = %s and o.checkout_session_id is not null", (http_tier["id"],))
        checks.append(("(b) seats, HTTP", check.ok and sessions == check.orders,
                       f"{check}; {sessions} orders carry a Checkout Session"))
        say(f"http: {http.rate:.1f} orders/s ({http.drift()}); {check}")
        yards.append(yardstick())
        load = common.load_note(load_start)

    # -- report ------------------------------------------------------------
    def cpu_of(result, unit: str) -> str:
        return cpu_delta(result.cpu[0], result.cpu[1], result.seconds, result.ops, unit) if result.cpu else ""

    yard_tps = sum(r.tps for r, _ in yards) / len(yards)

    def line(label: str, rate: float, unit: str, goal: float | None = None) -> str:
        ratio = rate / yard_tps
        tail = f"   ({common.verdict(ratio, goal)}: >= {goal})" if goal is not None else ""
        return f"{label:<48}{rate:9.1f} {unit:<9} ratio {ratio:.3f}{tail}"

    print()
    print(f"Bookwell checkout benchmark · {common.DATE} · {machine}")
    print(f"{clients} concurrent clients on one hot tier of 100000 seats (never sold out); 1 or 2 tickets per order;"
          f" each phase on a fresh copy of the migrated database; {load}")
    print()
    print(f"{'pgbench -N -c %d -j 2 -T %d (scale %d)' % (clients, args.pgbench_seconds, args.scale):<48}"
          f"{yard_tps:9.1f} TPS       mean of {' and '.join(f'{r.tps:.1f}' for r, _ in yards)}"
          f" (first and last phase); ratios below divide by the mean")
    for r, cpu in yards:
        print(f"    {r.tps:.1f} TPS, latency avg {r.latency_ms} ms; cpu: {cpu}")
    print(line("(a) place_ticket_order as anon (Python)", seats.rate, "TPS", GOAL_TXN))
    print(f"    {seats.summary()}; {seats.drift()}")
    print(f"    cpu: {cpu_of(seats, 'txn')}")
    print(line("    canary: one counter row (Python)", canary.rate, "TPS"))
    print(f"    {canary.summary()}; {canary.drift()}")
    print(f"    cpu: {cpu_of(canary, 'txn')}")
    print(f"{'    seats with skip locked / counter row':<48}{seats.rate / canary.rate if canary.rate else float('nan'):9.2f}x")
    print("  diagnostics:")
    for name, label in (("d_seats_pgbench", "seats, pgbench as the client"),
                        ("d_counter_pgbench", "counter row, pgbench as the client"),
                        ("d_minimal_pgbench", "a minimal order's writes alone (pgbench)")):
        res, cpu = diag[name]
        print(line(f"    {label}", res.tps, "TPS"))
        print(f"        cpu: {cpu}")
    for name, label in (("d_behind", "seats, tier behind 300k other seats (Python)"),):
        res = behind[name]
        print(line(f"    {label}", res.rate, "TPS"))
        print(f"        {res.summary()}; {res.drift()}")
        print(f"        cpu: {cpu_of(res, 'txn')}")
    print(line("(b) create-checkout-session over HTTP", http.rate, "orders/s", GOAL_HTTP))
    print(f"    {http.summary()}; {http.drift()}")
    print(f"    cpu: {cpu_of(http, 'order')}")
    for result in (seats, canary, http, *behind.values()):
        for e in result.first_errors:
            print(f"    error seen: {e}")
    if statements:
        print()
        print("Statements during (a) by total time (pg_stat_statements, track=all; wall time inside the server):")
        print("\n".join(statements))
    print()
    print("Oversell checks (after each phase):")
    for label, ok, text in checks:
        print(f"  {label}: {text}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
