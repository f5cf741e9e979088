"""The HTTP contract of the functions: what each declares, and the OpenAPI 3.1 document built from it.

Each function declares its operations beside its handler:

    @functions_framework.http
    @http.function(methods=("GET", "POST"), operations=[
        contract.Operation("POST", summary="Chat", body=ChatRequest, auth="user"),
        contract.Operation("GET", "/sessions/{session_id}", summary="One session", answer=Session, auth="user"),
    ])
    def main(call: http.Call): ...

Paths are inside the function, in OpenAPI's template syntax ("/" is the function itself). Bodies,
query strings and answers are the pydantic models the handler really parses and returns
(`call.json(Model)`, `call.query(Model)`), so the document cannot say something the code does not.
`document()` builds the OpenAPI 3.1 document of all of them (scripts/gen_openapi.py writes it to
functions/openapi/openapi.json; tests/foundation/test_openapi.py fails when that file drifts, and
tests/foundation/test_fuzz.py runs schemathesis over every operation against it).

Every operation may answer the one error shape, {"error": {"code", "message", "details"}}
(shared/platform/errors.py, ERRORS.md): the usual statuses are listed and `default` covers the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, RootModel, TypeAdapter

Auth = Literal["anon", "user", "service", "signature", "none"]
JSON = "application/json"
REF = "#/components/schemas/"
ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 422, 429, 502, 503)
IMAGES = ("image/jpeg", "image/png", "image/webp")

# Any JSON object: a provider's webhook payload, or an answer whose shape is the database's to decide.
ANY_OBJECT: dict = {"type": "object"}

AUTH_TEXT = {
    "anon": "A Supabase JWT: the anon key is enough (a guest), a user's token acts as that user.",
    "user": "A signed-in user's Supabase JWT (401 without one).",
    "service": "The service-role key (cron and internal callers; 403 service_role_only for anyone else).",
    "signature": "No JWT: the provider's signature over the request is the authentication.",
    "none": "No sign-in.",
}


@dataclass(frozen=True)
class Operation:
    """One method and path of a function.

    body / answer: a pydantic model, or any type pydantic's TypeAdapter takes (a discriminated union);
    None: no JSON body / an answer described only by its media type (any JSON object for JSON).
    body_media: the body's media types; for anything but JSON the body is raw bytes (an image upload)
    or a form (application/x-www-form-urlencoded). media: the success answer's media types, the first
    carrying `answer` when it is JSON; None: no body (a redirect). also: other answers that are not
    the error shape, status -> media type (a page shown to a person for a refusal).
    params: schemas of path parameters, for those that are not ids (an id is any `id` or `*_id`: a UUID).
    headers: optional request headers the operation reads, name -> schema.
    """

    method: str
    path: str = "/"
    summary: str = ""
    body: Any = None
    query: type[BaseModel] | None = None
    answer: Any = None
    status: int = 200
    media: str | tuple[str, ...] | None = JSON
    auth: Auth = "anon"
    body_media: str | tuple[str, ...] = JSON
    body_required: bool = True
    also: Mapping[int, str] = field(default_factory=dict)
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"an operation's path starts with '/': {self.path!r}")
        if self.method.upper() != self.method:
            raise ValueError(f"methods are upper case: {self.method!r}")


ERROR_SCHEMA: dict = {
    "type": "object",
    "description": "The one error shape every function answers (ERRORS.md lists every code).",
    "additionalProperties": False,
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable and machine-readable: match on it."},
                "message": {"type": "string", "description": "For people."},
                "details": {"description": "Field errors, limits or ids; null when there is nothing to add."},
            },
        },
    },
}


def _as_tuple(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel) and not issubclass(tp, RootModel)


@dataclass
class _Unit:
    """One generated schema (a body, query or answer) with the definitions it references."""

    function: str
    mode: str
    root: dict
    defs: dict[str, dict]


def _generate(function: str, tp: Any, mode: str) -> _Unit:
    schema = TypeAdapter(tp).json_schema(ref_template=REF + "{model}", mode=mode)
    defs = schema.pop("$defs", {})
    if _is_model(tp) and "$ref" not in schema:
        defs[tp.__name__] = schema
        schema = {"$ref": REF + tp.__name__}
    elif not _is_model(tp):
        schema.pop("title", None)  # a RootModel's or Union's generated title is its Python spelling
    return _Unit(function, mode, schema, defs)


def _refs(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith(REF):
                yield item[len(REF):]
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _rewrite(value: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: (REF + names[v[len(REF):]] if k == "$ref" and isinstance(v, str) and v.startswith(REF)
                    and v[len(REF):] in names else _rewrite(v, names)) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, names) for v in value]
    return value


def _closure(unit: _Unit, name: str) -> str:
    """A definition with everything it references, as canonical text: two units share a component
    name only when this is equal."""
    seen: dict[str, dict] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in unit.defs:
            continue
        seen[current] = unit.defs[current]
        todo.extend(_refs(unit.defs[current]))
    return json.dumps(seen, sort_keys=True)


def _name_components(units: list[_Unit]) -> dict[str, dict]:
    """Merge every unit's definitions into components.schemas. A model keeps its own name unless
    models of that name differ (two functions' `Query`, or a model's input and output forms); those
    are named `<function>.<Name>`, then `<function>.<Name>-<Input|Output>`."""
    levels = (
        lambda u, n: n,
        lambda u, n: f"{u.function}.{n}",
        lambda u, n: f"{u.function}.{n}-{'Input' if u.mode == 'validation' else 'Output'}",
    )
    chosen: dict[tuple[int, str], str] = {}
    pending = [(i, name) for i, unit in enumerate(units) for name in unit.defs]
    for level in levels:
        by_name: dict[str, set[str]] = {}
        for i, name in pending:
            by_name.setdefault(level(units[i], name), set()).add(_closure(units[i], name))
        still = []
        for i, name in pending:
            candidate = level(units[i], name)
            if len(by_name[candidate]) == 1:
                chosen[(i, name)] = candidate
            else:
                still.append((i, name))
        pending = still
    if pending:
        raise ValueError(f"models named alike cannot be told apart: {sorted({n for _, n in pending})}")
    components: dict[str, dict] = {}
    for i, unit in enumerate(units):
        names = {name: chosen[(i, name)] for name in unit.defs}
        unit.root = _rewrite(unit.root, names)
        for name, schema in unit.defs.items():
            components[names[name]] = _rewrite(schema, names)
    return components


def _operation_id(function: str, op: Operation) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", f"{function} {op.method} {op.path}").strip("_").lower()


def _path_params(op: Operation) -> list[dict]:
    params = []
    for name in re.findall(r"{([^}]+)}", op.path):
        if name in op.params:
            schema = dict(op.params[name])
        elif name == "id" or name.endswith("_id"):
            schema = {"type": "string", "format": "uuid"}
        else:
            schema = {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _query_params(unit: _Unit | None, components: Mapping[str, dict]) -> list[dict]:
    """One parameter per field of the query model (by its alias: `from`, `to`)."""
    if unit is None:
        return []
    schema = unit.root
    if "$ref" in schema:  # the model itself: its properties are the parameters
        schema = components[schema["$ref"][len(REF):]]
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _without_null(schema: dict) -> dict:
    """An optional query parameter's schema without pydantic's `null` branch: leaving it out is how a
    query string says nothing (there is no null in a URL)."""
    schema = dict(schema)
    options = schema.get("anyOf")
    if not options or {"type": "null"} not in options:
        return schema
    rest = [option for option in options if option != {"type": "null"}]
    del schema["anyOf"]
    if schema.get("default", ...) is None:
        del schema["default"]
    return {**schema, **rest[0]} if len(rest) == 1 else {**schema, "anyOf": rest}


def _content(media: tuple[str, ...], schema: dict | None) -> dict:
    content = {}
    for kind in media:
        if kind == JSON:
            content[kind] = {"schema": schema if schema is not None else ANY_OBJECT}
        elif kind.startswith("image/") or kind == "application/octet-stream":
            content[kind] = {"schema": {"type": "string", "format": "binary"}}
        elif kind == "application/x-www-form-urlencoded":
            content[kind] = {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}
        else:
            content[kind] = {"schema": {"type": "string"}}
    return content


def document(functions: Mapping[str, Iterable[Operation]], *, title: str = "Bookwell functions",
             version: str = "0.1.0", description: str = "") -> dict:
    """The OpenAPI 3.1.0 document of every function's operations (keys sorted by the caller's dump)."""
    ops = [(name, op) for name in sorted(functions) for op in functions[name]]
    units: list[_Unit] = []
    slots: list[dict[str, int]] = []
    for name, op in ops:
        slot: dict[str, int] = {}
        for role, tp, mode in (("body", op.body, "validation"), ("query", op.query, "validation"),
                               ("answer", op.answer, "serialization")):
            if tp is not None:
                slot[role] = len(units)
                units.append(_generate(name, tp, mode))
        slots.append(slot)
    components = _name_components(units)
    if "Error" in components:
        raise ValueError("a model may not be called Error: the error shape's component has that name")
    components["Error"] = ERROR_SCHEMA

    paths: dict[str, dict] = {}
    seen: set[tuple[str, str]] = set()
    for (name, op), slot in zip(ops, slots):
        path = f"/{name}" + ("" if op.path == "/" else op.path)
        if (path, op.method) in seen:
            raise ValueError(f"{op.method} {path} is declared twice")
        seen.add((path, op.method))
        parameters = _path_params(op)
        parameters += _query_params(units[slot["query"]] if "query" in slot else None, components)
        parameters += [{"name": header, "in": "header", "required": False, "schema": dict(schema)}
                       for header, schema in op.headers.items()]
        responses: dict[str, Any] = {str(status): {"$ref": "#/components/responses/Error"}
                                     for status in ERROR_STATUSES}
        responses["default"] = {"$ref": "#/components/responses/Error"}
        answer_schema = units[slot["answer"]].root if "answer" in slot else None
        success: dict[str, Any] = {"description": op.summary or "Done"}
        if op.media:
            success["content"] = _content(_as_tuple(op.media), answer_schema)
        if 300 <= op.status < 400:
            success["headers"] = {"Location": {"description": "Where the browser goes next",
                                               "schema": {"type": "string"}}}
        responses[str(op.status)] = success
        for status, media in op.also.items():
            responses[str(status)] = {"description": "A page for a person, not the error shape",
                                      "content": _content((media,), None)}
        operation: dict[str, Any] = {
            "operationId": _operation_id(name, op),
            "tags": [name],
            "summary": op.summary,
            "responses": responses,
            "security": [{"bearer": []}] if op.auth in ("anon", "user", "service") else [],
            "x-bookwell-auth": op.auth,
        }
        text = " ".join(filter(None, (op.description, AUTH_TEXT[op.auth])))
        operation["description"] = text
        if parameters:
            operation["parameters"] = parameters
        body_media = _as_tuple(op.body_media)
        if op.body is not None or body_media != (JSON,):
            schema = units[slot["body"]].root if "body" in slot else None
            operation["requestBody"] = {"required": op.body_required, "content": _content(body_media, schema)}
        paths.setdefault(path, {})[op.method.lower()] = operation

    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": "/functions/v1"}],
        "tags": [{"name": name} for name in sorted(functions)],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {"Error": {"description": "The one error shape",
                                    "content": {JSON: {"schema": {"$ref": REF + "Error"}}}}},
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A Supabase JWT: the anon key, a signed-in user's access token or the "
                               "service-role key, as each operation says (x-bookwell-auth).",
            }},
        },
    }


def dumps(doc: dict) -> str:
    """The document as checked in: sorted keys, two-space indents, a trailing newline."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
