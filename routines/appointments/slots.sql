-- Service appointments, part 3: postcode coverage and time slots.
--
-- Postcode first: public.services_for_postcode(org_slug, postcode) validates
-- and normalises the postcode (public.lookup_postcode's rules and messages) and
-- lists the org's active services that at least one active, qualified staff
-- member covers, with how many cover it (never who: staff contact data is not
-- public). A staff member covers a district when the great-circle distance
-- from the district's centroid to the centroid of one of their service areas'
-- outward codes is <= that area's radius_km (radius 0: that district only).
--
-- Slots: public.available_slots(service_id, postcode, date_from, date_to,
-- staff_id) answers, per day of the range in the ORG's timezone, the start
-- times at which at least one covering, qualified, active staff member can
-- take the service, and who:
--   [{"date": "2026-03-29", "slots": [{"start": "2026-03-29T09:00:00+01:00",
--                                      "end": "…", "staff": [staff ids]}]}]
-- Every day of the range is listed, with "slots": [] when nothing is free.
--
-- The rules (private.slot_candidates; private.is_bookable applies the same):
--   * Grid: starts are wall-clock times in the org's timezone whose minute of
--     the day is a multiple of slot_interval_minutes (09:00, 09:15, …).
--   * A start books the staff member over blocked = [start - buffer_before,
--     start + duration + buffer_after), exactly what public.appointments will
--     store. All of blocked must be working time: inside the day's schedule
--     intervals (touching intervals join up), outside breaks and time off, and
--     not overlapping the blocked period of any live (held, booked,
--     in_progress) appointment. Buffers are the staff member's time (travel,
--     setup), so they must fit in working hours too. A held appointment whose
--     hold has lapsed still counts until the hold sweep cancels it: the
--     exclusion constraint would refuse the booking until then anyway.
--   * start >= now + min_notice_minutes and start < local midnight of
--     (today + max_days_ahead), "today" being the org's current local date.
--
-- Time zones and DST: weekly schedules and breaks are wall-clock `time` in the
-- org's timezone, so each day's interval is built as (date + time) AT TIME ZONE
-- tz, and all arithmetic after that is on instants. 09:00 stays 09:00 local on
-- both change days; a wall-clock start that does not exist (Europe/London
-- 01:00-02:00 on the last Sunday of March) is dropped, because converting it
-- back does not give the same wall-clock time; an ambiguous one (01:00-02:00 on
-- the last Sunday of October) is offered once, at the later instant (GMT),
-- which is what Postgres' AT TIME ZONE picks. A 2-hour job always lasts 2 real
-- hours, so one that crosses a change ends at a different wall-clock time.
--
-- Set-based: days (generate_series) x weekly intervals give each staff
-- member's working time as one tstzmultirange; breaks, time off and live
-- appointments (one indexed range scan per staff member over the searched
-- window, via the gist indexes of the exclusion constraints) are subtracted as
-- another; each grid start is then one containment test (@>). No loops.
--
-- Privileges: schedules, breaks, time off and areas are not readable by anon
-- or customers (policies/appointments.sql); the SECURITY DEFINER helpers below
-- read them and answer only starts and staff ids. The public RPCs are SECURITY
-- INVOKER and check their inputs first. Only private.slot_days takes a "now"
-- (tests inject one); what anon can reach always uses now().
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121001000_appointments_slots.sql.

-- public.lookup_postcode's answer for a postcode that is valid and covered;
-- otherwise PT422 with its message (invalid_postcode, postcode_not_covered).
create or replace function private.covered_postcode(p_postcode text) returns jsonb
  language plpgsql stable
  set search_path = ''
as $$
declare
  answer jsonb := public.lookup_postcode(p_postcode);
begin
  if not (answer ->> 'valid')::boolean then
    raise exception using errcode = 'PT422', message = answer ->> 'message', detail = 'invalid_postcode';
  end if;
  if not (answer ->> 'covered')::boolean then
    raise exception using errcode = 'PT422', message = answer ->> 'message', detail = 'postcode_not_covered';
  end if;
  return answer;
end;
$$;
comment on function private.covered_postcode(text) is
  'public.lookup_postcode for a postcode that must be valid and covered: raises PT422 invalid_postcode or postcode_not_covered (Channel Islands, Isle of Man, unknown district) with a message for the customer.';

-- The active staff of an org who cover a district (null p_outcode: all of them).
create or replace function private.covering_staff(p_org_id uuid, p_outcode text)
  returns table (staff_id uuid)
  language sql stable
  security definer
  set search_path = ''
as $$
  select st.id
  from public.staff st
  where st.org_id = p_org_id
    and st.active
    and (p_outcode is null or exists (
      select 1
      from public.staff_service_areas a
      cross join public.uk_outcodes here
      left join public.uk_outcodes centre on centre.outcode = a.outcode
      where a.staff_id = st.id
        and here.outcode = p_outcode
        and (a.outcode = here.outcode
             or private.haversine_km(here.latitude, here.longitude, centre.latitude, centre.longitude)
                <= a.radius_km)));
$$;
comment on function private.covering_staff(uuid, text) is
  'Active staff of the org with a service area whose outward-code centroid is within radius_km (great circle) of the district''s centroid; every active staff member when p_outcode is null.';

create or replace function private.service_coverage(p_org_slug text, p_outcode text) returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  org public.organizations;
begin
  select * into org from public.organizations o where o.slug = p_org_slug;
  if not found then
    raise exception using errcode = 'PT404', message = 'Organization not found', detail = 'org_not_found';
  end if;
  return jsonb_build_object(
    'org', jsonb_build_object('id', org.id, 'slug', org.slug, 'name', org.name, 'timezone', org.timezone),
    'services', coalesce((
      with covering as (
        select c.staff_id from private.covering_staff(org.id, p_outcode) c
      ), counted as (
        select ss.service_id, count(*) as staff_count
        from public.staff_services ss
        join covering c on c.staff_id = ss.staff_id
        group by ss.service_id
      )
      select jsonb_agg(jsonb_build_object(
               'id', s.id, 'name', s.name, 'description', s.description,
               'category_id', s.category_id, 'category', cat.name,
               'duration_minutes', s.duration_minutes, 'price_minor', s.price_minor, 'currency', s.currency,
               'staff_count', k.staff_count)
             order by s.sort_order, s.name, s.id)
      from public.services s
      join counted k on k.service_id = s.id
      left join public.service_categories cat on cat.id = s.category_id
      where s.org_id = org.id and s.active), '[]'::jsonb));
end;
$$;
comment on function private.service_coverage(text, text) is
  'The org''s active services that at least one active, qualified staff member covering the district can do, with staff_count, and the org (id, slug, name, timezone) to book with. PT404 org_not_found.';

-- An instant as an ISO 8601 local time with the zone's offset then: 2026-03-29T09:00:00+01:00.
create or replace function private.local_iso(p_at timestamptz, p_tz text) returns text
  language sql stable
  set search_path = ''
as $$
  select to_char(x.local, 'YYYY-MM-DD"T"HH24:MI:SS')
         || case when x.off < 0 then '-' else '+' end
         || lpad((abs(x.off) / 3600)::text, 2, '0') || ':' || lpad((abs(x.off) % 3600 / 60)::text, 2, '0')
  from (select p_at at time zone p_tz as local,
               extract(epoch from (p_at at time zone p_tz) - (p_at at time zone 'UTC'))::integer as off) x;
$$;
comment on function private.local_iso(timestamptz, text) is
  'ISO 8601 text of an instant in a timezone, with that zone''s UTC offset at the instant.';

-- Every (day, start, staff member) at which the service can be booked. The
-- header comment gives the rules. p_outcode null: no area filter (is_bookable);
-- p_staff_id null: every staff member.
create or replace function private.slot_candidates(
  p_service_id uuid, p_from date, p_to date, p_staff_id uuid, p_outcode text, p_now timestamptz
) returns table (day date, starts_at timestamptz, staff_id uuid)
  language sql stable
  security definer
  set search_path = ''
as $$
  with rules as (
    select s.id as service_id, s.org_id, o.timezone as tz, cfg.slot_interval_minutes as step,
           make_interval(mins => s.buffer_before_minutes) as lead_time,
           make_interval(mins => s.duration_minutes + s.buffer_after_minutes) as tail_time,
           p_now + make_interval(mins => cfg.min_notice_minutes) as earliest,
           (p_now at time zone o.timezone)::date as today,
           (p_now at time zone o.timezone)::date + cfg.max_days_ahead as horizon
    from public.services s
    join public.organizations o on o.id = s.org_id
    cross join lateral private.appointment_settings_for(s.org_id) cfg
    where s.id = p_service_id and s.active
  ), bounds as (
    select r.*,
           r.horizon::timestamp at time zone r.tz as latest,
           greatest(p_from, r.today) as first_day,
           least(p_to, r.horizon - 1) as last_day,
           -- what can touch a start in [first_day, last_day]: a day either side is ample
           tstzrange((greatest(p_from, r.today) - 1)::timestamp at time zone r.tz,
                     (greatest(p_from, r.today, least(p_to, r.horizon - 1)) + 2)::timestamp at time zone r.tz)
             as search_window
    from rules r
  ), days as (
    -- The range's days lay out starts; the day either side only lends its working time: a job
    -- (or its buffer) may run past midnight into the next day's shift, or begin in the last one's.
    select g::date as day, (extract(isodow from g) - 1)::smallint as weekday,
           g::date between b.first_day and b.last_day as in_range
    from bounds b
    cross join generate_series((b.first_day - 1)::timestamp, (b.last_day + 1)::timestamp, interval '1 day') g
  ), team as (
    select ss.staff_id
    from bounds b
    join public.staff_services ss on ss.service_id = b.service_id
    join public.staff st on st.id = ss.staff_id and st.org_id = b.org_id and st.active
    where (p_staff_id is null or ss.staff_id = p_staff_id)
      and (p_outcode is null
           or ss.staff_id in (select c.staff_id from private.covering_staff(b.org_id, p_outcode) c))
  ), shifts as (
    -- greatest(): an end inside a spring-forward gap can map before its start.
    select t.staff_id, d.day, d.in_range, sc.minutes, tstzrange(w.lo, greatest(w.lo, w.hi)) as span
    from team t
    cross join days d
    cross join bounds b
    join public.staff_schedules sc on sc.staff_id = t.staff_id and sc.weekday = d.weekday
    cross join lateral (select (d.day + sc.starts_at) at time zone b.tz as lo,
                               (d.day + sc.ends_at) at time zone b.tz as hi) w
  ), busy as (
    select t.staff_id, tstzrange(w.lo, greatest(w.lo, w.hi)) as span
    from team t
    cross join days d
    cross join bounds b
    join public.staff_breaks br on br.staff_id = t.staff_id and br.weekday = d.weekday
    cross join lateral (select (d.day + br.starts_at) at time zone b.tz as lo,
                               (d.day + br.ends_at) at time zone b.tz as hi) w
    union all
    select a.staff_id, a.blocked
    from team t
    cross join bounds b
    join public.appointments a on a.staff_id = t.staff_id and a.blocked && b.search_window
                               and a.status in ('held', 'booked', 'in_progress')
    union all
    select o.staff_id, o.period
    from team t
    cross join bounds b
    join public.staff_time_off o on o.staff_id = t.staff_id and o.period && b.search_window
  ), free as (
    select w.staff_id, w.span - coalesce(x.span, '{}'::tstzmultirange) as span
    from (select s.staff_id, range_agg(s.span) as span from shifts s group by s.staff_id) w
    left join (select x.staff_id, range_agg(x.span) as span from busy x group by x.staff_id) x
      on x.staff_id = w.staff_id
  ), open_shifts as materialized (
    -- Each shift with its staff member's free time, joined BEFORE the grid is laid out, so the
    -- containment test below runs once per candidate (not once per candidate and staff member),
    -- cut down to what a start in this shift can reach (a handful of ranges, not a month's).
    select s.staff_id, s.day, s.minutes,
           f.span * tstzmultirange(tstzrange(lower(s.span) - b.lead_time, upper(s.span) + b.tail_time)) as free_span
    from shifts s
    cross join bounds b
    join free f on f.staff_id = s.staff_id
    where s.in_range
  )
  select s.day, c.starts_at, s.staff_id
  from open_shifts s
  cross join bounds b
  cross join lateral generate_series((lower(s.minutes) + b.step - 1) / b.step * b.step,
                                     upper(s.minutes) - 1, b.step) m
  cross join lateral (select s.day + make_interval(mins => m) as wall) l
  cross join lateral (select l.wall at time zone b.tz as starts_at) c
  where (c.starts_at at time zone b.tz) = l.wall   -- drops wall-clock times a DST gap skips
    and c.starts_at >= b.earliest
    and c.starts_at < b.latest
    and s.free_span @> tstzrange(c.starts_at - b.lead_time, c.starts_at + b.tail_time);
$$;
comment on function private.slot_candidates(uuid, date, date, uuid, text, timestamptz) is
  'Every (local day, start, staff id) at which the active service can be booked between two local dates: '
  'schedule - breaks - time off - live appointments (blocked incl. buffers), slot grid, minimum notice, '
  'max days ahead, DST-safe. p_outcode null = no area filter; p_staff_id null = every qualified staff member.';

-- The answer of available_slots, with an injectable "now" (tests).
create or replace function private.slot_days(
  p_service_id uuid, p_outcode text, p_from date, p_to date, p_staff_id uuid, p_now timestamptz
) returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  tz text;
  duration interval;
begin
  select o.timezone, make_interval(mins => s.duration_minutes) into tz, duration
  from public.services s join public.organizations o on o.id = s.org_id
  where s.id = p_service_id and s.active;
  if not found then
    raise exception using errcode = 'PT404', message = 'Service not found', detail = 'service_not_found';
  end if;
  return (
    with slots as (
      select c.day, c.starts_at, jsonb_agg(c.staff_id order by c.staff_id) as staff
      from private.slot_candidates(p_service_id, p_from, p_to, p_staff_id, p_outcode, p_now) c
      group by c.day, c.starts_at
    ), per_day as (
      select s.day, jsonb_agg(jsonb_build_object(
               'start', private.local_iso(s.starts_at, tz),
               'end', private.local_iso(s.starts_at + duration, tz),
               'staff', s.staff) order by s.starts_at) as slots
      from slots s
      group by s.day
    )
    select coalesce(jsonb_agg(jsonb_build_object('date', g::date, 'slots', coalesce(p.slots, '[]'::jsonb))
                              order by g), '[]'::jsonb)
    from generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') g
    left join per_day p on p.day = g::date
  );
end;
$$;
comment on function private.slot_days(uuid, text, date, date, uuid, timestamptz) is
  'available_slots'' answer as of p_now: [{date, slots: [{start, end, staff}]}], every day of the range. PT404 service_not_found.';

create or replace function private.available_slots(
  p_service_id uuid, p_outcode text, p_from date, p_to date, p_staff_id uuid
) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select private.slot_days(p_service_id, p_outcode, p_from, p_to, p_staff_id, now());
$$;
comment on function private.available_slots(uuid, text, date, date, uuid) is
  'private.slot_days as of now(): what public.available_slots answers once its inputs are checked.';
-- Anon reaches only the two entry points and the postcode check; the rest is
-- called from them (as their owner) or by the server and tests.
grant execute on function
  private.covered_postcode(text),
  private.service_coverage(text, text),
  private.available_slots(uuid, text, date, date, uuid)
  to anon, authenticated, service_role;

-- Whether one staff member can take the service at p_start, by the same rules
-- as the slot search (grid, hours, breaks, time off, appointments with
-- buffers, notice, horizon). Areas are not checked: there is no postcode here.
create or replace function private.is_bookable(p_staff_id uuid, p_service_id uuid, p_start timestamptz) returns boolean
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce((
    select exists (
      select 1
      from private.slot_candidates(s.id, l.day, l.day, p_staff_id, null, now()) c
      where c.starts_at = p_start and c.staff_id = p_staff_id)
    from public.services s
    join public.organizations o on o.id = s.org_id
    cross join lateral (select (p_start at time zone o.timezone)::date as day) l
    where s.id = p_service_id), false);
$$;
comment on function private.is_bookable(uuid, uuid, timestamptz) is
  'True when the staff member can take the service starting at p_start, now, by the slot search''s rules (service area not checked). For the booking RPCs.';
grant execute on function
  private.covering_staff(uuid, text),
  private.local_iso(timestamptz, text),
  private.slot_candidates(uuid, date, date, uuid, text, timestamptz),
  private.slot_days(uuid, text, date, date, uuid, timestamptz),
  private.is_bookable(uuid, uuid, timestamptz)
  to service_role;

create or replace function public.services_for_postcode(org_slug text, postcode text) returns jsonb
  language plpgsql stable
  set search_path = ''
as $$
declare
  district jsonb;
begin
  if services_for_postcode.org_slug is null
     or lower(btrim(services_for_postcode.org_slug)) !~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$' then
    raise exception using errcode = 'PT422', message = 'Name the organization by its slug', detail = 'invalid_org_slug';
  end if;
  district := private.covered_postcode(services_for_postcode.postcode);
  return jsonb_build_object('postcode', district -> 'normalized', 'outward', district -> 'outward')
         || private.service_coverage(lower(btrim(services_for_postcode.org_slug)), district ->> 'outward');
end;
$$;
comment on function public.services_for_postcode(text, text) is
  'Postcode first: {postcode, outward, org, services: [{id, name, …, staff_count}]}, the org''s active services '
  'that some active, qualified staff member covers at this postcode. PT422 invalid_postcode / postcode_not_covered, '
  'PT404 org_not_found.';
grant execute on function public.services_for_postcode(text, text) to anon, authenticated, service_role;

create or replace function public.available_slots(
  service_id uuid, postcode text, date_from date, date_to date, staff_id uuid default null
) returns jsonb
  language plpgsql stable
  set search_path = ''
as $$
declare
  district jsonb;
begin
  if available_slots.service_id is null then
    raise exception using errcode = 'PT422', message = 'Choose a service', detail = 'invalid_service';
  end if;
  if available_slots.date_from is null or available_slots.date_to is null
     or available_slots.date_to < available_slots.date_from then
    raise exception using errcode = 'PT422', message = 'Give a date range whose end is not before its start',
      detail = 'invalid_date_range';
  end if;
  if available_slots.date_to - available_slots.date_from + 1 > 31 then
    raise exception using errcode = 'PT422', message = 'Ask for at most 31 days of slots at a time',
      detail = 'date_range_too_long';
  end if;
  district := private.covered_postcode(available_slots.postcode);
  return private.available_slots(available_slots.service_id, district ->> 'outward',
                                 available_slots.date_from, available_slots.date_to, available_slots.staff_id);
end;
$$;
comment on function public.available_slots(uuid, text, date, date, uuid) is
  'Free start times for a service at a postcode, per day (org timezone) of a range of at most 31 days: '
  '[{date, slots: [{start, end, staff: [staff ids]}]}], optionally for one staff member. '
  'PT422 invalid_service / invalid_date_range / date_range_too_long / invalid_postcode / postcode_not_covered, '
  'PT404 service_not_found.';
grant execute on function public.available_slots(uuid, text, date, date, uuid) to anon, authenticated, service_role;
