"""Stripe webhook events processed per second, as a ratio to pgbench on the same server.

    .venv/bin/python benchmarks/webhooks.py [--events 600] [--clients 16] [--tickets 1] [--pgbench-seconds 20]

One run, loopback only, everything in a temporary directory removed at exit
(about a minute on 2 cores):

  0. An embedded PostgreSQL 18 with the `bookwell` database migrated; every
     function served as `bookwell serve` serves them (werkzeug, threaded, one
     process) and the Stripe and Resend stand-ins in a second process;
     `pgbench -i -s 16` in another database on the same server.
  1. pgbench -N -c 16 -j 2 -T 20: the yardstick TPS.
  2. Not timed: N pending orders (`--tickets` each) created through the real
     create-checkout-session function over HTTP, so each has a Checkout
     Session in the Stripe stand-in; then the stand-in's own `pay()` completes
     every session (it has no webhook URL here, so the events wait in its
     queue) and hands back its checkout.session.completed events.
  3. Timed: the N events, each signed with shared.devstack.standins.sign (a real
     Stripe-Signature) just before, POSTed by `--clients` concurrent httpx
     clients to /functions/v1/stripe-webhook -> events/s and ratio to pgbench.

What one event costs here is what it costs in production: signature check,
the event recorded and the payment applied in one transaction (tickets
issued, ticket email queued), THEN the ticket email sent inline by the
webhook handler (notifications.send_due: QR code rendered per ticket, email
sent to the Resend stand-in, outbox row marked). That inline email is
included on purpose (realistic); the ticket_emails benchmark isolates it.
Checks: every event answered 200 `fulfilled`, every order paid with its
tickets, every ticket email sent exactly once (outbox and stand-in agree).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Bench, cpu_delta, cpu_snapshot, say  # noqa: E402

import httpx  # noqa: E402

from shared.platform.config import settings  # noqa: E402
from shared.devstack.standins import sign  # noqa: E402


def create_orders(bench: Bench, ev: dict, tier: dict, n: int, tickets: int, clients: int) -> list[dict]:
    """N pending orders through the real function (not timed)."""
    key = common.anon_key()
    url = f"{bench.functions.url}/functions/v1/create-checkout-session"
    body = common.checkout_body(ev["id"], tier["id"], tickets)

    def make_worker(lane: int):
        client = httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=60)

        def op(i: int) -> dict:
            r = client.post(url, json=body | {"buyer_email": f"buyer{i}@example.com"},
                            headers={"idempotency-key": f"bench-{uuid.uuid4()}"})
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
            return r.json()

        return op, client.close

    result = common.run_batch(clients, list(range(n)), make_worker)
    if result.errors:
        raise RuntimeError(f"could not create the orders: {result.first_errors}")
    return result.results


def completed_events(bench: Bench, session_ids: list[str]) -> list[dict]:
    """The stand-in pays each session and returns its checkout.session.completed events (unsent)."""
    events: list[dict] = []
    with httpx.Client(timeout=120) as client:
        for start in range(0, len(session_ids), 100):
            chunk = session_ids[start:start + 100]
            r = client.post(f"{bench.standins.url}/bench/pay", json={"session_ids": chunk})
            r.raise_for_status()
            events += r.json()["events"]
    if len(events) != len(session_ids):
        raise RuntimeError(f"expected {len(session_ids)} completed events, got {len(events)}")
    return events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--tickets", type=int, default=1, help="tickets per order (one QR code each)")
    parser.add_argument("--pgbench-seconds", type=int, default=20)
    parser.add_argument("--scale", type=int, default=16)
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--time-limit", type=float, default=360)
    parser.add_argument("--profile-functions", choices=["cpu", "wall"],
                        help="diagnostic only: cProfile the functions process (slows it) and print where the"
                             " webhook's CPU time (cpu) or waiting time (wall) goes")
    args = parser.parse_args()
    if args.profile_functions:
        os.environ["BENCH_PROFILE_FUNCTIONS"] = args.profile_functions
    checks: list[tuple[str, bool]] = []
    load_start = os.getloadavg()

    with Bench(fsync=not args.no_fsync, functions=True, time_limit=args.time_limit) as bench:
        pg = bench.main
        ev, tier = pg.hot_tier()
        say(f"pgbench -i -s {args.scale}")
        bench.pgbench_init(args.scale)
        machine = bench.describe()
        def yardstick() -> tuple[common.PgbenchResult, str]:
            say(f"pgbench -N -c 16 -j 2 -T {args.pgbench_seconds}")
            before = cpu_snapshot(bench)
            t0 = time.perf_counter()
            res = bench.pgbench(["-N", "-c", "16", "-j", "2"], seconds=args.pgbench_seconds)
            cpu = cpu_delta(before, cpu_snapshot(bench), time.perf_counter() - t0, res.transactions, "txn")
            say(f"pgbench: {res.tps:.1f} TPS")
            return res, cpu

        yards = [yardstick()]

        say(f"creating {args.events} pending orders through create-checkout-session")
        orders = create_orders(bench, ev, tier, args.events, args.tickets, args.clients)
        sessions = [o["checkout_session_id"] for o in orders]
        say("paying them in the Stripe stand-in (events held back)")
        events = completed_events(bench, sessions)
        secret = settings().stripe.webhook_secret
        payloads = [json.dumps(e, indent=2).encode() for e in events]  # as the stand-in serialises them
        pg.settle()

        url = f"{bench.functions.url}/functions/v1/stripe-webhook"
        say(f"delivering {len(payloads)} signed checkout.session.completed events, {args.clients} clients")

        def make_worker(lane: int):
            client = httpx.Client(timeout=60)

            def op(payload: bytes) -> dict:
                r = client.post(url, content=payload, headers={
                    "content-type": "application/json; charset=utf-8",
                    "stripe-signature": sign(payload, secret),
                    "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
                if r.status_code != 200:
                    raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
                return r.json()

            return op, client.close

        samples: list[dict] = []
        result = common.run_batch(args.clients, payloads, make_worker,
                                  on_start=lambda: samples.append(cpu_snapshot(bench)))
        cpu = cpu_delta(samples[0], cpu_snapshot(bench), result.seconds, result.done, "event")
        say(f"{result.rate:.1f} events/s")
        if args.profile_functions:
            bench.functions.stop()  # writes the profile
            import pstats

            print(f"under cProfile ({args.profile_functions} time): {result.rate:.1f} events/s")
            pstats.Stats(str(bench.tmp / "functions.prof")).sort_stats("cumulative").print_stats(
                r"stripe-webhook|stripe_events|notifications|shared/qr|shared/mail|ticketing|payments|"
                r"stripe/_webhook|psycopg/connection|resend/request|qrcode/main", 30)
            return 0
        yards.append(yardstick())
        load = common.load_note(load_start)

        # -- checks --------------------------------------------------------
        outcomes: dict[str, int] = {}
        for answer in result.results:
            outcomes[answer.get("result")] = outcomes.get(answer.get("result"), 0) + 1
        checks.append((f"answers: {outcomes}, errors {result.errors}",
                       result.errors == 0 and outcomes == {"fulfilled": len(payloads)}))
        ids = [o["order_id"] for o in orders]
        row = pg.one("""
            select count(*) filter (where status = 'paid') as paid, count(*) as orders,
              (select count(*) from public.tickets t where t.order_id = any(%s::uuid[])) as tickets,
              (select count(*) from private.webhook_events) as events_recorded
            from public.orders where id = any(%s::uuid[])""", (ids, ids))
        checks.append((f"orders paid {row['paid']} of {row['orders']}, tickets issued {row['tickets']}"
                       f" (expected {len(ids) * args.tickets}), webhook events recorded {row['events_recorded']}",
                       row["paid"] == len(ids) and row["tickets"] == len(ids) * args.tickets
                       and row["events_recorded"] == len(ids)))
        outbox = {r["status"]: r["n"] for r in pg.sql(
            "select status::text, count(*) as n from public.notification_outbox where template = 'tickets'"
            " group by status")}
        emails = httpx.get(f"{bench.standins.url}/bench/counts", timeout=30).json()["emails"]
        checks.append((f"ticket emails: outbox {outbox}; the Resend stand-in holds {emails}",
                       outbox == {"sent": len(ids)} and emails == len(ids)))

    yard_tps = sum(r.tps for r, _ in yards) / len(yards)
    ratio = result.rate / yard_tps
    print()
    print(f"Bookwell webhook benchmark · {common.DATE} · {machine}")
    print(f"{len(payloads)} checkout.session.completed events ({args.tickets} ticket(s) per order),"
          f" {args.clients} concurrent deliveries; the handler sends the ticket email inline (included); {load}")
    print()
    print(f"{'pgbench -N -c 16 -j 2 -T %d (scale %d)' % (args.pgbench_seconds, args.scale):<48}"
          f"{yard_tps:9.1f} TPS   mean of {' and '.join(f'{r.tps:.1f}' for r, _ in yards)} (before and after)")
    for r, c in yards:
        print(f"    {r.tps:.1f} TPS; cpu: {c}")
    print(f"{'stripe-webhook, events processed':<48}{result.rate:9.1f} events/s   ratio {ratio:.4f}"
          f"   (no goal set; reported)")
    print(f"    {result.done} events in {result.seconds:.1f} s, latency p50 {result.latency_ms(0.5):.0f} ms,"
          f" p95 {result.latency_ms(0.95):.0f} ms, max {result.latency_ms(1.0):.0f} ms")
    print(f"    cpu: {cpu}")
    for e in result.first_errors:
        print(f"    error seen: {e}")
    print()
    print("Checks:")
    for text, ok in checks:
        print(f"  {'OK ' if ok else 'BAD'} {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
