-- Service appointments, part 1: the catalogue and the staff who deliver it.
--
-- What an organization sells (service categories and services with their
-- duration, price and buffers), who does the work (staff, optionally linked to
-- a member's account), which staff do which services, when they work (weekly
-- schedules and breaks, one or more intervals per weekday), when they do not
-- (time off), where they go (service areas: outward code + radius), and the
-- per-org booking rules (appointment_settings). Bookings, slots and holds come
-- in a later migration; the slot search will read schedules, breaks, time off
-- and areas through SECURITY DEFINER helpers, so none of them is public.
--
-- Weekly times are wall-clock `time` values in the org's timezone; weekday is
-- ISO minus one (0 = Monday … 6 = Sunday, i.e. extract(isodow) - 1). Each
-- interval also keeps `minutes`, an int4range of minutes since midnight
-- ([start, end)), which an exclusion constraint uses so a staff member's
-- intervals on one weekday never overlap; touching intervals (09:00-12:00 and
-- 12:00-17:00) are fine. Time off is a tstzrange, also exclusive per staff.
--
-- Integrity across tenants: every child row's staff, service or category must
-- be in the row's own org (private.check_appointments_same_org, PT422
-- foreign_*), and a staff row linked to a user needs that user's membership
-- in the org (PT422 foreign_user). RLS: policies/appointments.sql.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121000800_appointments_catalogue.sql.

-- The org's rules, or the column defaults when it has never saved any.
create or replace function private.appointment_settings_for(p_org_id uuid) returns public.appointment_settings
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  result public.appointment_settings;
begin
  select * into result from public.appointment_settings where org_id = p_org_id;
  if not found then
    result := row(p_org_id, 15, 120, 60, 24, 10, null, null)::public.appointment_settings;
  end if;
  return result;
end;
$$;
comment on function private.appointment_settings_for(uuid) is
  'Booking rules for an org, defaults when it has no appointment_settings row. For the slot and booking helpers.';
grant execute on function private.appointment_settings_for(uuid) to service_role;

create or replace function private.check_appointments_same_org() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  -- One branch per table shape: PL/pgSQL resolves every field named in an expression.
  if tg_table_name = 'services' then
    if new.category_id is not null and not exists (
         select 1 from public.service_categories c where c.id = new.category_id and c.org_id = new.org_id) then
      raise exception using errcode = 'PT422', message = 'The category belongs to another organization',
        detail = 'foreign_category';
    end if;
  elsif tg_table_name = 'staff' then
    if new.user_id is not null and not exists (
         select 1 from public.memberships m where m.user_id = new.user_id and m.org_id = new.org_id) then
      raise exception using errcode = 'PT422', message = 'Only a member of the organization can be linked to a staff row',
        detail = 'foreign_user';
    end if;
  elsif tg_table_name = 'staff_services' then
    if not exists (select 1 from public.staff s where s.id = new.staff_id and s.org_id = new.org_id) then
      raise exception using errcode = 'PT422', message = 'The staff member belongs to another organization',
        detail = 'foreign_staff';
    end if;
    if not exists (select 1 from public.services s where s.id = new.service_id and s.org_id = new.org_id) then
      raise exception using errcode = 'PT422', message = 'The service belongs to another organization',
        detail = 'foreign_service';
    end if;
  elsif tg_table_name in ('staff_schedules', 'staff_breaks', 'staff_time_off', 'staff_service_areas') then
    if not exists (select 1 from public.staff s where s.id = new.staff_id and s.org_id = new.org_id) then
      raise exception using errcode = 'PT422', message = 'The staff member belongs to another organization',
        detail = 'foreign_staff';
    end if;
  end if;
  return new;
end;
$$;

-- The staff rows linked to the caller in orgs where they are still a member:
-- removing someone from the org ends their view of "their own" rows at once,
-- even before a manager unlinks the staff row.
create or replace function private.own_staff_ids() returns uuid[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(array_agg(s.id), '{}')
  from public.staff s
  join public.memberships m on m.org_id = s.org_id and m.user_id = s.user_id
  where s.user_id = (select auth.uid());
$$;
comment on function private.own_staff_ids() is
  'Staff ids linked to the caller (membership still held); policies compare with = any((select …)).';
grant execute on function private.own_staff_ids() to authenticated, service_role;
