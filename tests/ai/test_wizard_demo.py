"""The offline wizard (shared/devstack/wizard_demo.py): with no language model, the local stand-in still drafts an
event from what the organiser types, through the wizard's real tools, acting as the organiser under RLS.

Issue 10: "Chat with the AI wizard offline" always answered the same canned line.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import httpx
import pytest

from shared.devstack import wizard_demo
from tests.support.wizard import ai, chat, team  # noqa: F401  (ai, team: fixtures)
from tests.support import factories


def brief_for(day: dt.date) -> str:
    return (f"A jazz night in London on {day.day} {day:%B %Y} at 7pm for 120 people, "
            "tickets £15 and VIP £40")


def test_a_brief_in_plain_words_becomes_a_draft_with_a_venue_tiers_and_a_budget(ai, db, team):  # noqa: F811
    day = dt.date.today() + dt.timedelta(days=60)
    r = chat(ai, team["manager"], brief_for(day))  # no org_id: the manager manages events in one org only
    assert r.status_code == 200, r.text
    answer = r.json()
    assert [c["name"] for c in answer["tool_calls"]] == ["suggest_venues", "save_event_draft", "calculate_budget"]
    assert all(c["ok"] for c in answer["tool_calls"]), answer["tool_calls"]
    assert answer["reply"].startswith('Drafted "A jazz night"') and "Riverside Hall" in answer["reply"]

    event = db.one("select e.*, o.timezone from public.events e join public.organizations o on o.id = e.org_id"
                   " where e.id = %s", (answer["event_id"],))
    assert (event["org_id"], event["status"], event["title"]) == (team["org"]["id"], "draft", "A jazz night")
    assert event["venue_id"] == team["hall"]["id"]  # London, holds 150 >= 120; the back room holds 40
    local = event["starts_at"].astimezone(ZoneInfo(event["timezone"]))
    assert (local.date(), local.hour, local.minute) == (day, 19, 0)
    tiers = db.sql("select name, price_minor, capacity, currency from public.ticket_tiers where event_id = %s"
                   " order by price_minor", (event["id"],))
    assert tiers == [{"name": "General admission", "price_minor": 1500, "capacity": 108, "currency": "GBP"},
                     {"name": "VIP", "price_minor": 4000, "capacity": 12, "currency": "GBP"}]
    assert answer["draft"]["budget"]["gross_revenue_minor"] == 1500 * 86 + 4000 * 9  # 80% of each tier, rounded down

    # A follow-up changes what it says and keeps the rest: the same draft, updated.
    again = chat(ai, team["manager"], "make it 200 people", session_id=answer["session_id"])
    assert again.status_code == 200, again.text
    assert again.json()["event_id"] == answer["event_id"]
    assert db.sql("select capacity from public.ticket_tiers where event_id = %s order by price_minor",
                  (event["id"],)) == [{"capacity": 180}, {"capacity": 20}]


def test_without_an_org_id_a_manager_of_several_orgs_is_asked_which_and_others_are_refused(ai, db, team):  # noqa: F811
    second = factories.org(db)
    factories.member(db, second, team["manager"], "admin")
    r = chat(ai, team["manager"], "A quiz night")
    assert r.status_code == 422, r.text
    choices = r.json()["error"]["details"][0]["choices"]
    assert {c["org_id"] for c in choices} == {str(team["org"]["id"]), str(second["id"])}
    staff = factories.member(db, team["org"], role="staff")
    refused = chat(ai, staff, "A quiz night")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_an_event_manager"
    outsider = db.user()
    assert chat(ai, outsider, "A quiz night").status_code == 403


@pytest.mark.parametrize(("text", "expected"), [
    ("Jazz in Leeds on 14 March 2027, 7pm, 120 people, £15 or VIP £40",
     {"day": dt.date(2027, 3, 14), "time": dt.time(19), "city": "Leeds", "people": 120,
      "tiers": [("General admission", 1500, 108), ("VIP", 4000, 12)]}),
    ('"Winter Market" on Saturday in Bristol, free entry',
     {"day": dt.date(2026, 12, 12), "city": "Bristol", "people": 100, "tiers": [("Free entry", 0, 100)]}),
    ("Book club tomorrow 18:30 for 20 people, £5",
     {"title": "Book club", "day": dt.date(2026, 12, 8), "time": dt.time(18, 30), "people": 20,
      "tiers": [("General admission", 500, 20)]}),
    ("A talk on 31 February", {"day": dt.date(2027, 1, 4)}),  # no such day: four weeks from today, said so
])
def test_the_brief_is_read_relative_to_the_wizards_clock(text, expected):
    messages = [{"role": "system", "content": "Today is 2026-12-07 (Europe/London)"},
                {"role": "user", "content": text}]
    brief = wizard_demo.read_brief(messages)
    for key, value in expected.items():
        got = [(t["name"], t["price_minor"], t["capacity"]) for t in brief.tiers] if key == "tiers" \
            else getattr(brief, key)
        assert got == value, (key, brief)
