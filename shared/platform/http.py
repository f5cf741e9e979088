"""The function host: what every `functions/<name>/main.py` is wrapped in.

    @functions_framework.http
    @http.function()
    def main(call: http.Call):
        body = call.json(MyRequest)          # 422 with field errors
        with db.transaction(call.caller) as cur:
            return shared.area.verb_noun(cur, ...)

The wrapper gives each request an id, answers CORS preflight for configured
origins, enforces the body size limit (413), verifies the JWT when
supabase.toml says `verify_jwt = true`, turns DomainErrors and database
refusals into `{"error": {"code", "message", "details"}}` (so too the 404s
functions-framework's own router answers before any handler runs), hides
anything else behind a generic 500 (logged with the request id), and writes
one structured JSON log line per request.

Handlers share a few helpers from here: `prefers` (Accept negotiation),
`path_uuid` (an id in the path, 404 when it is not one) and
`storage_or_503` (photo storage, 503 when it is not configured).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import flask
import psycopg
import pydantic
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

from shared.platform import auth, db, errors, log, storage
from shared.platform.config import Settings, project, settings
from shared.platform.contract import Operation
from shared.platform.db import Caller

M = TypeVar("M", bound=pydantic.BaseModel)

ALLOWED_HEADERS = "authorization, x-client-info, apikey, content-type, idempotency-key, x-request-id"
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
logger = logging.getLogger("bookwell.http")


@dataclass
class Call:
    """One request, as a handler sees it."""

    request: flask.Request
    caller: Caller
    request_id: str
    settings: Settings
    raw_body: bytes
    function: str

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def path(self) -> str:
        """The path inside the function ('/' or e.g. '/tools/suggest_venues')."""
        return self.request.path or "/"

    @property
    def user_id(self) -> str | None:
        return self.caller.user_id

    def require_user(self) -> str:
        if not self.caller.user_id:
            raise errors.unauthorized("not_authenticated", "Sign in first")
        return self.caller.user_id

    def throttle(self, *buckets: str) -> None:
        """Count this request against the rate limit of each bucket, committed at once so a
        refused request still counts (routines/platform/rate_limits.sql): 429 with Retry-After past one."""
        with db.transaction(self.caller) as cur:
            for bucket in buckets:
                cur.execute("select private.throttle(%s)", (bucket,))

    def require_service(self) -> None:
        if self.caller.role != "service_role":
            raise errors.forbidden("service_role_only", "This endpoint is for the service role")

    def limit_body(self, limit: int | None = None) -> None:
        """413 when the body is over `limit` (default settings.http.max_body_bytes)."""
        limit = self.settings.http.max_body_bytes if limit is None else limit
        if len(self.raw_body) > limit:
            raise errors.DomainError(413, "body_too_large", f"The body is larger than {limit} bytes")

    def json(self, model: type[M]) -> M:
        """Parse the JSON body into `model`; 422 with field errors otherwise."""
        try:
            data = json.loads(self.raw_body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
            raise errors.DomainError(400, "invalid_json", "The body is not valid JSON") from None
        return validate(model, data)

    def query(self, model: type[M]) -> M:
        return validate(model, dict(self.request.args))


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise errors.unprocessable(
            "invalid_request", "The request has invalid fields",
            [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
             for e in exc.errors(include_url=False, include_context=False, include_input=False)],
        ) from None


def prefers(request: flask.Request, media_type: str, *, over: str = "application/json") -> bool:
    """True when the Accept header ranks `media_type` above zero and not below `over`.

    Plain q-value ranking; a bare `*/*` counts for `over`, a hair below an
    explicit `media_type`, so `Accept: text/csv, */*` still prefers text/csv.
    """
    ranked = _accept_ranks(request.headers.get("accept") or "")
    wanted = ranked.get(media_type, 0.0)
    return wanted > 0 and wanted >= max(ranked.get(over, 0.0), ranked.get("*/*", 0.0) - 0.001)


def _accept_ranks(accept: str) -> dict[str, float]:
    ranked: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        ranked[media.lower()] = max(q, ranked.get(media.lower(), 0.0))
    return ranked


def path_uuid(segment: str, what: str) -> str:
    """A path segment that must be an id (canonical UUID, any case), lower-cased.

    Anything else is 404 invalid_id: no `what` can have that id, so the path
    names nothing (the same status as an id that exists but is not yours).
    """
    try:
        parsed = str(UUID(segment))
    except ValueError:
        parsed = None
    if parsed != segment.lower():
        raise errors.not_found("invalid_id", f"The {what} id in the path is not a UUID")
    return parsed


def storage_or_503(cfg: Settings) -> storage.Storage:
    """The configured photo storage; 503 storage_not_configured when Supabase Storage lacks its URL or key."""
    try:
        return storage.from_settings(cfg)
    except RuntimeError:
        raise errors.DomainError(503, "storage_not_configured", "Photo storage is not configured") from None


class Response:
    """A non-JSON or non-200 answer from a handler."""

    def __init__(self, body: Any = None, status: int = 200, headers: dict | None = None,
                 content_type: str | None = None):
        self.body, self.status, self.headers, self.content_type = body, status, headers or {}, content_type


def function(*, methods: tuple[str, ...] = ("POST",), name: str | None = None,
             max_body_bytes: Callable[[Settings], int] | None = None,
             operations: Sequence[Operation] = (),
             ) -> Callable[[Callable[[Call], Any]], Callable[[flask.Request], flask.Response]]:
    """Wrap a handler as a Bookwell HTTP function (see module docstring).

    `max_body_bytes(settings)` raises the body limit for a function that takes
    uploads (default: settings.http.max_body_bytes); such a handler applies the
    ordinary limit itself on its other routes (`Call.limit_body`).
    `operations` declare its HTTP contract (shared/platform/contract.py), kept
    as `main.bookwell_operations` for scripts/gen_openapi.py; nothing at
    request time reads them.
    """

    def decorate(handler: Callable[[Call], Any]) -> Callable[[flask.Request], flask.Response]:
        fn_name = name or Path(inspect.getfile(handler)).parent.name
        allowed = {m.upper() for m in methods}

        @functools.wraps(handler)
        def main(request: flask.Request) -> flask.Response:
            cfg = settings()
            log.configure(cfg.runtime.log_level)
            started = time.perf_counter()
            request_id = _request_id(request.headers.get("x-request-id"))
            caller: Caller | None = None
            try:
                if request.method == "OPTIONS":
                    response = _preflight(request, cfg)
                else:
                    if request.method not in allowed:
                        raise errors.DomainError(405, "method_not_allowed", f"Use {', '.join(sorted(allowed))}")
                    raw = _read_body(request, max_body_bytes(cfg) if max_body_bytes else cfg.http.max_body_bytes)
                    caller = replace(_identify(request, cfg, project().function(fn_name).verify_jwt),
                                     ip=client_ip(request, cfg.http.trusted_proxy_hops))
                    call = Call(request, caller, request_id, cfg, raw, fn_name)
                    response = _to_flask(handler(call))
            except errors.DomainError as exc:
                response = _error(exc)
                if exc.status == 405:
                    response.headers["allow"] = ", ".join(sorted(allowed | {"OPTIONS"}))
            except psycopg.Error as exc:
                translated = errors.from_database(exc)
                response = _error(translated) if translated else _crash(fn_name, request_id)
            except PoolTimeout:  # every connection busy or none can be opened: the database is down
                response = _error(errors.database_unavailable())
            except Exception:
                response = _crash(fn_name, request_id)
            _cors(request, response, cfg)
            secure_headers(response.headers, response.mimetype, production=cfg.runtime.is_production)
            response.headers["x-request-id"] = request_id
            log.event(
                "request", function=fn_name, request_id=request_id, method=request.method,
                path=loggable_path(request.path), status=response.status_code,
                ms=round((time.perf_counter() - started) * 1000, 2),
                user=caller.user_id if caller else None,
            )
            return response

        main.bookwell_function = fn_name  # type: ignore[attr-defined]
        main.bookwell_operations = tuple(operations)  # type: ignore[attr-defined]
        if flask.has_app_context():  # functions-framework runs the module inside its Flask app's context
            flask.current_app.register_error_handler(HTTPException, _host_refusal)
        return main

    return decorate


# ---------------------------------------------------------------------------


SECRET_SEGMENT = re.compile(r"[A-Za-z0-9_]{40,}")


def loggable_path(path: str) -> str:
    """The path with secret-looking segments (feed tokens: 40+ word characters) hidden; ids stay."""
    return SECRET_SEGMENT.sub("[redacted]", path)


def _request_id(given: str | None) -> str:
    """A caller's request id is kept when it is short and plain; otherwise we make one."""
    if given and len(given) <= 128 and all(c.isalnum() or c in "-_.:" for c in given):
        return given
    return uuid.uuid4().hex


def client_ip(request: flask.Request, trusted_proxy_hops: int) -> str | None:
    """The client's address: the peer's, or behind `trusted_proxy_hops` proxies (Cloud Run's front end is
    one), the X-Forwarded-For entry the outermost trusted proxy added. Entries further left are the
    client's own claims and never trusted."""
    if trusted_proxy_hops <= 0:
        return request.remote_addr
    hops = [h.strip() for h in (request.headers.get("x-forwarded-for") or "").split(",") if h.strip()]
    return hops[-trusted_proxy_hops] if len(hops) >= trusted_proxy_hops else request.remote_addr


def _identify(request: flask.Request, cfg: Settings, verify_jwt: bool) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if token and scheme.lower() == "bearer":
        return auth.verify(token.strip(), cfg)
    if header:
        raise errors.unauthorized("invalid_token", "Use 'Authorization: Bearer <token>'")
    if verify_jwt:
        raise errors.unauthorized("missing_token", "A valid token is required")
    return Caller.anon()


READ_CHUNK = 64 * 1024


def _read_body(request: flask.Request, limit: int) -> bytes:
    """The body, at most `limit` bytes (413 beyond), with or without Content-Length.

    Reads in a loop (one read() may return less than asked). On 413 the rest of
    the body is read and discarded chunk by chunk: functions-framework reads
    whatever is left into memory after every request (`request.get_data()`),
    which would otherwise hold an oversized body whole.
    """
    stream = request.stream
    length = request.content_length
    if length is not None and length > limit:
        _discard(stream)
        raise errors.DomainError(413, "body_too_large", f"The body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(READ_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        _discard(stream)
        raise errors.DomainError(413, "body_too_large", f"The body is larger than {limit} bytes")
    return b"".join(chunks)


def _discard(stream) -> None:
    try:
        while stream.read(READ_CHUNK):
            pass
    except OSError:  # the client went away; nothing left to protect
        pass


def _origin_allowed(origin: str, cfg: Settings) -> bool:
    return "*" in cfg.http.cors_origins or origin.rstrip("/") in cfg.http.cors_origins


def _preflight(request: flask.Request, cfg: Settings) -> flask.Response:
    origin = request.headers.get("origin", "")
    if not origin or not _origin_allowed(origin, cfg):
        raise errors.forbidden("cors_origin_denied", "This origin may not call Bookwell")
    response = flask.Response(status=204)
    response.headers["access-control-allow-methods"] = ALLOWED_METHODS
    response.headers["access-control-allow-headers"] = ALLOWED_HEADERS
    response.headers["access-control-max-age"] = "600"
    return response


def _cors(request: flask.Request, response: flask.Response, cfg: Settings) -> None:
    origin = request.headers.get("origin")
    response.headers["vary"] = "Origin"
    if origin and _origin_allowed(origin, cfg):
        response.headers["access-control-allow-origin"] = origin
        response.headers["access-control-expose-headers"] = "x-request-id"


# HTML here is a few server-rendered pages (unsubscribe; the stand-ins' in development): inline
# styles, no scripts, forms posting back to the page itself.
HTML_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action {forms};"
            " frame-ancestors 'none'; base-uri 'none'")


def secure_headers(headers, mimetype: str | None, *, production: bool, form_targets: str = "'self'") -> None:
    """The headers every answer carries: no MIME sniffing, no referrer, HSTS outside development
    (the functions are only ever reached over TLS there), and a CSP on HTML."""
    headers.setdefault("x-content-type-options", "nosniff")
    headers.setdefault("referrer-policy", "no-referrer")
    if production:
        headers.setdefault("strict-transport-security", "max-age=63072000; includeSubDomains")
    if mimetype == "text/html":
        headers.setdefault("content-security-policy", HTML_CSP.format(forms=form_targets))


def json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return None
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, separators=(",", ":"))


def _to_flask(result: Any) -> flask.Response:
    if isinstance(result, flask.Response):
        return result
    if isinstance(result, Response):
        if result.content_type and not isinstance(result.body, (dict, list)):
            out = flask.Response(result.body, status=result.status, content_type=result.content_type)
        else:
            out = flask.Response(
                dumps(result.body) if result.body is not None else "", status=result.status,
                content_type="application/json",
            )
        out.headers.update(result.headers)
        return out
    if isinstance(result, pydantic.BaseModel):
        result = result.model_dump(mode="json")
    return flask.Response(dumps(result), status=200, content_type="application/json")


def _error(exc: errors.DomainError) -> flask.Response:
    response = flask.Response(dumps(exc.body()), status=exc.status, content_type="application/json")
    if exc.status == 503:
        response.headers["retry-after"] = "1"
    response.headers.update(exc.headers)
    return response


def _host_refusal(exc: HTTPException) -> flask.Response:
    """A refusal by functions-framework's Flask app itself, before the handler runs (a path its
    `/<path:path>` rule does not match, such as one holding a newline; /robots.txt): the one error shape
    too, never Flask's HTML page."""
    name = exc.name or "Error"
    response = _error(errors.DomainError(exc.code or 500, re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_"), name))
    secure_headers(response.headers, response.mimetype, production=settings().runtime.is_production)
    response.headers["x-request-id"] = _request_id(flask.request.headers.get("x-request-id"))
    return response


def _crash(fn_name: str, request_id: str) -> flask.Response:
    logger.exception("unhandled error in %s (request %s)", fn_name, request_id)
    return _error(errors.DomainError(
        500, "internal", "Something went wrong on our side", {"request_id": request_id}))
