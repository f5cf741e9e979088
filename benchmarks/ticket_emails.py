"""Ticket emails sent per second (QR codes included) as a ratio to bare QR PNG rendering.

    .venv/bin/python benchmarks/ticket_emails.py [--orders 200] [--rounds 3] [--profile] [--no-what-if]

One run, loopback only, everything in a temporary directory removed at exit
(under a minute on 2 cores):

  0. An embedded PostgreSQL 18 with the `bookwell` database migrated and the
     Resend stand-in served by its own process (werkzeug, threaded), the
     Mailer pointed at it through RESEND_API_BASE as in the tests.
  1. Per round (not timed): `--orders` single-ticket orders placed as anon
     (private.place_ticket_order) and paid as service_role
     (private.record_payment), exactly as the webhook pays them, so the
     ticketing trigger issues the tickets and queues one `tickets` email each.
  2. Per round (timed, one after the other, order alternating by round):
     - bare: shared.providers.qr.png(secret) for the round's ticket secrets, in a loop;
     - emails: shared.comms.notifications.send_due(Mailer(settings), limit=25)
       until the outbox is empty - claim (skip locked), the ticket kind's template (order
       summary and passes from Postgres, one QR PNG per ticket, HTML and text),
       Mailer.send through the resend SDK to the stand-in, mark sent.
     Both run in this one thread, as one outbox worker does.
Prints codes/s, emails/s and their ratio (goal >= 0.7) over all rounds, then
a breakdown of one extra instrumented round (time in QR rendering, in
Mailer.send, in Postgres and the rest). Below the goal, or with --profile,
one more round runs under cProfile and its top entries are printed. Then
what-if rounds for the suggested fixes, each tried in this process and the
throwaway database only (never in the product's files): a kept-alive HTTP
connection to Resend, synchronous_commit=off for the worker's transactions,
and three worker threads sharing the outbox (--no-what-if skips them).
Checks: every queued email sent exactly once (outbox and stand-in agree),
one QR attachment per email.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Bench, say  # noqa: E402

import httpx  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402

from shared.comms import notifications, templates  # noqa: E402
from shared.providers import mail, qr  # noqa: E402
from shared.ticketing import emails as ticketing  # noqa: E402,F401  (registers the ticket message kind)
from shared.platform import db as shared_db  # noqa: E402
from shared.platform.config import settings  # noqa: E402
from shared.platform.db import Caller, act_as  # noqa: E402

GOAL = 0.7


def prepare_round(pg: common.Pg, ev: dict, tier: dict, n: int) -> list[str]:
    """n single-ticket orders, placed as anon and paid as service_role; returns their ticket secrets."""
    order_ids = []
    with pg.connect() as conn:
        for i in range(n):
            with conn.transaction():
                cur = conn.cursor()
                act_as(cur, Caller.anon())
                cur.execute("select private.place_ticket_order(%s, %s, %s, %s, null, %s, %s,"
                            " make_interval(mins => 15)) as s",
                            (ev["id"], Jsonb([{"tier_id": str(tier["id"]), "quantity": 1}]),
                             f"buyer{uuid.uuid4().hex[:8]}@example.com", "Gemma Guest",
                             f"bench-{uuid.uuid4()}", uuid.uuid4().hex))
                summary = cur.fetchone()["s"]
            with conn.transaction():
                cur = conn.cursor()
                act_as(cur, Caller.service())
                cur.execute("select private.record_payment(%s, 'stripe', %s, %s, 'GBP') as r",
                            (summary["order_id"], f"pi_bench_{uuid.uuid4().hex}", summary["total_minor"]))
                if cur.fetchone()["r"] != "fulfilled":
                    raise RuntimeError("an order was not fulfilled")
            order_ids.append(summary["order_id"])
    rows = pg.sql("select secret from public.tickets where order_id = any(%s::uuid[]) order by created_at",
                  (order_ids,))
    queued = pg.value("select count(*) from public.notification_outbox where status = 'pending'"
                      " and template = 'tickets'")
    if len(rows) != n or queued != n:
        raise RuntimeError(f"expected {n} tickets and {n} queued emails, got {len(rows)} and {queued}")
    return [r["secret"] for r in rows]


def bare_qr(secrets: list[str]) -> float:
    started = time.perf_counter()
    for secret in secrets:
        qr.png(secret)
    return time.perf_counter() - started


def send_all(mailer: mail.Mailer) -> tuple[float, int]:
    started = time.perf_counter()
    sent = 0
    while True:
        counts = notifications.send_due(mailer, limit=25)
        if counts["failed"]:
            raise RuntimeError(f"sending failed: {counts}")
        sent += counts["sent"]
        if counts["claimed"] == 0:
            break
    return time.perf_counter() - started, sent


BUCKETS = ("qr.png (QR PNG)", "Mailer.send (resend SDK -> HTTP)", "templates.email minus QR (2 queries, HTML)",
           "other transaction time (role, claim, mark sent, BEGIN/COMMIT)")


@contextmanager
def instrumented(totals: dict[str, float]):
    """Time the parts of each send in this benchmark process only (the product's code is not
    changed; module attributes are swapped for timing wrappers and put back): QR rendering,
    Mailer.send, the tickets renderer, and every database transaction, each net of what it contains."""
    qr_png, send, render, transaction = (qr.png, mail.Mailer.send, templates.email, shared_db.transaction)
    stack: list[list[float]] = []  # per open timed block: time spent in nested timed blocks

    def measured(name: str, fn):
        def wrapper(*a, **kw):
            stack.append([0.0])
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                elapsed = time.perf_counter() - t0
                nested = stack.pop()[0]
                totals[name] += elapsed - nested
                if stack:
                    stack[-1][0] += elapsed
        return wrapper

    @contextmanager
    def timed_transaction(*a, **kw):
        stack.append([0.0])
        t0 = time.perf_counter()
        try:
            with transaction(*a, **kw) as cur:
                yield cur
        finally:
            elapsed = time.perf_counter() - t0
            nested = stack.pop()[0]
            totals[BUCKETS[3]] += elapsed - nested
            if stack:
                stack[-1][0] += elapsed

    qr.png = measured(BUCKETS[0], qr_png)  # shared.ticketing.emails calls qr.png through the module
    mail.Mailer.send = measured(BUCKETS[1], send)
    templates.email = measured(BUCKETS[2], render)  # shared.comms.notifications calls it through the module
    shared_db.transaction = timed_transaction  # as_service() looks it up at call time
    try:
        yield
    finally:
        qr.png, mail.Mailer.send, shared_db.transaction, templates.email = qr_png, send, transaction, render


class KeepAliveResend:
    """What-if only: the resend SDK's default client opens a new connection per email
    (requests.request); this one keeps one requests.Session (installed as
    resend.default_http_client in this benchmark process, never in the product)."""

    def __init__(self):
        import requests

        self.session = requests.Session()

    def request(self, method, url, headers, json=None, files=None, data=None):
        resp = self.session.request(method=method, url=url, headers=headers, files=files, data=data,
                                    json=json if data is None else None, timeout=30)
        return resp.content, resp.status_code, resp.headers


def send_parallel(mailer: mail.Mailer, workers: int) -> tuple[float, int]:
    """`workers` threads each running send_due until the outbox is empty (the outbox claims with
    skip locked, so this is how several cron/webhook workers share it)."""
    import threading

    sent = [0] * workers
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            while True:
                counts = notifications.send_due(mailer, limit=5)
                sent[i] += counts["sent"]
                if counts["claimed"] == 0:
                    return
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(workers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return time.perf_counter() - started, sum(sent)


def what_if_round(pg: common.Pg, bench: Bench, ev: dict, tier: dict, n: int, mailer: mail.Mailer,
                  workers: int = 1) -> tuple[float, float]:
    secrets = prepare_round(pg, ev, tier, n)
    pg.settle()
    q = bare_qr(secrets)
    e, sent = send_all(mailer) if workers == 1 else send_parallel(mailer, workers)
    if sent != n:
        raise RuntimeError(f"what-if round: sent {sent} of {n}")
    return n / q, n / e


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=200, help="single-ticket orders per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="always run the cProfile round")
    parser.add_argument("--no-what-if", action="store_true", help="skip the what-if rounds")
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--time-limit", type=float, default=300)
    args = parser.parse_args()
    n = args.orders
    load_start = os.getloadavg()

    with Bench(fsync=not args.no_fsync, standins=True, time_limit=args.time_limit) as bench:
        pg = bench.main
        ev, tier = pg.hot_tier()
        machine = bench.describe()
        mailer = mail.Mailer(settings())
        assert settings().mail.resend_base == f"{bench.standins.url}/resend", settings().mail.resend_base

        # Warm-up (not counted): imports, pool, the first connection to the stand-in.
        secrets = prepare_round(pg, ev, tier, 5)
        bare_qr(secrets)
        send_all(mailer)

        qr_s = email_s = 0.0
        emails_sent = 0
        rounds = []
        others: list[float] = []  # share of the machine used by other work during each timed part

        def timed_qr() -> float:
            before = common.cpu_snapshot(bench)
            q = bare_qr(secrets)
            others.append(common.others_share(before, common.cpu_snapshot(bench), q))
            return q

        def timed_send() -> tuple[float, int]:
            before = common.cpu_snapshot(bench)
            e, sent = send_all(mailer)
            others.append(common.others_share(before, common.cpu_snapshot(bench), e))
            return e, sent

        for r in range(args.rounds):
            secrets = prepare_round(pg, ev, tier, n)
            pg.settle()
            if r % 2 == 0:
                q = timed_qr()
                e, sent = timed_send()
            else:
                e, sent = timed_send()
                q = timed_qr()
            if sent != n:
                raise RuntimeError(f"round {r}: sent {sent} of {n}")
            qr_s, email_s, emails_sent = qr_s + q, email_s + e, emails_sent + sent
            rounds.append((n / q, n / e))
            say(f"round {r + 1}: bare QR {n / q:.1f} codes/s, emails {n / e:.1f}/s, ratio {(n / e) / (n / q):.3f}")

        # Breakdown: one more round with the parts timed.
        secrets = prepare_round(pg, ev, tier, n)
        pg.settle()
        parts: dict[str, float] = defaultdict(float)
        with instrumented(parts):
            breakdown_s, sent = send_all(mailer)
        if sent != n:
            raise RuntimeError(f"breakdown round: sent {sent} of {n}")

        ratio = (emails_sent / email_s) / (emails_sent / qr_s)
        profile_text = None
        if ratio < GOAL or args.profile:
            secrets = prepare_round(pg, ev, tier, n)
            pg.settle()
            prof = cProfile.Profile()
            prof.enable()
            send_all(mailer)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(35)
            profile_text = out.getvalue()

        # What-ifs for the suggestions (benchmark process and throwaway database only).
        what_ifs: list[tuple[str, float, float]] = []
        if not args.no_what_if:
            import resend

            default_client = resend.default_http_client
            resend.default_http_client = KeepAliveResend()
            try:
                what_ifs.append(("one kept-alive connection to Resend",
                                 *what_if_round(pg, bench, ev, tier, n, mailer)))
                pg.sql(f"alter database {pg.name} set synchronous_commit = off")
                shared_db.close_pools()  # new connections pick the setting up
                what_ifs.append(("  + synchronous_commit=off for the worker's transactions",
                                 *what_if_round(pg, bench, ev, tier, n, mailer)))
                what_ifs.append(("  + 3 worker threads instead of 1 (QR loop still 1 thread)",
                                 *what_if_round(pg, bench, ev, tier, n, mailer, workers=3)))
            finally:
                resend.default_http_client = default_client
                pg.sql(f"alter database {pg.name} reset synchronous_commit")
                shared_db.close_pools()

        load = common.load_note(load_start)

        # Checks.
        total_expected = 5 + n * (args.rounds + 1 + (1 if profile_text else 0) + len(what_ifs))
        outbox = {r["status"]: r["n"] for r in pg.sql(
            "select status::text, count(*) as n from public.notification_outbox group by status")}
        attempts = pg.value("select max(attempts) from public.notification_outbox")
        counts = httpx.get(f"{bench.standins.url}/bench/counts", timeout=30).json()
        checks = [
            (f"outbox {outbox} (expected {total_expected} sent), max attempts {attempts}",
             outbox == {"sent": total_expected} and attempts == 1),
            (f"the Resend stand-in holds {counts['emails']} emails; attachments per email: {counts['attachments']}",
             counts["emails"] == total_expected and counts["attachments"] == {"image/png": total_expected}),
        ]

    codes_per_s = emails_sent / qr_s
    emails_per_s = emails_sent / email_s
    print()
    print(f"Bookwell ticket email benchmark · {common.DATE} · {machine}")
    print(f"{args.rounds} rounds x {n} single-ticket orders; one worker thread; QR codes carry the"
          f" 43-character ticket secret; {load}")
    print(f"other work on the machine during the timed parts: "
          + ", ".join(f"{o * 100:.0f}%" for o in others) + " of its cores")
    print()
    print(f"{'bare QR PNG rendering (shared.providers.qr.png)':<48}{codes_per_s:9.1f} codes/s   "
          f"({qr_s / emails_sent * 1000:.2f} ms per code)")
    print(f"{'ticket emails (send_due -> render -> Resend)':<48}{emails_per_s:9.1f} emails/s  "
          f"({email_s / emails_sent * 1000:.2f} ms per email)")
    print(f"{'ratio emails / codes':<48}{ratio:9.3f}   ({common.verdict(ratio, GOAL)}: >= {GOAL})")
    print("    per round (codes/s, emails/s): " + ", ".join(f"{a:.1f}/{b:.1f}" for a, b in rounds))
    per = breakdown_s / n * 1000
    print(f"Where an email's time goes (extra instrumented round, {per:.2f} ms per email):")
    accounted = 0.0
    for name in BUCKETS:
        ms = parts[name] / n * 1000
        accounted += ms
        print(f"    {name:<66}{ms:6.2f} ms {ms / per * 100:5.1f}%")
    print(f"    {'rest (send_due loop, logging, Python between the parts)':<66}{per - accounted:6.2f} ms"
          f" {(per - accounted) / per * 100:5.1f}%")
    if what_ifs:
        print("What-if rounds (suggested changes tried in this process/database only; same-round bare QR):")
        for label, codes, emails in what_ifs:
            print(f"    {label:<58}{emails:7.1f} emails/s vs {codes:6.1f} codes/s  ratio {emails / codes:.3f}")
    if profile_text:
        print()
        print("cProfile of one more round (cumulative):")
        print(profile_text)
    print()
    print("Checks:")
    for text, ok in checks:
        print(f"  {'OK ' if ok else 'BAD'} {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
