"""Guest orders and accounts (routines/commerce/customer_accounts.sql): what the guest
link says about accounts, linking a guest order to the signed-in customer
(emails must match, confirmed), and the guest lookup of appointment orders.

Orders are placed the way production places them: anonymously through
public.place_appointment_order / public.place_ticket_order, paid through
private.record_payment as the webhook does. "Nothing written" is proven by
reading the rows back as superuser after every refusal.
"""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from shared.platform.db import Caller
from tests.support.appointments import make_org, make_service, make_staff
from tests.support import orders, ticketing
from tests.support.pg import ArrangingDb, call, refused

POSTCODE = "SW1A 1AA"
ALL_DAY = {d: [("00:00", "24:00")] for d in range(7)}


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def shop(db) -> dict:
    org = make_org(db, tz="Europe/London", interval=30, notice=0, ahead=60)
    service = make_service(db, org, 60, name="Regular clean")
    staff = make_staff(db, org, [service], hours=ALL_DAY, name="Val")
    base = db.value("select date_trunc('day', now()) + interval '5 days 9 hours'")
    return {"org": org, "service": service, "staff": staff, "starts": (base + dt.timedelta(hours=k) for k in range(200))}


def customer(db, email: str | None = None, *, confirmed: bool = True):
    user = db.user(email or f"cust-{uuid.uuid4().hex[:8]}@example.com")
    if confirmed:
        db.sql("update auth.users set email_confirmed_at = now() where id = %s", (user.id,))
    return user


def guest_appointments(db, shop: dict, email: str, n: int = 1, *, paid: bool = True) -> dict:
    """A guest's appointment order (anon), paid unless told otherwise."""
    items = [{"service_id": str(shop["service"]), "start": next(shop["starts"]).isoformat()} for _ in range(n)]
    with db.as_anon() as cur:
        cur.execute("select public.place_appointment_order(%s, %s, %s, %s, 'Gemma Guest', '07700 900123',"
                    " '1 Example Street') as o", (shop["org"]["id"], Jsonb(items), POSTCODE, email))
        order = cur.fetchone()["o"]
    if paid:
        assert orders.pay(db, order["order_id"]) == "fulfilled"
    return order


def link(db, user, order: dict, token: str | None = None):
    return call(db, user.caller, "select public.link_guest_order(%s, %s)",
                order["number"], order["tracking_token"] if token is None else token)


def links(db, order: dict) -> dict:
    """Who the order and its appointments point at (superuser)."""
    return {"order": db.value("select buyer_user_id::text from public.orders where id = %s", (order["order_id"],)),
            "appointments": [r["u"] for r in db.sql(
                "select customer_user_id::text as u from public.appointments where order_id = %s order by id",
                (order["order_id"],))]}


def lookup(db, caller: Caller, order: dict, token: str | None = None):
    return call(db, caller, "select public.lookup_order(%s, %s)", order["number"],
                order["tracking_token"] if token is None else token)


# ---------------------------------------------------------------------------
# Does the order's email have an account?
# ---------------------------------------------------------------------------
def test_the_guest_link_tells_whether_the_buyers_email_has_an_account_and_nothing_without_the_token(db, shop):
    email = f"status-{uuid.uuid4().hex[:6]}@example.com"
    order = guest_appointments(db, shop, email)
    status = call(db, Caller.anon(), "select public.order_account_status(%s, %s)",
                  order["number"], order["tracking_token"])
    assert status == {"order_number": order["number"], "has_account": False, "linked": False,
                      "linked_to_you": False, "email_matches_you": False}

    person = customer(db, email.upper())  # account emails compare case-insensitively
    status = call(db, person.caller, "select public.order_account_status(%s, %s)",
                  order["number"], order["tracking_token"])
    assert (status["has_account"], status["linked"], status["email_matches_you"]) == (True, False, True)

    # A wrong token answers null; a missing one is refused; neither says anything about the email.
    assert call(db, Caller.anon(), "select public.order_account_status(%s, %s)", order["number"], "x" * 64) is None
    refused(call(db, Caller.anon(), "select public.order_account_status(%s, %s)", order["number"], ""),
            "PT422", "invalid_order_reference")
    # There is no RPC taking a bare email.
    assert db.value("select count(*) from pg_proc where pronamespace = 'public'::regnamespace"
                    " and proname ~ 'account' and pg_get_function_identity_arguments(oid) ~ 'email'") == 0


def test_guessing_tokens_is_throttled_like_the_guest_lookup_and_the_holder_still_links(db, shop):
    order = guest_appointments(db, shop, "throttle@example.com", paid=False)
    for _ in range(10):
        assert call(db, Caller.anon(), "select public.order_account_status(%s, %s)", order["number"], "guess") is None
    refused(call(db, Caller.anon(), "select public.order_account_status(%s, %s)", order["number"], "guess"),
            "PT429", "throttled")
    person = customer(db, "throttle@example.com")
    refused(link(db, person, order, "guess"), "PT429", "throttled")
    assert links(db, order)["order"] is None
    # The guesses cost the holder nothing.
    assert call(db, Caller.anon(), "select public.order_account_status(%s, %s)",
                order["number"], order["tracking_token"]) is not None
    assert not isinstance(link(db, person, order), psycopg.Error)
    assert links(db, order)["order"] is not None


# ---------------------------------------------------------------------------
# Linking
# ---------------------------------------------------------------------------
def test_account_linking_with_a_mismatched_email_is_refused_and_nothing_is_written(db, shop):
    order = guest_appointments(db, shop, "gemma@example.com", n=2)
    audit_before = db.value("select count(*) from public.audit_log")
    someone_else = customer(db, "mallory@example.com")
    refused(link(db, someone_else, order), "PT403", "email_mismatch")
    assert links(db, order) == {"order": None, "appointments": [None, None]}
    assert db.value("select count(*) from public.audit_log") == audit_before
    # Nor does a JWT claiming the buyer's email help: the account's own email decides.
    forged = Caller.user(someone_else.id, "gemma@example.com")
    refused(call(db, forged, "select public.link_guest_order(%s, %s)", order["number"], order["tracking_token"]),
            "PT403", "email_mismatch")
    assert links(db, order) == {"order": None, "appointments": [None, None]}


def test_an_unconfirmed_account_email_cannot_link(db, shop):
    email = f"unconfirmed-{uuid.uuid4().hex[:6]}@example.com"
    order = guest_appointments(db, shop, email)
    person = customer(db, email, confirmed=False)
    refused(link(db, person, order), "PT403", "email_not_confirmed")
    assert links(db, order)["order"] is None


def test_wrong_or_missing_tokens_and_anon_are_refused(db, shop):
    email = f"tok-{uuid.uuid4().hex[:6]}@example.com"
    order = guest_appointments(db, shop, email)
    person = customer(db, email)
    assert link(db, person, order, token="not-the-token") is None  # like lookup_order: null, failure counted
    assert db.value("select failures from private.order_lookup_failures where order_number = %s",
                    (order["number"],)) == 1
    refused(link(db, person, order, token=""), "PT422", "invalid_order_reference")
    refused(call(db, person.caller, "select public.link_guest_order(%s, %s)", None, order["tracking_token"]),
            "PT422", "invalid_order_reference")
    assert call(db, person.caller, "select public.link_guest_order(%s, %s)",
                "BW-ZZZZZZZZ", order["tracking_token"]) is None
    anon = call(db, Caller.anon(), "select public.link_guest_order(%s, %s)", order["number"], order["tracking_token"])
    assert isinstance(anon, psycopg.errors.InsufficientPrivilege), anon
    anon = call(db, Caller.anon(), "select private.link_guest_order(%s, %s)", order["number"], order["tracking_token"])
    assert isinstance(anon, psycopg.errors.InsufficientPrivilege), anon
    assert links(db, order) == {"order": None, "appointments": [None]}


def test_linking_then_the_customer_sees_order_and_appointments_through_rls_and_the_guest_link_still_works(db, shop):
    email = f"linker-{uuid.uuid4().hex[:6]}@example.com"
    order = guest_appointments(db, shop, email, n=2)
    person = customer(db, email)
    # The guest files a change request before linking; it follows the order.
    first = order["appointments"][0]["id"]
    assert call(db, Caller.anon(), "select public.request_appointment_change_as_guest(%s, %s, %s, 'cancel')",
                order["number"], order["tracking_token"], first)["status"] == "pending"

    # Before: RLS shows the customer nothing.
    with db.as_user(person) as cur:
        cur.execute("select count(*) as n from public.orders where id = %s", (order["order_id"],))
        assert cur.fetchone()["n"] == 0

    result = link(db, person, order)
    assert result["linked"] is True and result["already_linked"] is False and result["appointments_linked"] == 2
    assert links(db, order) == {"order": person.id, "appointments": [person.id, person.id]}
    assert db.value("select count(*) from public.audit_log where action = 'order.linked_to_account'"
                    " and row_id = %s", (str(order["order_id"]),)) == 1

    with db.as_user(person) as cur:
        cur.execute("select number, status::text from public.orders where id = %s", (order["order_id"],))
        assert cur.fetchall() == [{"number": order["number"], "status": "paid"}]
        cur.execute("select count(*) as n from public.appointments where order_id = %s and status = 'booked'",
                    (order["order_id"],))
        assert cur.fetchone()["n"] == 2
        cur.execute("select count(*) as n from public.payments where order_id = %s", (order["order_id"],))
        assert cur.fetchone()["n"] == 1
        cur.execute("select count(*) as n from public.appointment_change_requests where appointment_id = %s",
                    (first,))
        assert cur.fetchone()["n"] == 1
        # ... and the customer RPCs now work on them.
        cur.execute("select public.cancel_appointment(%s, 'plans changed') as a", (order["appointments"][1]["id"],))
        assert cur.fetchone()["a"]["status"] == "cancelled"

    # The guest link keeps working after linking.
    assert lookup(db, Caller.anon(), order)["order_id"] == order["order_id"]
    status = call(db, person.caller, "select public.order_account_status(%s, %s)",
                  order["number"], order["tracking_token"])
    assert (status["linked"], status["linked_to_you"]) == (True, True)


def test_relinking_by_the_same_user_is_a_no_op_and_another_user_is_refused(db, shop):
    email = f"twice-{uuid.uuid4().hex[:6]}@example.com"
    order = guest_appointments(db, shop, email)
    person = customer(db, email)
    assert link(db, person, order)["already_linked"] is False
    again = link(db, person, order)
    assert again["already_linked"] is True and again["appointments_linked"] == 0
    assert db.value("select count(*) from public.audit_log where action = 'order.linked_to_account'"
                    " and row_id = %s", (str(order["order_id"]),)) == 1

    # The account's email changes hands (the first account moved on; a new one has the address):
    # the order stays with the account it was linked to.
    db.sql("update auth.users set email = %s where id = %s", (f"moved-{uuid.uuid4().hex[:6]}@example.com", person.id))
    newcomer = customer(db, email)
    refused(link(db, newcomer, order), "PT409", "already_linked")
    assert links(db, order) == {"order": person.id, "appointments": [person.id]}


def test_an_order_placed_signed_in_is_already_linked(db, shop):
    email = f"signedin-{uuid.uuid4().hex[:6]}@example.com"
    person = customer(db, email)
    items = [{"service_id": str(shop["service"]), "start": next(shop["starts"]).isoformat()}]
    with db.as_user(person) as cur:
        cur.execute("select public.place_appointment_order(%s, %s, %s, null, 'Sam Signed') as o",
                    (shop["org"]["id"], Jsonb(items), POSTCODE))
        order = cur.fetchone()["o"]
    again = link(db, person, order)
    assert again["already_linked"] is True
    assert links(db, order) == {"order": person.id, "appointments": [person.id]}


def test_a_ticket_order_links_and_its_tickets_become_visible(db):
    ev = ticketing.event(db)
    tier = ticketing.tier(db, ev)
    email = f"tix-{uuid.uuid4().hex[:6]}@example.com"
    summary = orders.place(db, ev, [(tier, 2)], email=email, name="Tess Tickets")
    assert orders.pay(db, summary["order_id"]) == "fulfilled"
    person = customer(db, email)
    order = {"order_id": summary["order_id"], "number": summary["number"], "tracking_token": summary["tracking_token"]}
    refused(link(db, customer(db), order), "PT403", "email_mismatch")
    result = link(db, person, order)
    assert result["kind"] == "tickets" and result["appointments_linked"] == 0
    with db.as_user(person) as cur:
        cur.execute("select count(*) as n from public.tickets where order_id = %s", (summary["order_id"],))
        assert cur.fetchone()["n"] == 2
        cur.execute("select jsonb_array_length(public.ticket_passes(%s)) as n", (summary["order_id"],))
        assert cur.fetchone()["n"] == 2
    # The guest link still shows the tickets, ticket-shaped as before.
    found = lookup(db, Caller.anon(), order)
    assert found["event_id"] == str(ev["id"]) and len(found["tickets"]) == 2 and "appointments" not in found


# ---------------------------------------------------------------------------
# lookup_order for appointment orders
# ---------------------------------------------------------------------------
def test_the_guest_lookup_of_an_appointment_order_lists_its_appointments(db, shop):
    order = guest_appointments(db, shop, "lookup@example.com", n=2)
    found = lookup(db, Caller.anon(), order)
    assert found["kind"] == "appointments" and found["status"] == "paid" and found["tickets"] == []
    assert found["total_minor"] == 2 * 5000 and len(found["items"]) == 2
    starts = [a["start"] for a in order["appointments"]]
    assert [(a["service"], a["staff_name"], a["start"], a["status"], a["postcode"]) for a in found["appointments"]] == [
        ("Regular clean", "Val", starts[0], "booked", POSTCODE), ("Regular clean", "Val", starts[1], "booked", POSTCODE)]
    assert all(a["end"] > a["start"] for a in found["appointments"])
    # The staff member's contact details never reach the guest.
    assert "secret-staff@example.com" not in str(found) and "07700 900777" not in str(found)
    assert lookup(db, Caller.anon(), order, token="nope") is None
