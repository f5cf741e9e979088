"""24-hour appointment reminders (routines/appointments/reminders.sql, shared/appointments/reminders.py,
functions/send-reminders), sent by the outbox worker (functions/send-tickets) by email through
the Resend stand-in and by SMS through the Twilio stand-in, both via the providers' real SDKs.

Appointments are arranged as superuser in an org whose staff member works round the clock on a
15-minute grid with no cancellation cut-off, so a manager can cancel and reschedule any of them
through the real RPCs. Starts come from an iterator so no two appointments collide; the outbox
is drained before each test that counts sends.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
import uuid

from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from shared.platform.db import Caller
from tests.conftest import override_env
from tests.support import factories
from tests.support.http import anon_headers, service_headers
from tests.support.pg import ArrangingDb

MINUTES = 30


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


def clinic(db, organization: dict, timezone: str) -> dict:
    db.sql("update public.organizations set timezone = %s where id = %s", (timezone, organization["id"]))
    db.sql("insert into public.appointment_settings (org_id, slot_interval_minutes, min_notice_minutes,"
           " max_days_ahead, cancellation_cutoff_hours) values (%s, 15, 0, 60, 0)", (organization["id"],))
    service = db.value("insert into public.services (org_id, name, duration_minutes, price_minor)"
                       " values (%s, 'Oven clean', %s, 6500) returning id", (organization["id"], MINUTES))
    staff = db.value("insert into public.staff (org_id, display_name) values (%s, 'Val') returning id",
                     (organization["id"],))
    db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
           (staff, service, organization["id"]))
    for weekday in range(7):
        db.sql("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
               " values (%s, %s, %s, '00:00', '24:00')", (organization["id"], staff, weekday))
    return {"org_id": organization["id"], "service_id": service, "staff_id": staff}


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    london = clinic(db, team["org"], "Europe/London")
    new_york = clinic(db, factories.org(db, name="Big Apple Cleaners"), "America/New_York")
    base = db.value("select date_trunc('hour', now())")
    return {"manager": team["people"]["manager"], "london": london, "new_york": new_york,
            # 30-minute slots 2-20 hours ahead (inside the reminder window), and targets for moves
            "soon": (base + dt.timedelta(hours=2, minutes=30 * k) for k in itertools.count()),
            "later": (base + dt.timedelta(hours=30, minutes=30 * k) for k in itertools.count())}


def book(db, where: dict, start: dt.datetime, *, status: str = "booked", email: str | None = None,
         phone: str | None = None, postcode: str | None = "SW1A 1AA", address: str | None = "1 Test Street") -> dict:
    email = email if email is not None else f"c-{uuid.uuid4().hex[:8]}@example.com"
    return db.one(
        "insert into public.appointments (org_id, service_id, staff_id, customer_name, customer_email,"
        " customer_phone, postcode, address, status, period, hold_expires_at)"
        " values (%s, %s, %s, 'Casey Customer', %s, %s, %s, %s, %s, tstzrange(%s, %s, '[)'),"
        "         case when %s = 'held' then now() + interval '10 minutes' end) returning *",
        (where["org_id"], where["service_id"], where["staff_id"], email or None, phone, postcode, address,
         status, start, start + dt.timedelta(minutes=MINUTES), status))


def queue(db, now: dt.datetime | None = None) -> int:
    return db.value("select private.queue_appointment_reminders(coalesce(%s, now()))", (now,))


def reminders(db, appointment_id) -> list[dict]:
    return db.sql("select id, channel::text as channel, recipient, status::text as status, attempts, last_error,"
                  " payload, dedupe_key from public.notification_outbox"
                  " where template = 'appointment_reminder' and payload ->> 'appointment_id' = %s"
                  " order by created_at, channel", (str(appointment_id),))


def send(stack) -> dict:
    r = httpx.post(f"{stack.functions_url}/send-tickets", json={"limit": 500}, headers=service_headers(), timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def drain(stack) -> None:
    while send(stack)["claimed"]:
        pass


def manager_call(db, world, statement: str, *params):
    result = db.attempt(world["manager"].caller, statement, params)
    assert not isinstance(result, psycopg.Error), result
    return result


# ---------------------------------------------------------------------------
# Queueing: one per channel, appointment and start time
# ---------------------------------------------------------------------------
def test_queueing_twice_queues_one_reminder_per_channel(db, world):
    appt = book(db, world["london"], next(world["soon"]), phone="07700 900100")
    queue(db)
    assert queue(db) == 0
    rows = reminders(db, appt["id"])
    assert [(r["channel"], r["recipient"], r["status"]) for r in rows] == [
        ("email", appt["customer_email"], "pending"), ("sms", "07700 900100", "pending")]
    assert rows[0]["payload"]["start"] == db.value(
        "select private.local_iso(%s, 'Europe/London')", (appt["period"].lower,))


def test_only_booked_appointments_starting_within_24_hours_get_reminders(db, world):
    start = next(world["soon"])
    wanted = book(db, world["london"], start)
    others = [book(db, world["london"], next(world["soon"]), status=status)
              for status in ("held", "cancelled", "no_show", "in_progress", "completed")]
    too_far = book(db, world["london"], start + dt.timedelta(hours=30))
    queue(db, now=start - dt.timedelta(hours=24))  # the boundary: exactly 24 h ahead is in
    assert [r["channel"] for r in reminders(db, wanted["id"])] == ["email"]  # no phone, no SMS
    assert all(reminders(db, a["id"]) == [] for a in others + [too_far])
    # Started (at now, or before): no reminder any more.
    started = book(db, world["london"], next(world["soon"]))
    queue(db, now=started["period"].lower)
    queue(db, now=started["period"].lower + dt.timedelta(minutes=10))
    assert reminders(db, started["id"]) == []


def test_a_window_outside_0_to_7_days_is_refused(db):
    for window in ("0 hours", "-1 hour", "8 days"):
        with pytest.raises(psycopg.Error) as refused:
            db.value("select private.queue_appointment_reminders(now(), %s::interval)", (window,))
        assert (refused.value.sqlstate, refused.value.diag.message_detail) == ("PT422", "invalid_window")


def test_only_the_service_role_may_queue_reminders(db):
    for caller in (Caller.anon(), db.user().caller):
        result = db.attempt(caller, "select private.queue_appointment_reminders()")
        assert isinstance(result, psycopg.Error) and result.sqlstate in ("42501", "3F000"), result
    assert not isinstance(db.attempt(Caller.service(), "select private.queue_appointment_reminders()"),
                          psycopg.Error)


def _queue_in(conn: psycopg.Connection, results: list, index: int) -> None:
    results[index] = conn.execute("select private.queue_appointment_reminders()").fetchone()[0]


def test_concurrent_runs_queue_one_reminder_per_channel(db, world, database_url):
    appt = book(db, world["london"], next(world["soon"]), phone="+447700900555")
    first = psycopg.connect(database_url)
    second = psycopg.connect(database_url)
    try:
        results = [None, None]
        _queue_in(first, results, 0)  # first run inserted, not yet committed
        assert results[0] >= 2
        racer = threading.Thread(target=_queue_in, args=(second, results, 1))
        racer.start()
        # The second run is blocked on the first one's uncommitted keys, not past them.
        deadline = time.monotonic() + 10
        pid = second.info.backend_pid
        while time.monotonic() < deadline and not db.value(
                "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s", (pid,)):
            time.sleep(0.02)
        assert db.value("select wait_event_type from pg_stat_activity where pid = %s", (pid,)) == "Lock"
        first.commit()
        racer.join(timeout=10)
        second.commit()
        assert results[1] == 0
    finally:
        first.close()
        second.close()
    assert [r["channel"] for r in reminders(db, appt["id"])] == ["email", "sms"]


def test_canary_without_the_unique_key_concurrent_runs_would_queue_twice(db, world, database_url):
    """The same two overlapping transactions, with the reminder query written as check-then-insert
    into a table without the unique key: both insert. The harness can see the race; the real
    function is safe because of the outbox's unique dedupe_key, not because of the timing."""
    appt = book(db, world["london"], next(world["soon"]))
    db.sql("create table if not exists public.canary_outbox (dedupe_key text, appointment_id uuid)")
    db.sql("alter table public.canary_outbox enable row level security")
    naive = ("insert into public.canary_outbox select private.appointment_reminder_key('email', a.id, lower(a.period)),"
             " a.id from public.appointments a where a.id = %s and not exists (select 1 from public.canary_outbox c"
             " where c.dedupe_key = private.appointment_reminder_key('email', a.id, lower(a.period)))")
    try:
        with psycopg.connect(database_url) as first, psycopg.connect(database_url) as second:
            assert first.execute(naive, (appt["id"],)).rowcount == 1
            assert second.execute(naive, (appt["id"],)).rowcount == 1  # nothing to wait for: no key
            first.commit()
            second.commit()
        assert db.value("select count(*) from public.canary_outbox where appointment_id = %s", (appt["id"],)) == 2
    finally:
        db.sql("drop table public.canary_outbox")


# ---------------------------------------------------------------------------
# Sending: email and SMS through the stand-ins, re-checked at send time
# ---------------------------------------------------------------------------
def test_reminders_are_sent_by_email_and_sms_through_the_providers_sdks(db, world, stack):
    drain(stack)
    appt = book(db, world["london"], next(world["soon"]), phone="07700 900123", postcode="SW1A 1AA",
                address="10 Downing Street")
    queue(db)
    counts = send(stack)
    assert counts["sent"] >= 2 and counts["failed"] == 0, counts
    assert {r["status"] for r in reminders(db, appt["id"])} == {"sent"}

    [email] = stack.resend.emails_to(appt["customer_email"])
    assert email["subject"].startswith("Reminder: Oven clean on ")
    assert "10 Downing Street, SW1A 1AA" in email["text"] and "Val" in email["text"]
    [text] = stack.twilio.messages_to("+447700900123")  # typed "07700 900123", sent in E.164
    assert text["from"] == "+447700900000"
    assert text["body"].startswith(f"{db.value('select name from public.organizations where id = %s', (world['london']['org_id'],))}: reminder, Oven clean on ")
    assert "10 Downing Street, SW1A 1AA" in text["body"] and len(text["body"]) <= 160
    # Sent once: a second worker run finds nothing of it.
    send(stack)
    assert len(stack.twilio.messages_to("+447700900123")) == 1 and len(stack.resend.emails_to(appt["customer_email"])) == 1


def test_the_time_is_written_in_the_orgs_timezone(db, world, stack):
    drain(stack)
    # 15:00 UTC on a winter day is 10:00 in New York (EST) and 15:00 in London (GMT).
    start = dt.datetime(2031, 1, 15, 15, 0, tzinfo=dt.timezone.utc)
    ny = book(db, world["new_york"], start, phone="+1 415 555 2671")
    ldn = book(db, world["london"], start, phone="07700 900777")
    queue(db, now=start - dt.timedelta(hours=12))
    with override_env(SMS_ALLOWED_COUNTRIES="GB,US"):  # a business texting both countries
        send(stack)
    [ny_email] = stack.resend.emails_to(ny["customer_email"])
    [ny_text] = stack.twilio.messages_to("+14155552671")
    for text in (ny_email["subject"], ny_email["text"], ny_text["body"]):
        assert "Wednesday 15 January 2031 at 10:00 EST" in text, text
    assert "until 10:30" in ny_email["text"] and "15:00" not in ny_email["text"]
    [ldn_text] = stack.twilio.messages_to("+447700900777")
    assert "Wednesday 15 January 2031 at 15:00 GMT" in ldn_text["body"]
    # Summer time: 15:00 UTC in July is 16:00 BST in London.
    summer = dt.datetime(2031, 7, 16, 15, 0, tzinfo=dt.timezone.utc)
    bst = book(db, world["london"], summer)
    queue(db, now=summer - dt.timedelta(hours=1))
    send(stack)
    [bst_email] = stack.resend.emails_to(bst["customer_email"])
    assert "Wednesday 16 July 2031 at 16:00 BST" in bst_email["subject"]


def test_a_reminder_for_an_appointment_cancelled_after_queueing_is_not_sent(db, world, stack):
    drain(stack)
    appt = book(db, world["london"], next(world["soon"]), phone="07700 900321")
    queue(db)
    manager_call(db, world, "select public.cancel_appointment(%s, 'Van broke down')", appt["id"])
    send(stack)
    rows = reminders(db, appt["id"])
    assert [(r["status"], r["last_error"]) for r in rows] == [("skipped", "appointment_changed")] * 2
    [text] = stack.twilio.messages_to("+447700900321")  # the cancellation, not the reminder
    assert text["body"].startswith("Cancelled: Oven clean on ") and text["body"].endswith(" Reason: Van broke down")
    assert [e["subject"] for e in stack.resend.emails_to(appt["customer_email"])] == ["Cancelled: Oven clean"]
    queue(db)
    assert reminders(db, appt["id"]) == rows  # cancelled: never queued again


def test_a_rescheduled_appointment_gets_a_fresh_reminder_and_the_old_one_is_not_sent(db, world, stack):
    drain(stack)
    old_start, new_start = next(world["soon"]), next(world["soon"])
    appt = book(db, world["london"], old_start, phone="07700 900444")
    queue(db)
    manager_call(db, world, "select public.reschedule_appointment(%s, %s)", appt["id"], new_start)
    queue(db)
    rows = reminders(db, appt["id"])
    assert len(rows) == 4 and len({r["dedupe_key"] for r in rows}) == 4
    send(stack)
    rows = reminders(db, appt["id"])
    by_start = {(r["channel"], dt.datetime.fromisoformat(r["payload"]["starts_at"])): r["status"] for r in rows}
    assert by_start == {("email", old_start): "skipped", ("sms", old_start): "skipped",
                        ("email", new_start): "sent", ("sms", new_start): "sent"}
    london = ZoneInfo("Europe/London")
    old_time, new_time = (f"{s.astimezone(london):%H:%M}" for s in (old_start, new_start))
    moved, text = sorted(stack.twilio.messages_to("+447700900444"), key=lambda t: "reminder" in t["body"])
    assert moved["body"].startswith("New time: Oven clean is now ") and new_time in moved["body"], moved["body"]
    assert f"at {new_time} " in text["body"] and f"at {old_time} " not in text["body"], text["body"]
    subjects = [e["subject"] for e in stack.resend.emails_to(appt["customer_email"])]
    assert sorted(s.split(" on ")[0] for s in subjects) == ["New time: Oven clean", "Reminder: Oven clean"]
    assert any(s.startswith("Reminder:") and f"at {new_time} " in s for s in subjects), subjects


def test_moving_out_of_the_window_and_back_revives_the_skipped_reminder(db, world, stack):
    drain(stack)
    start = next(world["soon"])
    appt = book(db, world["london"], start)
    queue(db)
    manager_call(db, world, "select public.reschedule_appointment(%s, %s)", appt["id"], next(world["later"]))
    send(stack)  # the queued reminder is for a time the appointment no longer has
    assert [r["status"] for r in reminders(db, appt["id"])] == ["skipped"]
    manager_call(db, world, "select public.reschedule_appointment(%s, %s)", appt["id"], start)
    assert queue(db) >= 1
    send(stack)
    assert [r["status"] for r in reminders(db, appt["id"])] == ["sent"]
    assert sum(e["subject"].startswith("Reminder:") for e in stack.resend.emails_to(appt["customer_email"])) == 1


def test_when_twilio_fails_the_sms_is_retried_later_and_then_delivered_once(db, world, stack):
    drain(stack)
    appt = book(db, world["london"], next(world["soon"]), phone="07700 900888")
    queue(db)
    stack.twilio.fail_next(1, status=500)
    send(stack)
    email, text = reminders(db, appt["id"])
    assert (email["status"], text["status"], text["attempts"]) == ("sent", "pending", 1)
    assert "TwilioRestException" in text["last_error"] and "500" in text["last_error"]
    assert db.value("select next_attempt_at > now() from public.notification_outbox where id = %s", (text["id"],))
    assert stack.twilio.messages_to("+447700900888") == []
    send(stack)  # not due yet: backoff
    assert stack.twilio.messages_to("+447700900888") == []
    db.sql("update public.notification_outbox set next_attempt_at = now() where id = %s", (text["id"],))
    send(stack)
    [_, text] = reminders(db, appt["id"])
    assert (text["status"], text["attempts"]) == ("sent", 2)
    assert len(stack.twilio.messages_to("+447700900888")) == 1


@pytest.mark.parametrize("phone", ["not a phone", "123", "0770"])
def test_an_unparseable_phone_costs_the_sms_but_not_the_email(db, world, stack, phone):
    drain(stack)
    before = len(stack.twilio.messages)
    appt = book(db, world["london"], next(world["soon"]), phone=phone)
    queue(db)
    counts = send(stack)
    assert counts["failed"] == 0, counts
    rows = reminders(db, appt["id"])
    assert [(r["channel"], r["status"]) for r in rows] == [("email", "sent"), ("sms", "skipped")]
    assert rows[1]["last_error"] == "invalid_phone_number"
    assert len(stack.twilio.messages) == before
    assert len(stack.resend.emails_to(appt["customer_email"])) == 1


def test_a_phone_only_appointment_gets_only_the_sms(db, world, stack):
    drain(stack)
    appt = book(db, world["london"], next(world["soon"]), email="", phone="07700 900999")
    queue(db)
    send(stack)
    assert [(r["channel"], r["status"]) for r in reminders(db, appt["id"])] == [("sms", "sent")]
    assert len(stack.twilio.messages_to("+447700900999")) == 1


# ---------------------------------------------------------------------------
# The send-reminders function over real HTTP
# ---------------------------------------------------------------------------
def test_send_reminders_queues_over_http_for_the_service_role_only(db, world, stack):
    appt = book(db, world["london"], next(world["soon"]), phone="07700 900246")
    url = f"{stack.functions_url}/send-reminders"
    r = httpx.post(url, json={}, headers=service_headers(), timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["queued"] >= 2
    assert [x["channel"] for x in reminders(db, appt["id"])] == ["email", "sms"]
    r = httpx.post(url, json={}, headers=service_headers(), timeout=30)
    assert (r.status_code, r.json()) == (200, {"queued": 0})

    for headers in (anon_headers(), db.user().headers):
        r = httpx.post(url, json={}, headers=headers, timeout=30)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "service_role_only"), r.text
    assert httpx.post(url, json={}, timeout=30).status_code == 401
    assert len(reminders(db, appt["id"])) == 2


def test_the_cron_job_runs_send_reminders_every_five_minutes():
    from shared.platform import config

    job = config.project().cron["send-reminders"]
    assert (job.function, job.schedule) == ("send-reminders", "*/5 * * * *")
    assert config.project().function("send-reminders").verify_jwt


def test_a_number_outside_the_allowed_countries_is_not_texted_but_still_emailed(db, world, stack):
    """Customers type any number into a booking form: texting premium or foreign ranges would be SMS pumping."""
    drain(stack)
    start = dt.datetime(2031, 2, 12, 15, 0, tzinfo=dt.timezone.utc)
    appt = book(db, world["london"], start, phone="+234 803 123 4567")
    queue(db, now=start - dt.timedelta(hours=12))
    send(stack)
    rows = {r["channel"]: r for r in reminders(db, appt["id"])}
    assert rows["sms"]["status"] == "skipped" and "country_not_allowed" in (rows["sms"]["last_error"] or ""), rows
    assert rows["email"]["status"] == "sent"
    assert stack.twilio.messages_to("+2348031234567") == []
