"""What the AI wizard's runtime costs on top of the model it talks to.

    .venv/bin/python benchmarks/ai_runtime.py [--turns 100] [--latency-ms 50] [--clients 20] [--seconds 20]

One run, loopback only, about 1.5-2 minutes on 2 cores, everything in a
temporary directory removed at exit (benchmarks/common.py's Bench: an embedded
PostgreSQL 18, migrated; a watchdog that stops the run past --time-limit):

  - every function served as `bookwell serve` serves them (werkzeug, threaded,
    one process, the product's default pool of 10), with AI_BASE_URL pointing at
  - the LLM stand-in (shared.devstack.standins.LlmStandin, served the same way) in a
    process of its own, as the real provider is somebody else's machine. Its
    `latency` (a sleep before every answer) stands in for the model's time.

A wizard turn here = one user message -> the model asks for calculate_budget
(one tool call) -> the tool runs (its own transaction, as the caller under
RLS: it reads the organization's currency) -> the model answers in words.
That is 2 model calls. A session = --turns-per-session such turns (3), the
first one opening it. Each session's 2 x 3 model answers are scripted with
`LlmStandin.script(..., conversation=<session id>)` when its first model
request arrives (the first user message carries a nonce the harness registered
through the stand-in's control endpoint, since the session id does not exist
before that request).

1. Overhead per turn, sequential (one client), stand-in latency --latency-ms:
   (b) a whole wizard turn: POST /functions/v1/ai-wizard over HTTP (JWT,
       budget reservation, session load, 2 model calls with the tool run
       between them, session save, token record);
   (a) the same 2 model requests, byte for byte as the stand-in received them
       in (b), sent straight to the stand-in with the openai SDK (the SDK and
       settings the product uses), answered the same way.
   (a) and (b) alternate, turn by turn. Printed: p50/p95 of each, the overhead
   b - a in ms, and the overhead ratio (b - a) / a.
2. Sustained load, --clients concurrent conversations (each client thread is
   its own user, so no one's rate limit or budget row is shared; limits set far
   above what the run uses), a closed loop for --seconds, with the stand-in's
   latency 0 and --latency-ms: wizard turns/s and completed sessions/s; and the
   same clients sending the same model exchanges straight to the stand-in
   (bare SDK, the request bodies captured in part 1) -> ratio wizard turns/s
   / bare exchanges/s. The bare lanes script their answers once per session's
   worth of exchanges too, so both sides pay the same scripting calls.

Checks, printed at the end: every answer 200 with the scripted reply and one
successful calculate_budget call; every session's stored message count = 4 x
its turns answered (user, tool call, tool result, reply); the stand-in has no
scripted answer left over; the budget ledger (private.ai_usage) counted every
turn and exactly the tokens the sessions recorded.

`python benchmarks/ai_runtime.py serve-llm --port N` is the stand-in
subprocess entry point; it is only started by this script.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import ROOT, Bench, Served, cpu_delta, cpu_snapshot, say  # noqa: E402

import httpx  # noqa: E402
import openai  # noqa: E402

from shared.platform import config  # noqa: E402
from shared.platform import auth

MODEL = "bookwell-local"
LLM_KEY = "sk-bookwell-bench-local"
WIZARD = "/functions/v1/ai-wizard"
NONCE = re.compile(r"\[bench:([0-9a-f]{32})\]")
MESSAGES_PER_TURN = 4  # user, assistant (tool call), tool result, assistant (reply)


def budget_args(k: int) -> dict:
    return {"venue_cost_minor": 80000, "catering_per_head_minor": 1500, "staff_count": 2 + k,
            "staff_cost_each_minor": 10000, "marketing_minor": 20000,
            "tiers": [{"name": "Standard", "price_minor": 2000, "capacity": 100},
                      {"name": "VIP", "price_minor": 5000, "capacity": 20}],
            "sell_through": 0.8}


def reply_text(k: int, n: int) -> str:
    return f"Budget {k} of {n} is ready: see the draft."


def session_script(n: int) -> list[dict]:
    """The model's answers for a whole session of n turns: per turn a tool call, then words."""
    out: list[dict] = []
    for k in range(1, n + 1):
        out += [{"tool": "calculate_budget", "args": budget_args(k)}, {"reply": reply_text(k, n)}]
    return out


def user_message(k: int, nonce: str | None = None) -> str:
    if k == 1:
        return f"Plan a jazz night for about 120 people in London and work out the budget [bench:{nonce}]"
    return f"Now with {2 + k} staff: what is the budget?"


# ---------------------------------------------------------------------------
# The LLM stand-in process (and its control endpoint, a benchmark-only helper)
# ---------------------------------------------------------------------------


def _turns(spec: list[dict]):
    from shared.devstack.standins.llm_standin import Reply, ToolCalls

    return [ToolCalls([(t["tool"], t["args"])]) if "tool" in t else Reply(t["reply"]) for t in spec]


def serve_llm(port: int) -> None:
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    from shared.devstack.standins import LlmStandin

    llm = LlmStandin(api_key=LLM_KEY, model=MODEL)
    pending: dict[str, list] = {}  # nonce -> the session's scripted turns, until its first request
    lock = threading.Lock()

    @Request.application
    def control(request: Request) -> Response:
        body = json.loads(request.get_data() or b"{}")
        action = request.path.removeprefix("/control/")
        out: Any = {"ok": True}
        if action == "script":
            llm.script(*_turns(body["turns"]), conversation=body["conversation"])
        elif action == "expect":
            with lock:
                pending[body["nonce"]] = _turns(body["turns"])
        elif action == "latency":
            llm.latency = float(body["seconds"])
        elif action == "requests":
            out = llm.requests_for(body["conversation"])
        elif action == "leftover":
            with llm._lock:  # benchmark inspection: every conversation's queue at once
                queued = {k: len(q) for k, q in llm._keyed.items() if q}
                unkeyed = len(llm._queue)
            with lock:
                out = {"queued": sum(queued.values()), "conversations": len(queued), "unkeyed": unkeyed,
                       "unclaimed_sessions": len(pending)}
        elif action == "reset":
            llm.reset()
            with lock:
                pending.clear()
        else:
            return Response("not found", status=404)
        return Response(json.dumps(out), content_type="application/json")

    def app(environ, start_response):
        path = environ.get("PATH_INFO") or ""
        if path.startswith("/control/"):
            return control(environ, start_response)
        if path.endswith("/chat/completions") and pending:
            # A new wizard session's first model request: script the session under its id.
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(raw)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            key = body.get("user") if isinstance(body, dict) else None
            if isinstance(key, str) and llm.remaining(key) == 0:
                for message in body.get("messages") or []:
                    if not (isinstance(message, dict) and message.get("role") == "user"
                            and isinstance(message.get("content"), str)):
                        continue
                    found = NONCE.search(message["content"])
                    if found:
                        with lock:
                            turns = pending.pop(found.group(1), None)
                        if turns:
                            llm.script(*turns, conversation=key)
                        break
        return llm.wsgi(environ, start_response)

    server = make_server("127.0.0.1", port, app, threaded=True)

    def shutdown(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    server.serve_forever()


def start_llm(workdir: Path) -> Served:
    """The stand-in in its own session, served by this script's own `serve-llm`."""
    port = common.free_port()
    return common.start_command("llm stand-in", [sys.executable, str(Path(__file__).resolve()), "serve-llm",
                                                 "--port", str(port)], port, {}, workdir)


class Control:
    """The harness's side of the stand-in's control endpoint."""

    def __init__(self, url: str):
        self.http = httpx.Client(base_url=f"{url}/control", timeout=60)

    def _post(self, action: str, body: dict | None = None) -> Any:
        r = self.http.post(f"/{action}", json=body or {})
        r.raise_for_status()
        return r.json()

    def script(self, conversation: str, turns: list[dict]) -> None:
        self._post("script", {"conversation": conversation, "turns": turns})

    def expect(self, nonce: str, turns: list[dict]) -> None:
        self._post("expect", {"nonce": nonce, "turns": turns})

    def latency(self, seconds: float) -> None:
        self._post("latency", {"seconds": seconds})

    def requests_for(self, conversation: str) -> list[dict]:
        return self._post("requests", {"conversation": conversation})

    def leftover(self) -> dict:
        return self._post("leftover")

    def reset(self) -> None:
        self._post("reset")

    def close(self) -> None:
        self.http.close()


# ---------------------------------------------------------------------------
# The two clients: a wizard conversation over HTTP, and bare model exchanges
# ---------------------------------------------------------------------------


class Tally:
    """What the clients were answered, for the checks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.sent: Counter = Counter()           # user id -> turns sent (reservations expected)
        self.answered: dict[str, int] = {}       # session id -> turns answered 200
        self.bad: list[str] = []
        self.completions: list[float] = []       # perf_counter when a session's last turn was answered
        self.turns: list[tuple[float, float]] = []  # (answered at, seconds of the POST)
        self.expected_left = 0                   # scripted answers of sessions the run stopped in

    def problem(self, text: str) -> None:
        with self.lock:
            if len(self.bad) < 5:
                self.bad.append(text)


class Conversation:
    """One client's wizard sessions, one after another, as the user `user_id`."""

    def __init__(self, base_url: str, control: Control, org_id: str, user_id: str, token: str,
                 turns_per_session: int, tally: Tally):
        self.http = httpx.Client(base_url=base_url, timeout=60, headers={"authorization": f"Bearer {token}"})
        self.control = control
        self.org_id = org_id
        self.user_id = user_id
        self.n = turns_per_session
        self.tally = tally
        self.session_id: str | None = None
        self.k = 0  # turns answered in the current session

    def turn(self) -> tuple[float, str, int]:
        """One turn; (seconds of the POST, session id, its turn number). Raises on a wrong answer."""
        k = self.k + 1
        if self.session_id is None:
            nonce = uuid.uuid4().hex
            self.control.expect(nonce, session_script(self.n))
            body = {"message": user_message(1, nonce), "org_id": self.org_id}
        else:
            body = {"message": user_message(k), "session_id": self.session_id}
        with self.tally.lock:
            self.tally.sent[self.user_id] += 1
        t0 = time.perf_counter()
        r = self.http.post(WIZARD, json=body)
        t1 = time.perf_counter()
        with self.tally.lock:
            self.tally.statuses[r.status_code] += 1
        if r.status_code != 200:
            self.tally.problem(f"HTTP {r.status_code}: {r.text[:300]}")
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:300]}")
        data = r.json()
        sid = str(data["session_id"])
        if self.session_id is not None and sid != self.session_id:
            raise RuntimeError(f"answered for session {sid}, not {self.session_id}")
        self.session_id, self.k = sid, k
        with self.tally.lock:
            self.tally.answered[sid] = k
            self.tally.turns.append((t1, t1 - t0))
            if k == self.n:
                self.tally.completions.append(t1)
        if k == self.n:
            self.session_id, self.k = None, 0
        if (data["reply"] != reply_text(k, self.n) or data["stopped"] != "answered"
                or data["tool_calls"] != [{"name": "calculate_budget", "ok": True}]):
            text = f"unexpected answer to turn {k}: {json.dumps(data)[:300]}"
            self.tally.problem(text)
            raise RuntimeError(text)
        return t1 - t0, sid, k

    def close(self) -> None:
        if self.session_id is not None:  # stopped mid-session: its later turns stay scripted
            with self.tally.lock:
                self.tally.expected_left += 2 * (self.n - self.k)
        self.http.close()


def sdk_client(llm_url: str) -> openai.OpenAI:
    # As shared.providers.ai.provider builds the product's client: no SDK retries.
    return openai.OpenAI(base_url=f"{llm_url}/v1", api_key=LLM_KEY, max_retries=0)


def exchange(client: openai.OpenAI, bodies: list[dict], key: str, reply: str) -> float:
    """The 2 model requests of one turn, sent straight to the stand-in; seconds taken."""
    first, second = (dict(b, user=key) for b in bodies)
    t0 = time.perf_counter()
    r1 = client.chat.completions.create(**first, timeout=30)
    r2 = client.chat.completions.create(**second, timeout=30)
    seconds = time.perf_counter() - t0
    calls = r1.choices[0].message.tool_calls or []
    if [c.function.name for c in calls] != ["calculate_budget"] or r2.choices[0].message.content != reply:
        raise RuntimeError(f"unexpected bare answers: {r1.choices[0].message!r} / {r2.choices[0].message!r}")
    return seconds


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def make_users(pg: common.Pg, org: dict, count: int, label: str) -> list[tuple[str, str]]:
    """`count` event managers of `org`: (user id, JWT), as Supabase Auth would sign them."""
    settings = config.settings()
    users = []
    for i in range(count):
        email = f"{label}-{i}-{uuid.uuid4().hex[:6]}@example.com"
        uid = str(pg.value("insert into auth.users (id, email, raw_user_meta_data) values (gen_random_uuid(), %s, '{}') returning id",
                           (email,)))
        pg.sql("insert into public.memberships (org_id, user_id, role) values (%s, %s, 'manager')", (org["id"], uid))
        users.append((uid, auth.mint(settings, role="authenticated", sub=uid, email=email, ttl_seconds=3600)))
    return users


def check_phase(pg: common.Pg, control: Control, tally: Tally, users: list[str], name: str) -> list[tuple[str, bool]]:
    """Sessions, ledger and stand-in agree with what the clients were answered."""
    checks: list[tuple[str, bool]] = []
    non200 = {s: c for s, c in tally.statuses.items() if s != 200}
    checks.append((f"{name}: answers {dict(tally.statuses)}; wrong answers: {len(tally.bad)}"
                   + (f" (first: {tally.bad[0]})" if tally.bad else ""), not non200 and not tally.bad))
    rows = pg.sql("select id::text as id, jsonb_array_length(messages) as n, prompt_tokens + completion_tokens as t"
                  " from public.wizard_sessions where owner_id = any(%s::uuid[])", (users,))
    stored = {r["id"]: r["n"] for r in rows}
    wrong = [sid for sid, k in tally.answered.items() if stored.get(sid) != MESSAGES_PER_TURN * k]
    unknown = [sid for sid in stored if sid not in tally.answered]
    turns = sum(tally.answered.values())
    checks.append((f"{name}: {len(stored)} sessions, {sum(stored.values())} stored messages for {turns} turns"
                   f" answered; sessions whose message count != 4 x turns answered: {len(wrong)};"
                   f" sessions the clients never heard of: {len(unknown)}", not wrong and not unknown))
    ledger = pg.one("select coalesce(sum(requests), 0) as requests, coalesce(sum(tokens), 0) as tokens"
                    " from private.ai_usage where user_id = any(%s::uuid[])", (users,))
    tokens = sum(r["t"] for r in rows)
    sent = sum(tally.sent[u] for u in users)
    checks.append((f"{name}: budget ledger {ledger['requests']} requests for {sent} turns sent,"
                   f" {ledger['tokens']} tokens for {tokens} recorded by the sessions",
                   ledger["requests"] == sent and ledger["tokens"] == tokens))
    left = control.leftover()
    checks.append((f"{name}: stand-in leftovers {left}, expected {tally.expected_left} queued"
                   f" (the unanswered turns of sessions the run stopped in)",
                   left["queued"] == tally.expected_left and left["unkeyed"] == 0
                   and left["unclaimed_sessions"] == 0))
    return checks


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=100, help="measured sequential turns in part 1")
    parser.add_argument("--warmup-turns", type=int, default=6)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="the stand-in's latency per model call")
    parser.add_argument("--turns-per-session", type=int, default=3)
    parser.add_argument("--clients", type=int, default=20, help="concurrent conversations in part 2")
    parser.add_argument("--seconds", type=float, default=20, help="timed window of each wizard load phase")
    parser.add_argument("--bare-seconds", type=float, default=10, help="timed window of each bare SDK phase")
    parser.add_argument("--warmup", type=float, default=3, help="untimed seconds before each load window")
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--time-limit", type=float, default=300)
    args = parser.parse_args()
    if not (1 <= args.turns <= 2000 and 1 <= args.clients <= 64 and 1 <= args.turns_per_session <= 10
            and 1 <= args.seconds <= 120 and 1 <= args.bare_seconds <= 120):
        parser.error("bounded runs only: turns 1..2000, clients 1..64, turns-per-session 1..10, seconds 1..120")
    n = args.turns_per_session
    latency = args.latency_ms / 1000
    load_start = os.getloadavg()
    checks: list[tuple[str, bool]] = []

    with Bench(fsync=not args.no_fsync, time_limit=args.time_limit) as bench:
        pg = bench.main
        org = pg.make_org()
        llm = start_llm(bench.tmp)
        bench.standins = llm  # stopped by Bench.close; its CPU is sampled as "llm stand-in"
        fenv = {"DATABASE_URL": pg.url, "AI_BASE_URL": f"{llm.url}/v1", "AI_MODEL": MODEL, "AI_API_KEY": LLM_KEY,
                "AI_REQUESTS_PER_MINUTE": "1000000", "AI_DAILY_TOKENS": "1000000000"}
        bench.functions = common.start_served("functions", fenv, bench.tmp)
        base = bench.functions.url
        control = Control(llm.url)
        say("ready: functions and the LLM stand-in are up")

        # -- 1. overhead per turn, sequential -----------------------------------
        control.latency(latency)
        [(seq_user, seq_token)] = make_users(pg, org, 1, "seq")
        tally1 = Tally()
        conv = Conversation(base, control, str(org["id"]), seq_user, seq_token, n, tally1)
        sdk = sdk_client(llm.url)
        captured: dict[int, list[dict]] = {}
        a_times: list[float] = []
        b_times: list[float] = []
        b_by_turn: dict[int, list[float]] = {k: [] for k in range(1, n + 1)}
        say(f"part 1: {args.warmup_turns} + {args.turns} sequential turns, stand-in latency {args.latency_ms:.0f} ms")
        t_part1 = time.perf_counter()
        cpu0 = cpu_snapshot(bench)
        for i in range(args.warmup_turns + args.turns):
            b, sid, k = conv.turn()
            bodies = control.requests_for(sid)[-2:]
            if len(bodies) != 2 or bodies[-1]["messages"][-1]["role"] != "tool":
                raise RuntimeError(f"could not capture turn {k}'s two model requests")
            captured[k] = bodies
            control.script("bare-seq", session_script(n)[2 * (k - 1):2 * k])
            a = exchange(sdk, bodies, "bare-seq", reply_text(k, n))
            if i >= args.warmup_turns:
                a_times.append(a)
                b_times.append(b)
                b_by_turn[k].append(b)
        wall1 = time.perf_counter() - t_part1
        cpu1 = cpu_delta(cpu0, cpu_snapshot(bench), wall1, args.turns + args.warmup_turns, "turn pair")
        sdk.close()
        conv.close()
        checks += check_phase(pg, control, tally1, [seq_user], "part 1")
        control.reset()

        diffs = [b - a for a, b in zip(a_times, b_times)]
        a50, a95, b50, b95 = (pct(a_times, 0.5), pct(a_times, 0.95), pct(b_times, 0.5), pct(b_times, 0.95))
        ms = 1000

        # -- 2. sustained load ----------------------------------------------------
        def load_phase(kind: str, lat: float, users: list[tuple[str, str]] | None) -> dict:
            control.latency(lat)
            pg.settle()
            tally = Tally()
            marks: list[float] = []

            def sample() -> dict:
                marks.append(time.perf_counter())
                return cpu_snapshot(bench)

            def make_worker(lane: int):
                ctl = Control(llm.url)
                if kind == "wizard":
                    uid, token = users[lane]
                    c = Conversation(base, ctl, str(org["id"]), uid, token, n, tally)

                    def op(_i: int) -> None:
                        c.turn()

                    def close() -> None:
                        c.close()
                        ctl.close()

                    return op, close
                client = sdk_client(llm.url)
                key = f"bare-{lane}"
                lane_state = {"k": 0}  # exchanges done of the scripted session

                def bare_op(_i: int) -> None:
                    k = lane_state["k"] + 1
                    if k == 1:  # a session's worth of answers at once, as the wizard lanes get them
                        ctl.script(key, session_script(n))
                    seconds = exchange(client, captured[k], key, reply_text(k, n))
                    lane_state["k"] = k % n
                    with tally.lock:
                        tally.turns.append((time.perf_counter(), seconds))
                        if k == n:
                            tally.completions.append(time.perf_counter())

                def bare_close() -> None:
                    if lane_state["k"]:
                        with tally.lock:
                            tally.expected_left += 2 * (n - lane_state["k"])
                    client.close()
                    ctl.close()

                return bare_op, bare_close

            seconds = args.seconds if kind == "wizard" else args.bare_seconds
            say(f"part 2: {kind}, {args.clients} clients, stand-in latency {lat * 1000:.0f} ms,"
                f" {args.warmup:.0f} + {seconds:.0f} s")
            result = common.run_load(args.clients, seconds, args.warmup, make_worker, sample=sample)
            start, end = marks[0], marks[0] + seconds
            inside = [s for t, s in tally.turns if start <= t < end]
            sessions = sum(1 for t in tally.completions if start <= t < end)
            cpu = cpu_delta(*result.cpu, seconds, result.ops, "turn")
            say(f"  {result.rate:.1f} {kind} turns/s, errors {result.errors}")
            if kind == "wizard":
                checks.extend(check_phase(pg, control, tally, [u for u, _ in users], f"wizard {lat * 1000:.0f} ms"))
            else:
                left = control.leftover()
                checks.append((f"bare {lat * 1000:.0f} ms: {result.total_ops} exchanges answered as scripted,"
                               f" errors {result.errors}" + (f" (first: {result.first_errors[0]})"
                                                             if result.first_errors else "")
                               + f"; stand-in leftovers {left}, expected {tally.expected_left} queued",
                               result.errors == 0 and left["unkeyed"] == 0 and left["unclaimed_sessions"] == 0
                               and left["queued"] == tally.expected_left))
            control.reset()
            return {"result": result, "rate": result.rate, "sessions": sessions / seconds,
                    "p50": pct(inside, 0.5) * ms, "p95": pct(inside, 0.95) * ms, "cpu": cpu,
                    "drift": result.drift()}

        phases: dict[tuple[str, float], dict] = {}
        for lat in (0.0, latency):
            users = make_users(pg, org, args.clients, f"load{int(lat * 1000)}")
            phases[("wizard", lat)] = load_phase("wizard", lat, users)
            phases[("bare", lat)] = load_phase("bare", lat, None)
        machine = bench.describe()
        load = common.load_note(load_start)

    # -- report -------------------------------------------------------------------
    print(f"Bookwell AI runtime benchmark · {common.DATE} · {machine}")
    print(f"wizard turn = 1 calculate_budget tool call + 1 reply (2 model calls) through /functions/v1/ai-wizard;"
          f" session = {n} turns; the LLM stand-in in its own process; {load}")
    print()
    print(f"1. Overhead per turn, sequential, stand-in latency {args.latency_ms:.0f} ms per model call"
          f" ({args.turns} turns after {args.warmup_turns} warm-up; (a) and (b) alternate)")
    print(f"                                                  p50         p95        mean")
    print(f"   (a) the 2 model requests, bare openai SDK  {a50 * ms:7.1f} ms  {a95 * ms:7.1f} ms  "
          f"{statistics.mean(a_times) * ms:7.1f} ms")
    print(f"   (b) the whole wizard turn over HTTP         {b50 * ms:7.1f} ms  {b95 * ms:7.1f} ms  "
          f"{statistics.mean(b_times) * ms:7.1f} ms")
    print(f"   overhead b - a (same turn, paired)          {pct(diffs, 0.5) * ms:7.1f} ms  {pct(diffs, 0.95) * ms:7.1f}"
          f" ms  {statistics.mean(diffs) * ms:7.1f} ms")
    print(f"   overhead ratio (b - a) / a                  {(b50 - a50) / a50:7.3f}     {(b95 - a95) / a95:7.3f}"
          f"     (p50 of b vs p50 of a; p95 vs p95)")
    print(f"   (b) p50 by turn in the session: "
          + ", ".join(f"turn {k} {pct(v, 0.5) * ms:.1f} ms" for k, v in b_by_turn.items() if v)
          + f" (turn 1 opens the session)")
    print(f"   cpu: {cpu1}")
    print()
    print(f"2. Sustained load: {args.clients} concurrent conversations (one user each), closed loop,"
          f" wizard {args.seconds:.0f} s / bare {args.bare_seconds:.0f} s windows after {args.warmup:.0f} s warm-up")
    print(f"   stand-in    wizard turns/s  sessions/s  turn p50 / p95        bare exchanges/s  p50 / p95"
          f"             ratio turns/exchanges")
    for lat in (0.0, latency):
        w, b = phases[("wizard", lat)], phases[("bare", lat)]
        print(f"   {lat * 1000:4.0f} ms     {w['rate']:10.1f}     {w['sessions']:8.2f}    "
              f"{w['p50']:6.1f} / {w['p95']:6.1f} ms   {b['rate']:10.1f}      {b['p50']:6.1f} / {b['p95']:6.1f} ms"
              f"   {w['rate'] / b['rate']:8.3f}")
    for lat in (0.0, latency):
        for kind in ("wizard", "bare"):
            p = phases[(kind, lat)]
            print(f"   {kind} {lat * 1000:.0f} ms: {p['result'].summary()}; {p['drift']}")
            print(f"      cpu: {p['cpu']}")
    if latency > 0:
        print(f"   latency-bound ceiling at {args.latency_ms:.0f} ms: {args.clients} clients / (2 x"
              f" {args.latency_ms:.0f} ms) = {args.clients / (2 * latency):.0f} exchanges/s")
    print()
    print("Checks:")
    for text, ok in checks:
        print(f"  {'OK ' if ok else 'FAIL'} {text}")
    return 0 if all(ok for _, ok in checks) else 1


def cli() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-llm":
        p = argparse.ArgumentParser()
        p.add_argument("command")
        p.add_argument("--port", type=int, required=True)
        serve_llm(p.parse_args().port)
        return 0
    return main()


if __name__ == "__main__":
    sys.exit(cli())
