"""`bookwell serve --workers N` (shared/devstack/workers.py): the functions in N gunicorn processes, the
stand-ins and the cron loop once, in the `bookwell` process.

One server is started for the module, as a user starts it (a subprocess in its own session, on a
free port, against this module's database), and every process it made is killed at the end,
whatever happened.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from shared.devstack import cli
from shared.devstack.localdb import free_port
from shared.platform import config
from shared.platform.config import PROJECT_ROOT
from tests.support.cli import BOOKWELL, bookwell, ok, one_line_failure  # noqa: F401  (bookwell: a fixture)

WORKERS = 3


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def served(database_url, tmp_path_factory):
    if not Path("/proc/self/stat").exists():
        pytest.skip("reads the process tree from /proc (Linux)")
    home = tmp_path_factory.mktemp("bookwell-home")
    log = home / "serve.log"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "BOOKWELL_HOME": str(home)}
    env.pop("BOOKWELL_WORKERS", None)
    with log.open("w") as out:
        server = subprocess.Popen([str(BOOKWELL), "serve", "--workers", str(WORKERS), "--port", str(port)],
                                  cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/functions/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield {"base": base, "port": port, "server": server, "log": log, "env": env}
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left of the session: the arbiter, the workers
            os.killpg(server.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        server.wait(timeout=5)


def the_arbiter(served) -> int:
    arbiters = children(served["server"].pid)
    assert len(arbiters) == 1, arbiters
    return arbiters[0]


def worker_connections(database_url: str) -> dict[str, int]:
    """The database connections of this module's database by application_name (bookwell-worker-<pid>)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("select application_name, count(*) from pg_stat_activity"
                            " where datname = %s and application_name like 'bookwell-worker-%%' group by 1",
                            (conninfo_to_dict(database_url)["dbname"],)).fetchall()
    return dict(rows)


def test_there_are_n_worker_processes_under_one_arbiter(served):
    workers = children(the_arbiter(served))
    assert len(workers) == WORKERS, workers
    assert all(alive(pid) for pid in workers)


def test_concurrent_requests_all_succeed_and_are_served_by_more_than_one_process(served, database_url):
    workers = set(children(the_arbiter(served)))

    def health(_: int) -> int:
        with httpx.Client(timeout=10) as client:  # a connection of its own
            return client.get(f"{served['base']}/functions/v1/health").status_code

    seen: dict[str, int] = {}
    deadline = time.monotonic() + 10
    with ThreadPoolExecutor(max_workers=30) as pool:
        while True:
            statuses = list(pool.map(health, range(30)))
            assert statuses == [200] * 30, statuses
            seen = worker_connections(database_url)
            if len(seen) > 1 or time.monotonic() > deadline:
                break
    assert len(seen) > 1, f"every request went to one process: {seen}"
    # Each is one of the arbiter's workers, with a pool of its own.
    assert {int(name.rsplit("-", 1)[1]) for name in seen} <= workers, (seen, workers)


def test_the_stand_ins_live_once_so_their_state_is_the_same_from_every_worker(served):
    key = {"authorization": f"Bearer {config.settings().stripe.secret_key}"}
    created = httpx.post(f"{served['base']}/stripe/v1/customers", data={"email": "one@example.com"}, headers=key,
                         timeout=10)
    assert created.status_code == 200, created.text
    customer = created.json()["id"]

    def fetch(_: int) -> tuple[int, str | None]:
        with httpx.Client(timeout=10) as client:
            r = client.get(f"{served['base']}/stripe/v1/customers/{customer}", headers=key)
            return r.status_code, r.json().get("email")

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert set(pool.map(fetch, range(24))) == {(200, "one@example.com")}
    # Pages keep their public address: /stripe (no slash) and the mailbox answer as in one process,
    # with the headers the one-process server gives them.
    page = httpx.get(f"{served['base']}/stripe", timeout=10)
    assert page.status_code == 200
    from werkzeug.test import Client

    from shared.devstack import devserver

    alone = Client(devserver.build_app(standins=devserver.Standins.for_settings(config.settings()))).get("/stripe/")
    transport = {"date", "server", "connection", "content-length", "transfer-encoding", "keep-alive"}
    assert {k.lower() for k in page.headers} - transport == {k.lower() for k in alone.headers.keys()} - transport
    assert httpx.get(f"{served['base']}/resend/mailbox", timeout=10).status_code == 200
    # A function that does not exist is still the functions' 404, not the stand-ins'.
    missing = httpx.get(f"{served['base']}/functions/v1/no-such-function", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_cron_job_reaches_the_workers_over_http(served):
    result = subprocess.run([str(BOOKWELL), "cron", "run", "refresh-event-stats"], cwd=PROJECT_ROOT,
                            env={**served["env"], "BOOKWELL_API_PORT": str(served["port"])},
                            capture_output=True, text=True, timeout=60)
    ok(result)
    deadline = time.monotonic() + 5
    while '"function": "refresh-event-stats"' not in served["log"].read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert '"function": "refresh-event-stats"' in served["log"].read_text()


def test_sigterm_stops_every_process_and_exits_zero(served):
    """Last in the module: the server is stopped here."""
    server = served["server"]
    everything = descendants(server.pid)
    assert len(everything) == 1 + WORKERS, everything
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=20) == 0, served["log"].read_text()[-2000:]
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in everything) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in everything if alive(pid)]


# ---------------------------------------------------------------------------
# How many
# ---------------------------------------------------------------------------


def test_the_worker_count_comes_from_the_flag_then_bookwell_workers_then_one(monkeypatch):
    from tests.conftest import override_env

    monkeypatch.delenv("BOOKWELL_WORKERS", raising=False)
    config.settings.cache_clear()
    assert cli.worker_count(None) == 1
    with override_env(BOOKWELL_WORKERS="4"):
        assert cli.worker_count(None) == 4
        assert cli.worker_count(2) == 2


@pytest.mark.parametrize("args, env, said", [
    (["--workers", "0"], {}, "--workers must be at least 1, not 0"),
    ([], {"BOOKWELL_WORKERS": "many"}, "BOOKWELL_WORKERS must be a whole number of processes, not 'many'"),
    ([], {"BOOKWELL_WORKERS": "-2"}, "BOOKWELL_WORKERS must be at least 1, not -2"),
])
def test_a_bad_worker_count_is_refused_in_one_line(bookwell, args, env, said):
    line = one_line_failure(bookwell("serve", "--port", str(free_port()), *args, env=env))
    assert said in line, line
