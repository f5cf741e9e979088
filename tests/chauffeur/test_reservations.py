"""Reservations (routines/chauffeur/reservations.sql): booking freezes the quote and blocks the trip out;
the guest looks it up with number + token; status moves are only the allowed ones, on every path (the
service role's raw UPDATE included); the driver's steps go in order with server times, the customer is
texted when the driver is on location, and wait time beyond the grace period lands in the final total;
bad bookings write nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from shared.comms import notifications
from shared.platform.config import settings
from shared.platform.db import Caller
from shared.providers.mail import Mailer
from shared.providers.sms import Texter
from tests.support.chauffeur import HEATHROW, KINGS_CROSS, MAYFAIR, book, company, trip
from tests.support.pg import call, refused


def written(db, org_id) -> dict:
    return db.one("select (select count(*) from public.reservations where org_id = %(o)s) as reservations,"
                  " (select count(*) from public.reservation_stops where org_id = %(o)s) as stops,"
                  " (select count(*) from public.chauffeur_customers where org_id = %(o)s) as customers",
                  {"o": org_id})


def status(db, reservation_id) -> str:
    return db.value("select status::text from public.reservations where id = %s", (reservation_id,))


def test_a_guest_books_at_the_quote_and_looks_the_trip_up_with_its_token(db, firm):
    request = trip(firm["sedan"], stops=[HEATHROW, dict(KINGS_CROSS, notes="Collect a parcel"), MAYFAIR],
                   flight_number="ba 117", meet_and_greet=True, special_instructions="Sign: <Mr Smith>")
    quoted = call(db, Caller.anon(), "select public.quote_reservation(%s, %s)", firm["org_id"], Jsonb(request))
    answer = book(db, firm["org_id"], request, {"name": "Sam Smith", "email": "Sam.Smith@Example.com",
                                                "phone": "07700 900601"})
    assert answer["status"] == "pending" and answer["number"].startswith("CH-")
    assert answer["total_minor"] == quoted["total_minor"] and answer["quote"]["lines"] == quoted["lines"]
    row = db.one("select r.*, c.email, c.phone from public.reservations r join public.chauffeur_customers c"
                 " on c.id = r.customer_id where r.id = %s", (answer["reservation_id"],))
    assert (row["email"], row["phone"], row["flight_number"]) == ("sam.smith@example.com", "+447700900601", "BA117")
    assert row["blocked"].lower == row["pickup_at"] - timedelta(minutes=30)
    assert row["blocked"].upper == row["pickup_at"] + timedelta(minutes=quoted["estimated_minutes"] + 15)
    stops = db.sql("select position, kind::text, address, notes from public.reservation_stops"
                   " where reservation_id = %s order by position", (row["id"],))
    assert [(s["kind"], s["notes"]) for s in stops] == [("pickup", None), ("stop", "Collect a parcel"), ("dropoff", None)]

    with db.as_anon() as cur:
        cur.execute("select public.lookup_reservation(%s, %s) as r", (answer["number"].lower(), answer["tracking_token"]))
        seen = cur.fetchone()["r"]
        cur.execute("select public.lookup_reservation(%s, 'wrong-token') as r", (answer["number"],))
        assert cur.fetchone()["r"] is None
    assert (seen["status"], seen["total_minor"], [s["kind"] for s in seen["stops"]]) == (
        "pending", quoted["total_minor"], ["pickup", "stop", "dropoff"])

    again = book(db, firm["org_id"], trip(firm["sedan"], days=8), {"name": "Sam S", "email": "sam.smith@example.com"})
    assert db.value("select customer_id from public.reservations where id = %s", (again["reservation_id"],)) == \
        row["customer_id"], "one customer per email address"


@pytest.mark.parametrize(("request_change", "customer", "code"), [
    ({"passengers": 9}, None, "class_too_small"),
    ({"passengers": -1}, None, "invalid_party"),
    ({"stops": [dict(MAYFAIR, kind="dropoff"), dict(HEATHROW, kind="pickup")]}, None, "stops_out_of_order"),
    ({"class_id": str(uuid.uuid4())}, None, "unknown_class"),
    ({"flight_number": "not a flight"}, None, "invalid_flight"),
    ({"promo_code": "SPRING"}, None, "promo_invalid"),
    ({}, {"name": "No Email"}, "invalid_customer"),
    ({}, {"name": "Bad Phone", "email": "bad-phone@example.com", "phone": "call the office"}, "invalid_phone"),
    ({}, {"name": "Forger", "email": "forger@example.com", "customer_id": str(uuid.uuid4())},
     "customer_for_dispatchers"),
])
def test_bad_bookings_are_refused_and_write_nothing(db, firm, request_change, customer, code):
    before = written(db, firm["org_id"])
    result = book(db, firm["org_id"], trip(firm["sedan"]) | request_change, customer)
    refused(result, "PT403" if code == "customer_for_dispatchers" else "PT422", code)
    assert written(db, firm["org_id"]) == before


def test_only_dispatch_sets_the_cancellation_policy_or_names_an_existing_customer(db, firm):
    refused(book(db, firm["org_id"], trip(firm["sedan"], policy_type="driver")), "PT403", "policy_for_dispatchers")
    staff_made = book(db, firm["org_id"], trip(firm["sedan"], policy_type="none"),
                      {"name": "VIP Val", "email": f"val-{uuid.uuid4().hex[:6]}@example.com", "vip": True},
                      caller=firm["people"]["dispatcher"].caller)
    customer_id = db.value("select customer_id from public.reservations where id = %s", (staff_made["reservation_id"],))
    assert db.value("select vip from public.chauffeur_customers where id = %s", (customer_id,)) is True
    repeat = book(db, firm["org_id"], trip(firm["sedan"], days=9), {"customer_id": str(customer_id)},
                  caller=firm["people"]["dispatcher"].caller)
    assert db.value("select customer_id from public.reservations where id = %s", (repeat["reservation_id"],)) == customer_id
    for bad in ({"customer_id": "not-a-uuid"}, {"customer_id": str(uuid.uuid4())}):
        refused(book(db, firm["org_id"], trip(firm["sedan"]), bad, caller=firm["people"]["dispatcher"].caller),
                "PT422", "unknown_customer")
    not_quite = book(db, firm["org_id"], trip(firm["sedan"]), {"name": "Maybe VIP", "vip": "yes",
                                                               "company_id": "not-a-uuid",
                                                               "email": f"maybe-{uuid.uuid4().hex[:6]}@example.com"},
                     caller=firm["people"]["dispatcher"].caller)
    assert db.one("select c.vip, c.company_id from public.reservations r join public.chauffeur_customers c"
                  " on c.id = r.customer_id where r.id = %s", (not_quite["reservation_id"],)) == {
        "vip": False, "company_id": None}, "only a JSON true makes a VIP; a malformed company is none"
    guest_vip = book(db, firm["org_id"], trip(firm["sedan"]), {"name": "Self-made VIP", "vip": True,
                                                               "email": f"self-{uuid.uuid4().hex[:6]}@example.com"})
    assert db.value("select c.vip from public.reservations r join public.chauffeur_customers c on c.id = r.customer_id"
                    " where r.id = %s", (guest_vip["reservation_id"],)) is False


def test_only_the_allowed_status_moves_happen_on_any_path(db, firm):
    dispatcher = firm["people"]["dispatcher"].caller
    move = lambda rid, to, reason=None: call(db, dispatcher, "select public.set_reservation_status(%s, %s, %s)",  # noqa: E731
                                             rid, to, reason)
    r = book(db, firm["org_id"], trip(firm["sedan"]))["reservation_id"]
    refused(move(r, "cancelled"), "PT422", "reason_required")
    refused(move(r, "completed"), "PT422", "invalid_status")        # the driver completes a trip
    refused(move(r, "no_show"), "PT409", "invalid_transition")      # pending, and the pickup is days away
    move(r, "confirmed")
    refused(move(r, "no_show"), "PT409", "invalid_transition")      # not before the pickup time
    move(r, "cancelled", "Flight cancelled")
    assert (status(db, r), db.value("select cancel_reason from public.reservations where id = %s", (r,))) == (
        "cancelled", "Flight cancelled")
    refused(move(r, "confirmed"), "PT409", "invalid_transition")
    for target in ("pending", "completed", "in_progress"):          # the server key's raw UPDATE obeys too
        with pytest.raises(psycopg.Error, match="cannot become") as caught:
            with db.as_service() as cur:
                cur.execute("update public.reservations set status = %s where id = %s", (target, r))
        assert caught.value.sqlstate == "PT409"
    assert status(db, r) == "cancelled"
    for who in ("driver", "staff", "affiliate", "rival_owner"):
        refused(call(db, firm["people"][who].caller, "select public.set_reservation_status(%s, 'confirmed')", r),
                "PT404", "reservation_not_found")


def test_the_drivers_steps_in_order_text_the_customer_and_charge_waiting_beyond_the_grace(stack, db, firm):
    dispatcher = firm["people"]["dispatcher"].caller
    phone = "+447700900" + str(uuid.uuid4().int)[:3]
    answer = book(db, firm["org_id"], trip(firm["sedan"], days=60),
                  {"name": "Wendy Wait", "email": f"wendy-{uuid.uuid4().hex[:6]}@example.com", "phone": phone})
    r = answer["reservation_id"]
    call(db, dispatcher, "select public.assign_reservation(%s, %s, %s)", r, firm["dee"]["id"], firm["sedan_car"]["id"])
    step = lambda name, who=firm["people"]["driver"]: call(db, who.caller, "select to_jsonb(public.advance_trip(%s, %s))",  # noqa: E731
                                                           r, name)
    refused(step("en_route"), "PT409", "invalid_step")              # not confirmed yet
    call(db, dispatcher, "select public.set_reservation_status(%s, 'confirmed')", r)
    refused(step("on_board"), "PT409", "invalid_step")              # out of order
    refused(step("en_route", firm["people"]["dispatcher"]), "PT404", "trip_not_found")  # not their trip
    assert step("en_route")["en_route_at"] is not None
    assert step("on_location")["on_location_at"] is not None
    # 25 minutes on location before the passenger boards (arranged: no test waits 25 minutes).
    db.sql("update public.reservations set en_route_at = en_route_at - interval '40 minutes',"
           " on_location_at = on_location_at - interval '25 minutes' where id = %s", (r,))
    assert step("on_board")["status"] == "in_progress"
    assert db.value("select status::text from public.drivers where id = %s", (firm["dee"]["id"],)) == "on_trip"
    done = step("completed")
    assert db.value("select status::text from public.drivers where id = %s", (firm["dee"]["id"],)) == "available"
    assert (done["status"], done["wait_minutes"]) == ("completed", 10)  # 25 - the class's 15 minutes' grace
    assert done["final_lines"][-1] == {"code": "wait", "rule": "Executive Sedan wait time after 15 minutes",
                                       "quantity": 10, "unit_minor": 100, "amount_minor": 1000}
    assert done["final_total_minor"] == answer["total_minor"] + 1000
    refused(step("completed"), "PT409", "invalid_step")

    notifications.send_due(Mailer(settings()), texter=Texter(settings()),
                           templates=["driver_on_location", "reservation_confirmed"], limit=50)
    [text] = stack.twilio.messages_to(phone)
    assert text["body"] == (f"{firm['org']['name']}: Dee Driver is waiting at Heathrow Terminal 5 in a Mercedes S-Class"
                            f" ({firm['sedan_car']['plate']}).")
    [email] = [e for e in stack.resend.emails_to(db.value(
        "select c.email from public.reservations r join public.chauffeur_customers c on c.id = r.customer_id"
        " where r.id = %s", (r,)))]
    assert email["subject"].startswith(f"Confirmed: {answer['number']}, ")
    assert f"Total: £{answer['total_minor'] / 100:.2f}" in email["text"]


def test_a_customer_rates_their_own_completed_trip_once_and_driver_stats_follow(db, firm):
    customer = db.user(confirmed=True)
    db.sql("insert into public.chauffeur_customers (org_id, name, email, user_id) values (%s, 'Rita', %s, %s)",
           (firm["org_id"], customer.email, customer.id))
    with db.acting(customer.caller) as cur:
        cur.execute("select public.book_reservation(%s, %s, %s) as a",
                    (firm["org_id"], Jsonb(trip(firm["sedan"], days=70)), Jsonb({"name": "Rita", "email": customer.email})))
        r = cur.fetchone()["a"]["reservation_id"]
    refused(call(db, customer.caller, "select public.rate_trip(%s, 5)", r), "PT409", "not_rateable")  # not completed
    db.sql("update public.reservations set driver_id = %s where id = %s", (firm["dee"]["id"], r))
    for to in ("confirmed", "in_progress", "completed"):
        db.sql("update public.reservations set status = %s where id = %s", (to, r))
    before = {s["driver_id"]: s for s in call(db, firm["people"]["owner"].caller,
                                                "select jsonb_agg(s) from public.driver_stats(%s) s", firm["org_id"])}
    refused(call(db, firm["people"]["outsider"].caller, "select public.rate_trip(%s, 1)", r), "PT409", "not_rateable")
    refused(call(db, customer.caller, "select public.rate_trip(%s, 6)", r), "PT422", "invalid_rating")
    call(db, customer.caller, "select public.rate_trip(%s, 4)", r)
    refused(call(db, customer.caller, "select public.rate_trip(%s, 5)", r), "PT409", "not_rateable")
    stats = {s["driver_id"]: s for s in call(db, firm["people"]["owner"].caller,
                                               "select jsonb_agg(s) from public.driver_stats(%s) s", firm["org_id"])}
    dee = str(firm["dee"]["id"])
    completed, rated = db.one("select count(*) filter (where status = 'completed') as c, avg(rating) as a"
                              " from public.reservations where driver_id = %s", (firm["dee"]["id"],)).values()
    assert stats[dee]["trips_completed"] == completed and float(stats[dee]["rating"]) == round(float(rated), 2)
    assert stats[dee]["trips_completed"] == before[dee]["trips_completed"]
