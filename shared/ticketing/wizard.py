"""The AI event wizard's tools: save a draft event, suggest venues, work out a budget.

The agent runtime (shared/providers/ai/) calls these with an open transaction that acts
AS THE CALLER (role `authenticated` + JWT claims, exactly as PostgREST), so
row-level security decides who may read and write; nothing here uses
service_role. Each tool takes `(cur, ctx, args)`: `ctx` says which organization
and draft the wizard session is about and what time it is; `args` is the
pydantic model the language model filled in (its JSON schema, with the Field
descriptions, is what the model sees).

Writes run inside a savepoint: a refusal rolls back everything the tool wrote
and leaves the caller's transaction usable, so the runtime can report the
error to the model and carry on.

Times without a UTC offset are read as wall-clock times in the organization's
timezone (what a person means by "7pm on the 12th").

Error codes (DomainError.code), by tool:
  save_event_draft
    422 starts_in_past     starts_at is not after ctx.now
    422 invalid_times      ends_at is not after starts_at (after reading local times)
    422 event_mismatch     args.event_id and the session's draft (ctx.event_id) differ
    422 foreign_venue      venue_id is not one of the organization's venues (DB trigger)
    422 mixed_currency     tiers would end up in more than one currency
    403 forbidden          the caller may not write events in this organization (RLS)
    404 event_not_found    the draft to update is not visible to the caller in this organization
    409 not_a_draft        the event to update is no longer a draft
    4xx                    any other database refusal, as shared.platform.errors.from_database maps it
  suggest_venues           none of its own: a caller outside the organization just sees no venues
  calculate_budget         none: bad inputs are refused by CalculateBudgetArgs (pydantic)
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import datetime as dt
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg import errors as pg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from shared.platform import errors

__all__ = [
    "WizardContext",
    "DraftTier", "SaveEventDraftArgs", "save_event_draft",
    "SuggestVenuesArgs", "suggest_venues",
    "BudgetTier", "CalculateBudgetArgs", "calculate_budget",
    "TOOLS", "run_tool",
]


@dataclass(frozen=True)
class WizardContext:
    """What a tool call is about, decided by the runtime and never by the model."""

    org_id: str            # the organization the wizard session belongs to
    session_id: str | None
    event_id: str | None   # the draft event this session has saved so far, if any
    now: datetime          # injected clock (timezone-aware)


# ---------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------
class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")]
MAX_PRICE_MINOR = 1_000_000_000        # 10 million in a two-decimal currency: a typo guard, not a policy
MAX_AMOUNT_MINOR = 1_000_000_000_000   # any single cost line


def _rows(cur: psycopg.Cursor) -> psycopg.Cursor:
    """A dict-row cursor on the caller's connection: same transaction, same role and claims."""
    return cur if cur.row_factory is dict_row else cur.connection.cursor(row_factory=dict_row)


def _org(cur: psycopg.Cursor, org_id: str) -> dict | None:
    """The organization as RLS lets the caller see it: None unless the caller is a member."""
    cur.execute("select id, timezone, currency from public.organizations where id = %s::uuid", (org_id,))
    return cur.fetchone()


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """A time without an offset is a wall-clock time in the organization's timezone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=zone)


def _comparable(a: datetime, b: datetime) -> bool:
    return (a.tzinfo is None) == (b.tzinfo is None)


@contextmanager
def _savepoint(cur: psycopg.Cursor) -> Iterator[None]:
    """All or nothing inside the caller's transaction; database refusals become DomainErrors."""
    try:
        with cur.connection.transaction():
            yield
    except psycopg.Error as exc:
        raise _refusal(exc) from exc


def _refusal(exc: psycopg.Error) -> Exception:
    if isinstance(exc, pg.InsufficientPrivilege):
        return errors.forbidden(
            "forbidden", "You may not save events in this organization: only its owners, admins and managers can")
    translated = errors.from_database(exc)
    if translated is None:
        return exc
    if translated.code == "foreign_venue":
        return errors.unprocessable(
            "foreign_venue", "That venue is not one of this organization's venues; pick one from suggest_venues",
            {"field": "venue_id"})
    return translated


# ---------------------------------------------------------------------------
# save_event_draft
# ---------------------------------------------------------------------------
class DraftTier(_Args):
    """One kind of ticket in the draft."""

    name: str = Field(min_length=1, max_length=120, description="Ticket type name, e.g. 'General admission' or 'VIP'.")
    price_minor: int = Field(ge=0, le=MAX_PRICE_MINOR,
                             description="Price per ticket in minor units (pence/cents): 2500 means 25.00. 0 = free.")
    capacity: int = Field(ge=1, le=100_000, description="How many tickets of this type can be sold (1-100000).")
    currency: Currency | None = Field(
        None, description="ISO 4217 code such as GBP or EUR. Leave out to use the organization's currency.")
    min_per_order: int = Field(1, ge=1, le=100, description="Fewest tickets of this type in one order.")
    max_per_order: int = Field(10, ge=1, le=100, description="Most tickets of this type in one order.")
    sale_starts_at: datetime | None = Field(
        None, description="When sales open (ISO 8601). Without an offset it is local time in the organization's "
                          "timezone. Leave out to sell as soon as the event is published.")
    sale_ends_at: datetime | None = Field(
        None, description="When sales close (ISO 8601, same rules). Leave out to sell until the event.")

    @model_validator(mode="after")
    def _limits(self) -> "DraftTier":
        if self.max_per_order < self.min_per_order:
            raise ValueError("max_per_order must be at least min_per_order")
        s, e = self.sale_starts_at, self.sale_ends_at
        if s is not None and e is not None and _comparable(s, e) and e <= s:
            raise ValueError("sale_ends_at must be after sale_starts_at")
        return self


class SaveEventDraftArgs(_Args):
    """The whole draft: send every field each time; what is left out is cleared, and the
    tiers listed replace the draft's tiers (a tier keeps its id while its name stays the same)."""

    event_id: uuid.UUID | None = Field(
        None, description="The draft to update. Leave out: the session's own draft is updated, or a new one created.")
    title: str = Field(min_length=1, max_length=200, description="Event title, 1-200 characters.")
    description: str | None = Field(None, max_length=20_000, description="What attendees should know, plain text.")
    starts_at: datetime = Field(
        description="Start (ISO 8601, e.g. 2027-06-12T19:00:00). Without an offset it is local time in the "
                    "organization's timezone. Must be in the future.")
    ends_at: datetime | None = Field(None, description="End (ISO 8601, same rules); after starts_at.")
    venue_id: uuid.UUID | None = Field(
        None, description="One of the organization's venues, as returned by suggest_venues. Leave out if undecided.")
    tiers: list[DraftTier] = Field(min_length=1, max_length=20, description="Ticket types, 1-20, names unique.")

    @model_validator(mode="after")
    def _consistent(self) -> "SaveEventDraftArgs":
        if self.ends_at is not None and _comparable(self.starts_at, self.ends_at) and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        names = [t.name.casefold() for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        currencies = {t.currency for t in self.tiers if t.currency}
        if len(currencies) > 1:
            raise ValueError("all tiers of one event share one currency")
        return self


def slugify(title: str, suffix: str | None = None) -> str:
    """'Summer Gala 2027!' -> 'summer-gala-2027-3f9a1c2b': lower-case ASCII words joined by
    dashes, plus a random suffix so two drafts with one title never collide."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:90].rstrip("-") or "event"
    return f"{base}-{suffix or secrets.token_hex(4)}"


def save_event_draft(cur: psycopg.Cursor, ctx: WizardContext, args: SaveEventDraftArgs) -> dict:
    """Create the session's draft event in ctx.org_id, or update it, and replace its tiers.

    Updates the draft named by args.event_id or ctx.event_id (they must agree when both
    are given); creates one otherwise. Only drafts change: a published event is 409
    not_a_draft. Whether the caller may write is RLS's decision (owners, admins and
    managers of the organization); a refusal is 403 and leaves nothing written.

    Returns {"event_id", "title", "slug", "starts_at", "ends_at", "status", "venue_id",
    "created", "tiers": [{"id", "name", "price_minor", "currency", "capacity"}]},
    times as ISO 8601 strings in UTC.
    """
    cur = _rows(cur)
    target = str(args.event_id) if args.event_id else ctx.event_id
    if args.event_id and ctx.event_id and str(args.event_id) != str(ctx.event_id):
        raise errors.unprocessable(
            "event_mismatch", "This wizard session is editing a different draft; leave event_id out",
            {"session_event_id": str(ctx.event_id)})

    # Read under RLS: a non-member sees no organization. That is not the refusal
    # (the policies on events are); it only means there is no timezone to read.
    org = _org(cur, ctx.org_id)
    zone = _zone(org["timezone"] if org else None)
    starts_at, ends_at = _local(args.starts_at, zone), _local(args.ends_at, zone)
    if starts_at <= ctx.now:
        raise errors.unprocessable("starts_in_past", "The event must start in the future",
                                   {"field": "starts_at", "now": ctx.now.isoformat()})
    if ends_at is not None and ends_at <= starts_at:
        raise errors.unprocessable("invalid_times", "The event must end after it starts", {"field": "ends_at"})

    values = {
        "org_id": ctx.org_id, "event_id": target, "title": args.title, "slug": slugify(args.title),
        "description": args.description, "starts_at": starts_at, "ends_at": ends_at,
        "venue_id": args.venue_id,
    }
    with _savepoint(cur):
        if target is None:
            cur.execute(
                """
                insert into public.events (org_id, venue_id, title, slug, description, starts_at, ends_at)
                values (%(org_id)s::uuid, %(venue_id)s, %(title)s, %(slug)s, %(description)s,
                        %(starts_at)s, %(ends_at)s)
                returning id, title, slug, starts_at, ends_at, status, venue_id
                """, values)
            event = cur.fetchone()
        else:
            # The status test is in the statement, so a publish racing this save cannot slip by.
            cur.execute(
                """
                update public.events
                set title = %(title)s,
                    slug = case when title = %(title)s then slug else %(slug)s end,
                    description = %(description)s, starts_at = %(starts_at)s, ends_at = %(ends_at)s,
                    venue_id = %(venue_id)s
                where id = %(event_id)s::uuid and org_id = %(org_id)s::uuid and status = 'draft'
                returning id, title, slug, starts_at, ends_at, status, venue_id
                """, values)
            event = cur.fetchone()
            if event is None:
                raise _why_not_updated(cur, ctx, target)
        tiers = _replace_tiers(cur, ctx, event["id"], args.tiers, org)
    return {
        "event_id": str(event["id"]),
        "title": event["title"],
        "slug": event["slug"],
        "starts_at": _iso(event["starts_at"]),
        "ends_at": _iso(event["ends_at"]),
        "status": str(event["status"]),
        "venue_id": str(event["venue_id"]) if event["venue_id"] else None,
        "created": target is None,
        "tiers": tiers,
    }


def _why_not_updated(cur: psycopg.Cursor, ctx: WizardContext, event_id: str) -> errors.DomainError:
    """The update matched nothing: explain it with what RLS lets the caller see."""
    cur.execute("select status from public.events where id = %s::uuid and org_id = %s::uuid",
                (event_id, ctx.org_id))
    row = cur.fetchone()
    if row is None:
        return errors.not_found("event_not_found", "That draft event does not exist in this organization")
    if str(row["status"]) != "draft":
        return errors.conflict("not_a_draft", f"The event is {row['status']}; the wizard only edits drafts",
                               {"status": str(row["status"])})
    return errors.forbidden(
        "forbidden", "You may not edit events in this organization: only its owners, admins and managers can")


def _replace_tiers(cur: psycopg.Cursor, ctx: WizardContext, event_id: Any, wanted: list[DraftTier],
                   org: dict | None) -> list[dict]:
    # Past the event write, so RLS has already found the caller to be a manager of the
    # organization, and the organization (with its currency) is visible to them.
    default_currency = (org or _org(cur, ctx.org_id) or {}).get("currency")
    currencies = {t.currency or default_currency for t in wanted}
    if None in currencies:
        raise errors.not_found("org_not_found", "The organization is not visible to you")
    if len(currencies) > 1:
        raise errors.unprocessable(
            "mixed_currency", "All tiers of one event share one currency", {"currencies": sorted(currencies)})
    currency = currencies.pop().strip()

    cur.execute("select id, name from public.ticket_tiers where event_id = %s", (event_id,))
    existing = {row["name"]: row["id"] for row in cur.fetchall()}
    keep = {t.name for t in wanted}
    gone = [tier_id for name, tier_id in existing.items() if name not in keep]
    if gone:
        cur.execute("delete from public.ticket_tiers where id = any(%s)", (gone,))

    saved = []
    for order, tier in enumerate(wanted):
        row = {
            "id": existing.get(tier.name), "org_id": ctx.org_id, "event_id": event_id, "name": tier.name,
            "price_minor": tier.price_minor, "currency": currency, "capacity": tier.capacity,
            "min_per_order": tier.min_per_order, "max_per_order": tier.max_per_order,
            "sale_starts_at": tier.sale_starts_at, "sale_ends_at": tier.sale_ends_at, "sort_order": order,
        }
        zone = None
        for key in ("sale_starts_at", "sale_ends_at"):
            if row[key] is not None and row[key].tzinfo is None:
                zone = zone or _zone((org or {}).get("timezone"))
                row[key] = row[key].replace(tzinfo=zone)
        if row["sale_starts_at"] and row["sale_ends_at"] and row["sale_ends_at"] <= row["sale_starts_at"]:
            raise errors.unprocessable("invalid_times", f"Sales for {tier.name} must close after they open",
                                       {"field": "sale_ends_at"})
        if row["id"] is None:
            cur.execute(
                """
                insert into public.ticket_tiers (org_id, event_id, name, price_minor, currency, capacity,
                  min_per_order, max_per_order, sale_starts_at, sale_ends_at, sort_order)
                values (%(org_id)s::uuid, %(event_id)s, %(name)s, %(price_minor)s, %(currency)s, %(capacity)s,
                  %(min_per_order)s, %(max_per_order)s, %(sale_starts_at)s, %(sale_ends_at)s, %(sort_order)s)
                returning id, name, price_minor, currency, capacity
                """, row)
        else:
            cur.execute(
                """
                update public.ticket_tiers
                set price_minor = %(price_minor)s, currency = %(currency)s, capacity = %(capacity)s,
                    min_per_order = %(min_per_order)s, max_per_order = %(max_per_order)s,
                    sale_starts_at = %(sale_starts_at)s, sale_ends_at = %(sale_ends_at)s, sort_order = %(sort_order)s
                where id = %(id)s
                returning id, name, price_minor, currency, capacity
                """, row)
        out = cur.fetchone()
        saved.append({"id": str(out["id"]), "name": out["name"], "price_minor": out["price_minor"],
                      "currency": out["currency"].strip(), "capacity": out["capacity"]})
    return saved


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ---------------------------------------------------------------------------
# suggest_venues
# ---------------------------------------------------------------------------
VENUE_LIMIT = 10


class SuggestVenuesArgs(_Args):
    city: str | None = Field(None, min_length=1, max_length=100,
                             description="Only venues in this city (case-insensitive exact name).")
    min_capacity: int | None = Field(None, ge=1, le=1_000_000,
                                     description="Only venues holding at least this many people.")
    date: dt.date | None = Field(
        None, description="The event's date (YYYY-MM-DD, in the organization's timezone): venues already "
                          "booked that day by the organization's other events are left out.")


def suggest_venues(cur: psycopg.Cursor, ctx: WizardContext, args: SuggestVenuesArgs) -> dict:
    """The organization's venues that fit, best fit first (smallest capacity that still
    holds min_capacity; unknown capacities last), at most 10.

    A venue is booked on `date` when one of the organization's draft or published events
    other than this session's draft (ctx.event_id) uses it and its time span meets that
    calendar day in the organization's timezone; booked venues are listed by id in
    `excluded_booked` instead. Everything is read under RLS, and the organization is
    joined in: a caller outside it sees no organization row and so gets no venues, even
    those that published events have made public.

    Returns {"venues": [{"id", "name", "city", "capacity", "address"}], "excluded_booked": [ids]}.
    """
    cur = _rows(cur)
    cur.execute(
        """
        with org as (
          select o.id, o.timezone from public.organizations o where o.id = %(org_id)s::uuid
        ), day as (
          select case when %(day)s::date is null then null
                      else tstzrange(%(day)s::date::timestamp at time zone org.timezone,
                                     (%(day)s::date + 1)::timestamp at time zone org.timezone, '[)')
                 end as span
          from org
        ), candidates as (
          select v.id, v.name, v.city, v.capacity, v.address,
                 exists (
                   select 1 from public.events e
                   where e.venue_id = v.id and e.org_id = v.org_id
                     and e.status in ('draft', 'published')
                     and e.id is distinct from %(event_id)s::uuid
                     and case when e.ends_at is null then tstzrange(e.starts_at, e.starts_at, '[]')
                              else tstzrange(e.starts_at, e.ends_at, '[)') end && day.span
                 ) as booked
          from public.venues v
          join org on org.id = v.org_id
          cross join day
          where (%(city)s::text is null or lower(btrim(v.city)) = lower(%(city)s::text))
            and (%(min_capacity)s::integer is null or v.capacity >= %(min_capacity)s::integer)
        ), ranked as (
          select c.*, row_number() over (
                   partition by c.booked order by c.capacity asc nulls last, c.name, c.id) as rank
          from candidates c
        )
        select id, name, city, capacity, address, booked from ranked
        where booked or rank <= %(limit)s
        order by booked, rank
        """,
        {"org_id": ctx.org_id, "day": args.date, "event_id": ctx.event_id, "city": args.city,
         "min_capacity": args.min_capacity, "limit": VENUE_LIMIT},
    )
    rows = cur.fetchall()
    return {
        "venues": [{"id": str(r["id"]), "name": r["name"], "city": r["city"], "capacity": r["capacity"],
                    "address": r["address"]} for r in rows if not r["booked"]],
        "excluded_booked": [str(r["id"]) for r in rows if r["booked"]],
    }


# ---------------------------------------------------------------------------
# calculate_budget
# ---------------------------------------------------------------------------
class BudgetTier(_Args):
    name: str = Field(min_length=1, max_length=120, description="Ticket type name.")
    price_minor: int = Field(ge=0, le=MAX_PRICE_MINOR, description="Price per ticket in minor units (2500 = 25.00).")
    capacity: int = Field(ge=1, le=100_000, description="Tickets of this type on sale.")


Money = Annotated[int, Field(ge=0, le=MAX_AMOUNT_MINOR)]


class CalculateBudgetArgs(_Args):
    """All money in integer minor units (pence/cents): 150000 means 1,500.00."""

    venue_cost_minor: Money = Field(0, description="Venue hire, minor units.")
    expected_attendees: int | None = Field(
        None, ge=0, le=1_000_000,
        description="People to cater for. Leave out to use the expected ticket sales from the tiers.")
    catering_per_head_minor: Money = Field(0, description="Catering cost per attendee, minor units.")
    staff_count: int = Field(0, ge=0, le=10_000, description="How many paid staff.")
    staff_cost_each_minor: Money = Field(0, description="Cost per staff member, minor units.")
    marketing_minor: Money = Field(0, description="Marketing spend, minor units.")
    payment_fee_percent: Decimal = Field(
        Decimal("1.5"), ge=0, lt=100, decimal_places=4,
        description="Card fee as a percent of gross ticket revenue, e.g. 1.5.")
    payment_fee_fixed_minor: int = Field(20, ge=0, le=100_000,
                                         description="Fixed card fee per paid ticket, minor units.")
    tiers: list[BudgetTier] = Field(
        default_factory=list, max_length=20,
        description="Ticket types with price and capacity. Leave empty to price from expected_attendees alone.")
    sell_through: Decimal = Field(
        Decimal("0.8"), ge=0, le=1, decimal_places=4,
        description="Share of each tier's capacity expected to sell, 0-1 (0.8 = 80%).")
    currency: Currency | None = Field(None, description="ISO 4217 code for display; default: the organization's.")


_ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
                 "XAF", "XOF", "XPF"}


def _fmt(minor: int, currency: str) -> str:
    sign = "-" if minor < 0 else ""
    if currency in _ZERO_DECIMAL:
        return f"{sign}{abs(minor):,} {currency}"
    return f"{sign}{abs(minor) // 100:,}.{abs(minor) % 100:02d} {currency}"


def _fraction(value: Decimal) -> tuple[int, int]:
    """An exact decimal as integer numerator / denominator (both ints, denominator a power of ten)."""
    sign, digits, exponent = value.as_tuple()
    numerator = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    if exponent >= 0:
        return numerator * 10 ** exponent, 1
    return numerator, 10 ** -exponent


def percent_fee(gross: int, fee_num: int, fee_den: int) -> int:
    """gross × fee% rounded half up, in integers: fee% = fee_num / fee_den percent."""
    return (2 * gross * fee_num + 100 * fee_den) // (200 * fee_den)


def calculate_budget(cur: psycopg.Cursor | None, ctx: WizardContext, args: CalculateBudgetArgs) -> dict:
    """An event budget in integer minor units, with the working shown line by line.

    Formulas (all integers; r = payment_fee_percent / 100, held as an exact fraction):
      costs        = venue + attendees × catering_per_head + staff_count × staff_cost_each + marketing
                     (attendees = expected_attendees, or the expected tickets n below when left out)
      sold_t       = floor(capacity_t × sell_through)                  per tier, exact
      n            = Σ sold_t, or expected_attendees when no tiers are given
      gross        = Σ sold_t × price_t
      fees         = round_half_up(gross × r) + fixed × (Σ sold_t over tiers with price > 0)
      net          = gross − fees;   profit = net − costs
      break-even p = the smallest integer p ≥ 0 with f(p) ≥ costs, where f(0) = 0 (free tickets
                     pay no fees) and, for p ≥ 1, f(p) = n·p − round_half_up(n·p·r) − n·fixed.
                     f is non-decreasing for p ≥ 1 (r < 1), so: start from the exact ceiling
                     p0 = ceil((costs + n·fixed) / (n·(1 − r))), step down while f(p0 − 1) ≥ costs,
                     step up while f(p0) < costs. None when n = 0 and costs > 0.
    `cur` is only used to read the organization's currency (under RLS) when none is given.
    """
    currency = args.currency
    if currency is None and cur is not None:
        org = _org(_rows(cur), ctx.org_id)
        currency = org["currency"].strip() if org else None
    currency = currency or "GBP"
    m = lambda minor: _fmt(minor, currency)  # noqa: E731
    fee_num, fee_den = _fraction(args.payment_fee_percent)     # fee% = fee_num / fee_den
    st_num, st_den = _fraction(args.sell_through)              # sell_through = st_num / st_den
    fixed = args.payment_fee_fixed_minor
    working: list[str] = []

    # Tickets first: catering may default to the expected sales.
    tickets = []
    for tier in args.tiers:
        sold = tier.capacity * st_num // st_den
        tickets.append({"name": tier.name, "price_minor": tier.price_minor, "capacity": tier.capacity,
                        "expected_sold": sold, "revenue_minor": sold * tier.price_minor})
    n = sum(t["expected_sold"] for t in tickets) if tickets else (args.expected_attendees or 0)
    attendees = args.expected_attendees if args.expected_attendees is not None else n

    cost_lines = [
        ("Venue", args.venue_cost_minor, f"Venue: {m(args.venue_cost_minor)}"),
        ("Catering", attendees * args.catering_per_head_minor,
         f"Catering: {attendees} attendees × {m(args.catering_per_head_minor)} = "
         f"{m(attendees * args.catering_per_head_minor)}"),
        ("Staff", args.staff_count * args.staff_cost_each_minor,
         f"Staff: {args.staff_count} × {m(args.staff_cost_each_minor)} = "
         f"{m(args.staff_count * args.staff_cost_each_minor)}"),
        ("Marketing", args.marketing_minor, f"Marketing: {m(args.marketing_minor)}"),
    ]
    total_costs = sum(amount for _, amount, _ in cost_lines)
    working += [line for _, _, line in cost_lines]
    working.append(f"Total costs: {' + '.join(m(a) for _, a, _ in cost_lines)} = {m(total_costs)}")

    for t in tickets:
        working.append(
            f"{t['name']}: floor({t['capacity']} × {args.sell_through}) = {t['expected_sold']} tickets"
            f" × {m(t['price_minor'])} = {m(t['revenue_minor'])}")
    gross = sum(t["revenue_minor"] for t in tickets)
    paid_tickets = sum(t["expected_sold"] for t in tickets if t["price_minor"] > 0)
    fee_percent_part = percent_fee(gross, fee_num, fee_den)
    fee_fixed_part = paid_tickets * fixed
    fees = fee_percent_part + fee_fixed_part
    net = gross - fees
    profit = net - total_costs
    working += [
        f"Gross revenue: {m(gross)}",
        f"Payment fees: {args.payment_fee_percent}% of {m(gross)} = {m(fee_percent_part)} (rounded half up)"
        f" + {paid_tickets} paid tickets × {m(fixed)} = {m(fee_fixed_part)}; total {m(fees)}",
        f"Net revenue: {m(gross)} − {m(fees)} = {m(net)}",
        f"Profit: {m(net)} − {m(total_costs)} = {m(profit)}",
    ]

    def take_home(p: int) -> int:
        """f(p): what n tickets at price p leave after fees."""
        if p == 0:
            return 0
        gross_p = n * p
        return gross_p - percent_fee(gross_p, fee_num, fee_den) - n * fixed

    break_even: int | None
    if total_costs == 0:
        break_even = 0
        working.append("Break-even price: 0 (there are no costs to cover)")
    elif n == 0:
        break_even = None
        working.append("Break-even price: none (no tickets are expected to sell)")
    else:
        # p0 = ceil((C + n·F) / (n·(1 − fee_num/(100·fee_den)))) = ceil((C + n·F)·100·fee_den / (n·(100·fee_den − fee_num)))
        numerator = (total_costs + n * fixed) * 100 * fee_den
        denominator = n * (100 * fee_den - fee_num)
        p = max(1, -(-numerator // denominator))
        while p > 1 and take_home(p - 1) >= total_costs:
            p -= 1
        while take_home(p) < total_costs:
            p += 1
        break_even = p
        working.append(
            f"Break-even price: {m(p)} per ticket — {n} tickets × {m(p)} = {m(n * p)}, less "
            f"{m(percent_fee(n * p, fee_num, fee_den))} percent fee and {m(n * fixed)} fixed fees, leaves "
            f"{m(take_home(p))} ≥ costs {m(total_costs)}"
            + (f"; at {m(p - 1)} it would leave {m(take_home(p - 1))}" if p > 1 else ""))

    return {
        "currency": currency,
        "costs": {
            "lines": [{"item": item, "amount_minor": amount} for item, amount, _ in cost_lines],
            "total_minor": total_costs,
        },
        "tickets": tickets,
        "expected_tickets": n,
        "gross_revenue_minor": gross,
        "payment_fees": {"percent_minor": fee_percent_part, "fixed_minor": fee_fixed_part, "total_minor": fees},
        "net_revenue_minor": net,
        "profit_minor": profit,
        "break_even_price_minor": break_even,
        "working": working,
    }


# ---------------------------------------------------------------------------
# The tool table the runtime hands to the model
# ---------------------------------------------------------------------------
TOOLS: dict[str, tuple[str, type[BaseModel], Callable]] = {
    "save_event_draft": (
        "Save the event being planned as a draft (never published): title, start/end, optional venue, "
        "and its ticket types. Call it again with the complete draft to change anything; the listed "
        "tiers replace the previous ones. Prices are in minor units (2500 = 25.00). Returns the saved "
        "draft with its event_id.",
        SaveEventDraftArgs, save_event_draft),
    "suggest_venues": (
        "List the organization's own venues that fit: optionally in a city, holding at least "
        "min_capacity people, and free on a date (venues booked that day by other events are left out "
        "and listed by id in excluded_booked). Best capacity fit first, at most 10.",
        SuggestVenuesArgs, suggest_venues),
    "calculate_budget": (
        "Work out an event budget exactly: costs (venue, catering per head, staff, marketing), expected "
        "ticket sales per tier at a sell-through rate, gross revenue, card fees, net revenue, profit, and "
        "the break-even ticket price. All money in integer minor units; the answer shows its working.",
        CalculateBudgetArgs, calculate_budget),
}


def run_tool(cur: psycopg.Cursor | None, ctx: WizardContext, name: str, arguments: dict | str) -> dict:
    """Validate the model's arguments (a dict or a JSON string) and call the tool.
    Unknown tools and invalid arguments are 422 DomainErrors whose details list the problems."""
    if name not in TOOLS:
        raise errors.unprocessable("unknown_tool", f"There is no tool called {name}", {"tools": sorted(TOOLS)})
    _, model, function = TOOLS[name]
    try:
        args = (model.model_validate_json(arguments) if isinstance(arguments, str)
                else model.model_validate(arguments))
    except ValidationError as exc:
        problems = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
        raise errors.unprocessable("invalid_arguments", f"The arguments for {name} are not valid",
                                   problems) from exc
    return function(cur, ctx, args)
