"""Emergency alerts (routines/comms/alerts.sql, shared/comms/alerts.py): everyone with a live booking in
the window, in every area, gets the alert once per channel; nobody else; owners and admins only."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from shared.comms import notifications
from shared.platform.config import settings
from shared.platform.db import Caller
from shared.providers.mail import Mailer
from shared.providers.sms import Texter
from tests.support import factories, orders, ticketing
from tests.support.appointments import services_and_staff
from tests.support.pg import call, refused


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    org_id = team["org"]["id"]
    found = services_and_staff(db, org_id)
    start = db.value("select date_trunc('hour', now()) + interval '2 days'")

    def job(hours: int, email: str | None, phone: str | None, status: str = "booked", name: str = "Jo") -> None:
        db.sql("insert into public.appointments (org_id, service_id, staff_id, customer_name, customer_email,"
               " customer_phone, postcode, status, period) values (%s, %s, %s, %s, %s, %s, 'SW1A 1AA', %s,"
               " tstzrange(%s, %s, '[)'))", (org_id, found["service_id"], found["staff_id"], name, email, phone,
                                            status, start + timedelta(hours=hours),
                                            start + timedelta(hours=hours + 1)))

    tag = uuid.uuid4().hex[:6]
    people = {k: f"{k}-{tag}@example.com" for k in ("ann", "bob", "cat", "dan", "eve", "fay")}
    job(0, people["ann"], "+447400200001", name="<b>Ann</b>")
    job(1, people["ann"].upper(), "07400 200001")                     # the same person again, typed nationally
    job(6, None, "call me on the landline")                           # not a number: no SMS
    job(2, people["bob"], None)
    job(3, None, "+447400200003")                                     # a phone only
    job(4, people["cat"], "+447400200004", status="cancelled")        # not live
    job(30, people["dan"], "+447400200005")                           # outside the window
    event = ticketing.event(db, team["org"], starts_in=timedelta(days=2, hours=5))
    tier = ticketing.tier(db, event, price_minor=1000)
    paid = orders.place(db, event, [(tier, 1)], email=people["eve"], name="Eve")
    assert orders.pay(db, paid["order_id"]) == "fulfilled"
    orders.place(db, event, [(tier, 1)], email=people["fay"], name="Fay")  # unpaid: no live booking
    orders.place(db, event, [(tier, 1)], email=people["bob"], name="Bob")  # unpaid, and Bob is listed anyway
    rival = factories.team(db)["org"]
    other = services_and_staff(db, rival["id"])
    db.sql("insert into public.appointments (org_id, service_id, staff_id, customer_name, customer_email, postcode,"
           " status, period) values (%s, %s, %s, 'Rival customer', %s, 'SW1A 1AA', 'booked', tstzrange(%s, %s))",
           (rival["id"], other["service_id"], other["staff_id"], f"rival-{tag}@example.com", start,
            start + timedelta(hours=1)))
    return {**team, "org_id": org_id, "start": start, "people": {**team["people"]}, "addresses": people}


def alert(db, world, caller=None, *, hours=(0, 24), channels="{email,sms}", title="Venue change",
          message="We have moved to the Corn Exchange."):
    start = world["start"]
    return call(db, caller or world["people"]["owner"].caller,
                "select public.send_emergency_alert(%s, %s, %s, %s, %s, %s::public.notification_channel[])",
                world["org_id"], start + timedelta(hours=hours[0]), start + timedelta(hours=hours[1]), title, message,
                channels)


def queued(db, alert_id: str) -> dict[str, list[str]]:
    rows = db.sql("select channel::text, recipient from public.notification_outbox"
                  " where template = 'emergency_alert' and payload ->> 'alert_id' = %s order by recipient",
                  (alert_id,))
    return {ch: [r["recipient"] for r in rows if r["channel"] == ch] for ch in ("email", "sms")}


def test_everyone_live_in_the_window_once_per_channel_and_nobody_else(db, world):
    result = alert(db, world)
    a = world["addresses"]
    assert queued(db, result["alert_id"]) == {
        "email": sorted([a["ann"], a["bob"], a["eve"]]),
        "sms": ["+447400200001", "+447400200003"],
    }
    assert (result["emails"], result["texts"]) == (3, 2)
    stored = db.one("select emails, texts, title, created_by from public.emergency_alerts where id = %s",
                    (result["alert_id"],))
    assert (stored["emails"], stored["texts"], str(stored["created_by"])) == (3, 2, world["people"]["owner"].id)
    assert db.value("select count(*) from public.audit_log where action = 'emergency_alert.sent'"
                    " and row_id = %s", (result["alert_id"],)) == 1


def test_an_alert_reaches_an_address_suppressed_for_promotions_and_reads_inert(stack, db, world):
    address = world["addresses"]["ann"]
    db.sql("insert into private.suppressions (channel, address, reason) values ('email', %s, 'complaint')"
           " on conflict do nothing", (address,))
    result = alert(db, world, channels="{email}", title="Closed <today>", message="Flooding: stay away & call us")
    notifications.send_due(Mailer(settings()), texter=Texter(settings()), templates=["emergency_alert"], limit=50)
    [email] = [e for e in stack.resend.emails_to(address) if "Closed" in e["subject"]]
    assert email["subject"].endswith(": Closed <today>")
    assert "Closed &lt;today&gt;" in email["html"] and "Flooding: stay away &amp; call us" in email["html"]
    assert "Hello &lt;b&gt;Ann&lt;/b&gt;," in email["html"], "the customer's name is text too"
    assert db.value("select count(*) from public.notification_outbox where payload ->> 'alert_id' = %s"
                    " and status = 'sent'", (result["alert_id"],)) == 3


def test_only_owners_and_admins_send_and_read_alerts(db, world):
    people = world["people"]
    assert alert(db, world, people["admin"].caller, channels="{sms}")["texts"] == 2
    for role in ("manager", "staff", "outsider", "rival_owner"):
        refused(alert(db, world, people[role].caller), "PT403", "not_an_admin")
    assert alert(db, world, Caller.anon()).sqlstate == "42501"
    for role, sees in (("owner", True), ("admin", True), ("manager", False), ("rival_owner", False)):
        with db.acting(people[role].caller) as cur:
            cur.execute("select count(*) as n from public.emergency_alerts where org_id = %s", (world["org_id"],))
            assert (cur.fetchone()["n"] > 0) is sees, role


def test_bad_alerts_are_refused_and_write_nothing(db, world):
    before = db.value("select count(*) from public.emergency_alerts")
    refused(alert(db, world, hours=(5, 5)), "PT422", "invalid_window")
    refused(alert(db, world, hours=(0, 24 * 32)), "PT422", "invalid_window")
    refused(alert(db, world, title="  "), "PT422", "invalid_alert")
    refused(alert(db, world, message="x" * 1001), "PT422", "invalid_alert")
    refused(alert(db, world, channels="{}"), "PT422", "invalid_channels")
    assert db.value("select count(*) from public.emergency_alerts") == before
