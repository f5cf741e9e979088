-- Chauffeur: customers, reservations with their ordered stops, and the
-- invariant dispatch rests on: a driver or a vehicle never holds two live
-- trips whose blocked-out periods overlap.
--
-- A reservation freezes the quote it was booked at (its itemised breakdown
-- and total) and its blocked-out period: from the pickup less the org's
-- preparation time to the estimated end plus the buffer. Two exclusion
-- constraints keep a driver's and a vehicle's live trips (pending, confirmed,
-- in progress) apart, whatever path assigns them and however many at once.
--
-- Status moves (routines/chauffeur/reservations.sql, enforced by a trigger on
-- every path): pending -> confirmed -> in_progress -> completed; pending or
-- confirmed -> cancelled (with a reason); confirmed -> no_show once the pickup
-- time has passed. The driver's own steps stamp server times: en route, on
-- location, passenger on board (-> in progress), completed.
--
-- policy_type says who bears a late-cancellation or no-show fee: the customer
-- (charged to their payment), the driver or the affiliate (owed by them, e.g.
-- a driver who did not turn up), or none (waived).

create type public.reservation_status as enum ('pending', 'confirmed', 'in_progress', 'completed', 'cancelled', 'no_show');
create type public.reservation_policy as enum ('customer', 'driver', 'affiliate', 'none');
create type public.stop_kind as enum ('pickup', 'stop', 'dropoff');

create table public.chauffeur_customers (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 200),
  email text check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and length(email) <= 320),
  phone text check (phone ~ '^\+[1-9][0-9]{6,14}$'),  -- E.164 (private.to_e164 with the org's country)
  vip boolean not null default false,
  company_id uuid references public.companies (id) on delete set null,
  user_id uuid references public.profiles (id) on delete set null,
  notes text check (length(notes) <= 2000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, org_id)
);
comment on table public.chauffeur_customers is
  'A chauffeur customer of one org: VIP flag, company (CRM), phone in E.164, optionally their own signed-in account.';
create unique index chauffeur_customers_email_key on public.chauffeur_customers (org_id, lower(email));
create index chauffeur_customers_user_id_idx on public.chauffeur_customers (user_id);
create index chauffeur_customers_company_id_idx on public.chauffeur_customers (company_id);

create table public.reservations (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  number text not null unique,
  tracking_token_hash bytea not null,
  customer_id uuid not null,
  service_type public.chauffeur_service not null,
  class_id uuid not null,
  pickup_at timestamptz not null,
  hours numeric(5, 2) check (hours > 0 and hours <= 24),
  passengers integer not null check (passengers between 1 and 60),
  luggage integer not null default 0 check (luggage between 0 and 60),
  child_seats integer not null default 0 check (child_seats between 0 and 6),
  flight_number text check (flight_number ~ '^[A-Z0-9]{2}[0-9]{1,4}[A-Z]?$'),
  meet_and_greet boolean not null default false,
  special_instructions text check (length(special_instructions) <= 2000),
  policy_type public.reservation_policy not null default 'customer',
  quote jsonb not null,
  total_minor bigint not null check (total_minor >= 0),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  blocked tstzrange not null,
  status public.reservation_status not null default 'pending',
  cancel_reason text check (length(cancel_reason) <= 500),
  driver_id uuid,
  vehicle_id uuid,
  en_route_at timestamptz,
  on_location_at timestamptz,
  on_board_at timestamptz,
  completed_at timestamptz,
  wait_minutes integer check (wait_minutes >= 0),     -- charged minutes, beyond the class's grace period
  final_lines jsonb,                                  -- the quote's lines plus wait time, once completed
  final_total_minor bigint check (final_total_minor >= 0),
  rating smallint check (rating between 1 and 5),    -- the customer's, once completed
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (customer_id, org_id) references public.chauffeur_customers (id, org_id),
  foreign key (class_id, org_id) references public.vehicle_classes (id, org_id),
  foreign key (driver_id, org_id) references public.drivers (id, org_id),
  foreign key (vehicle_id, org_id) references public.vehicles (id, org_id),
  check ((service_type = 'hourly') = (hours is not null)),
  check (status <> 'cancelled' or cancel_reason is not null),
  check (rating is null or status = 'completed'),
  check (not isempty(blocked) and lower(blocked) <= pickup_at),
  constraint reservations_driver_free exclude using gist (driver_id with =, blocked with &&)
    where (driver_id is not null and status in ('pending', 'confirmed', 'in_progress')),
  constraint reservations_vehicle_free exclude using gist (vehicle_id with =, blocked with &&)
    where (vehicle_id is not null and status in ('pending', 'confirmed', 'in_progress'))
);
comment on table public.reservations is
  'A chauffeur trip: its frozen quote and total, blocked-out period, status and assignment. A driver or vehicle never '
  'holds two live trips whose periods overlap (reservations_driver_free, reservations_vehicle_free).';
create index reservations_org_pickup_idx on public.reservations (org_id, pickup_at);
create index reservations_customer_id_idx on public.reservations (customer_id, org_id);
create index reservations_driver_id_idx on public.reservations (driver_id, org_id);
create index reservations_vehicle_id_idx on public.reservations (vehicle_id, org_id);
create index reservations_class_id_idx on public.reservations (class_id, org_id);
create index reservations_created_by_idx on public.reservations (created_by);

create table public.reservation_stops (
  id uuid not null default gen_random_uuid() unique,
  reservation_id uuid not null references public.reservations (id) on delete cascade,
  position integer not null check (position >= 0),
  org_id uuid not null references public.organizations (id) on delete cascade,
  kind public.stop_kind not null,
  address text not null check (length(btrim(address)) between 1 and 300),
  latitude double precision check (latitude between -90 and 90),
  longitude double precision check (longitude between -180 and 180),
  notes text check (length(notes) <= 500),
  primary key (reservation_id, position),
  check ((latitude is null) = (longitude is null))
);
comment on table public.reservation_stops is
  'A reservation''s stops in order: the pickup first, the drop-off last, extra stops between.';
create index reservation_stops_org_id_idx on public.reservation_stops (org_id);

-- GDPR (routines/privacy/gdpr.sql): a chauffeur customer's contact details and their trips' addresses.
insert into private.gdpr_tables (table_name, position, org_column, match, note) values
  ('chauffeur_customers', 200, 'org_id', $m$lower(t.email) = $2 or t.user_id = any ($3)$m$,
   'A chauffeur customer: name, email, phone and notes erased, the account link removed.'),
  ('reservations', 205, 'org_id',
   $m$t.customer_id::text in (select jsonb_array_elements_text($4 -> 'chauffeur_customers'))$m$,
   'The subject''s trips: kept for the accounts, instructions and flight erased, the guest link stopped.'),
  ('reservation_stops', 210, 'org_id',
   $m$t.reservation_id::text in (select jsonb_array_elements_text($4 -> 'reservations'))$m$,
   'Where the subject was picked up and dropped off: addresses, coordinates and notes erased.');
insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  ('chauffeur_customers', 'name', $e$'Erased customer'$e$, true, null),
  ('chauffeur_customers', 'email', $e$null$e$, true, null),
  ('chauffeur_customers', 'phone', $e$null$e$, true, null),
  ('chauffeur_customers', 'notes', $e$null$e$, true, null),
  ('chauffeur_customers', 'user_id', $e$null$e$, true, null),
  ('reservations', 'tracking_token_hash', $e$private.token_hash(private.random_token())$e$, false, null),
  ('reservations', 'cancel_reason', $e$null$e$, true, null),
  ('reservation_stops', 'address', $e$'erased'$e$, true, null),
  ('reservation_stops', 'notes', $e$null$e$, true, null),
  ('reservation_stops', 'latitude', $e$null$e$, true, null),
  ('reservation_stops', 'longitude', $e$null$e$, true, null),
  ('reservations', 'special_instructions', $e$null$e$, true, null),
  ('reservations', 'flight_number', $e$null$e$, true, null),
  ('reservations', 'customer_id', null, true, 'the link to chauffeur_customers, erased there'),
  ('drivers', 'name', null, false, 'a driver (team data), not a customer'),
  ('drivers', 'user_id', null, false, 'a driver (team data), not a customer'),
  ('affiliates', 'user_id', null, false, 'a business partner, not a customer'),
  ('vehicle_classes', 'name', null, false, 'a product, not a person'),
  ('chauffeur_rate_rules', 'name', null, false, 'a price rule, not a person'),
  ('drivers', 'phone', null, false, 'a driver (team data), not a customer'),
  ('affiliates', 'contact_name', null, false, 'a business partner''s contact, not a customer'),
  ('affiliates', 'email', null, false, 'a business partner''s contact, not a customer'),
  ('affiliates', 'phone', null, false, 'a business partner''s contact, not a customer');
