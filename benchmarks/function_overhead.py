"""What the Bookwell host costs: `health` against a bare functions-framework hello world.

    .venv/bin/python benchmarks/function_overhead.py [--requests 5000] [--concurrency 8] [--rounds 5]

In one run, on loopback only:
  (a) benchmarks/hello/main.py  - functions-framework's hello world, nothing of Bookwell;
  (b) functions/health/main.py  - the full host (request id, CORS, JWT check, JSON log
      line, error mapping) plus a real database round trip (pool checkout and
      `select max(version)` from the migration ledger) on a local embedded Postgres,
      freshly created in a temporary directory and migrated.
Both run under the same server, started the same way:
  functions-framework --target main --source <file> --host 127.0.0.1 --port <port>
(gunicorn, 1 worker, THREADS = 4 x cores). Each is driven by the same load generator:
`--concurrency` threads with one keep-alive connection each, sending GET / until
`--requests` answers have arrived (warm-up first). Rounds alternate hello/health so
drift hits both alike. Prints requests/s for each and the ratio health/hello (goal
>= 0.5). Every phase has a deadline; processes and the temp dir are always removed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

from common import Served, start_command  # noqa: E402
from shared.platform import migrate  # noqa: E402
from shared.devstack.localdb import LocalServer, free_port  # noqa: E402

FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"
HELLO = ROOT / "benchmarks" / "hello" / "main.py"
HEALTH = ROOT / "functions" / "health" / "main.py"
GOAL = 0.5


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------


def start_function(name: str, source: Path, env: dict[str, str], workdir: Path) -> Served:
    port = free_port()
    return start_command(name, [str(FUNCTIONS_FRAMEWORK), "--target", "main", "--source", str(source),
                                "--host", "127.0.0.1", "--port", str(port)], port, env, workdir)


# ---------------------------------------------------------------------------
# Load: a minimal HTTP/1.1 keep-alive client, so the generator costs little
# next to the servers (they share the machine's cores).
# ---------------------------------------------------------------------------


class Connection:
    def __init__(self, port: int):
        self.port = port
        self.request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bookwell-bench\r\n\r\n".encode()
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> None:
        self.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def get(self) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.sock is None:
                self._connect()
            try:
                return self._exchange()
            except (ConnectionError, EOFError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _recv(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the server")
        self.buffer += data

    def _exchange(self) -> tuple[int, bytes]:
        self.sock.sendall(self.request)
        while b"\r\n\r\n" not in self.buffer:
            self._recv()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, close = None, False
        for line in lines[1:]:
            key, _, value = line.partition(b":")
            key = key.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"connection" and value.strip().lower() == b"close":
                close = True
            elif key == b"transfer-encoding":
                raise RuntimeError("chunked answers are not expected here")
        if length is None:
            raise RuntimeError("an answer without Content-Length")
        while len(self.buffer) < length:
            self._recv()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if close:
            self.close()
        return status, body


@dataclass
class Result:
    requests: int
    seconds: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def drive(port: int, total: int, concurrency: int, deadline_s: float) -> Result:
    """`total` GET / over `concurrency` keep-alive connections, or as many as fit in the deadline."""
    lock = threading.Lock()
    remaining = [total]
    done = [0]
    errors = [0]
    first_error: list[str] = []
    stop_at = time.monotonic() + deadline_s
    start = threading.Barrier(concurrency + 1)

    def worker() -> None:
        conn = Connection(port)
        try:
            start.wait()
            while time.monotonic() < stop_at:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                try:
                    status, body = conn.get()
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    status, body = 0, repr(exc).encode()
                with lock:
                    if status == 200:
                        done[0] += 1
                    else:
                        errors[0] += 1
                        if not first_error:
                            first_error.append(f"{status}: {body[:200]!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join(timeout=deadline_s + 30)
    elapsed = time.perf_counter() - began
    if first_error:
        print(f"    first error: {first_error[0]}", flush=True)
    return Result(done[0], elapsed, errors[0])


# ---------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="answers per measured phase")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (keep-alive connections)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating hello/health rounds")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured requests per server first")
    parser.add_argument("--deadline", type=float, default=60, help="seconds allowed per phase")
    args = parser.parse_args()
    if not (1 <= args.requests <= 100_000 and 1 <= args.concurrency <= 64 and 1 <= args.rounds <= 10):
        parser.error("bounded run only: requests 1..100000, concurrency 1..64, rounds 1..10")

    workdir = Path(tempfile.mkdtemp(prefix="bookwell-bench-"))
    db: LocalServer | None = None
    served: list[Served] = []
    try:
        print(f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}, "
              f"load average {os.getloadavg()[0]:.2f}")
        db = LocalServer(workdir / "pgdata", free_port())
        db.start(fsync=False)
        migrate.migrate(db.url)
        print(f"database: embedded Postgres on 127.0.0.1:{db.port}, migrated")

        hello = start_function("hello", HELLO, {}, workdir)
        served.append(hello)
        health = start_function("health", HEALTH, {"DATABASE_URL": db.url, "LOG_LEVEL": "INFO"}, workdir)
        served.append(health)
        threads = os.environ.get("THREADS", str((os.cpu_count() or 1) * 4))
        print(f"servers: functions-framework (gunicorn, 1 worker, {threads} threads) each; "
              f"load: {args.concurrency} keep-alive connections, {args.requests} requests per phase")

        for server in (hello, health):
            warm = drive(server.port, args.warmup, args.concurrency, args.deadline)
            if warm.errors or warm.requests != args.warmup:
                raise RuntimeError(f"{server.name} warm-up failed: {warm}\n{server.log.read_text(errors='replace')[-2000:]}")
        status, body = Connection(health.port).get()
        if status != 200 or b"schema_version" not in body:
            raise RuntimeError(f"health did not answer as expected: {status} {body[:200]!r}")

        rates: dict[str, list[float]] = {"hello": [], "health": []}
        for round_no in range(1, args.rounds + 1):
            line = []
            for server in (hello, health):
                result = drive(server.port, args.requests, args.concurrency, args.deadline)
                if result.errors:
                    raise RuntimeError(f"{server.name}: {result.errors} failed requests in round {round_no}")
                rates[server.name].append(result.rps)
                line.append(f"{server.name} {result.rps:8.1f} req/s ({result.requests} in {result.seconds:.2f}s)")
            print(f"round {round_no}: " + "  |  ".join(line)
                  + f"  |  ratio {rates['health'][-1] / rates['hello'][-1]:.2f}", flush=True)

        hello_rps = statistics.median(rates["hello"])
        health_rps = statistics.median(rates["health"])
        ratio = health_rps / hello_rps
        print()
        print(f"hello  (bare functions-framework) median: {hello_rps:8.1f} req/s")
        print(f"health (Bookwell host + DB query) median: {health_rps:8.1f} req/s")
        print(f"ratio health/hello: {ratio:.2f}  (goal >= {GOAL}: {'met' if ratio >= GOAL else 'NOT met'})")
        print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on the machine skews both alike)")
        return 0
    finally:
        for server in served:
            server.stop()
        if db is not None:
            try:
                db.destroy()
            except Exception as exc:  # noqa: BLE001 - still remove the directory
                print(f"warning: stopping the benchmark database: {exc}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
