"""What PAM's runtime costs on top of the model it talks to (issue #15), measured as the wizard's is.

    .venv/bin/python benchmarks/pam.py [--turns 60] [--latency-ms 50]

One run, loopback only: an embedded PostgreSQL (benchmarks/common.py's Bench), every function served
as `bookwell serve` serves them in a process of its own, with AI_BASE_URL pointing at the LLM stand-in
in another process (benchmarks/ai_runtime.py's, with its control endpoint), whose `latency` stands in
for the model's time.

A PAM turn here = one member message -> the model asks for budget_status (one tool call, its own
transaction as the member under RLS: the member's budgets and their status computed from 200 expenses)
-> the model answers in words. That is 2 model calls.
  (b) a whole PAM turn: POST /functions/v1/pam over HTTP (JWT, allowance reservation, conversation load,
      2 model calls with the tool run between them, conversation save, token record);
  (a) the same 2 model requests, byte for byte as the stand-in received them in (b), sent straight to
      the stand-in with the openai SDK as the product builds it.
(a) and (b) alternate, turn by turn, each conversation 3 turns long. Printed: p50/p95 of each, the
overhead b - a, and the overhead ratio (b - a) / a.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402

import ai_runtime  # noqa: E402
import common  # noqa: E402
from common import Bench, say  # noqa: E402

from shared.platform import auth, config  # noqa: E402

REPLY = "Your fuel budget has £74.10 left this month."


def member(pg: common.Pg) -> tuple[str, str]:
    """A member with a fuel budget over 200 expenses: (user id, token)."""
    user = str(pg.value("insert into auth.users (id, email, raw_user_meta_data) values (gen_random_uuid(),"
                        " 'pam@bench.example.com', '{}') returning id"))
    pg.sql("insert into public.member_settings (user_id) values (%s)", (user,))
    fuel = pg.value("insert into public.expense_categories (user_id, name) values (%s, 'Fuel') returning id", (user,))
    today = date.today()
    pg.sql("insert into public.expenses (user_id, category_id, amount_minor, currency, spent_on)"
           " select %s, %s, 100 + g * 7, 'GBP', %s::date - (g %% 120) from generate_series(1, 200) g",
           (user, fuel, today))
    pg.sql("insert into public.budgets (user_id, category_id, period, amount_minor, currency, rollover, starts_on)"
           " values (%s, %s, 'monthly', 30000, 'GBP', 'rollover', %s)", (user, fuel, today - timedelta(days=120)))
    token = auth.mint(config.settings(), role="authenticated", sub=user, email="pam@bench.example.com",
                      ttl_seconds=3600)
    return user, token


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--warmup-turns", type=int, default=6)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    if not 1 <= args.turns <= 1000:
        parser.error("bounded runs only: turns 1..1000")
    with Bench(time_limit=300) as bench:
        pg = bench.main
        llm = ai_runtime.start_llm(bench.tmp)
        bench.standins = llm
        bench.functions = common.start_served("functions", {
            "DATABASE_URL": pg.url, "AI_BASE_URL": f"{llm.url}/v1", "AI_MODEL": ai_runtime.MODEL,
            "AI_API_KEY": ai_runtime.LLM_KEY, "AI_REQUESTS_PER_MINUTE": "1000000", "AI_DAILY_TOKENS": "1000000000"},
            bench.tmp)
        control = ai_runtime.Control(llm.url)
        control.latency(args.latency_ms / 1000)
        user, token = member(pg)
        http = httpx.Client(base_url=f"{bench.functions.url}/functions/v1", timeout=60,
                            headers={"authorization": f"Bearer {token}"})
        sdk = ai_runtime.sdk_client(llm.url)
        a_times: list[float] = []
        b_times: list[float] = []
        conversation = None
        say(f"{args.warmup_turns} + {args.turns} sequential turns, stand-in latency {args.latency_ms:.0f} ms")
        for i in range(args.warmup_turns + args.turns):
            if i % 3 == 0:  # a new conversation every 3 turns: its first turn opens it (not measured)
                opened = http.post("/pam", json={"message": "Hello PAM"})
                opened.raise_for_status()
                conversation = opened.json()["conversation_id"]
            control.script(conversation, [{"tool": "budget_status", "args": {}}, {"reply": REPLY}])
            t0 = time.perf_counter()
            r = http.post("/pam", json={"message": "How is my fuel budget?", "conversation_id": conversation})
            b = time.perf_counter() - t0
            if r.status_code != 200 or r.json()["reply"] != REPLY or r.json()["tool_calls"] != [
                    {"name": "budget_status", "ok": True}]:
                raise RuntimeError(f"unexpected PAM answer: {r.status_code} {r.text[:300]}")
            bodies = control.requests_for(conversation)[-2:]
            control.script("bare", [{"tool": "budget_status", "args": {}}, {"reply": REPLY}])
            first, second = (dict(body, user="bare") for body in bodies)
            t0 = time.perf_counter()
            r1 = sdk.chat.completions.create(**first, timeout=30)
            r2 = sdk.chat.completions.create(**second, timeout=30)
            a = time.perf_counter() - t0
            if [c.function.name for c in r1.choices[0].message.tool_calls or []] != ["budget_status"] \
                    or r2.choices[0].message.content != REPLY:
                raise RuntimeError("unexpected bare answers")
            if i >= args.warmup_turns:
                a_times.append(a * 1000)
                b_times.append(b * 1000)
        saved = pg.value("select count(*) from public.pam_conversations where user_id = %s", (user,))
        pct = ai_runtime.pct
        a50, b50 = pct(a_times, 0.5), pct(b_times, 0.5)
        print(f"# pam benchmark · {bench.describe()}")
        print(f"{args.turns} PAM turns (2 model calls each, stand-in latency {args.latency_ms:.0f} ms):"
              f" p50 {b50:.1f} ms, p95 {pct(b_times, 0.95):.1f} ms")
        print(f"the same model calls straight to the stand-in: p50 {a50:.1f} ms, p95 {pct(a_times, 0.95):.1f} ms")
        print(f"overhead per turn: p50 {b50 - a50:.1f} ms; ratio (b - a) / a {(b50 - a50) / a50:.3f}")
        print(f"correctness: conversations saved {saved} (expected {-(-(args.warmup_turns + args.turns) // 3)})")
        control.close()
        http.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
