"""A function served alone by functions-framework, as Cloud Run serves it: started on a free port,
waited for, stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.devstack import devserver
from shared.platform.config import PROJECT_ROOT
from shared.devstack.localdb import free_port

FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"


class Standalone:
    """A functions-framework process serving one function on a loopback port."""

    def __init__(self, url: str, proc: subprocess.Popen, log_path: Path):
        self.url, self.proc, self.log_path = url, proc, log_path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_lines(self) -> list[dict]:
        """The JSON objects among the process's output lines."""
        found = []
        for line in self.output().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                found.append(entry)
        return found

@contextmanager
def standalone(source: Path, env: dict[str, str], *, startup_seconds: float = 60) -> Iterator[Standalone]:
    """Start `functions-framework` on `source` with `env`; always stop it (and its workers)."""
    port = free_port()
    fd, name = tempfile.mkstemp(prefix="bookwell-ff-", suffix=".log")
    log_path = Path(name)
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env}
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(
            [str(FUNCTIONS_FRAMEWORK), "--target", "main", "--source", str(source),
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT, env=full_env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Standalone(f"http://127.0.0.1:{port}", proc, log_path)
    try:
        _wait_until_listening(server, port, startup_seconds)
        yield server
    finally:
        _stop(proc)
        log_path.unlink(missing_ok=True)

def _wait_until_listening(server: Standalone, port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"functions-framework exited with {server.proc.returncode}:\n{server.output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"functions-framework did not listen on {port}:\n{server.output()}")

def _stop(proc: subprocess.Popen) -> None:
    """Stop the process group this test started (gunicorn master and its worker)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    else:
        # The master is gone; make sure no worker of its group survives it.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

def function_source(name: str) -> Path:
    return devserver.FUNCTIONS_DIR / name / "main.py"
