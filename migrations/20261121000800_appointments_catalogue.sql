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

create extension if not exists btree_gist schema extensions;

-- ===========================================================================
-- Catalogue: categories and services
-- ===========================================================================
create table public.service_categories (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 120),
  description text check (length(description) <= 2000),
  sort_order integer not null default 0,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, name)
);
comment on table public.service_categories is
  'Groups services on the booking page (e.g. "Domestic cleaning"). Active ones are public.';
create trigger service_categories_touch before update on public.service_categories
  for each row execute function private.touch_updated_at();

create table public.services (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  category_id uuid references public.service_categories (id) on delete set null,
  name text not null check (length(btrim(name)) between 1 and 200),
  description text check (length(description) <= 10000),
  duration_minutes integer not null check (duration_minutes between 5 and 1440),
  price_minor bigint not null check (price_minor >= 0),
  currency char(3) not null default 'GBP' check (currency ~ '^[A-Z]{3}$'),
  buffer_before_minutes integer not null default 0 check (buffer_before_minutes between 0 and 240),
  buffer_after_minutes integer not null default 0 check (buffer_after_minutes between 0 and 240),
  sort_order integer not null default 0,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.services is
  'Something a customer books: how long it takes, what it costs (minor units) and the staff time blocked before and after it (travel, setup). Active ones are public.';
comment on column public.services.buffer_before_minutes is
  'Minutes the staff member is blocked before the appointment starts; the customer does not see them.';
create index services_org_id_idx on public.services (org_id, sort_order);
create index services_category_id_idx on public.services (category_id);
create trigger services_touch before update on public.services
  for each row execute function private.touch_updated_at();
create trigger services_audit after insert or update or delete on public.services
  for each row execute function private.audit_row('org_id');

-- ===========================================================================
-- Staff and what they do
-- ===========================================================================
create table public.staff (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid references public.profiles (id) on delete set null,
  display_name text not null check (length(btrim(display_name)) between 1 and 120),
  email text check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and length(email) <= 320),
  phone text check (length(phone) <= 40),
  base_outcode text check (base_outcode ~ '^[A-Z]{1,2}[0-9][A-Z0-9]?$'),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, user_id)
);
comment on table public.staff is
  'Someone who delivers services. user_id links the member''s account (they then see their own schedule, time off and, later, jobs); a staff row without one is managed for them. Anon sees only id, org_id, display_name and active (column grants).';
comment on column public.staff.base_outcode is
  'Outward code (e.g. SW1A) where the staff member starts the day; route planning starts here.';
create index staff_user_id_idx on public.staff (user_id);
create trigger staff_touch before update on public.staff
  for each row execute function private.touch_updated_at();
create trigger staff_audit after insert or update or delete on public.staff
  for each row execute function private.audit_row('org_id');

create table public.staff_services (
  staff_id uuid not null references public.staff (id) on delete cascade,
  service_id uuid not null references public.services (id) on delete cascade,
  org_id uuid not null references public.organizations (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (staff_id, service_id)
);
comment on table public.staff_services is 'Which staff member can deliver which service.';
create index staff_services_service_id_idx on public.staff_services (service_id);
create index staff_services_org_id_idx on public.staff_services (org_id);

-- ===========================================================================
-- Weekly availability: schedules and breaks
-- ===========================================================================
create table public.staff_schedules (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  staff_id uuid not null references public.staff (id) on delete cascade,
  weekday smallint not null check (weekday between 0 and 6),
  starts_at time not null check (extract(second from starts_at) = 0),
  ends_at time not null check (extract(second from ends_at) = 0),
  minutes int4range not null generated always as (
    -- greatest(): a reversed interval reaches the check below (23514) instead of a range error.
    int4range(extract(epoch from starts_at)::int / 60,
              greatest(extract(epoch from starts_at)::int, extract(epoch from ends_at)::int) / 60)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (ends_at > starts_at),
  constraint staff_schedules_no_overlap
    exclude using gist (staff_id with =, weekday with =, minutes with &&)
);
comment on table public.staff_schedules is
  'Weekly working hours, wall-clock in the org''s timezone; weekday 0 = Monday (ISO). Several intervals per day allowed, never overlapping.';
comment on column public.staff_schedules.minutes is
  'The interval as minutes since midnight, [start, end): what the no-overlap constraint and the slot search use.';
create index staff_schedules_org_id_idx on public.staff_schedules (org_id);
create trigger staff_schedules_touch before update on public.staff_schedules
  for each row execute function private.touch_updated_at();

create table public.staff_breaks (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  staff_id uuid not null references public.staff (id) on delete cascade,
  weekday smallint not null check (weekday between 0 and 6),
  starts_at time not null check (extract(second from starts_at) = 0),
  ends_at time not null check (extract(second from ends_at) = 0),
  minutes int4range not null generated always as (
    -- greatest(): a reversed interval reaches the check below (23514) instead of a range error.
    int4range(extract(epoch from starts_at)::int / 60,
              greatest(extract(epoch from starts_at)::int, extract(epoch from ends_at)::int) / 60)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (ends_at > starts_at),
  constraint staff_breaks_no_overlap
    exclude using gist (staff_id with =, weekday with =, minutes with &&)
);
comment on table public.staff_breaks is
  'Recurring weekly breaks (lunch), subtracted from the schedule; same shape and rules as staff_schedules.';
create index staff_breaks_org_id_idx on public.staff_breaks (org_id);
create trigger staff_breaks_touch before update on public.staff_breaks
  for each row execute function private.touch_updated_at();

-- ===========================================================================
-- Time off and service areas
-- ===========================================================================
create table public.staff_time_off (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  staff_id uuid not null references public.staff (id) on delete cascade,
  period tstzrange not null
    check (not isempty(period) and not lower_inf(period) and not upper_inf(period)),
  reason text check (length(reason) <= 500),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint staff_time_off_no_overlap exclude using gist (staff_id with =, period with &&)
);
comment on table public.staff_time_off is
  'Absences (holiday, sickness, appointments). Managers record any; a linked staff member may add future time off of their own and withdraw it before it starts. Overlaps per staff are refused; who did what is in audit_log.';
create index staff_time_off_org_id_idx on public.staff_time_off (org_id);
create trigger staff_time_off_touch before update on public.staff_time_off
  for each row execute function private.touch_updated_at();
create trigger staff_time_off_audit after insert or update or delete on public.staff_time_off
  for each row execute function private.audit_row('org_id');

create table public.staff_service_areas (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  staff_id uuid not null references public.staff (id) on delete cascade,
  outcode text not null check (outcode ~ '^[A-Z]{1,2}[0-9][A-Z0-9]?$'),
  radius_km numeric(5, 1) not null default 0 check (radius_km between 0 and 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (staff_id, outcode)
);
comment on table public.staff_service_areas is
  'Where a staff member works: within radius_km (great-circle) of the outward code''s centroid; 0 means that district only.';
create index staff_service_areas_org_id_idx on public.staff_service_areas (org_id);
create trigger staff_service_areas_touch before update on public.staff_service_areas
  for each row execute function private.touch_updated_at();

-- ===========================================================================
-- Booking rules per organization
-- ===========================================================================
create table public.appointment_settings (
  org_id uuid primary key references public.organizations (id) on delete cascade,
  slot_interval_minutes integer not null default 15 check (slot_interval_minutes between 5 and 240),
  min_notice_minutes integer not null default 120 check (min_notice_minutes between 0 and 43200),
  max_days_ahead integer not null default 60 check (max_days_ahead between 1 and 730),
  cancellation_cutoff_hours integer not null default 24 check (cancellation_cutoff_hours between 0 and 720),
  hold_minutes integer not null default 10 check (hold_minutes between 1 and 60),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.appointment_settings is
  'Per-org booking rules: slot grid, minimum notice, how far ahead, the cancel/reschedule cut-off and how long a chosen slot is held. No row means the defaults (private.appointment_settings_for).';
create trigger appointment_settings_touch before update on public.appointment_settings
  for each row execute function private.touch_updated_at();
create trigger appointment_settings_audit after insert or update or delete on public.appointment_settings
  for each row execute function private.audit_row('org_id');

-- The org's rules, or the column defaults when it has never saved any.
create function private.appointment_settings_for(p_org_id uuid) returns public.appointment_settings
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

-- ===========================================================================
-- Same-org integrity and the staff-member link
-- ===========================================================================
create function private.check_appointments_same_org() returns trigger
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
create trigger services_same_org before insert or update of category_id, org_id on public.services
  for each row execute function private.check_appointments_same_org();
create trigger staff_same_org before insert or update of user_id, org_id on public.staff
  for each row execute function private.check_appointments_same_org();
create trigger staff_services_same_org before insert or update on public.staff_services
  for each row execute function private.check_appointments_same_org();
create trigger staff_schedules_same_org before insert or update of staff_id, org_id on public.staff_schedules
  for each row execute function private.check_appointments_same_org();
create trigger staff_breaks_same_org before insert or update of staff_id, org_id on public.staff_breaks
  for each row execute function private.check_appointments_same_org();
create trigger staff_time_off_same_org before insert or update of staff_id, org_id on public.staff_time_off
  for each row execute function private.check_appointments_same_org();
create trigger staff_service_areas_same_org before insert or update of staff_id, org_id on public.staff_service_areas
  for each row execute function private.check_appointments_same_org();

-- ===========================================================================
-- Role helper for the policies
-- ===========================================================================

-- The staff rows linked to the caller in orgs where they are still a member:
-- removing someone from the org ends their view of "their own" rows at once,
-- even before a manager unlinks the staff row.
create function private.own_staff_ids() returns uuid[]
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
