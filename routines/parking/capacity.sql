-- Airport parking: the per-day capacity calendar.
--
-- private.count_parking_days is the only writer of parking_days.booked and
-- online_booked. It runs after every insert, update and delete of a booking
-- and moves the counts of the days its stay gained or lost, one day row at a
-- time in date order: two bookings whose stays overlap take their common days
-- in the same order, so they queue rather than deadlock, and the second sees
-- the first's count. A day gained must be open and have room (online bookings
-- within the released share): PT409 parking_day_closed / parking_day_full,
-- with the day in the hint ({"day": "2027-01-09"}). The table's checks
-- (booked <= spaces, online_booked <= released) hold on any path, this one
-- included. Staff change the calendar only through set_parking_days, which
-- refuses fewer spaces than are booked.
--
-- Tables: migrations/20261207002400_parking_lots.sql.

-- The day row, written from the lot's defaults when a stay first touches it. Only the days not there
-- yet are inserted: `on conflict` on a day that exists waits for every transaction holding that day's
-- row, so on a busy day each booking queued twice, here and again at its count (benchmarks/RESULTS.md).
create or replace function private.ensure_parking_days(p_lot_id uuid, p_first date, p_last date) returns void
  language sql
  security definer
  set search_path = ''
as $$
  insert into public.parking_days (lot_id, org_id, day, spaces, released)
  select l.id, l.org_id, d::date, l.default_spaces, (l.default_spaces * l.online_share_percent) / 100
  from public.parking_lots l, generate_series(p_first, p_last, interval '1 day') d
  where l.id = p_lot_id
    and not exists (select 1 from public.parking_days pd where pd.lot_id = l.id and pd.day = d::date)
  order by d
  on conflict (lot_id, day) do nothing;
$$;

create or replace function private.count_parking_days() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  was_counted boolean := tg_op <> 'INSERT' and old.status <> 'cancelled';
  is_counted boolean := tg_op <> 'DELETE' and new.status <> 'cancelled';
  change record;
  d public.parking_days;
begin
  if tg_op = 'UPDATE' and was_counted = is_counted and old.lot_id = new.lot_id and old.first_day = new.first_day
     and old.last_day = new.last_day and old.channel = new.channel then
    return null;
  end if;
  if is_counted then
    perform private.ensure_parking_days(new.lot_id, new.first_day, new.last_day);
  end if;
  for change in
    with moves (lot_id, day, n, online) as (
      select old.lot_id, g::date, -1, (old.channel = 'online')::int * -1
      from generate_series(old.first_day, old.last_day, interval '1 day') g where was_counted
      union all
      select new.lot_id, g::date, 1, (new.channel = 'online')::int
      from generate_series(new.first_day, new.last_day, interval '1 day') g where is_counted)
    select lot_id, day, sum(n)::int as n, sum(online)::int as online
    from moves group by lot_id, day
    having sum(n) <> 0 or sum(online) <> 0
    order by lot_id, day
  loop
    update public.parking_days
    set booked = booked + change.n, online_booked = online_booked + change.online
    where lot_id = change.lot_id and day = change.day
      and (change.n <= 0 or (booked + change.n <= spaces and not closed))
      and (change.online <= 0 or online_booked + change.online <= released)
    returning * into d;
    if not found then
      select * into d from public.parking_days where lot_id = change.lot_id and day = change.day;
      if d.closed then
        raise exception using errcode = 'PT409', detail = 'parking_day_closed',
          message = format('The car park is closed on %s', to_char(change.day, 'Dy DD Mon YYYY')),
          hint = jsonb_build_object('day', change.day)::text;
      end if;
      raise exception using errcode = 'PT409', detail = 'parking_day_full',
        message = format('The car park is full on %s', to_char(change.day, 'Dy DD Mon YYYY')),
        hint = jsonb_build_object('day', change.day)::text;
    end if;
  end loop;
  return null;
end;
$$;
comment on function private.count_parking_days() is
  'AFTER trigger on parking_bookings: moves the booked counts of the days a stay gained or lost, in date order; '
  'PT409 parking_day_closed / parking_day_full (hint {"day"}) when a gained day is closed or has no room.';

-- Availability for the booking page (anyone): per day, how many spaces are left online, and whether it is closed.
create or replace function private.parking_availability(p_lot_id uuid, p_first date, p_last date)
  returns table (day date, spaces_left integer, closed boolean)
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  lot public.parking_lots;
begin
  select * into lot from public.parking_lots l where l.id = p_lot_id and l.active;
  if not found then
    raise exception using errcode = 'PT404', detail = 'lot_not_found', message = 'No such car park';
  end if;
  if p_first is null or p_last is null or p_last < p_first or p_last - p_first > 366 then
    raise exception using errcode = 'PT422', detail = 'invalid_dates',
      message = 'Ask for at most a year of days, the last not before the first';
  end if;
  return query
  select g::date,
         case when coalesce(d.closed, false) then 0
              else greatest(coalesce(d.released, (lot.default_spaces * lot.online_share_percent) / 100)
                            - coalesce(d.online_booked, 0), 0) end,
         coalesce(d.closed, false)
  from generate_series(p_first, p_last, interval '1 day') g
  left join public.parking_days d on d.lot_id = lot.id and d.day = g::date
  order by 1;
end;
$$;
grant execute on function private.parking_availability(uuid, date, date) to anon, authenticated, service_role;

create or replace function public.parking_availability(lot_id uuid, first_day date, last_day date)
  returns table (day date, spaces_left integer, closed boolean)
  language sql stable
  set search_path = ''
as $$
  select * from private.parking_availability(lot_id, first_day, last_day);
$$;
comment on function public.parking_availability(uuid, date, date) is
  'Per local date of an active lot: spaces left for online booking and whether it is closed. PT404 lot_not_found, '
  'PT422 invalid_dates.';
grant execute on function public.parking_availability(uuid, date, date) to anon, authenticated, service_role;

-- Staff set the calendar for a run of days: spaces, the share released online, closure (nulls keep what is there).
create or replace function private.set_parking_days(lot_id uuid, first_day date, last_day date,
                                                    spaces integer, released integer, closed boolean)
  returns setof public.parking_days
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  lot public.parking_lots;
begin
  select * into lot from public.parking_lots l where l.id = set_parking_days.lot_id;
  if not found or not private.has_org_role(lot.org_id, '{owner,admin,manager}') then
    raise exception using errcode = 'PT404', detail = 'lot_not_found', message = 'No such car park';
  end if;
  if set_parking_days.last_day < set_parking_days.first_day or set_parking_days.last_day - set_parking_days.first_day > 366
     or set_parking_days.spaces < 0 or set_parking_days.released < 0 then
    raise exception using errcode = 'PT422', detail = 'invalid_days',
      message = 'At most a year of days, the last not before the first; spaces and released not negative';
  end if;
  perform private.ensure_parking_days(lot.id, set_parking_days.first_day, set_parking_days.last_day);
  begin
    return query
    update public.parking_days d
    set spaces = coalesce(set_parking_days.spaces, d.spaces),
        released = least(coalesce(set_parking_days.released,
                                  case when set_parking_days.spaces is null then d.released
                                       else (set_parking_days.spaces * lot.online_share_percent) / 100 end),
                          coalesce(set_parking_days.spaces, d.spaces)),
        closed = coalesce(set_parking_days.closed, d.closed),
        updated_at = now()
    where d.lot_id = lot.id and d.day between set_parking_days.first_day and set_parking_days.last_day
    returning d.*;
  exception when check_violation then
    raise exception using errcode = 'PT409', detail = 'spaces_below_bookings',
      message = 'More cars are booked on one of these days than the spaces asked for; move or cancel bookings first';
  end;
  perform private.audit(lot.org_id, 'parking.days_set', 'parking_lots', lot.id::text,
                        jsonb_build_object('first_day', set_parking_days.first_day, 'last_day', set_parking_days.last_day,
                                           'spaces', set_parking_days.spaces, 'released', set_parking_days.released,
                                           'closed', set_parking_days.closed));
end;
$$;
comment on function private.set_parking_days(uuid, date, date, integer, integer, boolean) is
  'Owners, admins and managers set a run of days: spaces, the share released online (default: the lot''s percent '
  'of spaces), closure. PT404 lot_not_found, PT422 invalid_days, PT409 spaces_below_bookings.';
grant execute on function private.set_parking_days(uuid, date, date, integer, integer, boolean) to authenticated, service_role;

create or replace function public.set_parking_days(lot_id uuid, first_day date, last_day date,
                                                   spaces integer default null, released integer default null,
                                                   closed boolean default null)
  returns setof public.parking_days
  language sql
  set search_path = ''
as $$
  select * from private.set_parking_days(lot_id, first_day, last_day, spaces, released, closed);
$$;
comment on function public.set_parking_days(uuid, date, date, integer, integer, boolean) is
  'Owners, admins and managers set a run of days: spaces, the share released online (default: the lot''s percent '
  'of spaces), closure. PT404 lot_not_found, PT422 invalid_days, PT409 spaces_below_bookings.';
grant execute on function public.set_parking_days(uuid, date, date, integer, integer, boolean) to authenticated, service_role;
