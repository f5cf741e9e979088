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

from uuid import UUID

from pydantic import BaseModel

from shared.member import pam
from shared.platform import contract, db, errors, http

CONVERSATION = re.compile(r"^/conversations/(?P<id>[^/]+)/?$")
CONFIRM = re.compile(r"^/proposals/(?P<id>[^/]+)/confirm/?$")


class Conversations(BaseModel):
    conversations: list[dict]


class Confirmed(BaseModel):
    expense_id: UUID


@functions_framework.http
@http.function(methods=("GET", "POST"), operations=[
    contract.Operation("POST", summary="A turn with PAM: the reply and any expense proposed (JSON, or "
                                       "server-sent events with Accept: text/event-stream)",
                       body=pam.ChatRequest, media=(contract.JSON, "text/event-stream"), auth="user"),
    contract.Operation("GET", "/conversations", summary="The member's conversations", answer=Conversations,
                       auth="user"),
    contract.Operation("GET", "/conversations/{conversation_id}", summary="One conversation, with its messages",
                       auth="user"),
    contract.Operation("POST", "/proposals/{proposal_id}/confirm", summary="Write the expense PAM proposed",
                       answer=Confirmed, auth="user"),
])
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
