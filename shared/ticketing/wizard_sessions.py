"""AI event wizard conversations: one `wizard_sessions` row each.

A turn: check the provider is configured (else 503), reserve the caller's
allowance in Postgres (429 when over the rate limit or the daily token
budget), load or open the session under RLS, run the agent loop with the
wizard's tools bound to the session's organization and acting as the caller,
then save the new messages, the draft and the token usage. A provider failure
(502) saves nothing: the session stays as it was before the turn.

The organization is never a tool argument: it is the session's, so neither
the user nor a prompt injection can point a tool at another organization,
and RLS refuses anything the caller may not do anyway.

Error codes: ai_not_configured (503), rate_limited / token_budget_exhausted
(429), session_not_found (404), session_closed (409), not_an_event_manager
(403), ai_provider_error (502), unknown_tool (404), invalid_arguments (422).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from uuid import UUID

import openai
import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from shared.platform import db, errors, flags
from shared.ticketing import wizard
from shared.providers.ai import Limits, Tool, Toolset, run_turn
from shared.providers.ai import budget, provider
from shared.platform.config import Settings

SYSTEM_PROMPT = """You are Bookwell's event wizard. You help an organiser of {org_name} draft an event:
title, date and time, venue and ticket tiers, and a budget. Today is {today} ({timezone}); prices are in
{currency} minor units (pence/cents). Use the tools: suggest_venues to find free venues of this
organization, calculate_budget for the numbers (never do arithmetic yourself), and save_event_draft to
save the draft (it stays a draft until the organiser publishes it). Ask for what you need; be brief.
The current draft: {draft}"""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=4000)
    session_id: UUID | None = None
    org_id: UUID | None = Field(default=None, description="the organization of a new session; may be left out "
                                                          "by someone who manages events in exactly one")


class ToolRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_id: UUID
    session_id: UUID | None = None
    args: dict = Field(default_factory=dict)


@dataclass
class Bound:
    """What the wizard's tools see during one turn."""

    caller: db.Caller
    context: wizard.WizardContext
    draft: dict


def toolset() -> Toolset[Bound]:
    def bind(name: str, fn) -> Tool[Bound]:
        description, args_model, _ = wizard.TOOLS[name]

        def run(bound: Bound, args) -> dict:
            with db.transaction(bound.caller) as cur:
                out = fn(cur, bound.context, args)
            if name == "save_event_draft":
                bound.context = replace(bound.context, event_id=str(out["event_id"]))
                bound.draft["event"] = out
            elif name == "calculate_budget":
                bound.draft["budget"] = {k: out[k] for k in out if k != "working"}
            return out

        return Tool(name, description, args_model, run)

    return Toolset([bind(name, spec[2]) for name, spec in wizard.TOOLS.items()])


def _session(cur, session_id: UUID | str) -> dict:
    cur.execute("select * from public.wizard_sessions where id = %s", (session_id,))
    row = cur.fetchone()
    if row is None:
        raise errors.not_found("session_not_found", "No such wizard session")
    return row


def _open(cur, caller: db.Caller, org_id: UUID, title: str) -> dict:
    cur.execute(
        "insert into public.wizard_sessions (org_id, owner_id, title) values (%s, %s, %s) returning *",
        (org_id, caller.user_id, title[:200]))
    return cur.fetchone()


def _only_org(cur, caller: db.Caller) -> UUID:
    """The one organization the caller manages events in (owner, admin or manager), for a new session
    opened without org_id; 403 when there is none, 422 listing them when there are several."""
    cur.execute("select m.org_id, o.name from public.memberships m join public.organizations o on o.id = m.org_id"
                " where m.user_id = %s and m.role in ('owner', 'admin', 'manager') order by o.name",
                (caller.user_id,))
    orgs = cur.fetchall()
    if not orgs:
        raise errors.forbidden("not_an_event_manager", "Only event managers of an organization use the wizard")
    if len(orgs) > 1:
        raise errors.unprocessable(
            "invalid_request", "You manage events in several organizations: say which with org_id",
            [{"field": "org_id", "message": "choose one", "choices": [
                {"org_id": str(o["org_id"]), "name": o["name"]} for o in orgs]}])
    return orgs[0]["org_id"]


def _system_prompt(cur, session: dict, now: datetime) -> str:
    cur.execute("select name, timezone, currency from public.organizations where id = %s", (session["org_id"],))
    org = cur.fetchone() or {"name": "your organization", "timezone": "UTC", "currency": "GBP"}
    return SYSTEM_PROMPT.format(org_name=org["name"], today=now.date().isoformat(), timezone=org["timezone"],
                                currency=org["currency"], draft=json.dumps(session["draft"] or {}, default=str))


def chat(caller: db.Caller, req: ChatRequest, *, settings: Settings, client: openai.OpenAI | None = None,
         now: datetime | None = None) -> dict:
    if not caller.user_id:
        raise errors.unauthorized("not_authenticated", "Sign in first")
    client = client or provider.client(settings)
    now = now or datetime.now(timezone.utc)
    budget.reserve(caller, settings)

    with db.transaction(caller) as cur:
        if req.session_id:
            session = _session(cur, req.session_id)
            if session["status"] != "active":
                raise errors.conflict("session_closed", f"This session is {session['status']}")
        else:
            session = _open(cur, caller, req.org_id or _only_org(cur, caller), req.message)
        flags.require(cur, "ai_wizard", str(session["org_id"]))
        system = _system_prompt(cur, session, now)
    # Opening the session is committed first: a failed turn leaves an empty session, never half a turn.

    history = [m for m in session["messages"] if m.get("role") != "system"]
    user_message = {"role": "user", "content": req.message}
    bound = Bound(caller, wizard.WizardContext(
        org_id=str(session["org_id"]), session_id=str(session["id"]),
        event_id=str(session["event_id"]) if session["event_id"] else None, now=now), dict(session["draft"]))
    limits = Limits(settings.ai.max_steps, settings.ai.max_tokens_per_turn, settings.ai.timeout_seconds)
    turn = run_turn(client, settings.ai.model or "", [{"role": "system", "content": system}, *history, user_message],
                    toolset(), bound, limits, user=str(session["id"]))

    messages = [*history, user_message, *turn.messages]
    with db.transaction(caller) as cur:
        cur.execute(
            """
            update public.wizard_sessions
            set messages = %s, draft = %s, event_id = %s,
                prompt_tokens = prompt_tokens + %s, completion_tokens = completion_tokens + %s
            where id = %s
            returning id, status, draft, event_id, prompt_tokens, completion_tokens
            """,
            (Jsonb(messages), Jsonb(bound.draft), bound.context.event_id, turn.prompt_tokens,
             turn.completion_tokens, session["id"]))
        saved = cur.fetchone()
    budget.record(caller, turn.total_tokens)
    return {
        "session_id": saved["id"], "reply": turn.reply, "draft": saved["draft"], "event_id": saved["event_id"],
        "stopped": turn.stopped, "tool_calls": turn.tool_calls,
        "usage": {"prompt_tokens": turn.prompt_tokens, "completion_tokens": turn.completion_tokens,
                  "session_total": saved["prompt_tokens"] + saved["completion_tokens"]},
    }


def list_sessions(cur: psycopg.Cursor) -> dict:
    cur.execute(
        "select id, org_id, title, status, event_id, prompt_tokens, completion_tokens, created_at, updated_at"
        " from public.wizard_sessions order by updated_at desc limit 100")
    return {"sessions": cur.fetchall()}


def get_session(cur: psycopg.Cursor, session_id: str) -> dict:
    return _session(cur, session_id)


def abandon_session(cur: psycopg.Cursor, session_id: str) -> dict:
    _session(cur, session_id)
    cur.execute("update public.wizard_sessions set status = 'abandoned' where id = %s"
                " returning id, status", (session_id,))
    return cur.fetchone()


def run_tool(caller: db.Caller, name: str, req: ToolRequest, *, now: datetime | None = None) -> dict:
    """A tool on its own, for a plain form: same validation, same RLS, no model."""
    if not caller.user_id:
        raise errors.unauthorized("not_authenticated", "Sign in first")
    event_id = None
    with db.transaction(caller) as cur:
        flags.require(cur, "ai_wizard", str(req.org_id))
        if req.session_id:
            session = _session(cur, req.session_id)
            event_id = str(session["event_id"]) if session["event_id"] else None
    tools = toolset()
    _, args = tools.parse(name, req.args)
    bound = Bound(caller, wizard.WizardContext(org_id=str(req.org_id), session_id=None, event_id=event_id,
                                               now=now or datetime.now(timezone.utc)), {})
    return tools.tools[name].run(bound, args)
