"""Message templates: the wording of every message kind, which an org may override.

A message kind (the outbox `template` name) is registered by its area with the
variables it offers, sample values for previews, a `context` function that
computes the variables of one queued message, and the product's default
templates per channel. An org's override (public.message_templates) replaces a
default; it is checked before it is saved: a variable the kind does not offer
is refused by name, and so is anything that fails to render with the sample
values.

Rendering uses Jinja's sandbox (no attribute of Python internals, no calls to
unsafe methods) with undefined variables as errors. HTML is auto-escaped, so a
customer named `<script>` or `{{ org.secret }}` is text, never markup or
template; the plain-text parts and SMS are not escaped (they are not HTML).
The email HTML is placed in the product's email layout.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jinja2
import psycopg
from jinja2 import meta, nodes
from jinja2.ext import Extension
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from shared.platform import errors, formatting, log
from shared.providers.mail import Email, InlineImage, layout
from shared.providers.sms import segments

EMAIL_PARTS = ("subject", "html", "text")
SMS_PARTS = ("body",)
PARTS = {"email": EMAIL_PARTS, "sms": SMS_PARTS}
# The rendered subject is offered to the html and text parts as `subject`.
DERIVED = {"html": {"subject"}, "text": {"subject"}}

MAX_OUTPUT = 200_000    # characters one part may render to
MAX_LOOP = 1_000        # what range() may count to in a template
MAX_ITERATIONS = 10_000  # loop iterations one render may make, all loops together
MAX_REPEAT = 10_000     # characters a string (or items a list) times n may make
MAX_POWER = (1_000, 64)  # largest base and exponent of **


# The iterations of the render in progress (set by _bounded_render, counted by _LoopBudget).
_iterations: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_iterations")


class _LoopBudget(Extension):
    """Counts every loop iteration of a render against MAX_ITERATIONS: nested loops that print nothing
    build no output for MAX_OUTPUT to stop, so three nested range(1000) loops spun for a billion turns.
    _BoundedSandbox wraps each `for` loop's sequence (and a recursive loop's `loop(...)` argument) in
    `budget`, reached through the extension so a template cannot shadow it with a variable."""

    def budget(self, sequence: Iterable[Any]) -> Iterator[Any]:
        counter = _iterations.get()
        for item in sequence:
            counter[0] += 1
            if counter[0] > MAX_ITERATIONS:
                raise SecurityError(f"more than {MAX_ITERATIONS} loop iterations")
            yield item


class _BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, bounded in what one render may build: anyone signed in may preview a template,
    so `{{ 9**9**9 }}`, `{{ "x" * 10**9 }}`, a loop over range(10**5) or loops nested a billion turns
    deep must be refused, not computed."""

    intercepted_binops = frozenset(["**", "*"])

    def __init__(self, **options: Any):
        super().__init__(extensions=[_LoopBudget], **options)
        self.globals["range"] = self._range

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        loops = list(tree.find_all(nodes.For))
        for loop in loops:
            if loop.recursive:  # `loop(children)` inside it starts the loop again on children
                for call in loop.find_all(nodes.Call):
                    if isinstance(call.node, nodes.Name) and call.node.name == "loop" and call.args:
                        call.args[0] = self._budgeted(call.args[0])
            loop.iter = self._budgeted(loop.iter)
        return tree

    @staticmethod
    def _budgeted(sequence: nodes.Expr) -> nodes.Expr:
        return nodes.Call(nodes.ExtensionAttribute(_LoopBudget.identifier, "budget"), [sequence], [], None, None,
                          lineno=sequence.lineno)

    @staticmethod
    def _range(*args: int) -> range:
        found = range(*args)
        if len(found) > MAX_LOOP:
            raise SecurityError(f"range() of more than {MAX_LOOP} items")
        return found

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and (not isinstance(left, (int, float)) or not isinstance(right, (int, float))
                                 or abs(left) > MAX_POWER[0] or abs(right) > MAX_POWER[1]):
            raise SecurityError(f"** is limited to a base of {MAX_POWER[0]} and an exponent of {MAX_POWER[1]}")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_REPEAT:
                    raise SecurityError(f"a repetition longer than {MAX_REPEAT}")
        return super().call_binop(context, operator, left, right)


_html = _BoundedSandbox(autoescape=True, undefined=jinja2.StrictUndefined)
_plain = _BoundedSandbox(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


def _env(part: str) -> SandboxedEnvironment:
    return _html if part == "html" else _plain


@functools.lru_cache(maxsize=1024)
def _compiled(part: str, source: str) -> jinja2.Template:
    """Compiling is most of a render's cost; the same wording is compiled once per process."""
    return _env(part).from_string(source)


@dataclass(frozen=True)
class Kind:
    name: str
    purpose: str                                       # transactional, promotional or alert
    variables: dict[str, str]                          # name -> what it holds (shown to editors)
    sample: dict[str, Any]                             # values for previews and checks
    context: Callable[[psycopg.Cursor, dict], dict]    # the variables of one queued message (may raise Skip)
    defaults: dict[str, dict[str, str]] = field(default_factory=dict)  # channel -> part -> template
    images: Callable[[dict], list[InlineImage]] | None = None  # inline images an email refers to by cid
    headers: Callable[[dict], dict[str, str]] | None = None    # extra email headers (List-Unsubscribe)


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    for channel, parts in kind.defaults.items():
        check(kind, channel, parts)  # a default that would be refused is a bug, found at import
    KINDS[kind.name] = kind
    return kind


def kind_named(name: str) -> Kind:
    found = KINDS.get(name)
    if found is None:
        raise errors.not_found("unknown_kind", f"No message kind {name!r}", {"kinds": sorted(KINDS)})
    return found


def check(kind: Kind, channel: str, parts: dict[str, str | None]) -> None:
    """Refuse (422) a template with a part missing, a variable the kind does not offer, or one that
    does not render with the kind's sample values."""
    if channel not in kind.defaults:
        raise errors.unprocessable("channel_not_offered", f"{kind.name} is not sent by {channel}",
                                   {"channels": sorted(kind.defaults)})
    for part in PARTS[channel]:
        source = parts.get(part)
        if not isinstance(source, str) or not source.strip():
            raise errors.unprocessable("template_part_missing", f"The {part} is required", {"part": part})
        try:
            used = meta.find_undeclared_variables(_env(part).parse(source))
        except jinja2.TemplateSyntaxError as exc:
            raise errors.unprocessable("template_error", f"The {part} does not parse: {exc.message}",
                                       {"part": part, "line": exc.lineno}) from None
        unknown = sorted(used - set(kind.variables) - DERIVED.get(part, set()))
        if unknown:
            raise errors.unprocessable("unknown_variable", f"The {part} uses {', '.join(unknown)}, which "
                                       f"{kind.name} does not offer", {"part": part, "variables": unknown,
                                                                       "offered": sorted(kind.variables)})
    render(kind, channel, parts, kind.sample)


def render(kind: Kind, channel: str, parts: dict[str, str], variables: dict[str, Any]) -> dict[str, str]:
    """The rendered parts (422 template_error when one fails)."""
    out: dict[str, str] = {}
    for part in PARTS[channel]:
        try:
            out[part] = _bounded_render(_compiled(part, parts[part]), {**variables, **out}).strip()
        except jinja2.TemplateError as exc:  # SecurityError and UndefinedError included
            raise errors.unprocessable("template_error", f"The {part} does not render: {exc}",
                                       {"part": part}) from None
    return out


def _bounded_render(template: jinja2.Template, variables: dict[str, Any]) -> str:
    """Render, refusing output past MAX_OUTPUT characters, or loops past MAX_ITERATIONS turns, as soon
    as it gets there."""
    pieces, size = [], 0
    counting = _iterations.set([0])
    try:
        for piece in template.generate(variables):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise SecurityError(f"the output is longer than {MAX_OUTPUT} characters")
            pieces.append(piece)
    except RecursionError:  # a macro or recursive loop calling itself without end
        raise SecurityError("the template calls itself too deeply") from None
    finally:
        _iterations.reset(counting)
    return "".join(pieces)


def heading_and_paragraphs(subject: str, *paragraphs: str | tuple[str, str],
                           heading: str = "{{ subject }}") -> dict[str, str]:
    """Default email parts in the house style: a heading (the subject unless given), then one
    paragraph each; a (variable, paragraph) pair appears only when that variable is set."""
    html = [f'<h1 style="margin:0 0 12px;font-size:22px">{heading}</h1>']
    text = heading
    for paragraph in paragraphs:
        if isinstance(paragraph, tuple):
            variable, body = paragraph
            html.append(f"{{% if {variable} %}}<p>{body}</p>{{% endif %}}")
            text += f"{{% if {variable} %}}\n\n{body}{{% endif %}}"
        else:
            html.append(f"<p>{paragraph}</p>")
            text += f"\n\n{paragraph}"
    return {"subject": subject, "html": "\n".join(html), "text": text}


def sms_cost(body: str) -> dict:
    found = segments(body)
    return {"encoding": found.encoding, "units": found.units, "segments": found.segments}


def effective(cur: psycopg.Cursor, kind: Kind, channel: str, org_id: str | None,
              language: str = "en") -> tuple[dict[str, str], str]:
    """The org's override if it has one, else the default: (parts, "org" | "default")."""
    if org_id:
        cur.execute("select * from private.message_template_for(%s, %s, %s, %s)",
                    (org_id, kind.name, channel, language))
        row = cur.fetchone()
        if row and row["id"]:
            return {p: row[p] for p in PARTS[channel]}, "org"
    return dict(kind.defaults[channel]), "default"


def compose(cur: psycopg.Cursor, kind: Kind, row: dict, variables: dict | None = None) -> dict[str, str]:
    """A queued message's rendered parts, from the org's override, or the default should it fail."""
    if variables is None:
        with formatting.writing_in(row.get("language")):
            variables = kind.context(cur, row)
    parts, source = effective(cur, kind, row["channel"], row.get("org_id"), row.get("language") or "en")
    try:
        return render(kind, row["channel"], parts, variables)
    except errors.DomainError:
        if source == "default":
            raise
        log.event("template_fell_back", kind=kind.name, channel=row["channel"], org_id=str(row.get("org_id")))
        return render(kind, row["channel"], kind.defaults[row["channel"]], variables)


def email(cur: psycopg.Cursor, kind: Kind, row: dict) -> Email:
    """A queued email: its rendered parts in the house layout, with the kind's inline images."""
    with formatting.writing_in(row.get("language")):  # money and times as the reader writes them
        variables = kind.context(cur, row)
    rendered = compose(cur, kind, row, variables)
    return Email(row["recipient"], rendered["subject"], layout(rendered["subject"], rendered["html"]),
                 rendered["text"], kind.images(variables) if kind.images else [],
                 kind.headers(variables) if kind.headers else {})
