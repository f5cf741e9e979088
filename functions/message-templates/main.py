"""/functions/v1/message-templates: the wording of each message kind, per org.

    GET    /kinds                                   every kind: channels, variables, purpose, defaults
    GET    /?org_id=&kind=&channel=[&language=en]   the template in use: the org's or the default
    PUT    /  {org_id, kind, channel, language?, subject, html, text | body}   save the org's own
    DELETE /?org_id=&kind=&channel=[&language=en]   back to the default
    POST   /preview  {kind, channel, subject?, html?, text? | body?}         render with sample values

A signed-in user; reading, saving and deleting an org's templates is for its
owners and admins (403 not_an_admin). A template naming a variable its kind
does not offer is refused (422 unknown_variable, naming them), and so is one
that does not parse or render with the kind's sample values (422
template_error), e.g. one reaching for Python internals. SMS answers carry
their cost: encoding (GSM-7 or UCS-2) and segments.
"""

from __future__ import annotations

import uuid
from typing import Literal

import functions_framework
from pydantic import BaseModel, ConfigDict, Field

import shared.areas  # noqa: F401  every area's message kinds
from shared.comms import templates
from shared.platform import db, errors, http

class Which(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_id: uuid.UUID
    kind: str = Field(max_length=60)
    channel: Literal["email", "sms"]
    language: str = Field("en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")


class Saved(Which):
    subject: str | None = Field(None, max_length=500)
    html: str | None = Field(None, max_length=100000)
    text: str | None = Field(None, max_length=50000)
    body: str | None = Field(None, max_length=1600)


class Preview(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(max_length=60)
    channel: Literal["email", "sms"]
    subject: str | None = Field(None, max_length=500)
    html: str | None = Field(None, max_length=100000)
    text: str | None = Field(None, max_length=50000)
    body: str | None = Field(None, max_length=1600)




def _parts(model: BaseModel, channel: str) -> dict[str, str | None]:
    return {part: getattr(model, part) for part in templates.PARTS[channel]}


def _answer(kind: templates.Kind, channel: str, parts: dict, **extra) -> dict:
    answer = {"kind": kind.name, "channel": channel, "template": parts, **extra}
    if channel == "sms":  # what the sample costs to send
        answer["cost"] = templates.sms_cost(templates.render(kind, "sms", parts, kind.sample)["body"])
    return answer


@functions_framework.http
@http.function(methods=("GET", "PUT", "DELETE", "POST"))
def main(call: http.Call):
    call.require_user()
    route, method = call.path.rstrip("/") or "/", call.method
    if route == "/kinds" and method == "GET":
        return {"kinds": [{"kind": k.name, "purpose": k.purpose, "channels": sorted(k.defaults),
                           "variables": k.variables, "defaults": k.defaults} for k in templates.KINDS.values()]}
    if route == "/preview" and method == "POST":
        req = call.json(Preview)
        kind = templates.kind_named(req.kind)
        given = _parts(req, req.channel)
        parts = given if any(given.values()) else kind.defaults.get(req.channel, given)
        templates.check(kind, req.channel, parts)
        rendered = templates.render(kind, req.channel, parts, kind.sample)
        answer = {"kind": kind.name, "channel": req.channel, "rendered": rendered}
        if req.channel == "sms":
            answer["cost"] = templates.sms_cost(rendered["body"])
        return answer
    if route != "/":
        raise errors.not_found("no_route", f"No {method} {call.path} in message-templates")
    if method == "PUT":
        req = call.json(Saved)
        kind = templates.kind_named(req.kind)
        parts = _parts(req, req.channel)
        templates.check(kind, req.channel, parts)
        stored = {p: parts.get(p) for p in ("subject", "html", "text", "body")}  # the other channel's: null
        with db.transaction(call.caller) as cur:  # Postgres refuses anyone but the org's owners and admins
            cur.execute("select * from private.save_message_template(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        (req.org_id, kind.name, req.channel, req.language, stored["subject"], stored["html"],
                         stored["text"], stored["body"], call.user_id))
            saved = cur.fetchone()
        return _answer(kind, req.channel, parts, source="org", updated_at=saved["updated_at"])
    which = call.query(Which)
    kind = templates.kind_named(which.kind)
    if which.channel not in kind.defaults:
        raise errors.unprocessable("channel_not_offered", f"{kind.name} is not sent by {which.channel}")
    if method == "GET":
        with db.transaction(call.caller) as cur:
            cur.execute("select private.require_template_editor(%s)", (which.org_id,))
        with db.as_service() as cur:
            parts, source = templates.effective(cur, kind, which.channel, str(which.org_id), which.language)
        return _answer(kind, which.channel, parts, source=source)
    if method == "DELETE":
        with db.transaction(call.caller) as cur:
            cur.execute("select private.delete_message_template(%s, %s, %s, %s) as deleted",
                        (which.org_id, kind.name, which.channel, which.language))
            return {"deleted": cur.fetchone()["deleted"], "kind": kind.name, "channel": which.channel}
    raise errors.DomainError(405, "method_not_allowed", "Use GET, PUT or DELETE")
