-- Member app: trips, what they cost, and published trip templates with their ratings
-- (migrations/*_member_trips_and_community.sql).
--
-- public.trip_costs (as the caller, RLS: their own trip) sums the trip's expenses per currency: in all,
-- per day of the trip and per kilometre when the distance is known. Ratings: once per member and
-- template (the primary key), 1-5 (a check), only of a published template and never the author's own
-- (private.check_template_rating: PT422 not_published, PT403 own_template). The average is computed
-- from the ratings by private.template_rating, for published templates only.

create or replace function private.own_row_defaults() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  new.user_id := coalesce(new.user_id, (select auth.uid()));
  return new;
end;
$$;
comment on function private.own_row_defaults() is 'BEFORE INSERT on member rows: the owner is the caller unless given.';

create or replace function public.trip_costs(trip_id uuid)
  returns table (currency text, total_minor bigint, expenses bigint, days integer, per_day_minor bigint,
                 distance_km numeric, per_km_minor bigint)
  language plpgsql stable
  set search_path = ''
as $$
declare
  t public.trips;
begin
  select * into t from public.trips x where x.id = trip_costs.trip_id;  -- RLS: the caller's own
  if not found then
    raise exception using errcode = 'PT404', detail = 'trip_not_found', message = 'No such trip';
  end if;
  return query
  select e.currency::text, sum(e.amount_minor)::bigint, count(*), t.ends_on - t.starts_on + 1,
         round(sum(e.amount_minor) / (t.ends_on - t.starts_on + 1)::numeric)::bigint, t.distance_km,
         case when t.distance_km > 0 then round(sum(e.amount_minor) / t.distance_km)::bigint end
  from public.expenses e where e.trip_id = t.id
  group by e.currency order by 2 desc;
end;
$$;
comment on function public.trip_costs(uuid) is
  'A trip''s cost per currency: total, per day (inclusive dates) and per km (when its distance is known). PT404 '
  'trip_not_found.';
grant execute on function public.trip_costs(uuid) to authenticated, service_role;

create or replace function private.check_template_rating() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  template public.trip_templates;
begin
  new.user_id := coalesce(new.user_id, (select auth.uid()));
  select * into template from public.trip_templates where id = new.template_id;
  if not found or not template.published then
    raise exception using errcode = 'PT422', detail = 'not_published', message = 'Only published templates are rated';
  end if;
  if template.user_id = new.user_id then
    raise exception using errcode = 'PT403', detail = 'own_template', message = 'Authors do not rate their own templates';
  end if;
  return new;
end;
$$;

create or replace function private.template_rating(p_template_id uuid)
  returns table (average numeric, ratings bigint)
  language sql stable
  security definer
  set search_path = ''
as $$
  select round(avg(r.rating), 2), count(r.*)
  from public.trip_templates t left join public.trip_template_ratings r on r.template_id = t.id
  where t.id = p_template_id and t.published;
$$;
grant execute on function private.template_rating(uuid) to anon, authenticated, service_role;

create or replace function public.published_trip_templates()
  returns table (id uuid, title text, description text, days integer, route_notes text, average_rating numeric,
                 ratings bigint, created_at timestamptz)
  language sql stable
  set search_path = ''
as $$
  select t.id, t.title, t.description, t.days, t.route_notes, r.average, coalesce(r.ratings, 0), t.created_at
  from public.trip_templates t
  left join lateral private.template_rating(t.id) r on true
  where t.published
  order by t.created_at desc;
$$;
comment on function public.published_trip_templates() is
  'Published trip templates, anyone may read, with the average of their ratings (computed from the ratings).';
grant execute on function public.published_trip_templates() to anon, authenticated, service_role;
