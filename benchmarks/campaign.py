"""A promotional campaign of 10,000 recipients, queued and sent to the Resend stand-in (issue #12).

    .venv/bin/python benchmarks/campaign.py [--recipients 10000] [--bare 1000] [--renders 2000]

Everything on loopback, in one run, on one server (benchmarks/common.py):

1. Queue: public.queue_campaign for N consenting recipients (an audience
   function returning N contacts, each with granted consent), as the owner:
   recipients queued per second. Every row is then made due at once (the
   campaign's own rate limit is what a real send waits on; this measures the
   machinery).
2. Send: the outbox worker (notifications.send_due, 25 a batch, 4 sends at a
   time) drains them to the Resend stand-in: messages/s, as a ratio to the
   bare stand-in send rate (the same Mailer sending one fixed email, 4 at a
   time, no database, no template) measured in the same run.
3. Render: the promotion kind's templates rendered with its sample values,
   per message, as a ratio to rendering one QR code (qr.png), the cost the
   ticket email benchmark already measured.

Prints the ratios; benchmarks/RESULTS.md records them.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Bench, say  # noqa: E402

import shared.areas  # noqa: E402,F401  every message kind
from shared.comms import notifications, templates  # noqa: E402
from shared.platform.config import settings  # noqa: E402
from shared.platform.db import Caller, act_as  # noqa: E402
from shared.providers import mail, qr  # noqa: E402

AUDIENCE = """
create or replace function private.bench_audience(p_org_id uuid, p_options jsonb)
  returns table (name text, email text, phone text)
  language sql stable set search_path = ''
as $$
  select 'Customer ' || g, 'c' || g || '@bench.example.com', null::text
  from generate_series(1, (p_options ->> 'n')::int) g;
$$;
insert into private.campaign_audiences (name, contacts_function, description)
values ('bench_audience', 'private.bench_audience', 'benchmark contacts') on conflict do nothing;
"""


def queue_campaign(pg: common.Pg, org: dict, owner_id: str, n: int) -> tuple[float, int]:
    pg.sql(AUDIENCE)
    pg.sql("insert into public.marketing_consents (org_id, channel, address, status, source)"
           " select %s, 'email', 'c' || g || '@bench.example.com', 'granted', 'import' from generate_series(1, %s) g",
           (org["id"], n))
    with pg.connect() as conn, conn.transaction():
        cur = conn.cursor()
        act_as(cur, Caller.user(str(owner_id)))
        cur.execute("select (public.create_campaign(%s, 'email', 'bench_audience', 'Spring offer',"
                    " '20%% off every oven clean booked this month.', jsonb_build_object('n', %s), 10000)).id",
                    (org["id"], n))
        campaign_id = cur.fetchone()["id"]
    started = time.perf_counter()
    with pg.connect() as conn, conn.transaction():
        cur = conn.cursor()
        act_as(cur, Caller.user(str(owner_id)))
        cur.execute("select public.queue_campaign(%s) as r", (campaign_id,))
        queued = cur.fetchone()["r"]["queued"]
    elapsed = time.perf_counter() - started
    pg.sql("update public.notification_outbox set next_attempt_at = now() where template = 'promotion'")
    return elapsed, queued


def send_all() -> tuple[float, int]:
    mailer = mail.Mailer(settings())
    started, sent = time.perf_counter(), 0
    while True:
        counts = notifications.send_due(mailer, limit=25, templates=["promotion"])
        if counts["failed"] or counts["skipped"]:
            raise RuntimeError(f"sending failed: {counts}")
        sent += counts["sent"]
        if counts["claimed"] == 0:
            return time.perf_counter() - started, sent


def bare_sends(n: int) -> float:
    mailer = mail.Mailer(settings())
    email = mail.Email("bare@bench.example.com", "Spring offer", mail.layout("Spring offer", "<p>Offer</p>"), "Offer")
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=notifications.SEND_CONCURRENCY) as pool:
        list(pool.map(lambda i: mailer.send(email, idempotency_key=f"bare-{i}"), range(n)))
    return time.perf_counter() - started


def renders(n: int) -> tuple[float, float]:
    kind = templates.KINDS["promotion"]
    started = time.perf_counter()
    for _ in range(n):
        templates.render(kind, "email", kind.defaults["email"], kind.sample)
    render_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(n):
        qr.png(f"ticket-secret-{i:08d}-0123456789abcdef")
    return render_s, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--bare", type=int, default=1_000, help="bare stand-in sends for the baseline")
    parser.add_argument("--renders", type=int, default=2_000)
    parser.add_argument("--time-limit", type=float, default=900)
    args = parser.parse_args()
    with Bench(standins=True, time_limit=args.time_limit) as bench:
        say(bench.describe())
        org = bench.main.make_org()
        owner = bench.main.value("select user_id from public.memberships where org_id = %s", (org["id"],))
        queue_s, queued = queue_campaign(bench.main, org, owner, args.recipients)
        say(f"queued {queued} promotions in {queue_s:.2f} s ({queued / queue_s:,.0f} recipients/s)")
        bare_s = bare_sends(args.bare)
        bare_rate = args.bare / bare_s
        say(f"bare stand-in sends: {args.bare} in {bare_s:.2f} s ({bare_rate:,.0f}/s)")
        send_s, sent = send_all()
        rate = sent / send_s
        say(f"campaign sent: {sent} in {send_s:.2f} s ({rate:,.0f} messages/s)")
        render_s, qr_s = renders(args.renders)
        checks = {
            "every recipient queued": queued == args.recipients,
            "every promotion sent": sent == queued,
            "each with its own unsubscribe token": bench.main.value(
                "select count(distinct payload ->> 'unsubscribe_token') from public.notification_outbox"
                " where template = 'promotion' and status = 'sent'") == queued,
        }
        print()
        print(f"campaign send rate / bare stand-in send rate: {rate / bare_rate:.2f}"
              f"  ({rate:,.0f} vs {bare_rate:,.0f} messages/s)")
        print(f"template render per message / QR code per ticket: {render_s / qr_s:.3f}"
              f"  ({render_s / args.renders * 1000:.3f} ms vs {qr_s / args.renders * 1000:.3f} ms)")
        print(f"queue_campaign: {queued / queue_s:,.0f} recipients/s")
        for name, ok in checks.items():
            print(f"  {'OK ' if ok else 'BAD'} {name}")
        if not all(checks.values()):
            raise SystemExit(1)


if __name__ == "__main__":
    main()
