"""Security headers on every answer, and the statement timeout of each API role."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from werkzeug.datastructures import Headers

from shared.platform import errors
from shared.platform.db import Caller
from shared.platform.http import secure_headers
from tests.support.http import anon_headers
from tests.support.pg import call


def test_json_answers_and_errors_carry_nosniff_and_no_referrer_but_no_csp(stack):
    for r in (httpx.get(f"{stack.functions_url}/health", timeout=10),
              httpx.post(f"{stack.functions_url}/me", json={}, timeout=10),  # 401
              httpx.delete(f"{stack.functions_url}/health", timeout=10)):    # 405
        assert r.headers["x-content-type-options"] == "nosniff", r.status_code
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "content-security-policy" not in r.headers
        assert "strict-transport-security" not in r.headers  # development is plain HTTP on loopback


def test_html_pages_get_a_csp_without_scripts(stack):
    page = httpx.get(f"{stack.functions_url}/unsubscribe", params={"token": "x" * 40}, headers=anon_headers(),
                     timeout=10)
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "form-action 'self';" in csp and "script-src" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    standin = httpx.get(f"{stack.base_url}/stripe/", timeout=10)  # the dev stand-in's pages too
    assert standin.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in standin.headers["content-security-policy"]
    api = httpx.get(f"{stack.base_url}/stripe/v1/checkout/sessions", timeout=10)  # JSON (401 without a key)
    assert api.headers["x-content-type-options"] == "nosniff" and "content-security-policy" not in api.headers


def test_hsts_outside_development_only():
    production, development = Headers(), Headers()
    secure_headers(production, "application/json", production=True)
    secure_headers(development, "application/json", production=False)
    assert production["strict-transport-security"] == "max-age=63072000; includeSubDomains"
    assert "strict-transport-security" not in development
    kept = Headers({"referrer-policy": "same-origin"})  # a handler's own choice stands
    secure_headers(kept, "text/html", production=False)
    assert kept["referrer-policy"] == "same-origin"


@pytest.mark.parametrize(("caller", "expected"), [
    (Caller.anon(), "3s"), (Caller.user("00000000-0000-4000-8000-000000000001"), "8s"), (Caller.service(), "0")])
def test_each_role_runs_under_its_own_statement_timeout(db, caller, expected):
    assert call(db, caller, "select current_setting('statement_timeout')") == expected


def test_a_guest_statement_just_under_the_timeout_finishes_and_one_over_is_a_503(db):
    assert call(db, Caller.anon(), "select pg_sleep(2.7)::text") == ""
    over = call(db, Caller.anon(), "select pg_sleep(3.3)")
    assert isinstance(over, psycopg.errors.QueryCanceled), over
    answer = errors.from_database(over)
    assert (answer.status, answer.code) == (503, "statement_timeout")
