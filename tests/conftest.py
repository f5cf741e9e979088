"""Test harness: one Postgres per session, a template database with
everything applied, and a fresh clone of it per test module.

Set TEST_DATABASE_URL (a server URL whose user may create databases) to use
an existing server; otherwise an embedded PostgreSQL 18 starts in a
temporary directory and is removed at the end. TEST_TEMPLATE_SOURCE names a
database of that server to copy the template from (the Supabase-shaped
`postgres` database of tests/foundation/test_supabase_shape.py) instead of
starting from an empty one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import shared.areas  # noqa: F401  every area's order kinds, describers and message renderers
from shared.platform import config, db as shared_db, migrate
from shared.devstack.localdb import LocalServer, free_port
from tests.support import ticketing
from tests.support.pg import Db

TEMPLATE = f"bookwell_template_{os.getpid()}"


def _url_for(server_url: str, database: str) -> str:
    return make_conninfo(server_url, dbname=database)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    root = Path(tempfile.mkdtemp(prefix="bookwell-test-"))
    server = LocalServer(root / "pgdata", free_port())
    server.start(fsync=False)
    try:
        yield server.url
    finally:
        shared_db.close_pools()
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def clock_probe(request) -> None:
    """Under tests/foundation/test_any_date.py (BOOKWELL_CLOCK_PROBE names a file): record the clocks this
    run sees, Python's and its Postgres's, so the parent can prove they were moved to the chosen instant."""
    target = os.environ.get("BOOKWELL_CLOCK_PROBE")
    if not target:
        return
    with psycopg.connect(request.getfixturevalue("pg_server_url")) as conn:
        postgres = conn.execute("select now()").fetchone()[0]
    Path(target).write_text(json.dumps({"python": datetime.now(timezone.utc).isoformat(),
                                        "postgres": postgres.isoformat()}))


@pytest.fixture(scope="session")
def template_url(pg_server_url: str) -> Iterator[str]:
    source = os.environ.get("TEST_TEMPLATE_SOURCE")
    maintenance_url = _url_for(pg_server_url, "template1") if source else pg_server_url
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(TEMPLATE)) if not source else
                     sql.SQL("create database {} template {}").format(sql.Identifier(TEMPLATE), sql.Identifier(source)))
    url = _url_for(pg_server_url, TEMPLATE)
    migrate.migrate(url)
    lift_rate_limits(url)
    yield url
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(TEMPLATE)))


def lift_rate_limits(url: str) -> None:
    """Tests of everything else make hundreds of guest requests from one address within a minute;
    tests/foundation/test_rate_limits.py sets the rules it tests in its own copy."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update private.rate_limit_rules set requests = 1000000, per = interval '1 second'")


def clone_database(pg_server_url: str, template_url: str, label: str) -> str:
    name = f"t_{re.sub(r'[^a-z0-9]+', '_', label.lower())[-40:]}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(
            sql.Identifier(name), sql.Identifier(TEMPLATE)))
    return _url_for(pg_server_url, name)


def drop_database(pg_server_url: str, url: str) -> None:
    shared_db.close_pools()
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def database_url(request, pg_server_url: str, template_url: str) -> Iterator[str]:
    """A fresh copy of the template for this test module, and DATABASE_URL pointing at it."""
    url = clone_database(pg_server_url, template_url, request.module.__name__)
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    config.settings.cache_clear()
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous
        config.settings.cache_clear()
        drop_database(pg_server_url, url)


@pytest.fixture(scope="module")
def db(database_url: str) -> Db:
    return Db(database_url)


@dataclass
class Stack:
    """One module's running stack: every function plus the Stripe, Resend, Twilio and LLM stand-ins."""

    base_url: str
    standins: "devserver.Standins"

    @property
    def functions_url(self) -> str:
        return f"{self.base_url}/functions/v1"

    @property
    def stripe(self):
        return self.standins.stripe

    @property
    def resend(self):
        return self.standins.resend

    @property
    def llm(self):
        return self.standins.llm

    @property
    def twilio(self):
        return self.standins.twilio

    @property
    def paypal(self):
        return self.standins.paypal


@contextmanager
def override_env(**values: str) -> Iterator[None]:
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    config.settings.cache_clear()
    try:
        yield
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        config.settings.cache_clear()


@pytest.fixture(scope="module")
def stack(database_url: str) -> Iterator[Stack]:
    """Every function served over real HTTP, as `bookwell serve` does, with the provider
    stand-ins mounted beside them and the SDKs pointed at them."""
    from werkzeug.serving import make_server

    from shared.devstack import devserver

    server = make_server("127.0.0.1", 0, lambda env, start: app(env, start), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    with override_env(BOOKWELL_API_PORT=str(server.server_port), STRIPE_API_BASE=f"{base}/stripe",
                      RESEND_API_BASE=f"{base}/resend", TWILIO_API_BASE=f"{base}/twilio"):
        standins = devserver.Standins.for_settings(
            config.settings(), webhook_url=f"{base}/functions/v1/stripe-webhook")
        app = devserver.build_app(standins=standins)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield Stack(base, standins)
        finally:
            server.shutdown()
            thread.join(timeout=5)
            server.server_close()


@pytest.fixture(scope="module")
def functions_url(stack: Stack) -> str:
    return stack.functions_url


@pytest.fixture
def sale(db):
    """A published event with one £25 tier of 10 seats (ticketing and the shared money paths)."""
    event = ticketing.event(db)
    general = ticketing.tier(db, event, name="General", price_minor=2500, capacity=10)
    return event, general
