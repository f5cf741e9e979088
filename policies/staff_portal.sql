-- Row-level security for the staff portal (migrations/*_staff_portal.sql).
--
-- job_photos: the job's staff member and the owners, admins and managers whose
-- scope admits the job read and add photos; the job's customer reads them
-- (proof of the work done at their home); nobody else, and nothing for anon.
-- Only appointment_id, content_type and bytes are written by the caller: the
-- trigger sets org_id, object_path and uploaded_by (the caller). There is no
-- update or delete grant: a photo is a record of the job (service_role, e.g.
-- a GDPR erase, removes photos and their objects together). Rows are normally
-- written by functions/staff-portal acting as the caller, in the same
-- transaction as the upload of the bytes.
--
-- appointments.job_note: managers may correct the note (column grant); staff
-- write it through check_out_job / set_job_status.

revoke all on public.job_photos from anon, authenticated;
grant select on public.job_photos to authenticated;
grant insert (appointment_id, content_type, bytes) on public.job_photos to authenticated;
grant all on public.job_photos to service_role;
alter table public.job_photos enable row level security;

grant update (job_note) on public.appointments to authenticated;

drop policy if exists "Job photos are visible to the job's staff member, its managers and its customer" on public.job_photos;
create policy "Job photos are visible to the job's staff member, its managers and its customer" on public.job_photos
  for select to authenticated
  using (appointment_id in (
    select a.id from public.appointments a
    where a.customer_user_id = (select auth.uid())
       or a.staff_id = any ((select private.own_staff_ids())::uuid[])
       or a.org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
       or (a.staff_id = any ((select private.manager_staff_ids())::uuid[])
           and a.service_id = any ((select private.manager_service_ids())::uuid[]))));

drop policy if exists "Job photos are added by the job's staff member and its managers" on public.job_photos;
create policy "Job photos are added by the job's staff member and its managers" on public.job_photos
  for insert to authenticated
  with check (uploaded_by = (select auth.uid())
              and appointment_id in (
                select a.id from public.appointments a
                where a.org_id = job_photos.org_id
                  and (a.staff_id = any ((select private.own_staff_ids())::uuid[])
                       or a.org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
                       or (a.staff_id = any ((select private.manager_staff_ids())::uuid[])
                           and a.service_id = any ((select private.manager_service_ids())::uuid[])))));
