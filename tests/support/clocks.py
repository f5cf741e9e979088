"""Run a test suite in a child pytest whose clock reads a chosen instant.

libfaketime (LD_PRELOAD) shifts the wall clock of the child and of every
process it starts, its embedded Postgres included, by one fixed offset: Python's
datetime.now(), Postgres' now() and the Stripe stand-in agree, and time keeps
ticking from the chosen instant (the monotonic clock, which timeouts and sleeps
use, is left alone). Nothing in the product knows: it is tested as deployed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from shared.platform.config import PROJECT_ROOT


@dataclass(frozen=True)
class ClockedRun:
    instant: datetime
    returncode: int
    output: str
    clocks: dict[str, datetime]  # what the child's Python and Postgres read at its start

    def summary(self, limit: int = 60) -> str:
        """The failures' assertion lines and the run's summary lines, not the whole output."""
        lines = self.output.rstrip().splitlines()
        keep = [line for line in lines if line.startswith(("E ", "FAILED", "ERROR"))]
        return "\n".join(keep[:limit] + lines[-1:])


def faketime_env(instant: datetime) -> dict[str, str]:
    """The environment that makes a child process (and its children) start its wall clock at `instant`."""
    import libfaketime

    _, additions = libfaketime.get_reload_information()
    additions = {k: v for k, v in additions.items() if k != "FAKETIME_NO_CACHE"}  # read FAKETIME once
    offset = round((instant - datetime.now(timezone.utc)).total_seconds())
    return additions | {"FAKETIME": f"{offset:+d}"}


def run_pytest_at(instant: datetime, paths: list[str], *, timeout: float = 900) -> ClockedRun:
    """pytest `paths` in a child process whose clocks start at `instant`, on its own embedded Postgres."""
    with tempfile.TemporaryDirectory(prefix="bookwell-clock-") as tmp:
        probe = Path(tmp) / "clocks.json"
        env = {k: v for k, v in os.environ.items()
               if k not in ("TEST_DATABASE_URL", "DATABASE_URL", "PYTEST_ADDOPTS")}
        env |= {"BOOKWELL_CLOCK_PROBE": str(probe)} | faketime_env(instant)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra", *paths],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        clocks = ({k: datetime.fromisoformat(v) for k, v in json.loads(probe.read_text()).items()}
                  if probe.exists() else {})
    return ClockedRun(instant, proc.returncode, proc.stdout + proc.stderr, clocks)
