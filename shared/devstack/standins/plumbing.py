"""What every provider stand-in needs, once: scripted faults, a clock tests can move, JSON answers.

- `Faults`: the next n API calls fail with a status, either before anything is
  done (the provider is down) or after (the work is done and saved, but the
  answer is lost on the way back), first in first out.
- `Clock`: unix seconds from a function (time.time unless set), plus an offset
  `advance` adds to (expiries, idempotency windows).
- `json_response`: a JSON body with a status and optional headers.
- `ApiError`: a refusal with Stripe's error fields (OpenAI's API copies them);
  each stand-in shapes its body.
All thread-safe: a stand-in serves the SDK's threads and the test's at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response


@dataclass(frozen=True)
class Fault:
    status: int
    after: bool = False  # True: carry the call out, then answer the error (a lost response)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: deque[Fault] = deque()

    def add(self, n: int, status: int, *, after: bool = False) -> None:
        with self._lock:
            self._queued.extend(Fault(status, after) for _ in range(n))

    def take(self) -> Fault | None:
        """The fault for this call, if one is queued."""
        with self._lock:
            return self._queued.popleft() if self._queued else None

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()


class Clock:
    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._source = source
        self._offset = 0.0

    def set(self, source: Callable[[], float]) -> None:
        with self._lock:
            self._source, self._offset = source, 0.0

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def now(self) -> float:
        with self._lock:
            return self._source() + self._offset


def json_response(status: int, body: Any, headers: dict[str, str] | None = None, *, indent: int | None = None
                  ) -> Response:
    response = Response(json.dumps(body, indent=indent), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class ApiError(Exception):
    """A refusal: HTTP status, message, and Stripe's error type, param and code."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
