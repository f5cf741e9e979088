"""Delivery tracking and suppression (routines/comms/delivery.sql, functions/resend-webhook,
functions/twilio-webhook, shared/comms/delivery.py), over real HTTP with the real SDKs.

Messages go out through the outbox worker to the Resend and Twilio stand-ins, which owe the
webhooks the real providers send (signed the same way) and deliver them when flushed. Hand-made
events (out of order, replayed, forged) are signed by the stand-ins' own signing code, or not.
Every assertion reads the database or the stand-ins.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid

import httpx
import psycopg
import pytest

from shared.comms import notifications, templates
from shared.platform.config import settings
from shared.platform.db import Caller
from shared.providers.mail import Mailer
from shared.providers.sms import Texter

TEMPLATE = "delivery_probe"


templates.register(templates.Kind(
    name=TEMPLATE, purpose="transactional", variables={}, sample={}, context=lambda cur, row: {},
    defaults={"email": {"subject": "Probe", "html": "<p>Probe</p>", "text": "Probe"}, "sms": {"body": "Probe"}}))


def queue(db, channel: str, recipient: str, *, purpose: str = "transactional") -> str:
    return str(db.value(
        "insert into public.notification_outbox (channel, template, recipient, purpose)"
        " values (%s, %s, %s, %s) returning id", (channel, TEMPLATE, recipient, purpose)))


def send(stack) -> dict:
    return notifications.send_due(Mailer(settings()), texter=Texter(settings()), templates=[TEMPLATE], limit=50)


def row(db, outbox_id: str) -> dict:
    return db.one("select status, delivery_status, last_error, provider_message_id from public.notification_outbox"
                  " where id = %s", (outbox_id,))


def event_types(db, outbox_id: str) -> list[str]:
    return [r["type"] for r in db.sql(
        "select type::text from public.message_events where notification_id = %s order by recorded_at, type",
        (outbox_id,))]


def suppression(db, channel: str, address: str) -> dict | None:
    return db.one("select reason, lifted_at from private.suppressions where channel = %s and address = %s",
                  (channel, address))


def flushed(queue_) -> list:
    attempts = queue_.flush()
    assert attempts and all(a.status == 200 for a in attempts), [(a.status, a.answer) for a in attempts]
    return attempts


def resend_address(kind: str) -> str:
    return f"{kind}+{uuid.uuid4().hex[:10]}@resend.dev"


def sent_email(stack, db, kind: str = "delivered", *, purpose: str = "transactional") -> tuple[str, dict]:
    address = resend_address(kind)
    outbox_id = queue(db, "email", address, purpose=purpose)
    assert send(stack)["sent"] >= 1
    assert row(db, outbox_id)["status"] == "sent"
    return outbox_id, stack.resend.email(row(db, outbox_id)["provider_message_id"])


def post_resend(stack, body: bytes, headers: dict) -> httpx.Response:
    return httpx.post(f"{stack.functions_url}/resend-webhook", content=body, headers=headers, timeout=10)


def post_event(stack, event: dict, **signing) -> httpx.Response:
    body, headers = stack.resend.signed(event, **signing)
    return post_resend(stack, body, headers)


# ---------------------------------------------------------------------------
# Email: the whole lifecycle through the stand-in
# ---------------------------------------------------------------------------
def test_an_email_reports_sent_then_delivered(stack, db):
    outbox_id, _ = sent_email(stack, db)
    assert row(db, outbox_id)["delivery_status"] is None, "nothing is known before the provider says so"
    attempts = flushed(stack.resend.webhooks)
    assert [json.loads(a.answer)["result"] for a in attempts[-2:]] == ["recorded", "recorded"]
    assert row(db, outbox_id)["delivery_status"] == "delivered"
    assert event_types(db, outbox_id) == ["sent", "delivered"]


def test_a_hard_bounce_stops_promotions_to_that_address_but_not_receipts(stack, db):
    outbox_id, email = sent_email(stack, db, "bounced")
    flushed(stack.resend.webhooks)
    address = email["to"][0]
    assert row(db, outbox_id)["delivery_status"] == "bounced"
    assert suppression(db, "email", address)["reason"] == "hard_bounce"

    receipt = queue(db, "email", address, purpose="transactional")
    alert = queue(db, "email", address, purpose="alert")
    promotion = queue(db, "email", address, purpose="promotional")
    send(stack)
    assert row(db, receipt)["status"] == "sent" and row(db, alert)["status"] == "sent"
    assert row(db, promotion)["status"] == "skipped" and row(db, promotion)["last_error"] == "suppressed"
    assert len(stack.resend.emails_to(address)) == 3, "the first, the receipt and the alert; never the promotion"


def test_a_complaint_after_delivery_ends_complained_and_suppresses(stack, db):
    outbox_id, email = sent_email(stack, db, "complained")
    flushed(stack.resend.webhooks)
    assert row(db, outbox_id)["delivery_status"] == "complained"
    assert event_types(db, outbox_id) == ["sent", "delivered", "complained"]
    assert suppression(db, "email", email["to"][0])["reason"] == "complaint"


def test_a_soft_bounce_suppresses_nothing(stack, db):
    outbox_id, email = sent_email(stack, db)
    stack.resend.webhooks.clear()
    soft = stack.resend.webhook("email.bounced", email, bounce={"type": "Temporary", "subType": "MailboxFull",
                                                                  "message": "Mailbox full"})
    assert post_event(stack, soft).json()["result"] == "recorded"
    assert row(db, outbox_id)["delivery_status"] == "bounced"
    assert suppression(db, "email", email["to"][0]) is None


def test_events_in_any_order_end_in_the_furthest_state(stack, db):
    outbox_id, email = sent_email(stack, db)
    stack.resend.webhooks.clear()
    for order in itertools.permutations(["email.sent", "email.delivered", "email.opened", "email.clicked"]):
        db.sql("delete from public.message_events where notification_id = %s", (outbox_id,))
        db.sql("update public.notification_outbox set delivery_status = null where id = %s", (outbox_id,))
        seen = []
        for event_type in order:
            assert post_event(stack, stack.resend.webhook(event_type, email)).status_code == 200
            seen.append(event_type)
            furthest = max(seen, key=["email.sent", "email.delivered", "email.opened", "email.clicked"].index)
            assert row(db, outbox_id)["delivery_status"] == furthest.removeprefix("email."), order
        assert sorted(event_types(db, outbox_id)) == ["clicked", "delivered", "opened", "sent"]


def test_a_replayed_event_is_recorded_once(stack, db):
    outbox_id, email = sent_email(stack, db)
    stack.resend.webhooks.clear()
    event = stack.resend.webhook("email.delivered", email)
    first = post_event(stack, event, event_id="msg_replayed_" + outbox_id)
    again = post_event(stack, event, event_id="msg_replayed_" + outbox_id)  # re-signed, as Resend retries
    assert (first.json()["result"], again.json()["result"]) == ("recorded", "duplicate")
    assert event_types(db, outbox_id) == ["delivered"]


def test_an_event_about_no_message_of_ours_is_acknowledged_and_writes_nothing(stack, db):
    stranger = {"id": str(uuid.uuid4()), "from": "x@example.com", "to": ["y@example.com"], "subject": "?",
                "created_at": "2026-01-01T00:00:00+00:00", "tags": []}
    before = db.value("select count(*) from public.message_events")
    answer = post_event(stack, stack.resend.webhook("email.delivered", stranger))
    assert answer.status_code == 200 and answer.json()["result"] == "unknown_message"
    assert db.value("select count(*) from public.message_events") == before


def test_an_untracked_event_type_is_acknowledged_and_ignored(stack, db):
    outbox_id, email = sent_email(stack, db)
    stack.resend.webhooks.clear()
    answer = post_event(stack, stack.resend.webhook("email.scheduled", email))
    assert answer.json()["result"] == "ignored" and event_types(db, outbox_id) == []


def test_forged_stale_tampered_or_unsigned_events_change_nothing(stack, db):
    outbox_id, email = sent_email(stack, db, "delivered")
    stack.resend.webhooks.clear()
    event = stack.resend.webhook("email.bounced", email)  # a forged permanent bounce would suppress the address
    body, headers = stack.resend.signed(event)
    attempts = {
        "wrong secret": stack.resend.signed(event, secret="whsec_" + "Zm9yZ2VkLXNlY3JldC1mb3ItdGVzdHM="),
        "stale": stack.resend.signed(event, timestamp=int(time.time()) - 600),
        "from the future": stack.resend.signed(event, timestamp=int(time.time()) + 600),
        "tampered": (body.replace(b"Permanent", b"Permanent "), headers),
        "other id": (body, {**headers, "svix-id": "msg_someone_else"}),
        "unsigned": (body, {"content-type": "application/json"}),
        "not json": (b"\xff\xfe", headers),
    }
    for label, (payload, hdrs) in attempts.items():
        answer = post_resend(stack, payload, hdrs)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_signature", label
    assert event_types(db, outbox_id) == [] and row(db, outbox_id)["delivery_status"] is None
    assert suppression(db, "email", email["to"][0]) is None


# ---------------------------------------------------------------------------
# SMS: status callbacks and STOP
# ---------------------------------------------------------------------------
def uk_mobile() -> str:
    return f"+447400{uuid.uuid4().int % 900000 + 100000}"  # a GB mobile range (country_of: GB)


def twilio_url(stack, route: str, query: str = "") -> str:
    return f"{stack.functions_url}/twilio-webhook{route}" + (f"?{query}" if query else "")


def test_an_sms_reports_sent_then_delivered(stack, db):
    number = uk_mobile()
    outbox_id = queue(db, "sms", number)
    send(stack)
    assert row(db, outbox_id)["status"] == "sent"
    flushed(stack.twilio.webhooks)
    assert row(db, outbox_id)["delivery_status"] == "delivered"
    assert event_types(db, outbox_id) == ["sent", "delivered"]


def test_an_undelivered_sms_ends_failed_with_its_error_and_suppresses_nothing(stack, db):
    number = uk_mobile()
    stack.twilio.undeliverable(number, "30005")
    outbox_id = queue(db, "sms", number)
    send(stack)
    flushed(stack.twilio.webhooks)
    assert row(db, outbox_id)["delivery_status"] == "failed"
    detail = db.value("select detail from public.message_events where notification_id = %s and type = 'failed'",
                      (outbox_id,))
    assert detail == {"status": "undelivered", "error_code": "30005"}, "no phone number kept outside the outbox row"
    assert suppression(db, "sms", number) is None


def test_stop_opts_a_number_out_of_every_sms_until_start(stack, db):
    number = uk_mobile()
    stack.twilio.receive(number, " stop ")
    [attempt] = flushed(stack.twilio.webhooks)
    assert attempt.headers["content-type"] == "application/x-www-form-urlencoded"
    assert suppression(db, "sms", number)["reason"] == "sms_stop"

    reminder = queue(db, "sms", number, purpose="transactional")
    send(stack)
    assert row(db, reminder)["status"] == "skipped" and row(db, reminder)["last_error"] == "suppressed"
    assert stack.twilio.messages_to(number) == []

    stack.twilio.receive(number, "START")
    flushed(stack.twilio.webhooks)
    assert suppression(db, "sms", number)["lifted_at"] is not None
    again = queue(db, "sms", number)
    send(stack)
    assert row(db, again)["status"] == "sent" and len(stack.twilio.messages_to(number)) == 1


def test_a_failure_21610_suppresses_the_number_we_missed_the_stop_of(stack, db):
    number = uk_mobile()
    outbox_id = queue(db, "sms", number)
    send(stack)
    stack.twilio.webhooks.clear()
    sid = row(db, outbox_id)["provider_message_id"]
    params = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "21610", "To": number,
              "From": "+447700900000", "AccountSid": stack.twilio.account_sid}
    url = twilio_url(stack, "/status", f"outbox={outbox_id}")
    answer = httpx.post(url, data=params, headers={"x-twilio-signature": stack.twilio.signature(url, params)})
    assert answer.json()["result"] == "recorded"
    assert suppression(db, "sms", number)["reason"] == "sms_stop"


def test_forged_twilio_requests_change_nothing(stack, db):
    number = uk_mobile()
    outbox_id = queue(db, "sms", number)
    send(stack)
    stack.twilio.webhooks.clear()
    sid = row(db, outbox_id)["provider_message_id"]
    status = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "21610", "To": number}
    url = twilio_url(stack, "/status", f"outbox={outbox_id}")
    inbound = {"From": number, "Body": "STOP", "To": "+447700900000"}
    inbound_url = twilio_url(stack, "/inbound")
    forgeries = {
        "no signature": (url, status, {}),
        "wrong token": (url, status, {"x-twilio-signature": "bm90LWEtc2lnbmF0dXJl"}),
        "signed for another message": (
            url.replace(outbox_id, str(uuid.uuid4())), status,
            {"x-twilio-signature": stack.twilio.signature(url, status)}),
        "fields changed after signing": (
            url, {**status, "ErrorCode": "30005"}, {"x-twilio-signature": stack.twilio.signature(url, status)}),
        "forged stop": (inbound_url, inbound, {"x-twilio-signature": stack.twilio.signature(url, inbound)}),
    }
    for label, (target, params, headers) in forgeries.items():
        answer = httpx.post(target, data=params, headers=headers)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "invalid_signature", label
    assert event_types(db, outbox_id) == [] and suppression(db, "sms", number) is None


# ---------------------------------------------------------------------------
# Who may see and touch it
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("caller", [Caller.anon(), Caller.service(), Caller.user(str(uuid.uuid4()))],
                         ids=["anon", "service_role", "authenticated"])
def test_no_api_role_reads_or_writes_the_suppression_list(db, caller):
    for statement in ("select count(*) from private.suppressions",
                      "insert into private.suppressions (channel, address, reason) values ('email', 'a@b.co', 'complaint')",
                      "delete from private.suppressions"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with db.acting(caller) as cur:
                cur.execute(statement)


def test_api_roles_cannot_record_events_or_keywords_themselves(db):
    for caller in (Caller.anon(), Caller.user(str(uuid.uuid4()))):
        for statement in ("select private.record_sms_keyword('+447700900999', 'STOP')",
                          "select private.record_message_event('resend', 'x', 'y', null, 'bounced', now(), '{}')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with db.acting(caller) as cur:
                    cur.execute(statement)
