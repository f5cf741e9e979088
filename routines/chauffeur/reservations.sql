-- Chauffeur: booking, status moves, the driver's steps and guest lookups
-- (tables: migrations/20261207001900_chauffeur_reservations.sql).

-- The caller's driver rows and chauffeur-customer rows (for policies).
create or replace function private.own_driver_ids() returns uuid[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(array_agg(d.id), '{}') from public.drivers d where d.user_id = (select auth.uid());
$$;

create or replace function private.own_chauffeur_customer_ids() returns uuid[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(array_agg(c.id), '{}') from public.chauffeur_customers c where c.user_id = (select auth.uid());
$$;
grant execute on function private.own_driver_ids(), private.own_chauffeur_customer_ids() to authenticated, service_role;

-- Find or create the customer a booking is for. Dispatchers may name an existing customer
-- ({"customer_id"}) or set vip/company; anyone else gives {name, email, phone}.
create or replace function private.reservation_customer(p_org_id uuid, p_customer jsonb, p_staff boolean)
  returns uuid
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  found_id uuid;
  e164 text;
  wanted_email text := lower(btrim(p_customer ->> 'email'));
begin
  if p_customer ? 'customer_id' and not p_staff then
    raise exception using errcode = 'PT403', detail = 'customer_for_dispatchers',
      message = 'Only the organization''s dispatchers book for an existing customer';
  end if;
  if p_customer ? 'customer_id' then
    select c.id into found_id from public.chauffeur_customers c
    where c.id = private.as_uuid(p_customer ->> 'customer_id') and c.org_id = p_org_id;
    if found_id is null then
      raise exception using errcode = 'PT422', detail = 'unknown_customer', message = 'No such customer';
    end if;
    return found_id;
  end if;
  if coalesce(length(btrim(p_customer ->> 'name')), 0) not between 1 and 200
     or wanted_email is null or wanted_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
    raise exception using errcode = 'PT422', detail = 'invalid_customer',
      message = 'Give the customer''s name and email address';
  end if;
  if nullif(btrim(p_customer ->> 'phone'), '') is not null then
    e164 := private.to_e164(p_customer ->> 'phone', (select o.country from public.organizations o where o.id = p_org_id));
    if e164 is null then
      raise exception using errcode = 'PT422', detail = 'invalid_phone', message = 'That is not a phone number';
    end if;
  end if;
  select c.id into found_id from public.chauffeur_customers c where c.org_id = p_org_id and lower(c.email) = wanted_email;
  if found_id is null then
    insert into public.chauffeur_customers (org_id, name, email, phone, vip, company_id, user_id)
    values (p_org_id, btrim(p_customer ->> 'name'), wanted_email, e164,
            p_staff and coalesce(p_customer -> 'vip' = 'true'::jsonb, false),
            case when p_staff then (select co.id from public.companies co
                                    where co.id = private.as_uuid(p_customer ->> 'company_id') and co.org_id = p_org_id) end,
            (select u.id from auth.users u where u.id = (select auth.uid()) and lower(u.email) = wanted_email
               and u.email_confirmed_at is not null))
    returning id into found_id;
  elsif e164 is not null then
    update public.chauffeur_customers c set phone = coalesce(c.phone, e164) where c.id = found_id;
  end if;
  return found_id;
end;
$$;

-- Book a trip at the quote it gets now: {reservation_id, number, tracking_token (once), status, total_minor, quote}.
create or replace function private.book_reservation(
  p_org_id uuid, p_request jsonb, p_customer jsonb, p_now timestamptz default now()
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  staff boolean := private.has_org_role(p_org_id, '{owner,admin,dispatcher}');
  quote jsonb;
  s public.chauffeur_settings;
  token text := private.random_token();
  booked public.reservations;
  policy public.reservation_policy := 'customer';
begin
  quote := private.quote_reservation(p_org_id, p_request, p_now);
  if jsonb_typeof(p_customer) is distinct from 'object' then
    raise exception using errcode = 'PT422', detail = 'invalid_customer', message = 'Give the customer';
  end if;
  if p_request ? 'policy_type' then
    if not staff then
      raise exception using errcode = 'PT403', detail = 'policy_for_dispatchers',
        message = 'Only the organization''s dispatchers set the cancellation policy';
    end if;
    begin
      policy := (p_request ->> 'policy_type')::public.reservation_policy;
    exception when invalid_text_representation then
      raise exception using errcode = 'PT422', detail = 'invalid_policy', message = 'policy_type is customer, driver, affiliate or none';
    end;
  end if;
  if p_request ->> 'flight_number' is not null
     and upper(regexp_replace(p_request ->> 'flight_number', '\s', '', 'g')) !~ '^[A-Z0-9]{2}[0-9]{1,4}[A-Z]?$' then
    raise exception using errcode = 'PT422', detail = 'invalid_flight', message = 'A flight number looks like BA117';
  end if;
  if length(p_request ->> 'special_instructions') > 2000 then
    raise exception using errcode = 'PT422', detail = 'invalid_request', message = 'Special instructions: at most 2000 characters';
  end if;
  s := private.chauffeur_settings_of(p_org_id);

  insert into public.reservations (org_id, number, tracking_token_hash, customer_id, service_type, class_id, pickup_at,
    hours, passengers, luggage, child_seats, flight_number, meet_and_greet, special_instructions, policy_type, quote,
    total_minor, currency, blocked, created_by)
  values (p_org_id, 'CH-' || substr(private.new_order_number(), 4), private.token_hash(token),
    private.reservation_customer(p_org_id, p_customer, staff),
    (quote ->> 'service_type')::public.chauffeur_service, (quote ->> 'class_id')::uuid, (quote ->> 'pickup_at')::timestamptz,
    (quote ->> 'hours')::numeric, (quote ->> 'passengers')::integer, (quote ->> 'luggage')::integer,
    (quote ->> 'child_seats')::integer, upper(regexp_replace(p_request ->> 'flight_number', '\s', '', 'g')),
    (quote ->> 'meet_and_greet')::boolean, nullif(btrim(p_request ->> 'special_instructions'), ''), policy, quote,
    (quote ->> 'total_minor')::bigint, quote ->> 'currency',
    tstzrange((quote ->> 'pickup_at')::timestamptz - make_interval(mins => s.preparation_minutes),
              (quote ->> 'pickup_at')::timestamptz + make_interval(mins => (quote ->> 'estimated_minutes')::integer
                                                                          + s.buffer_minutes), '[)'),
    (select auth.uid()))
  returning * into booked;

  insert into public.reservation_stops (reservation_id, position, org_id, kind, address, latitude, longitude, notes)
  select booked.id, x.i - 1, p_org_id,
         case when x.i = 1 then 'pickup'::public.stop_kind when x.i = n then 'dropoff'::public.stop_kind
              else 'stop'::public.stop_kind end,
         btrim(x.v ->> 'address'), (x.v ->> 'latitude')::float8, (x.v ->> 'longitude')::float8,
         left(nullif(btrim(x.v ->> 'notes'), ''), 500)
  from jsonb_array_elements(p_request -> 'stops') with ordinality x (v, i),
       (select jsonb_array_length(p_request -> 'stops') as n) c;

  perform private.open_reservation_order(booked, p_request ->> 'promo_code');
  perform private.audit(p_org_id, 'reservation.booked', 'reservations', booked.id::text,
                        jsonb_build_object('total_minor', booked.total_minor, 'by_staff', staff));
  return jsonb_build_object('reservation_id', booked.id, 'number', booked.number, 'tracking_token', token,
                            'status', booked.status, 'total_minor', booked.total_minor, 'currency', booked.currency,
                            'quote', quote);
end;
$$;
comment on function private.book_reservation(uuid, jsonb, jsonb, timestamptz) is
  'Books a chauffeur trip at its quote (anyone; dispatchers may name an existing customer and set policy_type). '
  'The quote''s errors, PT422 invalid_customer/invalid_phone/invalid_flight/invalid_policy, and the promo code''s '
  '(PT409 promo_exhausted / promo_customer_limit: redeemed with the booking''s order).';
grant execute on function private.book_reservation(uuid, jsonb, jsonb, timestamptz) to anon, authenticated, service_role;

create or replace function public.book_reservation(org_id uuid, request jsonb, customer jsonb) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.book_reservation(org_id, request, customer);
$$;
comment on function public.book_reservation(uuid, jsonb, jsonb) is
  'Book a chauffeur trip: {reservation_id, number, tracking_token (shown once), status, total_minor, quote}.';
grant execute on function public.book_reservation(uuid, jsonb, jsonb) to anon, authenticated, service_role;

-- BEFORE UPDATE on reservations: only the allowed status moves, on every path (service role included).
create or replace function private.check_reservation_transition() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if new.status is distinct from old.status and not (
       (old.status = 'pending' and new.status in ('confirmed', 'cancelled'))
    or (old.status = 'confirmed' and new.status in ('in_progress', 'cancelled'))
    or (old.status = 'confirmed' and new.status = 'no_show' and now() >= old.pickup_at)
    or (old.status = 'in_progress' and new.status = 'completed')) then
    raise exception using errcode = 'PT409', detail = 'invalid_transition',
      message = format('A %s reservation cannot become %s', old.status, new.status);
  end if;
  if old.status in ('completed', 'cancelled', 'no_show') and (new.driver_id, new.vehicle_id, new.pickup_at, new.blocked)
     is distinct from (old.driver_id, old.vehicle_id, old.pickup_at, old.blocked) then
    raise exception using errcode = 'PT409', detail = 'reservation_closed', message = 'This reservation is closed';
  end if;
  return new;
end;
$$;
comment on function private.check_reservation_transition() is
  'BEFORE UPDATE on reservations: pending->confirmed|cancelled, confirmed->in_progress|cancelled|no_show (after the '
  'pickup time), in_progress->completed; nothing else (PT409 invalid_transition), and a closed trip is not reassigned.';

-- Dispatchers, admins and owners confirm, cancel (with a reason) or mark a no-show.
create or replace function private.set_reservation_status(
  p_reservation_id uuid, p_status public.reservation_status, p_reason text default null
) returns public.reservations
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  r public.reservations;
begin
  select * into r from public.reservations where id = p_reservation_id for update;
  if not found or not private.has_org_role(r.org_id, '{owner,admin,dispatcher}') then
    raise exception using errcode = 'PT404', detail = 'reservation_not_found', message = 'No such reservation';
  end if;
  if p_status not in ('confirmed', 'cancelled', 'no_show') then
    raise exception using errcode = 'PT422', detail = 'invalid_status',
      message = 'Dispatch confirms, cancels or marks a no-show; the driver moves a trip along';
  end if;
  if p_status = 'cancelled' and coalesce(length(btrim(p_reason)), 0) not between 1 and 500 then
    raise exception using errcode = 'PT422', detail = 'reason_required', message = 'Say why it is cancelled';
  end if;
  if p_status = 'confirmed' then
    update public.reservations set status = p_status where id = r.id returning * into r;
  else
    r := private.close_reservation(r, p_status, p_reason);  -- the fee by the class's windows, and the payment
  end if;
  if p_status = 'confirmed' then
    perform private.enqueue_notification(r.org_id, 'email', 'reservation_confirmed',
      (select c.email from public.chauffeur_customers c where c.id = r.customer_id),
      jsonb_build_object('reservation_id', r.id), 'reservation_confirmed:' || r.id);
  end if;
  perform private.audit(r.org_id, 'reservation.' || p_status, 'reservations', r.id::text,
                        jsonb_build_object('reason', p_reason));
  return r;
end;
$$;
grant execute on function private.set_reservation_status(uuid, public.reservation_status, text) to authenticated, service_role;

create or replace function public.set_reservation_status(
  reservation_id uuid, status public.reservation_status, reason text default null
) returns public.reservations
  language sql
  set search_path = ''
as $$
  select private.set_reservation_status(reservation_id, status, reason);
$$;
grant execute on function public.set_reservation_status(uuid, public.reservation_status, text) to authenticated, service_role;

-- The assigned driver's (or the affiliate's, for a farmed-out trip) steps, in order, stamped with the server's time:
-- en_route, on_location (the customer gets a text), on_board (-> in_progress), completed
-- (wait time beyond the class's grace period is charged per minute into the final breakdown).
create or replace function private.advance_trip(p_reservation_id uuid, p_step text) returns public.reservations
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  r public.reservations;
  cls public.vehicle_classes;
  waited integer;
  wait_line jsonb;
begin
  select * into r from public.reservations where id = p_reservation_id for update;
  -- The trip's own driver, or the affiliate it is farmed out to.
  if not found or not (coalesce(r.driver_id = any (private.own_driver_ids()), false)
                       or exists (select 1 from public.farm_outs f
                                  where f.reservation_id = r.id and f.status = 'accepted'
                                    and f.affiliate_id = any (private.own_affiliate_ids()))) then
    raise exception using errcode = 'PT404', detail = 'trip_not_found', message = 'No such trip of yours';
  end if;
  if not (   (p_step = 'en_route' and r.status = 'confirmed' and r.en_route_at is null)
          or (p_step = 'on_location' and r.status = 'confirmed' and r.en_route_at is not null and r.on_location_at is null)
          or (p_step = 'on_board' and r.status = 'confirmed' and r.on_location_at is not null)
          or (p_step = 'completed' and r.status = 'in_progress')) then
    raise exception using errcode = 'PT409', detail = 'invalid_step',
      message = format('The trip cannot go %s now (it is %s)', p_step, r.status);
  end if;
  case p_step
    when 'en_route' then
      update public.reservations set en_route_at = now() where id = r.id returning * into r;
    when 'on_location' then
      update public.reservations set on_location_at = now() where id = r.id returning * into r;
      perform private.enqueue_notification(r.org_id, 'sms', 'driver_on_location', c.phone,
        jsonb_build_object('reservation_id', r.id), 'driver_on_location:' || r.id)
      from public.chauffeur_customers c where c.id = r.customer_id and c.phone is not null;
    when 'on_board' then
      update public.reservations set on_board_at = now(), status = 'in_progress' where id = r.id returning * into r;
      update public.drivers set status = 'on_trip' where id = r.driver_id;
    else
      select * into cls from public.vehicle_classes where id = r.class_id;
      -- Whole minutes waited (a part minute is not charged), beyond the class's grace period.
      waited := greatest(0, floor(extract(epoch from r.on_board_at - r.on_location_at) / 60)::integer
                            - cls.wait_grace_minutes);
      wait_line := case when waited > 0 and cls.wait_per_minute_minor > 0 then
        jsonb_build_array(jsonb_build_object('code', 'wait', 'rule', format('%s wait time after %s minutes', cls.name,
          cls.wait_grace_minutes), 'quantity', waited, 'unit_minor', cls.wait_per_minute_minor,
          'amount_minor', waited * cls.wait_per_minute_minor)) else '[]'::jsonb end;
      update public.reservations
      set completed_at = now(), status = 'completed', wait_minutes = waited,
          final_lines = (r.quote -> 'lines') || wait_line,
          final_total_minor = r.total_minor + coalesce((wait_line -> 0 ->> 'amount_minor')::bigint, 0)
      where id = r.id returning * into r;
      update public.drivers set status = 'available' where id = r.driver_id and status = 'on_trip';
      perform private.settle_reservation(r.id);  -- capture the final amount from the authorisation
      select * into r from public.reservations where id = r.id;
  end case;
  return r;
end;
$$;
comment on function private.advance_trip(uuid, text) is
  'The assigned driver''s next step (en_route, on_location, on_board, completed), stamped with server time. '
  'PT404 trip_not_found (not theirs), PT409 invalid_step.';
grant execute on function private.advance_trip(uuid, text) to authenticated, service_role;

create or replace function public.advance_trip(reservation_id uuid, step text) returns public.reservations
  language sql
  set search_path = ''
as $$
  select private.advance_trip(reservation_id, step);
$$;
grant execute on function public.advance_trip(uuid, text) to authenticated, service_role;

-- A guest's view of their trip: confirmation number + tracking token (throttled like orders).
create or replace function private.lookup_reservation(p_number text, p_token text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  -- Checked once, before the query: in its WHERE clause the (volatile) check would run, and count a wrong
  -- token, once per row of the table.
  holder uuid := private.authorize_token_holder('public.reservations', p_number, p_token);
  r public.reservations;
begin
  select * into r from public.reservations where id = holder;
  if not found then
    return null;
  end if;
  return jsonb_build_object('number', r.number, 'status', r.status, 'pickup_at', r.pickup_at,
    'service_type', r.service_type, 'passengers', r.passengers, 'total_minor', coalesce(r.final_total_minor, r.total_minor),
    'currency', r.currency, 'lines', coalesce(r.final_lines, r.quote -> 'lines'), 'fee_minor', r.fee_minor,
    'balance_due_minor', r.balance_due_minor,
    'driver_on_location', r.on_location_at is not null,
    'stops', (select jsonb_agg(jsonb_build_object('kind', s.kind, 'address', s.address) order by s.position)
              from public.reservation_stops s where s.reservation_id = r.id));
end;
$$;
comment on function private.lookup_reservation(text, text) is
  'A guest''s trip by confirmation number + tracking token (null when they do not match; PT429 after 10 wrong tokens).';
grant execute on function private.lookup_reservation(text, text) to anon, authenticated, service_role;

create or replace function public.lookup_reservation(confirmation_number text, tracking_token text) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.lookup_reservation(confirmation_number, tracking_token);
$$;
grant execute on function public.lookup_reservation(text, text) to anon, authenticated, service_role;

-- A customer rates their completed trip, once (their own reservations only).
create or replace function public.rate_trip(reservation_id uuid, rating integer) returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  if rating is null or rating not between 1 and 5 then
    raise exception using errcode = 'PT422', detail = 'invalid_rating', message = 'A rating is 1 to 5';
  end if;
  update public.reservations r set rating = rate_trip.rating
  where r.id = rate_trip.reservation_id and r.customer_id = any (private.own_chauffeur_customer_ids())
    and r.status = 'completed' and r.rating is null;
  if not found then
    raise exception using errcode = 'PT409', detail = 'not_rateable',
      message = 'Only your own completed trip can be rated, once';
  end if;
end;
$$;
grant execute on function public.rate_trip(uuid, integer) to authenticated, service_role;

-- Drivers' trips completed and average rating, from their trips (never counters).
create or replace function public.driver_stats(org_id uuid)
  returns table (driver_id uuid, name text, trips_completed bigint, rating numeric)
  language sql stable
  security definer
  set search_path = ''
as $$
  select d.id, d.name, count(r.id) filter (where r.status = 'completed'),
         round(avg(r.rating), 2)
  from public.drivers d
  left join public.reservations r on r.driver_id = d.id
  where d.org_id = driver_stats.org_id and private.has_org_role(driver_stats.org_id, '{owner,admin,dispatcher}')
  group by d.id, d.name
  order by d.name;
$$;
grant execute on function public.driver_stats(uuid) to authenticated, service_role;
