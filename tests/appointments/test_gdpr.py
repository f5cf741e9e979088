"""GDPR export and erasure (routines/privacy/gdpr.sql).

One organization holds plenty about Erin: a paid appointment order (one job
inside the 24-hour cut-off, one later, one she cancelled herself with a
chatty reason), an unpaid order still holding a slot, a ticket order partly
refunded, a change request, a CRM contact with an interaction, queued emails
and a provider webhook payload. Another customer of the same org, and a rival
org that also served Erin, must come out untouched. Orders are placed and
paid the way production does it (anon checkout RPCs, private.record_payment).

The erasure check reads every row of every table in `public` and `private`
as text and looks for Erin's email, name, phone, address and postcode,
leaving out only the rival org's rows.
"""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from shared.privacy import gdpr
from shared.platform.db import Caller
from shared.platform.storage import LocalStorage, ObjectNotFound
from tests.support.appointments import make_org, make_service, make_staff
from tests.support import factories, orders, ticketing
from tests.support.http import anon_headers
from tests.support.pg import ArrangingDb, call

ALL_DAY = {d: [("00:00", "24:00")] for d in range(7)}
ERIN = {"email": "Erin.Erasable@Example.com", "name": "Erin Erasable", "phone": "07700 900555",
        "address": "12 Secret Lane", "postcode": "SW1A 1AA"}
TRACES = ("erin.erasable@example.com", "Erasable", "900555", "Secret Lane", "SW1A 1AA")
OLGA = {"email": "olga@example.com", "name": "Olga Other", "phone": "07700 900111",
        "address": "3 Other Road", "postcode": "SW1P 4DF"}

# A column whose name looks like it may hold personal data (the meta-test below).
PERSONAL_NAME = (r"(email|phone|name|address|postcode|notes?|comment|reason|summary|customer|buyer|attendee|recipient"
                 r"|payload|details|messages|secret|token|user_id|requested_by|metadata|job_title|last_error)")


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


def shop(db, organization: dict | None = None) -> dict:
    org = organization or make_org(db, tz="Europe/London")
    if organization is not None:
        db.sql("insert into public.appointment_settings (org_id, slot_interval_minutes, min_notice_minutes,"
               " max_days_ahead) values (%s, 30, 0, 60)", (org["id"],))
    service = make_service(db, org, 60, name="Regular clean")
    staff = make_staff(db, org, [service], hours=ALL_DAY, name="Val")
    return {"org": org, "service": service, "staff": staff}


def place(db, where: dict, person: dict, starts: list[dt.datetime], *, paid: bool = True) -> dict:
    items = [{"service_id": str(where["service"]), "start": s.isoformat()} for s in starts]
    with db.as_anon() as cur:
        cur.execute("select public.place_appointment_order(%s, %s, %s, %s, %s, %s, %s) as o",
                    (where["org"]["id"], Jsonb(items), person["postcode"], person["email"], person["name"],
                     person["phone"], person["address"]))
        order = cur.fetchone()["o"]
    if paid:
        assert orders.pay(db, order["order_id"]) == "fulfilled"
    return order


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    people = dict(team["people"])
    main = shop(db, team["org"])
    rival = shop(db, team["rival"])
    hour = db.value("select date_trunc('hour', now())")
    soon, later = hour + dt.timedelta(hours=3), hour + dt.timedelta(days=5)

    erin_paid = place(db, main, ERIN, [soon, later, later + dt.timedelta(hours=2)])
    erin_pending = place(db, main, ERIN, [later + dt.timedelta(hours=4)], paid=False)
    olga = place(db, main, OLGA, [later + dt.timedelta(hours=6)])
    erin_at_rival = place(db, rival, ERIN, [later])

    # Erin cancels the third job herself, chattily; and asks to move the second.
    third, second = erin_paid["appointments"][2]["id"], erin_paid["appointments"][1]["id"]
    assert call(db, Caller.anon(), "select public.cancel_appointment_as_guest(%s, %s, %s, %s)",
                erin_paid["number"], erin_paid["tracking_token"], third,
                "Erin Erasable here, call me on 07700 900555")["status"] == "cancelled"
    assert call(db, Caller.anon(), "select public.request_appointment_change_as_guest(%s, %s, %s, 'reschedule', %s,"
                " 'Erin Erasable would prefer later')", erin_paid["number"], erin_paid["tracking_token"], second,
                later + dt.timedelta(days=1))["status"] == "pending"

    ev = ticketing.event(db, team["org"])
    tier = ticketing.tier(db, ev, price_minor=3000)
    tickets = orders.place(db, ev, [(tier, 2)], email=ERIN["email"], name=ERIN["name"])
    assert orders.pay(db, tickets["order_id"]) == "fulfilled"
    orders.refund(db, tickets["order_id"], 1000)

    contact = db.value("insert into public.contacts (org_id, full_name, email, phone, notes) values (%s, %s, %s, %s,"
                       " 'Lives at 12 Secret Lane') returning id",
                       (team["org"]["id"], ERIN["name"], ERIN["email"].lower(), ERIN["phone"]))
    db.sql("insert into public.interactions (org_id, contact_id, kind, summary) values (%s, %s, 'call',"
           " 'Erin Erasable asked about oven cleans')", (team["org"]["id"], contact))
    db.sql("insert into private.webhook_events (id, provider, type, payload) values (%s, 'stripe',"
           " 'checkout.session.completed', %s)",
           (f"evt_{uuid.uuid4().hex[:12]}", Jsonb({"id": "evt", "type": "checkout.session.completed", "data": {
               "object": {"metadata": {"order_id": erin_paid["order_id"]},
                          "customer_details": {"email": ERIN["email"], "name": ERIN["name"]}}}})))
    return {"team": team, "people": people, "main": main, "rival": rival, "org_id": team["org"]["id"],
            "rival_id": rival["org"]["id"], "erin_paid": erin_paid, "erin_pending": erin_pending, "olga": olga,
            "erin_at_rival": erin_at_rival, "tickets": tickets, "contact": contact, "soon": soon}


def traces(db, *, outside: uuid.UUID, needles=TRACES) -> list[str]:
    """Every row of every table in public and private whose text contains a needle, except `outside`'s rows."""
    hits = []
    tables = db.sql("select n.nspname as schema, c.relname as name,"
                    " exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'org_id'"
                    "         and not a.attisdropped) as has_org"
                    " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                    " where n.nspname in ('public', 'private') and c.relkind in ('r', 'p', 'm')")
    for t in tables:
        rival_filter = " and t.org_id is distinct from %(outside)s" if t["has_org"] else ""
        for needle in needles:
            n = db.value(f'select count(*) from "{t["schema"]}"."{t["name"]}" t'
                         f" where t::text ilike %(needle)s{rival_filter}",
                         {"needle": f"%{needle}%", "outside": outside})
            if n:
                hits.append(f"{t['schema']}.{t['name']}: {n} row(s) contain {needle!r}")
    return hits


def money(db, org_id) -> dict:
    return db.one(
        "select (select count(*) from public.orders where org_id = %(o)s) as orders,"
        " (select sum(total_minor) from public.orders where org_id = %(o)s) as order_total,"
        " (select sum(subtotal_minor) from public.orders where org_id = %(o)s) as order_subtotal,"
        " (select sum(total_minor) from public.order_items where org_id = %(o)s) as item_total,"
        " (select sum(amount_minor) from public.payments where org_id = %(o)s) as paid,"
        " (select sum(amount_minor) from public.refunds where org_id = %(o)s) as refunded,"
        " (select count(*) from public.payments where org_id = %(o)s) as payments,"
        " (select count(*) from public.refunds where org_id = %(o)s) as refunds", {"o": org_id})


def org_rows(db, org_id) -> dict:
    """Every public row carrying this org_id, as text (the audit log left out: erasure adds to it)."""
    out = {}
    for t in db.sql("select c.relname as name from pg_class c join pg_attribute a on a.attrelid = c.oid"
                    " where c.relnamespace = 'public'::regnamespace and c.relkind = 'r' and a.attname = 'org_id'"
                    " and c.relname <> 'audit_log'"):
        out[t["name"]] = sorted(r["row"] for r in db.sql(
            f'select (to_jsonb(t) - \'updated_at\')::text as row from public."{t["name"]}" t where t.org_id = %s',
            (org_id,)))
    return out


# ---------------------------------------------------------------------------
# Who may ask
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("actor", ["manager", "staff", "dispatcher", "outsider", "rival_owner", "customer", "anon"])
@pytest.mark.parametrize("rpc", ["export_customer_data", "erase_customer"])
def test_only_owners_and_admins_of_the_org_export_or_erase(db, world, actor, rpc):
    if actor == "anon":
        caller = Caller.anon()
    elif actor == "customer":
        caller = db.user().caller  # a signed-in customer, not a member
    else:
        caller = world["people"][actor].caller
    before = org_rows(db, world["org_id"])
    result = call(db, caller, f"select public.{rpc}(%s, %s)", world["org_id"], ERIN["email"])
    assert isinstance(result, psycopg.Error), result
    if actor == "anon":
        assert isinstance(result, psycopg.errors.InsufficientPrivilege), result
    else:
        assert (result.sqlstate, result.diag.message_detail) == ("PT403", "not_org_admin"), result
    assert org_rows(db, world["org_id"]) == before


@pytest.mark.parametrize("email, org, code", [
    ("not-an-email", "org", "invalid_email"), (None, "org", "invalid_email"), ("a@b.co", None, "invalid_org")])
def test_bad_requests_are_refused(db, world, email, org, code):
    result = call(db, world["people"]["owner"].caller, "select public.erase_customer(%s, %s)",
                  world["org_id"] if org else None, email)
    assert (result.sqlstate, result.diag.message_detail) == ("PT422", code), result


def test_the_rival_owner_cannot_reach_the_org_even_for_their_own_customer(db, world):
    # The rival's owner exports their own org: they get their row for Erin and nothing of the main org.
    doc = call(db, world["people"]["rival_owner"].caller, "select public.export_customer_data(%s, %s)",
               world["rival_id"], ERIN["email"])
    assert not isinstance(doc, psycopg.Error), doc
    assert [o["id"] for o in doc["data"]["orders"]] == [world["erin_at_rival"]["order_id"]]
    assert all(r.get("org_id") in (None, str(world["rival_id"])) for rows in doc["data"].values() for r in rows)


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------
def test_the_export_holds_everything_about_the_customer_and_nothing_about_anyone_else(db, world):
    doc = call(db, world["people"]["admin"].caller, "select public.export_customer_data(%s, %s)",
               world["org_id"], ERIN["email"].upper())
    data = doc["data"]
    assert doc["subject"] == {"email": ERIN["email"].lower(), "has_account": False}
    assert {o["id"] for o in data["orders"]} == {world["erin_paid"]["order_id"], world["erin_pending"]["order_id"],
                                                  world["tickets"]["order_id"]}
    assert len(data["order_items"]) == 5 and len(data["payments"]) == 2 and len(data["refunds"]) == 1
    assert len(data["appointments"]) == 4 and len(data["tickets"]) == 2
    assert {a["address"] for a in data["appointments"]} == {ERIN["address"]}
    assert len(data["appointment_change_requests"]) == 1
    assert data["contacts"][0]["notes"] == "Lives at 12 Secret Lane" and len(data["interactions"]) == 1
    assert {m["template"] for m in data["notification_outbox"]} >= {
        "appointment_confirmed", "appointment_cancelled", "tickets", "order_refunded", "change_request_received"}
    assert len(data["webhook_events"]) == 1
    assert any(e["table_name"] == "appointments" for e in data["audit_log"])
    # Nothing of Olga's, nothing of the rival org, and no secrets.
    text = str(doc)
    assert OLGA["email"] not in text and OLGA["name"] not in text
    assert str(world["erin_at_rival"]["order_id"]) not in text
    assert all(r.get("org_id") in (None, str(world["org_id"])) for rows in data.values() for r in rows)
    assert not any(k in r for rows in data.values() for r in rows for k in ("tracking_token_hash", "secret"))


def test_a_signed_in_customer_exports_their_own_data_across_orgs_once_their_email_is_confirmed(db, world):
    mia = {**OLGA, "email": f"mia-{uuid.uuid4().hex[:6]}@example.com", "name": "Mia Mine"}
    start = world["soon"] + dt.timedelta(days=9)
    here = place(db, world["main"], mia, [start])
    there = place(db, world["rival"], mia, [start])
    account = db.user(mia["email"])

    # Unconfirmed: an account claiming the address sees none of the guest orders.
    doc = call(db, account.caller, "select public.export_my_data()")
    assert doc["subject"]["email_confirmed"] is False and doc["data"]["orders"] == []
    assert doc["account"]["profile"]["email"] == mia["email"]

    db.sql("update auth.users set email_confirmed_at = now() where id = %s", (account.id,))
    doc = call(db, account.caller, "select public.export_my_data()")
    assert {o["id"] for o in doc["data"]["orders"]} == {here["order_id"], there["order_id"]}
    assert {o["id"] for o in doc["organizations"]} == {str(world["org_id"]), str(world["rival_id"])}
    assert len(doc["data"]["appointments"]) == 2
    assert ERIN["name"] not in str(doc) and OLGA["name"] not in str(doc)
    assert call(db, Caller.anon(), "select public.export_my_data()").sqlstate == "42501"


# ---------------------------------------------------------------------------
# Erasure
# ---------------------------------------------------------------------------
def test_erasure_leaves_no_trace_keeps_the_money_and_spares_other_customers_and_orgs(db, world):
    org_id, rival_id = world["org_id"], world["rival_id"]
    assert traces(db, outside=rival_id)  # the needles are really there before
    money_before = money(db, org_id)
    rival_before = org_rows(db, rival_id)
    olga_before = db.sql("select (to_jsonb(o) - 'updated_at')::text as o from public.orders o where id = %s"
                         " union all select (to_jsonb(a) - 'updated_at')::text from public.appointments a"
                         " where order_id = %s", (world["olga"]["order_id"], world["olga"]["order_id"]))
    secrets_before = {r["secret"] for r in orders.tickets(db, world["tickets"]["order_id"])}
    soon_id = world["erin_paid"]["appointments"][0]["id"]

    result = call(db, world["people"]["admin"].caller, "select public.erase_customer(%s, %s)", org_id, ERIN["email"])
    assert result["erased"] is True, result
    assert result["cancelled_orders"] == 1 and result["cancelled_appointments"] == 2
    assert result["rows"]["orders"] == 3 and result["rows"]["appointments"] == 4

    assert traces(db, outside=rival_id) == []
    assert money(db, org_id) == money_before
    assert org_rows(db, rival_id) == rival_before
    assert db.sql("select (to_jsonb(o) - 'updated_at')::text as o from public.orders o where id = %s"
                  " union all select (to_jsonb(a) - 'updated_at')::text from public.appointments a"
                  " where order_id = %s", (world["olga"]["order_id"], world["olga"]["order_id"])) == olga_before

    # Financial rows stay, anonymised.
    rows = db.sql("select buyer_name, buyer_email, buyer_user_id, status::text from public.orders"
                  " where id = any(%s) order by status::text", (
                      [world["erin_paid"]["order_id"], world["erin_pending"]["order_id"],
                       world["tickets"]["order_id"]],))
    assert [(r["buyer_name"], r["buyer_email"].endswith("@erased.invalid"), r["status"]) for r in rows] == [
        ("Erased customer", True, "cancelled"), ("Erased customer", True, "paid"), ("Erased customer", True, "paid")]
    # Live things stopped: the job inside the cut-off too (audited as an override), the held slot freed.
    statuses = db.sql("select status::text as s, count(*) as n from public.appointments"
                      " where order_id = any(%s) group by 1",
                      ([world["erin_paid"]["order_id"], world["erin_pending"]["order_id"]],))
    assert {r["s"]: r["n"] for r in statuses} == {"cancelled": 4}
    assert db.value("select details ->> 'reason' from public.audit_log where action = 'appointment.policy_override'"
                    " and row_id = %s", (str(soon_id),)) == "GDPR erasure"
    # Secrets gone: the guest link and the QR codes no longer work.
    assert call(db, Caller.anon(), "select public.lookup_order(%s, %s)", world["erin_paid"]["number"],
                world["erin_paid"]["tracking_token"]) is None
    assert not secrets_before & {r["secret"] for r in orders.tickets(db, world["tickets"]["order_id"])}
    # Nothing queued to her is sent.
    assert db.value("select count(*) from public.notification_outbox where org_id = %s and status = 'pending'"
                    " and recipient like '%%erased.invalid'", (org_id,)) == 0
    # One audit entry says it happened, without saying about whom.
    entry = db.one("select actor_id, details from public.audit_log where action = 'customer.erased' and org_id = %s",
                   (org_id,))
    assert str(entry["actor_id"]) == world["people"]["admin"].id and entry["details"]["rows"]["orders"] == 3
    # The rival org still has Erin.
    assert traces(db, outside=org_id, needles=("erin.erasable@example.com",))


def test_erasure_stops_a_subscription_and_anonymises_it(db, world):
    """A subscriber's recurring visits stop: the subscription is cancelled and anonymised, its future visits
    cancelled, and the generator books nothing more for it."""
    where = shop(db)
    sue = {"email": "sue.subscriber@example.com", "name": "Sue Subscriber"}
    monday = db.value("select (now() at time zone 'Europe/London')::date + 7 - extract(isodow from now())::int + 1")
    sub = call(db, Caller.anon(), "select public.create_appointment_subscription(%s, 'SW1A 1AA', 'weekly', %s,"
               " '10:00', 3, null, %s, %s, '07700 900778', '9 Quiet Street', 'Dog called Rex')",
               where["service"], monday, sue["name"], sue["email"])
    assert sub["number"].startswith("SUB-") and sub["status"] == "pending", sub
    code = db.value("select payload ->> 'tracking_token' from public.notification_outbox"
                    " where template = 'subscription_confirm' and payload ->> 'subscription_id' = %s",
                    (sub["subscription_id"],))
    assert call(db, Caller.anon(), "select public.confirm_subscription(%s, %s)", sub["number"], code)["status"] \
        == "active"
    visits = db.value("select count(*) from public.appointments where subscription_id = %s and status = 'booked'",
                      (sub["subscription_id"],))
    assert visits >= 3
    # A flag to the admins names her (the generator's needs-attention email) and a reminder texts her.
    db.sql("select private.enqueue_notification(%s, 'email', 'subscription_needs_attention', 'boss@example.com',"
           " jsonb_build_object('subscription_id', %s::text, 'customer_name', %s::text), 'test-flag')",
           (where["org"]["id"], sub["subscription_id"], sue["name"]))
    db.sql("update public.appointments set period = tstzrange(now() + interval '5 hours', now() + interval '6 hours')"
           " where id = (select id from public.appointments where subscription_id = %s"
           " order by lower(period) limit 1)", (sub["subscription_id"],))
    assert db.value("select private.queue_appointment_reminders()") >= 1
    assert db.value("select count(*) from public.notification_outbox where channel = 'sms'"
                    " and recipient = '07700 900778' and status = 'pending'") == 1
    owner = where["org"]["owner"]
    result = call(db, owner.caller, "select public.erase_customer(%s, %s)", where["org"]["id"], sue["email"])
    assert result["rows"]["appointment_subscriptions"] == 1 and result["cancelled_appointments"] == visits
    assert db.value("select count(*) from public.notification_outbox where channel = 'sms' and status = 'pending'"
                    " and org_id = %s", (where["org"]["id"],)) == 0
    row = db.one("select status::text, customer_name, customer_email, customer_phone, address, notes"
                 " from public.appointment_subscriptions where id = %s", (sub["subscription_id"],))
    assert row["status"] == "cancelled" and row["customer_name"] == "Erased customer"
    assert row["customer_email"].endswith("@erased.invalid")
    assert (row["customer_phone"], row["address"], row["notes"]) == (None, None, None)
    db.value("select private.generate_subscription_appointments(interval '12 weeks')")
    assert db.value("select count(*) from public.appointments where subscription_id = %s and status = 'booked'",
                    (sub["subscription_id"],)) == 0
    assert traces(db, outside=world["org_id"], needles=("sue.subscriber", "Subscriber", "900778", "Quiet Street",
                                                         "Rex")) == []


def test_erasure_keeps_a_review_s_rating_and_drops_its_comment(db, world):
    rita = {"email": "rita.reviewer@example.com", "name": "Rita Reviewer", "phone": "07700 900779",
            "address": "4 Review Row", "postcode": "SW1A 1AA"}
    later = db.value("select date_trunc('hour', now()) + interval '9 days'")
    order = place(db, world["main"], rita, [later])
    appointment_id = order["appointments"][0]["id"]
    db.sql("update public.appointments set status = 'completed' where id = %s", (appointment_id,))
    assert call(db, Caller.anon(), "select public.review_appointment_as_guest(%s, %s, %s, 4, %s)",
                order["number"], order["tracking_token"], appointment_id,
                "Rita Reviewer says: lovely job at 4 Review Row") is not None
    call(db, world["people"]["owner"].caller, "select public.erase_customer(%s, %s)", world["org_id"], rita["email"])
    review = db.one("select rating, comment, created_by from public.appointment_reviews where appointment_id = %s",
                    (appointment_id,))
    assert (review["rating"], review["comment"], review["created_by"]) == (4, None, None)
    assert traces(db, outside=world["rival_id"], needles=("rita.reviewer", "Reviewer", "Review Row")) == []


def test_erasure_deletes_the_photos_of_their_jobs_rows_and_files(db, world, tmp_path):
    pia = {"email": "pia.photo@example.com", "name": "Pia Photo", "phone": "07700 900780",
           "address": "8 Camera Close", "postcode": "SW1A 1AA"}
    olga_job = world["olga"]["appointments"][0]["id"]
    order = place(db, world["main"], pia, [db.value("select date_trunc('hour', now()) + interval '11 days'")])
    job = order["appointments"][0]["id"]
    store = LocalStorage(tmp_path)
    paths = {}
    for appointment_id in (job, olga_job):
        paths[appointment_id] = db.value(
            "insert into public.job_photos (appointment_id, content_type, bytes) values (%s, 'image/png', 4)"
            " returning object_path", (appointment_id,))
        store.put(paths[appointment_id], b"\x89PNG", "image/png")
    db.sql("update public.appointments set job_note = 'Pia Photo left the key with 8 Camera Close'"
           " where id = %s", (job,))

    result = gdpr.erase_customer(world["people"]["owner"].caller, org_id=str(world["org_id"]), email=pia["email"],
                                 store=store)
    assert result["deleted_photos"] == [paths[job]] and result["photo_deletes_failed"] == 0
    assert db.value("select count(*) from public.job_photos where appointment_id = %s", (job,)) == 0
    with pytest.raises(ObjectNotFound):
        store.get(paths[job])
    assert store.get(paths[olga_job]) == b"\x89PNG"  # someone else's job keeps its photo
    assert db.value("select count(*) from public.job_photos where appointment_id = %s", (olga_job,)) == 1
    assert traces(db, outside=world["rival_id"], needles=("pia.photo", "Pia Photo", "Camera Close")) == []


def test_a_member_of_the_org_is_not_erased_as_a_customer(db, world):
    """Erasing a member would unlink their audit trail: an admin could wipe the owner's."""
    admin, owner = world["people"]["admin"], world["people"]["owner"]
    entries = db.value("select count(*) from public.audit_log where org_id = %s and actor_id = %s",
                       (world["org_id"], owner.id))
    result = call(db, admin.caller, "select public.erase_customer(%s, %s)", world["org_id"], owner.email)
    assert isinstance(result, psycopg.Error) and result.diag.message_detail == "subject_is_member", result
    assert db.value("select count(*) from public.audit_log where org_id = %s and actor_id = %s",
                    (world["org_id"], owner.id)) == entries


def test_a_self_export_shows_only_messages_addressed_to_the_customer(db, world):
    order = world["olga"]
    request = call(db, Caller.anon(), "select public.request_appointment_change_as_guest(%s, %s, %s, 'cancel', null,"
                   " 'Olga cannot make it')", order["number"], order["tracking_token"], order["appointments"][0]["id"])
    assert request["status"] == "pending", request
    told = db.sql("select recipient from public.notification_outbox where template = 'change_request_received'"
                  " and payload ->> 'request_id' = %s", (request["id"],))
    assert told  # the managers were emailed about her appointment
    olga = db.user(OLGA["email"])
    db.sql("update auth.users set email_confirmed_at = now() where id = %s", (olga.id,))
    doc = call(db, olga.caller, "select public.export_my_data()")
    messages = doc["data"]["notification_outbox"]
    assert messages, doc
    assert {m["recipient"].lower() for m in messages} == {OLGA["email"]}  # not the managers' emails


def test_erasing_again_changes_nothing(db, world):
    before = org_rows(db, world["org_id"])
    result = call(db, world["people"]["owner"].caller, "select public.erase_customer(%s, %s)",
                  world["org_id"], ERIN["email"])
    assert result["erased"] is True and set(result["rows"].values()) == {0}
    assert org_rows(db, world["org_id"]) == before
    assert call(db, world["people"]["owner"].caller, "select public.export_customer_data(%s, %s)",
                world["org_id"], ERIN["email"])["data"]["orders"] == []


# ---------------------------------------------------------------------------
# The registry keeps up with the schema
# ---------------------------------------------------------------------------
def test_every_personal_looking_column_is_erased_or_explicitly_kept_with_a_reason(db):
    columns = db.sql(
        "select c.relname as table_name, a.attname as column_name from pg_class c"
        " join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
        " where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and a.attname ~ %s"
        " order by 1, 2", (PERSONAL_NAME,))
    registered = {(r["table_name"], r["column_name"]) for r in db.sql(
        "select table_name, column_name from private.gdpr_columns")}
    missing = [f"{c['table_name']}.{c['column_name']}" for c in columns
               if (c["table_name"], c["column_name"]) not in registered]
    assert not missing, (
        "columns that look personal but are not in private.gdpr_columns (give an erase_to expression, or a reason "
        f"they stay; see migrations/*_privacy_gdpr.sql): {missing}")
    assert len(columns) > 40  # the pattern really finds them


def test_the_registry_names_real_tables_and_columns_and_every_erased_table_can_be_picked(db):
    stale = db.sql("select g.table_name, g.column_name from private.gdpr_columns g"
                   " where not exists (select 1 from information_schema.columns c where c.table_schema ="
                   " coalesce((select t.schema_name from private.gdpr_tables t where t.table_name = g.table_name),"
                   " 'public') and c.table_name = g.table_name and c.column_name = g.column_name)")
    assert stale == []
    unpicked = db.sql("select distinct g.table_name from private.gdpr_columns g where g.erase_to is not null"
                      " and g.table_name not in (select table_name from private.gdpr_tables)")
    assert unpicked == []
    no_id = db.sql("select t.table_name from private.gdpr_tables t where not exists (select 1 from"
                   " information_schema.columns c where c.table_schema = t.schema_name and c.table_name = t.table_name"
                   " and c.column_name = 'id')")
    assert no_id == []
    # Tables with customer links must be registered for picking.
    linked = {r["t"] for r in db.sql(
        "select distinct c.relname as t from pg_class c join pg_attribute a on a.attrelid = c.oid"
        " where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'"
        " and a.attname in ('customer_user_id', 'customer_email', 'buyer_email', 'buyer_user_id', 'attendee_email')")}
    picked = {r["table_name"] for r in db.sql("select table_name from private.gdpr_tables")}
    assert linked <= picked, linked - picked


def test_the_registry_is_not_reachable_through_the_api(db):
    for role in ("anon", "authenticated"):
        assert db.value("select has_table_privilege(%s, 'private.gdpr_columns', 'select')", (role,)) is False
        assert db.value("select has_table_privilege(%s, 'private.gdpr_tables', 'update')", (role,)) is False
    assert db.value("select has_function_privilege('anon', 'private.erase_customer(uuid, text)', 'execute')") is False


# ---------------------------------------------------------------------------
# Over HTTP (functions/gdpr)
# ---------------------------------------------------------------------------
def test_the_gdpr_function_exports_as_a_download_and_erases_as_the_caller(stack, db, world):
    url = f"{stack.functions_url}/gdpr"
    owner, staff = world["people"]["owner"], world["people"]["staff"]
    query = {"org_id": str(world["org_id"]), "email": OLGA["email"]}

    r = httpx.get(url, params=query, headers=owner.headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].startswith('attachment; filename="customer-data-')
    assert r.headers["cache-control"] == "private, no-store"
    assert [o["id"] for o in r.json()["data"]["orders"]] == [world["olga"]["order_id"]]

    mine = httpx.get(url, headers=owner.headers, timeout=30)
    assert mine.status_code == 200 and mine.json()["subject"]["user_id"] == owner.id

    assert httpx.get(url, params=query, headers=anon_headers(), timeout=30).status_code == 401
    assert httpx.get(url, params=query, timeout=30).status_code == 401
    r = httpx.get(url, params=query, headers=staff.headers, timeout=30)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "not_org_admin")
    r = httpx.get(url, params={"org_id": str(world["org_id"])}, headers=owner.headers, timeout=30)
    assert r.status_code == 422

    r = httpx.post(url, json=query, headers=staff.headers, timeout=30)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "not_org_admin")
    r = httpx.post(url, json={**query, "email": "nope"}, headers=owner.headers, timeout=30)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_email")
    assert db.value("select buyer_name from public.orders where id = %s", (world["olga"]["order_id"],)) == OLGA["name"]

    r = httpx.post(url, json=query, headers=owner.headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["rows"]["orders"] == 1
    assert db.value("select buyer_name from public.orders where id = %s",
                    (world["olga"]["order_id"],)) == "Erased customer"
