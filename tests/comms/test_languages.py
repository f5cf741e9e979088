"""Every message in its recipient's language, and the buyer's choices at checkout
(routines/comms/languages.sql, routines/commerce/buyer_choices.sql, shared/commerce/checkout.py):
a buyer who chose German gets the org's German wording; anyone else the org's language or English;
a ticked marketing box is consent with the order as evidence, an unticked one changes nothing; and
nobody records a choice for someone else's order."""

from __future__ import annotations

import uuid

import pytest

from shared.comms import notifications
from shared.platform.config import settings
from shared.platform.db import Caller
from shared.providers.mail import Mailer
from tests.support import factories, orders, ticketing
from tests.support.http import buy, checkout_body
from tests.support.pg import call, refused

GERMAN = {"subject": "Ihre Tickets für {{ event_title }}", "html": "<p>Hallo {{ buyer_name }}: {{ total }}</p>",
          "text": "Hallo {{ buyer_name }}: {{ total }}"}
FRENCH = {"subject": "Vos billets pour {{ event_title }}", "html": "<p>Bonjour {{ buyer_name }}</p>",
          "text": "Bonjour {{ buyer_name }}"}


def save(db, org: dict, language: str, parts: dict) -> None:
    call(db, org["owner"].caller, "select private.save_message_template(%s, 'tickets', 'email', %s, %s, %s, %s,"
         " null, %s)", org["id"], language, parts["subject"], parts["html"], parts["text"], org["owner"].id)


@pytest.fixture
def sale(db):
    org = factories.org(db)
    event = ticketing.event(db, org)
    return {"org": org, "event": event, "tier": ticketing.tier(db, event, price_minor=1500, capacity=50)}


def email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


def checkout(stack, sale, address: str, **choices):
    return buy(stack.functions_url, checkout_body(sale["event"], [(sale["tier"], 1)], buyer_email=address, **choices))


def sent(stack, db, order_id: str, address: str) -> tuple[str, dict]:
    assert orders.pay(db, order_id) == "fulfilled"
    notifications.send_due(Mailer(settings()), templates=["tickets"], order_id=order_id)
    language = db.value("select language from public.notification_outbox where template = 'tickets'"
                        " and payload ->> 'order_id' = %s", (order_id,))
    [message] = stack.resend.emails_to(address)
    return language, message


def subject_sent_to(stack, db, order_id: str, address: str) -> tuple[str, str]:
    language, message = sent(stack, db, order_id, address)
    return language, message["subject"]


def consents(db, org_id) -> dict[tuple[str, str], dict]:
    return {(r["channel"], r["address"]): r for r in db.sql(
        "select channel::text, address, status::text, source, evidence from public.marketing_consents"
        " where org_id = %s", (org_id,))}


def test_a_buyer_who_chose_german_gets_the_orgs_german_wording_and_others_get_english(stack, db, sale):
    save(db, sale["org"], "de", GERMAN)
    german, english = email("german"), email("english")
    chose = checkout(stack, sale, german, language="de-AT")
    assert chose.status_code == 200, chose.text
    assert db.value("select language from public.recipient_languages where org_id = %s and address = %s",
                    (sale["org"]["id"], german)) == "de-AT"
    language, message = sent(stack, db, chose.json()["order_id"], german)
    assert (language, message["subject"]) == ("de-AT", "Ihre Tickets für Spring Gala")
    assert message["text"] == "Hallo Gemma Guest: £\xa015,00", "money as an Austrian reader writes it"
    plain = checkout(stack, sale, english)
    assert subject_sent_to(stack, db, plain.json()["order_id"], english) == ("en", "Your tickets for Spring Gala")


def test_the_orgs_own_language_is_the_default_and_a_missing_translation_falls_back(stack, db, sale):
    db.sql("update public.organizations set language = 'fr' where id = %s", (sale["org"]["id"],))
    save(db, sale["org"], "fr", FRENCH)
    french, spanish = email("french"), email("spanish")
    plain = checkout(stack, sale, french)
    assert subject_sent_to(stack, db, plain.json()["order_id"], french) == ("fr", "Vos billets pour Spring Gala")
    # Spanish was chosen but the org wrote no Spanish: its own language (French) beats the product's English.
    chose = checkout(stack, sale, spanish, language="es")
    assert subject_sent_to(stack, db, chose.json()["order_id"], spanish) == ("es", "Vos billets pour Spring Gala")


def test_ticked_boxes_are_consent_with_the_order_as_evidence(stack, db, sale):
    address = email("keen")
    r = checkout(stack, sale, address, marketing_email=True, marketing_sms_phone="07400 600001", language="en")
    assert r.status_code == 200, r.text
    found = consents(db, sale["org"]["id"])
    assert set(found) == {("email", address), ("sms", "+447400600001")}
    for row in found.values():
        assert (row["status"], row["source"]) == ("granted", "checkout")
        assert row["evidence"]["order_number"] == r.json()["order_number"]
    assert db.value("select count(*) from public.recipient_languages where org_id = %s",
                    (sale["org"]["id"],)) == 2, "the SMS number hears in the chosen language too"


def test_an_unticked_box_withdraws_nothing_and_a_retry_is_the_same_order(stack, db, sale):
    address = email("earlier")
    call(db, sale["org"]["owner"].caller, "select public.set_marketing_consent(%s, 'email', %s, true)",
         sale["org"]["id"], address)
    body = checkout_body(sale["event"], [(sale["tier"], 1)], buyer_email=address)
    first = buy(stack.functions_url, body, key=(key := f"test-{uuid.uuid4()}"))
    again = buy(stack.functions_url, {**body, "marketing_email": True, "language": "de"}, key=key)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["replayed"] and again.json()["order_id"] == first.json()["order_id"]
    assert consents(db, sale["org"]["id"])[("email", address)]["source"] == "staff", "unchanged"
    assert db.value("select count(*) from public.recipient_languages where address = %s", (address,)) == 0


@pytest.mark.parametrize(("choices", "status", "code"), [
    ({"language": "German"}, 422, "invalid_request"),
    ({"language": "de_DE"}, 422, "invalid_request"),
    ({"marketing_email": "yes please"}, 422, "invalid_request"),
    ({"marketing_sms_phone": "ring the box office"}, 422, "invalid_address"),
    ({"marketing_sms_phone": "07400 1"}, 422, "invalid_address"),
])
def test_bad_choices_are_refused_and_nothing_is_written(stack, db, sale, choices, status, code):
    address = email("bad")
    before = db.value("select count(*) from public.orders where org_id = %s", (sale["org"]["id"],))
    r = checkout(stack, sale, address, **choices)
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text
    assert db.value("select count(*) from public.orders where org_id = %s", (sale["org"]["id"],)) == before
    assert not consents(db, sale["org"]["id"])
    assert db.value("select count(*) from public.recipient_languages where org_id = %s", (sale["org"]["id"],)) == 0


def test_nobody_records_a_choice_for_another_buyers_order(db, sale):
    order = orders.place(db, sale["event"], [(sale["tier"], 1)], email=email("victim"), name="Vic")
    for caller in (Caller.anon(), factories.org(db)["owner"].caller):
        refused(call(db, caller, "select private.record_buyer_choices(%s, %s, 'de', true, '07400 600002')",
                     order["number"], "not-the-token"), "PT404", "order_not_found")
    assert not consents(db, sale["org"]["id"])
    with db.acting(Caller.anon()) as cur:
        cur.execute("select private.record_buyer_choices(%s, %s, 'de', true, null)",
                    (order["number"], order["tracking_token"]))
    assert set(consents(db, sale["org"]["id"])) == {("email", order_email(db, order))}


def order_email(db, order) -> str:
    return db.value("select buyer_email from public.orders where id = %s", (order["order_id"],))


def test_recipient_languages_are_the_orgs_own(db, sale):
    with db.acting(Caller.anon()) as cur:
        order = orders.place(db, sale["event"], [(sale["tier"], 1)], email=email("lang"), name="L")
        cur.execute("select private.record_buyer_choices(%s, %s, 'de', false, null)",
                    (order["number"], order["tracking_token"]))
    staff = factories.member(db, sale["org"], role="staff")
    rival = factories.org(db)["owner"]
    for who, sees in ((sale["org"]["owner"], 1), (staff, 0), (rival, 0)):
        with db.acting(who.caller) as cur:
            cur.execute("select count(*) as n from public.recipient_languages where org_id = %s", (sale["org"]["id"],))
            assert cur.fetchone()["n"] == sees
    with db.as_anon() as cur:
        with pytest.raises(Exception, match="permission denied"):
            cur.execute("select * from public.recipient_languages")
