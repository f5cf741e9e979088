"""The AI event wizard.

    POST /functions/v1/ai-wizard                         {message, session_id?, org_id?} -> reply + draft
    GET  /functions/v1/ai-wizard/sessions                my sessions
    GET  /functions/v1/ai-wizard/sessions/<id>           one session, with its messages
    POST /functions/v1/ai-wizard/sessions/<id>/abandon   close it
    POST /functions/v1/ai-wizard/tools/<name>            {org_id, args} -> a tool on its own (no model)

Chat needs an OpenAI-compatible provider (503 without one); the tools work
regardless. Every tool acts as the caller under RLS.
"""

import re

import functions_framework

from uuid import UUID

from pydantic import BaseModel

from shared.platform import contract, db, errors, http
from shared.ticketing import wizard, wizard_sessions

SESSION = re.compile(r"^/sessions/(?P<id>[^/]+)(?P<abandon>/abandon)?/?$")
TOOL = re.compile(r"^/tools/(?P<name>[a-z_]+)/?$")


class Sessions(BaseModel):
    sessions: list[dict]


class Abandoned(BaseModel):
    id: UUID
    status: str


@functions_framework.http
@http.function(methods=("GET", "POST"), operations=[
    contract.Operation("POST", summary="A turn: the reply, and the draft as the tools left it",
                       body=wizard_sessions.ChatRequest, auth="user"),
    contract.Operation("GET", "/sessions", summary="The caller's sessions", answer=Sessions, auth="user"),
    contract.Operation("GET", "/sessions/{session_id}", summary="One session, with its messages", auth="user"),
    contract.Operation("POST", "/sessions/{session_id}/abandon", summary="Close a session", answer=Abandoned,
                       auth="user"),
    contract.Operation("POST", "/tools/{name}", summary="One tool on its own, without a model",
                       body=wizard_sessions.ToolRequest, auth="user",
                       params={"name": {"type": "string", "enum": sorted(wizard.TOOLS)}}),
])
def main(call: http.Call):
    call.require_user()
    path, method = call.path.rstrip("/") or "/", call.method
    if path == "/" and method == "POST":
        return wizard_sessions.chat(call.caller, call.json(wizard_sessions.ChatRequest), settings=call.settings)
    if path == "/sessions" and method == "GET":
        with db.transaction(call.caller) as cur:
            return wizard_sessions.list_sessions(cur)
    if match := SESSION.match(path):
        session_id = http.path_uuid(match["id"], "session")
        if match["abandon"] and method == "POST":
            with db.transaction(call.caller) as cur:
                return wizard_sessions.abandon_session(cur, session_id)
        if not match["abandon"] and method == "GET":
            with db.transaction(call.caller) as cur:
                return wizard_sessions.get_session(cur, session_id)
    if (match := TOOL.match(path)) and method == "POST":
        return wizard_sessions.run_tool(call.caller, match["name"], call.json(wizard_sessions.ToolRequest))
    raise errors.not_found("no_route", f"No {method} {path} in ai-wizard")
