"""Shared setup for the ticketing benchmarks (checkout.py, webhooks.py, ticket_emails.py).

What `Bench` gives a script, all on loopback and all removed at exit:

- an embedded PostgreSQL 18 (shared/localdb.LocalServer) in a fresh temporary
  directory on a free port, with the database `bookwell` bootstrapped and
  migrated exactly as `bookwell migrate` does (shared/platform/migrate.py);
- optionally `pgbench -i -s <scale>` in a second database `pgbench` on the SAME
  server, and `pgbench` runs whose TPS the scripts divide by;
- optionally the provider stand-ins (Stripe, Resend) served by one subprocess,
  and every function served by another, each with werkzeug's
  `make_server(threaded=True)` exactly as `bookwell serve` does. They are two
  processes, not one, so the providers' CPU is not charged to the functions'
  interpreter lock (in production Stripe and Resend are somebody else's
  machines); the functions reach them through STRIPE_API_BASE /
  RESEND_API_BASE, as the test stack does (tests/conftest.py);
- builders for an organization, a published event and ticket tiers (superuser
  SQL, as tests/support/factories.py does);
- a closed-loop load runner (N client threads, a warm-up, then a timed window)
  and a fixed-batch runner;
- a watchdog: past the time limit the script stops itself and still cleans up.

Run `python benchmarks/common.py serve {functions|standins} --port N` only through
`Bench`; it is the subprocess entry point.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from shared.platform import migrate  # noqa: E402
from shared.platform import config
from shared.platform import db as shared_db  # noqa: E402
from shared.devstack.localdb import LocalServer, bin_dir, free_port  # noqa: E402

DATE = date.today().isoformat()  # the day of the run, for the printed headers
APP_DB = "bookwell"
TEMPLATE_DB = "bookwell_template"
PGBENCH_DB = "pgbench"
ORIGIN = "http://localhost:3000"  # one of the default CORS / return origins


def say(message: str) -> None:
    """Progress on stderr; results go to stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Watchdog
# ---------------------------------------------------------------------------


def install_watchdog(limit_s: float) -> threading.Timer:
    """Turn SIGTERM into SystemExit (so `finally` blocks clean up) and send
    ourselves SIGTERM when the time limit passes."""

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum} (time limit {limit_s:.0f} s or an outside stop)")

    signal.signal(signal.SIGTERM, stop)

    def expire() -> None:
        say(f"time limit of {limit_s:.0f} s reached; stopping and cleaning up")
        os.kill(os.getpid(), signal.SIGTERM)

    timer = threading.Timer(limit_s, expire)
    timer.daemon = True
    timer.start()
    return timer


# ---------------------------------------------------------------------------
# Served subprocesses (functions, stand-ins)
# ---------------------------------------------------------------------------


@dataclass
class Served:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: it and nothing else
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass


def start_served(kind: str, env: dict[str, str], workdir: Path) -> Served:
    """This script's own `serve KIND` (stand-ins or functions) on a free port; see start_command."""
    port = free_port()
    return start_command(kind, [sys.executable, str(Path(__file__).resolve()), "serve", kind, "--port", str(port)],
                         port, env, workdir)


def _bench_app(stripe, resend):
    """Benchmark-only helpers next to the stand-ins (never part of the product):
    POST /bench/pay {"session_ids": [...]} pays each session in the Stripe stand-in
    (its own `pay`, so the PaymentIntent and charge exist) and answers the
    checkout.session.completed events it built, unsent (the stand-in has no
    webhook URL: events wait in its queue). GET /bench/counts counts emails by attachments."""
    from werkzeug.wrappers import Request, Response

    @Request.application
    def app(request: Request) -> Response:
        if request.method == "POST" and request.path == "/pay":
            ids = json.loads(request.get_data())["session_ids"]
            for session_id in ids:
                stripe.pay(session_id)
            wanted = set(ids)
            events = [e for e in stripe.queued
                      if e["type"] == "checkout.session.completed" and e["data"]["object"]["id"] in wanted]
            return Response(json.dumps({"events": events}), content_type="application/json")
        if request.method == "GET" and request.path == "/counts":
            with resend._lock:  # counts, without deep-copying every attachment
                emails = len(resend._emails)
                attachments: dict[str, int] = {}
                for email in resend._emails.values():
                    shape = ",".join(sorted(a["content_type"] for a in email["attachments"])) or "none"
                    attachments[shape] = attachments.get(shape, 0) + 1
            return Response(json.dumps({"emails": emails, "attachments": attachments}),
                            content_type="application/json")
        return Response("not found", status=404)

    return app


def serve(kind: str, port: int) -> None:
    from werkzeug.serving import make_server

    if kind == "functions":
        from shared.devstack import devserver

        app = devserver.build_app()  # every function, mounted as `bookwell serve` mounts them
    elif kind == "standins":
        from werkzeug.middleware.dispatcher import DispatcherMiddleware
        from werkzeug.wrappers import Response

        from shared.devstack.standins import ResendStandin, StripeStandin

        cfg = config.settings()
        stripe = StripeStandin(None, cfg.stripe.webhook_secret, api_key=cfg.stripe.secret_key)
        resend = ResendStandin(api_key=cfg.mail.resend_api_key)
        app = DispatcherMiddleware(Response("not found", status=404), {
            "/stripe": stripe.wsgi, "/resend": resend.wsgi, "/bench": _bench_app(stripe, resend)})
    else:
        raise SystemExit(f"unknown kind {kind}")
    profile_out = os.environ.get("BENCH_PROFILE_OUT")
    profiles: list = []
    if profile_out:
        app = _profiled(app, profiles)
    server = make_server("127.0.0.1", port, app, threaded=True)

    def shutdown(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    server.serve_forever()
    if profile_out and profiles:
        import pstats

        stats = pstats.Stats(profiles[0])
        for p in profiles[1:]:
            stats.add(p)
        stats.dump_stats(profile_out)


def _profiled(app, profiles: list):
    """cProfile every request, one profiler per server thread (diagnostic runs only)."""
    import cProfile

    local = threading.local()
    lock = threading.Lock()

    def wrapped(environ, start_response):
        prof = getattr(local, "prof", None)
        if prof is None:
            # BENCH_PROFILE_TIMER=cpu: per-thread CPU time (where the interpreter works);
            # default: wall time (where a request waits: database, Stripe, the GIL).
            cpu = os.environ.get("BENCH_PROFILE_TIMER") == "cpu"
            prof = local.prof = cProfile.Profile(time.thread_time) if cpu else cProfile.Profile()
            with lock:
                profiles.append(prof)
        prof.enable()
        try:
            return list(app(environ, start_response))
        finally:
            prof.disable()

    return wrapped


# ---------------------------------------------------------------------------
# pgbench
# ---------------------------------------------------------------------------


@dataclass
class PgbenchResult:
    command: str
    tps: float
    transactions: int
    failed: int
    latency_ms: float | None
    output: str


def _pgbench_binary() -> str:
    return str(bin_dir() / "pgbench")


# ---------------------------------------------------------------------------
# The bench
# ---------------------------------------------------------------------------


# Per tier: its capacity, the seats taken, the live orders and their quantities, and the lines whose
# seats differ from their quantity (append a WHERE on t).
TIER_CHECK = """
    select t.id::text as id, t.name, t.capacity,
      (select count(*) from private.ticket_seats s
        where s.tier_id = t.id and s.order_id is not null) as seats_taken,
      (select count(*) from public.order_items i join public.orders o on o.id = i.order_id
        where i.ticket_tier_id = t.id and o.status in ('pending', 'processing', 'paid')) as orders,
      (select coalesce(sum(i.quantity), 0) from public.order_items i join public.orders o on o.id = i.order_id
        where i.ticket_tier_id = t.id and o.status in ('pending', 'processing', 'paid')) as ordered,
      (select count(*) from public.order_items i
        where i.ticket_tier_id = t.id
          and i.quantity <> (select count(*) from private.ticket_seats s
                             where s.order_id = i.order_id and s.tier_id = t.id)) as mismatched
    from public.ticket_tiers t"""


class Pg:
    """One database on the bench server: superuser SQL, builders and checks."""

    def __init__(self, url: str, name: str):
        self.url = url
        self.name = name

    def connect(self, **kw: Any) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, row_factory=dict_row, **kw)

    def sql(self, query: str, params: Any = None) -> list[dict]:
        with self.connect() as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def one(self, query: str, params: Any = None) -> dict | None:
        rows = self.sql(query, params)
        return rows[0] if rows else None

    def value(self, query: str, params: Any = None) -> Any:
        row = self.one(query, params)
        return next(iter(row.values())) if row else None

    def settle(self) -> None:
        """Between phases: vacuum analyze and checkpoint, so one phase's dirty
        pages and dead rows are not the next phase's bill."""
        with self.connect() as conn:
            conn.execute("vacuum (analyze)")
            conn.execute("checkpoint")

    # -- data --------------------------------------------------------------

    def make_org(self) -> dict:
        owner = self.one("insert into auth.users (id, email, raw_user_meta_data) values (gen_random_uuid(), %s, '{}') returning id",
                         (f"owner-{uuid.uuid4().hex[:8]}@example.com",))
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        org = self.one("insert into public.organizations (name, slug, timezone, currency, created_by)"
                       " values (%s, %s, 'Europe/London', 'GBP', %s) returning *", ("Bench Hall", slug, owner["id"]))
        self.sql("insert into public.memberships (org_id, user_id, role) values (%s, %s, 'owner')",
                 (org["id"], owner["id"]))
        return org

    def make_event(self, org: dict, title: str = "Benchmark Night") -> dict:
        starts = datetime.now(timezone.utc) + timedelta(days=30)
        ev = self.one("insert into public.events (org_id, title, slug, starts_at, ends_at)"
                      " values (%s, %s, %s, %s, %s) returning *",
                      (org["id"], title, f"bench-{uuid.uuid4().hex[:8]}", starts, starts + timedelta(hours=3)))
        self.sql("update public.events set status = 'published' where id = %s", (ev["id"],))
        return ev

    def make_tier(self, ev: dict, name: str, *, capacity: int = 100_000, price_minor: int = 2500) -> dict:
        return self.one(
            "insert into public.ticket_tiers (org_id, event_id, name, price_minor, currency, capacity)"
            " values (%s, %s, %s, %s, 'GBP', %s) returning *",
            (ev["org_id"], ev["id"], name, price_minor, capacity))

    def hot_tier(self, *, seats_before: int = 0, orders_before: int = 2000) -> tuple[dict, dict]:
        """(event, tier): one published event with one tier of 100000 seats, on a platform
        that has taken orders before: orders_before orders of an earlier event come first.
        An empty orders table is not a shop's, and misleads: a connection plans its foreign-key
        checks once, and a plan made on an empty table scans it whole for the connection's life.
        With seats_before, that earlier event's tiers hold that many seats, and come first in
        the seats table."""
        org = self.make_org()
        earlier = self.make_event(org, "Earlier Night")
        left, n = max(seats_before, orders_before), 0
        while left > 0:
            tier = self.make_tier(earlier, f"Earlier {n}", capacity=min(100_000, left))
            left -= 100_000
            n += 1
        if orders_before:
            self.sql("select private.place_ticket_order(%s, jsonb_build_array(jsonb_build_object('tier_id', %s::text,"
                     " 'quantity', 1)), 'earlier@example.com', 'Earlier Buyer') from generate_series(1, %s)",
                     (earlier["id"], tier["id"], orders_before))
        ev = self.make_event(org)
        return ev, self.make_tier(ev, "General")

    def tier_check(self, tier_id: Any, client_quantity: int | None = None) -> "TierCheck":
        """No oversell: seats taken == quantities of live orders (== what clients were told they got)."""
        row = self.one(TIER_CHECK + " where t.id = %s", (tier_id,))
        return TierCheck(row["capacity"], row["seats_taken"], row["orders"], int(row["ordered"]),
                         row["mismatched"], client_quantity)


def time_calls(pg: "Pg", calls: int, statement: str, params: tuple, caller: Any = None, warmup: int = 5) -> float:
    """Milliseconds per call (median of `calls`, after `warmup`), each in its own transaction on one
    connection, as `caller` (a shared.platform.db.Caller: the role and claims PostgREST would set) or the
    superuser."""
    from shared.platform.db import act_as

    samples = []
    with pg.connect() as conn:
        for _ in range(calls + warmup):
            t0 = time.perf_counter()
            with conn.transaction():
                cur = conn.cursor()
                if caller is not None:
                    act_as(cur, caller)
                cur.execute(statement, params)
                cur.fetchall()
            samples.append((time.perf_counter() - t0) * 1000)
    return sorted(samples[warmup:])[calls // 2]


# -- statement profiles (a diagnostic: `--statements` on the placer benchmarks) ---------------------
# pg_stat_statements with track=all also sees the statements inside PL/pgSQL functions and the
# foreign-key checks: where one call's time goes, statement by statement (wall time in the server).
STATEMENTS_OPTIONS = ("-c shared_preload_libraries=pg_stat_statements", "-c pg_stat_statements.track=all",
                      "-c track_functions=all")


def statements_reset(pg: "Pg") -> None:
    pg.sql("create extension if not exists pg_stat_statements")
    pg.sql("select pg_stat_statements_reset(), pg_stat_reset()")


def statements_top(pg: "Pg", limit: int = 14) -> list[str]:
    """The statements and functions since statements_reset(pg), by total time, one printable line each."""
    rows = pg.sql("""
        select calls, total_exec_time / calls as ms_per_call, toplevel,
          left(regexp_replace(query, '\\s+', ' ', 'g'), 100) as query
        from pg_stat_statements
        where dbid = (select oid from pg_database where datname = current_database())
        order by total_exec_time desc limit %s""", (limit,))
    functions = pg.sql("""
        select funcname, calls, total_time / nullif(calls, 0) as total_ms, self_time / nullif(calls, 0) as self_ms
        from pg_stat_user_functions where calls > 0 and schemaname in ('private', 'public')
        order by self_time desc limit %s""", (limit,))
    return ([f"  {r['calls']:>7} calls {r['ms_per_call']:7.3f} ms/call {'top ' if r['toplevel'] else '    '}"
             f" {r['query']}" for r in rows]
            + ["  functions by self time (pg_stat_user_functions; self = the function's own statements):"]
            + [f"  {r['calls']:>7} calls {r['self_ms']:7.3f} ms self {r['total_ms']:7.3f} ms total  {r['funcname']}"
               for r in functions])


class Bench:
    """One benchmark run's world: a server, a migrated template database, the
    main database `bookwell` (what the served functions use), optional
    stand-ins and functions, and fresh clones for phases that need a table of
    their own."""

    def __init__(self, *, fsync: bool = True, standins: bool = False, functions: bool = False,
                 time_limit: float = 300, pool_max_size: int | None = None, pg_options: tuple[str, ...] = (),
                 lift_rate_limits: bool = True):
        self.fsync = fsync
        self.lift_rate_limits = lift_rate_limits
        self.pg_options = pg_options
        self.want_standins = standins or functions
        self.want_functions = functions
        self.time_limit = time_limit
        self.pool_max_size = pool_max_size
        self.tmp: Path | None = None
        self.server: LocalServer | None = None
        self.standins: Served | None = None
        self.functions: Served | None = None
        self.started = time.monotonic()
        self._saved_env: dict[str, str | None] = {}

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> "Bench":
        install_watchdog(self.time_limit)
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _set_env(self, **values: str) -> None:
        for k, v in values.items():
            self._saved_env.setdefault(k, os.environ.get(k))
            os.environ[k] = v
        config.settings.cache_clear()

    def _start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bookwell-bench-"))
        self.server = LocalServer(self.tmp / "pgdata", free_port())
        say(f"starting PostgreSQL in {self.tmp} on port {self.server.port} (fsync={'on' if self.fsync else 'off'})")
        self.server.start(fsync=self.fsync, extra=self.pg_options)
        with psycopg.connect(self.server.url, autocommit=True) as conn:
            conn.execute(f"create database {TEMPLATE_DB}")
        say("migrating")
        migrate.migrate(self.server.url_for(TEMPLATE_DB))
        if self.lift_rate_limits:
            # Benchmarks measure capacity, not the limiter (tests/foundation/test_rate_limits.py tests that):
            # one client address makes every request here, far past any guest's rule.
            with psycopg.connect(self.server.url_for(TEMPLATE_DB), autocommit=True) as conn:
                conn.execute("update private.rate_limit_rules set requests = 1000000, per = interval '1 second'")
            say("rate limits lifted (private.rate_limit_rules: 1000000 requests a second for every bucket)")
        self.main = self.clone(APP_DB)
        env = {"DATABASE_URL": self.main.url, "BOOKWELL_HOME": str(self.tmp / "home")}
        if self.pool_max_size:
            env["DB_POOL_MAX_SIZE"] = str(self.pool_max_size)
        self._set_env(**env)
        if self.want_standins:
            self.standins = start_served("standins", {}, self.tmp)
            self._set_env(STRIPE_API_BASE=f"{self.standins.url}/stripe",
                          RESEND_API_BASE=f"{self.standins.url}/resend")
        if self.want_functions:
            # The functions keep the product's default pool size (DB_POOL_MAX_SIZE unset -> 10).
            fenv = {"DATABASE_URL": self.main.url, "STRIPE_API_BASE": f"{self.standins.url}/stripe",
                    "RESEND_API_BASE": f"{self.standins.url}/resend"}
            if os.environ.get("BENCH_PROFILE_FUNCTIONS"):  # diagnostic runs: cProfile every request
                fenv["BENCH_PROFILE_OUT"] = str(self.tmp / "functions.prof")
                fenv["BENCH_PROFILE_TIMER"] = os.environ["BENCH_PROFILE_FUNCTIONS"]
            self.functions = start_served("functions", fenv, self.tmp)
        say(f"ready after {time.monotonic() - self.started:.1f} s")

    def clone(self, name: str) -> Pg:
        """A fresh database copied from the migrated template."""
        with psycopg.connect(self.server.url, autocommit=True) as conn:
            conn.execute(f"create database {name} template {TEMPLATE_DB}")
        return Pg(self.server.url_for(name), name)

    def use(self, pg: Pg) -> None:
        """Point this process's shared.platform.db pool (DATABASE_URL) at `pg`."""
        shared_db.close_pools()
        self._set_env(DATABASE_URL=pg.url)

    def close(self) -> None:
        for served in (self.functions, self.standins):
            if served is not None:
                try:
                    served.stop()
                except Exception as exc:  # noqa: BLE001 - keep cleaning
                    say(f"could not stop {served.name}: {exc!r}")
        self.functions = self.standins = None
        try:
            shared_db.close_pools()
        except Exception:  # noqa: BLE001
            pass
        if self.server is not None:
            try:
                self.server.destroy()
            except Exception as exc:  # noqa: BLE001
                say(f"could not stop PostgreSQL: {exc!r}")
            self.server = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env.clear()
        config.settings.cache_clear()

    def describe(self) -> str:
        version = self.main.value("select current_setting('server_version')")
        return (f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
                f"PostgreSQL {version} (embedded, fsync={'on' if self.fsync else 'off'}, "
                f"shared_buffers=256MB) · loopback only")

    # -- pgbench -----------------------------------------------------------

    def pgbench_init(self, scale: int = 16) -> float:
        with psycopg.connect(self.server.url, autocommit=True) as conn:
            conn.execute(f"create database {PGBENCH_DB}")
        started = time.perf_counter()
        self._pgbench(["-i", "-s", str(scale), "-q"], PGBENCH_DB, timeout=300)
        with psycopg.connect(self.server.url, autocommit=True) as conn:
            conn.execute("checkpoint")
        return time.perf_counter() - started

    def _pgbench(self, args: list[str], database: str, timeout: float) -> subprocess.CompletedProcess:
        cmd = [_pgbench_binary(), "-h", "127.0.0.1", "-p", str(self.server.port), "-U", "postgres", *args, database]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"pgbench failed ({result.returncode}): {result.stderr[-2000:]}")
        return result

    def pgbench(self, args: list[str], *, database: str = PGBENCH_DB, script: str | None = None,
                seconds: int) -> PgbenchResult:
        """Run pgbench for `seconds` (-T) and parse its report."""
        extra: list[str] = []
        if script is not None:
            script_path = self.tmp / f"script-{uuid.uuid4().hex[:8]}.sql"
            script_path.write_text(script)
            extra = ["-n", "-f", str(script_path)]
        full = [*args, *extra, "-T", str(seconds)]
        result = self._pgbench(full, database, timeout=seconds + 120)
        out = result.stdout
        tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
        done = re.search(r"number of transactions actually processed: (\d+)", out)
        failed = re.search(r"number of failed transactions: (\d+)", out)
        latency = re.search(r"latency average = ([\d.]+) ms", out)
        if not tps or not done:
            raise RuntimeError(f"unexpected pgbench output:\n{out}\n{result.stderr}")
        shown = "pgbench " + " ".join(full) + (" <script>" if script else "")
        return PgbenchResult(shown, float(tps.group(1)), int(done.group(1)),
                             int(failed.group(1)) if failed else 0,
                             float(latency.group(1)) if latency else None, out)


def load_note(at_start: tuple[float, float, float]) -> str:
    """The 1-minute load average before the run began. (During the run it counts our own
    threads; other work is measured per phase instead, as a CPU share - see cpu_delta.)"""
    return (f"1-min load average {at_start[0]:.1f} before the run ({os.cpu_count()} cores); "
            f"\"other work\" below = CPU used by processes not ours during that phase")


@dataclass
class TierCheck:
    capacity: int
    seats_taken: int
    orders: int
    ordered: int
    mismatched: int
    client_quantity: int | None

    @property
    def ok(self) -> bool:
        return (self.seats_taken == self.ordered and self.seats_taken <= self.capacity and self.mismatched == 0
                and (self.client_quantity is None or self.client_quantity == self.ordered))

    def __str__(self) -> str:
        told = "" if self.client_quantity is None else f", clients were sold {self.client_quantity}"
        return (f"{'OK' if self.ok else 'OVERSOLD/INCONSISTENT'}: {self.seats_taken} seats taken of "
                f"{self.capacity}, {self.orders} live orders for {self.ordered} tickets{told}, "
                f"{self.mismatched} orders whose seat count differs from their quantity")


# ---------------------------------------------------------------------------
# CPU accounting: who burnt the machine's two cores during a phase
# ---------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from 3 (state) on


def _proc_cpu(pid: int, *, with_children: bool = False) -> float:
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime (children already reaped)
    return ticks / _TICK


def _postgres_cpu(datadir: Path) -> float:
    """The postmaster, every live child (backends, walwriter, checkpointer...) and the reaped ones."""
    try:
        postmaster = int((datadir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = _proc_cpu(postmaster, with_children=True)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == postmaster:
                total += _proc_cpu(int(entry.name))
    return total


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all processes, all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


MACHINE = "_machine"


def cpu_snapshot(bench: "Bench") -> dict[str, float]:
    me = os.times()
    snap = {
        MACHINE: _machine_busy(),
        "load generator": me.user + me.system + me.children_user + me.children_system,  # incl. pgbench
        "postgres": _postgres_cpu(bench.server.datadir) if bench.server else 0.0,
    }
    for served in (bench.functions, bench.standins):
        if served is not None:
            snap[served.name] = _proc_cpu(served.proc.pid)
    return snap


def others_share(before: dict[str, float], after: dict[str, float], wall: float) -> float:
    """Share of the machine's cores used by processes that are not ours during `wall` seconds."""
    ours = sum(after[k] - before.get(k, 0.0) for k in after if k != MACHINE)
    return max(0.0, after[MACHINE] - before[MACHINE] - ours) / (wall * (os.cpu_count() or 1))


def cpu_delta(before: dict[str, float], after: dict[str, float], wall: float, per: int, unit: str) -> str:
    """'postgres 1.23 s (0.41 ms/order), functions ...; machine busy 97% of 2 cores'."""
    parts = []
    total = 0.0
    for name in after:
        if name == MACHINE:
            continue
        used = after[name] - before.get(name, 0.0)
        if used < 0.05 and name in ("functions", "standins"):
            continue  # not involved in this phase
        total += used
        parts.append(f"{name} {used:.1f} s ({used / per * 1000:.2f} ms/{unit})" if per else f"{name} {used:.1f} s")
    cores = os.cpu_count() or 1
    text = "; ".join(parts) + f"; ours {total / (wall * cores) * 100:.0f}% of {cores} cores"
    if MACHINE in after and MACHINE in before:
        others = max(0.0, after[MACHINE] - before[MACHINE] - total)
        text += f", other work on the machine {others / (wall * cores) * 100:.0f}%"
    return text


# ---------------------------------------------------------------------------
# Load runners
# ---------------------------------------------------------------------------


@dataclass
class LoadResult:
    ops: int
    seconds: float
    errors: int
    latencies: list[float]
    first_errors: list[str]
    total_ops: int  # including warm-up and stragglers, for consistency checks
    cpu: tuple[dict[str, float], dict[str, float]] | None = None  # samples at window start and end
    done_at: list[float] = field(default_factory=list)  # completion times, seconds into the window

    def rate_between(self, a: float, b: float) -> float:
        return sum(1 for t in self.done_at if a <= t < b) / (b - a)

    def drift(self) -> str:
        """Throughput in the first and last quarter of the window: does it hold up?"""
        q = self.seconds / 4
        return (f"first {q:.0f} s {self.rate_between(0, q):.1f}/s, "
                f"last {q:.0f} s {self.rate_between(self.seconds - q, self.seconds):.1f}/s")

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def latency_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def summary(self) -> str:
        return (f"{self.ops} in {self.seconds:.1f} s, errors {self.errors}, latency p50 {self.latency_ms(0.5):.1f} ms,"
                f" p95 {self.latency_ms(0.95):.1f} ms")


Worker = tuple[Callable[[int], Any], Callable[[], None]]  # (op(n), close())


def run_load(clients: int, seconds: float, warmup: float, make_worker: Callable[[int], Worker],
             sample: Callable[[], dict[str, float]] | None = None) -> LoadResult:
    """Closed loop: `clients` threads call op(n) back to back. Operations that
    finish inside [start + warmup, start + warmup + seconds) are counted."""
    barrier = threading.Barrier(clients + 1, timeout=60)
    go = threading.Event()
    lock = threading.Lock()
    state = {"ops": 0, "errors": 0, "total": 0}
    latencies: list[float] = []
    done_at: list[float] = []
    first_errors: list[str] = []
    window: dict[str, float] = {}

    def run(lane: int) -> None:
        op, close = make_worker(lane)
        try:
            barrier.wait()
            go.wait(timeout=60)
            start, end = window["start"], window["end"]
            n = 0
            mine: list[float] = []
            when: list[float] = []
            ops = errors = total = 0
            while True:
                t0 = time.perf_counter()
                if t0 >= end:
                    break
                try:
                    op(n)
                    ok = True
                except Exception as exc:  # noqa: BLE001 - counted and shown
                    ok = False
                    with lock:
                        if len(first_errors) < 5:
                            first_errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")
                t1 = time.perf_counter()
                n += 1
                total += ok
                if start <= t1 < end:
                    if ok:
                        ops += 1
                        mine.append(t1 - t0)
                        when.append(t1 - start)
                    else:
                        errors += 1
            with lock:
                state["ops"] += ops
                state["errors"] += errors
                state["total"] += total
                latencies.extend(mine)
                done_at.extend(when)
        finally:
            close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()  # every client is connected and ready
    now = time.perf_counter()
    window["start"] = now + warmup
    window["end"] = now + warmup + seconds
    go.set()
    cpu = None
    if sample is not None:
        time.sleep(max(0.0, window["start"] - time.perf_counter()))
        first = sample()
        time.sleep(max(0.0, window["end"] - time.perf_counter()))
        cpu = (first, sample())
    for t in threads:
        t.join(timeout=warmup + seconds + 120)
        if t.is_alive():
            raise RuntimeError("a client thread did not finish")
    return LoadResult(state["ops"], seconds, state["errors"], latencies, first_errors, state["total"], cpu, done_at)


@dataclass
class BatchResult:
    done: int
    errors: int
    seconds: float
    latencies: list[float]
    first_errors: list[str]
    results: list[Any] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def latency_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run_batch(clients: int, items: list[Any], make_worker: Callable[[int], tuple[Callable[[Any], Any], Callable[[], None]]],
              timeout: float = 240, on_start: Callable[[], None] | None = None) -> BatchResult:
    """Fixed work: `clients` threads take items from a shared list until it is empty.
    Time runs from the moment all clients are ready to the last answer."""
    barrier = threading.Barrier(clients + 1, timeout=60)
    go = threading.Event()
    lock = threading.Lock()
    queue = list(reversed(items))
    results: list[Any] = []
    latencies: list[float] = []
    first_errors: list[str] = []
    counts = {"done": 0, "errors": 0}
    finished: list[float] = []

    def run(lane: int) -> None:
        op, close = make_worker(lane)
        try:
            barrier.wait()
            go.wait(timeout=60)
            while True:
                with lock:
                    if not queue:
                        break
                    item = queue.pop()
                t0 = time.perf_counter()
                try:
                    out = op(item)
                    ok = True
                except Exception as exc:  # noqa: BLE001
                    ok, out = False, None
                    with lock:
                        if len(first_errors) < 5:
                            first_errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")
                t1 = time.perf_counter()
                with lock:
                    if ok:
                        counts["done"] += 1
                        latencies.append(t1 - t0)
                        results.append(out)
                    else:
                        counts["errors"] += 1
            with lock:
                finished.append(time.perf_counter())
        finally:
            close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()  # every client is connected and waiting
    if on_start is not None:
        on_start()  # e.g. a CPU sample
    started = time.perf_counter()
    go.set()
    for t in threads:
        t.join(timeout=timeout)
        if t.is_alive():
            raise RuntimeError("a client thread did not finish in time")
    seconds = (max(finished) if finished else time.perf_counter()) - started
    return BatchResult(counts["done"], counts["errors"], seconds, latencies, first_errors, results)


def checkout_body(event_id: Any, tier_id: Any, quantity: int) -> dict:
    """What a frontend sends to create-checkout-session (as tests/support/http.py builds it)."""
    return {
        "event_id": str(event_id),
        "items": [{"tier_id": str(tier_id), "quantity": quantity}],
        "buyer_email": "guest@example.com",
        "buyer_name": "Gemma Guest",
        "success_url": f"{ORIGIN}/thanks?session={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{ORIGIN}/cancelled",
    }


def anon_key() -> str:
    from shared.platform import auth

    return auth.api_keys(config.settings())["anon"]


def verdict(ratio: float, goal: float) -> str:
    return "goal met" if ratio >= goal else "goal MISSED"


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


# ---------------------------------------------------------------------------
# Processes and percentiles (load.py and the scripts that start their own servers)
# ---------------------------------------------------------------------------


def start_command(name: str, argv: list[str], port: int, env: dict[str, str], workdir: Path,
                  timeout: float = 60) -> Served:
    """Start any command that will listen on 127.0.0.1:`port`, in its own session
    (Served.stop ends it and every process it started, e.g. gunicorn's workers), output in
    workdir/<name>.log."""
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    served = Served(name, port, proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return served
        except OSError:
            time.sleep(0.1)
    served.stop()
    raise RuntimeError(f"{name} did not listen on port {port}")


def group_cpu(leader: int) -> float:
    """CPU seconds of a process group started by start_command/start_served: the leader (with its
    reaped children) and every live process of its group (e.g. gunicorn's arbiter and workers)."""
    total = _proc_cpu(leader, with_children=True)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != leader:
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[2]) == leader:  # field 5: process group id
                total += _proc_cpu(int(entry.name))
    return total


def percentile_ms(values: list[float], q: float) -> float:
    """Nearest-rank percentile of seconds, in milliseconds (nan when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description="subprocess entry point for Bench")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve")
    p.add_argument("kind", choices=["functions", "standins"])
    p.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(args.kind, args.port)


if __name__ == "__main__":
    main()
