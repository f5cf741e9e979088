"""`bookwell` as a user runs it: a subprocess, the `bookwell` fixture (DATABASE_URL = this module's
database), and the checks of a success and of a one-line failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.platform.config import PROJECT_ROOT

BOOKWELL = Path(sys.executable).parent / "bookwell"
if not BOOKWELL.exists():
    BOOKWELL = PROJECT_ROOT / ".venv" / "bin" / "bookwell"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(scope="module")
def bookwell(database_url: str):
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BOOKWELL), *args],
            cwd=PROJECT_ROOT,
            env={**os.environ, "DATABASE_URL": database_url, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def one_line_failure(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bookwell: "), f"stderr is not one `bookwell: …` line: {result.stderr!r}"
    assert "Traceback" not in result.stderr
    return lines[0]
