-- Service appointments: the cancel/reschedule cut-off, the change RPCs and
-- change requests.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/appointments/changes.sql, routines/appointments/triggers.sql.

-- ===========================================================================
-- Change requests
-- ===========================================================================
create type public.appointment_change_kind as enum ('cancel', 'reschedule');
create type public.appointment_change_status as enum ('pending', 'approved', 'rejected');

create table public.appointment_change_requests (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  appointment_id uuid not null references public.appointments (id) on delete cascade,
  requested_by uuid references public.profiles (id) on delete set null,
  kind public.appointment_change_kind not null,
  proposed_start timestamptz,
  reason text check (length(reason) <= 1000),
  status public.appointment_change_status not null default 'pending',
  decided_by uuid references public.profiles (id) on delete set null,
  decided_at timestamptz,
  decision_note text check (length(decision_note) <= 1000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((kind = 'reschedule') = (proposed_start is not null)),
  check ((status = 'pending') = (decided_at is null))
);
comment on table public.appointment_change_requests is
  'A customer''s (or guest''s: requested_by null) request to cancel or move a booked appointment, also after the '
  'cut-off; an owner/admin/manager approves (applied through the audited override) or rejects. Written only by the RPCs.';
create index appointment_change_requests_org_id_idx on public.appointment_change_requests (org_id, created_at desc);
create index appointment_change_requests_appointment_id_idx on public.appointment_change_requests (appointment_id);
create unique index appointment_change_requests_one_pending
  on public.appointment_change_requests (appointment_id) where status = 'pending';
create index appointment_change_requests_requested_by_idx on public.appointment_change_requests (requested_by);
create index appointment_change_requests_decided_by_idx on public.appointment_change_requests (decided_by);
