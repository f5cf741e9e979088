-- Event ticketing: venues, events, ticket tiers, seats, tickets and check-in.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/ticketing/events.sql, routines/ticketing/triggers.sql.

-- ===========================================================================
-- Types
-- ===========================================================================
create type public.event_status as enum ('draft', 'published', 'cancelled', 'completed');
create type public.event_visibility as enum ('public', 'unlisted');
create type public.ticket_status as enum ('valid', 'void');
create type public.check_in_result as enum (
  'ok', 'already_checked_in', 'void', 'refunded', 'wrong_event', 'unknown_ticket'
);

-- ===========================================================================
-- Venues and events
-- ===========================================================================
create table public.venues (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 200),
  address text check (length(address) <= 500),
  city text check (length(city) <= 100),
  postcode text check (length(postcode) <= 20),
  country char(2) check (country ~ '^[A-Z]{2}$'),
  capacity integer check (capacity > 0),
  latitude double precision check (latitude between -90 and 90),
  longitude double precision check (longitude between -180 and 180),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.venues is 'Where events happen. Public once a published public event uses them.';
create index venues_org_id_idx on public.venues (org_id);

create table public.events (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  venue_id uuid references public.venues (id) on delete set null,
  title text not null check (length(btrim(title)) between 1 and 200),
  slug text not null check (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$'),
  description text check (length(description) <= 20000),
  starts_at timestamptz not null,
  ends_at timestamptz,
  status public.event_status not null default 'draft',
  visibility public.event_visibility not null default 'public',
  published_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, slug),
  check (ends_at is null or ends_at > starts_at)
);
comment on table public.events is
  'draft -> published -> cancelled | completed. Anyone reads published public events; unlisted ones only by link (event_by_slug). Who created or changed an event is in audit_log.';
create index events_venue_id_idx on public.events (venue_id);
create index events_public_idx on public.events (starts_at) where status = 'published' and visibility = 'public';

-- ===========================================================================
-- Ticket tiers and their seats
-- ===========================================================================
create table public.ticket_tiers (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  event_id uuid not null references public.events (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 120),
  description text check (length(description) <= 2000),
  price_minor bigint not null check (price_minor >= 0),
  currency char(3) not null check (currency ~ '^[A-Z]{3}$'),
  capacity integer not null check (capacity between 0 and 100000),
  sale_starts_at timestamptz,
  sale_ends_at timestamptz,
  min_per_order integer not null default 1 check (min_per_order >= 1),
  max_per_order integer not null default 10 check (max_per_order between 1 and 100),
  sort_order integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (max_per_order >= min_per_order),
  check (sale_ends_at is null or sale_starts_at is null or sale_ends_at > sale_starts_at)
);
comment on table public.ticket_tiers is
  'A kind of ticket for an event: price, capacity, sale window, per-order limits. Capacity is materialised as seats.';
create index ticket_tiers_event_id_idx on public.ticket_tiers (event_id, sort_order);
create index ticket_tiers_org_id_idx on public.ticket_tiers (org_id);

alter table public.orders add column event_id uuid references public.events (id) on delete restrict;
create index orders_event_id_idx on public.orders (event_id);
alter table public.order_items add column ticket_tier_id uuid references public.ticket_tiers (id) on delete restrict;
create index order_items_ticket_tier_id_idx on public.order_items (ticket_tier_id);

create table private.ticket_seats (
  id bigint generated always as identity primary key,
  tier_id uuid not null references public.ticket_tiers (id) on delete cascade,
  seat_no integer not null,
  order_id uuid references public.orders (id) on delete set null,
  unique (tier_id, seat_no)
);
comment on table private.ticket_seats is
  'One row per unit of tier capacity; order_id marks who holds or bought it. Never exposed.';
create index ticket_seats_free_idx on private.ticket_seats (tier_id, seat_no) where order_id is null;
create index ticket_seats_order_id_idx on private.ticket_seats (order_id);

-- Claim p_quantity free seats of a tier for an order; returns how many it got.
--

-- ===========================================================================
-- Promo code restriction to tiers
-- ===========================================================================
create table public.promo_code_tiers (
  promo_code_id uuid not null references public.promo_codes (id) on delete cascade,
  tier_id uuid not null references public.ticket_tiers (id) on delete cascade,
  org_id uuid not null references public.organizations (id) on delete cascade,
  primary key (promo_code_id, tier_id)
);
comment on table public.promo_code_tiers is 'When a code has rows here it applies only to these tiers.';
create index promo_code_tiers_tier_id_idx on public.promo_code_tiers (tier_id);
create index promo_code_tiers_org_id_idx on public.promo_code_tiers (org_id);

-- ===========================================================================
-- Tickets and check-ins
-- ===========================================================================
create table public.tickets (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  event_id uuid not null references public.events (id) on delete restrict,
  tier_id uuid not null references public.ticket_tiers (id) on delete restrict,
  order_id uuid not null references public.orders (id) on delete restrict,
  order_item_id uuid not null references public.order_items (id) on delete restrict,
  secret text not null unique,
  attendee_name text not null,
  attendee_email text not null,
  status public.ticket_status not null default 'valid',
  checked_in_at timestamptz,
  checked_in_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.tickets is 'One per seat sold. The secret (in the QR code) is not readable through the API.';
create index tickets_event_id_idx on public.tickets (event_id);
create index tickets_tier_id_idx on public.tickets (tier_id);
create index tickets_order_id_idx on public.tickets (order_id);
create index tickets_order_item_id_idx on public.tickets (order_item_id);
create index tickets_org_id_idx on public.tickets (org_id);
create index tickets_checked_in_by_idx on public.tickets (checked_in_by);

create table public.check_ins (
  id bigint generated always as identity primary key,
  org_id uuid not null references public.organizations (id) on delete cascade,
  event_id uuid not null references public.events (id) on delete cascade,
  ticket_id uuid references public.tickets (id) on delete set null,
  scanned_by uuid references public.profiles (id) on delete set null,
  result public.check_in_result not null,
  gate text check (length(gate) <= 100),
  scanned_at timestamptz not null default now()
);
comment on table public.check_ins is 'Every scan, accepted or refused.';
create index check_ins_event_id_idx on public.check_ins (event_id, scanned_at desc);
create index check_ins_ticket_id_idx on public.check_ins (ticket_id);
create index check_ins_org_id_idx on public.check_ins (org_id);
create index check_ins_scanned_by_idx on public.check_ins (scanned_by);

-- ===========================================================================
-- Event statistics: a materialized view in private (never exposed), refreshed
-- by cron, read through an RPC that checks the caller's role.
-- ===========================================================================
create materialized view private.event_stats as
with tier_rows as (
  select t.event_id, t.id as tier_id, t.org_id, t.capacity,
    (select count(*) from private.ticket_seats s join public.orders o on o.id = s.order_id
     where s.tier_id = t.id and o.status = 'paid') as sold,
    (select count(*) from private.ticket_seats s join public.orders o on o.id = s.order_id
     where s.tier_id = t.id and o.status in ('pending', 'processing')) as held,
    (select coalesce(sum(i.total_minor), 0) from public.order_items i join public.orders o on o.id = i.order_id
     where i.ticket_tier_id = t.id and o.status in ('paid', 'refunded')) as gross_minor,
    (select count(*) from public.tickets k where k.tier_id = t.id and k.checked_in_at is not null) as checked_in
  from public.ticket_tiers t
)
select tier_id as row_key, event_id, tier_id, org_id, capacity, sold, held, gross_minor,
  0::bigint as refunded_minor, checked_in
from tier_rows
union all
select e.id, e.id, null, e.org_id,
  coalesce(sum(r.capacity), 0), coalesce(sum(r.sold), 0), coalesce(sum(r.held), 0),
  coalesce(sum(r.gross_minor), 0),
  (select coalesce(sum(f.amount_minor), 0) from public.refunds f join public.orders o on o.id = f.order_id
   where o.event_id = e.id and f.status <> 'failed'),
  coalesce(sum(r.checked_in), 0)
from public.events e left join tier_rows r on r.event_id = e.id
group by e.id, e.org_id;

-- row_key is the tier id, or the event id for the event's totals row.
create unique index event_stats_row_key on private.event_stats (row_key);
create index event_stats_event_id_idx on private.event_stats (event_id);
comment on materialized view private.event_stats is
  'Sold, held, gross revenue, refunds and check-ins per event (tier_id null) and tier. Refreshed by cron.';
