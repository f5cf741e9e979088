-- Manager scope: which jobs a manager manages.
--
-- A membership's `scope` (tenancy migration) narrows what a manager manages:
--   {"staff_ids": ["<uuid>", ...], "service_ids": ["<uuid>", ...]}
-- A missing key does not narrow that dimension, so '{}' (the default) means the
-- whole organization, as before; both keys narrow to jobs of those staff AND
-- those services. Owners and admins are never narrowed; the scope means
-- nothing for other roles. Other keys are left for other business areas.
--
-- The scope applies to the appointments side: reading and writing
-- appointments (policies/appointments.sql), the staff rows, schedules, breaks,
-- time off and service areas of the staff they manage, overriding the
-- cancellation cut-off, deciding change requests (and being told about them),
-- and what their calendar feed shows. The catalogue (services, categories)
-- stays organization-wide for managers.
--
-- Also here: nobody signed in deletes appointments any more. Deleting a booked
-- job inside the cut-off was a way around the 24-hour policy; an appointment
-- is cancelled instead (and keeps its history). Held rows are cleaned up by
-- the service role.
--
-- The functions below are the earlier ones (appointment_changes,
-- calendar_feeds migrations) with their manager checks narrowed to the scope.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121001600_appointments_manager_scope.sql.

-- A scope lists staff and service ids, so a row must never change org under
-- it: the catalogue's org_id is fixed once written (the policies check the
-- caller's org too, but this holds for every path).
create or replace function private.keep_org_id() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if new.org_id is distinct from old.org_id then
    raise exception using errcode = 'PT422', detail = 'org_id_fixed',
      message = format('A %s row cannot move to another organization', tg_table_name);
  end if;
  return new;
end;
$$;

create or replace function private.scope_allows(p_scope jsonb, p_staff_id uuid, p_service_id uuid) returns boolean
  language sql immutable
  set search_path = ''
as $$
  select (p_staff_id is null or not (p_scope ? 'staff_ids') or (p_scope -> 'staff_ids') ? p_staff_id::text)
     and (p_service_id is null or not (p_scope ? 'service_ids') or (p_scope -> 'service_ids') ? p_service_id::text);
$$;
comment on function private.scope_allows(jsonb, uuid, uuid) is
  'Whether a manager scope admits a job of this staff member and service (a null argument is not checked).';

create or replace function private.user_manages_appointment(p_user_id uuid, p_org_id uuid, p_staff_id uuid, p_service_id uuid)
  returns boolean
  language sql stable
  security definer
  set search_path = ''
as $$
  select exists (
    select 1 from public.memberships m
    where m.org_id = p_org_id and m.user_id = p_user_id
      and (m.role in ('owner', 'admin')
           or (m.role = 'manager' and private.scope_allows(m.scope, p_staff_id, p_service_id))));
$$;
comment on function private.user_manages_appointment(uuid, uuid, uuid, uuid) is
  'Owner/admin of the org, or a manager whose scope admits the staff member and service. Not for API roles '
  '(it would tell anyone who manages what); they use manages_appointment().';
revoke execute on function private.user_manages_appointment(uuid, uuid, uuid, uuid) from public, anon, authenticated;

create or replace function private.manages_appointment(p_org_id uuid, p_staff_id uuid, p_service_id uuid)
  returns boolean
  language sql stable
  security definer
  set search_path = ''
as $$
  select private.user_manages_appointment((select auth.uid()), p_org_id, p_staff_id, p_service_id);
$$;
comment on function private.manages_appointment(uuid, uuid, uuid) is
  'Whether the caller manages jobs of this staff member and service in this org (policies and RPCs).';
revoke execute on function private.manages_appointment(uuid, uuid, uuid) from public, anon;
grant execute on function private.manages_appointment(uuid, uuid, uuid) to authenticated;

-- For policies: the staff members and services whose jobs the caller manages
-- as a manager (owners and admins are matched by org instead). Each staff
-- member and service belongs to one org and a user has one membership per
-- org, so `staff_id = any(manager_staff_ids()) and service_id =
-- any(manager_service_ids())` is exactly scope_allows() for that job's org,
-- and both arrays are computed once per statement (`(select …)` initplans).
create or replace function private.manager_staff_ids() returns uuid[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(array_agg(s.id), '{}')
  from public.memberships m
  join public.staff s on s.org_id = m.org_id
  where m.user_id = (select auth.uid()) and m.role = 'manager'
    and private.scope_allows(m.scope, s.id, null);
$$;
comment on function private.manager_staff_ids() is
  'Staff ids whose jobs the caller manages as a manager (scope staff_ids, or the whole org).';

create or replace function private.manager_service_ids() returns uuid[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(array_agg(v.id), '{}')
  from public.memberships m
  join public.services v on v.org_id = m.org_id
  where m.user_id = (select auth.uid()) and m.role = 'manager'
    and private.scope_allows(m.scope, null, v.id);
$$;
comment on function private.manager_service_ids() is
  'Service ids whose jobs the caller manages as a manager (scope service_ids, or the whole org).';
revoke execute on function private.manager_staff_ids(), private.manager_service_ids() from public, anon;
grant execute on function private.manager_staff_ids(), private.manager_service_ids() to authenticated;
