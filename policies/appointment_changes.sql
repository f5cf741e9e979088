-- Row-level security for appointment change requests
-- (migrations/*_appointment_changes.sql).
--
-- Written only by the RPCs (request_appointment_change[_as_guest],
-- decide_appointment_change), so signed-in users get no write grant at all.
-- The customer who asked reads their own requests (requested_by); owners and
-- admins read their org's, managers those within their scope. Staff, other
-- customers and anon read nothing; a guest follows their request through the
-- notifications.
revoke all on public.appointment_change_requests from anon, authenticated;
grant select on public.appointment_change_requests to authenticated;
grant all on public.appointment_change_requests to service_role;
alter table public.appointment_change_requests enable row level security;

drop policy if exists "Change requests are visible to their customer and the organization's managers"
  on public.appointment_change_requests;
create policy "Change requests are visible to their customer and the organization's managers"
  on public.appointment_change_requests
  for select to authenticated
  using (requested_by = (select auth.uid())
         or (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[])
             -- within a manager's scope: the appointment's own policy decides
             and exists (select 1 from public.appointments a where a.id = appointment_id)));
