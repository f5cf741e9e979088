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

from shared.platform import db, errors, http
from shared.ticketing import wizard_sessions

SESSION = re.compile(r"^/sessions/(?P<id>[^/]+)(?P<abandon>/abandon)?/?$")
TOOL = re.compile(r"^/tools/(?P<name>[a-z_]+)/?$")


@functions_framework.http
@http.function(methods=("GET", "POST"))
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
