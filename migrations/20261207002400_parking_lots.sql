-- Airport parking: lots, products, prices, extras, the per-day capacity
-- calendar and each org's change policy.
--
-- A lot is a car park at an airport (IATA code) with its own timezone: every
-- stay is read in it. Products are what a customer books at a lot (park & ride,
-- meet & greet, valet, on-airport), flexible or not, billed per 24 hours from
-- entry or per calendar day, priced by length of stay (public.parking_prices:
-- the price of a stay of `days` days; beyond the longest row, extra_day_minor
-- a day) with overrides by entry date (a percentage of that price).
--
-- Capacity is per lot and local date (public.parking_days). A day without a row
-- has the lot's default spaces and online share; a row is written when a stay
-- first touches the day or staff change it (spaces, released, closed).
-- `booked` and `online_booked` count the live bookings whose stay includes the
-- day. They are written only by the bookings trigger
-- (routines/parking/capacity.sql), which takes the day rows in date order, and
-- the checks below make overselling impossible on any path: staff bookings
-- may fill every space, online ones only the released share.
--
-- Functions: routines/parking/*.sql; RLS: policies/parking.sql.

create type public.parking_service as enum ('park_and_ride', 'meet_and_greet', 'valet', 'on_airport');
create type public.parking_billing as enum ('per_24h', 'calendar_days');
create type public.parking_extra_kind as enum ('wash', 'ev_charge', 'cancellation_cover', 'other');

create table public.parking_lots (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 200),
  iata_code text not null check (iata_code ~ '^[A-Z]{3}$'),
  address text check (length(address) <= 500),
  timezone text not null check (private.is_valid_timezone(timezone)),
  transfer_minutes integer not null default 0 check (transfer_minutes between 0 and 240),
  amenities text[] not null default '{}' check (cardinality(amenities) <= 30),
  currency char(3) not null default 'GBP' check (currency ~ '^[A-Z]{3}$'),
  default_spaces integer not null check (default_spaces between 0 and 100000),
  online_share_percent integer not null default 100 check (online_share_percent between 0 and 100),
  overstay_grace_minutes integer not null default 30 check (overstay_grace_minutes between 0 and 1440),
  overstay_daily_minor bigint not null default 0 check (overstay_daily_minor >= 0),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, org_id)
);
comment on table public.parking_lots is
  'A car park at an airport: its timezone reads every stay; default spaces and the share released online; '
  'overstay charged per started day after a grace period.';
create index parking_lots_org_id_idx on public.parking_lots (org_id);

create table public.parking_products (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  lot_id uuid not null,
  name text not null check (length(btrim(name)) between 1 and 200),
  service public.parking_service not null,
  flexible boolean not null default true,
  billing public.parking_billing not null default 'per_24h',
  max_days integer not null default 30 check (max_days between 1 and 366),
  extra_day_minor bigint not null default 0 check (extra_day_minor >= 0),
  sort_order integer not null default 0,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, org_id),
  foreign key (lot_id, org_id) references public.parking_lots (id, org_id) on delete cascade
);
comment on table public.parking_products is
  'What a customer books at a lot. Flexible products refund by the org''s policy; billing per 24 h from entry '
  '(on the lot''s wall clock) or per calendar day; stays up to max_days.';
create index parking_products_lot_id_idx on public.parking_products (lot_id, org_id);
create index parking_products_org_id_idx on public.parking_products (org_id);

create table public.parking_prices (
  product_id uuid not null,
  org_id uuid not null,
  days integer not null check (days between 1 and 366),
  price_minor bigint not null check (price_minor >= 0),
  primary key (product_id, days),
  foreign key (product_id, org_id) references public.parking_products (id, org_id) on delete cascade
);
comment on table public.parking_prices is
  'The price of a stay of `days` billable days. A stay between two rows costs the next longer row; beyond the '
  'longest, that row plus the product''s extra_day_minor per extra day.';
create index parking_prices_product_id_org_id_idx on public.parking_prices (product_id, org_id);

create table public.parking_price_overrides (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null,
  product_id uuid not null,
  first_day date not null,
  last_day date not null,
  percent integer not null check (percent between 0 and 1000),
  note text check (length(note) <= 200),
  check (last_day >= first_day),
  foreign key (product_id, org_id) references public.parking_products (id, org_id) on delete cascade,
  exclude using gist (product_id with =, daterange(first_day, last_day, '[]') with &&)
);
comment on table public.parking_price_overrides is
  'Stays entering between first_day and last_day (lot-local dates) cost `percent` of the length-of-stay price '
  '(e.g. 125 in school holidays). At most one override per product and date.';
create index parking_price_overrides_product_id_idx on public.parking_price_overrides (product_id, org_id);

create table public.parking_extras (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null,
  lot_id uuid not null,
  kind public.parking_extra_kind not null,
  name text not null check (length(btrim(name)) between 1 and 200),
  price_minor bigint not null check (price_minor >= 0),
  per_day boolean not null default false,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, org_id),
  foreign key (lot_id, org_id) references public.parking_lots (id, org_id) on delete cascade
);
comment on table public.parking_extras is
  'Add-ons at a lot (a wash, an EV charge, cancellation cover), per booking or per billable day. Cancellation '
  'cover makes a cancellation before entry refund everything but the cover itself.';
create index parking_extras_lot_id_idx on public.parking_extras (lot_id, org_id);

create table public.parking_days (
  lot_id uuid not null,
  org_id uuid not null,
  day date not null,
  spaces integer not null check (spaces >= 0),
  released integer not null check (released between 0 and spaces),
  closed boolean not null default false,
  booked integer not null default 0 check (booked >= 0),
  online_booked integer not null default 0 check (online_booked between 0 and booked),
  updated_at timestamptz not null default now(),
  primary key (lot_id, day),
  foreign key (lot_id, org_id) references public.parking_lots (id, org_id) on delete cascade,
  constraint parking_days_not_oversold check (booked <= spaces),
  constraint parking_days_online_not_oversold check (online_booked <= released)
);
comment on table public.parking_days is
  'Capacity of a lot on a local date: spaces, the share released online, closure, and the live bookings whose '
  'stay includes the day (written only by the bookings trigger; the checks forbid overselling on any path).';
create index parking_days_lot_id_org_id_idx on public.parking_days (lot_id, org_id);

create table public.parking_policies (
  org_id uuid primary key references public.organizations (id) on delete cascade,
  cancel_until_hours integer not null default 24 check (cancel_until_hours between 0 and 720),
  admin_fee_minor bigint not null default 0 check (admin_fee_minor >= 0),
  amend_until_hours integer not null default 2 check (amend_until_hours between 0 and 720),
  hold_minutes integer not null default 15 check (hold_minutes between 1 and 120),
  updated_at timestamptz not null default now()
);
comment on table public.parking_policies is
  'Per org: a flexible booking cancelled until cancel_until_hours before entry is refunded less admin_fee_minor; '
  'dates may be amended until amend_until_hours before entry; checkout holds last hold_minutes. '
  'An org without a row has the defaults.';
