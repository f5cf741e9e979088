-- Chauffeur: reports (served as JSON or CSV by functions/reports through shared/chauffeur/reports.py).
--
-- Every report covers the trips picking up on local dates [from, to] (the org's timezone, at most
-- 366 days) and is for the org's owners, admins and dispatchers (PT403 not_a_dispatcher otherwise).
-- Revenue is what completed trips came to: the final total (wait time included) once completed.

create or replace function private.chauffeur_report_trips(p_org_id uuid, p_from date, p_to date)
  returns setof public.reservations
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  tz text;
begin
  if not private.has_org_role(p_org_id, '{owner,admin,dispatcher}') then
    raise exception using errcode = 'PT403', detail = 'not_a_dispatcher',
      message = 'Chauffeur reports are for the organization''s owners, admins and dispatchers';
  end if;
  if p_from is null or p_to is null or p_to < p_from or p_to - p_from > 366 then
    raise exception using errcode = 'PT422', detail = 'invalid_range', message = 'Give from <= to, at most 366 days apart';
  end if;
  select o.timezone into tz from public.organizations o where o.id = p_org_id;
  return query select r.* from public.reservations r
    where r.org_id = p_org_id
      and r.pickup_at >= (p_from::timestamp at time zone tz) and r.pickup_at < ((p_to + 1)::timestamp at time zone tz);
end;
$$;

create or replace function public.report_trip_revenue(org_id uuid, date_from date, date_to date, per text)
  returns table (name text, trips bigint, revenue_minor bigint, currency text)
  language plpgsql stable
  security definer
  set search_path = ''
as $$
begin
  if per is null or per not in ('class', 'driver', 'affiliate') then
    raise exception using errcode = 'PT422', detail = 'invalid_group', message = 'Group by class, driver or affiliate';
  end if;
  return query
    select coalesce(case per when 'class' then vc.name when 'driver' then d.name else a.company end,
                    case per when 'driver' then '(farmed out or unassigned)' else '(own fleet)' end),
           count(*), sum(coalesce(t.final_total_minor, t.total_minor))::bigint, t.currency
    from private.chauffeur_report_trips(org_id, date_from, date_to) t
    join public.vehicle_classes vc on vc.id = t.class_id
    left join public.drivers d on d.id = t.driver_id
    left join public.farm_outs f on f.reservation_id = t.id and f.status = 'accepted'
    left join public.affiliates a on a.id = f.affiliate_id
    where t.status = 'completed'
    group by 1, t.currency
    order by 3 desc, 1;
end;
$$;

create or replace function public.report_trips_per_driver(org_id uuid, date_from date, date_to date)
  returns table (name text, completed bigint, cancelled bigint, no_show bigint, rating numeric)
  language sql stable
  security definer
  set search_path = ''
as $$
  select d.name, count(*) filter (where t.status = 'completed'), count(*) filter (where t.status = 'cancelled'),
         count(*) filter (where t.status = 'no_show'), round(avg(t.rating), 2)
  from private.chauffeur_report_trips(org_id, date_from, date_to) t
  join public.drivers d on d.id = t.driver_id
  group by d.name
  order by 2 desc, 1;
$$;

-- The settlement: commission payable per affiliate on the completed trips farmed out to them.
create or replace function public.report_commission(org_id uuid, date_from date, date_to date)
  returns table (affiliate text, trips bigint, revenue_minor bigint, commission_minor bigint, currency text)
  language sql stable
  security definer
  set search_path = ''
as $$
  select a.company, count(*), sum(coalesce(t.final_total_minor, t.total_minor))::bigint,
         sum(f.commission_minor)::bigint, f.currency
  from private.chauffeur_report_trips(org_id, date_from, date_to) t
  join public.farm_outs f on f.reservation_id = t.id and f.status = 'accepted'
  join public.affiliates a on a.id = f.affiliate_id
  where t.status = 'completed'
  group by a.company, f.currency
  order by 1;
$$;

grant execute on function
  public.report_trip_revenue(uuid, date, date, text),
  public.report_trips_per_driver(uuid, date, date),
  public.report_commission(uuid, date, date)
  to authenticated, service_role;
