"""Load test (issue #16 item 2): the ticketing mix, then the appointments mix, all at once.

    .venv/bin/python benchmarks/load.py [--seconds 25] [--readers 1000] [--checkouts 100] [--creators 50]
    .venv/bin/python benchmarks/load.py --short        # a few seconds a phase (the test runs this)

One run, loopback only, everything in a temporary directory removed at exit, bounded by a
watchdog (--time-limit). What runs:

  0. An embedded PostgreSQL 18, migrated (benchmarks/common.Bench). THE RATE LIMITS ARE LIFTED in
     this database (private.rate_limit_rules: requests = 1000000 per 1 second for every bucket): a
     load test measures capacity, not the limiter. Seeded (superuser SQL): 20 published events in 5
     orgs, each with 3 tiers (Standard 2000 seats, Premium 500, HOT "Front row" 25 seats, fewer than
     the demand, so sell-out races happen on 20 tiers); an appointments org with 3 services and 8
     staff working every day 08:00-20:00 covering SW1A; event and service managers (memberships
     with role manager).
  1. Every function served as `bookwell serve --workers 2` serves them when that option exists
     (`python -m shared.devstack.workers`: gunicorn, 2 processes x 4 threads, product pool of 10
     connections per process), else as the one-process `bookwell serve` (werkzeug, threaded); the
     script says which. The Stripe and Resend stand-ins run in a process of their own (in
     production they are somebody else's machines); the Stripe stand-in delivers its webhooks to
     /functions/v1/stripe-webhook as `bookwell serve` wires it. TRUSTED_PROXY_HOPS=1 and every
     simulated browser sends its own X-Forwarded-For, as buyers behind a load balancer arrive from
     many addresses (--one-ip: all from 127.0.0.1, one rate-limit row for everyone).
  2. Two load-generator processes, started together for a fixed window:
       "PostgREST": ONE pool of 10 connections (PostgREST's default db-pool) shared by
         - --readers anonymous readers: each request is the transaction PostgREST runs: begin
           (read only for GET), set_config of search_path, role anon, request.jwt.claims, method,
           path, headers and the role's statement_timeout, the query PostgREST generates, commit.
           Tickets: the events list with embedded tiers (GET /events?select=...,ticket_tiers(...)),
           or POST /rpc/event_by_slug. Appointments: GET /rpc/available_slots (a week of one
           service) or /rpc/services_for_postcode. Pool waits over 10 s fail, as PostgREST's
           db-pool-acquisition-timeout does (504).
         - --creators managers creating, through their JWT claims and RLS: an event (draft) and
           then its 3 tiers, two PostgREST requests (POST /events, POST /ticket_tiers); or a
           service (a draft: inactive) and then its staff link (POST /services, POST /staff_services).
       "browsers": --checkouts concurrent buyers POSTing /functions/v1/create-checkout-session with
         the anon key (tickets: half of them at the event's HOT tier; appointments:
         `kind: "appointments"`, half of them at 3 hot slots, half of those naming one staff
         member); every other successful checkout is paid on the Stripe stand-in's page (POST
         /stripe/checkout/<id>/pay), which delivers checkout.session.completed to the webhook
         before it answers.
     Each kind is first measured idle: alone, one client, for --idle-seconds.
  3. Per kind: operations in the window, errors (any answer that is not 2xx or an expected
     business refusal: 409 sold_out, 409 slot_taken / slot_unavailable), p50/p99 latency under
     load and idle, and the goal p99 <= 3x idle p99 (PASS/FAIL as measured).
  4. Invariants after each phase: no tier oversold (seats taken <= capacity; seats taken ==
     quantities of live orders == what buyers were sold; each order holds exactly its quantity),
     paid orders have their tickets; no staff member's live appointments overlap (and the
     exclusion constraint is there), live appointments == what buyers were sold. Exit status 1 if
     one is broken; the last line printed is a JSON summary.

The clients are closed loops (each sends its next request when the last is answered; --think adds
a pause of 0.5-1.5x that many seconds, and spreads the clients' arrival over the first one): with N
clients in flight, the mean latency is N / throughput (Little's law), so the p99 goal is a statement
about capacity, and the report prints the throughput next to it, the readers' wait for a pooled
connection apart from their time in the database, and each function's own time (its log line's
`ms`) apart from the buyer's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Bench, say  # noqa: E402

LONDON = ZoneInfo("Europe/London")
POSTCODE = "SW1A 1AA"
GOAL_P99 = 3.0
HOT_CAPACITY = 25
PAY_SHARE = 0.5  # every other successful checkout is paid
PG_POOL = 10  # PostgREST's default db-pool
POOL_TIMEOUT = 10.0  # PostgREST's default db-pool-acquisition-timeout (s)
EXPECTED = {  # business refusals a buyer may get under contention: not errors
    "checkout": {"409 sold_out", "409 slot_taken", "409 slot_unavailable"},
}
KIND_LABEL = {
    ("tickets", "read"): "anon read (events+tiers, event_by_slug)",
    ("tickets", "create"): "manager creates event + 3 tiers",
    ("tickets", "checkout"): "create-checkout-session (tickets)",
    ("tickets", "pay"): "pay on Stripe page (+ webhook)",
    ("appointments", "read"): "anon read (available_slots, services_for_postcode)",
    ("appointments", "create"): "manager creates service + staff link",
    ("appointments", "checkout"): "create-checkout-session (appointments)",
    ("appointments", "pay"): "pay on Stripe page (+ webhook)",
}
KINDS = ("read", "create", "checkout", "pay")


# ---------------------------------------------------------------------------
# PostgREST, emulated: the transaction it runs per request
# ---------------------------------------------------------------------------

PGRST_CONTEXT = (
    "select set_config('search_path', '\"public\", \"extensions\"', true), set_config('role', %s, true),"
    " set_config('request.jwt.claims', %s, true), set_config('request.method', %s, true),"
    " set_config('request.path', %s, true), set_config('request.headers', %s, true),"
    " set_config('request.cookies', '{}', true), set_config('statement_timeout', %s, true)")

RESPONSE_TAIL = ("nullif(current_setting('response.headers', true), '') as response_headers,"
                 " nullif(current_setting('response.status', true), '') as response_status")

# GET /events?select=id,title,slug,starts_at,ends_at,ticket_tiers(id,name,price_minor,currency,capacity,
#     max_per_order)&order=starts_at.asc&limit=20
EVENTS_WITH_TIERS = f"""
with pgrst_source as (
  select "public"."events"."id", "public"."events"."title", "public"."events"."slug",
         "public"."events"."starts_at", "public"."events"."ends_at",
         coalesce("events_ticket_tiers_1"."events_ticket_tiers_1", '[]') as "ticket_tiers"
  from "public"."events"
  left join lateral (
    select json_agg("events_ticket_tiers_1")::jsonb as "events_ticket_tiers_1"
    from (select "ticket_tiers_1"."id", "ticket_tiers_1"."name", "ticket_tiers_1"."price_minor",
                 "ticket_tiers_1"."currency", "ticket_tiers_1"."capacity", "ticket_tiers_1"."max_per_order"
          from "public"."ticket_tiers" as "ticket_tiers_1"
          where "ticket_tiers_1"."event_id" = "public"."events"."id") as "events_ticket_tiers_1"
  ) as "events_ticket_tiers_1" on true
  order by "public"."events"."starts_at" asc
  limit %s offset %s
)
select null::bigint as total_result_set, pg_catalog.count(_postgrest_t) as page_total,
       coalesce(json_agg(_postgrest_t), '[]') as body, {RESPONSE_TAIL}
from (select * from pgrst_source) _postgrest_t"""


def rpc_sql(function: str, args: list[tuple[str, str]]) -> str:
    """POST|GET /rpc/<function> returning a scalar, as PostgREST builds it."""
    named = ", ".join(f'"{name}" := %s::{pg_type}' for name, pg_type in args)
    return (f'with pgrst_source as (select "public"."{function}"({named}) pgrst_scalar)'
            " select null::bigint as total_result_set, pg_catalog.count(_postgrest_t) as page_total,"
            " coalesce((json_agg(_postgrest_t.pgrst_scalar)->0)::text, 'null') as body,"
            f" {RESPONSE_TAIL} from (select \"pgrst_scalar\" from pgrst_source) _postgrest_t")


EVENT_BY_SLUG = rpc_sql("event_by_slug", [("org_slug", "text"), ("event_slug", "text")])
AVAILABLE_SLOTS = rpc_sql("available_slots", [("service_id", "uuid"), ("postcode", "text"),
                                               ("date_from", "date"), ("date_to", "date")])
SERVICES_FOR_POSTCODE = rpc_sql("services_for_postcode", [("org_slug", "text"), ("postcode", "text")])


def insert_sql(table: str, columns: list[tuple[str, str]]) -> str:
    """POST /<table> with Prefer: return=representation, as PostgREST builds it (json body, one or many rows)."""
    names = ", ".join(f'"{c}"' for c, _ in columns)
    picked = ", ".join(f'"pgrst_body"."{c}"' for c, _ in columns)
    typed = ", ".join(f'"{c}" {t}' for c, t in columns)
    return f"""
with pgrst_source as (
  insert into "public"."{table}"({names})
  select {picked}
  from (select %s::json as json_data) pgrst_payload,
  lateral (select case when json_typeof(pgrst_payload.json_data) = 'array' then pgrst_payload.json_data
                       else json_build_array(pgrst_payload.json_data) end as val) pgrst_uniform_json,
  lateral (select * from json_to_recordset(pgrst_uniform_json.val) as _({typed})) pgrst_body
  returning "public"."{table}".*
)
select '' as total_result_set, pg_catalog.count(_postgrest_t) as page_total,
       coalesce(json_agg(_postgrest_t), '[]') as body, {RESPONSE_TAIL}
from (select * from pgrst_source) _postgrest_t"""


INSERT_EVENT = insert_sql("events", [("org_id", "uuid"), ("title", "text"), ("slug", "text"),
                                     ("starts_at", "timestamptz"), ("ends_at", "timestamptz")])
INSERT_TIERS = insert_sql("ticket_tiers", [("org_id", "uuid"), ("event_id", "uuid"), ("name", "text"),
                                           ("price_minor", "bigint"), ("currency", "text"), ("capacity", "integer")])
INSERT_SERVICE = insert_sql("services", [("org_id", "uuid"), ("name", "text"), ("duration_minutes", "integer"),
                                         ("price_minor", "bigint"), ("active", "boolean")])
INSERT_STAFF_SERVICE = insert_sql("staff_services", [("staff_id", "uuid"), ("service_id", "uuid"), ("org_id", "uuid")])


# ---------------------------------------------------------------------------
# Client side: statistics of one kind of operation
# ---------------------------------------------------------------------------


class KindStats:
    def __init__(self, kind: str):
        self.kind = kind
        self.latencies: list[float] = []  # successes that finished inside the window
        self.refused_latencies: list[float] = []
        self.waits: list[float] = []  # PostgREST pool waits (reads), inside the window
        self.by_query: dict[str, list[float]] = {}  # reads: successes inside the window, per query
        self.outcomes: Counter = Counter()  # every operation, warm-up and drain included
        self.window_ops = 0  # successes inside the window
        self.samples: dict[str, str] = {}

    def record(self, outcome: str, t0: float, t1: float, window: tuple[float, float], *, wait: float | None = None,
               message: str = "", query: str | None = None) -> None:
        self.outcomes[outcome] += 1
        if outcome != "ok" and outcome not in EXPECTED.get(self.kind, ()) and outcome not in self.samples:
            self.samples[outcome] = message[:400]
        if not (window[0] <= t1 < window[1]):
            return
        if outcome == "ok":
            self.window_ops += 1
            self.latencies.append(t1 - t0)
            if wait is not None:
                self.waits.append(wait)
            if query is not None:
                self.by_query.setdefault(query, []).append(t1 - t0)
        elif outcome in EXPECTED.get(self.kind, ()):
            self.refused_latencies.append(t1 - t0)

    def to_json(self) -> dict:
        return {"kind": self.kind, "latencies": self.latencies, "refused_latencies": self.refused_latencies,
                "waits": self.waits, "by_query": self.by_query, "outcomes": dict(self.outcomes),
                "window_ops": self.window_ops,
                "samples": self.samples}


def is_error(kind: str, outcome: str) -> bool:
    return outcome != "ok" and outcome not in EXPECTED.get(kind, ())


def fake_ip(lane: int, offset: int) -> str:
    n = lane + offset
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255 or 1}"


# ---------------------------------------------------------------------------
# Client side: the "PostgREST" process (readers and creators, one pool)
# ---------------------------------------------------------------------------


def pg_label(exc: BaseException) -> str:
    import psycopg
    import psycopg_pool

    if isinstance(exc, psycopg_pool.PoolTimeout):
        return "504 pool acquisition timeout"
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate or "?"
        detail = exc.diag.message_detail if state.startswith("PT") else None
        return f"sqlstate {state}" + (f" {detail}" if detail else "")
    return f"exception {type(exc).__name__}"


async def pgrst_request(pool, caller: dict, method: str, path: str, ip: str, statement: str, params: tuple,
                        *, read_only: bool, timeouts: dict) -> tuple[list, float]:
    """One PostgREST request: its transaction on a pooled connection. Returns (rows, pool wait)."""
    t0 = time.perf_counter()
    async with pool.connection() as conn:
        wait = time.perf_counter() - t0
        try:
            await conn.execute("begin isolation level read committed read only" if read_only else "begin")
            await conn.execute(PGRST_CONTEXT, (caller["role"], json.dumps(caller["claims"]), method, path,
                                               json.dumps({"x-forwarded-for": ip}), timeouts[caller["role"]]))
            cur = await conn.execute(statement, params)
            rows = await cur.fetchall()
            await conn.execute("commit")
        except BaseException:
            if not conn.closed:
                await conn.execute("rollback")
            raise
    return rows, wait


def step_timing(spec: dict, step: dict) -> tuple[tuple[float, float], float]:
    """A step's measured window (start, end: after its warm-up, or at the start it was given) and its
    clients' think time (idle steps: none)."""
    start_at = step.get("start_at") or time.time() + step["warmup"]
    return (start_at, start_at + step["seconds"]), step.get("think", spec.get("think", 0.0))


async def run_pgrst(spec: dict) -> dict:
    import psycopg_pool

    world, phase = spec["world"], spec["phase"]
    timeouts = spec["timeouts"]
    anon = {"role": "anon", "claims": {"role": "anon"}}
    results: list[dict] = []
    async with psycopg_pool.AsyncConnectionPool(spec["db_url"], min_size=PG_POOL, max_size=PG_POOL,
                                                timeout=POOL_TIMEOUT, kwargs={"autocommit": True},
                                                open=False) as pool:
        await pool.open(wait=True, timeout=30)
        for step in spec["steps"]:
            stats = {k: KindStats(k) for k in ("read", "create")}
            window, think = step_timing(spec, step)
            start_at, end_at = window

            async def reader(lane: int) -> None:
                rng = random.Random(f"{spec['seed']}-r{lane}")
                ip = fake_ip(lane, 1 << 16)
                if think:  # users arrive over one think time, not all in the same millisecond
                    await asyncio.sleep(rng.uniform(0, think))
                while time.time() < end_at:
                    t0 = time.time()
                    if phase == "tickets":
                        if rng.random() < 0.5:
                            query, request = "GET /events?select=...,ticket_tiers(...)", (
                                "GET", "/events", EVENTS_WITH_TIERS, (20, 0), True)
                        else:
                            ev = rng.choice(world["events"])
                            query, request = "POST /rpc/event_by_slug", (
                                "POST", "/rpc/event_by_slug", EVENT_BY_SLUG, (ev["org_slug"], ev["slug"]), False)
                    elif rng.random() < 0.7:
                        day = date.fromisoformat(world["first_day"]) + timedelta(days=rng.randrange(21))
                        query, request = "GET /rpc/available_slots (7 days)", (
                            "GET", "/rpc/available_slots", AVAILABLE_SLOTS,
                            (rng.choice(world["services"])["id"], POSTCODE, day, day + timedelta(days=6)), True)
                    else:
                        query, request = "GET /rpc/services_for_postcode", (
                            "GET", "/rpc/services_for_postcode", SERVICES_FOR_POSTCODE,
                            (world["org_slug"], POSTCODE), True)
                    method, path, statement, params, read_only = request
                    try:
                        _, wait = await pgrst_request(pool, anon, method, path, ip, statement, params,
                                                      read_only=read_only, timeouts=timeouts)
                        stats["read"].record("ok", t0, time.time(), window, wait=wait, query=query)
                    except Exception as exc:  # noqa: BLE001 - counted and shown
                        stats["read"].record(pg_label(exc), t0, time.time(), window, message=repr(exc))
                    if think:
                        await asyncio.sleep(think * rng.uniform(0.5, 1.5))

            async def creator(lane: int) -> None:
                rng = random.Random(f"{spec['seed']}-c{lane}")
                manager = world["managers"][lane % len(world["managers"])]
                caller = {"role": "authenticated",
                          "claims": {"sub": manager["user_id"], "role": "authenticated", "email": manager["email"],
                                     "aud": "authenticated"}}
                ip = fake_ip(lane, 2 << 16)
                n = 0
                if think:
                    await asyncio.sleep(rng.uniform(0, think))
                while time.time() < end_at:
                    t0 = time.time()
                    n += 1
                    try:
                        if phase == "tickets":
                            starts = datetime.now(LONDON).replace(microsecond=0) + timedelta(days=40 + rng.randrange(200))
                            rows, _ = await pgrst_request(pool, caller, "POST", "/events", ip, INSERT_EVENT, (json.dumps({
                                "org_id": manager["org_id"], "title": f"New night {lane}-{n}",
                                "slug": f"new-{uuid.uuid4().hex[:12]}", "starts_at": starts.isoformat(),
                                "ends_at": (starts + timedelta(hours=3)).isoformat()}),),
                                read_only=False, timeouts=timeouts)
                            event = rows[0][2][0]
                            await pgrst_request(pool, caller, "POST", "/ticket_tiers", ip, INSERT_TIERS, (json.dumps([
                                {"org_id": manager["org_id"], "event_id": event["id"], "name": name,
                                 "price_minor": price, "currency": "GBP", "capacity": capacity}
                                for name, price, capacity in (("Standard", 2500, 200), ("Premium", 6000, 50),
                                                              ("Front row", 9000, 10))]),),
                                read_only=False, timeouts=timeouts)
                        else:
                            rows, _ = await pgrst_request(pool, caller, "POST", "/services", ip, INSERT_SERVICE, (json.dumps({
                                "org_id": manager["org_id"], "name": f"New service {lane}-{n}-{uuid.uuid4().hex[:6]}",
                                "duration_minutes": rng.choice((30, 60, 90)), "price_minor": 4000 + 500 * rng.randrange(8),
                                "active": False}),), read_only=False, timeouts=timeouts)
                            service = rows[0][2][0]
                            await pgrst_request(pool, caller, "POST", "/staff_services", ip, INSERT_STAFF_SERVICE,
                                                (json.dumps({"staff_id": rng.choice(world["staff"]),
                                                             "service_id": service["id"],
                                                             "org_id": manager["org_id"]}),),
                                                read_only=False, timeouts=timeouts)
                        stats["create"].record("ok", t0, time.time(), window)
                    except Exception as exc:  # noqa: BLE001
                        stats["create"].record(pg_label(exc), t0, time.time(), window, message=repr(exc))
                    if think:
                        await asyncio.sleep(think * rng.uniform(0.5, 1.5))

            tasks = [reader(i) for i in range(step["kinds"].get("read", 0))]
            tasks += [creator(i) for i in range(step["kinds"].get("create", 0))]
            await asyncio.gather(*tasks)
            results.append({"kinds": {k: s.to_json() for k, s in stats.items()},
                            "window": [start_at, end_at]})
    return {"steps": results}


# ---------------------------------------------------------------------------
# Client side: the "browsers" process (checkouts and payments over HTTP)
# ---------------------------------------------------------------------------


def http_label(status: int, text: str) -> str:
    try:
        code = json.loads(text)["error"]["code"]
    except Exception:  # noqa: BLE001 - not our error shape
        code = "?"
    return f"{status} {code}"


async def run_browsers(spec: dict) -> dict:
    import httpx

    world, phase = spec["world"], spec["phase"]
    fn_url = f"{spec['functions_url']}/functions/v1/create-checkout-session"
    results: list[dict] = []
    sold: Counter = Counter()  # tickets: tier id -> quantity; appointments: "appointments" -> count
    paid_orders: list[str] = []
    # A connection idle for 2 s is not reused: gunicorn closes idle keep-alive connections after 5 s, and
    # a request sent on one as it closes fails (ReadError) where a browser would retry it.
    limits = httpx.Limits(max_connections=max(s["kinds"].get("checkout", 0) for s in spec["steps"]) + 10,
                          max_keepalive_connections=None, keepalive_expiry=2.0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for step in spec["steps"]:
            stats = {k: KindStats(k) for k in ("checkout", "pay")}
            window, think = step_timing(spec, step)
            start_at, end_at = window
            hot_share = step.get("hot_share", 0.5)

            def ticket_body(rng: random.Random) -> tuple[dict, str, int]:
                ev = rng.choice(world["events"])
                if rng.random() < hot_share:
                    tier, quantity = ev["hot_tier"], rng.randint(1, 2)
                else:
                    tier, quantity = rng.choice(ev["tiers"]), rng.randint(1, 3)
                return ({"event_id": ev["id"], "items": [{"tier_id": tier, "quantity": quantity}],
                         "buyer_email": f"buyer{rng.randrange(10**6)}@example.com", "buyer_name": "Load Buyer",
                         "success_url": f"{common.ORIGIN}/thanks?session={{CHECKOUT_SESSION_ID}}",
                         "cancel_url": f"{common.ORIGIN}/cancelled"}, tier, quantity)

            def appointment_body(rng: random.Random) -> dict:
                if rng.random() < hot_share:
                    service, start = rng.choice(world["hot_slots"])
                    item = {"service_id": service, "start": start}
                    if rng.random() < 0.5:
                        item["staff_id"] = world["staff"][0]
                else:
                    service = rng.choice(world["services"])
                    day = date.fromisoformat(world["first_day"]) + timedelta(days=1 + rng.randrange(28))
                    last = (12 * 60 - service["minutes"]) // 30
                    minutes = 8 * 60 + 30 * rng.randint(0, last)
                    start = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=LONDON)
                    item = {"service_id": service["id"], "start": start.isoformat()}
                return {"kind": "appointments", "org_id": world["org_id"], "items": [item], "postcode": POSTCODE,
                        "buyer_email": f"buyer{rng.randrange(10**6)}@example.com", "buyer_name": "Load Buyer",
                        "address": "1 Example Street, London",
                        "success_url": f"{common.ORIGIN}/thanks?session={{CHECKOUT_SESSION_ID}}",
                        "cancel_url": f"{common.ORIGIN}/cancelled"}

            async def buyer(lane: int) -> None:
                rng = random.Random(f"{spec['seed']}-b{lane}-{step.get('name')}")
                headers = {"authorization": f"Bearer {spec['anon_key']}"}
                if not spec.get("one_ip"):
                    headers["x-forwarded-for"] = fake_ip(lane, 3 << 16)
                if think:
                    await asyncio.sleep(rng.uniform(0, think))
                while time.time() < end_at:
                    if phase == "tickets":
                        body, tier, quantity = ticket_body(rng)
                    else:
                        body, tier, quantity = appointment_body(rng), None, 1
                    t0 = time.time()
                    answer = None
                    try:
                        r = await client.post(fn_url, json=body, headers=headers | {"idempotency-key": f"load-{uuid.uuid4()}"})
                        if r.status_code == 200:
                            answer = r.json()
                            outcome = "ok" if answer.get("checkout_session_id") else "200 without a checkout session"
                        else:
                            outcome = http_label(r.status_code, r.text)
                        message = r.text
                    except Exception as exc:  # noqa: BLE001
                        outcome, message = f"exception {type(exc).__name__}", repr(exc)
                    stats["checkout"].record(outcome, t0, time.time(), window, message=message)
                    if outcome == "ok":
                        if phase == "tickets":
                            sold[tier] += quantity
                        else:
                            sold["appointments"] += len(answer.get("appointments") or ())
                        if rng.random() < PAY_SHARE:
                            t0 = time.time()
                            try:
                                r = await client.post(
                                    f"{spec['standins_url']}/stripe/checkout/{answer['checkout_session_id']}/pay",
                                    follow_redirects=False)
                                outcome = "ok" if r.status_code in (302, 303) else f"{r.status_code} stripe page"
                                message = r.text
                            except Exception as exc:  # noqa: BLE001
                                outcome, message = f"exception {type(exc).__name__}", repr(exc)
                            stats["pay"].record(outcome, t0, time.time(), window, message=message)
                            if outcome == "ok":
                                paid_orders.append(answer["order_id"])
                    if think:
                        await asyncio.sleep(think * rng.uniform(0.5, 1.5))

            await asyncio.gather(*(buyer(i) for i in range(step["kinds"].get("checkout", 0))))
            results.append({"kinds": {k: s.to_json() for k, s in stats.items()}, "window": [start_at, end_at]})
    return {"steps": results, "sold": dict(sold), "paid_orders": paid_orders}


def client_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="load.py client")
    parser.add_argument("role", choices=["pgrst", "browsers"])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    spec = json.loads(Path(args.spec).read_text())
    runner = run_pgrst if args.role == "pgrst" else run_browsers
    result = asyncio.run(runner(spec))
    Path(args.out).write_text(json.dumps(result, default=str))
    return 0


# ---------------------------------------------------------------------------
# The stand-ins, with the Stripe stand-in delivering webhooks to the functions
# ---------------------------------------------------------------------------


def serve_standins(argv: list[str]) -> None:
    import signal
    import threading

    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    from shared.devstack.standins import ResendStandin, StripeStandin
    from shared.platform import config

    parser = argparse.ArgumentParser(prog="load.py serve-standins")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--webhook-url", required=True)
    args = parser.parse_args(argv)
    cfg = config.settings()
    # As `bookwell serve` wires it (shared/devstack/devserver.Standins): events go to the webhook
    # before the paying request is answered.
    stripe = StripeStandin(args.webhook_url, cfg.stripe.webhook_secret, api_key=cfg.stripe.secret_key,
                           delivery_timeout=60)
    resend = ResendStandin(api_key=cfg.mail.resend_api_key)

    @Request.application
    def bench(request: Request) -> Response:
        if request.path == "/deliveries":  # webhook deliveries by event type and answer
            counts: Counter = Counter()
            samples: dict[str, str] = {}
            with stripe._lock:
                sent = list(stripe._events_sent)
            for d in sent:
                key = f"{d.event['type']} {d.status if d.status is not None else d.error}"
                counts[key] += 1
                if d.status != 200 and key not in samples:
                    samples[key] = (d.body or b"").decode(errors="replace")[:400]
            with resend._lock:
                emails = len(resend._emails)
            return Response(json.dumps({"deliveries": counts, "samples": samples, "emails": emails}),
                            content_type="application/json")
        return Response("not found", status=404)

    app = DispatcherMiddleware(Response("not found", status=404),
                               {"/stripe": stripe.wsgi, "/resend": resend.wsgi, "/bench": bench})
    server = make_server("127.0.0.1", args.port, app, threaded=True)

    def shutdown(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    server.serve_forever()


# ---------------------------------------------------------------------------
# The world: seeded with superuser SQL
# ---------------------------------------------------------------------------


class OneConnection(common.Pg):
    """common.Pg whose statements share one connection (seeding opens hundreds otherwise)."""

    def __init__(self, pg: common.Pg):
        super().__init__(pg.url, pg.name)
        self._conn = pg.connect()

    def sql(self, query: str, params=None) -> list[dict]:
        cur = self._conn.execute(query, params)
        return cur.fetchall() if cur.description else []

    def close(self) -> None:
        self._conn.close()


def lift_rate_limits(pg: common.Pg) -> list[dict]:
    before = pg.sql("select bucket, requests, per::text from private.rate_limit_rules order by bucket")
    pg.sql("update private.rate_limit_rules set requests = 1000000, per = interval '1 second'")
    return before


def add_manager(pg: common.Pg, org_id, n: int) -> dict:
    email = f"manager-{n}-{uuid.uuid4().hex[:6]}@example.com"
    user_id = pg.value("insert into auth.users (id, email, raw_user_meta_data) values (gen_random_uuid(), %s, '{}')"
                       " returning id", (email,))
    pg.sql("insert into public.memberships (org_id, user_id, role) values (%s, %s, 'manager')", (org_id, user_id))
    return {"user_id": str(user_id), "email": email, "org_id": str(org_id)}


def seed_tickets(pg: common.Pg, *, events: int, orgs: int, managers: int) -> dict:
    made_orgs = [pg.make_org() for _ in range(orgs)]
    out = []
    for i in range(events):
        org = made_orgs[i % orgs]
        ev = pg.make_event(org, f"Load Night {i + 1}")
        standard = pg.make_tier(ev, "Standard", capacity=2000, price_minor=2500)
        premium = pg.make_tier(ev, "Premium", capacity=500, price_minor=6000)
        hot = pg.make_tier(ev, "Front row", capacity=HOT_CAPACITY, price_minor=9000)
        out.append({"id": str(ev["id"]), "slug": ev["slug"], "org_slug": org["slug"],
                    "tiers": [str(standard["id"]), str(premium["id"])], "hot_tier": str(hot["id"])})
    mgrs = [add_manager(pg, made_orgs[n % orgs]["id"], n) for n in range(managers)]
    return {"events": out, "managers": mgrs, "org_ids": [str(o["id"]) for o in made_orgs]}


def seed_appointments(pg: common.Pg, *, staff: int, managers: int) -> dict:
    org = pg.make_org()
    pg.sql("insert into public.appointment_settings (org_id, slot_interval_minutes, min_notice_minutes,"
           " max_days_ahead, hold_minutes) values (%s, 30, 0, 90, 15)", (org["id"],))
    services = []
    for name, minutes, price, after in (("Regular clean", 60, 4800, 0), ("Deep clean", 120, 9000, 30),
                                        ("Oven clean", 90, 6500, 0)):
        services.append({"id": str(pg.value(
            "insert into public.services (org_id, name, duration_minutes, price_minor, buffer_after_minutes)"
            " values (%s, %s, %s, %s, %s) returning id", (org["id"], name, minutes, price, after))),
            "minutes": minutes + after})
    team = [str(r["id"]) for r in pg.sql(
        "insert into public.staff (org_id, display_name) select %s, 'Staff ' || n from generate_series(1, %s) n"
        " returning id", (org["id"], staff))]
    params = {"org": org["id"], "team": team, "services": [s["id"] for s in services]}
    pg.sql("insert into public.staff_services (staff_id, service_id, org_id)"
           " select t, s, %(org)s from unnest(%(team)s::uuid[]) t, unnest(%(services)s::uuid[]) s", params)
    pg.sql("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
           " select %(org)s, t, d, '08:00', '20:00' from unnest(%(team)s::uuid[]) t, generate_series(0, 6) d", params)
    pg.sql("insert into public.staff_service_areas (org_id, staff_id, outcode, radius_km)"
           " select %(org)s, t, 'SW1A', 10 from unnest(%(team)s::uuid[]) t", params)
    first_day = pg.value("select (now() at time zone 'Europe/London')::date + 2")
    hot = [(services[0]["id"], datetime(first_day.year, first_day.month, first_day.day, h, tzinfo=LONDON).isoformat())
           for h in (10, 14, 16)]
    mgrs = [add_manager(pg, org["id"], n) for n in range(managers)]
    return {"org_id": str(org["id"]), "org_slug": org["slug"], "services": services, "staff": team,
            "first_day": first_day.isoformat(), "hot_slots": hot, "managers": mgrs}


# ---------------------------------------------------------------------------
# Invariants
# ---------------------------------------------------------------------------


def ticket_invariants(pg: common.Pg, world: dict, sold: Counter, paid_orders: list[str]) -> dict:
    rows = pg.sql(common.TIER_CHECK + " where t.org_id = any(%s::uuid[])", (world["org_ids"],))
    oversold = [r for r in rows if r["seats_taken"] > r["capacity"]]
    inconsistent = [r for r in rows if r["seats_taken"] != int(r["ordered"]) or r["mismatched"]]
    told = [r for r in rows if r["id"] in sold or r["seats_taken"]]
    client_mismatch = [r for r in told if int(r["ordered"]) != sold.get(r["id"], 0)]
    hot_ids = {e["hot_tier"] for e in world["events"]}
    hot = [r for r in rows if r["id"] in hot_ids]
    paid = pg.one("""
        select count(*) filter (where o.status = 'paid') as paid,
          count(*) filter (where o.status = 'paid' and (select count(*) from public.tickets k where k.order_id = o.id)
                           <> (select coalesce(sum(i.quantity), 0) from public.order_items i where i.order_id = o.id))
            as paid_without_their_tickets
        from public.orders o where o.id = any(%s::uuid[])""", (paid_orders,))
    return {
        "tiers": len(rows), "oversold": len(oversold), "inconsistent": len(inconsistent),
        "sold_to_clients": sum(sold.values()), "seats_taken": sum(r["seats_taken"] for r in rows),
        "tiers_where_db_differs_from_clients": len(client_mismatch),
        "hot_tiers_sold_out": sum(1 for r in hot if r["seats_taken"] == r["capacity"]), "hot_tiers": len(hot),
        "hot_seats_taken": sum(r["seats_taken"] for r in hot), "hot_capacity": sum(r["capacity"] for r in hot),
        "paid_orders_expected": len(paid_orders), "paid_orders": paid["paid"],
        "paid_without_their_tickets": paid["paid_without_their_tickets"],
        "examples": [dict(r, ordered=int(r["ordered"])) for r in (oversold + inconsistent + client_mismatch)[:5]],
    }


def appointment_invariants(pg: common.Pg, world: dict, sold: Counter, paid_orders: list[str]) -> dict:
    constraint = pg.one("select pg_get_constraintdef(oid) as def, convalidated from pg_constraint"
                        " where conrelid = 'public.appointments'::regclass and conname = 'appointments_no_double_booking'")
    overlaps = pg.sql("""
        select a.staff_id::text, a.id::text as a, b.id::text as b, a.blocked::text as a_blocked, b.blocked::text as b_blocked
        from public.appointments a join public.appointments b
          on a.staff_id = b.staff_id and a.id < b.id and a.blocked && b.blocked
        where a.org_id = %s and a.status in ('held', 'booked', 'in_progress') and b.status in ('held', 'booked', 'in_progress')
        limit 20""", (world["org_id"],))
    counts = pg.one("""
        select count(*) filter (where status in ('held', 'booked', 'in_progress')) as live,
               count(*) filter (where status = 'booked') as booked
        from public.appointments where org_id = %s""", (world["org_id"],))
    hot = []
    for service, start in world["hot_slots"]:
        hot.append(pg.value("select count(*) from public.appointments where service_id = %s and lower(period) = %s"
                            " and status in ('held', 'booked', 'in_progress')", (service, start)))
    paid = pg.one("""
        select count(*) filter (where o.status = 'paid') as paid,
          count(*) filter (where o.status = 'paid' and exists (select 1 from public.appointments a
                                                             where a.order_id = o.id and a.status <> 'booked'))
            as paid_not_booked
        from public.orders o where o.id = any(%s::uuid[])""", (paid_orders,))
    return {
        "constraint": f"{constraint['def']} (validated: {constraint['convalidated']})" if constraint else None,
        "double_booked": len(overlaps), "examples": overlaps[:5],
        "live_appointments": counts["live"], "booked": counts["booked"],
        "sold_to_clients": sold.get("appointments", 0),
        "hot_slot_bookings": hot, "staff": len(world["staff"]),
        "paid_orders_expected": len(paid_orders), "paid_orders": paid["paid"],
        "paid_not_booked": paid["paid_not_booked"],
    }


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


class Runner:
    def __init__(self, bench: Bench, args: argparse.Namespace, endpoints: dict):
        self.bench = bench
        self.args = args
        self.endpoints = endpoints
        self.procs: list[subprocess.Popen] = []
        self.n = 0

    def launch(self, role: str, spec: dict) -> tuple[subprocess.Popen, Path]:
        self.n += 1
        spec_path = self.bench.tmp / f"spec-{self.n}.json"
        out = self.bench.tmp / f"out-{self.n}.json"
        log = open(self.bench.tmp / f"client-{self.n}.log", "wb")  # noqa: SIM115 - closed with the process
        spec_path.write_text(json.dumps({**self.endpoints, **spec, "think": self.args.think,
                                         "one_ip": self.args.one_ip, "seed": f"{self.n}"}, default=str))
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "client", role,
                                 "--spec", str(spec_path), "--out", str(out)],
                                cwd=common.ROOT, env={**os.environ, "PYTHONPATH": str(common.ROOT)},
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        return proc, out

    def wait(self, proc: subprocess.Popen, out: Path, timeout: float) -> dict:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"a load client did not finish within {timeout:.0f} s")
        if proc.returncode != 0 or not out.exists():
            log = self.bench.tmp / f"client-{self.procs.index(proc) + 1}.log"
            raise RuntimeError(f"a load client failed ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        return json.loads(out.read_text())

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def cpu(self) -> dict[str, float]:
        me = os.times()
        snap = {common.MACHINE: common._machine_busy(),
                "postgres": common._postgres_cpu(self.bench.server.datadir),
                "load generators": me.user + me.system + me.children_user + me.children_system}
        for served in (self.bench.functions, self.bench.standins):
            snap[served.name] = common.group_cpu(served.proc.pid)
        return snap

    def idle(self, phase: str, world: dict) -> dict:
        """Each kind alone, one client, --idle-seconds each: reads, then creations, then checkouts (+ pay)."""
        secs = self.args.idle_seconds
        warm = min(1.0, secs / 2)
        kinds: dict = {}
        proc, out = self.launch("pgrst", {"phase": phase, "world": world, "steps": [
            {"name": "idle-read", "kinds": {"read": 1}, "warmup": warm, "seconds": secs, "think": 0.0},
            {"name": "idle-create", "kinds": {"create": 1}, "warmup": warm, "seconds": secs, "think": 0.0}]})
        res = self.wait(proc, out, 4 * secs + 60)
        kinds["read"] = res["steps"][0]["kinds"]["read"]
        kinds["create"] = res["steps"][1]["kinds"]["create"]
        proc, out = self.launch("browsers", {"phase": phase, "world": world, "steps": [
            {"name": "idle-checkout", "kinds": {"checkout": 1}, "warmup": warm, "seconds": secs, "hot_share": 0.0, "think": 0.0}]})
        res = self.wait(proc, out, 2 * secs + 60)
        kinds["checkout"] = res["steps"][0]["kinds"]["checkout"]
        kinds["pay"] = res["steps"][0]["kinds"]["pay"]
        return {"kinds": kinds, "sold": res["sold"], "paid_orders": res["paid_orders"]}

    def load(self, phase: str, world: dict) -> dict:
        a = self.args
        # Start the processes, open the pool, start every client (with --think: over one think time).
        lead = (3.0 if a.readers <= 200 else 6.0) + a.think
        start_at = time.time() + lead
        before = self.cpu()
        t0 = time.perf_counter()
        pg_proc, pg_out = self.launch("pgrst", {"phase": phase, "world": world, "steps": [
            {"name": "load", "kinds": {"read": a.readers, "create": a.creators}, "start_at": start_at,
             "seconds": a.seconds}]})
        br_proc, br_out = self.launch("browsers", {"phase": phase, "world": world, "steps": [
            {"name": "load", "kinds": {"checkout": a.checkouts}, "start_at": start_at, "seconds": a.seconds,
             "hot_share": 0.5}]})
        pg_res = self.wait(pg_proc, pg_out, lead + a.seconds + 90)
        br_res = self.wait(br_proc, br_out, lead + a.seconds + 90)
        cpu = common.cpu_delta(before, self.cpu(), time.perf_counter() - t0, 0, "")
        kinds = {**pg_res["steps"][0]["kinds"], **br_res["steps"][0]["kinds"]}
        return {"kinds": kinds, "sold": br_res["sold"], "paid_orders": br_res["paid_orders"], "cpu": cpu,
                "window": br_res["steps"][0]["window"]}

    def deliveries(self) -> dict:
        import httpx

        return httpx.get(f"{self.bench.standins.url}/bench/deliveries", timeout=30).json()


def kind_row(phase: str, kind: str, idle: dict, load: dict, seconds: float) -> dict:
    p = common.percentile_ms
    errors = {o: n for o, n in load["outcomes"].items() if is_error(kind, o)}
    errors_idle = {o: n for o, n in idle["outcomes"].items() if is_error(kind, o)}
    refused = {o: n for o, n in load["outcomes"].items() if o != "ok" and not is_error(kind, o)}
    idle_p99, load_p99 = p(idle["latencies"], 0.99), p(load["latencies"], 0.99)
    ratio = load_p99 / idle_p99 if idle_p99 == idle_p99 and idle_p99 > 0 else float("nan")
    by_query = {q: {"p50_ms": p(v, 0.5), "p99_ms": p(v, 0.99), "idle_p50_ms": p(idle.get("by_query", {}).get(q, []), 0.5),
                    "share": len(v) / max(1, load["window_ops"])}
                for q, v in sorted(load.get("by_query", {}).items())}
    return {
        "phase": phase, "kind": kind, "label": KIND_LABEL[(phase, kind)], "by_query": by_query,
        "done": load["outcomes"].get("ok", 0), "idle_done": idle["outcomes"].get("ok", 0),
        "ops": load["window_ops"], "rate": load["window_ops"] / seconds,
        "p50_ms": p(load["latencies"], 0.5), "p99_ms": load_p99,
        "idle_ops": idle["window_ops"], "idle_p50_ms": p(idle["latencies"], 0.5), "idle_p99_ms": idle_p99,
        "p99_ratio": ratio, "goal": "PASS" if ratio <= GOAL_P99 else "FAIL",
        "errors": sum(errors.values()) + sum(errors_idle.values()), "error_kinds": {**errors_idle, **errors},
        "error_samples": {**idle.get("samples", {}), **load.get("samples", {})},
        "refused": refused, "refused_p50_ms": p(load["refused_latencies"], 0.5),
        "pool_wait_p50_ms": p(load["waits"], 0.5) if load["waits"] else None,
        "pool_wait_p99_ms": p(load["waits"], 0.99) if load["waits"] else None,
        "in_db_p99_ms": (p([t - w for t, w in zip(load["latencies"], load["waits"])], 0.99)
                         if load["waits"] else None),
    }


def run_phase(runner: Runner, bench: Bench, phase: str, world: dict) -> dict:
    a = runner.args
    say(f"{phase}: idle, each kind alone with one client, {a.idle_seconds:.0f} s each")
    idle = runner.idle(phase, world)
    bench.main.settle()
    say(f"{phase}: load, {a.readers} readers + {a.creators} creators (one pool of {PG_POOL}) and "
        f"{a.checkouts} checkouts, {a.seconds:.0f} s")
    load = runner.load(phase, world)
    sold = Counter(idle["sold"]) + Counter(load["sold"])
    paid = idle["paid_orders"] + load["paid_orders"]
    rows = [kind_row(phase, k, idle["kinds"][k], load["kinds"][k], a.seconds) for k in KINDS]
    if phase == "tickets":
        inv = ticket_invariants(bench.main, world, sold, paid)
        broken = bool(inv["oversold"] or inv["inconsistent"] or inv["tiers_where_db_differs_from_clients"]
                      or inv["paid_without_their_tickets"] or inv["paid_orders"] != inv["paid_orders_expected"])
    else:
        inv = appointment_invariants(bench.main, world, sold, paid)
        broken = bool(inv["double_booked"] or not inv["constraint"] or inv["paid_not_booked"]
                      or inv["live_appointments"] != inv["sold_to_clients"]
                      or inv["paid_orders"] != inv["paid_orders_expected"])
    inv["broken"] = broken
    say(f"{phase}: {'INVARIANT BROKEN' if broken else 'invariants hold'}")
    return {"rows": rows, "invariants": inv, "cpu": load["cpu"], "window": load["window"]}


def findings(path: Path, limit: int = 12) -> dict[str, tuple[int, str]]:
    """Warnings and errors in a served process's log: our JSON lines at level warning or worse, and any
    other line that is not gunicorn's [INFO] chatter, counted by message."""
    found: dict[str, list] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            if entry.get("level") not in ("warning", "error", "critical"):
                continue
            key = f"{entry['level']}: {str(entry.get('message'))[:160]}"
            example = json.dumps({k: v for k, v in entry.items() if k not in ("ts",)})[:600]
        else:
            if "[INFO]" in line:
                continue
            access = re.search(r'" (\d{3}) ', line)
            if access and int(access.group(1)) < 400:  # werkzeug's access log of an answered request
                continue
            key = line.split("] ", 2)[-1][:160] if line.startswith("[") else line[:160]
            example = line
        slot = found.setdefault(key, [0, example])
        slot[0] += 1
    ordered = sorted(found.items(), key=lambda kv: -kv[1][0])[:limit]
    return {k: (v[0], v[1]) for k, v in ordered}


def server_side(path: Path, window: list[float]) -> dict[str, dict]:
    """Per function, from its own log line per request (shared/platform/http.py: `ms` from the handler's
    start to its answer, i.e. without the wait for a server thread): requests answered in the window."""
    import calendar

    times: dict[str, list[float]] = {}
    statuses: dict[str, Counter] = {}
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        if not line.startswith("{") or '"message": "request"' not in line:
            continue
        try:
            entry = json.loads(line)
            at = calendar.timegm(time.strptime(entry["ts"][:19], "%Y-%m-%dT%H:%M:%S")) + int(entry["ts"][20:23]) / 1000
        except (ValueError, KeyError):
            continue
        if window[0] <= at < window[1]:
            times.setdefault(entry.get("function"), []).append(float(entry.get("ms", 0)) / 1000)
            statuses.setdefault(entry.get("function"), Counter())[str(entry.get("status"))] += 1
    return {fn: {"n": len(v), "p50_ms": common.percentile_ms(v, 0.5), "p99_ms": common.percentile_ms(v, 0.99),
                 "statuses": dict(statuses[fn])} for fn, v in sorted(times.items())}


def clean(value):
    """JSON without NaN: a percentile of nothing is null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None or v != v else f"{v:.{digits}f}"


def print_report(args, machine: str, server_note: str, limits: list[dict], results: dict, deliveries: dict,
                 started: float) -> None:
    print()
    print(f"Bookwell load test · {common.DATE} · {machine}")
    print(f"functions: {server_note}")
    print(common.load_note(args.load_start))
    print("rate limits LIFTED for this run (private.rate_limit_rules set to 1000000 requests per 1 second; were "
          + ", ".join(f"{r['bucket']} {r['requests']}/{r['per']}" for r in limits) + ")")
    print(f"per phase: {args.readers} anon readers and {args.creators} manager creators through ONE pool of "
          f"{PG_POOL} connections (PostgREST's transaction per request), {args.checkouts} buyers over HTTP "
          f"(half of them at hot tiers/slots; every other success paid); window {args.seconds:.0f} s; "
          f"idle = each kind alone, one client back to back, {args.idle_seconds:.0f} s; think time under load"
          f" {args.think} s (mean pause of each client between requests); "
          f"{'all buyers from 127.0.0.1' if args.one_ip else 'one X-Forwarded-For per buyer (TRUSTED_PROXY_HOPS=1)'}")
    print()
    head = (f"{'phase':<13}{'kind':<52}{'ops':>7}{'/s':>8}{'p50':>9}{'p99':>9}{'idle p50':>10}{'idle p99':>10}"
            f"{'p99/idle':>10}  goal<=3x  errors")
    print(head)
    print("-" * len(head))
    for phase in ("tickets", "appointments"):
        for r in results[phase]["rows"]:
            print(f"{phase:<13}{r['label']:<52}{r['ops']:>7}{r['rate']:>8.1f}{fmt(r['p50_ms']):>9}{fmt(r['p99_ms']):>9}"
                  f"{fmt(r['idle_p50_ms'], 2):>10}{fmt(r['idle_p99_ms'], 2):>10}{fmt(r['p99_ratio']):>10}  "
                  f"{r['goal']:<8}  {r['errors']}")
    print("(latencies in ms; p50/p99 of successes finishing inside the window; errors counted over the whole run)")
    print()
    for phase in ("tickets", "appointments"):
        res = results[phase]
        print(f"{phase}:")
        for r in res["rows"]:
            extra = []
            clients = {"read": args.readers, "create": args.creators, "checkout": args.checkouts}.get(r["kind"])
            if clients and r["rate"]:
                extra.append(f"closed loop: {clients} clients / {r['rate']:.1f} per s = {clients / r['rate']:.2f} s"
                             " per round (Little's law" + (", checkout + pay" if r["kind"] == "checkout" else "") + ")")
            for q, v in r["by_query"].items():
                extra.append(f"{q}: {v['share'] * 100:.0f}% of reads, p50 {fmt(v['p50_ms'])} ms, p99 {fmt(v['p99_ms'])} ms"
                             f" (idle p50 {fmt(v['idle_p50_ms'], 2)} ms)")
            if r["pool_wait_p99_ms"] is not None:
                extra.append(f"waiting for one of the {PG_POOL} pooled connections p50 {fmt(r['pool_wait_p50_ms'])} ms,"
                             f" p99 {fmt(r['pool_wait_p99_ms'])} ms; inside the database p99 {fmt(r['in_db_p99_ms'])} ms")
            if r["refused"]:
                extra.append("expected refusals " + ", ".join(f"{k} x{v}" for k, v in sorted(r["refused"].items()))
                             + f" (p50 {fmt(r['refused_p50_ms'])} ms)")
            if r["error_kinds"]:
                extra.append("ERRORS " + ", ".join(f"{k} x{v}" for k, v in sorted(r["error_kinds"].items())))
                for k, msg in r["error_samples"].items():
                    extra.append(f"  e.g. {k}: {msg[:300]}")
            for line in extra:
                print(f"  {r['kind']:<9}{line}")
        inv = res["invariants"]
        if phase == "tickets":
            print(f"  invariants: {inv['tiers']} tiers, oversold {inv['oversold']}, seats taken != live order quantities"
                  f" {inv['inconsistent']}, DB differs from what buyers were sold {inv['tiers_where_db_differs_from_clients']}"
                  f" (sold {inv['sold_to_clients']} tickets, {inv['seats_taken']} seats taken);"
                  f" hot tiers sold out {inv['hot_tiers_sold_out']}/{inv['hot_tiers']}"
                  f" ({inv['hot_seats_taken']}/{inv['hot_capacity']} seats); paid orders {inv['paid_orders']}"
                  f" of {inv['paid_orders_expected']} paid on the page, {inv['paid_without_their_tickets']} without"
                  f" their tickets")
        else:
            print(f"  invariants: double-booked pairs {inv['double_booked']}; constraint {inv['constraint']};"
                  f" live appointments {inv['live_appointments']} (buyers were sold {inv['sold_to_clients']});"
                  f" hot slots booked {inv['hot_slot_bookings']} times by {inv['staff']} staff;"
                  f" paid orders {inv['paid_orders']} of {inv['paid_orders_expected']} paid on the page,"
                  f" {inv['paid_not_booked']} not booked")
        for ex in inv.get("examples") or ():
            print(f"    example: {ex}")
        for fn, v in res.get("server", {}).items():
            print(f"  server side, {fn}: {v['n']} answered in the window, p50 {fmt(v['p50_ms'])} ms, p99 {fmt(v['p99_ms'])} ms"
                  f" inside the function (its log line's `ms`; excludes waiting for a gunicorn thread); statuses {v['statuses']}")
        print(f"  cpu during the load phase: {res['cpu']}")
    print()
    print(f"Stripe webhook deliveries (stand-in's record): "
          + ", ".join(f"{k} x{v}" for k, v in sorted(deliveries["deliveries"].items())))
    for k, v in deliveries.get("samples", {}).items():
        print(f"  e.g. {k}: {v[:300]}")
    print(f"whole run {time.monotonic() - started:.0f} s")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        return client_main(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "serve-standins":
        serve_standins(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=25, help="load window per phase")
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--checkouts", type=int, default=100)
    parser.add_argument("--creators", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=4, help="each kind alone, one client")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean pause of each client between its requests (s; 0: back to back)")
    parser.add_argument("--workers", type=int, default=2, help="with `bookwell serve --workers` (if it exists)")
    parser.add_argument("--one-ip", action="store_true", help="every buyer from 127.0.0.1 (one rate-limit row)")
    parser.add_argument("--short", action="store_true",
                        help="a bounded few-second version: 60 readers, 12 checkouts, 6 creators, 2 s per phase")
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--time-limit", type=float, default=None)
    args = parser.parse_args()
    if args.short:
        args.readers, args.checkouts, args.creators, args.seconds, args.idle_seconds = 60, 12, 6, 2.0, 0.6
    time_limit = args.time_limit or (100 if args.short else 300)
    args.load_start = os.getloadavg()
    started = time.monotonic()
    results: dict = {}
    with Bench(fsync=not args.no_fsync, time_limit=time_limit, lift_rate_limits=False) as bench:  # lifted below, reported
        pg = bench.main
        limits = lift_rate_limits(pg)
        say("rate limits lifted: " + ", ".join(f"{r['bucket']} was {r['requests']}/{r['per']}" for r in limits))
        # The functions, as `bookwell serve` serves them; the stand-ins in their own process.
        help_text = subprocess.run([sys.executable, "-m", "shared.devstack.cli", "serve", "--help"], cwd=common.ROOT,
                                   capture_output=True, text=True, timeout=60).stdout
        fn_port, st_port = common.free_port(), common.free_port()
        while st_port == fn_port:
            st_port = common.free_port()
        fn_url, st_url = f"http://127.0.0.1:{fn_port}", f"http://127.0.0.1:{st_port}"
        fenv = {"DATABASE_URL": pg.url, "STRIPE_API_BASE": f"{st_url}/stripe", "RESEND_API_BASE": f"{st_url}/resend",
                "BOOKWELL_API_PORT": str(fn_port), "BOOKWELL_HOME": str(bench.tmp / "home"),
                "TRUSTED_PROXY_HOPS": "0" if args.one_ip else "1"}
        bench.standins = common.start_command(
            "standins", [sys.executable, str(Path(__file__).resolve()), "serve-standins", "--port", str(st_port),
                         "--webhook-url", f"{fn_url}/functions/v1/stripe-webhook"], st_port, fenv, bench.tmp)
        if "--workers" in help_text and args.workers > 1:
            server_note = (f"`bookwell serve --workers {args.workers}` (it exists): gunicorn, {args.workers} worker"
                           f" processes x 4 threads, run as that command runs them (python -m shared.devstack.workers);"
                           f" product pool of 10 connections per process")
            argv = [sys.executable, "-m", "shared.devstack.workers", "--port", str(fn_port),
                    "--workers", str(args.workers), "--parent", str(os.getpid())]
        else:
            server_note = ("the one-process `bookwell serve` (werkzeug, threaded"
                           + ("; this checkout's `bookwell serve` has no --workers)" if "--workers" not in help_text
                              else ")") + "; product pool of 10 connections")
            argv = [sys.executable, str(Path(common.__file__).resolve()), "serve", "functions", "--port", str(fn_port)]
        bench.functions = common.start_command("functions", argv, fn_port, fenv, bench.tmp)
        say(f"functions: {server_note}")
        # Seeded while the workers boot (they answer once they have loaded every function).
        say("seeding: 20 events x 3 tiers (one hot tier of 25 seats each), an appointments org with 8 staff")
        seed_pg = OneConnection(pg)
        try:
            tickets = seed_tickets(seed_pg, events=20, orgs=5, managers=max(args.creators, 1))
            appointments = seed_appointments(seed_pg, staff=8, managers=max(args.creators, 1))
        finally:
            seed_pg.close()
        timeouts = {r["rolname"]: r["timeout"] for r in pg.sql(
            "select rolname, coalesce((select substr(s, length('statement_timeout=') + 1) from unnest(rolconfig) s"
            " where s like 'statement_timeout=%%'), '0') as timeout from pg_roles where rolname in ('anon', 'authenticated')")}
        machine = bench.describe()
        endpoints = {"db_url": pg.url, "functions_url": fn_url, "standins_url": st_url,
                     "anon_key": common.anon_key(), "timeouts": timeouts}
        runner = Runner(bench, args, endpoints)
        try:
            import httpx

            for _ in range(3):  # warm both servers (imports, first pool connections)
                httpx.get(f"{fn_url}/functions/v1/health", timeout=60)
            pg.settle()
            results["tickets"] = run_phase(runner, bench, "tickets", tickets)
            pg.settle()
            results["appointments"] = run_phase(runner, bench, "appointments", appointments)
            deliveries = runner.deliveries()
        finally:
            runner.stop_all()
        for res in results.values():
            res["server"] = server_side(bench.functions.log, res["window"])
        log_findings = {name: findings(served.log) for name, served in
                        (("functions", bench.functions), ("standins", bench.standins))}

    print_report(args, machine, server_note, limits, results, deliveries, started)
    for name, found in log_findings.items():
        if found:
            print(f"{name} log, warnings and errors (count, first seen):")
            for key, (count, example) in found.items():
                print(f"  x{count} {key}")
                if example != key:
                    print(f"      {example[:400]}")
    webhook_errors = sum(n for k, n in deliveries["deliveries"].items() if not k.endswith(" 200"))
    errors = sum(r["errors"] for ph in results.values() for r in ph["rows"]) + webhook_errors
    summary = {
        "ok": not any(ph["invariants"]["broken"] for ph in results.values()),
        "errors": errors, "webhook_errors": webhook_errors,
        "oversold": results["tickets"]["invariants"]["oversold"],
        "inconsistent_tiers": results["tickets"]["invariants"]["inconsistent"],
        "double_booked": results["appointments"]["invariants"]["double_booked"],
        "invariants": {ph: {k: v for k, v in res["invariants"].items() if k != "examples"} for ph, res in results.items()},
        "kinds": {f"{r['phase']}.{r['kind']}": {k: r[k] for k in ("ops", "done", "idle_done", "rate", "p50_ms", "p99_ms", "idle_p50_ms",
                                                                  "idle_p99_ms", "p99_ratio", "goal", "errors",
                                                                  "error_kinds")}
                  for ph in results.values() for r in ph["rows"]},
        "args": {k: getattr(args, k) for k in ("seconds", "readers", "checkouts", "creators", "idle_seconds",
                                               "think", "short", "one_ip")},
    }
    print(json.dumps(clean(summary), default=str))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
