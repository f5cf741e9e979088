"""Consent, campaigns and one-click unsubscribe (routines/comms/campaigns.sql, shared/comms/campaigns.py,
functions/unsubscribe): a promotion reaches exactly the customers of the segment who consented, are not
suppressed and did not unsubscribe; an unsubscribe token withdraws its own consent, once."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from shared.comms import notifications
from shared.platform.config import settings
from shared.providers.mail import Mailer
from shared.providers.sms import Texter
from tests.support import factories
from tests.support.appointments import services_and_staff
from tests.support.pg import call, refused


def shop(db) -> dict:
    org = factories.org(db)
    return {"org": org, "org_id": org["id"], **services_and_staff(db, org["id"])}


def customer(db, where: dict, email: str, days_ago: int, slot: int) -> None:
    db.sql("insert into public.appointments (org_id, service_id, staff_id, customer_name, customer_email, postcode,"
           " status, period) values (%s, %s, %s, 'Pat', %s, 'SW1A 1AA', 'completed', tstzrange("
           " date_trunc('hour', now()) - make_interval(days => %s, hours => %s),"
           " date_trunc('hour', now()) - make_interval(days => %s, hours => %s) + interval '1 hour'))",
           (where["org_id"], where["service_id"], where["staff_id"], email, days_ago, slot, days_ago, slot))


def consent(db, where: dict, email: str, granted: bool) -> None:
    assert call(db, where["org"]["owner"].caller,
                "select to_jsonb(public.set_marketing_consent(%s, 'email', %s, %s, 'staff', '{\"form\": \"paper\"}'))",
                where["org_id"], email, granted)["status"] == ("granted" if granted else "withdrawn")


def campaign(db, where: dict, *, channel: str = "email", per_minute: int = 60, caller=None) -> dict:
    return call(db, caller or where["org"]["owner"].caller,
                "select to_jsonb(public.create_campaign(%s, %s, 'appointment_customers', 'Spring offer', %s,"
                " '{}'::jsonb, %s))", where["org_id"], channel, "20% off <this> month", per_minute)


def queue(db, where: dict, campaign_id, caller=None):
    return call(db, caller or where["org"]["owner"].caller, "select public.queue_campaign(%s)", campaign_id)


def queued_to(db, campaign_id) -> set[str]:
    return {r["recipient"] for r in db.sql(
        "select recipient from public.notification_outbox where template = 'promotion'"
        " and payload ->> 'campaign_id' = %s", (str(campaign_id),))}


CUSTOMERS = st.lists(st.fixed_dictionaries({
    "consent": st.sampled_from(["granted", "withdrawn", "none"]),
    "suppressed": st.sampled_from([None, "hard_bounce", "complaint"]),
    "days_ago": st.sampled_from([10, 200, 400]),        # 400: outside the last 12 months
    "twice": st.booleans(),                             # two jobs: still one promotion
}), min_size=0, max_size=8)


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(customers=CUSTOMERS)
def test_a_promotion_reaches_exactly_the_consenting_unsuppressed_customers_of_the_segment(db, customers):
    where = shop(db)
    expected = set()
    for i, c in enumerate(customers):
        email = f"p{i}-{uuid.uuid4().hex[:8]}@example.com"
        customer(db, where, email.upper() if i % 2 else email, c["days_ago"], i * 2)
        if c["twice"]:
            customer(db, where, email, c["days_ago"], i * 2 + 1)
        if c["consent"] != "none":
            consent(db, where, email, c["consent"] == "granted")
        if c["suppressed"]:
            db.sql("insert into private.suppressions (channel, address, reason) values ('email', %s, %s)",
                   (email, c["suppressed"]))
        if c["consent"] == "granted" and not c["suppressed"] and c["days_ago"] < 365:
            expected.add(email)
    created = campaign(db, where)
    assert queue(db, where, created["id"])["queued"] == len(expected)
    assert queued_to(db, created["id"]) == expected


def test_a_promotion_carries_one_click_unsubscribe_that_works_once_for_its_recipient_only(stack, db):
    where = shop(db)
    ann, bob = (f"{n}-{uuid.uuid4().hex[:8]}@example.com" for n in ("ann", "bob"))
    for i, email in enumerate((ann, bob)):
        customer(db, where, email, 10, i)
        consent(db, where, email, True)
    first = campaign(db, where)
    assert queue(db, where, first["id"])["queued"] == 2
    # Due now: this campaign's; other tests' promotions wait.
    db.sql("update public.notification_outbox set next_attempt_at = case when payload ->> 'campaign_id' = %s"
           " then now() else now() + interval '1 day' end where template = 'promotion' and status = 'pending'",
           (str(first["id"]),))
    counts = notifications.send_due(Mailer(settings()), templates=["promotion"], limit=10)
    assert counts["sent"] == 2, (counts, db.sql("select status, last_error, recipient from public.notification_outbox"
                                                " where template = 'promotion'"))
    [email] = stack.resend.emails_to(ann)
    assert "20% off &lt;this&gt; month" in email["html"]
    link = email["headers"]["List-Unsubscribe"].strip("<>")
    assert email["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link.replace("&", "&amp;") in email["html"] and link in email["text"]

    page = httpx.get(link)
    assert page.status_code == 200 and "<form" in page.text
    assert db.value("select status::text from public.marketing_consents where address = %s", (ann,)) == "granted"
    tampered = httpx.post(link[:-4] + "abcd", data={"List-Unsubscribe": "One-Click"})
    assert tampered.status_code == 404
    done = httpx.post(link, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "no more offers" in done.text
    assert httpx.post(link, data={"List-Unsubscribe": "One-Click"}).status_code == 410
    statuses = {r["address"]: r["status"] for r in db.sql(
        "select address, status::text as status from public.marketing_consents where org_id = %s", (where["org_id"],))}
    assert statuses == {ann: "withdrawn", bob: "granted"}, "only the link's own recipient"

    second = campaign(db, where)
    queue(db, where, second["id"])
    assert queued_to(db, second["id"]) == {bob}


def test_only_owners_and_admins_run_campaigns_and_each_is_queued_once(db):
    where = shop(db)
    team_admin = factories.member(db, where["org"], role="admin")
    staff = factories.member(db, where["org"], role="staff")
    refused(campaign(db, where, caller=staff.caller), "PT403", "not_an_admin")
    created = campaign(db, where, caller=team_admin.caller)
    refused(queue(db, where, created["id"], caller=staff.caller), "PT404", "campaign_not_found")
    refused(call(db, staff.caller, "select to_jsonb(public.set_marketing_consent(%s, 'email', 'x@example.com', true))",
                 where["org_id"]), "PT403", "not_an_admin")
    assert queue(db, where, created["id"])["queued"] == 0
    refused(queue(db, where, created["id"]), "PT409", "already_queued")
    refused(call(db, where["org"]["owner"].caller,
                 "select to_jsonb(public.create_campaign(%s, 'email', 'no_such_audience', 't', 'm'))", where["org_id"]),
            "PT422", "unknown_audience")
    consent(db, where, "someone@example.com", True)
    rival = factories.org(db)["owner"]
    for who, sees in ((where["org"]["owner"], True), (team_admin, True), (staff, False), (rival, False)):
        with db.acting(who.caller) as cur:
            cur.execute("select (select count(*) from public.campaigns where org_id = %s) as campaigns,"
                        " (select count(*) from public.marketing_consents where org_id = %s) as consents",
                        (where["org_id"], where["org_id"]))
            counts = cur.fetchone()
            assert (counts["campaigns"] > 0, counts["consents"] > 0) == (sees, sees), who
    for statement in ("insert into public.marketing_consents (org_id, channel, address, status, source)"
                      " values (%s, 'email', 'forged@example.com', 'granted', 'staff')",
                      "update public.campaigns set status = 'draft' where org_id = %s"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with db.acting(where["org"]["owner"].caller) as cur:
                cur.execute(statement, (where["org_id"],))


def test_promotions_go_out_at_the_campaigns_rate(db):
    where = shop(db)
    for i in range(3):
        email = f"r{i}-{uuid.uuid4().hex[:8]}@example.com"
        customer(db, where, email, 10, i)
        consent(db, where, email, True)
    created = campaign(db, where, per_minute=30)
    queue(db, where, created["id"])
    times = [r["next_attempt_at"] for r in db.sql(
        "select next_attempt_at from public.notification_outbox where payload ->> 'campaign_id' = %s"
        " order by next_attempt_at", (str(created["id"]),))]
    assert [(b - a).total_seconds() for a, b in zip(times, times[1:])] == [2.0, 2.0]


@pytest.mark.parametrize(("utc", "expected"), [
    ("2026-06-01T12:00:00Z", "2026-06-01T12:00:00Z"),   # 13:00 BST: fine
    ("2026-06-01T19:59:00Z", "2026-06-01T19:59:00Z"),   # 20:59 BST: fine
    ("2026-06-01T20:00:00Z", "2026-06-02T08:00:00Z"),   # 21:00 BST: next 09:00
    ("2026-06-02T02:00:00Z", "2026-06-02T08:00:00Z"),   # 03:00 BST: 09:00 that day
    ("2026-12-01T21:30:00Z", "2026-12-02T09:00:00Z"),   # 21:30 GMT
])
def test_sms_wait_out_quiet_hours_in_the_orgs_timezone(db, utc, expected):
    moved = db.value("select private.outside_quiet_hours(%s::timestamptz, 'Europe/London')", (utc,))
    assert moved == datetime.fromisoformat(expected.replace("Z", "+00:00")).astimezone(timezone.utc)


def test_erasing_a_customer_erases_their_consent(db):
    where = shop(db)
    email = f"gone-{uuid.uuid4().hex[:8]}@example.com"
    customer(db, where, email, 10, 0)
    consent(db, where, email, True)
    erased = call(db, where["org"]["owner"].caller, "select public.erase_customer(%s, %s)", where["org_id"], email)
    assert erased["rows"]["marketing_consents"] == 1
    assert db.value("select count(*) from public.marketing_consents where address = %s", (email,)) == 0
    assert db.value("select status::text from public.marketing_consents where org_id = %s",
                    (where["org_id"],)) == "withdrawn"
    created = campaign(db, where)
    assert queue(db, where, created["id"])["queued"] == 0


def test_numbers_are_compared_in_e164_however_they_were_typed(db):
    """Consent given for "+44 7400 300001" covers the customer who typed "07400 300001" at booking, once;
    a number in the org's own country is read as such; a consent for something that is not a number is refused."""
    where = shop(db)
    for slot, phone in enumerate(("07400 300001", "+447400300001", "07400300002")):
        db.sql("insert into public.appointments (org_id, service_id, staff_id, customer_name, customer_phone,"
               " postcode, status, period) values (%s, %s, %s, 'Pat', %s, 'SW1A 1AA', 'completed', tstzrange("
               " date_trunc('hour', now()) - make_interval(days => 3, hours => %s),"
               " date_trunc('hour', now()) - make_interval(days => 3, hours => %s) + interval '1 hour'))",
               (where["org_id"], where["service_id"], where["staff_id"], phone, slot, slot))
    owner = where["org"]["owner"].caller
    saved = call(db, owner, "select to_jsonb(public.set_marketing_consent(%s, 'sms', '+44 (0)7400 300001', true))",
                 where["org_id"])
    assert saved["address"] == "+447400300001"
    refused(call(db, owner, "select to_jsonb(public.set_marketing_consent(%s, 'sms', 'ring the shop', true))",
                 where["org_id"]), "PT422", "invalid_address")
    refused(call(db, owner, "select to_jsonb(public.set_marketing_consent(%s, 'email', 'not-an-email', true))",
                 where["org_id"]), "PT422", "invalid_address")
    created = campaign(db, where, channel="sms")
    assert queue(db, where, created["id"])["queued"] == 1
    assert queued_to(db, created["id"]) == {"+447400300001"}
    assert db.value("select count(*) from public.marketing_consents where org_id = %s", (where["org_id"],)) == 1
