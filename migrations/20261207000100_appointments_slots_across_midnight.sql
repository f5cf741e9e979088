-- Slots across midnight: the slot search reads the working time of the day
-- either side of the days it lays out.
--
-- private.slot_candidates built each staff member's working time from the
-- searched days only, so a job that runs past midnight into the next day's
-- shift (a 24-hour rota, a night shift split at midnight, a buffer before a
-- 00:00 start) was offered by a search over both days and refused by one over
-- the first day alone, which is the search private.is_bookable (and so every
-- booking and reschedule) runs. Which answer a customer got depended on the
-- hour they asked. Now the days either side lend their shifts, breaks and time
-- off, and starts are still laid out on the searched days only: every range
-- gives the same answer for a start, and is_bookable agrees with all of them.
--
-- Only this function changes; its other rules are those in *_slots.sql.

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
