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
