"""`bookwell serve --workers N` / `bookwell dev --workers N`: the functions in N processes.

With one worker (the default) everything runs in one process, as shared/devstack/devserver.py builds
it. With more, the same WSGI app is served by gunicorn (functions-framework's own production server)
on the same host and port, in N worker processes of THREADS threads each; the app is loaded in each
worker after the fork (preload_app off), so each opens its own database pool.

The provider stand-ins (/stripe, /paypal, /resend, /twilio, /llm) keep their state in memory (Checkout
Sessions, PayPal orders, the mailbox, queued webhooks), so there must be exactly one of each: they stay
in the `bookwell` process, on a private port, and every worker forwards those paths to it unchanged
(the Host header kept, so the checkout and approval links they hand out still name the public port).
The cron loop stays there too and calls the functions over HTTP, so its jobs are spread over the
workers like any request. Their webhooks reach the functions the same way.

    bookwell process ── stand-ins on 127.0.0.1:<private>, cron loop
      └─ gunicorn arbiter (python -m shared.devstack.workers) on 127.0.0.1:<port>
           ├─ worker 1: /functions/v1/* ; /stripe/* … forwarded to the stand-ins
           ├─ worker 2
           └─ …

Each worker's database connections carry `application_name` bookwell-worker-<pid> (PGAPPNAME), so
pg_stat_activity says which process holds which connection. The arbiter stops when the `bookwell`
process does, however it ends (PR_SET_PDEATHSIG on Linux).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

THREADS = 4  # per worker: a function may call a stand-in, which is forwarded by another thread
NAME = "bookwell-workers"
NO_FUNCTIONS = Path(__file__).parent / "no-functions"  # (absent: the stand-ins' server loads no function)


# ---------------------------------------------------------------------------
# In the `bookwell` process
# ---------------------------------------------------------------------------


def serve(port: int, workers: int, *, with_cron: bool) -> int:
    """Serve the stand-ins here and the functions from gunicorn with `workers` processes in a child,
    until a signal or the child ends. Returns 0 after a signal, else the child's exit status."""
    from werkzeug.serving import make_server

    from shared.devstack import cron, devserver
    from shared.platform import config

    standins = devserver.Standins.for_settings(config.settings(), keep_in=config.settings().runtime.home)
    # Mounted exactly as the one-process server mounts them (devserver.build_app), minus the functions.
    private = make_server("127.0.0.1", 0, devserver.build_app(NO_FUNCTIONS, standins=standins), threaded=True)
    threading.Thread(target=private.serve_forever, name="standins", daemon=True).start()
    # (No Python code runs between fork and exec, so the threads here are no hazard to the child.)
    child = subprocess.Popen([sys.executable, "-m", "shared.devstack.workers", "--port", str(port),
                              "--workers", str(workers), "--parent", str(os.getpid()),
                              "--standins", f"http://127.0.0.1:{private.server_port}",
                              "--prefixes", json.dumps(sorted(standins.mounts()))])
    stopping, signalled = threading.Event(), threading.Event()

    def shutdown(*_: object) -> None:
        signalled.set()
        stopping.set()
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    loop = None
    if with_cron:  # over HTTP (no app in this process): the jobs go to the workers like any request
        loop = threading.Thread(target=cron.loop, args=(stopping, None), name="cron", daemon=True)
        loop.start()
    try:
        status = child.wait()
    finally:
        stopping.set()
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        private.shutdown()
        private.server_close()
        if loop:
            loop.join(timeout=5)
    return 0 if signalled.is_set() else status


# ---------------------------------------------------------------------------
# In the gunicorn child
# ---------------------------------------------------------------------------


class Forwarded:
    """The functions, with the stand-ins' paths forwarded to the process that holds them."""

    def __init__(self, app: Callable, target: str, prefixes: list[str]):
        from werkzeug.middleware.http_proxy import ProxyMiddleware

        self.prefixes = prefixes
        self.proxy = ProxyMiddleware(app, {p: {"target": target, "host": None} for p in prefixes}, timeout=120)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") in self.prefixes:  # "/stripe" as "/stripe/", as the one-process server has it
            environ["PATH_INFO"] += "/"
        return self.proxy(environ, start_response)


def application(standins: str | None, prefixes: list[str]) -> Callable:
    from shared.devstack import devserver

    app = devserver.build_app()
    return Forwarded(app, standins, prefixes) if standins else app


def gunicorn_app(port: int, workers: int, standins: str | None, prefixes: list[str]):
    from gunicorn.app.base import BaseApplication

    def post_fork(server, worker) -> None:
        # Before the worker loads the app and opens its pool: its connections say whose they are.
        os.environ["PGAPPNAME"] = f"bookwell-worker-{worker.pid}"

    class Workers(BaseApplication):
        def load_config(self) -> None:
            for key, value in {
                "bind": [f"127.0.0.1:{port}"], "workers": workers, "worker_class": "gthread", "threads": THREADS,
                "preload_app": False,  # each worker loads the functions itself, and opens its own pool
                "timeout": 120, "graceful_timeout": 10, "keepalive": 5, "proc_name": NAME,
                "control_socket_disable": True,  # (gunicorn 27's ~/.gunicorn/gunicorn.ctl: one per user, not ours)
                "accesslog": None, "errorlog": "-", "loglevel": "info", "post_fork": post_fork,
            }.items():
                self.cfg.set(key, value)

        def load(self):
            return application(standins, prefixes)

    return Workers()


def _die_with(parent: int) -> None:
    """Stop when the `bookwell` process that started us goes, even if it is killed outright."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    if os.getppid() != parent:  # it went before we asked
        sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.devstack.workers")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--parent", type=int)
    parser.add_argument("--standins", help="where the stand-ins are served (their paths are forwarded there)")
    parser.add_argument("--prefixes", default="[]", help="the stand-ins' paths, as a JSON list")
    args = parser.parse_args(argv)
    if args.parent:
        _die_with(args.parent)
    gunicorn_app(args.port, args.workers, args.standins, json.loads(args.prefixes)).run()


if __name__ == "__main__":
    main()
