"""Who may read and write the ticketing and commerce tables (policies/ticketing.sql,
policies/commerce.sql, policies/comms.sql), and who may call the RPCs.

The matrix is the contract: table × actor × command, each probed as PostgREST
would run it (`set local role` + `request.jwt.claims`) inside a transaction
that is always rolled back, so one arranged world serves the whole module.
Writes are judged by what `returning` gave back and by what a superuser sees
afterwards in the same transaction, because RLS `using` filters silently
(zero rows, no error) while a missing grant or a failed `with check` raises
42501. Each write also runs once without `returning` (PostgREST's
return=minimal), so a write hole cannot hide behind a SELECT policy.

Tests whose assertion message starts with "BUG:" fail on purpose: they pin
security bugs in the migrations/policies, left for their owners to fix.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.rows import dict_row

from shared.platform.db import Caller
from tests.support.rls import assert_case, parse_matrix, probe, refusal
from tests.support import factories, orders, ticketing
from tests.support.pg import ArrangingDb

ACTORS = ("anon", "outsider", "owner", "admin", "manager", "staff", "dispatcher", "driver", "affiliate",
          "rival_owner", "buyer", "other_buyer", "service_role")

# Legend: x = refused for want of a grant (42501 "permission denied");
#         p = refused by the policy's `with check` (42501 "row-level security");
#         0 = silently matches no row;  1 = reads / writes the one target row.
# Targets belong to the team's organization. `buyer` bought the target order
# (signed in, not a member); `other_buyer` bought a different order of the
# same event. A `/variant` names a different target row of the same table.
MATRIX = """
target                 command anon outsider owner admin manager staff dispatcher driver affiliate rival_owner buyer other_buyer service_role
venues                 select  1    1        1     1     1       1     1          1      1         1           1     1           1
venues/draft-only      select  0    0        1     1     1       1     1          1      1         0           0     0           1
venues/unlisted-only   select  0    0        1     1     1       1     1          1      1         0           0     0           1
venues/unused          select  0    0        1     1     1       1     1          1      1         0           0     0           1
venues                 insert  x    p        1     1     1       p     p          p      p         p           p     p           1
venues                 update  x    0        1     1     1       0     0          0      0         0           0     0           1
venues                 delete  x    0        1     1     1       0     0          0      0         0           0     0           1
events                 select  1    1        1     1     1       1     1          1      1         1           1     1           1
events/draft           select  0    0        1     1     1       1     1          1      1         0           0     0           1
events/unlisted        select  0    0        1     1     1       1     1          1      1         0           0     0           1
events/cancelled       select  0    0        1     1     1       1     1          1      1         0           0     0           1
events/completed       select  0    0        1     1     1       1     1          1      1         0           0     0           1
events                 insert  x    p        1     1     1       p     p          p      p         p           p     p           1
events                 update  x    0        1     1     1       0     0          0      0         0           0     0           1
events/draft           delete  x    0        1     1     1       0     0          0      0         0           0     0           1
events/published       delete  x    0        0     0     0       0     0          0      0         0           0     0           1
ticket_tiers           select  1    1        1     1     1       1     1          1      1         1           1     1           1
ticket_tiers/ended     select  0    0        1     1     1       1     1          1      1         0           0     0           1
ticket_tiers/upcoming  select  0    0        1     1     1       1     1          1      1         0           0     0           1
ticket_tiers/draft     select  0    0        1     1     1       1     1          1      1         0           0     0           1
ticket_tiers/unlisted  select  0    0        1     1     1       1     1          1      1         0           0     0           1
ticket_tiers/cancelled select  0    0        1     1     1       1     1          1      1         0           0     0           1
ticket_tiers           insert  x    p        1     1     1       p     p          p      p         p           p     p           1
ticket_tiers           update  x    0        1     1     1       0     0          0      0         0           0     0           1
ticket_tiers/unsold    delete  x    0        1     1     1       0     0          0      0         0           0     0           1
promo_codes            select  x    0        1     1     1       0     0          0      0         0           0     0           1
promo_codes            insert  x    p        1     1     1       p     p          p      p         p           p     p           1
promo_codes            update  x    0        1     1     1       0     0          0      0         0           0     0           1
promo_codes            delete  x    0        1     1     1       0     0          0      0         0           0     0           1
promo_code_tiers       select  x    0        1     1     1       0     0          0      0         0           0     0           1
promo_code_tiers       insert  x    p        1     1     1       p     p          p      p         p           p     p           1
promo_code_tiers       update  x    0        1     1     1       0     0          0      0         0           0     0           1
promo_code_tiers       delete  x    0        1     1     1       0     0          0      0         0           0     0           1
promo_redemptions      select  x    0        1     1     1       0     0          0      0         0           0     0           1
promo_redemptions      insert  x    x        x     x     x       x     x          x      x         x           x     x           1
promo_redemptions      update  x    x        x     x     x       x     x          x      x         x           x     x           1
promo_redemptions      delete  x    x        x     x     x       x     x          x      x         x           x     x           1
orders                 select  x    0        1     1     1       1     0          0      0         0           1     0           1
orders                 insert  x    x        x     x     x       x     x          x      x         x           x     x           1
orders                 update  x    x        x     x     x       x     x          x      x         x           x     x           1
orders/pending         delete  x    x        x     x     x       x     x          x      x         x           x     x           1
order_items            select  x    0        1     1     1       1     0          0      0         0           1     0           1
order_items            insert  x    x        x     x     x       x     x          x      x         x           x     x           1
order_items            update  x    x        x     x     x       x     x          x      x         x           x     x           1
order_items/pending    delete  x    x        x     x     x       x     x          x      x         x           x     x           1
payments               select  x    0        1     1     1       0     0          0      0         0           1     0           1
payments               insert  x    x        x     x     x       x     x          x      x         x           x     x           1
payments               update  x    x        x     x     x       x     x          x      x         x           x     x           1
payments/unrefunded    delete  x    x        x     x     x       x     x          x      x         x           x     x           1
refunds                select  x    0        1     1     1       0     0          0      0         0           1     0           1
refunds                insert  x    x        x     x     x       x     x          x      x         x           x     x           1
refunds                update  x    x        x     x     x       x     x          x      x         x           x     x           1
refunds                delete  x    x        x     x     x       x     x          x      x         x           x     x           1
tickets                select  x    0        1     1     1       1     0          0      0         0           1     0           1
tickets                insert  x    x        x     x     x       x     x          x      x         x           x     x           1
tickets                update  x    x        x     x     x       x     x          x      x         x           x     x           1
tickets                delete  x    x        x     x     x       x     x          x      x         x           x     x           1
check_ins              select  x    0        1     1     1       1     0          0      0         0           0     0           1
check_ins              insert  x    x        x     x     x       x     x          x      x         x           x     x           1
check_ins              update  x    x        x     x     x       x     x          x      x         x           x     x           1
check_ins              delete  x    x        x     x     x       x     x          x      x         x           x     x           1
notification_outbox    select  x    0        1     1     0       0     0          0      0         0           0     0           1
notification_outbox    insert  x    x        x     x     x       x     x          x      x         x           x     x           1
notification_outbox    update  x    x        x     x     x       x     x          x      x         x           x     x           1
notification_outbox    delete  x    x        x     x     x       x     x          x      x         x           x     x           1
message_events         select  x    0        1     1     0       0     0          0      0         0           0     0           1
message_events         insert  x    x        x     x     x       x     x          x      x         x           x     x           1
message_events         update  x    x        x     x     x       x     x          x      x         x           x     x           1
message_events         delete  x    x        x     x     x       x     x          x      x         x           x     x           1
"""
# service_role is BYPASSRLS with every grant (Supabase's contract for the
# server key); its column is here so a change to that contract is visible.


CASES = parse_matrix(MATRIX, ACTORS)
TABLES = sorted({target.split("/")[0] for target, *_ in CASES})


@dataclass(frozen=True)
class Probe:
    statement: str
    check: str | None = None  # superuser count of rows showing the write's effect; None for select


def _select(table: str, key: str, column: str = "id") -> Probe:
    return Probe(f"select {column} from public.{table} where {column} = %({key})s")


def _update(table: str, column: str, key: str) -> Probe:
    return Probe(f"update public.{table} set {column} = %(marker)s where id = %({key})s returning id",
                 f"select count(*) from public.{table} where id = %({key})s and {column} = %(marker)s")


def _delete(table: str, key: str, column: str = "id") -> Probe:
    return Probe(f"delete from public.{table} where {column} = %({key})s returning {column}",
                 f"select 1 - count(*) from public.{table} where {column} = %({key})s")


def _insert(table: str, columns: str, values: str, marker_column: str) -> Probe:
    return Probe(f"insert into public.{table} ({columns}) values ({values}) returning {marker_column}",
                 f"select count(*) from public.{table} where {marker_column} = %(marker)s")


PROBES: dict[tuple[str, str], Probe] = {
    # venues: the target is used by the published public event.
    ("venues", "select"): _select("venues", "venue_id"),
    ("venues/draft-only", "select"): _select("venues", "draft_venue_id"),
    ("venues/unlisted-only", "select"): _select("venues", "unlisted_venue_id"),
    ("venues/unused", "select"): _select("venues", "unused_venue_id"),
    ("venues", "insert"): _insert("venues", "org_id, name", "%(org_id)s, %(marker)s", "name"),
    ("venues", "update"): _update("venues", "name", "venue_id"),
    ("venues", "delete"): _delete("venues", "venue_id"),
    # events
    ("events", "select"): _select("events", "event_id"),
    ("events/draft", "select"): _select("events", "draft_event_id"),
    ("events/unlisted", "select"): _select("events", "unlisted_event_id"),
    ("events/cancelled", "select"): _select("events", "cancelled_event_id"),
    ("events/completed", "select"): _select("events", "completed_event_id"),
    ("events", "insert"): _insert("events", "org_id, title, slug, starts_at",
                                  "%(org_id)s, %(marker)s, %(marker)s, now() + interval '40 days'", "title"),
    ("events", "update"): _update("events", "title", "event_id"),
    ("events/draft", "delete"): _delete("events", "draft_event_id"),
    ("events/published", "delete"): _delete("events", "spare_event_id"),
    # ticket_tiers: the target is on sale for the published public event.
    ("ticket_tiers", "select"): _select("ticket_tiers", "tier_id"),
    ("ticket_tiers/ended", "select"): _select("ticket_tiers", "ended_tier_id"),
    ("ticket_tiers/upcoming", "select"): _select("ticket_tiers", "upcoming_tier_id"),
    ("ticket_tiers/draft", "select"): _select("ticket_tiers", "draft_tier_id"),
    ("ticket_tiers/unlisted", "select"): _select("ticket_tiers", "unlisted_tier_id"),
    ("ticket_tiers/cancelled", "select"): _select("ticket_tiers", "cancelled_tier_id"),
    ("ticket_tiers", "insert"): _insert("ticket_tiers", "org_id, event_id, name, price_minor, currency, capacity",
                                        "%(org_id)s, %(event_id)s, %(marker)s, 1000, 'GBP', 5", "name"),
    ("ticket_tiers", "update"): _update("ticket_tiers", "name", "tier_id"),
    ("ticket_tiers/unsold", "delete"): _delete("ticket_tiers", "unsold_tier_id"),
    # promo_codes
    ("promo_codes", "select"): _select("promo_codes", "promo_id"),
    ("promo_codes", "insert"): _insert("promo_codes", "org_id, code, kind, value",
                                       "%(org_id)s, %(marker)s, 'percent', 5", "code"),
    ("promo_codes", "update"): _update("promo_codes", "code", "promo_id"),
    ("promo_codes", "delete"): _delete("promo_codes", "promo_id"),
    # promo_code_tiers: the target restricts the code to the on-sale tier.
    ("promo_code_tiers", "select"): Probe(
        "select tier_id from public.promo_code_tiers where promo_code_id = %(promo_id)s and tier_id = %(tier_id)s"),
    ("promo_code_tiers", "insert"): Probe(
        "insert into public.promo_code_tiers (promo_code_id, tier_id, org_id)"
        " values (%(promo_id)s, %(unsold_tier_id)s, %(org_id)s) returning tier_id",
        "select count(*) from public.promo_code_tiers where promo_code_id = %(promo_id)s"
        " and tier_id = %(unsold_tier_id)s"),
    ("promo_code_tiers", "update"): Probe(
        "update public.promo_code_tiers set tier_id = %(unsold_tier_id)s"
        " where promo_code_id = %(promo_id)s and tier_id = %(tier_id)s returning tier_id",
        "select count(*) from public.promo_code_tiers where promo_code_id = %(promo_id)s"
        " and tier_id = %(unsold_tier_id)s"),
    ("promo_code_tiers", "delete"): Probe(
        "delete from public.promo_code_tiers where promo_code_id = %(promo_id)s and tier_id = %(tier_id)s"
        " returning tier_id",
        "select 1 - count(*) from public.promo_code_tiers where promo_code_id = %(promo_id)s"
        " and tier_id = %(tier_id)s"),
    # promo_redemptions: the target is the buyer's order's redemption.
    ("promo_redemptions", "select"): _select("promo_redemptions", "redemption_id"),
    ("promo_redemptions", "insert"): _insert(
        "promo_redemptions", "org_id, promo_code_id, order_id, customer_email, discount_minor",
        "%(org_id)s, %(promo_id)s, %(pending_order_id)s, %(marker)s, 0", "customer_email"),
    ("promo_redemptions", "update"): _update("promo_redemptions", "customer_email", "redemption_id"),
    ("promo_redemptions", "delete"): _delete("promo_redemptions", "redemption_id"),
    # orders: the target is the buyer's paid order (only granted columns are selected).
    ("orders", "select"): Probe("select id, number, status from public.orders where id = %(order_id)s"),
    ("orders", "insert"): _insert(
        "orders", "org_id, number, kind, buyer_email, buyer_name, currency, tracking_token_hash",
        "%(org_id)s, %(marker)s, 'tickets', 'probe@example.com', 'Probe', 'GBP', sha256('probe'::bytea)",
        "number"),
    ("orders", "update"): _update("orders", "buyer_name", "order_id"),
    ("orders/pending", "delete"): _delete("orders", "pending_order_id"),
    # order_items
    ("order_items", "select"): _select("order_items", "item_id"),
    ("order_items", "insert"): _insert(
        "order_items", "order_id, org_id, description, quantity, unit_price_minor",
        "%(pending_order_id)s, %(org_id)s, %(marker)s, 1, 100", "description"),
    ("order_items", "update"): _update("order_items", "description", "item_id"),
    ("order_items/pending", "delete"): _delete("order_items", "pending_item_id"),
    # payments
    ("payments", "select"): _select("payments", "payment_id"),
    ("payments", "insert"): _insert(
        "payments", "org_id, order_id, provider, provider_payment_id, amount_minor, currency",
        "%(org_id)s, %(pending_order_id)s, 'stripe', %(marker)s, 100, 'GBP'", "provider_payment_id"),
    ("payments", "update"): _update("payments", "provider_payment_id", "payment_id"),
    ("payments/unrefunded", "delete"): _delete("payments", "other_payment_id"),
    # refunds: the target is a partial refund of the buyer's order.
    ("refunds", "select"): _select("refunds", "refund_id"),
    ("refunds", "insert"): _insert(
        "refunds", "org_id, order_id, payment_id, amount_minor, currency, reason",
        "%(org_id)s, %(order_id)s, %(payment_id)s, 100, 'GBP', %(marker)s", "reason"),
    ("refunds", "update"): _update("refunds", "reason", "refund_id"),
    ("refunds", "delete"): _delete("refunds", "refund_id"),
    # tickets: the target is one of the buyer's tickets (never the secret column).
    ("tickets", "select"): Probe("select id, status from public.tickets where id = %(ticket_id)s"),
    ("tickets", "insert"): _insert(
        "tickets", "org_id, event_id, tier_id, order_id, order_item_id, secret, attendee_name, attendee_email",
        "%(org_id)s, %(event_id)s, %(tier_id)s, %(order_id)s, %(item_id)s, %(marker)s, %(marker)s,"
        " 'probe@example.com'", "attendee_name"),
    ("tickets", "update"): _update("tickets", "attendee_name", "ticket_id"),
    ("tickets", "delete"): _delete("tickets", "ticket_id"),
    # check_ins: the target is the staff member's scan of the buyer's ticket.
    ("check_ins", "select"): _select("check_ins", "check_in_id"),
    ("check_ins", "insert"): _insert("check_ins", "org_id, event_id, result, gate",
                                     "%(org_id)s, %(event_id)s, 'ok', %(marker)s", "gate"),
    ("check_ins", "update"): _update("check_ins", "gate", "check_in_id"),
    ("check_ins", "delete"): _delete("check_ins", "check_in_id"),
    # notification_outbox: the target is the buyer's ticket email.
    ("notification_outbox", "select"): _select("notification_outbox", "outbox_id"),
    ("notification_outbox", "insert"): _insert(
        "notification_outbox", "org_id, channel, template, recipient, dedupe_key",
        "%(org_id)s, 'email', 'probe', 'probe@example.com', %(marker)s", "dedupe_key"),
    ("notification_outbox", "update"): _update("notification_outbox", "last_error", "outbox_id"),
    ("notification_outbox", "delete"): _delete("notification_outbox", "outbox_id"),
    # message_events: the target is the delivery report of the buyer's ticket email.
    ("message_events", "select"): _select("message_events", "message_event_id"),
    ("message_events", "insert"): _insert(
        "message_events", "org_id, notification_id, channel, provider, provider_event_id, type, occurred_at",
        "%(org_id)s, %(outbox_id)s, 'email', 'resend', %(marker)s, 'delivered', now()", "provider_event_id"),
    ("message_events", "update"): _update("message_events", "provider_event_id", "message_event_id"),
    ("message_events", "delete"): _delete("message_events", "message_event_id"),
}


# ---------------------------------------------------------------------------
# The world: one team, its events in every state, two buyers, and every kind of row.
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def db(database_url):
    """The shared `db`, arranging over one reused superuser connection (faster)."""
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def prober(database_url):
    """One connection for all probes; every probe runs in a transaction that is rolled back."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    org, rival = team["org"], team["rival"]
    people = dict(team["people"])
    people["buyer"] = db.user(full_name="Bea Buyer")
    people["other_buyer"] = db.user(full_name="Otto Other")
    people["rival_staff"] = factories.member(db, rival, role="staff")
    now = datetime.now(timezone.utc)

    event = ticketing.event(db, org)
    spare_event = ticketing.event(db, org)
    draft = ticketing.event(db, org, status="draft")
    unlisted = ticketing.event(db, org, visibility="unlisted")
    cancelled = ticketing.event(db, org, status="cancelled", with_venue=False)
    completed = ticketing.event(db, org, status="completed", with_venue=False)
    rival_event = ticketing.event(db, rival)
    unused_venue = db.one("insert into public.venues (org_id, name) values (%s, 'Back office') returning *",
                          (org["id"],))

    tier = ticketing.tier(db, event, name="General")
    unsold = ticketing.tier(db, event, name="Balcony")
    ended = ticketing.tier(db, event, name="Early bird", sale_starts_at=now - timedelta(days=10),
                           sale_ends_at=now - timedelta(days=1))
    upcoming = ticketing.tier(db, event, name="Late", sale_starts_at=now + timedelta(days=1))
    draft_tier = ticketing.tier(db, draft)
    unlisted_tier = ticketing.tier(db, unlisted)
    cancelled_tier = ticketing.tier(db, cancelled)
    rival_tier = ticketing.tier(db, rival_event)
    promo = ticketing.promo(db, org["id"], tiers=[tier])
    db.sql("update public.promo_codes set created_by = %s where id = %s", (people["manager"].id, promo["id"]))

    order = orders.paid(db, event, [(tier, 2)], buyer=people["buyer"], promo_code=promo["code"])
    other = orders.paid(db, event, [(tier, 1)], buyer=people["other_buyer"])
    pending = orders.place(db, event, [(tier, 1)], buyer=people["buyer"])
    guest = orders.place(db, event, [(tier, 1)], email="guest@example.com", name="Gus Guest")
    refund = orders.refund(db, order["id"], 500)
    ticket = orders.tickets(db, order["id"])[0]
    scan = orders.check_in(db, people["staff"], event["id"], ticket["secret"])
    assert scan["result"] == "ok", scan
    webhook_id = orders.webhook_event(db)

    def one(query, *params):
        value = db.value(query, params)
        assert value is not None, query
        return value

    outbox_id = one("select id from public.notification_outbox where dedupe_key = %s", f"tickets:{order['id']}")
    with db.acting(Caller.service()) as cur:
        cur.execute("select private.record_message_event('resend', %s, null, %s, 'delivered', now(), '{}')",
                    (f"msg_{uuid.uuid4().hex}", outbox_id))

    callers = {role: user.caller for role, user in people.items()}
    callers["anon"] = Caller.anon()
    callers["service_role"] = Caller.service()
    marker = f"probe-{uuid.uuid4().hex[:8]}"
    return {
        "team": team,
        "people": people,
        "callers": callers,
        "event": event,
        "rival_event": rival_event,
        "rival_tier": rival_tier,
        "tier": tier,
        "promo": promo,
        "order": order,
        "other_order": other,
        "pending": pending,
        "guest": guest,
        "ticket": ticket,
        "draft": draft,
        "unlisted": unlisted,
        "params": {
            "org_id": org["id"],
            "rival_org_id": rival["id"],
            "venue_id": event["venue"]["id"],
            "draft_venue_id": draft["venue"]["id"],
            "unlisted_venue_id": unlisted["venue"]["id"],
            "unused_venue_id": unused_venue["id"],
            "event_id": event["id"],
            "spare_event_id": spare_event["id"],
            "draft_event_id": draft["id"],
            "unlisted_event_id": unlisted["id"],
            "cancelled_event_id": cancelled["id"],
            "completed_event_id": completed["id"],
            "tier_id": tier["id"],
            "unsold_tier_id": unsold["id"],
            "ended_tier_id": ended["id"],
            "upcoming_tier_id": upcoming["id"],
            "draft_tier_id": draft_tier["id"],
            "unlisted_tier_id": unlisted_tier["id"],
            "cancelled_tier_id": cancelled_tier["id"],
            "promo_id": promo["id"],
            "redemption_id": one("select id from public.promo_redemptions where order_id = %s", order["id"]),
            "order_id": order["id"],
            "pending_order_id": pending["order_id"],
            "item_id": one("select id from public.order_items where order_id = %s", order["id"]),
            "pending_item_id": one("select id from public.order_items where order_id = %s", pending["order_id"]),
            "payment_id": one("select id from public.payments where order_id = %s", order["id"]),
            "other_payment_id": one("select id from public.payments where order_id = %s", other["id"]),
            "refund_id": refund["id"],
            "webhook_id": webhook_id,
            "ticket_id": ticket["id"],
            "check_in_id": one("select id from public.check_ins where ticket_id = %s", ticket["id"]),
            "outbox_id": outbox_id,
            "message_event_id": one("select id from public.message_events where notification_id = %s", outbox_id),
            "marker": marker,
        },
    }


@pytest.mark.parametrize(("target", "command", "actor", "expected"), CASES,
                         ids=[f"{t}-{c}-{a}" for t, c, a, _ in CASES])
def test_rls_matrix(prober, world, target, command, actor, expected):
    spec = PROBES[(target, command)]
    assert_case(prober, world["callers"][actor], spec.statement, world["params"], spec.check, expected,
                f"{actor} {command} on {target}")


def test_the_matrix_covers_every_command_on_every_ticketing_commerce_and_outbox_table(db):
    public = {r["relname"] for r in db.sql(
        "select relname from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p')")}
    tenancy = {"profiles", "organizations", "memberships", "invitations", "audit_log",
               "feature_flags"}  # tests/foundation/test_feature_flags.py
    crm = {"companies", "contacts", "interactions"}
    ai = {"wizard_sessions"}  # tests/ai/test_rls.py
    comms = {"message_templates", "emergency_alerts",  # tests/comms/test_templates.py, test_alerts.py
             "marketing_consents", "campaigns",  # tests/comms/test_campaigns.py
             "recipient_languages"}  # tests/comms/test_languages.py
    chauffeur = {"chauffeur_settings", "vehicle_classes", "vehicles", "drivers", "affiliates", "chauffeur_rate_rules",
                 "chauffeur_customers", "reservations", "reservation_stops",  # tests/chauffeur/test_chauffeur_rls.py
                 "farm_outs"}  # tests/chauffeur/test_farm_outs.py
    parking = {"parking_lots", "parking_products", "parking_prices", "parking_price_overrides", "parking_extras",
               "parking_days", "parking_policies", "parking_bookings", "parking_booking_extras",
               "parking_charges"}  # tests/parking/test_parking_rls.py
    saved_methods = {"payment_customers", "saved_payment_methods"}  # tests/commerce/test_saved_methods.py
    member = {"member_settings", "expense_categories", "recurring_items", "expenses", "income_entries",
              "budgets",  # tests/member/test_money.py
              "trips", "wishlist_items", "trip_templates", "trip_template_ratings", "platform_moderators", "posts",
              "post_comments", "post_likes", "post_reports",  # tests/member/test_community.py
              "member_subscriptions",  # tests/member/test_subscriptions.py
              "pam_conversations", "pam_expense_proposals"}  # tests/member/test_pam.py, test_money.py
    appointments = {"service_categories", "services", "staff", "staff_services", "staff_schedules", "staff_breaks",
                    "staff_time_off", "staff_service_areas", "appointment_settings",  # test_catalogue_rls.py
                    "appointments",  # tests/appointments/test_appointments_rls.py
                    "appointment_change_requests",  # tests/appointments/test_cancellation_policy.py
                    "promo_code_services",  # tests/appointments/test_booking.py
                    "calendar_feeds",  # tests/appointments/test_calendar.py
                    "appointment_subscriptions", "subscription_occurrences",  # tests/appointments/test_subscriptions.py
                    "appointment_reviews",  # tests/appointments/test_reports.py
                    "job_photos",  # tests/appointments/test_staff_portal.py
                    "uk_outcodes"}  # tests/appointments/test_postcodes.py
    assert public - tenancy - crm - ai - comms - appointments - chauffeur - parking - saved_methods - member == set(TABLES), (
        "a table without a matrix (or a matrix without a table)")
    for table in TABLES:
        for command in ("select", "insert", "update", "delete"):
            assert any(t.split("/")[0] == table and c == command for t, c in PROBES), f"{table} {command}"


def test_every_table_has_row_level_security_on_and_sentence_policies_per_role(db):
    rows = db.sql("select relname, relrowsecurity from pg_class where relnamespace = 'public'::regnamespace"
                  " and relname = any(%s)", (TABLES,))
    assert {r["relname"] for r in rows} == set(TABLES)
    assert all(r["relrowsecurity"] for r in rows), [r["relname"] for r in rows if not r["relrowsecurity"]]
    policies = db.sql(
        "select tablename, cmd, roles, permissive, count(*) over (partition by tablename, cmd, roles) as n"
        " from pg_policies where schemaname = 'public' and tablename = any(%s)", (TABLES,))
    assert policies
    assert all(r["roles"] != ["public"] for r in policies), [r for r in policies if r["roles"] == ["public"]]
    assert all(r["n"] == 1 for r in policies), [r for r in policies if r["n"] > 1]


@pytest.mark.parametrize("actor", ["anon", "buyer", "owner", "service_role"])
@pytest.mark.parametrize("statement", [
    "select id from private.webhook_events where id = %(webhook_id)s",
    "insert into private.webhook_events (id, provider, type, payload) values (%(marker)s, 'stripe', 'probe', '{}')"
    " returning id",
    "update private.webhook_events set outcome = %(marker)s where id = %(webhook_id)s returning id",
    "delete from private.webhook_events where id = %(webhook_id)s returning id",
], ids=["select", "insert", "update", "delete"])
def test_no_api_role_touches_the_webhook_ledger(prober, world, actor, statement):
    check = ("select count(*) from private.webhook_events"
             " where id = %(marker)s or (id = %(webhook_id)s and outcome is not distinct from %(marker)s)"
             " or not exists (select 1 from private.webhook_events where id = %(webhook_id)s)")
    assert_case(prober, world["callers"][actor], statement, world["params"],
                None if statement.startswith("select") else check, "x",
                f"private.webhook_events {statement.split()[0]} as {actor}")


# ---------------------------------------------------------------------------
# The whole table as each role sees it.
# ---------------------------------------------------------------------------
def rows(prober, caller: Caller, query: str, params=None) -> list[dict]:
    status, result, _ = probe(prober, caller, query, params or {})
    assert status == "ok", result
    return result


def ids(prober, caller: Caller, query: str, params=None) -> set:
    return {next(iter(r.values())) for r in rows(prober, caller, query, params)}


@pytest.mark.parametrize("actor", ["anon", "outsider", "buyer", "rival_owner"])
def test_the_public_sees_exactly_the_published_public_events_their_on_sale_tiers_and_venues(
        prober, db, world, actor):
    p = world["params"]
    caller = world["callers"][actor]
    rival_event = world["rival_event"]
    assert ids(prober, caller, "select id from public.events where org_id = %(org_id)s", p) == {
        p["event_id"], p["spare_event_id"]}
    assert ids(prober, caller, "select id from public.ticket_tiers where org_id = %(org_id)s", p) == {
        p["tier_id"], p["unsold_tier_id"]}
    spare_venue = db.value("select venue_id from public.events where id = %s", (p["spare_event_id"],))
    assert ids(prober, caller, "select id from public.venues where org_id = %(org_id)s", p) == {
        p["venue_id"], spare_venue}
    # The rival's published public event is just as public.
    assert rival_event["id"] in ids(prober, caller, "select id from public.events")


@pytest.mark.parametrize("actor", ["dispatcher", "driver", "affiliate", "staff"])
def test_every_member_sees_all_of_the_orgs_events_tiers_and_venues(prober, db, world, actor):
    caller = world["callers"][actor]
    org_id = world["params"]["org_id"]
    for table in ("events", "ticket_tiers", "venues"):
        everything = {r["id"] for r in db.sql(f"select id from public.{table} where org_id = %s", (org_id,))}
        assert ids(prober, caller, f"select id from public.{table} where org_id = %s", (org_id,)) == everything


@pytest.mark.parametrize("actor", ["dispatcher", "driver", "affiliate"])
def test_field_roles_see_no_orders_tickets_check_ins_promo_codes_or_outbox(prober, world, actor):
    caller = world["callers"][actor]
    for query in ("select id from public.orders", "select id from public.order_items",
                  "select id from public.payments", "select id from public.refunds",
                  "select id from public.tickets", "select id from public.check_ins",
                  "select id from public.promo_codes", "select promo_code_id from public.promo_code_tiers",
                  "select id from public.promo_redemptions", "select id from public.notification_outbox"):
        assert rows(prober, caller, query) == [], f"{actor}: {query}"


@pytest.mark.parametrize("actor", ["buyer", "other_buyer"])
def test_a_buyer_sees_exactly_their_own_orders_and_what_hangs_off_them(prober, db, world, actor):
    user = world["people"][actor]
    caller = world["callers"][actor]
    mine = {r["id"] for r in db.sql("select id from public.orders where buyer_user_id = %s", (user.id,))}
    assert mine, "the world gives each buyer at least one order"
    assert ids(prober, caller, "select id from public.orders") == mine
    for table in ("order_items", "payments", "refunds", "tickets"):
        expected = {r["id"] for r in db.sql(f"select id from public.{table} where order_id = any(%s)", (list(mine),))}
        assert ids(prober, caller, f"select id from public.{table}") == expected, table
    for query in ("select id from public.promo_codes", "select id from public.promo_redemptions",
                  "select id from public.check_ins", "select id from public.notification_outbox"):
        assert rows(prober, caller, query) == [], f"{actor}: {query}"


def test_a_guest_order_is_visible_to_nobody_signed_in_outside_the_org(prober, world):
    guest_id = world["guest"]["order_id"]
    for actor in ("outsider", "buyer", "other_buyer", "rival_owner", "driver"):
        assert guest_id not in ids(prober, world["callers"][actor], "select id from public.orders"), actor


def test_the_outbox_is_read_by_owners_and_admins_of_that_org_only(prober, db, world):
    org_id = world["params"]["org_id"]
    queued = {r["id"] for r in db.sql("select id from public.notification_outbox where org_id = %s", (org_id,))}
    assert len(queued) >= 2  # the ticket emails and the refund email
    for actor in ("owner", "admin"):
        assert ids(prober, world["callers"][actor], "select id from public.notification_outbox") == queued
    assert rows(prober, world["callers"]["rival_owner"], "select id from public.notification_outbox") == []


# ---------------------------------------------------------------------------
# Column privileges: secrets and idempotency data are never selectable.
# ---------------------------------------------------------------------------
API_ACTORS = [a for a in ACTORS if a != "service_role"]


def assert_refused(result, sqlstate: str = "42501", detail: str | None = None):
    status, exc = result[0], result[1]
    assert status == "error", f"expected {sqlstate}, got rows {exc!r}"
    assert exc.sqlstate == sqlstate, f"expected {sqlstate}, got {exc.sqlstate}: {exc}"
    if detail is not None:
        assert exc.diag.message_detail == detail, exc.diag.message_detail


@pytest.mark.parametrize("actor", API_ACTORS)
@pytest.mark.parametrize("query", [
    "select secret from public.tickets where id = %(ticket_id)s",
    "select * from public.tickets where id = %(ticket_id)s",
    "select id from public.tickets where secret = 'guess'",
])
def test_no_api_role_reads_or_filters_on_a_ticket_secret(prober, world, actor, query):
    assert_refused(probe(prober, world["callers"][actor], query, world["params"]))


@pytest.mark.parametrize("actor", ["owner", "admin", "manager", "staff", "buyer"])
@pytest.mark.parametrize("column", ["tracking_token_hash", "idempotency_key", "request_hash"])
def test_no_api_role_reads_an_orders_tracking_hash_or_idempotency_data(prober, world, actor, column):
    assert_refused(probe(prober, world["callers"][actor],
                         f"select {column} from public.orders where id = %(order_id)s", world["params"]))


def test_those_who_may_read_orders_and_tickets_do_read_the_granted_columns(prober, world):
    # The refusals above are about columns, not rows: the same people read the rest.
    for actor in ("owner", "buyer"):
        got = rows(prober, world["callers"][actor],
                   "select buyer_email, status from public.orders where id = %(order_id)s", world["params"])
        assert [r["status"] for r in got] == ["paid"], actor
        got = rows(prober, world["callers"][actor],
                   "select attendee_name, checked_in_at from public.tickets where id = %(ticket_id)s", world["params"])
        assert len(got) == 1 and got[0]["checked_in_at"] is not None, actor


PROMO_MANAGED = {
    "redemptions_count": "update public.promo_codes set redemptions_count = 0 where id = %(promo_id)s returning id",
    "org_id": "update public.promo_codes set org_id = %(rival_org_id)s where id = %(promo_id)s returning id",
    "created_by": "update public.promo_codes set created_by = null where id = %(promo_id)s returning id",
    "redemptions_count on insert": "insert into public.promo_codes (org_id, code, kind, value, redemptions_count)"
                                   " values (%(org_id)s, 'FREEBIE', 'percent', 100, 0) returning id",
}


@pytest.mark.parametrize("column", list(PROMO_MANAGED))
def test_a_manager_cannot_touch_a_promo_codes_managed_columns(prober, db, world, column):
    assert db.value("select redemptions_count from public.promo_codes where id = %s",
                    (world["params"]["promo_id"],)) == 1, "the buyer's order redeemed the code once"
    result = probe(prober, world["callers"]["manager"], PROMO_MANAGED[column], world["params"],
                   "select (select count(*) from public.promo_codes where code = 'FREEBIE')"
                   " + (select count(*) from public.promo_codes where id = %(promo_id)s"
                   "    and (redemptions_count <> 1 or org_id <> %(org_id)s or created_by is null))")
    assert_refused(result)
    assert refusal(result[1]) == "x" and result[2] == 0, column


def test_a_manager_does_edit_a_promo_codes_terms(prober, world):
    _, got, effect = probe(prober, world["callers"]["manager"],
                           "update public.promo_codes set value = 15, active = false where id = %(promo_id)s"
                           " returning id",
                           world["params"],
                           "select count(*) from public.promo_codes where id = %(promo_id)s and value = 15"
                           " and not active")
    assert len(got) == 1 and effect == 1


# ---------------------------------------------------------------------------
# Cross-organization writes.
# ---------------------------------------------------------------------------
def test_a_manager_cannot_create_an_event_in_another_organization(prober, world):
    result = probe(prober, world["callers"]["manager"],
                   "insert into public.events (org_id, title, slug, starts_at)"
                   " values (%(rival_org_id)s, 'Hijack', 'hijack', now() + interval '1 day') returning id",
                   world["params"],
                   "select count(*) from public.events where slug = 'hijack'")
    assert_refused(result)
    assert refusal(result[1]) == "p" and result[2] == 0


def test_a_manager_cannot_move_an_event_into_another_organization(prober, world):
    result = probe(prober, world["callers"]["manager"],
                   "update public.events set org_id = %(rival_org_id)s where id = %(cancelled_event_id)s returning id",
                   world["params"],
                   "select count(*) from public.events where id = %(cancelled_event_id)s"
                   " and org_id = %(rival_org_id)s")
    assert_refused(result)  # the cancelled event has no venue, so only the policy can refuse
    assert refusal(result[1]) == "p"
    assert result[2] == 0


def test_a_manager_cannot_attach_another_orgs_venue_to_their_event(prober, world):
    params = {**world["params"], "rival_venue_id": world["rival_event"]["venue_id"]}
    result = probe(prober, world["callers"]["manager"],
                   "update public.events set venue_id = %(rival_venue_id)s where id = %(event_id)s returning id",
                   params,
                   "select count(*) from public.events where id = %(event_id)s and venue_id = %(rival_venue_id)s")
    assert_refused(result, "PT422", "foreign_venue")
    assert result[2] == 0


def test_a_manager_cannot_create_an_event_at_another_orgs_venue(prober, world):
    params = {**world["params"], "rival_venue_id": world["rival_event"]["venue_id"]}
    result = probe(prober, world["callers"]["manager"],
                   "insert into public.events (org_id, venue_id, title, slug, starts_at)"
                   " values (%(org_id)s, %(rival_venue_id)s, 'Borrowed', 'borrowed', now() + interval '1 day')"
                   " returning id", params)
    assert_refused(result, "PT422", "foreign_venue")


def test_a_manager_cannot_create_a_tier_pointing_at_another_orgs_event(prober, world):
    params = {**world["params"], "rival_event_id": world["rival_event"]["id"]}
    result = probe(prober, world["callers"]["manager"],
                   "insert into public.ticket_tiers (org_id, event_id, name, price_minor, currency, capacity)"
                   " values (%(org_id)s, %(rival_event_id)s, 'Stowaway', 0, 'GBP', 5) returning id",
                   params, "select count(*) from public.ticket_tiers where name = 'Stowaway'")
    assert_refused(result, "PT422", "foreign_event")
    assert result[2] == 0


def test_a_manager_cannot_restrict_their_code_to_another_orgs_tier(prober, world):
    params = {**world["params"], "rival_tier_id": world["rival_tier"]["id"]}
    result = probe(prober, world["callers"]["manager"],
                   "insert into public.promo_code_tiers (promo_code_id, tier_id, org_id)"
                   " values (%(promo_id)s, %(rival_tier_id)s, %(org_id)s) returning tier_id", params)
    assert_refused(result, "PT422", "foreign_tier")


def test_a_rival_owner_cannot_edit_this_orgs_public_event_or_tier(prober, world):
    for table, key in (("events", "event_id"), ("ticket_tiers", "tier_id"), ("venues", "venue_id")):
        _, got, effect = probe(prober, world["callers"]["rival_owner"],
                               f"update public.{table} set org_id = %(rival_org_id)s where id = %({key})s returning id",
                               world["params"],
                               f"select count(*) from public.{table} where id = %({key})s"
                               " and org_id = %(rival_org_id)s")
        assert got == [] and effect == 0, table


# ---------------------------------------------------------------------------
# The public RPCs: who may call them, and what they refuse.
# ---------------------------------------------------------------------------
ANON_FORBIDDEN_CALLS = {
    "check_in_ticket": "select public.check_in_ticket(%(event_id)s, 'abcdefghijklmnop')",
    "event_statistics": "select public.event_statistics(%(event_id)s)",
    "ticket_passes": "select public.ticket_passes(%(order_id)s)",
    "request_refund": "select public.request_refund(%(order_id)s)",
    "private.request_refund": "select private.request_refund(%(order_id)s, null, null)",
    "private.record_payment": "select private.record_payment(%(pending_order_id)s, 'stripe', 'pi_forged', 1, 'GBP')",
    "private.check_in": "select private.check_in(%(event_id)s, 'abcdefghijklmnop', null)",
}


@pytest.mark.parametrize("function", list(ANON_FORBIDDEN_CALLS))
def test_anon_may_not_call_member_or_buyer_functions(prober, world, function):
    result = probe(prober, Caller.anon(), ANON_FORBIDDEN_CALLS[function], world["params"])
    assert_refused(result)
    assert "permission denied for function" in str(result[1]), result[1]


def test_the_only_private_functions_anon_may_execute_are_the_guest_ones(db):
    executable = {r["proname"] for r in db.sql(
        "select proname from pg_proc where pronamespace = 'private'::regnamespace"
        " and has_function_privilege('anon', oid, 'execute')")}
    guest_checkout = {"place_ticket_order", "lookup_order", "event_by_slug", "authorize_guest",
                      "record_buyer_choices"}  # tests/comms/test_languages.py
    postcode_lookup = {"parse_uk_postcode", "haversine_km"}  # pure functions behind public.lookup_postcode
    booking_page = {"covered_postcode", "service_coverage", "available_slots",  # services_for_postcode, slots
                    "org_of_service"}  # a checkout body without org_id (tests/appointments/test_booking.py)
    appointment_guests = {"place_appointment_order", "cancel_appointment_as_guest",
                          "reschedule_appointment_as_guest", "request_appointment_change_as_guest",
                          "review_appointment_as_guest",  # tests/appointments/test_reports.py
                          "check_review"}  # pure input check the guest review calls
    # tests/appointments/test_subscriptions.py
    subscription_guests = {"create_appointment_subscription", "lookup_subscription", "confirm_subscription",
                           "cancel_subscription_as_guest"}
    guest_accounts = {"order_account_status"}  # tests/appointments/test_account_linking.py
    chauffeur_guests = {"quote_reservation", "book_reservation", "lookup_reservation",  # tests/chauffeur/
                        "cancel_reservation_as_guest", "order_to_authorise"}  # tests/chauffeur/test_payments.py
    parking_guests = {"quote_parking", "parking_availability", "place_parking_order",  # tests/parking/
                      "lookup_parking_booking", "parking_change"}
    community = {"is_moderator", "template_rating"}  # read by the public posts and templates (tests/member/)
    rate_limits = {"throttle", "client_subject"}  # every guest request counts (tests/foundation/test_rate_limits.py)
    flags = {"feature_enabled"}  # a public page asks whether PayPal is offered (tests/foundation/test_feature_flags.py)
    assert executable == (guest_checkout | postcode_lookup | booking_page | appointment_guests | subscription_guests
                          | guest_accounts | chauffeur_guests | parking_guests | community | rate_limits | flags)


def test_anon_may_place_a_ticket_order(prober, world):
    status, got, effect = probe(
        prober, Caller.anon(),
        "select public.place_ticket_order(%(event_id)s, jsonb_build_array(jsonb_build_object("
        "'tier_id', %(tier_id)s::text, 'quantity', 1)), 'walkin@example.com', 'Walk In') as s",
        world["params"], "select count(*) from public.orders where buyer_email = 'walkin@example.com'")
    assert status == "ok", got
    assert got[0]["s"]["status"] == "pending" and got[0]["s"]["tracking_token"]
    assert effect == 1


def test_anon_may_look_up_a_guest_order_with_its_token_and_nothing_without(prober, world):
    guest = world["guest"]
    params = {"number": guest["number"], "token": guest["tracking_token"]}
    got = rows(prober, Caller.anon(), "select public.lookup_order(%(number)s, %(token)s) as o", params)
    assert got[0]["o"]["order_id"] == guest["order_id"]
    assert [t["secret"] for t in got[0]["o"]["tickets"]] == []  # pending: no tickets yet
    got = rows(prober, Caller.anon(), "select public.lookup_order(%(number)s, 'wrong-token') as o", params)
    assert got[0]["o"] is None


def test_anon_may_read_a_published_event_by_slug_but_not_a_draft(prober, world):
    org_slug = world["team"]["org"]["slug"]
    for ev, visible in ((world["event"], True), (world["unlisted"], True), (world["draft"], False)):
        got = rows(prober, Caller.anon(), "select public.event_by_slug(%s, %s) as e", (org_slug, ev["slug"]))
        assert (got[0]["e"] is not None) is visible, ev["status"]
        if visible:
            on_sale = {str(world["params"][k]) for k in ("tier_id", "unsold_tier_id", "unlisted_tier_id")}
            assert {t["id"] for t in got[0]["e"]["tiers"]} <= on_sale


def test_staff_of_the_rival_org_cannot_check_in_for_this_orgs_event(prober, world):
    result = probe(prober, world["callers"]["rival_staff"],
                   "select public.check_in_ticket(%(event_id)s, %(secret)s) as r",
                   {**world["params"], "secret": world["ticket"]["secret"]},
                   "select count(*) from public.check_ins where event_id = %(event_id)s")
    assert_refused(result, "PT403", "not_event_staff")
    assert result[2] == 1  # still only the one scan from the world


def test_this_orgs_staff_scanning_again_is_told_it_was_already_checked_in(prober, world):
    status, got, effect = probe(prober, world["callers"]["staff"],
                                "select public.check_in_ticket(%(event_id)s, %(secret)s) as r",
                                {**world["params"], "secret": world["ticket"]["secret"]},
                                "select count(*) from public.check_ins where event_id = %(event_id)s")
    assert status == "ok", got
    assert got[0]["r"]["result"] == "already_checked_in"
    assert effect == 2


@pytest.mark.parametrize(("actor", "allowed"), [("owner", True), ("admin", True), ("manager", True),
                                                 ("staff", False), ("driver", False), ("rival_owner", False),
                                                 ("buyer", False)])
def test_event_statistics_are_for_managers_and_up(prober, world, actor, allowed):
    result = probe(prober, world["callers"][actor], "select public.event_statistics(%(event_id)s) as s",
                   world["params"])
    if allowed:
        assert result[0] == "ok", result[1]
        assert result[1][0]["s"]["event_id"] == str(world["params"]["event_id"])
    else:
        assert_refused(result, "PT404", "event_not_found")


@pytest.mark.parametrize(("actor", "allowed"), [("owner", True), ("admin", True), ("manager", False),
                                                 ("staff", False), ("rival_owner", False), ("buyer", False),
                                                 ("outsider", False)])
def test_refunds_are_requested_by_owners_and_admins_only(prober, world, actor, allowed):
    result = probe(prober, world["callers"][actor],
                   "select (public.request_refund(%(order_id)s, 100, %(marker)s)).id", world["params"],
                   "select count(*) from public.refunds where order_id = %(order_id)s and reason = %(marker)s")
    if allowed:
        assert result[0] == "ok", result[1]
        assert len(result[1]) == 1 and result[2] == 1
    else:
        assert_refused(result, "PT404", "order_not_found")
        assert result[2] == 0


@pytest.mark.parametrize(("actor", "allowed"), [("buyer", True), ("other_buyer", False), ("owner", False),
                                                 ("staff", False)])
def test_ticket_passes_with_secrets_are_for_the_buyer_only(prober, world, actor, allowed):
    result = probe(prober, world["callers"][actor], "select public.ticket_passes(%(order_id)s) as t",
                   world["params"])
    if allowed:
        assert result[0] == "ok", result[1]
        assert world["ticket"]["secret"] in {t["secret"] for t in result[1][0]["t"]}
    else:
        assert_refused(result, "PT404", "order_not_found")


# ---------------------------------------------------------------------------
# Latent holes in the privileged helpers (not reachable through PostgREST or
# shared/platform/auth.py today, which expose only `public` and require a role claim;
# the database is meant to be the authority on its own).
# ---------------------------------------------------------------------------
def test_a_staff_member_whose_claims_lack_a_role_still_cannot_refund(prober, world):
    # private.request_refund lets anyone through when auth.role() is null:
    # `null <> 'service_role'` is null, so the owner/admin check never raises.
    no_role_claim = Caller("authenticated", {"sub": world["people"]["staff"].id})
    result = probe(prober, no_role_claim, "select (public.request_refund(%(order_id)s, 100, %(marker)s)).id",
                   world["params"],
                   "select count(*) from public.refunds where order_id = %(order_id)s and reason = %(marker)s")
    assert result[0] == "error" and result[2] == 0, (
        f"BUG: request_refund fails open without a role claim: staff queued {result[2]} refund(s)")
    assert_refused(result, "PT404", "order_not_found")


def test_anon_cannot_pick_the_clock_or_the_hold_length_of_a_checkout(prober, world):
    # anon holds EXECUTE on private.place_ticket_order, whose p_now and p_hold
    # decide the sale window, the event's end and how long seats stay held.
    result = probe(prober, Caller.anon(),
                   "select private.place_ticket_order(%(event_id)s, jsonb_build_array(jsonb_build_object("
                   "'tier_id', %(ended_tier_id)s::text, 'quantity', 1)), 'clock@example.com', 'Clock',"
                   " null, null, null, interval '100 years', now() - interval '5 days') as s",
                   world["params"],
                   "select count(*) from public.orders where buyer_email = 'clock@example.com'")
    assert result[0] == "error" and result[2] == 0, (
        "BUG: anon called private.place_ticket_order with its own p_now/p_hold and holds a closed tier's seat"
        f" until {result[1][0]['s']['hold_expires_at'] if result[0] == 'ok' else '?'}")
