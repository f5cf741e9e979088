"""The AI event wizard's three tools (shared/ticketing/wizard.py), called as the agent runtime
calls them: with a transaction acting as a real user, on real Postgres, so RLS decides.

Every test arranges its own organization (factories), so tests do not see each
other's events and venues. Effects are checked as superuser afterwards (`db.sql`),
refusals by the DomainError and by what the database holds. Budget figures are
worked out by hand in the comments and appear in the assertions as literals.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest
from pydantic import BaseModel, ValidationError

from shared.platform import db as shared_db, errors
from shared.platform.errors import DomainError
from shared.ticketing.wizard import (
    TOOLS, CalculateBudgetArgs, SaveEventDraftArgs, SuggestVenuesArgs, WizardContext, calculate_budget,
    run_tool, save_event_draft, slugify, suggest_venues,
)
from tests.support import factories, ticketing as tk

NOW = datetime.now(timezone.utc).replace(microsecond=0)
NEXT_SUMMER = NOW.year + 1  # a July that is surely ahead of NOW, with British Summer Time in force


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def context(org: dict, event_id=None, now: datetime = NOW) -> WizardContext:
    return WizardContext(org_id=str(org["id"]), session_id=str(uuid.uuid4()),
                         event_id=str(event_id) if event_id else None, now=now)


def draft(**changes) -> SaveEventDraftArgs:
    starts = NOW + timedelta(days=30)
    fields = {
        "title": "Summer Gala",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=3)).isoformat(),
        "tiers": [{"name": "General", "price_minor": 2500, "capacity": 100}],
    }
    fields.update(changes)
    return SaveEventDraftArgs.model_validate(fields)


def events_of(db, org: dict) -> list[dict]:
    return db.sql("select * from public.events where org_id = %s order by created_at", (org["id"],))


def tiers_of(db, event_id) -> list[dict]:
    return db.sql("select * from public.ticket_tiers where event_id = %s order by sort_order", (event_id,))


def venue(db, org: dict, name: str, city: str | None = "London", capacity: int | None = 200,
          address: str | None = None) -> dict:
    return db.one("insert into public.venues (org_id, name, city, capacity, address) values (%s, %s, %s, %s, %s)"
                  " returning *", (org["id"], name, city, capacity, address))


def event_at(db, org: dict, venue_row: dict, starts: datetime, ends: datetime | None, status: str = "draft") -> dict:
    row = db.one("insert into public.events (org_id, venue_id, title, slug, starts_at, ends_at)"
                 " values (%s, %s, 'Other event', %s, %s, %s) returning *",
                 (org["id"], venue_row["id"], f"other-{uuid.uuid4().hex[:8]}", starts, ends))
    if status != "draft":
        db.sql("update public.events set status = 'published' where id = %s", (row["id"],))
        if status != "published":
            db.sql("update public.events set status = %s where id = %s", (status, row["id"]))
    return row


def save_as(db, user, ctx: WizardContext, args: SaveEventDraftArgs) -> dict:
    with db.as_user(user) as cur:
        return save_event_draft(cur, ctx, args)


def refusal(db, user, ctx: WizardContext, args: SaveEventDraftArgs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        save_as(db, user, ctx, args)
    return caught.value


def venue_names(result: dict) -> list[str]:
    return [v["name"] for v in result["venues"]]


# ---------------------------------------------------------------------------
# save_event_draft: the happy paths
# ---------------------------------------------------------------------------
def test_an_owner_saves_a_new_draft_with_tiers_in_the_org_currency(db):
    org = factories.org(db, currency="EUR")
    hall = venue(db, org, "Main Hall")
    args = draft(title="Summer Gala: Jazz & Wine!", venue_id=str(hall["id"]),
                 tiers=[{"name": "General", "price_minor": 2500, "capacity": 100},
                        {"name": "VIP", "price_minor": 7500, "capacity": 20, "max_per_order": 4}])

    saved = save_as(db, org["owner"], context(org), args)

    [event] = events_of(db, org)
    assert saved["event_id"] == str(event["id"])
    assert saved["created"] is True
    assert saved["status"] == "draft" and event["status"] == "draft"
    assert saved["title"] == event["title"] == "Summer Gala: Jazz & Wine!"
    assert saved["venue_id"] == str(hall["id"]) == str(event["venue_id"])
    assert datetime.fromisoformat(saved["starts_at"]) == event["starts_at"] == args.starts_at
    assert re.fullmatch(r"summer-gala-jazz-wine-[0-9a-f]{8}", event["slug"]), event["slug"]
    rows = tiers_of(db, event["id"])
    assert [(t["name"], t["price_minor"], t["currency"], t["capacity"], t["max_per_order"]) for t in rows] == [
        ("General", 2500, "EUR", 100, 10), ("VIP", 7500, "EUR", 20, 4)]
    assert saved["tiers"] == [
        {"id": str(t["id"]), "name": t["name"], "price_minor": t["price_minor"], "currency": "EUR",
         "capacity": t["capacity"]} for t in rows]
    # Capacity became seats, as for any tier.
    assert [tk.seats_taken(db, t["id"]) for t in rows] == [0, 0]
    assert db.value("select count(*) from private.ticket_seats where tier_id = %s", (rows[1]["id"],)) == 20


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_admins_and_managers_may_save_drafts_too(db, role):
    org = factories.org(db)
    user = factories.member(db, org, role=role)
    saved = save_as(db, user, context(org), draft())
    assert [str(e["id"]) for e in events_of(db, org)] == [saved["event_id"]]


def test_saving_again_updates_the_session_draft_and_replaces_its_tiers(db):
    org = factories.org(db)
    first = save_as(db, org["owner"], context(org), draft(tiers=[
        {"name": "General", "price_minor": 2500, "capacity": 100},
        {"name": "VIP", "price_minor": 7500, "capacity": 20}]))
    general_id = first["tiers"][0]["id"]
    old_slug = events_of(db, org)[0]["slug"]

    second = save_as(db, org["owner"], context(org, event_id=first["event_id"]), draft(
        title="Autumn Gala", description="Now in autumn",
        tiers=[{"name": "Student", "price_minor": 1000, "capacity": 30, "currency": "gbp"},
               {"name": "General", "price_minor": 3000, "capacity": 80}]))

    [event] = events_of(db, org)
    assert second["event_id"] == first["event_id"] == str(event["id"])
    assert second["created"] is False
    assert (event["title"], event["description"]) == ("Autumn Gala", "Now in autumn")
    assert event["slug"] != old_slug and event["slug"].startswith("autumn-gala-")
    rows = tiers_of(db, event["id"])
    assert [(t["name"], t["price_minor"], t["capacity"], t["sort_order"]) for t in rows] == [
        ("Student", 1000, 30, 0), ("General", 3000, 80, 1)]
    # General kept its id (and shrank to 80 seats); VIP is gone.
    assert str(rows[1]["id"]) == general_id
    assert db.value("select count(*) from private.ticket_seats where tier_id = %s", (general_id,)) == 80
    assert [t["name"] for t in second["tiers"]] == ["Student", "General"]

    # The same title again keeps the slug, and args.event_id works without the session's.
    third = save_as(db, org["owner"], context(org), draft(event_id=first["event_id"], title="Autumn Gala"))
    assert third["event_id"] == first["event_id"]
    assert events_of(db, org)[0]["slug"] == event["slug"]


def test_times_without_an_offset_are_wall_clock_times_in_the_org_timezone(db):
    org = factories.org(db, timezone="Europe/London")
    saved = save_as(db, org["owner"], context(org), draft(
        starts_at=f"{NEXT_SUMMER}-07-01T19:00:00", ends_at=f"{NEXT_SUMMER}-07-01T23:00:00",
        tiers=[{"name": "General", "price_minor": 0, "capacity": 50,
                "sale_ends_at": f"{NEXT_SUMMER}-07-01T18:00:00"}]))
    event = events_of(db, org)[0]
    # 19:00 in London in July is 18:00 UTC (BST = UTC+1).
    assert event["starts_at"] == datetime(NEXT_SUMMER, 7, 1, 18, 0, tzinfo=timezone.utc)
    assert event["ends_at"] == datetime(NEXT_SUMMER, 7, 1, 22, 0, tzinfo=timezone.utc)
    assert tiers_of(db, event["id"])[0]["sale_ends_at"] == datetime(NEXT_SUMMER, 7, 1, 17, 0, tzinfo=timezone.utc)
    assert datetime.fromisoformat(saved["starts_at"]) == event["starts_at"]


def test_slugs_are_lower_case_words_with_a_random_suffix():
    assert re.fullmatch(r"cafe-creme-night-[0-9a-f]{8}", slugify("  Café Crème -- Night!! "))
    assert re.fullmatch(r"event-[0-9a-f]{8}", slugify("🎉🎉"))
    assert slugify("Same") != slugify("Same")
    long = slugify("x" * 200)
    assert len(long) <= 100 and re.fullmatch(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$", long)


# ---------------------------------------------------------------------------
# save_event_draft: refusals
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["staff", "dispatcher", "driver", "affiliate"])
def test_members_who_do_not_manage_events_cannot_create_drafts(db, role):
    org = factories.org(db)
    user = factories.member(db, org, role=role)
    error = refusal(db, user, context(org), draft())
    assert (error.status, error.code) == (403, "forbidden")
    # RLS refused it (the insert's with check), not Python.
    assert isinstance(error.__cause__, psycopg.errors.InsufficientPrivilege)
    assert "row-level security" in str(error.__cause__)
    # ...and the db layer's own mapping of that refusal is the same 403.
    assert errors.from_database(error.__cause__).status == 403
    assert events_of(db, org) == []


def test_the_db_layer_turns_the_rls_refusal_into_a_403(db):
    """As the runtime runs it: shared.platform.db.transaction(caller), the pool and all."""
    org = factories.org(db)
    staff = factories.member(db, org, role="staff")
    with pytest.raises(DomainError) as caught:
        with shared_db.transaction(staff.caller) as cur:
            save_event_draft(cur, context(org), draft())
    assert caught.value.status == 403
    assert caught.value.body()["error"]["code"] == "forbidden"
    assert events_of(db, org) == []

    # And the owner, through the same path, succeeds.
    with shared_db.transaction(org["owner"].caller) as cur:
        saved = save_event_draft(cur, context(org), draft())
    assert [str(e["id"]) for e in events_of(db, org)] == [saved["event_id"]]


def test_staff_cannot_edit_an_existing_draft(db):
    org = factories.org(db)
    staff = factories.member(db, org, role="staff")
    existing = tk.event(db, org, status="draft")
    tier = tk.tier(db, existing, name="General")
    error = refusal(db, staff, context(org, event_id=existing["id"]), draft(title="Hijacked"))
    assert (error.status, error.code) == (403, "forbidden")
    assert events_of(db, org)[0]["title"] == "Spring Gala"
    assert [t["id"] for t in tiers_of(db, existing["id"])] == [tier["id"]]


def test_writing_into_another_org_is_refused_by_rls_and_writes_nothing(db):
    team = factories.team(db)
    ours, rival = team["org"], team["rival"]
    before = db.value("select count(*) from public.events")

    error = refusal(db, ours["owner"], context(rival), draft())
    assert (error.status, error.code) == (403, "forbidden")
    # The refusal is the database's: the insert reached Postgres and RLS's with check stopped it.
    assert isinstance(error.__cause__, psycopg.errors.InsufficientPrivilege)
    assert "row-level security" in str(error.__cause__)
    assert events_of(db, rival) == []
    assert db.value("select count(*) from public.events") == before
    assert db.value("select count(*) from public.ticket_tiers where org_id = %s", (rival["id"],)) == 0


def test_another_orgs_draft_cannot_be_edited_through_the_session(db):
    team = factories.team(db)
    ours, rival = team["org"], team["rival"]
    theirs = tk.event(db, rival, status="draft")

    # The session claims the rival's org and draft: RLS hides the draft, nothing changes.
    error = refusal(db, ours["owner"], context(rival, event_id=theirs["id"]), draft(title="Hijacked"))
    assert (error.status, error.code) == (404, "event_not_found")
    # Our org with their draft's id: still not ours to edit.
    error = refusal(db, ours["owner"], context(ours), draft(event_id=str(theirs["id"]), title="Hijacked"))
    assert (error.status, error.code) == (404, "event_not_found")
    assert [e["title"] for e in events_of(db, rival)] == ["Spring Gala"]
    assert tiers_of(db, theirs["id"]) == []
    assert events_of(db, ours) == []


def test_a_published_event_is_not_a_draft_any_more(db):
    org = factories.org(db)
    published = tk.event(db, org, status="published")
    tier = tk.tier(db, published, name="General", price_minor=2500, capacity=100)
    error = refusal(db, org["owner"], context(org, event_id=published["id"]),
                    draft(title="Changed", tiers=[{"name": "General", "price_minor": 1, "capacity": 1}]))
    assert (error.status, error.code) == (409, "not_a_draft")
    assert error.details == {"status": "published"}
    row = events_of(db, org)[0]
    assert (row["title"], row["status"]) == ("Spring Gala", "published")
    assert [(t["price_minor"], t["capacity"]) for t in tiers_of(db, published["id"])] == [(2500, 100)]
    assert tiers_of(db, published["id"])[0]["id"] == tier["id"]


def test_a_venue_of_another_org_is_refused(db):
    team = factories.team(db)
    ours, rival = team["org"], team["rival"]
    their_hall = venue(db, rival, "Their Hall")
    for venue_id in (their_hall["id"], uuid.uuid4()):  # someone else's venue; no venue at all
        error = refusal(db, ours["owner"], context(ours), draft(venue_id=str(venue_id)))
        assert (error.status, error.code) == (422, "foreign_venue")
        assert "venue" in error.message and error.details == {"field": "venue_id"}
    assert events_of(db, ours) == []

    # Updating an existing draft onto their venue is refused the same way, and changes nothing.
    saved = save_as(db, ours["owner"], context(ours), draft())
    error = refusal(db, ours["owner"], context(ours, event_id=saved["event_id"]),
                    draft(venue_id=str(their_hall["id"]), title="Moved"))
    assert (error.status, error.code) == (422, "foreign_venue")
    assert [(e["title"], e["venue_id"]) for e in events_of(db, ours)] == [("Summer Gala", None)]


def test_a_refusal_rolls_back_the_whole_save_and_leaves_the_transaction_usable(db):
    org = factories.org(db, currency="GBP")
    with db.as_user(org["owner"]) as cur:
        # The event insert succeeds before the tiers are refused (one explicit EUR tier,
        # one defaulting to the org's GBP): the event must not survive the refusal.
        with pytest.raises(DomainError) as caught:
            save_event_draft(cur, context(org), draft(tiers=[
                {"name": "General", "price_minor": 2500, "capacity": 100},
                {"name": "VIP", "price_minor": 7500, "capacity": 20, "currency": "EUR"}]))
        assert (caught.value.status, caught.value.code) == (422, "mixed_currency")
        cur.execute("select count(*) as n from public.events where org_id = %s", (org["id"],))
        assert cur.fetchone()["n"] == 0
        # The runtime reports the error to the model, which tries again in the same transaction.
        saved = save_event_draft(cur, context(org), draft())
    assert [str(e["id"]) for e in events_of(db, org)] == [saved["event_id"]]


def test_an_event_must_start_after_the_session_clock(db):
    org = factories.org(db)
    late = context(org, now=NOW + timedelta(days=60))  # the injected clock, not the wall clock, decides
    error = refusal(db, org["owner"], late, draft())
    assert (error.status, error.code) == (422, "starts_in_past")
    error = refusal(db, org["owner"], context(org), draft(starts_at=(NOW - timedelta(minutes=1)).isoformat(),
                                                          ends_at=None))
    assert (error.status, error.code) == (422, "starts_in_past")
    # A local end time before a UTC start (only comparable once localised): 19:30 BST = 18:30 UTC < 19:00 UTC.
    error = refusal(db, org["owner"], context(org), draft(starts_at=f"{NEXT_SUMMER}-07-01T19:00:00+00:00",
                                                          ends_at=f"{NEXT_SUMMER}-07-01T19:30:00"))
    assert (error.status, error.code) == (422, "invalid_times")
    assert events_of(db, org) == []


def test_event_id_must_match_the_session_draft(db):
    org = factories.org(db)
    saved = save_as(db, org["owner"], context(org), draft())
    error = refusal(db, org["owner"], context(org, event_id=saved["event_id"]),
                    draft(event_id=str(uuid.uuid4()), title="Elsewhere"))
    assert (error.status, error.code) == (422, "event_mismatch")
    assert [e["title"] for e in events_of(db, org)] == ["Summer Gala"]


GOOD_TIER = {"name": "General", "price_minor": 2500, "capacity": 100}
MALFORMED_DRAFTS = {
    "empty title": {"title": "   "},
    "title too long": {"title": "x" * 201},
    "no tiers": {"tiers": []},
    "21 tiers": {"tiers": [{**GOOD_TIER, "name": f"T{i}"} for i in range(21)]},
    "negative price": {"tiers": [{**GOOD_TIER, "price_minor": -1}]},
    "fractional price": {"tiers": [{**GOOD_TIER, "price_minor": 25.5}]},
    "zero capacity": {"tiers": [{**GOOD_TIER, "capacity": 0}]},
    "capacity over 100000": {"tiers": [{**GOOD_TIER, "capacity": 100_001}]},
    "bad currency": {"tiers": [{**GOOD_TIER, "currency": "pounds"}]},
    "max below min": {"tiers": [{**GOOD_TIER, "min_per_order": 5, "max_per_order": 2}]},
    "sale closes before it opens": {"tiers": [{**GOOD_TIER, "sale_starts_at": "2030-01-02T00:00:00Z",
                                               "sale_ends_at": "2030-01-01T00:00:00Z"}]},
    "duplicate tier names": {"tiers": [GOOD_TIER, {**GOOD_TIER, "name": "general"}]},
    "two currencies": {"tiers": [{**GOOD_TIER, "currency": "GBP"}, {**GOOD_TIER, "name": "B", "currency": "EUR"}]},
    "ends before starts": {"starts_at": "2030-01-01T20:00:00Z", "ends_at": "2030-01-01T19:00:00Z"},
    "not a date": {"starts_at": "next friday"},
    "not a uuid": {"venue_id": "the big hall"},
    "unknown field": {"status": "published"},
    "unknown tier field": {"tiers": [{**GOOD_TIER, "sold": 5}]},
}


@pytest.mark.parametrize("changes", MALFORMED_DRAFTS.values(), ids=MALFORMED_DRAFTS.keys())
def test_malformed_drafts_are_refused_by_the_args_model_with_nothing_written(db, changes):
    org = factories.org(db)
    raw = {"title": "Summer Gala", "starts_at": (NOW + timedelta(days=30)).isoformat(), "tiers": [GOOD_TIER],
           **changes}
    with pytest.raises(ValidationError):
        SaveEventDraftArgs.model_validate(raw)
    # Through the runtime's entry point: a 422 listing the problems, and no write.
    with db.as_user(org["owner"]) as cur, pytest.raises(DomainError) as caught:
        run_tool(cur, context(org), "save_event_draft", json.dumps(raw))
    assert (caught.value.status, caught.value.code) == (422, "invalid_arguments")
    assert caught.value.details and all({"field", "message"} <= set(p) for p in caught.value.details)
    assert events_of(db, org) == []


# ---------------------------------------------------------------------------
# suggest_venues
# ---------------------------------------------------------------------------
def test_venues_are_filtered_by_city_and_capacity_best_fit_first(db):
    org = factories.org(db)
    venue(db, org, "Grand", "London", 500, "1 Strand")
    venue(db, org, "Cosy", "london ", 120)
    venue(db, org, "Tiny", "London", 80)
    venue(db, org, "Northern", "Leeds", 200)
    venue(db, org, "Mystery", "London", None)
    other = factories.org(db)
    venue(db, other, "Not ours", "London", 150)

    with db.as_user(org["owner"]) as cur:
        fitted = suggest_venues(cur, context(org), SuggestVenuesArgs(city="LONDON", min_capacity=100))
        everything = suggest_venues(cur, context(org), SuggestVenuesArgs())
        leeds = suggest_venues(cur, context(org), SuggestVenuesArgs(city="Leeds", min_capacity=201))

    assert venue_names(fitted) == ["Cosy", "Grand"]
    assert fitted["venues"][1] == {"id": fitted["venues"][1]["id"], "name": "Grand", "city": "London",
                                   "capacity": 500, "address": "1 Strand"}
    assert fitted["excluded_booked"] == []
    assert venue_names(everything) == ["Tiny", "Cosy", "Northern", "Grand", "Mystery"]
    assert venue_names(leeds) == []


def test_at_most_ten_venues_are_suggested(db):
    org = factories.org(db)
    for capacity in range(100, 1300, 100):  # 12 venues, 100 .. 1200
        venue(db, org, f"Hall {capacity}", capacity=capacity)
    with db.as_user(org["owner"]) as cur:
        result = suggest_venues(cur, context(org), SuggestVenuesArgs(min_capacity=250))
    assert [v["capacity"] for v in result["venues"]] == list(range(300, 1300, 100))[:10]


def test_a_venue_booked_that_day_in_the_org_timezone_is_excluded(db):
    org = factories.org(db, timezone="Europe/London")
    booked = venue(db, org, "Booked", capacity=100)
    free = venue(db, org, "Free", capacity=300)
    # 23:30 UTC on 15 July is 00:30 on 16 July in London (BST, UTC+1); it is over by 23:50 UTC,
    # so in UTC terms it never touches the 16th.
    starts = datetime(NEXT_SUMMER, 7, 15, 23, 30, tzinfo=timezone.utc)
    event_at(db, org, booked, starts, starts + timedelta(minutes=20), status="published")

    with db.as_user(org["owner"]) as cur:
        sixteenth = suggest_venues(cur, context(org), SuggestVenuesArgs(date=date(NEXT_SUMMER, 7, 16)))
        fifteenth = suggest_venues(cur, context(org), SuggestVenuesArgs(date=date(NEXT_SUMMER, 7, 15)))
        undated = suggest_venues(cur, context(org), SuggestVenuesArgs())

    assert venue_names(sixteenth) == ["Free"]
    assert sixteenth["excluded_booked"] == [str(booked["id"])]
    assert venue_names(fifteenth) == ["Booked", "Free"] and fifteenth["excluded_booked"] == []
    assert venue_names(undated) == ["Booked", "Free"] and undated["excluded_booked"] == []
    assert str(free["id"]) in [v["id"] for v in sixteenth["venues"]]


def test_drafts_book_a_venue_but_cancelled_events_and_the_session_draft_do_not(db):
    org = factories.org(db, timezone="Europe/London")
    by_draft = venue(db, org, "Held by a draft", capacity=100)
    by_cancelled = venue(db, org, "Was cancelled", capacity=200)
    by_ours = venue(db, org, "Our own draft", capacity=300)
    multi_day = venue(db, org, "Festival site", capacity=400)
    day = date(NEXT_SUMMER, 8, 20)
    at_noon = datetime(NEXT_SUMMER, 8, 20, 11, 0, tzinfo=timezone.utc)
    event_at(db, org, by_draft, at_noon, None, status="draft")
    event_at(db, org, by_cancelled, at_noon, at_noon + timedelta(hours=2), status="cancelled")
    ours = event_at(db, org, by_ours, at_noon, at_noon + timedelta(hours=2), status="draft")
    event_at(db, org, multi_day, at_noon - timedelta(days=2), at_noon + timedelta(days=1), status="published")

    with db.as_user(org["owner"]) as cur:
        result = suggest_venues(cur, context(org, event_id=ours["id"]), SuggestVenuesArgs(date=day))
        without_session = suggest_venues(cur, context(org), SuggestVenuesArgs(date=day))

    assert venue_names(result) == ["Was cancelled", "Our own draft"]
    assert set(result["excluded_booked"]) == {str(by_draft["id"]), str(multi_day["id"])}
    assert venue_names(without_session) == ["Was cancelled"]


def test_a_caller_outside_the_org_gets_no_venues(db):
    team = factories.team(db)
    ours, rival = team["org"], team["rival"]
    # The rival's hall hosts a published public event, so RLS lets anyone signed in read it...
    their_hall = tk.event(db, rival, status="published")["venue"]
    with db.as_user(ours["owner"]) as cur:
        cur.execute("select id from public.venues where id = %s", (their_hall["id"],))
        assert cur.fetchall() != []
        # ...but the wizard lists an organization's venues only to its members.
        result = suggest_venues(cur, context(rival), SuggestVenuesArgs())
    assert result == {"venues": [], "excluded_booked": []}

    # Members who cannot edit events may still look (staff read venues).
    mine = venue(db, ours, "Ours")
    with db.as_user(team["people"]["staff"]) as cur:
        assert [v["id"] for v in suggest_venues(cur, context(ours), SuggestVenuesArgs())["venues"]] == [
            str(mine["id"])]


@pytest.mark.parametrize("raw", [{"min_capacity": 0}, {"min_capacity": -5}, {"city": ""},
                                 {"date": "15/07/2027"}, {"near": "Soho"}])
def test_malformed_venue_queries_are_refused(raw):
    with pytest.raises(ValidationError):
        SuggestVenuesArgs.model_validate(raw)


# ---------------------------------------------------------------------------
# calculate_budget
# ---------------------------------------------------------------------------
def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def take_home(n: int, p: int, percent: str, fixed: int) -> int:
    """The brief's formula, written independently: n·p − round_half_up(n·p·fee%) − n·fixed."""
    return n * p - half_up(Decimal(n * p) * Decimal(percent) / 100) - n * fixed


def test_a_budget_worked_out_by_hand(db):
    org = factories.org(db)
    args = CalculateBudgetArgs.model_validate_json(json.dumps({
        "venue_cost_minor": 150000, "expected_attendees": 100, "catering_per_head_minor": 2500,
        "staff_count": 4, "staff_cost_each_minor": 12000, "marketing_minor": 30000,
        "payment_fee_percent": 1.5, "payment_fee_fixed_minor": 20, "sell_through": 0.7,
        "tiers": [{"name": "General", "price_minor": 3600, "capacity": 150},
                  {"name": "VIP", "price_minor": 7700, "capacity": 90},
                  {"name": "Crew", "price_minor": 0, "capacity": 10}],
    }))
    with db.as_user(org["owner"]) as cur:
        budget = calculate_budget(cur, context(org), args)

    # Costs: venue 150000 + catering 100 × 2500 = 250000 + staff 4 × 12000 = 48000 + marketing 30000
    #        = 478000
    assert budget["costs"]["lines"] == [
        {"item": "Venue", "amount_minor": 150000}, {"item": "Catering", "amount_minor": 250000},
        {"item": "Staff", "amount_minor": 48000}, {"item": "Marketing", "amount_minor": 30000}]
    assert budget["costs"]["total_minor"] == 478000
    # Expected tickets, floor(capacity × 0.7):
    #   General floor(150 × 0.7) = floor(105.0) = 105
    #   VIP     floor(90 × 0.7)  = floor(63.0)  = 63   (in floating point 90 * 0.7 = 62.99999…, which floors to 62)
    #   Crew    floor(10 × 0.7)  = floor(7.0)   = 7
    assert [(t["name"], t["expected_sold"], t["revenue_minor"]) for t in budget["tickets"]] == [
        ("General", 105, 378000), ("VIP", 63, 485100), ("Crew", 7, 0)]
    assert budget["expected_tickets"] == 175  # 105 + 63 + 7
    # Gross: 105 × 3600 = 378000 + 63 × 7700 = 485100 + 7 × 0 = 0 → 863100
    assert budget["gross_revenue_minor"] == 863100
    # Fees: 1.5% of 863100 = 12946.5 → half up 12947 (half-to-even would give 12946)
    #       + 20 × 168 paid tickets (105 + 63; Crew is free) = 3360 → 16307
    assert budget["payment_fees"] == {"percent_minor": 12947, "fixed_minor": 3360, "total_minor": 16307}
    # Net: 863100 − 16307 = 846793; profit: 846793 − 478000 = 368793
    assert budget["net_revenue_minor"] == 846793
    assert budget["profit_minor"] == 368793
    # Break-even at n = 175 tickets, one price p for all:
    #   need 175p − round(175p × 1.5%) − 175 × 20 ≥ 478000, i.e. 175p − round(2.625p) ≥ 481500
    #   p = 2794: 175 × 2794 = 488950; 1.5% = 7334.25 → 7334; 488950 − 7334 − 3500 = 478116 ≥ 478000 ✓
    #   p = 2793: 175 × 2793 = 488775; 1.5% = 7331.625 → 7332; 488775 − 7332 − 3500 = 477943 < 478000 ✗
    assert budget["break_even_price_minor"] == 2794
    assert take_home(175, 2794, "1.5", 20) == 478116 >= 478000
    assert take_home(175, 2793, "1.5", 20) == 477943 < 478000
    assert budget["currency"] == "GBP"
    # The working is shown, in the org's currency.
    assert "Catering: 100 attendees × 25.00 GBP = 2,500.00 GBP" in budget["working"]
    assert "Total costs: 1,500.00 GBP + 2,500.00 GBP + 480.00 GBP + 300.00 GBP = 4,780.00 GBP" in budget["working"]
    assert any(line.startswith("Break-even price: 27.94 GBP") for line in budget["working"])


def test_break_even_from_expected_attendees_when_there_are_no_tiers():
    ctx = WizardContext(org_id=str(uuid.uuid4()), session_id=None, event_id=None, now=NOW)
    budget = calculate_budget(None, ctx, CalculateBudgetArgs(venue_cost_minor=10000, expected_attendees=50))
    # Costs 10000; n = 50 attendees; defaults 1.5% and 20 per ticket:
    #   need 50p − round(0.75p) − 50 × 20 ≥ 10000
    #   p = 224: 50 × 224 = 11200; 1.5% = 168 → 168; 11200 − 168 − 1000 = 10032 ≥ 10000 ✓
    #   p = 223: 50 × 223 = 11150; 1.5% = 167.25 → 167; 11150 − 167 − 1000 = 9983 < 10000 ✗
    assert budget["break_even_price_minor"] == 224
    assert take_home(50, 224, "1.5", 20) == 10032
    assert take_home(50, 223, "1.5", 20) == 9983
    assert budget["gross_revenue_minor"] == 0 and budget["profit_minor"] == -10000
    assert budget["currency"] == "GBP"  # no cursor, no org to ask


def test_break_even_counts_the_fee_rounding_in_the_organizers_favour():
    ctx = WizardContext(org_id=str(uuid.uuid4()), session_id=None, event_id=None, now=NOW)
    budget = calculate_budget(None, ctx, CalculateBudgetArgs(venue_cost_minor=1035, expected_attendees=1))
    # One ticket must cover 1035 after 1.5% and 20. Without rounding: (1035 + 20) / 0.985 = 1071.07…,
    # so a plain ceiling says 1072; but the fee rounds down at 1071:
    #   p = 1071: 1.5% = 16.065 → 16; 1071 − 16 − 20 = 1035 ≥ 1035 ✓
    #   p = 1070: 1.5% = 16.05  → 16; 1070 − 16 − 20 = 1034 < 1035 ✗
    assert budget["break_even_price_minor"] == 1071
    assert take_home(1, 1071, "1.5", 20) == 1035
    assert take_home(1, 1070, "1.5", 20) == 1034


def test_budget_defaults_and_the_org_currency(db):
    org = factories.org(db, currency="EUR")
    args = CalculateBudgetArgs(tiers=[{"name": "General", "price_minor": 1000, "capacity": 10}])
    with db.as_user(org["owner"]) as cur:
        budget = calculate_budget(cur, context(org), args)
    # Sell-through 0.8: floor(10 × 0.8) = 8 tickets; gross 8 × 1000 = 8000;
    # fees 1.5% of 8000 = 120 + 8 × 20 = 160 → 280; net 7720; no costs → profit 7720, break-even 0;
    # catering defaults to the 8 expected attendees (at 0 per head).
    assert budget["currency"] == "EUR"
    assert (budget["gross_revenue_minor"], budget["payment_fees"]["total_minor"], budget["net_revenue_minor"],
            budget["profit_minor"], budget["break_even_price_minor"]) == (8000, 280, 7720, 7720, 0)
    assert "Catering: 8 attendees × 0.00 EUR = 0.00 EUR" in budget["working"]
    # An outsider's cursor sees no organization: the display currency falls back to GBP.
    with db.as_user(db.user()) as cur:
        assert calculate_budget(cur, context(org), args)["currency"] == "GBP"
    # No tickets expected but costs to cover: no break-even price.
    nothing = calculate_budget(None, context(org), CalculateBudgetArgs(marketing_minor=100))
    assert nothing["break_even_price_minor"] is None


MALFORMED_BUDGETS = {
    "negative venue": {"venue_cost_minor": -1},
    "negative attendees": {"expected_attendees": -10},
    "negative catering": {"catering_per_head_minor": -2500},
    "negative staff": {"staff_count": -1},
    "negative marketing": {"marketing_minor": -5},
    "negative fixed fee": {"payment_fee_fixed_minor": -20},
    "negative fee percent": {"payment_fee_percent": -1.5},
    "fee of 100%": {"payment_fee_percent": 100},
    "fee with 5 decimals": {"payment_fee_percent": "1.23456"},
    "sell-through above 1": {"sell_through": 1.2},
    "negative sell-through": {"sell_through": -0.1},
    "negative tier price": {"tiers": [{"name": "A", "price_minor": -1, "capacity": 10}]},
    "zero tier capacity": {"tiers": [{"name": "A", "price_minor": 100, "capacity": 0}]},
    "fractional money": {"venue_cost_minor": 100.5},
    "text for a number": {"venue_cost_minor": "a lot"},
    "bad currency": {"currency": "EURO"},
    "unknown field": {"venue_cost": 100},
}


@pytest.mark.parametrize("raw", MALFORMED_BUDGETS.values(), ids=MALFORMED_BUDGETS.keys())
def test_malformed_budget_inputs_are_refused(raw):
    with pytest.raises(ValidationError):
        CalculateBudgetArgs.model_validate(raw)
    ctx = WizardContext(org_id=str(uuid.uuid4()), session_id=None, event_id=None, now=NOW)
    with pytest.raises(DomainError) as caught:
        run_tool(None, ctx, "calculate_budget", raw)
    assert (caught.value.status, caught.value.code) == (422, "invalid_arguments")


# ---------------------------------------------------------------------------
# The tool table
# ---------------------------------------------------------------------------
def _fields(schema: dict) -> list[tuple[str, dict]]:
    found = [(name, spec) for name, spec in schema.get("properties", {}).items()]
    for sub in schema.get("$defs", {}).values():
        found += _fields(sub)
    return found


def test_the_tool_table_gives_the_model_strict_described_schemas():
    assert set(TOOLS) == {"save_event_draft", "suggest_venues", "calculate_budget"}
    assert TOOLS["save_event_draft"][1:] == (SaveEventDraftArgs, save_event_draft)
    assert TOOLS["suggest_venues"][1:] == (SuggestVenuesArgs, suggest_venues)
    assert TOOLS["calculate_budget"][1:] == (CalculateBudgetArgs, calculate_budget)
    for name, (description, model, function) in TOOLS.items():
        assert len(description) > 40 and callable(function) and issubclass(model, BaseModel)
        schema = model.model_json_schema()
        assert schema["additionalProperties"] is False
        assert all(d.get("additionalProperties") is False for d in schema.get("$defs", {}).values())
        undescribed = [field for field, spec in _fields(schema) if not spec.get("description")]
        assert undescribed == [], f"{name}: fields without a description: {undescribed}"
    with pytest.raises(DomainError) as caught:
        run_tool(None, context({"id": uuid.uuid4()}), "publish_event", {})
    assert (caught.value.status, caught.value.code) == (422, "unknown_tool")
