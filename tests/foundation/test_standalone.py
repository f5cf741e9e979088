"""Each function also runs alone, exactly as Cloud Run runs it:

    functions-framework --target main --source functions/<name>/main.py --port <port>

No devserver, no mounting: a separate process per function that reads its
settings from the environment, talks to this module's database and writes
its JSON log lines to stderr.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from shared.devstack import devserver
from shared.platform.config import PROJECT_ROOT
from tests.support.standalone import Standalone, function_source, standalone

ALLOWED_ORIGIN = "http://localhost:3000"


@pytest.fixture(scope="module")
def alone(database_url: str) -> Iterator:
    """`alone(name)`: that function served by its own process (started once per module)."""
    with ExitStack() as stack:
        servers: dict[str, Standalone] = {}

        def start(name: str) -> Standalone:
            if name not in servers:
                servers[name] = stack.enter_context(
                    standalone(function_source(name), {"DATABASE_URL": database_url}))
            return servers[name]

        yield start


@pytest.mark.parametrize("name", devserver.function_names())
def test_every_function_loads_alone_and_answers_through_the_bookwell_host(alone, name):
    server = alone(name)
    # A CORS preflight is answered by the host before auth or routing, for any function.
    r = httpx.options(server.url, headers={
        "origin": ALLOWED_ORIGIN, "access-control-request-method": "POST",
        "x-request-id": f"preflight-{name}",
    })
    assert r.status_code == 204, r.text
    assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert r.headers["x-request-id"] == f"preflight-{name}"
    # ... and logged as one structured JSON line on the process's stderr.
    lines = [e for e in server.log_lines() if e.get("request_id") == f"preflight-{name}"]
    assert len(lines) == 1, server.output()
    assert lines[0]["message"] == "request"
    assert lines[0]["function"] == name
    assert lines[0]["status"] == 204


def test_health_alone_answers_with_the_schema_version(alone, db):
    server = alone("health")
    r = httpx.get(server.url)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["schema_version"] == db.value("select max(version) from supabase_migrations.schema_migrations")


def test_me_alone_reads_the_callers_profile_with_a_minted_user_token(alone, db):
    user = db.user(full_name="Ada Alone")
    server = alone("me")
    r = httpx.get(server.url, headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["profile"]["email"] == user.email
    assert r.json()["profile"]["full_name"] == "Ada Alone"
    assert r.json()["memberships"] == []


def test_me_alone_still_refuses_a_request_without_a_token(alone):
    r = httpx.get(alone("me").url)
    assert r.status_code == 401
    assert r.json() == {"error": {"code": "missing_token", "message": "A valid token is required", "details": None}}


def test_body_limits_hold_under_the_production_server_too(database_url):
    """Cloud Run's server is gunicorn (via functions-framework), not werkzeug: its own
    chunked decoding and input streams must give the same 200 / 413 answers."""
    from shared.platform import auth, config

    echo = PROJECT_ROOT / "tests" / "fixtures" / "functions" / "echo" / "main.py"
    headers = {"authorization": f"Bearer {auth.api_keys(config.settings())['anon']}"}
    limit = config.settings().http.max_body_bytes
    prefix = b'{"message": "m", "padding": "'
    at_limit = prefix + b"p" * (limit - len(prefix) - 2) + b'"}'
    with standalone(echo, {"DATABASE_URL": database_url}) as server, httpx.Client(timeout=60) as client:
        for content in (at_limit, iter([at_limit[i:i + 1000] for i in range(0, limit, 1000)])):
            r = client.post(server.url, content=content, headers=headers)
            assert (r.status_code, r.json().get("bytes")) == (200, limit), r.text
        big = 8 * 1024 * 1024
        for extra in ({"content-length": str(big)}, {}):
            r = client.post(server.url, content=(b"x" * 65536 for _ in range(big // 65536)),
                            headers={**headers, **extra})
            assert r.status_code == 413, r.text
            assert r.json()["error"]["code"] == "body_too_large"
        # The connection and the server are still fine afterwards.
        r = client.post(server.url, json={"message": "still here"}, headers=headers)
        assert (r.status_code, r.json().get("message")) == (200, "still here")
