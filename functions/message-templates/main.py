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
from datetime import datetime
from typing import Literal

import functions_framework
from pydantic import BaseModel, ConfigDict, Field

import shared.areas  # noqa: F401  every area's message kinds
from shared.comms import templates
from shared.platform import contract, db, errors, http


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


class KindInfo(BaseModel):
    kind: str
    purpose: str
    channels: list[str]
    variables: dict[str, str] = Field(description="name -> what it holds")
    defaults: dict[str, dict[str, str]] = Field(description="channel -> part -> the default template")


class Kinds(BaseModel):
    kinds: list[KindInfo]


class SmsCost(BaseModel):
    encoding: str = Field(description="GSM-7 or UCS-2")
    units: int
    segments: int


class Template(BaseModel):
    kind: str
    channel: str
    template: dict[str, str | None] = Field(description="part -> template (email: subject, html, text; sms: body)")
    source: Literal["org", "default"]
    updated_at: datetime | None = None
    cost: SmsCost | None = Field(None, description="SMS: what the sample costs to send")


class Deleted(BaseModel):
    deleted: bool
    kind: str
    channel: str


class Rendered(BaseModel):
    kind: str
    channel: str
    rendered: dict[str, str]
    cost: SmsCost | None = None


def _parts(model: BaseModel, channel: str) -> dict[str, str | None]:
    return {part: getattr(model, part) for part in templates.PARTS[channel]}


def _check(kind: templates.Kind, channel: str, parts: dict) -> None:
    """templates.check, and a template that fails at render time in a way Jinja does not name (a division by
    zero, a filter given nonsense, a loop over a number) is the template's fault too: 422 template_error
    naming the part, never a 500."""
    try:
        templates.check(kind, channel, parts)
    except errors.DomainError:
        raise
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        part = _failing_part(kind, channel, parts)
        raise errors.unprocessable("template_error", f"The {part or 'template'} does not render: {reason}"[:300],
                                   {"part": part}) from None


def _failing_part(kind: templates.Kind, channel: str, parts: dict) -> str | None:
    """The first part that fails to render (parts render in order, each seeing those before it)."""
    order = templates.PARTS[channel]
    for i, part in enumerate(order):
        try:
            templates.render(kind, channel, {p: parts.get(p) if j <= i else "" for j, p in enumerate(order)},
                             kind.sample)
        except Exception:
            return part
    return None


def _answer(kind: templates.Kind, channel: str, parts: dict, **extra) -> dict:
    answer = {"kind": kind.name, "channel": channel, "template": parts, **extra}
    if channel == "sms":  # what the sample costs to send
        answer["cost"] = templates.sms_cost(templates.render(kind, "sms", parts, kind.sample)["body"])
    return answer


@functions_framework.http
@http.function(methods=("GET", "PUT", "DELETE", "POST"), operations=[
    contract.Operation("GET", "/kinds", summary="Every message kind: channels, variables, purpose, defaults",
                       answer=Kinds, auth="user"),
    contract.Operation("GET", summary="The template in use: the org's or the default", query=Which,
                       answer=Template, auth="user"),
    contract.Operation("PUT", summary="Save the org's own template", body=Saved, answer=Template, auth="user"),
    contract.Operation("DELETE", summary="Back to the default", query=Which, answer=Deleted, auth="user"),
    contract.Operation("POST", "/preview", summary="Render with sample values (SMS with their cost)", body=Preview,
                       answer=Rendered, auth="user"),
])
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
        _check(kind, req.channel, parts)
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
        _check(kind, req.channel, parts)
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
