-- Service appointments: recurring subscriptions.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/appointments/subscriptions.sql, routines/appointments/triggers.sql, routines/commerce/orders.sql.

-- ===========================================================================
-- Types and tables
-- ===========================================================================
create type public.subscription_frequency as enum ('weekly', 'biweekly', 'monthly');
create type public.subscription_status as enum ('pending', 'active', 'cancelled');
create type public.subscription_occurrence_status as enum ('generated', 'moved', 'needs_attention');

create table public.appointment_subscriptions (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  number text not null unique check (number ~ '^SUB-[2-9A-Z]{8}$'),
  service_id uuid not null references public.services (id) on delete restrict,
  staff_id uuid not null references public.staff (id) on delete restrict,
  customer_user_id uuid references public.profiles (id) on delete set null,
  customer_name text not null check (length(btrim(customer_name)) between 1 and 200),
  customer_email text not null check (customer_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and length(customer_email) <= 320),
  customer_phone text check (length(customer_phone) <= 40),
  postcode text not null check (length(postcode) <= 10),
  address text check (length(address) <= 500),
  notes text check (length(notes) <= 2000),
  frequency public.subscription_frequency not null,
  first_date date not null,
  start_time time not null,
  months smallint not null check (months between 1 and 12),
  ends_on date not null generated always as ((first_date + make_interval(months => months::integer))::date) stored,
  status public.subscription_status not null default 'active',
  tracking_token_hash bytea not null,
  cancelled_at timestamptz,
  cancelled_by uuid references public.profiles (id) on delete set null,
  cancel_reason text check (length(cancel_reason) <= 1000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((status = 'cancelled') = (cancelled_at is not null))
);
comment on table public.appointment_subscriptions is
  'A recurring booking: one service with one staff member, weekly/biweekly/monthly at a local wall-clock time for '
  '1-12 months. Occurrences are generated ahead by private.generate_subscription_appointments. Written only by the RPCs.';
comment on column public.appointment_subscriptions.ends_on is
  'first_date + months, exclusive: the last occurrence falls on a local date before it.';
comment on column public.appointment_subscriptions.tracking_token_hash is
  'sha256 of the guest tracking token, shown once when the subscription is created.';
create index appointment_subscriptions_org_id_idx on public.appointment_subscriptions (org_id, created_at desc);
create index appointment_subscriptions_service_id_idx on public.appointment_subscriptions (service_id);
create index appointment_subscriptions_staff_id_idx on public.appointment_subscriptions (staff_id);
create index appointment_subscriptions_customer_user_id_idx on public.appointment_subscriptions (customer_user_id);
create index appointment_subscriptions_cancelled_by_idx on public.appointment_subscriptions (cancelled_by);
create index appointment_subscriptions_active_idx on public.appointment_subscriptions (ends_on) where status = 'active';

-- The generated visits. Appointments of a subscription say which occurrence they are.
alter table public.appointments
  add column subscription_id uuid references public.appointment_subscriptions (id),
  add column subscription_occurrence integer check (subscription_occurrence >= 0),
  add constraint appointments_subscription_occurrence_key unique (subscription_id, subscription_occurrence),
  add constraint appointments_subscription_occurrence_pair
    check ((subscription_id is null) = (subscription_occurrence is null));
comment on column public.appointments.subscription_id is
  'The subscription that generated this appointment (with subscription_occurrence, unique together).';

create table public.subscription_occurrences (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  subscription_id uuid not null references public.appointment_subscriptions (id) on delete cascade,
  occurrence integer not null check (occurrence >= 0),
  wanted_start timestamptz not null,
  actual_start timestamptz,
  appointment_id uuid references public.appointments (id) on delete set null,
  status public.subscription_occurrence_status not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint subscription_occurrences_once unique (subscription_id, occurrence),
  check (status = 'needs_attention' or actual_start is not null)
);
comment on table public.subscription_occurrences is
  'The generation ledger: one row per occurrence of a subscription ever generated (unique), with the wanted and the '
  'booked start. needs_attention = no free slot for the same staff member within 3 days; nothing was booked.';
create index subscription_occurrences_org_id_idx on public.subscription_occurrences (org_id, wanted_start);
create index subscription_occurrences_appointment_id_idx on public.subscription_occurrences (appointment_id);
create index subscription_occurrences_attention_idx on public.subscription_occurrences (org_id)
  where status = 'needs_attention';
