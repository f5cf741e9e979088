-- Row-level security for the appointments area, section by section: the catalogue and staff,
-- booking, changes, reports, subscriptions, calendar feeds, the staff portal, UK postcodes.
-- One file per area; each section keeps its own header.

-- Row-level security for the appointments catalogue and staff.
--
-- Public (anon, and any signed-in customer): active categories and active
-- services of every org, for the booking page. Anon may also read active
-- staff's id, org_id, display_name and active, nothing else (column grants).
-- Signed-in non-members see no staff rows at all: column grants cannot depend
-- on the row, and authenticated members need the contact columns, so a
-- customer gets staff names from the booking RPCs (a later change) instead.
--
-- Members: owners, admins and managers manage the catalogue, staff, the links
-- between them, schedules, breaks, time off and service areas of their org.
-- A manager's membership scope ({"staff_ids", "service_ids"}, see the
-- manager_scope migration) narrows the staff rows, schedules, breaks, time off
-- and areas they manage, and the appointments they read and write; services
-- and categories stay organization-wide. Owners and admins are never narrowed.
-- Staff read the org's catalogue and staff list; of schedules, breaks, time off
-- and areas they read only their own (private.own_staff_ids()). They may add
-- future time off for themselves and withdraw it before it starts; changing
-- it, backdating it or touching anyone else's is a manager's job.
-- Booking rules (appointment_settings): members read, owners/admins write.
-- Schedules, breaks, time off and areas are never public: the slot search
-- reads them through SECURITY DEFINER helpers.

revoke all on public.service_categories, public.services, public.staff, public.staff_services,
  public.staff_schedules, public.staff_breaks, public.staff_time_off, public.staff_service_areas,
  public.appointment_settings from anon, authenticated;

grant select on public.service_categories, public.services to anon;
grant select (id, org_id, display_name, active) on public.staff to anon;
grant select, insert, update, delete on public.service_categories, public.services, public.staff,
  public.staff_services, public.staff_schedules, public.staff_breaks, public.staff_time_off,
  public.staff_service_areas, public.appointment_settings to authenticated;
grant all on public.service_categories, public.services, public.staff, public.staff_services,
  public.staff_schedules, public.staff_breaks, public.staff_time_off, public.staff_service_areas,
  public.appointment_settings to service_role;

alter table public.service_categories enable row level security;
alter table public.services enable row level security;
alter table public.staff enable row level security;
alter table public.staff_services enable row level security;
alter table public.staff_schedules enable row level security;
alter table public.staff_breaks enable row level security;
alter table public.staff_time_off enable row level security;
alter table public.staff_service_areas enable row level security;
alter table public.appointment_settings enable row level security;

-- service_categories and services: public when active ---------------------------
do $$
declare
  t text;
  label text;
begin
  foreach t in array array['service_categories', 'services'] loop
    label := case t when 'services' then 'Services' else 'Service categories' end;
    execute format('drop policy if exists "Active %2$s are visible to anyone" on public.%1$I', t, lower(label));
    execute format($p$create policy "Active %2$s are visible to anyone" on public.%1$I
      for select to anon
      using (active)$p$, t, lower(label));
    execute format('drop policy if exists "%2$s are visible to the organization and, when active, to everyone" on public.%1$I', t, label);
    execute format($p$create policy "%2$s are visible to the organization and, when active, to everyone" on public.%1$I
      for select to authenticated
      using (active or org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[]))$p$, t, label);
    execute format('drop policy if exists "%2$s are created by managers" on public.%1$I', t, label);
    execute format($p$create policy "%2$s are created by managers" on public.%1$I
      for insert to authenticated
      with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))$p$, t, label);
    execute format('drop policy if exists "%2$s are edited by managers" on public.%1$I', t, label);
    execute format($p$create policy "%2$s are edited by managers" on public.%1$I
      for update to authenticated
      using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))
      with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))$p$, t, label);
    execute format('drop policy if exists "%2$s are deleted by managers" on public.%1$I', t, label);
    execute format($p$create policy "%2$s are deleted by managers" on public.%1$I
      for delete to authenticated
      using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))$p$, t, label);
  end loop;
end
$$;

-- staff and staff_services: the organization's team ------------------------------
drop policy if exists "Active staff names are visible to anyone" on public.staff;
create policy "Active staff names are visible to anyone" on public.staff
  for select to anon
  using (active);

-- Writes: owners and admins, and managers whose scope admits the staff member
-- (and, for a service link, the service).
do $$
declare
  t text;
  label text;
  managed text;
begin
  foreach t in array array['staff', 'staff_services'] loop
    label := case t when 'staff' then 'Staff' else 'Staff service links' end;
    -- The org test on the manager side matters for WITH CHECK: the scope lists
    -- the row's id, so without it a manager could move the row to another org.
    managed := 'org_id = any ((select private.org_ids_with_role(''{owner,admin}''))::uuid[])'
               ' or (org_id = any ((select private.org_ids_with_role(''{manager}''))::uuid[]) and '
               || case t when 'staff' then 'id = any ((select private.manager_staff_ids())::uuid[]))'
                         else 'staff_id = any ((select private.manager_staff_ids())::uuid[])'
                              ' and service_id = any ((select private.manager_service_ids())::uuid[]))' end;
    execute format('drop policy if exists "%2$s are visible to the organization" on public.%1$I', t, label);
    execute format($p$create policy "%2$s are visible to the organization" on public.%1$I
      for select to authenticated
      using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[]))$p$, t, label);
    execute format('drop policy if exists "%2$s are created by managers" on public.%1$I', t, label);
    -- A new staff member is in no one's scope yet: any manager of the org may add one.
    execute format($p$create policy "%2$s are created by managers" on public.%1$I
      for insert to authenticated
      with check (%3$s)$p$, t, label,
      case t when 'staff' then 'org_id = any ((select private.org_ids_with_role(''{owner,admin,manager}''))::uuid[])'
             else managed end);
    execute format('drop policy if exists "%2$s are edited by managers" on public.%1$I', t, label);
    execute format($p$create policy "%2$s are edited by managers" on public.%1$I
      for update to authenticated
      using (%3$s)
      with check (%3$s)$p$, t, label, managed);
    execute format('drop policy if exists "%2$s are deleted by managers" on public.%1$I', t, label);
    execute format($p$create policy "%2$s are deleted by managers" on public.%1$I
      for delete to authenticated
      using (%3$s)$p$, t, label, managed);
  end loop;
end
$$;

-- schedules, breaks and areas: owners, admins, managers within their scope, and
-- the staff member reads their own --------------------------------------------
do $$
declare
  t text;
  label text;
  managed constant text := 'org_id = any ((select private.org_ids_with_role(''{owner,admin}''))::uuid[])'
                           ' or (org_id = any ((select private.org_ids_with_role(''{manager}''))::uuid[])'
                           ' and staff_id = any ((select private.manager_staff_ids())::uuid[]))';
begin
  foreach t in array array['staff_schedules', 'staff_breaks', 'staff_service_areas'] loop
    label := case t when 'staff_schedules' then 'Schedules' when 'staff_breaks' then 'Breaks'
                    else 'Service areas' end;
    execute format('drop policy if exists "%2$s are visible to managers and to the staff member" on public.%1$I', t, label);
    execute format($p$create policy "%2$s are visible to managers and to the staff member" on public.%1$I
      for select to authenticated
      using (%3$s or staff_id = any ((select private.own_staff_ids())::uuid[]))$p$, t, label, managed);
    execute format('drop policy if exists "%2$s are created by managers" on public.%1$I', t, label);
    execute format($p$create policy "%2$s are created by managers" on public.%1$I
      for insert to authenticated
      with check (%3$s)$p$, t, label, managed);
    execute format('drop policy if exists "%2$s are edited by managers" on public.%1$I', t, label);
    execute format($p$create policy "%2$s are edited by managers" on public.%1$I
      for update to authenticated
      using (%3$s)
      with check (%3$s)$p$, t, label, managed);
    execute format('drop policy if exists "%2$s are deleted by managers" on public.%1$I', t, label);
    execute format($p$create policy "%2$s are deleted by managers" on public.%1$I
      for delete to authenticated
      using (%3$s)$p$, t, label, managed);
  end loop;
end
$$;

-- staff_time_off: managers, and the staff member's own future time off ---------
drop policy if exists "Time off is visible to managers and to the staff member" on public.staff_time_off;
create policy "Time off is visible to managers and to the staff member" on public.staff_time_off
  for select to authenticated
  using ((org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
              or (org_id = any ((select private.org_ids_with_role('{manager}'))::uuid[])
                  and staff_id = any ((select private.manager_staff_ids())::uuid[])))
         or staff_id = any ((select private.own_staff_ids())::uuid[]));

drop policy if exists "Time off is recorded by managers or, ahead of time, by the staff member" on public.staff_time_off;
create policy "Time off is recorded by managers or, ahead of time, by the staff member" on public.staff_time_off
  for insert to authenticated
  with check ((org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
              or (org_id = any ((select private.org_ids_with_role('{manager}'))::uuid[])
                  and staff_id = any ((select private.manager_staff_ids())::uuid[])))
              or (staff_id = any ((select private.own_staff_ids())::uuid[]) and lower(period) > now()));

drop policy if exists "Time off is edited by managers" on public.staff_time_off;
create policy "Time off is edited by managers" on public.staff_time_off
  for update to authenticated
  using ((org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
              or (org_id = any ((select private.org_ids_with_role('{manager}'))::uuid[])
                  and staff_id = any ((select private.manager_staff_ids())::uuid[]))))
  with check ((org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
              or (org_id = any ((select private.org_ids_with_role('{manager}'))::uuid[])
                  and staff_id = any ((select private.manager_staff_ids())::uuid[]))));

drop policy if exists "Time off is withdrawn by managers or, before it starts, by the staff member" on public.staff_time_off;
create policy "Time off is withdrawn by managers or, before it starts, by the staff member" on public.staff_time_off
  for delete to authenticated
  using ((org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
              or (org_id = any ((select private.org_ids_with_role('{manager}'))::uuid[])
                  and staff_id = any ((select private.manager_staff_ids())::uuid[])))
         or (staff_id = any ((select private.own_staff_ids())::uuid[]) and lower(period) > now()));

-- appointment_settings: members read, owners and admins write -------------------
drop policy if exists "Booking rules are visible to the organization" on public.appointment_settings;
create policy "Booking rules are visible to the organization" on public.appointment_settings
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[]));

drop policy if exists "Booking rules are created by owners and admins" on public.appointment_settings;
create policy "Booking rules are created by owners and admins" on public.appointment_settings
  for insert to authenticated
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

drop policy if exists "Booking rules are edited by owners and admins" on public.appointment_settings;
create policy "Booking rules are edited by owners and admins" on public.appointment_settings
  for update to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]))
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

drop policy if exists "Booking rules are reset by owners and admins" on public.appointment_settings;
create policy "Booking rules are reset by owners and admins" on public.appointment_settings
  for delete to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

-- ===========================================================================
-- appointments: the customer, the staff member doing the job, and the org's
-- managers (within their scope) read them; managers write them directly
-- (bookings by phone, fixes) but never delete them.
-- Customers and guests book, cancel and reschedule through RPCs that enforce
-- the cut-off policy; staff update their jobs through the staff-portal RPCs.
-- ===========================================================================
revoke all on public.appointments from anon, authenticated;
grant select on public.appointments to authenticated;
grant insert (org_id, service_id, staff_id, order_id, order_item_id, customer_user_id, customer_name,
              customer_email, customer_phone, postcode, address, notes, status, period,
              buffer_before_minutes, buffer_after_minutes, hold_expires_at)
  on public.appointments to authenticated;
grant update (service_id, staff_id, customer_name, customer_email, customer_phone, postcode, address, notes,
              status, period, buffer_before_minutes, buffer_after_minutes)
  on public.appointments to authenticated;
grant all on public.appointments to service_role;
alter table public.appointments enable row level security;

drop policy if exists "Appointments are visible to their customer, their staff member and managers" on public.appointments;
create policy "Appointments are visible to their customer, their staff member and managers" on public.appointments
  for select to authenticated
  using (customer_user_id = (select auth.uid())
         or staff_id = any ((select private.own_staff_ids())::uuid[])
         or (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
             or (org_id = any ((select private.org_ids_with_role('{manager}'))::uuid[])
                 and staff_id = any ((select private.manager_staff_ids())::uuid[])
                 and service_id = any ((select private.manager_service_ids())::uuid[]))));

drop policy if exists "Appointments are created by managers" on public.appointments;
create policy "Appointments are created by managers" on public.appointments
  for insert to authenticated
  with check ((org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
             or (org_id = any ((select private.org_ids_with_role('{manager}'))::uuid[])
                 and staff_id = any ((select private.manager_staff_ids())::uuid[])
                 and service_id = any ((select private.manager_service_ids())::uuid[]))));

drop policy if exists "Appointments are edited by managers" on public.appointments;
create policy "Appointments are edited by managers" on public.appointments
  for update to authenticated
  using ((org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
             or (org_id = any ((select private.org_ids_with_role('{manager}'))::uuid[])
                 and staff_id = any ((select private.manager_staff_ids())::uuid[])
                 and service_id = any ((select private.manager_service_ids())::uuid[]))))
  with check ((org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
             or (org_id = any ((select private.org_ids_with_role('{manager}'))::uuid[])
                 and staff_id = any ((select private.manager_staff_ids())::uuid[])
                 and service_id = any ((select private.manager_service_ids())::uuid[]))));

-- No deletes: an appointment is cancelled, never removed (deleting a booked job
-- inside the cut-off would get round the 24-hour policy).
drop policy if exists "Appointments are deleted by managers" on public.appointments;

-- ===========================================================================

-- Row-level security for appointment booking (migrations/*_appointments_booking.sql).
--
-- promo_code_services limits a promo code to services. Like promo_code_tiers,
-- only the org's owners, admins and managers read or change it; the public
-- never sees it (codes are validated at checkout only, by the SECURITY
-- DEFINER booking function).

revoke all on public.promo_code_services from anon, authenticated;
grant select, insert, update, delete on public.promo_code_services to authenticated;
grant all on public.promo_code_services to service_role;

alter table public.promo_code_services enable row level security;

drop policy if exists "Promo service limits are visible to managers" on public.promo_code_services;
create policy "Promo service limits are visible to managers" on public.promo_code_services
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Promo service limits are created by managers" on public.promo_code_services;
create policy "Promo service limits are created by managers" on public.promo_code_services
  for insert to authenticated
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Promo service limits are edited by managers" on public.promo_code_services;
create policy "Promo service limits are edited by managers" on public.promo_code_services
  for update to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Promo service limits are deleted by managers" on public.promo_code_services;
create policy "Promo service limits are deleted by managers" on public.promo_code_services
  for delete to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

-- ===========================================================================

-- Row-level security for appointment change requests
-- (migrations/*_appointments_changes.sql).
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

-- ===========================================================================

-- Row-level security for appointment ratings (migrations/*_appointments_reports.sql).
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

-- ===========================================================================

-- Row-level security for recurring appointment subscriptions
-- (migrations/*_appointments_subscriptions.sql).
--
-- Both tables are written only by the RPCs and the generator (SECURITY
-- DEFINER), so signed-in users get SELECT and nothing else; anon gets nothing
-- (a guest reads their subscription through public.lookup_subscription).
--
-- appointment_subscriptions: the customer reads their own; the staff member
-- who serves it reads it (read-only: it is their recurring job); the org's
-- owners and admins read their org's, managers those within their scope
-- (staff_ids/service_ids, migrations/*_appointments_manager_scope.sql). tracking_token_hash
-- is not readable by anyone but the server (column grant).
-- subscription_occurrences (the generation ledger, with the clashes "flagged
-- for an admin"): the org's owners, admins and managers (in scope). Customers and staff
-- see the resulting appointments themselves (policies/appointments.sql) and
-- customers the occurrences through the RPCs' answers.
revoke all on public.appointment_subscriptions, public.subscription_occurrences from anon, authenticated;
grant select (id, org_id, number, service_id, staff_id, customer_user_id, customer_name, customer_email,
              customer_phone, postcode, address, notes, frequency, first_date, start_time, months, ends_on,
              status, cancelled_at, cancelled_by, cancel_reason, created_at, updated_at)
  on public.appointment_subscriptions to authenticated;
grant select on public.subscription_occurrences to authenticated;
grant all on public.appointment_subscriptions, public.subscription_occurrences to service_role;

alter table public.appointment_subscriptions enable row level security;
alter table public.subscription_occurrences enable row level security;

drop policy if exists "Subscriptions are visible to their customer, their staff member and managers"
  on public.appointment_subscriptions;
create policy "Subscriptions are visible to their customer, their staff member and managers"
  on public.appointment_subscriptions
  for select to authenticated
  using (customer_user_id = (select auth.uid())
         or staff_id = any ((select private.own_staff_ids())::uuid[])
         or org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
         or (org_id = any ((select private.org_ids_with_role('{manager}'))::uuid[])
             and staff_id = any ((select private.manager_staff_ids())::uuid[])
             and service_id = any ((select private.manager_service_ids())::uuid[])));

drop policy if exists "Subscription occurrences are visible to the organization's managers"
  on public.subscription_occurrences;
create policy "Subscription occurrences are visible to the organization's managers"
  on public.subscription_occurrences
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[])
         -- within a manager's scope: the subscription's own policy decides
         and exists (select 1 from public.appointment_subscriptions s where s.id = subscription_id));

-- ===========================================================================

-- Row-level security for calendar feeds (migrations/*_appointments_calendar_feeds.sql).
--
-- Owner only: a signed-in user reads their own feeds (id, user_id, created_at,
-- revoked_at; never token_hash, by column grants), revokes one by setting
-- revoked_at (the only updatable column; a trigger stamps now() and refuses
-- to un-revoke) and deletes their own. Feeds are created only through
-- create_calendar_feed(), which makes the token server-side and shows it once:
-- there is no insert grant. Anon has no grant at all; the feed URL is served by
-- the calendar function through private.calendar_feed_events (service_role).

revoke all on public.calendar_feeds from anon, authenticated;
grant select (id, user_id, created_at, revoked_at) on public.calendar_feeds to authenticated;
grant update (revoked_at) on public.calendar_feeds to authenticated;
grant delete on public.calendar_feeds to authenticated;
grant all on public.calendar_feeds to service_role;
alter table public.calendar_feeds enable row level security;

drop policy if exists "Calendar feeds are visible to their owner" on public.calendar_feeds;
create policy "Calendar feeds are visible to their owner" on public.calendar_feeds
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists "Calendar feeds are revoked by their owner" on public.calendar_feeds;
create policy "Calendar feeds are revoked by their owner" on public.calendar_feeds
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));

drop policy if exists "Calendar feeds are deleted by their owner" on public.calendar_feeds;
create policy "Calendar feeds are deleted by their owner" on public.calendar_feeds
  for delete to authenticated
  using (user_id = (select auth.uid()));

-- ===========================================================================

-- Row-level security for the staff portal (migrations/*_appointments_staff_portal.sql).
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

-- ===========================================================================

-- Row-level security for UK postcode districts (public.uk_outcodes): open data
-- (OGL v3), readable by everyone, writable by no API role. The rows change only
-- through migrations generated from shared/data/uk_outcodes.csv, so even
-- service_role (the server key) gets SELECT alone: a stray server-side write
-- cannot drift the table away from the shipped, attributed file.

revoke all on public.uk_outcodes from anon, authenticated, service_role;
grant select on public.uk_outcodes to anon, authenticated, service_role;

alter table public.uk_outcodes enable row level security;

drop policy if exists "UK postcode districts are readable by anyone" on public.uk_outcodes;
drop policy if exists "UK postcode districts are readable by visitors" on public.uk_outcodes;
create policy "UK postcode districts are readable by visitors" on public.uk_outcodes
  for select to anon
  using (true);

drop policy if exists "UK postcode districts are readable by signed-in users" on public.uk_outcodes;
create policy "UK postcode districts are readable by signed-in users" on public.uk_outcodes
  for select to authenticated
  using (true);
