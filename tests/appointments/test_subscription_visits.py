"""Single visits of a subscription (routines/appointments/subscriptions.sql).

A guest's subscription link reaches its visits through the ordinary guest
appointment RPCs (cancel, reschedule, change request), under the cut-off; a
visit the generator flagged is booked by a manager in scope with
resolve_subscription_occurrence, and the customer is told.
"""

from __future__ import annotations

import datetime as dt
import itertools

import psycopg
import pytest

from shared.platform.db import Caller
from tests.support.subscriptions import (
    call, db, generate_one, ledger, visit_day, outbox, raw_subscription, refused, shop, subscribe, visits)
from tests.support import factories

__all__ = ["db", "shop"]  # module-scoped fixtures, re-created for this module


def guest_subscription(db, shop, start_time: str) -> dict:
    """A guest's weekly subscription from next week at `start_time` (each test its own hour)."""
    answer = subscribe(db, Caller.anon(), shop, visit_day(db), start_time, months=1, name="Gina Guest",
                       email="gina@example.com")
    assert not isinstance(answer, psycopg.Error), answer
    return answer


def visit_ids(db, subscription_id) -> list[str]:
    return [str(r["id"]) for r in db.sql("select id from public.appointments where subscription_id = %s"
                                         " order by subscription_occurrence", (subscription_id,))]


# ---------------------------------------------------------------------------
# Guests and their visits
# ---------------------------------------------------------------------------
def test_a_guest_cancels_one_visit_through_the_subscription_link(db, shop):
    sub = guest_subscription(db, shop, "09:00")
    first, second = visit_ids(db, sub["subscription_id"])[:2]
    result = call(db, Caller.anon(), "select public.cancel_appointment_as_guest(%s, %s, %s, 'Away that week')",
                  sub["number"], sub["tracking_token"], second)
    assert result["status"] == "cancelled", result
    statuses = {v["n"]: v["status"] for v in visits(db, sub["subscription_id"])}
    assert statuses[0] == "booked" and statuses[1] == "cancelled"
    told = db.sql("select channel::text, recipient from public.notification_outbox where template ="
                  " 'appointment_cancelled' and payload ->> 'appointment_id' = %s order by channel", (str(second),))
    assert [r["channel"] for r in told] == ["email", "sms"], "one email and one text (the guest gave a phone)"
    # The subscription itself goes on.
    assert db.value("select status::text from public.appointment_subscriptions where id = %s",
                    (sub["subscription_id"],)) == "active"
    assert first != second


def test_a_guest_reschedules_one_visit_through_the_subscription_link(db, shop):
    sub = guest_subscription(db, shop, "10:00")
    visit = visit_ids(db, sub["subscription_id"])[0]
    start = db.value("select lower(period) + interval '3 hours' from public.appointments where id = %s", (visit,))
    result = call(db, Caller.anon(), "select public.reschedule_appointment_as_guest(%s, %s, %s, %s)",
                  sub["number"], sub["tracking_token"], visit, start)
    assert not isinstance(result, psycopg.Error), result
    assert db.value("select lower(period) from public.appointments where id = %s", (visit,)) == start


def test_the_cutoff_holds_for_a_visit_behind_the_subscription_link(db, shop):
    sub = guest_subscription(db, shop, "11:00")
    visit = visit_ids(db, sub["subscription_id"])[0]
    soon = db.value("select date_trunc('hour', now()) + interval '3 hours'")
    db.sql("update public.appointments set period = tstzrange(%s, %s + interval '1 hour') where id = %s",
           (soon, soon, visit))
    refused(call(db, Caller.anon(), "select public.cancel_appointment_as_guest(%s, %s, %s, null)",
                 sub["number"], sub["tracking_token"], visit), "PT409", "cutoff_passed")
    assert db.value("select status::text from public.appointments where id = %s", (visit,)) == "booked"


def test_a_subscription_link_reaches_only_its_own_visits(db, shop):
    mine, theirs = guest_subscription(db, shop, "14:00"), guest_subscription(db, shop, "15:00")
    other_visit = visit_ids(db, theirs["subscription_id"])[0]
    refused(call(db, Caller.anon(), "select public.cancel_appointment_as_guest(%s, %s, %s, null)",
                 mine["number"], mine["tracking_token"], other_visit), "PT404", "appointment_not_found")
    # A wrong token gets nothing and is counted like any other guess.
    assert call(db, Caller.anon(), "select public.cancel_appointment_as_guest(%s, %s, %s, null)",
                theirs["number"], mine["tracking_token"], other_visit) is None
    assert db.value("select failures from private.order_lookup_failures where order_number = %s",
                    (theirs["number"],)) == 1
    assert db.value("select status::text from public.appointments where id = %s", (other_visit,)) == "booked"


# ---------------------------------------------------------------------------
# Flagged visits
# ---------------------------------------------------------------------------
WEEKS_APART = itertools.count(8, 10)


@pytest.fixture
def flagged(db, shop) -> dict:
    """A subscription whose third visit found Val off for a week: needs_attention, nothing booked.
    Each use lies 10 weeks after the last, so their weeks off never meet."""
    first = visit_day(db, next(WEEKS_APART))
    sub = raw_subscription(db, shop, first, "12:00", months=2, staff_id=shop["val"])
    blocked = first + dt.timedelta(days=14)
    db.sql("insert into public.staff_time_off (org_id, staff_id, period) values (%s, %s,"
           " tstzrange(%s::timestamp at time zone 'Europe/London', %s::timestamp at time zone 'Europe/London'))",
           (shop["org"]["id"], shop["val"], f"{blocked - dt.timedelta(days=3)} 00:00",
            f"{blocked + dt.timedelta(days=4)} 00:00"))
    assert generate_one(db, sub["id"], horizon="10 weeks", now=f"{first - dt.timedelta(days=1)}T00:00Z"
                        )["needs_attention"] == 1
    [occurrence] = [o for o in ledger(db, sub["id"]) if o["status"] == "needs_attention"]
    occurrence_id = db.value("select id from public.subscription_occurrences where subscription_id = %s"
                             " and occurrence = %s", (sub["id"], occurrence["n"]))
    return {"sub": sub, "occurrence_id": occurrence_id, "blocked": blocked, "n": occurrence["n"]}


def test_a_manager_books_a_flagged_visit_with_another_staff_member_and_the_customer_is_told(db, shop, flagged):
    start = db.value("select (%s::date + time '12:00') at time zone 'Europe/London'", (flagged["blocked"],))
    result = call(db, shop["people"]["manager"].caller,
                  "select public.resolve_subscription_occurrence(%s, %s, %s)",
                  flagged["occurrence_id"], start, shop["bea"])
    assert result["status"] == "moved" and result["appointment"]["staff_id"] == str(shop["bea"]), result
    booked = {v["n"]: v for v in visits(db, flagged["sub"]["id"])}[flagged["n"]]
    assert booked["status"] == "booked" and booked["staff_id"] == shop["bea"]
    [mail] = outbox(db, "subscription_occurrence_moved", number=flagged["sub"]["number"])
    assert mail["recipient"] == "sam@example.com"
    refused(call(db, shop["people"]["owner"].caller, "select public.resolve_subscription_occurrence(%s, %s)",
                 flagged["occurrence_id"], start), "PT409", "already_booked")


def test_a_flagged_visit_needs_a_free_start(db, shop, flagged):
    manager = shop["people"]["manager"].caller
    off = db.value("select (%s::date + time '12:00') at time zone 'Europe/London'", (flagged["blocked"],))
    refused(call(db, manager, "select public.resolve_subscription_occurrence(%s, %s)", flagged["occurrence_id"], off),
            "PT409", "slot_unavailable")  # Val is still off
    refused(call(db, manager, "select public.resolve_subscription_occurrence(%s, now() - interval '1 day')",
                 flagged["occurrence_id"]), "PT422", "invalid_start")
    assert [o["status"] for o in ledger(db, flagged["sub"]["id"]) if o["n"] == flagged["n"]] == ["needs_attention"]


@pytest.mark.parametrize("who", ["staff", "customer", "outsider", "rival_owner"])
def test_only_managers_resolve_a_flagged_visit(db, shop, flagged, who):
    people = shop["people"]
    caller = people[who].caller if who in people else factories.org(db)["owner"].caller
    start = db.value("select (%s::date + time '12:00') at time zone 'Europe/London'", (flagged["blocked"],))
    refused(call(db, caller, "select public.resolve_subscription_occurrence(%s, %s, %s)",
                 flagged["occurrence_id"], start, shop["bea"]), "PT404", "occurrence_not_found")
    assert isinstance(call(db, Caller.anon(), "select public.resolve_subscription_occurrence(%s, %s)",
                           flagged["occurrence_id"], start), psycopg.errors.InsufficientPrivilege)


def test_a_manager_out_of_scope_cannot_resolve_or_hand_it_to_staff_outside_their_scope(db, shop, flagged):
    bea_only = factories.member(db, shop["org"], role="manager", scope={"staff_ids": [str(shop["bea"])]})
    start = db.value("select (%s::date + time '12:00') at time zone 'Europe/London'", (flagged["blocked"],))
    refused(call(db, bea_only.caller, "select public.resolve_subscription_occurrence(%s, %s, %s)",
                 flagged["occurrence_id"], start, shop["bea"]), "PT404", "occurrence_not_found")
    val_only = factories.member(db, shop["org"], role="manager", scope={"staff_ids": [str(shop["val"])]})
    refused(call(db, val_only.caller, "select public.resolve_subscription_occurrence(%s, %s, %s)",
                 flagged["occurrence_id"], start, shop["bea"]), "PT422", "invalid_staff")
