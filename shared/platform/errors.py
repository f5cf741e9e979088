"""The one error type a caller ever sees, and how database errors become it.

Every error answer has the shape {"error": {"code", "message", "details"}}.
`code` is stable and machine-readable; `message` is for people. Every helper
takes them in that order: (code, message, details).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg import errors as pg


class DomainError(Exception):
    """A refusal the caller can act on (4xx), or a provider failure (5xx)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def bad_request(code: str, message: str, details: Any = None) -> DomainError:
    return DomainError(400, code, message, details)


def unauthorized(code: str = "unauthorized", message: str = "A valid token is required",
                 details: Any = None) -> DomainError:
    return DomainError(401, code, message, details)


def forbidden(code: str = "forbidden", message: str = "You may not do that", details: Any = None) -> DomainError:
    return DomainError(403, code, message, details)


def not_found(code: str = "not_found", message: str = "Not found", details: Any = None) -> DomainError:
    return DomainError(404, code, message, details)


def conflict(code: str, message: str, details: Any = None) -> DomainError:
    return DomainError(409, code, message, details)


def unprocessable(code: str, message: str, details: Any = None) -> DomainError:
    return DomainError(422, code, message, details)


def rate_limited(bucket: str, retry_after_seconds: int) -> DomainError:
    """429 with Retry-After, as private.raise_rate_limited answers from the database."""
    return DomainError(429, "rate_limited", f"Too many requests; try again in {retry_after_seconds} s",
                       {"bucket": bucket, "retry_after_seconds": retry_after_seconds},
                       {"Retry-After": str(retry_after_seconds)})


def busy() -> DomainError:
    return DomainError(503, "busy", "The system is busy; please try again in a moment")


def bad_gateway(code: str, message: str, details: Any = None) -> DomainError:
    return DomainError(502, code, message, details)


def unavailable(code: str, message: str, details: Any = None) -> DomainError:
    """503: a provider we depend on cannot answer now; the caller (often the provider's webhook) retries."""
    return DomainError(503, code, message, details)


# SQLSTATEs that mean "the caller asked for something invalid", with the answer.
_SQLSTATE_ANSWERS: dict[type[psycopg.Error], tuple[int, str, str]] = {
    pg.InsufficientPrivilege: (403, "forbidden", "You may not do that"),
    pg.UniqueViolation: (409, "conflict", "That already exists"),
    pg.ExclusionViolation: (409, "overlap", "That time is already taken"),
    pg.ForeignKeyViolation: (422, "invalid_reference", "A referenced record does not exist"),
    pg.CheckViolation: (422, "invalid_value", "A value is out of range"),
    pg.NotNullViolation: (422, "missing_value", "A required value is missing"),
    pg.InvalidTextRepresentation: (422, "invalid_value", "A value has the wrong format"),
    pg.InvalidParameterValue: (422, "invalid_value", "A value is not allowed"),
    pg.InvalidDatetimeFormat: (422, "invalid_value", "A date or time has the wrong format"),
    pg.DatetimeFieldOverflow: (422, "invalid_value", "A date or time is out of range"),
    pg.NumericValueOutOfRange: (422, "invalid_value", "A number is out of range"),
    pg.StringDataRightTruncation: (422, "invalid_value", "A value is too long"),
    # A NUL inside a JSON value (\u0000): Postgres' jsonb refuses it, as the driver refuses one in text.
    pg.UntranslatableCharacter: (422, "invalid_value", "A value contains characters that are not allowed"),
    pg.NoDataFound: (404, "not_found", "Not found"),
}

RETRYABLE = (pg.SerializationFailure, pg.DeadlockDetected, pg.LockNotAvailable)


def database_unavailable() -> DomainError:
    """503: the database is down, restarting or refused the connection; nothing was done, try again."""
    return DomainError(503, "database_unavailable", "The database is not answering; please try again in a moment")


def too_slow() -> DomainError:
    """503: the statement ran past its role's statement_timeout; the caller may try again later."""
    return DomainError(503, "statement_timeout", "The request took too long; please try again in a moment")


def from_database(exc: psycopg.Error) -> DomainError | None:
    """Translate a database refusal into a DomainError; None means a real fault."""
    state = exc.sqlstate or ""
    diag = exc.diag
    if isinstance(exc, psycopg.DataError) and not state:
        # Refused by the driver before reaching Postgres (e.g. a NUL character).
        return DomainError(422, "invalid_value", "A value contains characters that are not allowed")
    if state == "PGRST":
        return _postgrest_raise(diag.message_primary, diag.message_detail)
    if state.startswith("PT") and state[2:].isdigit():
        # PostgREST's convention: PTxyz raises HTTP xyz. DETAIL holds our code.
        return DomainError(
            int(state[2:]), diag.message_detail or "error", diag.message_primary or "Refused",
            _hint(diag.message_hint),
        )
    if isinstance(exc, RETRYABLE):
        return busy()
    if isinstance(exc, pg.QueryCanceled):
        return too_slow()
    if isinstance(exc, psycopg.OperationalError):
        return database_unavailable()
    for kind, (status, code, message) in _SQLSTATE_ANSWERS.items():
        if isinstance(exc, kind):
            details = {"constraint": diag.constraint_name} if diag.constraint_name else None
            return DomainError(status, code, message, details)
    return None


def _postgrest_raise(message: str | None, detail: str | None) -> DomainError | None:
    """`raise sqlstate 'PGRST'`: MESSAGE is the error as JSON, DETAIL the HTTP status and headers
    (PostgREST's own convention, so the same refusal reads alike through PostgREST and here)."""
    try:
        error, http = json.loads(message or ""), json.loads(detail or "")
        return DomainError(int(http["status"]), str(error["code"]), str(error["message"]), error.get("details"),
                           {str(k): str(v) for k, v in (http.get("headers") or {}).items()})
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _hint(hint: str | None) -> Any:
    if not hint:
        return None
    try:
        return json.loads(hint)
    except ValueError:
        return hint
