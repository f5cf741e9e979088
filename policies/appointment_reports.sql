-- Row-level security for appointment ratings (migrations/*_appointment_reports.sql).
--
-- Written only by the RPCs (review_appointment[_as_guest]), so neither anon
-- nor signed-in users get a write grant. A review is visible to whoever may
-- read its appointment: the policy asks public.appointments under the
-- caller's own RLS, so the customer reads their own reviews, the staff member
-- the reviews of their own jobs, owners and admins their org's, managers
-- those within their scope; other customers, other tenants and anon nothing.
-- Reports read reviews through SECURITY DEFINER helpers with their own checks.
revoke all on public.appointment_reviews from anon, authenticated;
grant select on public.appointment_reviews to authenticated;
grant all on public.appointment_reviews to service_role;
alter table public.appointment_reviews enable row level security;

drop policy if exists "Reviews are visible to whoever sees the appointment" on public.appointment_reviews;
create policy "Reviews are visible to whoever sees the appointment" on public.appointment_reviews
  for select to authenticated
  using (exists (select 1 from public.appointments a where a.id = appointment_id));
