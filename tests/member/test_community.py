"""Trips, trip templates, wishlists and the community: member A vs member B vs anon on every table;
public posts and published templates readable by anyone, everything else private; one like per member
under 20 concurrent likes, and counts equal to the rows; ratings once, 1-5, never one's own; a moderator
hides a reported post."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest

from shared.platform.db import Caller, act_as
from tests.support import member as M
from tests.support.pg import call, refused
from tests.support.races import race


def post(db, user, body: str, visibility: str = "public"):
    return call(db, user.caller, "insert into public.posts (body, visibility) values (%s, %s) returning id", body,
                visibility)


def visible(db, caller, post_id) -> bool:
    return call(db, caller, "select count(*) from public.posts where id = %s", post_id) == 1


@pytest.fixture(scope="module")
def people(db):
    alice, a_cats = M.member(db)
    bob, _ = M.member(db)
    moderator = db.user(confirmed=True)
    db.sql("insert into public.platform_moderators (user_id) values (%s)", (moderator.id,))
    return {"alice": alice, "bob": bob, "moderator": moderator, "a_cats": a_cats}


def test_public_posts_are_read_by_anyone_private_ones_by_their_author_only(db, people):
    alice, bob = people["alice"], people["bob"]
    public, private = post(db, alice, "Great free camp by the lake"), post(db, alice, "Notes to self", "private")
    for caller in (Caller.anon(), bob.caller, alice.caller):
        assert visible(db, caller, public)
    assert visible(db, alice.caller, private)
    assert not visible(db, bob.caller, private) and not visible(db, Caller.anon(), private)
    refused_comment = call(db, bob.caller, "insert into public.post_comments (post_id, body) values (%s, 'hi')", private)
    assert getattr(refused_comment, "sqlstate", None) == "42501"
    assert getattr(call(db, Caller.anon(), "insert into public.posts (body) values ('spam')"), "sqlstate", None) == "42501"


def test_the_author_edits_and_deletes_and_nobody_else_does(db, people):
    alice, bob = people["alice"], people["bob"]
    p = post(db, alice, "First draft")
    assert call(db, bob.caller, "update public.posts set body = 'defaced' where id = %s returning id", p) is None
    assert call(db, bob.caller, "delete from public.posts where id = %s returning id", p) is None
    assert call(db, alice.caller, "update public.posts set body = 'Second draft' where id = %s returning body", p) == \
        "Second draft"
    hidden_by_self = call(db, alice.caller, "update public.posts set hidden_at = now() where id = %s", p)
    assert getattr(hidden_by_self, "sqlstate", None) == "42501", "only a moderator hides"
    assert call(db, alice.caller, "delete from public.posts where id = %s returning id", p) == p


@pytest.mark.slow
def test_one_like_per_member_under_20_concurrent_likes_and_counts_equal_the_rows(db, people):
    alice = people["alice"]
    p = post(db, alice, "Sunset at Durdle Door")
    fans = [db.user(confirmed=True) for _ in range(10)]

    def like(lane: int, barrier: threading.Barrier) -> str:
        who = fans[lane % 10]  # each fan twice, at the same moment
        with psycopg.connect(db.url, autocommit=False) as conn:
            cur = conn.cursor()
            act_as(cur, who.caller)
            barrier.wait()
            try:
                cur.execute("insert into public.post_likes (post_id) values (%s)", (p,))
                conn.commit()
                return "liked"
            except psycopg.errors.UniqueViolation:
                conn.rollback()
                return "already"

    outcomes = race(20, like)
    assert outcomes.count("liked") == 10 and outcomes.count("already") == 10
    call(db, fans[0].caller, "insert into public.post_comments (post_id, body) values (%s, 'Stunning')", p)
    call(db, fans[1].caller, "insert into public.post_comments (post_id, body) values (%s, 'Where exactly?')", p)
    call(db, fans[2].caller, "delete from public.post_likes where post_id = %s", p)
    feed = {r["id"]: r for r in call(db, Caller.anon(), "select jsonb_agg(f) from public.posts_feed(200) f")}
    assert (feed[str(p)]["likes"], feed[str(p)]["comments"]) == (
        db.value("select count(*) from public.post_likes where post_id = %s", (p,)),
        db.value("select count(*) from public.post_comments where post_id = %s", (p,))) == (9, 2)
    mine = {r["id"]: r for r in call(db, fans[0].caller, "select jsonb_agg(f) from public.posts_feed(200) f")}
    assert mine[str(p)]["liked_by_me"] is True


def test_members_report_and_a_moderator_hides_a_post(db, people):
    alice, bob, moderator = people["alice"], people["bob"], people["moderator"]
    p = post(db, bob, "Buy cheap diesel at this link!!!")
    assert call(db, alice.caller, "insert into public.post_reports (post_id, reason) values (%s, 'spam') returning post_id",
                p) == p
    assert call(db, bob.caller, "select count(*) from public.post_reports where post_id = %s", p) == 0
    assert call(db, moderator.caller, "select count(*) from public.post_reports where post_id = %s", p) == 1
    refused(call(db, alice.caller, "select public.hide_post(%s, 'spam')", p), "PT404", "post_not_found")
    call(db, moderator.caller, "select public.hide_post(%s, 'spam')", p)
    assert not visible(db, Caller.anon(), p) and not visible(db, alice.caller, p)
    assert visible(db, bob.caller, p) and visible(db, moderator.caller, p)


def test_templates_are_rated_once_1_to_5_by_others_and_the_average_is_computed(db, people):
    alice, bob = people["alice"], people["bob"]
    t = call(db, alice.caller, "insert into public.trip_templates (title, days, route_notes) values"
                               " ('North Coast 500', 7, 'Inverness, Applecross, Durness') returning id")
    assert call(db, bob.caller, "select count(*) from public.trip_templates where id = %s", t) == 0  # a draft
    refused(call(db, bob.caller, "insert into public.trip_template_ratings (template_id, rating) values (%s, 5)", t),
            "PT422", "not_published")
    call(db, alice.caller, "update public.trip_templates set published = true where id = %s", t)
    assert call(db, Caller.anon(), "select count(*) from public.trip_templates where id = %s", t) == 1
    assert call(db, bob.caller, "insert into public.trip_template_ratings (template_id, rating) values (%s, 5)"
                                " returning rating", t) == 5
    again = call(db, bob.caller, "insert into public.trip_template_ratings (template_id, rating) values (%s, 1)", t)
    assert getattr(again, "sqlstate", None) == "23505", "once per member"
    refused(call(db, alice.caller, "insert into public.trip_template_ratings (template_id, rating) values (%s, 5)", t),
            "PT403", "own_template")
    carol, _ = M.member(db)
    six = call(db, carol.caller, "insert into public.trip_template_ratings (template_id, rating) values (%s, 6)", t)
    assert getattr(six, "sqlstate", None) == "23514", "a rating is 1 to 5"
    call(db, carol.caller, "insert into public.trip_template_ratings (template_id, rating) values (%s, 2)", t)
    [listed] = [r for r in call(db, Caller.anon(), "select jsonb_agg(x) from public.published_trip_templates() x")
                if r["id"] == str(t)]
    assert (float(listed["average_rating"]), listed["ratings"]) == (3.5, 2)
    assert call(db, carol.caller, "select count(*) from public.trip_template_ratings where template_id = %s", t) == 1


def test_a_trip_costs_per_day_and_per_km_and_is_its_members_alone(db, people):
    alice, bob, cats = people["alice"], people["bob"], people["a_cats"]
    start = M.today() - timedelta(days=9)
    trip = call(db, alice.caller, "insert into public.trips (name, starts_on, ends_on, distance_km) values"
                                  " ('Highlands', %s, %s, 840) returning id", start, start + timedelta(days=4))
    for amount in (6000, 2400, 3600):
        M.spend(db, alice, cats["Fuel"], amount, start + timedelta(days=1), trip_id=trip)
    M.spend(db, alice, cats["Fuel"], 9999, start)  # not on the trip
    [costs] = call(db, alice.caller, "select jsonb_agg(c) from public.trip_costs(%s) c", trip)
    assert (costs["total_minor"], costs["expenses"], costs["days"], costs["per_day_minor"], costs["per_km_minor"]) == (
        12000, 3, 5, 2400, 14)
    refused(call(db, bob.caller, "select count(*) from public.trip_costs(%s)", trip), "PT404", "trip_not_found")
    theirs = M.spend(db, bob, M.member(db)[1]["Fuel"], 100, M.today(), trip_id=trip)
    assert isinstance(theirs, psycopg.Error), "an expense cannot name another member's trip"
    for table in ("trips", "wishlist_items"):
        call(db, alice.caller, "insert into public.wishlist_items (name, target_price_minor, currency, priority)"
                               " values ('Solar panel', 25000, 'GBP', 1)") if table == "wishlist_items" else None
        assert call(db, bob.caller, f"select count(*) from public.{table} where user_id = %s", alice.id) == 0
        assert getattr(call(db, Caller.anon(), f"select count(*) from public.{table}"), "sqlstate", None) == "42501"
