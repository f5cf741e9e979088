"""What every provider stand-in needs, once: scripted faults, a clock tests can move, JSON answers.

- `Faults`: the next n API calls fail with a status, either before anything is
  done (the provider is down) or after (the work is done and saved, but the
  answer is lost on the way back), first in first out.
- `Clock`: unix seconds from a function (time.time unless set), plus an offset
  `advance` adds to (expiries, idempotency windows).
- `json_response`: a JSON body with a status and optional headers.
- `ApiError`: a refusal with Stripe's error fields (OpenAI's API copies them);
  each stand-in shapes its body.
- `WebhookQueue`: webhooks a stand-in owes, POSTed when flushed (tests) or
  every second (dev mode), never during the API call they follow, as the
  real providers send them after answering.
All thread-safe: a stand-in serves the SDK's threads and the test's at once.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response


@dataclass(frozen=True)
class Fault:
    status: int | None  # None: no error, only the delay
    after: bool = False  # True: carry the call out, then answer the error (a lost response)
    delay: float = 0.0   # seconds the provider takes before it does anything (a slow provider)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: deque[Fault] = deque()

    def add(self, n: int, status: int, *, after: bool = False) -> None:
        with self._lock:
            self._queued.extend(Fault(status, after) for _ in range(n))

    def add_slow(self, n: int, seconds: float) -> None:
        """The next `n` calls wait `seconds`, then are carried out as usual (whoever still listens)."""
        with self._lock:
            self._queued.extend(Fault(None, delay=seconds) for _ in range(n))

    def take(self) -> Fault | None:
        """The error for this call, if one is queued; a slow call sleeps here first and then has none."""
        with self._lock:
            fault = self._queued.popleft() if self._queued else None
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        return None if fault is None or fault.status is None else fault

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


@dataclass(frozen=True)
class WebhookAttempt:
    url: str
    body: bytes
    headers: dict[str, str]
    status: int | None  # None: the endpoint could not be reached
    answer: bytes


class WebhookQueue:
    def __init__(self, timeout: float = 10.0) -> None:
        self._lock = threading.Lock()
        self._pending: deque[tuple[str, bytes, dict[str, str]]] = deque()
        self._attempts: list[WebhookAttempt] = []
        self._timeout = timeout
        self._stop = threading.Event()

    def add(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        with self._lock:
            self._pending.append((url, body, headers))

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    @property
    def attempts(self) -> list[WebhookAttempt]:
        with self._lock:
            return list(self._attempts)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._attempts.clear()

    def flush(self) -> list[WebhookAttempt]:
        """POST everything owed, oldest first; returns the attempts."""
        with self._lock:
            owed, self._pending = list(self._pending), deque()
        done = [self._post(url, body, headers) for url, body, headers in owed]
        with self._lock:
            self._attempts.extend(done)
        return done

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> WebhookAttempt:
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return WebhookAttempt(url, body, headers, response.status, response.read(4096))
        except urllib.error.HTTPError as exc:
            return WebhookAttempt(url, body, headers, exc.code, exc.read(4096))
        except (urllib.error.URLError, OSError):
            return WebhookAttempt(url, body, headers, None, b"")

    def deliver_every(self, seconds: float) -> None:
        """Dev mode: a daemon thread flushes the queue every `seconds`."""
        def loop() -> None:
            while not self._stop.wait(seconds):
                self.flush()

        threading.Thread(target=loop, name="webhook-queue", daemon=True).start()
