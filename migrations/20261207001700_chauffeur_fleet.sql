-- Chauffeur: the fleet. Vehicle classes (what a customer books and pays by),
-- vehicles, drivers and affiliates, and each org's chauffeur settings.
--
-- Drivers and affiliates are org members with the role driver / affiliate
-- (checked by triggers in routines/chauffeur/triggers.sql). A driver's rating
-- and trips completed are computed from their trips (public.driver_stats),
-- never counters. A vehicle's mileage only goes up (a trigger). Functions:
-- routines/chauffeur/*.sql; RLS: policies/chauffeur.sql.

create type public.vehicle_status as enum ('available', 'in_service', 'maintenance', 'offline');
create type public.driver_status as enum ('available', 'on_trip', 'off_duty');
create type public.affiliate_status as enum ('active', 'inactive', 'pending');
create type public.chauffeur_service as enum ('point_to_point', 'airport_transfer', 'hourly');

-- Per org: how trips are estimated and blocked out.
create table public.chauffeur_settings (
  org_id uuid primary key references public.organizations (id) on delete cascade,
  distance_unit text not null default 'mi' check (distance_unit in ('km', 'mi')),
  detour_factor numeric(4, 2) not null default 1.30 check (detour_factor between 1.00 and 3.00),
  average_speed numeric(5, 1) not null default 30.0 check (average_speed between 5 and 120),  -- per hour, in distance_unit
  preparation_minutes integer not null default 30 check (preparation_minutes between 0 and 240),
  buffer_minutes integer not null default 15 check (buffer_minutes between 0 and 240),
  updated_at timestamptz not null default now()
);
comment on table public.chauffeur_settings is
  'Per org: distance unit and detour factor for quotes; average speed, preparation and buffer minutes for a trip''s blocked-out period.';

create table public.vehicle_classes (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 100),
  rank integer not null default 0,        -- a higher rank is an upgrade
  seats integer not null check (seats between 1 and 60),
  luggage integer not null default 0 check (luggage between 0 and 60),
  hourly_rate_minor bigint not null check (hourly_rate_minor >= 0),
  minimum_hours numeric(4, 2) not null default 2 check (minimum_hours between 0 and 24),
  per_distance_minor bigint not null default 0 check (per_distance_minor >= 0),
  base_fares jsonb not null default '{}'::jsonb,  -- {"point_to_point": 6500, "airport_transfer": 8500}
  wait_grace_minutes integer not null default 15 check (wait_grace_minutes between 0 and 240),
  wait_per_minute_minor bigint not null default 0 check (wait_per_minute_minor >= 0),
  free_cancel_hours integer not null default 24 check (free_cancel_hours between 0 and 720),
  late_cancel_percent integer not null default 50 check (late_cancel_percent between 0 and 100),
  no_show_percent integer not null default 100 check (no_show_percent between 0 and 100),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, name),
  unique (id, org_id),
  check (jsonb_typeof(base_fares) = 'object')
);
comment on table public.vehicle_classes is
  'What a customer books: seats, luggage, rates (hourly with a minimum, per distance, base fares per service), '
  'wait time after a grace period, and the cancellation windows.';

create table public.vehicles (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  class_id uuid not null,
  make text not null check (length(btrim(make)) between 1 and 60),
  model text not null check (length(btrim(model)) between 1 and 60),
  year integer not null check (year between 1950 and 2100),
  plate text not null check (plate ~ '^[A-Z0-9]{1,12}$'),  -- normalised: upper case, no spaces
  vin text not null check (vin ~ '^[A-HJ-NPR-Z0-9]{17}$') unique,
  seats integer not null check (seats between 1 and 60),
  status public.vehicle_status not null default 'available',
  mileage bigint not null default 0 check (mileage >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, plate),
  unique (id, org_id),
  foreign key (class_id, org_id) references public.vehicle_classes (id, org_id)
);
comment on table public.vehicles is
  'A vehicle of one class. Plate unique per org (upper case, no spaces), VIN 17 characters without I, O, Q, '
  'unique; mileage only goes up.';
create index vehicles_class_id_idx on public.vehicles (class_id, org_id);

create table public.drivers (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 200),
  phone text check (length(phone) <= 40),
  licence_number text not null check (length(btrim(licence_number)) between 3 and 40),
  licence_expires_on date not null,
  status public.driver_status not null default 'available',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, user_id),
  unique (org_id, licence_number),
  unique (id, org_id)
);
comment on table public.drivers is
  'A driver: an org member with the role driver. Rating and trips completed come from their trips (driver_stats).';
create index drivers_user_id_idx on public.drivers (user_id);

create table public.affiliates (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  company text not null check (length(btrim(company)) between 1 and 200),
  contact_name text check (length(contact_name) <= 200),
  email text check (length(email) <= 320),
  phone text check (length(phone) <= 40),
  city text check (length(city) <= 100),
  commission_kind text not null default 'percent' check (commission_kind in ('percent', 'flat')),
  commission_value bigint not null default 0 check (commission_value >= 0),  -- percent, or minor units
  status public.affiliate_status not null default 'pending',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, user_id),
  unique (id, org_id),
  check (commission_kind = 'flat' or commission_value <= 100)
);
comment on table public.affiliates is
  'A partner company trips are farmed out to: an org member with the role affiliate; commission as a percent or flat.';
create index affiliates_user_id_idx on public.affiliates (user_id);
