"""PAM, the member's assistant.

    POST /functions/v1/pam                         {message, conversation_id?} -> reply, proposals, usage
                                                   (Accept: text/event-stream: server-sent events as the turn
                                                   runs: `tool` as each tool finishes, `delta` pieces of the
                                                   reply, `done` with the conversation id, proposals and usage;
                                                   a failure after a tool ran is an `error` event)
    GET  /functions/v1/pam/conversations           the member's conversations
    GET  /functions/v1/pam/conversations/<id>      one, with its messages
    POST /functions/v1/pam/proposals/<id>/confirm  write the expense PAM proposed (the member's say-so)

A signed-in member; every tool acts as them under RLS. 503 without an AI provider, 429 over the rate limit
or token budget, 502 when the provider fails (nothing saved, nothing written). See shared/member/pam.py.
"""

import re

import functions_framework

from shared.member import pam
from shared.platform import db, errors, http

CONVERSATION = re.compile(r"^/conversations/(?P<id>[^/]+)/?$")
CONFIRM = re.compile(r"^/proposals/(?P<id>[^/]+)/confirm/?$")


@functions_framework.http
@http.function(methods=("GET", "POST"))
def main(call: http.Call):
    call.require_user()
    path, method = call.path.rstrip("/") or "/", call.method
    if path == "/" and method == "POST":
        req = call.json(pam.ChatRequest)
        if http.prefers(call.request, "text/event-stream"):
            return http.Response(pam.stream(call.caller, req, settings=call.settings), content_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})
        return pam.chat(call.caller, req, settings=call.settings)
    if path == "/conversations" and method == "GET":
        return pam.conversations(call.caller)
    if (match := CONVERSATION.match(path)) and method == "GET":
        return pam.conversation(call.caller, http.path_uuid(match["id"], "conversation"))
    if (match := CONFIRM.match(path)) and method == "POST":
        with db.transaction(call.caller) as cur:
            cur.execute("select public.confirm_expense_proposal(%s) as expense_id",
                        (http.path_uuid(match["id"], "proposal"),))
            return cur.fetchone()
    raise errors.not_found("no_route", f"No {method} {path} in pam")
