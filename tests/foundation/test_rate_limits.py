"""Rate limits kept in Postgres (routines/platform/rate_limits.sql), from both sides.

The arithmetic runs on an explicit clock; the buckets are exercised as a guest
would meet them: through PostgREST's RPC path (the SQLSTATE 'PGRST' refusal,
read as 429 + Retry-After) and through a function over HTTP. The test
template lifts every rule (tests/conftest.py); each test here sets the rule it
tests in this module's own database copy.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import flask
import httpx
import psycopg
import pytest

from shared.platform import errors
from shared.platform.db import Caller
from shared.platform.http import client_ip
from tests.conftest import override_env
from tests.support import http as web
from tests.support.pg import call
from tests.support.races import race

T0 = datetime(2031, 3, 30, 0, 59, 50, tzinfo=timezone.utc)  # any instant: the clock is explicit


def take(db, subject: str, at: datetime, requests: int = 3, per: str = "1 minute", bucket: str = "test"):
    """Remaining requests after this one, or the 429 as a DomainError."""
    try:
        return db.value("select private.rate_limit_take(%s, %s, %s, %s::interval, %s)",
                        (bucket, subject, requests, per, at))
    except psycopg.Error as exc:
        return errors.from_database(exc)


def rule(db, bucket: str, requests: int, per: str = "1 minute") -> None:
    db.sql("update private.rate_limit_rules set requests = %s, per = %s::interval where bucket = %s",
           (requests, per, bucket))


def guest(ip: str) -> Caller:
    return Caller("anon", {"role": "anon"}, ip=ip)


def ip() -> str:
    n = uuid.uuid4().int
    return f"198.51.{n % 250}.{n // 250 % 250 + 1}"


def test_a_burst_of_the_limit_passes_and_one_more_waits_for_its_share_of_the_period(db):
    subject = f"user:{uuid.uuid4()}"
    assert [take(db, subject, T0) for _ in range(3)] == [2, 1, 0]
    over = take(db, subject, T0)
    assert (over.status, over.code, over.headers) == (429, "rate_limited", {"Retry-After": "20"})
    assert over.details == {"bucket": "test", "retry_after_seconds": 20}
    # Each request is a third of the minute: the next is due 20 s on; one second short is still 429.
    assert take(db, subject, T0 + timedelta(seconds=19)).headers == {"Retry-After": "1"}
    assert take(db, subject, T0 + timedelta(seconds=20)) == 0
    assert isinstance(take(db, subject, T0 + timedelta(seconds=20)), errors.DomainError)
    # Idle for a whole period: the full burst again, whatever the clock's minute says.
    assert [take(db, subject, T0 + timedelta(seconds=100)) for _ in range(3)] == [2, 1, 0]


def test_subjects_and_buckets_count_apart(db):
    a, b = f"ip:{ip()}", f"ip:{ip()}"
    assert take(db, a, T0, requests=1) == 0
    assert isinstance(take(db, a, T0, requests=1), errors.DomainError)
    assert take(db, b, T0, requests=1) == 0
    assert take(db, a, T0, requests=1, bucket="other") == 0


def test_a_refused_request_does_not_move_the_wait(db):
    subject = f"user:{uuid.uuid4()}"
    take(db, subject, T0, requests=1)
    for second in range(0, 60, 10):  # hammering while refused changes nothing
        assert take(db, subject, T0 + timedelta(seconds=second), requests=1).status == 429
    assert take(db, subject, T0 + timedelta(seconds=60), requests=1) == 0


def test_twenty_concurrent_requests_of_one_subject_get_exactly_the_limit(db):
    subject = f"ip:{ip()}"

    def contender(lane, barrier):
        with db.connect() as conn:
            barrier.wait()
            try:
                conn.execute("select private.rate_limit_take('race', %s, 5, interval '1 hour')", (subject,))
                return "allowed"
            except psycopg.Error as exc:
                return errors.from_database(exc).code

    outcomes = race(20, contender)
    assert outcomes.count("allowed") == 5 and outcomes.count("rate_limited") == 15, outcomes


def test_throttle_counts_guests_by_address_users_by_id_and_never_the_service_role(db):
    rule(db, "quote", 2)
    here, there = ip(), ip()
    statement = "select private.throttle('quote')"
    assert [call(db, guest(here), statement) for _ in range(2)] == ["", ""]  # void
    refused = call(db, guest(here), statement)
    assert isinstance(refused, psycopg.Error) and errors.from_database(refused).code == "rate_limited"
    assert call(db, guest(there), statement) == ""
    user = db.user()
    signed_in = Caller.user(user.id, user.email, ip=here)  # the user is counted, not the busy address
    assert [call(db, signed_in, statement) for _ in range(2)] == ["", ""]
    assert isinstance(call(db, signed_in, statement), psycopg.Error)
    assert all(call(db, Caller.service(), statement) == "" for _ in range(5))
    unknown = call(db, Caller.anon(), "select private.throttle('no_such_bucket')")
    assert isinstance(unknown, psycopg.Error) and errors.from_database(unknown) is None  # a bug, not a 4xx


def test_a_parking_quote_over_the_limit_is_refused_through_the_rpc_path(db):
    from tests.support import parking

    park = parking.car_park(db)
    request = parking.stay(park)
    rule(db, "quote", 2)
    caller = guest(ip())
    first = [parking.quote(db, park, request, caller) for _ in range(2)]
    assert all(isinstance(q, dict) and q["total_minor"] > 0 for q in first), first
    over = parking.quote(db, park, request, caller)
    answer = errors.from_database(over)
    assert (answer.status, answer.code) == (429, "rate_limited") and int(answer.headers["Retry-After"]) >= 1


def test_guest_lookups_share_one_limit_per_address(db):
    rule(db, "guest_lookup", 3)
    caller = guest(ip())
    statement = "select private.authorize_guest(%s, %s)"
    assert [call(db, caller, statement, "BW-00000000", "wrong") for _ in range(3)] == [None, None, None]
    refused = call(db, caller, statement, "BW-00000000", "wrong")
    assert errors.from_database(refused).code == "rate_limited"
    assert call(db, guest(ip()), statement, "BW-00000000", "wrong") is None


def test_checkout_over_http_answers_429_with_retry_after_and_counts_refused_attempts(stack, db):
    rule(db, "checkout", 2)
    rule(db, "promo_code", 1)
    body = web.checkout_body({"id": uuid.uuid4()}, [({"id": uuid.uuid4()}, 1)])  # no such event: refused, still counted

    def attempt(address: str, **extra) -> httpx.Response:
        headers = {**web.anon_headers(), "x-forwarded-for": f"10.9.9.9, {address}"}
        return web.buy(stack.functions_url, {**body, **extra}, headers)

    with override_env(TRUSTED_PROXY_HOPS="1"):
        busy = ip()
        first = [attempt(busy) for _ in range(2)]
        assert [(r.status_code, r.json()["error"]["code"]) for r in first] == [(422, "event_not_on_sale")] * 2
        over = attempt(busy)
        assert over.status_code == 429 and over.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(over.headers["retry-after"]) <= 30
        promo = ip()
        assert attempt(promo, promo_code="GUESS1").status_code == 422
        assert attempt(promo, promo_code="GUESS2").status_code == 429  # the promo rule is the tighter one
        assert attempt(promo).status_code == 422  # without a code only the checkout rule applies
    assert db.value("select count(*) from public.orders") == 0


def test_idle_counters_are_purged(db):
    db.sql("insert into private.rate_limits values ('test', 'ip:192.0.2.1', now() - interval '1 second'),"
           " ('test', 'ip:192.0.2.2', now() + interval '1 minute')")
    assert db.value("select private.purge_idle_rate_limits()") >= 1
    assert db.value("select count(*) from private.rate_limits where subject like 'ip:192.0.2.%%'") == 1


@pytest.mark.parametrize(("hops", "forwarded", "expected"), [
    (0, "203.0.113.7", "127.0.0.1"),                   # no proxy trusted: the peer
    (1, "203.0.113.7", "203.0.113.7"),                 # the one proxy's entry
    (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),        # the client's own claim further left is ignored
    (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
    (2, "203.0.113.7", "127.0.0.1"),                   # fewer entries than proxies: not behind them
])
def test_the_client_address_is_what_the_trusted_proxies_saw(hops, forwarded, expected):
    app = flask.Flask(__name__)
    with app.test_request_context(headers={"x-forwarded-for": forwarded},
                                  environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        assert client_ip(flask.request, hops) == expected
