"""Message analytics (public.message_analytics, functions/message-analytics): counts per local day,
template and channel, from arranged messages and provider events at explicit instants."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, timezone

import httpx
import pytest

from shared.platform.db import Caller
from tests.support import factories
from tests.support.pg import call, refused

TZ = "America/New_York"
# 03:30 UTC on 10 March is still 9 March in New York; 15:00 UTC is 10 March there.
LATE_EVENING = datetime(2026, 3, 10, 3, 30, tzinfo=timezone.utc)
AFTERNOON = datetime(2026, 3, 10, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    org, rival = team["org"], team["rival"]
    db.sql("update public.organizations set timezone = %s where id = %s", (TZ, org["id"]))

    def message(org_id, at, *, template="tickets", channel="email", status="sent", reported=(), last_error=None):
        outbox_id = db.value(
            "insert into public.notification_outbox (org_id, channel, template, recipient, status, last_error,"
            " created_at) values (%s, %s, %s, 'someone@example.com', %s, %s, %s) returning id",
            (org_id, channel, template, status, last_error, at))
        with db.acting(Caller.service()) as cur:
            for kind in reported:
                cur.execute("select private.record_message_event(%s, %s, null, %s, %s, %s, '{}')",
                            ("resend" if channel == "email" else "twilio", f"evt_{uuid.uuid4().hex}", outbox_id,
                             kind, at))
        return outbox_id

    # 9 March (New York): three ticket emails.
    message(org["id"], LATE_EVENING, reported=("sent", "delivered", "opened", "opened", "clicked"))
    message(org["id"], LATE_EVENING, reported=("sent", "bounced"))
    message(org["id"], LATE_EVENING, status="skipped", last_error="suppressed")
    # 10 March: two ticket emails, one reminder SMS, one dead email.
    message(org["id"], AFTERNOON, reported=("delivered", "sent", "complained"))
    message(org["id"], AFTERNOON, status="pending")
    message(org["id"], AFTERNOON, template="appointment_reminder", channel="sms", reported=("sent", "failed"))
    message(org["id"], AFTERNOON, template="appointment_reminder", status="dead")
    # Outside the range, and another org's.
    message(org["id"], datetime(2026, 3, 12, 12, tzinfo=timezone.utc))
    message(rival["id"], AFTERNOON, reported=("delivered",))
    return team


def analytics(db, caller, org_id, date_from=date(2026, 3, 9), date_to=date(2026, 3, 10)):
    return call(db, caller, "select coalesce(jsonb_agg(a), '[]') from public.message_analytics(%s, %s, %s) a",
                org_id, date_from, date_to)


def test_counts_messages_per_local_day_template_and_channel(db, world):
    rows = analytics(db, world["people"]["owner"].caller, world["org"]["id"])
    counts = {(r["day"], r["template"], r["channel"]): {k: v for k, v in r.items()
                                                        if k not in ("day", "template", "channel")} for r in rows}
    zero = dict.fromkeys(("queued", "sent", "delivered", "opened", "clicked", "bounced", "complained", "failed",
                          "suppressed", "opted_out"), 0)
    assert counts == {
        ("2026-03-09", "tickets", "email"): {**zero, "queued": 3, "sent": 2, "delivered": 1, "opened": 1,
                                             "clicked": 1, "bounced": 1, "suppressed": 1},
        ("2026-03-10", "tickets", "email"): {**zero, "queued": 2, "sent": 1, "delivered": 1, "complained": 1,
                                             "opted_out": 1},
        ("2026-03-10", "appointment_reminder", "sms"): {**zero, "queued": 1, "sent": 1, "failed": 1},
        ("2026-03-10", "appointment_reminder", "email"): {**zero, "queued": 1, "failed": 1},
    }


def test_admins_see_the_same_and_nobody_else_sees_anything(db, world):
    people, org_id = world["people"], world["org"]["id"]
    assert analytics(db, people["admin"].caller, org_id) == analytics(db, people["owner"].caller, org_id)
    for role in ("manager", "staff", "dispatcher", "outsider", "rival_owner"):
        refused(analytics(db, people[role].caller, org_id), "PT403", "not_an_admin")
    assert analytics(db, Caller.anon(), org_id).sqlstate == "42501"
    rival = analytics(db, people["rival_owner"].caller, world["rival"]["id"])
    assert [(r["day"], r["delivered"]) for r in rival] == [("2026-03-10", 1)], "its own, counted in UTC"


def test_bad_ranges_are_refused(db, world):
    owner, org_id = world["people"]["owner"].caller, world["org"]["id"]
    refused(analytics(db, owner, org_id, date(2026, 3, 10), date(2026, 3, 9)), "PT422", "invalid_date_range")
    refused(analytics(db, owner, org_id, date(2025, 1, 1), date(2026, 1, 2)), "PT422", "date_range_too_long")
    assert analytics(db, owner, org_id, date(2025, 1, 1), date(2026, 1, 1)) == []


def test_over_http_as_json_and_as_csv(functions_url, world):
    owner, org_id = world["people"]["owner"], world["org"]["id"]
    url = f"{functions_url}/message-analytics"
    params = {"org_id": org_id, "from": "2026-03-09", "to": "2026-03-10"}
    as_json = httpx.get(url, params=params, headers=owner.headers)
    assert as_json.status_code == 200 and len(as_json.json()["rows"]) == 4
    as_csv = httpx.get(url, params=params, headers={**owner.headers, "accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert 'filename="messages-2026-03-09-2026-03-10.csv"' in as_csv.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(as_csv.text)))
    assert table[0] == ["day", "template", "channel", "queued", "sent", "delivered", "opened", "clicked", "bounced",
                        "complained", "failed", "suppressed", "opted_out"]
    assert ["2026-03-09", "tickets", "email", "3", "2", "1", "1", "1", "1", "0", "0", "1", "0"] in table
    staff = httpx.get(url, params=params, headers=world["people"]["staff"].headers)
    assert staff.status_code == 403 and staff.json()["error"]["code"] == "not_an_admin"
    assert httpx.get(url, params=params).status_code == 401
    bad = httpx.get(url, params={**params, "from": "March"}, headers=owner.headers)
    assert bad.status_code == 422
