-- Service appointments, part 1: the catalogue and the staff who deliver it.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/appointments/catalogue.sql, routines/appointments/triggers.sql.

create extension if not exists btree_gist schema extensions;

-- ===========================================================================
-- Catalogue: categories and services
-- ===========================================================================
create table public.service_categories (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 120),
  description text check (length(description) <= 2000),
  sort_order integer not null default 0,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, name)
);
comment on table public.service_categories is
  'Groups services on the booking page (e.g. "Domestic cleaning"). Active ones are public.';

create table public.services (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  category_id uuid references public.service_categories (id) on delete set null,
  name text not null check (length(btrim(name)) between 1 and 200),
  description text check (length(description) <= 10000),
  duration_minutes integer not null check (duration_minutes between 5 and 1440),
  price_minor bigint not null check (price_minor >= 0),
  currency char(3) not null default 'GBP' check (currency ~ '^[A-Z]{3}$'),
  buffer_before_minutes integer not null default 0 check (buffer_before_minutes between 0 and 240),
  buffer_after_minutes integer not null default 0 check (buffer_after_minutes between 0 and 240),
  sort_order integer not null default 0,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.services is
  'Something a customer books: how long it takes, what it costs (minor units) and the staff time blocked before and after it (travel, setup). Active ones are public.';
comment on column public.services.buffer_before_minutes is
  'Minutes the staff member is blocked before the appointment starts; the customer does not see them.';
create index services_org_id_idx on public.services (org_id, sort_order);
create index services_category_id_idx on public.services (category_id);

-- ===========================================================================
-- Staff and what they do
-- ===========================================================================
create table public.staff (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid references public.profiles (id) on delete set null,
  display_name text not null check (length(btrim(display_name)) between 1 and 120),
  email text check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and length(email) <= 320),
  phone text check (length(phone) <= 40),
  base_outcode text check (base_outcode ~ '^[A-Z]{1,2}[0-9][A-Z0-9]?$'),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, user_id)
);
comment on table public.staff is
  'Someone who delivers services. user_id links the member''s account (they then see their own schedule, time off and, later, jobs); a staff row without one is managed for them. Anon sees only id, org_id, display_name and active (column grants).';
comment on column public.staff.base_outcode is
  'Outward code (e.g. SW1A) where the staff member starts the day; route planning starts here.';
create index staff_user_id_idx on public.staff (user_id);

create table public.staff_services (
  staff_id uuid not null references public.staff (id) on delete cascade,
  service_id uuid not null references public.services (id) on delete cascade,
  org_id uuid not null references public.organizations (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (staff_id, service_id)
);
comment on table public.staff_services is 'Which staff member can deliver which service.';
create index staff_services_service_id_idx on public.staff_services (service_id);
create index staff_services_org_id_idx on public.staff_services (org_id);

-- ===========================================================================
-- Weekly availability: schedules and breaks
-- ===========================================================================
create table public.staff_schedules (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  staff_id uuid not null references public.staff (id) on delete cascade,
  weekday smallint not null check (weekday between 0 and 6),
  starts_at time not null check (extract(second from starts_at) = 0),
  ends_at time not null check (extract(second from ends_at) = 0),
  minutes int4range not null generated always as (
    -- greatest(): a reversed interval reaches the check below (23514) instead of a range error.
    int4range(extract(epoch from starts_at)::int / 60,
              greatest(extract(epoch from starts_at)::int, extract(epoch from ends_at)::int) / 60)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (ends_at > starts_at),
  constraint staff_schedules_no_overlap
    exclude using gist (staff_id with =, weekday with =, minutes with &&)
);
comment on table public.staff_schedules is
  'Weekly working hours, wall-clock in the org''s timezone; weekday 0 = Monday (ISO). Several intervals per day allowed, never overlapping.';
comment on column public.staff_schedules.minutes is
  'The interval as minutes since midnight, [start, end): what the no-overlap constraint and the slot search use.';
create index staff_schedules_org_id_idx on public.staff_schedules (org_id);

create table public.staff_breaks (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  staff_id uuid not null references public.staff (id) on delete cascade,
  weekday smallint not null check (weekday between 0 and 6),
  starts_at time not null check (extract(second from starts_at) = 0),
  ends_at time not null check (extract(second from ends_at) = 0),
  minutes int4range not null generated always as (
    -- greatest(): a reversed interval reaches the check below (23514) instead of a range error.
    int4range(extract(epoch from starts_at)::int / 60,
              greatest(extract(epoch from starts_at)::int, extract(epoch from ends_at)::int) / 60)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (ends_at > starts_at),
  constraint staff_breaks_no_overlap
    exclude using gist (staff_id with =, weekday with =, minutes with &&)
);
comment on table public.staff_breaks is
  'Recurring weekly breaks (lunch), subtracted from the schedule; same shape and rules as staff_schedules.';
create index staff_breaks_org_id_idx on public.staff_breaks (org_id);

-- ===========================================================================
-- Time off and service areas
-- ===========================================================================
create table public.staff_time_off (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  staff_id uuid not null references public.staff (id) on delete cascade,
  period tstzrange not null
    check (not isempty(period) and not lower_inf(period) and not upper_inf(period)),
  reason text check (length(reason) <= 500),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint staff_time_off_no_overlap exclude using gist (staff_id with =, period with &&)
);
comment on table public.staff_time_off is
  'Absences (holiday, sickness, appointments). Managers record any; a linked staff member may add future time off of their own and withdraw it before it starts. Overlaps per staff are refused; who did what is in audit_log.';
create index staff_time_off_org_id_idx on public.staff_time_off (org_id);

create table public.staff_service_areas (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  staff_id uuid not null references public.staff (id) on delete cascade,
  outcode text not null check (outcode ~ '^[A-Z]{1,2}[0-9][A-Z0-9]?$'),
  radius_km numeric(5, 1) not null default 0 check (radius_km between 0 and 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (staff_id, outcode)
);
comment on table public.staff_service_areas is
  'Where a staff member works: within radius_km (great-circle) of the outward code''s centroid; 0 means that district only.';
create index staff_service_areas_org_id_idx on public.staff_service_areas (org_id);

-- ===========================================================================
-- Booking rules per organization
-- ===========================================================================
create table public.appointment_settings (
  org_id uuid primary key references public.organizations (id) on delete cascade,
  slot_interval_minutes integer not null default 15 check (slot_interval_minutes between 5 and 240),
  min_notice_minutes integer not null default 120 check (min_notice_minutes between 0 and 43200),
  max_days_ahead integer not null default 60 check (max_days_ahead between 1 and 730),
  cancellation_cutoff_hours integer not null default 24 check (cancellation_cutoff_hours between 0 and 720),
  hold_minutes integer not null default 10 check (hold_minutes between 1 and 60),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.appointment_settings is
  'Per-org booking rules: slot grid, minimum notice, how far ahead, the cancel/reschedule cut-off and how long a chosen slot is held. No row means the defaults (private.appointment_settings_for).';
