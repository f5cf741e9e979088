-- Service appointments: the staff portal.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/appointments/staff_portal.sql, routines/appointments/triggers.sql.

-- ===========================================================================
-- The job lifecycle
-- ===========================================================================
create table private.appointment_status_transitions (
  from_status public.appointment_status not null,
  to_status public.appointment_status not null,
  description text not null,
  primary key (from_status, to_status),
  check (from_status <> to_status)
);
comment on table private.appointment_status_transitions is
  'Every status move an appointment may make; anything else is refused by private.enforce_appointment_transition.';
revoke all on private.appointment_status_transitions from public, anon, authenticated;

insert into private.appointment_status_transitions (from_status, to_status, description) values
  ('held', 'booked', 'the order was paid'),
  ('held', 'cancelled', 'the hold expired or the checkout was abandoned'),
  ('booked', 'in_progress', 'check-in: the staff member is on site (from the start of the job''s day)'),
  ('booked', 'no_show', 'nobody there (only after the start time)'),
  ('booked', 'cancelled', 'cancelled (the cut-off policy applies)'),
  ('in_progress', 'completed', 'check-out: the job is done'),
  ('in_progress', 'cancelled', 'abandoned on site (after the cut-off: a manager override)'),
  ('cancelled', 'booked', 'a late payment took the slot back, or a manager reinstated it while it is free');

alter table public.appointments add column job_note text check (length(job_note) <= 2000);
comment on column public.appointments.job_note is
  'The staff member''s note at check-out (or a status change): what was done, what to know next time.';

-- ===========================================================================
-- Job photos
-- ===========================================================================
create table public.job_photos (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  appointment_id uuid not null references public.appointments (id) on delete cascade,
  uploaded_by uuid references public.profiles (id) on delete set null,
  object_path text not null unique check (length(object_path) <= 200),
  content_type text not null check (content_type in ('image/jpeg', 'image/png', 'image/webp')),
  bytes integer not null check (bytes between 1 and 10485760),
  created_at timestamptz not null default now()
);
comment on table public.job_photos is
  'A photo taken on a job: metadata here, the bytes in storage at object_path (<org>/<appointment>/<id>.<ext>, '
  'set by the database). Read by the job''s staff member, managers in scope and the job''s customer; added by '
  'the staff member and managers in scope (through functions/staff-portal, which stores the bytes).';
create index job_photos_org_id_idx on public.job_photos (org_id);
create index job_photos_appointment_id_idx on public.job_photos (appointment_id, created_at);
create index job_photos_uploaded_by_idx on public.job_photos (uploaded_by);
