-- Service appointments: ratings and reports (issue 5, deliverable 11).
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/appointments/reports.sql, routines/appointments/triggers.sql.

-- ===========================================================================
-- Ratings
-- ===========================================================================
create table public.appointment_reviews (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  appointment_id uuid not null references public.appointments (id) on delete cascade,
  rating smallint not null check (rating between 1 and 5),
  comment text check (length(comment) <= 2000),
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  constraint appointment_reviews_one_per_appointment unique (appointment_id)
);
comment on table public.appointment_reviews is
  'A customer''s (or guest''s: created_by null) 1-5 rating of a completed appointment, at most one per appointment. '
  'Written only by review_appointment / review_appointment_as_guest; readable by whoever reads the appointment.';
create index appointment_reviews_org_id_idx on public.appointment_reviews (org_id, created_at desc);
create index appointment_reviews_created_by_idx on public.appointment_reviews (created_by);

-- ===========================================================================
-- Reports: inputs and reach
-- ===========================================================================

-- Late cancellations are found by appointment among the org's policy overrides.
create index audit_log_policy_overrides_idx on public.audit_log (org_id, row_id)
  where action = 'appointment.policy_override';
