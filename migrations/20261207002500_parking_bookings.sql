-- Airport parking: bookings, their extras, and the charges raised after
-- booking (a dearer amendment, an overstay at the exit gate).
--
-- A booking is placed by checkout (order kind 'parking', the booking reference
-- is the order's number) and follows its order (routines/parking/orders.sql):
--   held       waiting for payment; its days are already counted
--   booked     paid
--   parked     scanned in at the entry gate (entered_at, server time)
--   exited     scanned out at the exit gate (exited_at); an exit after the
--              booked time plus the lot's grace raises an overstay charge
--   cancelled  expired, cancelled or refunded; its days count no more
-- Every status but cancelled counts against the days of the stay (first_day ..
-- last_day, lot-local dates, set from entry_at and exit_at in the lot's
-- timezone). The capacity trigger is the only writer of parking_days counts.
--
-- A charge is an order of its own (kind 'parking', no hold) for money owed on
-- a booking: paying it goes through the same payment paths as any order.
--
-- Functions: routines/parking/*.sql; RLS: policies/parking.sql.

create type public.parking_status as enum ('held', 'booked', 'parked', 'exited', 'cancelled');
create type public.parking_channel as enum ('online', 'staff');
create type public.parking_charge_reason as enum ('amendment', 'overstay');

create table public.parking_bookings (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null,
  lot_id uuid not null,
  product_id uuid not null,
  order_id uuid not null unique references public.orders (id) on delete restrict,
  status public.parking_status not null default 'held',
  channel public.parking_channel not null default 'online',
  customer_user_id uuid references public.profiles (id) on delete set null,
  customer_name text not null check (length(btrim(customer_name)) between 1 and 200),
  customer_email text not null check (customer_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and length(customer_email) <= 320),
  customer_phone text check (length(customer_phone) <= 40),
  entry_at timestamptz not null,
  exit_at timestamptz not null,
  first_day date not null,
  last_day date not null,
  billable_days integer not null check (billable_days >= 1),
  plate text not null check (plate ~ '^[A-Z0-9]{2,10}$'),  -- normalised: upper case, no spaces
  make text check (length(make) <= 60),
  model text check (length(model) <= 60),
  colour text check (length(colour) <= 40),
  outbound_flight text check (outbound_flight ~ '^[A-Z0-9]{2,3}[0-9]{1,4}[A-Z]?$'),
  return_flight text check (return_flight ~ '^[A-Z0-9]{2,3}[0-9]{1,4}[A-Z]?$'),
  passengers integer not null default 1 check (passengers between 1 and 16),
  stay_minor bigint not null check (stay_minor >= 0),
  cover_minor bigint not null default 0 check (cover_minor >= 0),  -- cancellation cover bought (its price)
  gate_code text not null unique,  -- in the QR code; not readable through the API (policies/parking.sql)
  entered_at timestamptz,
  entered_by uuid references public.profiles (id) on delete set null,
  exited_at timestamptz,
  exited_by uuid references public.profiles (id) on delete set null,
  cancelled_at timestamptz,
  cancel_reason text check (length(cancel_reason) <= 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, org_id),
  check (exit_at > entry_at),
  check (last_day >= first_day),
  check (exited_at is null or entered_at is not null),
  foreign key (lot_id, org_id) references public.parking_lots (id, org_id) on delete restrict,
  foreign key (product_id, org_id) references public.parking_products (id, org_id) on delete restrict
);
comment on table public.parking_bookings is
  'A stay at a lot: entry and exit (the lot''s timezone decides first_day and last_day), vehicle and flights. '
  'Every status but cancelled counts against the stay''s days. The gate code (in the QR) is not readable through the API.';
create index parking_bookings_lot_days_idx on public.parking_bookings (lot_id, first_day, last_day)
  where status <> 'cancelled';
create index parking_bookings_plate_idx on public.parking_bookings (org_id, plate) where status in ('booked', 'parked');
create index parking_bookings_customer_user_id_idx on public.parking_bookings (customer_user_id);
create index parking_bookings_product_id_idx on public.parking_bookings (product_id, org_id);
create index parking_bookings_lot_id_org_id_idx on public.parking_bookings (lot_id, org_id);
create index parking_bookings_entered_by_idx on public.parking_bookings (entered_by);
create index parking_bookings_exited_by_idx on public.parking_bookings (exited_by);

create table public.parking_booking_extras (
  booking_id uuid not null,
  extra_id uuid not null,
  org_id uuid not null,
  price_minor bigint not null check (price_minor >= 0),
  primary key (booking_id, extra_id),
  foreign key (booking_id, org_id) references public.parking_bookings (id, org_id) on delete cascade,
  foreign key (extra_id, org_id) references public.parking_extras (id, org_id) on delete restrict
);
comment on table public.parking_booking_extras is 'The extras a booking bought, at the price paid.';
create index parking_booking_extras_extra_id_idx on public.parking_booking_extras (extra_id, org_id);
create index parking_booking_extras_booking_id_org_id_idx on public.parking_booking_extras (booking_id, org_id);

create table public.parking_charges (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null,
  booking_id uuid not null,
  order_id uuid not null unique references public.orders (id) on delete restrict,
  reason public.parking_charge_reason not null,
  amount_minor bigint not null check (amount_minor > 0),
  created_at timestamptz not null default now(),
  foreign key (booking_id, org_id) references public.parking_bookings (id, org_id) on delete cascade
);
comment on table public.parking_charges is
  'Money owed on a booking after it was placed (a dearer amendment, an overstay), each an order of its own.';
create index parking_charges_booking_id_idx on public.parking_charges (booking_id, org_id);
-- One overstay charge per booking, whoever scans the exit twice.
create unique index parking_charges_one_overstay_idx on public.parking_charges (booking_id) where reason = 'overstay';

-- GDPR (routines/privacy/gdpr.sql): a parking customer's contact details, vehicle and flights.
insert into private.gdpr_tables (table_name, position, org_column, match, note) values
  ('parking_bookings', 220, 'org_id',
   $m$lower(t.customer_email) = $2 or t.customer_user_id = any ($3)
      or t.order_id::text in (select jsonb_array_elements_text($4 -> 'orders'))$m$,
   'The subject''s stays: kept for the accounts and the capacity counts; name, contact, vehicle and flights erased.');
insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  ('parking_bookings', 'customer_name', $e$'Erased customer'$e$, true, null),
  ('parking_bookings', 'customer_email', $e$private.erased_email(t.id::text)$e$, true, null),
  ('parking_bookings', 'customer_phone', $e$null$e$, true, null),
  ('parking_bookings', 'customer_user_id', $e$null$e$, true, null),
  ('parking_bookings', 'plate', $e$'ERASED'$e$, true, null),
  ('parking_bookings', 'make', $e$null$e$, true, null),
  ('parking_bookings', 'model', $e$null$e$, true, null),
  ('parking_bookings', 'colour', $e$null$e$, true, null),
  ('parking_bookings', 'outbound_flight', $e$null$e$, true, null),
  ('parking_bookings', 'return_flight', $e$null$e$, true, null),
  ('parking_bookings', 'cancel_reason', $e$null$e$, true, null),
  ('parking_bookings', 'entered_by', null, false, 'a member of the lot''s staff (team data), not the customer'),
  ('parking_bookings', 'exited_by', null, false, 'a member of the lot''s staff (team data), not the customer'),
  ('parking_lots', 'name', null, false, 'a car park, not a person'),
  ('parking_lots', 'address', null, false, 'a car park''s address, not a person''s'),
  ('parking_products', 'name', null, false, 'a product, not a person'),
  ('parking_extras', 'name', null, false, 'a product, not a person'),
  ('parking_price_overrides', 'note', null, false, 'a pricing note (school holidays), not about a person'),
  ('parking_charges', 'reason', null, false, 'amendment or overstay: an enum, not free text');
