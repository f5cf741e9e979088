"""The per-user rate limit and daily token budget, kept in Postgres so that
every function instance agrees (private.ai_reserve / ai_record_tokens)."""

from __future__ import annotations

from shared.platform import db
from shared.platform.config import Settings


def reserve(caller: db.Caller, settings: Settings) -> dict:
    """Take one request from the caller's allowance, or raise 429."""
    with db.transaction(caller) as cur:
        cur.execute("select private.ai_reserve(%s, %s) as allowance",
                    (settings.ai.requests_per_minute, settings.ai.daily_tokens))
        return cur.fetchone()["allowance"]


def record(caller: db.Caller, tokens: int) -> None:
    with db.transaction(caller) as cur:
        cur.execute("select private.ai_record_tokens(%s)", (tokens,))
