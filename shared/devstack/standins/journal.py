"""What a dev-mode stand-in keeps across restarts: an append-only JSON-lines file.

`bookwell dev` gives the mailbox and the SMS list a journal under .bookwell/,
beside the database, so a restart shows what was sent before it. Tests give
none and keep everything in memory. Bytes (attachments) are stored base64.
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

_BYTES = "__bytes_base64__"


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _decode(obj: dict) -> Any:
    return base64.b64decode(obj[_BYTES]) if set(obj) == {_BYTES} else obj


class Journal:
    """Records appended one JSON line each; `load` reads them back in order (a torn last line is skipped)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> list[dict]:
        if self.path is None or not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line, object_hook=_decode))
            except json.JSONDecodeError:
                continue  # a write cut short by a crash
        return records

    def append(self, record: dict) -> None:
        if self.path is None:
            return
        line = json.dumps(record, default=_encode, separators=(",", ":"))
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")

    def clear(self) -> None:
        if self.path is not None:
            with self._lock:
                self.path.unlink(missing_ok=True)
