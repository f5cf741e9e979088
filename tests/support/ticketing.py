"""Builders for ticketing tests: a published event with tiers, promo codes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from tests.support import factories
from tests.support.pg import Db


def event(db: Db, organization: dict | None = None, *, status: str = "published", visibility: str = "public",
          starts_in: timedelta = timedelta(days=30), with_venue: bool = True) -> dict:
    organization = organization or factories.org(db)
    venue = None
    if with_venue:
        venue = db.one("insert into public.venues (org_id, name, city, capacity) values (%s, %s, 'London', 500)"
                       " returning *", (organization["id"], f"Hall {uuid.uuid4().hex[:6]}"))
    starts = datetime.now(timezone.utc) + starts_in
    row = db.one(
        "insert into public.events (org_id, venue_id, title, slug, starts_at, ends_at)"
        " values (%s, %s, %s, %s, %s, %s) returning *",
        (organization["id"], venue["id"] if venue else None, "Spring Gala", f"gala-{uuid.uuid4().hex[:8]}",
         starts, starts + timedelta(hours=3)),
    )
    if status != "draft":
        db.sql("update public.events set status = 'published' where id = %s", (row["id"],))
        if status != "published":
            db.sql("update public.events set status = %s where id = %s", (status, row["id"]))
    db.sql("update public.events set visibility = %s where id = %s", (visibility, row["id"]))
    row = db.one("select * from public.events where id = %s", (row["id"],))
    row["org"] = organization
    row["venue"] = venue
    return row


def tier(db: Db, ev: dict, *, name: str = "General", price_minor: int = 2500, capacity: int = 100,
         currency: str = "GBP", min_per_order: int = 1, max_per_order: int = 10,
         sale_starts_at: datetime | None = None, sale_ends_at: datetime | None = None) -> dict:
    return db.one(
        "insert into public.ticket_tiers (org_id, event_id, name, price_minor, currency, capacity,"
        " min_per_order, max_per_order, sale_starts_at, sale_ends_at)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning *",
        (ev["org_id"], ev["id"], name, price_minor, currency, capacity, min_per_order, max_per_order,
         sale_starts_at, sale_ends_at),
    )


def promo(db: Db, organization_id, *, code: str | None = None, kind: str = "percent", value: int = 10,
          currency: str | None = None, max_redemptions: int | None = None, per_customer_limit: int | None = None,
          tiers: list[dict] | None = None, valid_from=None, valid_until=None) -> dict:
    row = db.one(
        "insert into public.promo_codes (org_id, code, kind, value, currency, max_redemptions,"
        " per_customer_limit, valid_from, valid_until) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) returning *",
        (organization_id, code or f"SAVE{uuid.uuid4().hex[:6].upper()}", kind, value, currency, max_redemptions,
         per_customer_limit, valid_from, valid_until),
    )
    for t in tiers or []:
        db.sql("insert into public.promo_code_tiers (promo_code_id, tier_id, org_id) values (%s, %s, %s)",
               (row["id"], t["id"], organization_id))
    return row


def seats_taken(db: Db, tier_id) -> int:
    return db.value("select count(*) from private.ticket_seats where tier_id = %s and order_id is not null", (tier_id,))


@contextmanager
def webhooks_held(stack) -> Iterator[None]:
    """Stripe keeps its events (queued) instead of delivering them, until `flush()`."""
    url = stack.stripe.webhook_url
    stack.stripe.webhook_url = None
    try:
        yield
    finally:
        stack.stripe.webhook_url = url
