-- Service appointments, part 2: the appointments themselves.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/appointments/core.sql, routines/appointments/triggers.sql.

create type public.appointment_status as enum (
  'held', 'booked', 'in_progress', 'completed', 'cancelled', 'no_show'
);

create table public.appointments (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  service_id uuid not null references public.services (id) on delete restrict,
  staff_id uuid not null references public.staff (id) on delete restrict,
  order_id uuid references public.orders (id) on delete set null,
  order_item_id uuid references public.order_items (id) on delete set null,
  customer_user_id uuid references public.profiles (id) on delete set null,
  customer_name text not null check (length(btrim(customer_name)) between 1 and 200),
  customer_email text check (customer_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and length(customer_email) <= 320),
  customer_phone text check (length(customer_phone) <= 40),
  postcode text check (length(postcode) <= 10),
  address text check (length(address) <= 500),
  notes text check (length(notes) <= 2000),
  status public.appointment_status not null default 'held',
  period tstzrange not null check (not isempty(period) and lower_inc(period) and not upper_inc(period)
                                   and not lower_inf(period) and not upper_inf(period)),
  buffer_before_minutes integer not null default 0 check (buffer_before_minutes between 0 and 240),
  buffer_after_minutes integer not null default 0 check (buffer_after_minutes between 0 and 240),
  blocked tstzrange not null,
  hold_expires_at timestamptz,
  sequence integer not null default 0,
  checked_in_at timestamptz,
  checked_out_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (status <> 'held' or hold_expires_at is not null),
  constraint appointments_no_double_booking
    exclude using gist (staff_id with =, blocked with &&)
    where (status in ('held', 'booked', 'in_progress'))
);
comment on table public.appointments is
  'One service by one staff member over `period`; the staff member is busy over `blocked` (period + buffers). Live rows never overlap per staff member (constraint appointments_no_double_booking).';
comment on column public.appointments.sequence is
  'Raised on every change that a calendar must see (iCalendar SEQUENCE).';
create index appointments_org_id_period_idx on public.appointments (org_id, lower(period));
create index appointments_service_id_idx on public.appointments (service_id);
create index appointments_staff_id_period_idx on public.appointments (staff_id, lower(period));
create index appointments_order_id_idx on public.appointments (order_id);
create index appointments_order_item_id_idx on public.appointments (order_item_id);
create index appointments_customer_user_id_idx on public.appointments (customer_user_id);
create index appointments_held_idx on public.appointments (hold_expires_at) where status = 'held';
