-- Chauffeur: quotes (the rules: migrations/20261207001800_chauffeur_rates.sql).
--
-- private.quote_reservation(org_id, request, now) answers an itemised
-- breakdown in integer minor units, each line naming the rule that produced
-- it, computed only from the org's classes, settings and rate rules. Anyone
-- may ask (the public booking page); only the org's dispatchers, admins and
-- owners may give a distance of their own or tolls. The request (jsonb):
--
--   service_type   point_to_point | airport_transfer | hourly
--   class_id       a vehicle class of the org (active)
--   pickup_at      an instant (with its offset), in the future
--   hours          hourly only: the hours booked (the class's minimum applies)
--   passengers, luggage, child_seats, meet_and_greet, flight_number
--   stops          [{address, latitude, longitude, notes, kind?}] in order: pickup first, drop-off last
--                  (a kind, when given, must say so: pickup, stop, dropoff)
--   distance       dispatchers: the trip's distance in the org's unit (else great-circle x detour)
--   tolls_minor    dispatchers: tolls and parking
--   promo_code     a code of the org (shown as a discount off the base; redeemed when paid for)

-- Whether a rate rule applies to this trip (pickup in the org's local time).
create or replace function private.rate_rule_applies(
  r public.chauffeur_rate_rules, p_service public.chauffeur_service, p_class_id uuid, p_local timestamp
) returns boolean
  language sql stable
  set search_path = ''
as $$
  select r.active
    and (r.service_type is null or r.service_type = p_service)
    and (r.class_id is null or r.class_id = p_class_id)
    and (r.days_of_week is null or extract(isodow from p_local)::integer = any (r.days_of_week))
    and (r.on_dates is null or p_local::date = any (r.on_dates))
    and (r.local_from is null
         or (r.local_from <= r.local_to and p_local::time >= r.local_from and p_local::time < r.local_to)
         or (r.local_from > r.local_to and (p_local::time >= r.local_from or p_local::time < r.local_to)));
$$;

-- A percentage of an amount in minor units, rounded half up.
create or replace function private.percent_of(p_amount bigint, p_percent numeric) returns bigint
  language sql immutable
  set search_path = ''
as $$
  select round(p_amount * p_percent / 100)::bigint;
$$;

-- An org's chauffeur settings, or the table's defaults for an org that never set them
-- (tests/chauffeur/test_quotes.py checks the two agree).
create or replace function private.chauffeur_settings_of(p_org_id uuid) returns public.chauffeur_settings
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  s public.chauffeur_settings;
begin
  select * into s from public.chauffeur_settings where org_id = p_org_id;
  if not found then
    s.org_id := p_org_id;
    s.distance_unit := 'mi';
    s.detour_factor := 1.30;
    s.average_speed := 30.0;
    s.preparation_minutes := 30;
    s.buffer_minutes := 15;
    s.authorisation_margin_percent := 20;
  end if;
  return s;
end;
$$;

create or replace function private.quote_reservation(p_org_id uuid, p_request jsonb, p_now timestamptz default now())
  returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  org public.organizations;
  s public.chauffeur_settings;
  cls public.vehicle_classes;
  service public.chauffeur_service;
  pickup timestamptz;
  local_pickup timestamp;
  hours numeric;
  hours_charged numeric;
  passengers integer;
  luggage integer;
  child_seats integer;
  meet boolean;
  stops jsonb := coalesce(p_request -> 'stops', '[]'::jsonb);
  n_stops integer;
  distance numeric;
  distance_source text;
  staff boolean;
  promo public.promo_codes;
  lines jsonb := '[]'::jsonb;
  base bigint := 0;
  discount bigint := 0;
  fees bigint := 0;
  gratuity bigint := 0;
  tax bigint := 0;
  surcharges bigint := 0;
  amount bigint;
  quantity integer;
  r public.chauffeur_rate_rules;
  minutes integer;
begin
  select * into org from public.organizations where id = p_org_id;
  if not found or jsonb_typeof(p_request) is distinct from 'object' then
    raise exception using errcode = 'PT422', detail = 'invalid_request', message = 'Give an organization and a request';
  end if;
  s := private.chauffeur_settings_of(p_org_id);
  staff := private.has_org_role(p_org_id, '{owner,admin,dispatcher}');

  begin
    service := (p_request ->> 'service_type')::public.chauffeur_service;
    pickup := (p_request ->> 'pickup_at')::timestamptz;
    hours := (p_request ->> 'hours')::numeric;
    passengers := coalesce((p_request ->> 'passengers')::integer, 1);
    luggage := coalesce((p_request ->> 'luggage')::integer, 0);
    child_seats := coalesce((p_request ->> 'child_seats')::integer, 0);
    meet := coalesce((p_request ->> 'meet_and_greet')::boolean, false);
    select * into cls from public.vehicle_classes
    where id = (p_request ->> 'class_id')::uuid and org_id = p_org_id and active;
  exception when invalid_text_representation or invalid_datetime_format or datetime_field_overflow
                 or numeric_value_out_of_range then
    raise exception using errcode = 'PT422', detail = 'invalid_request',
      message = 'A field has the wrong form (service_type, class_id, pickup_at, hours, passengers, luggage, child_seats)';
  end;
  if service is null then
    raise exception using errcode = 'PT422', detail = 'invalid_service',
      message = 'Choose a service: point_to_point, airport_transfer or hourly';
  end if;
  if cls.id is null then
    raise exception using errcode = 'PT422', detail = 'unknown_class', message = 'No such vehicle class';
  end if;
  if pickup is null or pickup <= p_now then
    raise exception using errcode = 'PT422', detail = 'pickup_in_past', message = 'The pickup must be in the future';
  end if;
  if p_request ->> 'pickup_at' !~ '([+-][0-9]{2}(:?[0-9]{2})?|Z)$' then
    raise exception using errcode = 'PT422', detail = 'invalid_request',
      message = 'pickup_at must be an instant with its UTC offset';
  end if;
  if passengers < 1 or luggage < 0 or child_seats < 0 or child_seats > 6 then
    raise exception using errcode = 'PT422', detail = 'invalid_party',
      message = 'At least one passenger; luggage and child seats cannot be negative (at most 6 child seats)';
  end if;
  if passengers > cls.seats or luggage > cls.luggage then
    raise exception using errcode = 'PT422', detail = 'class_too_small',
      message = format('A %s takes %s passengers and %s bags', cls.name, cls.seats, cls.luggage);
  end if;
  if service = 'hourly' and (hours is null or hours <= 0 or hours > 24) then
    raise exception using errcode = 'PT422', detail = 'invalid_hours', message = 'Hourly service needs 0-24 hours';
  end if;
  if service <> 'hourly' and hours is not null then
    raise exception using errcode = 'PT422', detail = 'invalid_hours', message = 'Hours are for hourly service only';
  end if;

  -- Stops: pickup first, drop-off last (hourly may end where it started: one stop).
  if jsonb_typeof(stops) <> 'array' or jsonb_array_length(stops) < (case service when 'hourly' then 1 else 2 end)
     or jsonb_array_length(stops) > 12 then
    raise exception using errcode = 'PT422', detail = 'invalid_stops',
      message = 'Give the stops in order: a pickup, any extra stops (at most 10), and a drop-off';
  end if;
  n_stops := jsonb_array_length(stops);
  if exists (select 1 from jsonb_array_elements(stops) x
             where jsonb_typeof(x) <> 'object' or coalesce(length(btrim(x ->> 'address')), 0) not between 1 and 300
                or ((x ? 'latitude') <> (x ? 'longitude'))
                or (x ? 'latitude' and (jsonb_typeof(x -> 'latitude') <> 'number' or jsonb_typeof(x -> 'longitude') <> 'number'
                                        or abs((x ->> 'latitude')::numeric) > 90 or abs((x ->> 'longitude')::numeric) > 180))) then
    raise exception using errcode = 'PT422', detail = 'invalid_stops',
      message = 'Each stop needs an address, and coordinates (latitude and longitude) in range when given';
  end if;

  if exists (select 1 from jsonb_array_elements(stops) with ordinality x (v, i)
             where x.v ? 'kind' and x.v ->> 'kind' is distinct from
                   case when x.i = 1 then 'pickup' when x.i = n_stops then 'dropoff' else 'stop' end) then
    raise exception using errcode = 'PT422', detail = 'stops_out_of_order',
      message = 'The pickup comes first and the drop-off last, with any extra stops between';
  end if;

  -- Distance: the dispatcher's, or great-circle legs x the org's detour factor.
  if p_request ? 'distance' then
    if not staff then
      raise exception using errcode = 'PT403', detail = 'distance_for_dispatchers',
        message = 'Only the organization''s dispatchers may set a distance';
    end if;
    distance := case when jsonb_typeof(p_request -> 'distance') = 'number' then (p_request ->> 'distance')::numeric end;
    if distance is null or distance < 0 or distance > 5000 then
      raise exception using errcode = 'PT422', detail = 'invalid_distance', message = 'The distance must be 0-5000';
    end if;
    distance_source := 'dispatcher';
  elsif service <> 'hourly' then
    if exists (select 1 from jsonb_array_elements(stops) x where not x ? 'latitude') then
      raise exception using errcode = 'PT422', detail = 'coordinates_needed',
        message = 'Give every stop''s coordinates, or ask a dispatcher for a quote';
    end if;
    select coalesce(sum(private.haversine_km((a.x ->> 'latitude')::float8, (a.x ->> 'longitude')::float8,
                                             (b.x ->> 'latitude')::float8, (b.x ->> 'longitude')::float8)), 0)
    into distance
    from jsonb_array_elements(stops) with ordinality a (x, i)
    join jsonb_array_elements(stops) with ordinality b (x, i) on b.i = a.i + 1;
    distance := round(distance * s.detour_factor / case s.distance_unit when 'mi' then 1.609344 else 1 end, 1);
    distance_source := 'great_circle';
  end if;

  local_pickup := pickup at time zone org.timezone;

  -- 1. The base.
  if service = 'hourly' then
    hours_charged := greatest(hours, cls.minimum_hours);
    amount := round(cls.hourly_rate_minor * hours_charged)::bigint;
    lines := lines || jsonb_build_object('code', 'hourly', 'rule', format('%s hourly rate', cls.name),
      'quantity', hours_charged, 'unit_minor', cls.hourly_rate_minor, 'amount_minor', amount,
      'note', case when hours_charged > hours then format('minimum %s hours', cls.minimum_hours) end);
    base := amount;
  else
    amount := coalesce((cls.base_fares ->> service::text)::bigint, 0);
    lines := lines || jsonb_build_object('code', 'base', 'rule', format('%s %s base fare', cls.name,
      replace(service::text, '_', ' ')), 'amount_minor', amount);
    base := amount;
    amount := round(cls.per_distance_minor * distance)::bigint;
    if amount > 0 then
      lines := lines || jsonb_build_object('code', 'distance', 'rule', format('%s per %s', cls.name, s.distance_unit),
        'quantity', distance, 'unit_minor', cls.per_distance_minor, 'amount_minor', amount);
      base := base + amount;
    end if;
  end if;

  -- 2. The discount, off the base (as redeem_promo computes a percent: rounded down).
  if nullif(btrim(p_request ->> 'promo_code'), '') is not null then
    select * into promo from public.promo_codes
    where org_id = p_org_id and lower(code) = lower(btrim(p_request ->> 'promo_code')) and active
      and (valid_from is null or valid_from <= p_now) and (valid_until is null or p_now < valid_until)
      and (max_redemptions is null or redemptions_count < max_redemptions)
      and (kind = 'percent' or currency = org.currency);
    if promo.id is null then
      raise exception using errcode = 'PT422', detail = 'promo_invalid', message = 'This promo code is not valid';
    end if;
    discount := case promo.kind when 'percent' then (base * promo.value) / 100 else least(promo.value, base) end;
    lines := lines || jsonb_build_object('code', 'discount', 'rule', format('promo code %s', upper(promo.code)),
      'amount_minor', -discount);
    base := base - discount;
  end if;

  -- 3-6. Fees, gratuity, tax, surcharges, each rule in its position order.
  for r in select * from public.chauffeur_rate_rules x
           where x.org_id = p_org_id and private.rate_rule_applies(x, service, cls.id, local_pickup)
           order by case x.kind when 'fee' then 1 when 'gratuity' then 2 when 'tax' then 3 else 4 end, x.position, x.name loop
    quantity := case r.unit when 'per_extra_stop' then greatest(n_stops - 2, 0)
                            when 'per_child_seat' then child_seats
                            when 'meet_and_greet' then case when meet then 1 else 0 end
                            else 1 end;
    amount := case when r.unit = 'percent' then
                private.percent_of(case r.basis when 'base' then base
                                                when 'base_fees' then base + fees
                                                when 'base_gratuity_tax' then base + gratuity + tax
                                                else base + gratuity + tax + fees end, r.percent)
              else r.amount_minor * quantity end;
    continue when quantity = 0 or amount = 0;
    lines := lines || jsonb_strip_nulls(jsonb_build_object('code', r.kind, 'rule_id', r.id, 'rule', r.name,
      'quantity', case when r.unit not in ('flat', 'percent') then quantity end,
      'percent', r.percent, 'basis', r.basis, 'amount_minor', amount));
    case r.kind
      when 'fee' then fees := fees + amount;
      when 'gratuity' then gratuity := gratuity + amount;
      when 'tax' then tax := tax + amount;
      else surcharges := surcharges + amount;
    end case;
  end loop;

  if p_request ? 'tolls_minor' then
    if not staff then
      raise exception using errcode = 'PT403', detail = 'tolls_for_dispatchers',
        message = 'Only the organization''s dispatchers may add tolls';
    end if;
    amount := case when p_request ->> 'tolls_minor' ~ '^[0-9]{1,12}$' then (p_request ->> 'tolls_minor')::bigint end;
    if amount is null then
      raise exception using errcode = 'PT422', detail = 'invalid_tolls', message = 'Tolls are a whole amount in minor units, not negative';
    end if;
    if amount > 0 then
      lines := lines || jsonb_build_object('code', 'tolls', 'rule', 'tolls and parking (dispatcher)', 'amount_minor', amount);
      fees := fees + amount;
    end if;
  end if;

  minutes := case when service = 'hourly' then ceil(hours_charged * 60)::integer
                  else greatest(15, ceil(coalesce(distance, 0) / s.average_speed * 60)::integer) end;
  return jsonb_build_object(
    'org_id', p_org_id, 'currency', org.currency, 'service_type', service, 'class_id', cls.id, 'class', cls.name,
    'pickup_at', pickup, 'local_pickup', to_char(local_pickup, 'YYYY-MM-DD"T"HH24:MI'), 'timezone', org.timezone,
    'passengers', passengers, 'luggage', luggage, 'child_seats', child_seats, 'meet_and_greet', meet,
    'hours', hours, 'hours_charged', hours_charged,
    'distance', case when distance is not null then
      jsonb_build_object('value', distance, 'unit', s.distance_unit, 'source', distance_source) end,
    'estimated_minutes', minutes, 'promo_code', upper(promo.code),
    'lines', lines, 'total_minor', base + fees + gratuity + tax + surcharges);
end;
$$;
comment on function private.quote_reservation(uuid, jsonb, timestamptz) is
  'An itemised quote from the org''s classes and rate rules (see the file''s header for the request). PT422 '
  'invalid_request/invalid_service/unknown_class/pickup_in_past/invalid_party/class_too_small/invalid_hours/'
  'invalid_stops/coordinates_needed/invalid_distance/promo_invalid/invalid_tolls; PT403 distance_for_dispatchers.';
grant execute on function private.quote_reservation(uuid, jsonb, timestamptz) to anon, authenticated, service_role;

create or replace function public.quote_reservation(org_id uuid, request jsonb) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.throttle('quote');
  select private.quote_reservation(org_id, request);
$$;
comment on function public.quote_reservation(uuid, jsonb) is
  'An itemised chauffeur quote (anyone; dispatchers may also give distance and tolls). Counts against the quote '
  'rate limit (POST it).';
grant execute on function public.quote_reservation(uuid, jsonb) to anon, authenticated, service_role;
