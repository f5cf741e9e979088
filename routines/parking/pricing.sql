-- Airport parking: reading a stay, and its price.
--
-- Times arrive as the customer reads them at the car park: a wall-clock time
-- ("2027-01-09T06:30") is read in the lot's timezone; one with a UTC offset is
-- taken as that instant. A stay's days are the lot-local dates from entry to
-- exit (both counted against capacity). Billable days follow the product:
--   per_24h        every started 24 hours from entry, on the lot's wall clock
--                  (so a stay over a clock change costs what its wall-clock
--                  length says: 10:00 to 10:00 the next day is one day)
--   calendar_days  each local date the car is parked on
-- The price of n billable days is the product's row for n days, else the next
-- longer row, else the longest row plus extra_day_minor for each day beyond
-- it; an override covering the entry date scales it (percent, half up).
-- Extras cost their price once, or per billable day.
--
-- public.quote_parking (anyone) answers the breakdown and each day's room;
-- the same functions price the booking at checkout and an amendment.
--
-- Error codes: lot_not_found, product_not_found, invalid_stay, stay_too_long,
-- stay_in_past, unknown_extra.
-- Tables: migrations/20261207002400_parking_lots.sql.

-- An instant from the customer's text: with a UTC offset as given, else the lot's wall clock; null if unreadable.
create or replace function private.parking_instant(p_text text, p_timezone text) returns timestamptz
  language plpgsql stable
  set search_path = ''
as $$
begin
  p_text := btrim(p_text);
  if p_text is null or p_text !~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d(:?\d\d)?)?$' then
    return null;
  end if;
  if p_text ~ '(Z|[+-]\d\d(:?\d\d)?)$' then
    return case when pg_catalog.pg_input_is_valid(p_text, 'timestamptz') then p_text::timestamptz end;
  end if;
  return case when pg_catalog.pg_input_is_valid(p_text, 'timestamp') then p_text::timestamp at time zone p_timezone end;
end;
$$;

-- Billable days of a stay by the product's rule (see the header).
create or replace function private.parking_billable_days(p_billing public.parking_billing, p_entry timestamptz,
                                                         p_exit timestamptz, p_timezone text) returns integer
  language sql immutable
  set search_path = ''
as $$
  select case p_billing
    when 'calendar_days' then ((p_exit at time zone p_timezone)::date - (p_entry at time zone p_timezone)::date) + 1
    else greatest(1, ceil(extract(epoch from (p_exit at time zone p_timezone) - (p_entry at time zone p_timezone))
                          / 86400.0)::int)
  end;
$$;

-- The length-of-stay price of n days, before any override (null: the product has no prices).
create or replace function private.parking_days_price(p_product public.parking_products, p_days integer) returns bigint
  language sql stable
  set search_path = ''
as $$
  select coalesce(
    (select p.price_minor from public.parking_prices p
     where p.product_id = p_product.id and p.days >= p_days order by p.days limit 1),
    (select p.price_minor + (p_days - p.days) * p_product.extra_day_minor from public.parking_prices p
     where p.product_id = p_product.id order by p.days desc limit 1));
$$;

-- The whole quote as jsonb; raises on bad input. p_now is the clock (a stay may not begin in the past).
create or replace function private.quote_parking(
  p_lot_id uuid, p_product_id uuid, p_entry text, p_exit text, p_extras uuid[], p_now timestamptz
) returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  lot public.parking_lots;
  product public.parking_products;
  entry_at timestamptz;
  exit_at timestamptz;
  days integer;
  stay_first date;
  stay_last date;
  base bigint;
  stay bigint;
  override public.parking_price_overrides;
  lines jsonb := '[]';
  extra public.parking_extras;
  extra_price bigint;
  extras_total bigint := 0;
  cover bigint := 0;
  wanted uuid;
begin
  select * into lot from public.parking_lots where id = p_lot_id and active;
  if not found then
    raise exception using errcode = 'PT404', detail = 'lot_not_found', message = 'No such car park';
  end if;
  select * into product from public.parking_products where id = p_product_id and lot_id = lot.id and active;
  if not found then
    raise exception using errcode = 'PT404', detail = 'product_not_found', message = 'This car park does not offer that product';
  end if;
  entry_at := private.parking_instant(p_entry, lot.timezone);
  exit_at := private.parking_instant(p_exit, lot.timezone);
  if entry_at is null or exit_at is null or exit_at <= entry_at then
    raise exception using errcode = 'PT422', detail = 'invalid_stay',
      message = 'Give entry and exit as date and time (e.g. 2027-01-09T06:30), the exit after the entry';
  end if;
  if entry_at < p_now - interval '15 minutes' then
    raise exception using errcode = 'PT422', detail = 'stay_in_past', message = 'The entry time has passed';
  end if;
  days := private.parking_billable_days(product.billing, entry_at, exit_at, lot.timezone);
  if days > product.max_days or entry_at > p_now + interval '2 years' then
    raise exception using errcode = 'PT422', detail = 'stay_too_long',
      message = format('%s can be booked for at most %s days, up to two years ahead', product.name, product.max_days);
  end if;
  stay_first := (entry_at at time zone lot.timezone)::date;
  stay_last := (exit_at at time zone lot.timezone)::date;

  base := private.parking_days_price(product, days);
  if base is null then
    raise exception using errcode = 'PT404', detail = 'product_not_found', message = 'This product has no prices yet';
  end if;
  select * into override from public.parking_price_overrides
  where product_id = product.id and stay_first between parking_price_overrides.first_day and parking_price_overrides.last_day;
  stay := case when override.id is null then base else (base * override.percent + 50) / 100 end;
  lines := lines || jsonb_build_object('kind', 'stay', 'description',
                                       format('%s, %s %s', product.name, days, case days when 1 then 'day' else 'days' end),
                                       'amount_minor', stay, 'days', days, 'base_minor', base,
                                       'override_percent', override.percent);

  foreach wanted in array coalesce(p_extras, '{}') loop
    select * into extra from public.parking_extras where id = wanted and lot_id = lot.id and active;
    if not found then
      raise exception using errcode = 'PT422', detail = 'unknown_extra', message = 'This car park does not offer that extra',
        hint = jsonb_build_object('extra_id', wanted)::text;
    end if;
    continue when lines @> jsonb_build_array(jsonb_build_object('extra_id', extra.id));  -- asked twice: once
    extra_price := extra.price_minor * case when extra.per_day then days else 1 end;
    extras_total := extras_total + extra_price;
    if extra.kind = 'cancellation_cover' then
      cover := cover + extra_price;
    end if;
    lines := lines || jsonb_build_object('kind', extra.kind, 'extra_id', extra.id, 'description', extra.name,
                                         'amount_minor', extra_price);
  end loop;

  return jsonb_build_object(
    'lot_id', lot.id, 'product_id', product.id, 'product', product.name, 'service', product.service,
    'flexible', product.flexible, 'currency', lot.currency, 'timezone', lot.timezone,
    'entry_at', private.local_iso(entry_at, lot.timezone), 'exit_at', private.local_iso(exit_at, lot.timezone),
    'entry_instant', entry_at, 'exit_instant', exit_at, 'first_day', stay_first, 'last_day', stay_last,
    'billable_days', days, 'stay_minor', stay, 'extras_minor', extras_total, 'cover_minor', cover,
    'total_minor', stay + extras_total, 'lines', lines);
end;
$$;
comment on function private.quote_parking(uuid, uuid, text, text, uuid[], timestamptz) is
  'A stay''s price and its parts (see the file header). PT404 lot_not_found / product_not_found, PT422 invalid_stay, '
  'stay_in_past, stay_too_long, unknown_extra.';

create or replace function public.quote_parking(lot_id uuid, product_id uuid, entry text, "exit" text,
                                                extras uuid[] default '{}')
  returns jsonb
  language sql
  set search_path = ''
as $$
  select private.throttle('quote');
  select q || jsonb_build_object('days', (
           select jsonb_agg(jsonb_build_object('day', a.day, 'spaces_left', a.spaces_left, 'closed', a.closed)
                            order by a.day)
           from private.parking_availability(quote_parking.lot_id, (q ->> 'first_day')::date,
                                            (q ->> 'last_day')::date) a),
         'available', not exists (
           select 1 from private.parking_availability(quote_parking.lot_id, (q ->> 'first_day')::date,
                                                     (q ->> 'last_day')::date) a
           where a.closed or a.spaces_left = 0))
  from private.quote_parking(quote_parking.lot_id, quote_parking.product_id, quote_parking.entry,
                             quote_parking."exit", quote_parking.extras, now()) q;
$$;
comment on function public.quote_parking(uuid, uuid, text, text, uuid[]) is
  'Anyone: the price of a stay (lines, total, billable days, entry and exit in the lot''s time) and each day''s room '
  '(days[], available). Counts against the quote rate limit (POST it). Errors: see private.quote_parking.';
grant execute on function private.quote_parking(uuid, uuid, text, text, uuid[], timestamptz) to anon, authenticated, service_role;
grant execute on function public.quote_parking(uuid, uuid, text, text, uuid[]) to anon, authenticated, service_role;
