"""create-checkout-session under hostile and edge input, over real HTTP.

Every refusal is checked three ways: the HTTP status, the stable error code,
and that nothing was written anywhere (no orders, order items or promo
redemptions, no promo uses counted, no seats taken, no tickets or payments,
no Checkout Session at the Stripe stand-in). The accepted cases check the
money by hand: order totals, how a discount is spread over the lines, and
that the Stripe line items add up to exactly what Postgres computed.

Tests whose assertion message starts with "BUG:" fail on purpose: they pin a
product bug, left for its owner to fix.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import jwt as pyjwt
import psycopg
import pytest

from shared.platform import auth
from shared.platform.config import settings
from tests.support import factories, ticketing as tk
from tests.support.http import ORIGIN, anon_headers, buy, checkout_body


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def endpoint(stack) -> str:
    return f"{stack.functions_url}/create-checkout-session"


def world(db, stack) -> dict:
    """Everything a checkout could write, counted."""
    row = db.one(
        "select (select count(*) from public.orders) as orders,"
        " (select count(*) from public.order_items) as order_items,"
        " (select count(*) from public.promo_redemptions) as promo_redemptions,"
        " (select coalesce(sum(redemptions_count), 0)::bigint from public.promo_codes) as promo_uses,"
        " (select count(*) from private.ticket_seats where order_id is not null) as seats_taken,"
        " (select count(*) from public.tickets) as tickets,"
        " (select count(*) from public.payments) as payments,"
        " (select count(*) from public.notification_outbox) as notifications")
    row["stripe_sessions"] = len(stack.stripe.sessions)
    return row


def post(stack, body=None, *, headers: dict | None = None, content=None, content_type: str | None = None,
         key: str | None = None, send_key: bool = True) -> httpx.Response:
    """POST to the function. `body` goes as JSON; `content` as raw bytes (or an iterator: chunked).
    An Idempotency-Key header is sent (`key`, or a fresh one) unless send_key=False."""
    headers = dict(anon_headers() if headers is None else headers)
    if send_key:
        headers.setdefault("idempotency-key", key or f"test-{uuid.uuid4()}")
    if content is not None:
        headers["content-type"] = content_type or "application/json"
        return httpx.post(endpoint(stack), content=content, headers=headers, timeout=30)
    return httpx.post(endpoint(stack), json=body, headers=headers, timeout=30)


def refused(stack, db, body=None, *, status: int, code: str, **kw) -> dict:
    """POST, expect `status` with error `code`, and prove nothing was written. Returns the error."""
    before = world(db, stack)
    r = post(stack, body, **kw)
    assert r.status_code == status, f"expected {status} {code}, got {r.status_code}: {r.text}"
    error = r.json()["error"]
    assert error["code"] == code, f"expected {code}, got: {r.text}"
    after = world(db, stack)
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not changed, f"a refused checkout ({code}) still wrote something (before, after): {changed}"
    return error


def invalid_fields(error: dict) -> set[str]:
    assert isinstance(error["details"], list), error
    return {d["field"] for d in error["details"]}


def order_row(db, order_id) -> dict:
    return db.one("select * from public.orders where id = %s", (order_id,))


def items_by_tier(db, order_id) -> dict:
    rows = db.sql("select * from public.order_items where order_id = %s", (order_id,))
    return {str(r["ticket_tier_id"]): r for r in rows}


def stripe_total(stack, session_id: str) -> int:
    return sum(li["amount_total"] for li in stack.stripe.line_items(session_id))


def accepted(stack, body, headers=None) -> dict:
    r = buy(stack.functions_url, body, headers)
    assert r.status_code == 200, r.text
    return r.json()


def accepted_with_key(stack, body, key, headers=None) -> dict:
    r = post(stack, body, key=key, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def lookup(db, number: str, token: str) -> dict | None:
    """A guest's order lookup (number + tracking token), as anon."""
    with db.as_anon() as cur:
        cur.execute("select public.lookup_order(%s, %s) as o", (number, token))
        return cur.fetchone()["o"]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def unique_email(label: str = "buyer") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture
def event(db):
    return tk.event(db)


@pytest.fixture
def general(db, event):
    return tk.tier(db, event, name="General", price_minor=2500, capacity=10)


# ---------------------------------------------------------------------------
# Quantities, lines and the request body's shape
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("quantity", [0, -1, 101, 2.5, "two", 10**12, None, [], {}],
                         ids=["zero", "negative", "101", "float", "word", "huge", "null", "list", "object"])
def test_a_quantity_outside_1_to_100_or_not_a_whole_number_is_refused(stack, db, event, general, quantity):
    body = checkout_body(event, [(general, 1)])
    body["items"][0]["quantity"] = quantity
    error = refused(stack, db, body, status=422, code="invalid_request")
    assert invalid_fields(error) == {"items.0.quantity"}
    assert tk.seats_taken(db, general["id"]) == 0


@pytest.mark.parametrize("quantity", ["2", True], ids=["numeric-string", "boolean"])
def test_a_quantity_that_is_not_a_json_integer_is_refused(stack, db, event, general, quantity):
    body = checkout_body(event, [(general, 1)])
    body["items"][0]["quantity"] = quantity
    before = world(db, stack)
    r = post(stack, body)
    assert r.status_code == 422, (
        f"BUG: quantity {quantity!r} (a JSON {type(quantity).__name__}) was coerced to an integer and the order "
        f"placed ({r.status_code}: {r.text[:300]}). Pydantic's lax mode turns \"2\" into 2 and true into 1. "
        "Fix: shared/commerce/checkout.py CheckoutItem.quantity = Field(ge=1, le=100, strict=True) "
        "(field-level strict, so tier_id may stay a string in JSON).")
    assert r.json()["error"]["code"] == "invalid_request"
    assert world(db, stack) == before


def test_no_lines_is_refused(stack, db, event, general):
    body = checkout_body(event, [])
    error = refused(stack, db, body, status=422, code="invalid_request")
    assert invalid_fields(error) == {"items"}


def test_twenty_one_lines_are_refused_but_the_body_is_checked_before_the_database(stack, db, event, general):
    body = checkout_body(event, [(general, 1)])
    body["items"] = [{"tier_id": str(uuid.uuid4()), "quantity": 1} for _ in range(21)]
    error = refused(stack, db, body, status=422, code="invalid_request")
    assert invalid_fields(error) == {"items"}


def test_items_that_are_not_a_list_are_refused(stack, db, event, general):
    body = checkout_body(event, [(general, 1)])
    body["items"] = {"tier_id": str(general["id"]), "quantity": 1}
    refused(stack, db, body, status=422, code="invalid_request")


@pytest.mark.parametrize("upper", [False, True], ids=["same-spelling", "upper-case-uuid"])
def test_the_same_tier_on_two_lines_is_refused(stack, db, event, general, upper):
    body = checkout_body(event, [(general, 1), (general, 2)])
    if upper:
        body["items"][1]["tier_id"] = str(general["id"]).upper()
    refused(stack, db, body, status=422, code="duplicate_tier")


def test_an_unknown_tier_is_refused(stack, db, event, general):
    body = checkout_body(event, [(general, 1)])
    body["items"].append({"tier_id": str(uuid.uuid4()), "quantity": 1})
    refused(stack, db, body, status=422, code="unknown_tier")


def test_a_tier_of_another_event_of_the_same_organization_is_refused(stack, db, event, general):
    sibling = tk.event(db, event["org"])
    elsewhere = tk.tier(db, sibling, name="Sibling", capacity=5)
    for items in ([(elsewhere, 1)], [(general, 1), (elsewhere, 1)]):
        refused(stack, db, checkout_body(event, items), status=422, code="unknown_tier")
    assert tk.seats_taken(db, elsewhere["id"]) == 0


def test_a_tier_of_another_organizations_event_is_refused(stack, db, event, general):
    rival = tk.event(db)
    assert rival["org_id"] != event["org_id"]
    theirs = tk.tier(db, rival, name="Rival", capacity=5)
    for items in ([(theirs, 1)], [(general, 1), (theirs, 1)]):
        refused(stack, db, checkout_body(event, items), status=422, code="unknown_tier")
    # ... and naming their event with our tier is refused too.
    refused(stack, db, checkout_body(rival, [(general, 1)]), status=422, code="unknown_tier")


@pytest.mark.parametrize("where", ["event_id", "tier_id"])
@pytest.mark.parametrize("value", ["not-a-uuid", "123", "", "00000000-0000-0000-0000-00000000000g",
                                   "'; drop table public.orders; --"])
def test_a_malformed_uuid_is_refused(stack, db, event, general, where, value):
    body = checkout_body(event, [(general, 1)])
    if where == "event_id":
        body["event_id"] = value
    else:
        body["items"][0]["tier_id"] = value
    error = refused(stack, db, body, status=422, code="invalid_request")
    assert invalid_fields(error) == {"event_id" if where == "event_id" else "items.0.tier_id"}


def test_an_unknown_event_is_not_on_sale(stack, db, event, general):
    body = checkout_body(event, [(general, 1)], event_id=str(uuid.uuid4()))
    refused(stack, db, body, status=422, code="event_not_on_sale")


def test_an_unknown_body_field_is_refused(stack, db, event, general):
    body = checkout_body(event, [(general, 1)], discount_minor=2500)
    error = refused(stack, db, body, status=422, code="invalid_request")
    assert invalid_fields(error) == {"discount_minor"}
    assert error["details"][0]["type"] == "extra_forbidden"


def test_an_unknown_line_field_such_as_a_price_is_refused(stack, db, event, general):
    body = checkout_body(event, [(general, 1)])
    body["items"][0]["unit_price_minor"] = 1
    error = refused(stack, db, body, status=422, code="invalid_request")
    assert invalid_fields(error) == {"items.0.unit_price_minor"}


@pytest.mark.parametrize("raw", [b"event_id=1&quantity=2", b'{"event_id": ', b"\xff\xfe not utf-8", b"[" * 50_000],
                         ids=["form-encoded", "truncated", "bad-bytes", "deeply-nested"])
def test_a_body_that_is_not_json_is_a_400(stack, db, event, general, raw):
    refused(stack, db, status=400, code="invalid_json", content=raw,
            content_type="application/x-www-form-urlencoded" if raw.startswith(b"event_id") else None)


@pytest.mark.parametrize("raw", [b"[]", b"null", b"42", b'"checkout"', b"{}"])
def test_json_that_is_not_a_checkout_object_is_a_422(stack, db, event, general, raw):
    refused(stack, db, status=422, code="invalid_request", content=raw)


def test_a_body_over_the_size_limit_is_a_413(stack, db, event, general):
    limit = settings().http.max_body_bytes
    body = checkout_body(event, [(general, 1)], buyer_name="x" * (limit + 1))
    refused(stack, db, body, status=413, code="body_too_large")


def test_a_chunked_body_over_the_size_limit_is_a_413(stack, db, event, general):
    limit = settings().http.max_body_bytes
    payload = json.dumps(checkout_body(event, [(general, 1)], buyer_name="y" * (limit + 1))).encode()

    def chunks():
        for start in range(0, len(payload), 16 * 1024):
            yield payload[start:start + 16 * 1024]

    refused(stack, db, status=413, code="body_too_large", content=chunks())


def test_a_body_just_under_the_limit_is_read_whole(stack, db, event, general):
    """The limit refuses what is over it, not what is near it: a big but valid body reaches validation."""
    limit = settings().http.max_body_bytes
    body = checkout_body(event, [(general, 1)], buyer_name="z" * 190)
    body["padding"] = ""
    padding = limit - len(json.dumps(body).encode()) - 8
    body["padding"] = "p" * padding
    error = refused(stack, db, body, status=422, code="invalid_request")
    assert invalid_fields(error) == {"padding"}


@pytest.mark.parametrize("field", ["buyer_name", "buyer_email", "promo_code", "idempotency_key"])
def test_a_nul_character_in_a_text_field_is_a_422_not_a_crash(stack, db, event, general, field):
    """Postgres text cannot hold U+0000; psycopg refuses it client-side with a DataError that has no SQLSTATE."""
    values = {"buyer_name": "Gem\u0000ma", "buyer_email": "gem\u0000ma@example.com",
              "promo_code": "SAVE\u000010", "idempotency_key": "checkout-\u0000-key"}
    body = checkout_body(event, [(general, 1)], **{field: values[field]})
    before = world(db, stack)
    r = post(stack, body, send_key=False)  # so a body idempotency_key is the one used
    assert r.status_code == 422, (
        f"BUG: a NUL character in {field} crashes checkout with {r.status_code} ({r.text[:160]}) instead of a 422: "
        "psycopg raises DataError('PostgreSQL text fields cannot contain NUL (0x00) bytes') with sqlstate None, "
        "which shared/platform/errors.py from_database() does not translate, so shared/platform/http.py answers 500 internal and "
        "logs a stack trace. Fix: in from_database, map a psycopg.DataError without SQLSTATE to "
        "422 invalid_value (helps every function), and/or refuse '\\x00' in CheckoutRequest's strings "
        "(e.g. a pydantic pattern r'^[^\\x00]*$').")
    assert r.json()["error"]["code"] in ("invalid_request", "invalid_value"), r.text
    assert world(db, stack) == before


@pytest.mark.parametrize("key", ["k" * 31, "k" * 201], ids=["31-chars", "201-chars"])
def test_an_idempotency_key_header_outside_32_to_200_characters_is_refused(stack, db, event, general, key):
    error = refused(stack, db, checkout_body(event, [(general, 1)]), status=422, code="invalid_request", key=key)
    assert [d["field"] for d in error["details"]] == ["idempotency_key"]


@pytest.mark.parametrize("key", ["k" * 31, "k" * 201], ids=["31-chars", "201-chars"])
def test_the_rpc_refuses_a_short_or_long_idempotency_key_too(db, event, general, key):
    with pytest.raises(psycopg.Error) as refusal, db.as_anon() as cur:
        cur.execute("select public.place_ticket_order(%s, %s::jsonb, 'kim@example.com', 'Kim', null, %s)",
                    (event["id"], json.dumps([{"tier_id": str(general["id"]), "quantity": 1}]), key))
    assert (refusal.value.sqlstate, refusal.value.diag.message_detail) == ("PT422", "invalid_idempotency_key")


# ---------------------------------------------------------------------------
# Who may call
# ---------------------------------------------------------------------------

def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


@pytest.mark.parametrize("make_headers, code", [
    (lambda: {}, "missing_token"),
    (lambda: {"apikey": auth.api_keys(settings())["anon"]}, "missing_token"),
    (lambda: bearer("not-a-jwt"), "invalid_token"),
    (lambda: {"authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="}, "invalid_token"),
    (lambda: bearer(auth.mint(settings(), role="anon", ttl_seconds=-60)), "token_expired"),
    (lambda: bearer(pyjwt.encode({"role": "anon", "exp": int(time.time()) + 600},
                                 "another-secret-that-is-at-least-32-bytes", algorithm="HS256")), "invalid_token"),
    (lambda: bearer(pyjwt.encode({"role": "anon", "exp": int(time.time()) + 600}, None, algorithm="none")),
     "invalid_token"),
], ids=["no-header", "apikey-only", "garbage-bearer", "basic-auth", "expired", "wrong-secret", "alg-none"])
def test_a_caller_without_a_valid_jwt_is_a_401(stack, db, event, general, make_headers, code):
    """verify_jwt = true: even a guest must present the anon key."""
    refused(stack, db, checkout_body(event, [(general, 1)]), status=401, code=code, headers=make_headers())


# ---------------------------------------------------------------------------
# The event and its tiers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["draft", "cancelled", "completed"])
def test_an_event_that_is_not_published_is_not_on_sale(stack, db, status):
    ev = tk.event(db, status=status)
    tier = tk.tier(db, ev, capacity=5)
    refused(stack, db, checkout_body(ev, [(tier, 1)]), status=422, code="event_not_on_sale")
    assert tk.seats_taken(db, tier["id"]) == 0


def test_an_event_in_the_past_is_not_on_sale(stack, db):
    ev = tk.event(db, starts_in=-timedelta(days=1))
    assert ev["ends_at"] < datetime.now(timezone.utc)
    tier = tk.tier(db, ev, capacity=5)
    refused(stack, db, checkout_body(ev, [(tier, 1)]), status=422, code="event_not_on_sale")


def test_an_unlisted_published_event_sells_to_whoever_has_the_link(stack, db):
    ev = tk.event(db, visibility="unlisted")
    assert ev["visibility"] == "unlisted" and ev["status"] == "published"
    tier = tk.tier(db, ev, price_minor=1500, capacity=5)
    order = accepted(stack, checkout_body(ev, [(tier, 2)], buyer_email=unique_email()))
    assert order["status"] == "pending" and order["total_minor"] == 3000
    assert tk.seats_taken(db, tier["id"]) == 2


@pytest.mark.parametrize("window", ["not-yet-open", "already-closed"])
def test_a_tier_outside_its_sale_window_is_refused(stack, db, event, general, window):
    now = datetime.now(timezone.utc)
    if window == "not-yet-open":
        tier = tk.tier(db, event, name="Later", capacity=5, sale_starts_at=now + timedelta(days=1))
    else:
        tier = tk.tier(db, event, name="Early bird", capacity=5, sale_starts_at=now - timedelta(days=2),
                       sale_ends_at=now - timedelta(hours=1))
    error = refused(stack, db, checkout_body(event, [(general, 1), (tier, 1)]), status=422, code="sale_closed")
    assert error["details"] == {"tier_id": str(tier["id"])}
    assert tk.seats_taken(db, general["id"]) == 0


@pytest.mark.parametrize("quantity", [1, 5], ids=["below-min", "above-max"])
def test_a_quantity_outside_the_tiers_per_order_limits_is_refused(stack, db, event, quantity):
    tables = tk.tier(db, event, name="Table of friends", capacity=50, min_per_order=2, max_per_order=4)
    error = refused(stack, db, checkout_body(event, [(tables, quantity)]), status=422, code="invalid_quantity")
    assert error["details"] == {"tier_id": str(tables["id"])}
    assert "between 2 and 4" in error["message"]


def test_the_per_order_limits_themselves_are_allowed(stack, db, event):
    tables = tk.tier(db, event, name="Table of friends", price_minor=1000, capacity=50,
                     min_per_order=2, max_per_order=4)
    for quantity in (2, 4):
        order = accepted(stack, checkout_body(event, [(tables, quantity)], buyer_email=unique_email()))
        assert order["total_minor"] == 1000 * quantity
    assert tk.seats_taken(db, tables["id"]) == 6


def test_tiers_in_different_currencies_cannot_share_an_order(stack, db, event, general):
    euros = tk.tier(db, event, name="Euro", currency="EUR", capacity=5)
    refused(stack, db, checkout_body(event, [(general, 1), (euros, 1)]), status=422, code="mixed_currency")


def test_asking_for_more_than_is_left_is_409_sold_out_and_holds_nothing(stack, db, event, general):
    last = tk.tier(db, event, name="Last seat", capacity=1)
    error = refused(stack, db, checkout_body(event, [(general, 1), (last, 2)]), status=409, code="sold_out")
    assert error["details"] == {"tier_id": str(last["id"])}
    assert tk.seats_taken(db, last["id"]) == 0 and tk.seats_taken(db, general["id"]) == 0
    # The one seat is still there for a buyer who asks for one.
    accepted(stack, checkout_body(event, [(last, 1)], buyer_email=unique_email()))
    refused(stack, db, checkout_body(event, [(last, 1)], buyer_email=unique_email()), status=409, code="sold_out")


# ---------------------------------------------------------------------------
# Return URLs
# ---------------------------------------------------------------------------

BAD_RETURN_URLS = [
    "https://evil.example/thanks",
    "javascript:alert(document.cookie)",
    "JavaScript://localhost:3000/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/thanks",
    "thanks",
    "//evil.example/thanks",
    "https://localhost:3000/thanks",
    "http://localhost:3000.evil.example/thanks",
    "http://localhost:3000@evil.example/thanks",
    "http://localhost:3001/thanks",
    "ftp://localhost:3000/thanks",
]


@pytest.mark.parametrize("field", ["success_url", "cancel_url"])
@pytest.mark.parametrize("url", BAD_RETURN_URLS)
def test_a_return_url_outside_the_configured_origins_is_refused(stack, db, event, general, field, url):
    assert origin_of(url) not in settings().checkout.return_origins
    body = checkout_body(event, [(general, 1)], **{field: url})
    error = refused(stack, db, body, status=422, code="invalid_return_url")
    assert error["details"]["field"] == field
    assert ORIGIN in error["details"]["allowed"]


@pytest.mark.parametrize("field", ["success_url", "cancel_url"])
def test_a_missing_return_url_is_refused(stack, db, event, general, field):
    body = checkout_body(event, [(general, 1)])
    del body[field]
    error = refused(stack, db, body, status=422, code="invalid_request")
    assert invalid_fields(error) == {field}


# ---------------------------------------------------------------------------
# The buyer
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two words@example.com", "@example.com",
                                   "guest@", "", "   ", None])
def test_a_guest_needs_a_valid_email(stack, db, event, general, email):
    body = checkout_body(event, [(general, 1)], buyer_email=email)
    refused(stack, db, body, status=422, code="invalid_buyer")


@pytest.mark.parametrize("name", [None, "", "   "], ids=["missing", "empty", "blank"])
def test_a_guest_needs_a_name(stack, db, event, general, name):
    body = checkout_body(event, [(general, 1)])
    if name is None:
        del body["buyer_name"]
    else:
        body["buyer_name"] = name
    refused(stack, db, body, status=422, code="invalid_buyer")


def test_a_signed_in_buyer_is_known_from_the_jwt_and_their_profile(stack, db, event, general):
    mark = uuid.uuid4().hex[:8]
    user = db.user(email=f"Sam.Signed-{mark}@Example.com", full_name="Sam Signed")
    body = checkout_body(event, [(general, 2)])
    del body["buyer_email"], body["buyer_name"]
    order = accepted(stack, body, headers=user.headers)

    row = order_row(db, order["order_id"])
    assert row["buyer_email"] == user.email.lower()
    assert row["buyer_name"] == "Sam Signed"
    assert str(row["buyer_user_id"]) == user.id
    session = stack.stripe.sessions[order["checkout_session_id"]]
    assert session["customer_email"] == user.email.lower()

    # They read their own order and its lines under RLS; another user sees nothing.
    with db.as_user(user) as cur:
        cur.execute("select id, buyer_email, total_minor from public.orders where id = %s", (order["order_id"],))
        mine = cur.fetchall()
        cur.execute("select quantity from public.order_items where order_id = %s", (order["order_id"],))
        lines = cur.fetchall()
    assert len(mine) == 1 and mine[0]["total_minor"] == 5000
    assert [line["quantity"] for line in lines] == [2]
    with db.as_user(db.user()) as cur:
        cur.execute("select id from public.orders where id = %s", (order["order_id"],))
        assert cur.fetchall() == []


def test_a_signed_in_buyer_may_buy_in_someone_elses_name(stack, db, event, general):
    user = db.user(full_name="Pat Payer")
    body = checkout_body(event, [(general, 1)], buyer_email="Gift.Receiver@Example.com", buyer_name="Gift Receiver")
    order = accepted(stack, body, headers=user.headers)
    row = order_row(db, order["order_id"])
    assert (row["buyer_email"], row["buyer_name"]) == ("gift.receiver@example.com", "Gift Receiver")
    assert str(row["buyer_user_id"]) == user.id


def test_a_signed_in_buyer_without_a_profile_name_must_give_one(stack, db, event, general):
    user = db.user()  # no full_name in the profile
    body = checkout_body(event, [(general, 1)])
    del body["buyer_email"], body["buyer_name"]
    refused(stack, db, body, status=422, code="invalid_buyer", headers=user.headers)


def test_a_guest_order_has_no_buyer_user(stack, db, event, general):
    order = accepted(stack, checkout_body(event, [(general, 1)], buyer_email=unique_email()))
    assert order_row(db, order["order_id"])["buyer_user_id"] is None


# ---------------------------------------------------------------------------
# The Stripe Checkout Session
# ---------------------------------------------------------------------------

def test_the_checkout_session_matches_the_order_and_outlives_the_hold(stack, db, event, general):
    vip = tk.tier(db, event, name="VIP", price_minor=6000, capacity=5)
    email = unique_email("session")
    body = checkout_body(event, [(general, 3), (vip, 1)], buyer_email=email)
    order = accepted(stack, body)
    assert order["status"] == "pending" and order["total_minor"] == 3 * 2500 + 6000

    row = order_row(db, order["order_id"])
    session_id = order["checkout_session_id"]
    session = stack.stripe.sessions[session_id]
    assert row["checkout_session_id"] == session_id and row["checkout_url"] == session["url"]
    assert order["checkout_url"] == session["url"]
    assert session["url"].startswith(f"{stack.base_url}/stripe/checkout/")

    assert session["metadata"]["order_id"] == order["order_id"]
    assert session["metadata"]["order_number"] == order["order_number"] == row["number"]
    assert session["client_reference_id"] == order["order_id"]
    assert session["customer_email"] == email
    assert session["currency"] == "gbp" and session["mode"] == "payment"
    assert session["success_url"] == body["success_url"] and session["cancel_url"] == body["cancel_url"]

    lines = stack.stripe.line_items(session_id)
    assert sorted((li["price"]["unit_amount"], li["quantity"]) for li in lines) == [(2500, 3), (6000, 1)]
    assert stripe_total(stack, session_id) == session["amount_total"] == row["total_minor"] == 13500

    # The hold is 15 minutes; Stripe refuses sessions shorter than 30, so the session lives longer.
    hold = row["hold_expires_at"] - row["created_at"]
    assert hold == timedelta(minutes=settings().checkout.hold_minutes) == timedelta(minutes=15)
    assert session["expires_at"] - session["created"] >= 30 * 60
    assert session["expires_at"] > row["hold_expires_at"].timestamp()
    # ... so the page tells the buyer when the hold ends, in the org's zone, not only when the page closes.
    zone = ZoneInfo(db.value("select timezone from public.organizations where id = %s", (row["org_id"],)))
    hold_end = row["hold_expires_at"].astimezone(zone)
    said = f"Your order is held until {hold_end:%a} {hold_end.day} {hold_end:%b %Y, %H:%M} {hold_end.tzname()}."
    assert session["custom_text"]["submit"]["message"].startswith(said), session["custom_text"]
    page = httpx.get(session["url"], timeout=10)
    assert page.status_code == 200 and said in page.text.replace("&#x27;", "'"), page.text


def test_when_stripe_is_down_the_buyer_gets_502_and_nothing_stays_reserved(stack, db, event, general):
    code = tk.promo(db, event["org_id"], kind="percent", value=10)
    email = unique_email("outage")
    body = checkout_body(event, [(general, 2)], buyer_email=email, promo_code=code["code"])
    key = f"outage-{uuid.uuid4()}"
    sessions = len(stack.stripe.sessions)
    stack.stripe.fail_next(3, status=503)  # the request and both SDK retries
    r = post(stack, body, key=key)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "payment_provider_unavailable"
    assert len(stack.stripe.sessions) == sessions
    assert tk.seats_taken(db, general["id"]) == 0
    closed = db.one("select * from public.orders where buyer_email = %s", (email,))
    assert closed["status"] == "cancelled" and closed["close_reason"] == "payment_provider_unavailable"
    assert db.value("select count(*) from public.promo_redemptions where order_id = %s", (closed["id"],)) == 0
    assert db.value("select redemptions_count from public.promo_codes where id = %s", (code["id"],)) == 0

    # Retrying with the same idempotency key works once Stripe is back.
    r = post(stack, body, key=key)
    assert r.status_code == 200, r.text
    assert r.json()["order_id"] != str(closed["id"]) and r.json()["replayed"] is False
    assert tk.seats_taken(db, general["id"]) == 2


# ---------------------------------------------------------------------------
# Promo codes
# ---------------------------------------------------------------------------

def test_a_percent_code_takes_its_share_of_the_order(stack, db, event, general):
    code = tk.promo(db, event["org_id"], kind="percent", value=10)
    email = unique_email("percent")
    order = accepted(stack, checkout_body(event, [(general, 3)], buyer_email=email, promo_code=code["code"]))
    # 3 x £25.00 = £75.00; 10% off = £7.50; to pay £67.50.
    assert order["total_minor"] == 6750
    row = order_row(db, order["order_id"])
    assert (row["subtotal_minor"], row["discount_minor"], row["total_minor"]) == (7500, 750, 6750)
    assert row["promo_code_id"] == code["id"]
    line = items_by_tier(db, order["order_id"])[str(general["id"])]
    assert (line["discount_minor"], line["total_minor"]) == (750, 6750)
    redemption = db.one("select * from public.promo_redemptions where order_id = %s", (order["order_id"],))
    assert redemption["discount_minor"] == 750 and redemption["customer_email"] == email
    assert db.value("select redemptions_count from public.promo_codes where id = %s", (code["id"],)) == 1
    assert stripe_total(stack, order["checkout_session_id"]) == 6750
    assert stack.stripe.sessions[order["checkout_session_id"]]["amount_total"] == 6750


def test_a_fixed_code_restricted_to_one_tier_discounts_only_that_line(stack, db, event, general):
    vip = tk.tier(db, event, name="VIP", price_minor=6000, capacity=5)
    code = tk.promo(db, event["org_id"], kind="fixed", value=1000, currency="GBP", tiers=[vip])
    order = accepted(stack, checkout_body(event, [(general, 2), (vip, 1)], buyer_email=unique_email(),
                                          promo_code=code["code"]))
    # £50.00 General + £60.00 VIP = £110.00; £10.00 off the VIP line only = £100.00.
    assert order["total_minor"] == 10000
    lines = items_by_tier(db, order["order_id"])
    assert lines[str(general["id"])]["discount_minor"] == 0 and lines[str(general["id"])]["total_minor"] == 5000
    assert lines[str(vip["id"])]["discount_minor"] == 1000 and lines[str(vip["id"])]["total_minor"] == 5000
    row = order_row(db, order["order_id"])
    assert (row["subtotal_minor"], row["discount_minor"], row["total_minor"]) == (11000, 1000, 10000)
    stripe_lines = stack.stripe.line_items(order["checkout_session_id"])
    assert sorted((li["price"]["unit_amount"], li["quantity"]) for li in stripe_lines) == [(2500, 2), (5000, 1)]
    assert stripe_total(stack, order["checkout_session_id"]) == 10000


def test_a_fixed_code_larger_than_the_eligible_lines_is_capped_at_them(stack, db, event, general):
    cheap = tk.tier(db, event, name="Standing", price_minor=1000, capacity=5)
    code = tk.promo(db, event["org_id"], kind="fixed", value=5000, currency="GBP", tiers=[cheap])
    order = accepted(stack, checkout_body(event, [(general, 1), (cheap, 1)], buyer_email=unique_email(),
                                          promo_code=code["code"]))
    # £50.00 off, but only the £10.00 Standing line is eligible: £10.00 off; the £25.00 line stays.
    assert order["total_minor"] == 2500 and order["status"] == "pending"
    row = order_row(db, order["order_id"])
    assert (row["subtotal_minor"], row["discount_minor"], row["total_minor"]) == (3500, 1000, 2500)
    lines = items_by_tier(db, order["order_id"])
    assert lines[str(cheap["id"])]["total_minor"] == 0 and lines[str(general["id"])]["total_minor"] == 2500
    assert db.value("select discount_minor from public.promo_redemptions where order_id = %s",
                    (order["order_id"],)) == 1000
    assert stripe_total(stack, order["checkout_session_id"]) == 2500


def test_a_percent_discount_that_does_not_divide_evenly_still_adds_up_to_the_penny(stack, db, event):
    a = tk.tier(db, event, name="A", price_minor=999, capacity=5)
    b = tk.tier(db, event, name="B", price_minor=333, capacity=5)
    code = tk.promo(db, event["org_id"], kind="percent", value=15)
    order = accepted(stack, checkout_body(event, [(a, 1), (b, 1)], buyer_email=unique_email(),
                                          promo_code=code["code"]))
    # 15% of £13.32 = 199.8p, rounded down to 199p; spread 149p + 50p (largest remainder).
    assert order["total_minor"] == 1332 - 199
    lines = items_by_tier(db, order["order_id"])
    assert (lines[str(a["id"])]["discount_minor"], lines[str(b["id"])]["discount_minor"]) == (149, 50)
    assert sum(line["total_minor"] for line in lines.values()) == 1133
    assert stripe_total(stack, order["checkout_session_id"]) == 1133


@pytest.mark.parametrize("state", ["not-yet-valid", "expired", "inactive"])
def test_a_code_outside_its_validity_is_promo_invalid(stack, db, event, general, state):
    now = datetime.now(timezone.utc)
    if state == "not-yet-valid":
        code = tk.promo(db, event["org_id"], valid_from=now + timedelta(days=1))
    elif state == "expired":
        code = tk.promo(db, event["org_id"], valid_from=now - timedelta(days=10), valid_until=now - timedelta(days=1))
    else:
        code = tk.promo(db, event["org_id"])
        db.sql("update public.promo_codes set active = false where id = %s", (code["id"],))
    body = checkout_body(event, [(general, 2)], buyer_email=unique_email(), promo_code=code["code"])
    refused(stack, db, body, status=422, code="promo_invalid")
    assert tk.seats_taken(db, general["id"]) == 0


def test_another_organizations_code_is_promo_invalid(stack, db, event, general):
    theirs = tk.promo(db, factories.org(db)["id"], kind="percent", value=50)
    body = checkout_body(event, [(general, 1)], buyer_email=unique_email(), promo_code=theirs["code"])
    refused(stack, db, body, status=422, code="promo_invalid")


def test_an_unknown_code_is_promo_invalid(stack, db, event, general):
    body = checkout_body(event, [(general, 1)], buyer_email=unique_email(), promo_code="NO-SUCH-CODE")
    refused(stack, db, body, status=422, code="promo_invalid")


def test_a_fixed_code_in_another_currency_is_promo_invalid(stack, db, event, general):
    euros = tk.promo(db, event["org_id"], kind="fixed", value=500, currency="EUR")
    body = checkout_body(event, [(general, 1)], buyer_email=unique_email(), promo_code=euros["code"])
    refused(stack, db, body, status=422, code="promo_invalid")


def test_a_code_matches_whatever_its_case_and_surrounding_spaces(stack, db, event, general):
    code = tk.promo(db, event["org_id"], code=f"Gala-Early-{uuid.uuid4().hex[:4]}", kind="percent", value=20)
    typed = f"  {code['code'].swapcase()} "
    order = accepted(stack, checkout_body(event, [(general, 2)], buyer_email=unique_email(), promo_code=typed))
    assert order["total_minor"] == 4000  # £50.00 - 20%
    assert order_row(db, order["order_id"])["promo_code_id"] == code["id"]


def test_the_per_customer_limit_counts_the_email_whatever_its_case(stack, db, event, general):
    code = tk.promo(db, event["org_id"], kind="percent", value=10, per_customer_limit=1)
    mark = uuid.uuid4().hex[:8]
    first = accepted(stack, checkout_body(event, [(general, 1)], buyer_email=f"Repeat.Buyer-{mark}@Example.com",
                                          promo_code=code["code"]))
    assert first["total_minor"] == 2250
    again = checkout_body(event, [(general, 1)], buyer_email=f"repeat.buyer-{mark}@EXAMPLE.COM",
                          promo_code=code["code"])
    refused(stack, db, again, status=409, code="promo_customer_limit")
    # Someone else may still use it: the limit is per customer, not for everybody.
    other = accepted(stack, checkout_body(event, [(general, 1)], buyer_email=unique_email(),
                                          promo_code=code["code"]))
    assert other["total_minor"] == 2250
    assert db.value("select redemptions_count from public.promo_codes where id = %s", (code["id"],)) == 2


def test_the_per_customer_limit_also_counts_a_signed_in_buyer_under_another_email(stack, db, event, general):
    code = tk.promo(db, event["org_id"], kind="percent", value=10, per_customer_limit=1)
    user = db.user(full_name="Una User")
    accepted(stack, checkout_body(event, [(general, 1)], buyer_email=unique_email("first"),
                                  promo_code=code["code"]), headers=user.headers)
    body = checkout_body(event, [(general, 1)], buyer_email=unique_email("second"), promo_code=code["code"])
    refused(stack, db, body, status=409, code="promo_customer_limit", headers=user.headers)


def test_a_used_up_code_is_promo_exhausted(stack, db, event, general):
    code = tk.promo(db, event["org_id"], kind="percent", value=10, max_redemptions=1)
    accepted(stack, checkout_body(event, [(general, 1)], buyer_email=unique_email(), promo_code=code["code"]))
    body = checkout_body(event, [(general, 1)], buyer_email=unique_email(), promo_code=code["code"])
    refused(stack, db, body, status=409, code="promo_exhausted")


def test_a_restricted_code_on_an_order_without_its_tier_is_not_applicable(stack, db, event, general):
    vip = tk.tier(db, event, name="VIP", price_minor=6000, capacity=5)
    code = tk.promo(db, event["org_id"], kind="percent", value=50, tiers=[vip])
    body = checkout_body(event, [(general, 2)], buyer_email=unique_email(), promo_code=code["code"])
    refused(stack, db, body, status=422, code="promo_not_applicable")
    assert tk.seats_taken(db, general["id"]) == 0


def test_a_discount_that_makes_the_order_free_fulfils_it_without_stripe(stack, db, event, general):
    code = tk.promo(db, event["org_id"], kind="percent", value=100)
    sessions = len(stack.stripe.sessions)
    order = accepted(stack, checkout_body(event, [(general, 2)], buyer_email=unique_email("free"),
                                          promo_code=code["code"]))
    assert order["status"] == "paid" and order["total_minor"] == 0
    assert order["checkout_url"] is None and order["hold_expires_at"] is None
    assert len(stack.stripe.sessions) == sessions
    row = order_row(db, order["order_id"])
    assert (row["subtotal_minor"], row["discount_minor"], row["total_minor"]) == (5000, 5000, 0)
    assert row["checkout_session_id"] is None
    payment = db.one("select * from public.payments where order_id = %s", (order["order_id"],))
    assert payment["provider"] == "free" and payment["amount_minor"] == 0
    assert db.value("select count(*) from public.tickets where order_id = %s", (order["order_id"],)) == 2
    assert tk.seats_taken(db, general["id"]) == 2


# ---------------------------------------------------------------------------
# Idempotency
# ---------------------------------------------------------------------------

def test_a_retry_with_the_same_idempotency_key_gets_the_same_order_and_session(stack, db, event, general):
    body = checkout_body(event, [(general, 2)], buyer_email=unique_email("retry"))
    key = f"retry-{uuid.uuid4()}"
    first = accepted_with_key(stack, body, key)
    before = world(db, stack)
    again = accepted_with_key(stack, body, key)
    assert again["replayed"] is True and first["replayed"] is False
    assert again["order_id"] == first["order_id"] and again["checkout_url"] == first["checkout_url"]
    assert again["tracking_token"] is None  # shown once, to the first answer: a key is not a credential
    assert world(db, stack) == before
    assert lookup(db, first["order_number"], first["tracking_token"]) is not None  # the buyer's link still works
    assert tk.seats_taken(db, general["id"]) == 2


def test_a_guessable_idempotency_key_is_refused(stack, db, event, general):
    body = checkout_body(event, [(general, 1)], buyer_email=unique_email())
    error = refused(stack, db, body, status=422, code="invalid_request", key="cart-00000042")
    assert [d["field"] for d in error["details"]] == ["idempotency_key"], error
    refused(stack, db, body | {"idempotency_key": "x" * 31}, status=422, code="invalid_request", send_key=False)


def test_a_retry_while_the_first_request_is_still_opening_its_session_waits_and_cancels_nothing(
        stack, db, event, general):
    """A retry that arrived before the first request attached its Checkout Session called Stripe again with other
    parameters under the same idempotency key, failed, and cancelled the order the first request was finishing."""
    from shared.commerce import checkout
    from shared.platform import db as shared_db
    from shared.ticketing.checkout import place_ticket_order

    body = checkout_body(event, [(general, 1)], buyer_email=unique_email("inflight"))
    key = f"inflight-{uuid.uuid4()}"
    request = checkout.parse_request(body, idempotency_header=key)
    with shared_db.transaction(shared_db.Caller.anon()) as cur:
        first = place_ticket_order(cur, request, request.idempotency_key, settings())
    sessions = len(stack.stripe.sessions)
    r = post(stack, body, key=key)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_conflict", r.text
    assert order_row(db, first["order_id"])["status"] == "pending" and len(stack.stripe.sessions) == sessions


def test_through_the_rpc_a_replayed_key_matches_only_the_very_same_request_buyer_included(db, event, general):
    items = json.dumps([{"tier_id": str(general["id"]), "quantity": 1}])
    key = f"rpc-{uuid.uuid4()}"
    place = "select public.place_ticket_order(%s, %s::jsonb, %s, 'Kim', null, %s) as o"
    with db.as_anon() as cur:
        first = cur.execute(place, (event["id"], items, "kim@example.com", key)).fetchone()["o"]
    with db.as_anon() as cur:
        again = cur.execute(place, (event["id"], items, "kim@example.com", key)).fetchone()["o"]
    assert again["replayed"] and again["order_id"] == first["order_id"] and again["tracking_token"] is None
    with pytest.raises(psycopg.Error) as refused, db.as_anon() as cur:
        cur.execute(place, (event["id"], items, "someone-else@example.com", key))
    assert refused.value.diag.message_detail == "idempotency_key_reused"


def test_an_idempotency_key_reused_for_another_request_is_refused(stack, db, event, general):
    key = f"reuse-{uuid.uuid4()}"
    accepted_with_key(stack, checkout_body(event, [(general, 1)], buyer_email=unique_email()), key)
    other = checkout_body(event, [(general, 3)], buyer_email=unique_email())
    refused(stack, db, other, status=422, code="idempotency_key_reused", key=key)


def test_another_users_identical_request_with_my_idempotency_key_does_not_get_my_order(stack, db, event, general):
    """Idempotency keys are per caller (as Stripe scopes them per account): a second signed-in
    user sending the same body with the same key must not be handed the first user's order."""
    alice = db.user(full_name="Alice Buyer")
    mallory = db.user(full_name="Mallory Other")
    body = checkout_body(event, [(general, 1)])
    del body["buyer_email"], body["buyer_name"]
    key = f"shared-{uuid.uuid4()}"
    mine = accepted_with_key(stack, body, key, headers=alice.headers)
    r = post(stack, body, key=key, headers=mallory.headers)
    leaked = r.status_code == 200 and r.json()["order_id"] == mine["order_id"]
    if leaked:
        theirs = lookup(db, mine["order_number"], r.json()["tracking_token"])
        alices = lookup(db, mine["order_number"], mine["tracking_token"])
    assert not leaked, (
        "BUG: another signed-in user replaying Alice's Idempotency-Key with the same body was answered with "
        f"Alice's order {mine['order_id']} and a fresh tracking token for it; with that token "
        f"public.lookup_order opens Alice's order: {theirs is not None} (buyer {theirs and theirs['buyer_email']}, "
        "and its ticket secrets once paid), while Alice's own token now opens it: "
        f"{alices is not None}. The replay lookup in private.place_ticket_order matches the key alone and "
        "the request hash (shared/commerce/checkout.py _request_hash) ignores the caller. Fix: add "
        "`and buyer_user_id is not distinct from buyer` to the replay lookup (answer idempotency_key_reused "
        "otherwise), or mix the caller (auth.uid() / 'anon') into the request hash.")
    assert r.status_code in (409, 422), r.text
    assert lookup(db, mine["order_number"], mine["tracking_token"]) is not None
