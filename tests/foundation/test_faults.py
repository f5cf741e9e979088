"""Postgres crashing under the functions (issue #16, faults): clients get a clear 503 with Retry-After
while it is down, never a 500; the functions recover by themselves when it is back; nothing is lost:
a payment whose webhook arrived during the outage is recorded when Stripe delivers it again, and its
tickets are emailed exactly once.

This module runs on a Postgres server of its own (the session's is shared by every other module), and
kills it the way a crash does: `pg_ctl stop -m immediate`, no checkpoint, recovery on restart."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.devstack.localdb import LocalServer, free_port
from shared.platform import db as shared_db, migrate
from tests.conftest import override_env
from tests.support import ticketing as tk
from tests.support.http import buy, checkout_body, service_headers


# A process crash loses nothing the OS holds, so fsync may stay off; commits must reach the WAL before
# they are acknowledged, as in production (the test server's default, synchronous_commit=off, would not).
DURABLE = {"fsync": False, "extra": ("-c synchronous_commit=on",)}


@pytest.fixture(scope="module")
def own_server() -> Iterator[LocalServer]:
    root = Path(tempfile.mkdtemp(prefix="bookwell-faults-"))
    server = LocalServer(root / "pgdata", free_port())
    server.start(**DURABLE)
    try:
        yield server
    finally:
        shared_db.close_pools()
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def database_url(own_server: LocalServer) -> Iterator[str]:
    """Overrides tests/conftest.py's: this module's functions and `db` use the server it crashes."""
    url = own_server.url
    migrate.migrate(url)
    # A request waits at most 2 s for a connection while the server is down (10 s by default).
    with override_env(DATABASE_URL=url, DB_POOL_TIMEOUT_SECONDS="2"):
        shared_db.close_pools()
        yield url
        shared_db.close_pools()


def crash(server: LocalServer) -> None:
    server._run("pg_ctl", "-D", str(server.datadir), "-m", "immediate", "stop", timeout=60)


def until_answered(send, *, attempts: int = 15) -> tuple[httpx.Response, list[tuple[int, str, str | None]]]:
    """Send until something other than a 503 comes back, waiting as Retry-After says; returns the
    answer and every refusal on the way as (status, code, retry-after)."""
    refusals = []
    for _ in range(attempts):
        r = send()
        if r.status_code != 503:
            return r, refusals
        refusals.append((r.status_code, r.json()["error"]["code"], r.headers.get("retry-after")))
        time.sleep(float(r.headers.get("retry-after") or 1))
    pytest.fail(f"still 503 after {attempts} attempts: {refusals[-3:]}")


def test_a_crash_answers_503_with_retry_after_and_loses_nothing(own_server, stack, db):
    event = tk.event(db)
    tier = tk.tier(db, event, name="General", price_minor=2500, capacity=10)
    first = buy(stack.functions_url, checkout_body(event, [(tier, 2)], buyer_email="crash-a@example.com"))
    assert first.status_code == 200, first.text
    session_id = db.value("select checkout_session_id from public.orders where id = %s", (first.json()["order_id"],))
    sent_before = len(stack.stripe.events_sent)

    crash(own_server)
    try:
        down = [buy(stack.functions_url, checkout_body(event, [(tier, 1)], buyer_email="crash-b@example.com")),
                httpx.get(f"{stack.functions_url}/health", timeout=30)]
        for r in down:
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "database_unavailable" and int(r.headers["retry-after"]) >= 1
        # The buyer pays meanwhile: Stripe's webhook is refused with a 503, so Stripe will deliver it again.
        stack.stripe.pay(session_id)
        during = stack.stripe.events_sent[sent_before:]
        assert during and all(d.status == 503 for d in during), [(d.event["type"], d.status) for d in during]
    finally:
        own_server.start(**DURABLE)

    # Back without restarting anything: at most a few more 503s while the pool replaces dead connections.
    second, refusals = until_answered(lambda: buy(
        stack.functions_url, checkout_body(event, [(tier, 1)], buyer_email="crash-c@example.com")))
    assert second.status_code == 200, second.text
    assert all(code == "database_unavailable" and after for _, code, after in refusals), refusals
    for delivery in during:  # Stripe's retries
        again = stack.stripe.redeliver(delivery.event["id"])
        assert again.status == 200, again.body
    order = db.one("select status from public.orders where id = %s", (first.json()["order_id"],))
    assert order["status"] == "paid"
    assert db.value("select count(*) from public.tickets where order_id = %s and status = 'valid'",
                    (first.json()["order_id"],)) == 2
    for _ in range(2):  # the sender runs twice; the tickets go once
        assert httpx.post(f"{stack.functions_url}/send-tickets", json={"limit": 50}, headers=service_headers(),
                          timeout=60).status_code == 200
    mails = [m for m in stack.resend.emails_to("crash-a@example.com") if m["subject"].startswith("Your tickets")]
    assert len(mails) == 1
    for delivery in during:  # and a late duplicate delivery changes nothing
        assert stack.stripe.redeliver(delivery.event["id"]).status == 200
    assert db.value("select count(*) from public.payments where order_id = %s", (first.json()["order_id"],)) == 1
    # Nothing oversold: the seats held are the live orders' quantities.
    held = db.value("select count(*) from private.ticket_seats where tier_id = %s and order_id is not null",
                    (tier["id"],))
    live = db.value("select coalesce(sum(i.quantity), 0) from public.order_items i join public.orders o"
                    " on o.id = i.order_id where i.ticket_tier_id = %s and o.status in ('pending', 'paid')",
                    (tier["id"],))
    assert held == live == 3


# ---------------------------------------------------------------------------
# Slow providers: a call that takes longer than PROVIDER_TIMEOUT_SECONDS counts as failed.
# ---------------------------------------------------------------------------


def test_a_slow_stripe_at_checkout_is_a_502_and_holds_nothing(stack, db):
    event = tk.event(db)
    tier = tk.tier(db, event, name="General", price_minor=2500, capacity=4)
    with override_env(PROVIDER_TIMEOUT_SECONDS="1"):
        stack.stripe.slow_next(3, 2.0)  # the first try and both of the SDK's retries
        started = time.monotonic()
        r = buy(stack.functions_url, checkout_body(event, [(tier, 2)], buyer_email="slow-stripe@example.com"))
        waited = time.monotonic() - started
    assert (r.status_code, r.json()["error"]["code"]) == (502, "payment_provider_unavailable"), r.text
    assert waited < 15, waited  # bounded by the timeout, not by Stripe's 80 s default
    assert db.value("select count(*) from private.ticket_seats where tier_id = %s and order_id is not null",
                    (tier["id"],)) == 0
    assert db.value("select array_agg(distinct status::text) from public.orders where buyer_email = %s",
                    ("slow-stripe@example.com",)) == ["cancelled"]
    time.sleep(2.5)  # the stand-in finishes the calls nobody waits for any more
    again = buy(stack.functions_url, checkout_body(event, [(tier, 4)], buyer_email="slow-stripe2@example.com"))
    assert again.status_code == 200, again.text  # every seat was given back


def test_a_slow_paypal_at_checkout_is_a_502_and_holds_nothing(stack, db):
    event = tk.event(db)
    tier = tk.tier(db, event, name="General", price_minor=2500, capacity=2)
    with override_env(PROVIDER_TIMEOUT_SECONDS="1"):
        stack.paypal.slow_next(2, 2.0)  # the OAuth token call or the order itself: no retries (max_retries 0)
        r = buy(stack.functions_url, checkout_body(event, [(tier, 2)], provider="paypal",
                                                   buyer_email="slow-paypal@example.com"))
    assert (r.status_code, r.json()["error"]["code"]) == (502, "payment_provider_unavailable"), r.text
    assert db.value("select count(*) from private.ticket_seats where tier_id = %s and order_id is not null",
                    (tier["id"],)) == 0
    time.sleep(2.5)
    stack.paypal.faults.clear()


def test_a_slow_resend_times_out_and_the_retry_sends_the_email_once(stack, db):
    event = tk.event(db)
    tier = tk.tier(db, event, name="General", price_minor=2500, capacity=4)
    address = "slow-resend@example.com"
    r = buy(stack.functions_url, checkout_body(event, [(tier, 1)], buyer_email=address))
    assert r.status_code == 200, r.text
    order_id = r.json()["order_id"]
    with override_env(PROVIDER_TIMEOUT_SECONDS="1"):
        stack.resend.slow_next(5, 2.0)  # the webhook's own send and any retry of it: all too slow
        stack.stripe.pay(db.value("select checkout_session_id from public.orders where id = %s", (order_id,)))
        assert db.value("select status from public.orders where id = %s", (order_id,)) == "paid"
        time.sleep(2.5)
    row = db.one("select id, status, attempts from public.notification_outbox where template = 'tickets'"
                 " and recipient = %s", (address,))
    assert row["status"] != "sent" and row["attempts"] >= 1, row  # it timed out: not marked sent
    db.sql("update public.notification_outbox set next_attempt_at = now() where id = %s", (row["id"],))
    stack.resend.faults.clear()
    for _ in range(2):
        assert httpx.post(f"{stack.functions_url}/send-tickets", json={"limit": 50}, headers=service_headers(),
                          timeout=60).status_code == 200
    assert db.value("select status from public.notification_outbox where id = %s", (row["id"],)) == "sent"
    # Resend did take the slow call in the end; the retry carried the same idempotency key (the row id).
    assert len([m for m in stack.resend.emails_to(address) if m["subject"].startswith("Your tickets")]) == 1
