-- Airport parking: placing a booking at checkout, and reading it back.
--
-- private.place_parking_order turns a quote into one generic order (kind
-- 'parking': a line for the stay, one per extra) and one `held` booking, in the
-- caller's transaction. Inserting the booking claims its days (the capacity
-- trigger, routines/parking/capacity.sql): a full or closed day refuses the
-- whole order with PT409 and the day, and nothing is written. The booking
-- reference is the order's number; the guest's tracking token is shown once.
-- Payment then follows every order's path, and the order's status moves the
-- booking (routines/parking/orders.sql).
--
-- A booking placed by the lot's staff (owner, admin, manager or staff of the
-- org) may use every space of a day; anyone else books online, within the
-- share released online.
--
-- Error codes: those of private.quote_parking, and invalid_buyer,
-- invalid_plate, invalid_flight, invalid_passengers, idempotency_key_reused,
-- idempotency_conflict, parking_day_full, parking_day_closed, promo_*;
-- reading back: booking_not_found, throttled.
-- Tables: migrations/20261207002500_parking_bookings.sql.

-- A plate as the gates read it: upper case, no spaces or dashes; null when it cannot be one.
create or replace function private.normalize_plate(p_plate text) returns text
  language sql immutable
  set search_path = ''
as $$
  select case when n ~ '^[A-Z0-9]{2,10}$' then n end
  from (select upper(regexp_replace(coalesce(p_plate, ''), '[\s\-.]', '', 'g')) as n) x;
$$;

-- A flight number as printed on a boarding pass ("BA 2490" -> "BA2490"); '' when none, null when unreadable.
create or replace function private.normalize_flight(p_flight text) returns text
  language sql immutable
  set search_path = ''
as $$
  select case when n = '' then '' when n ~ '^[A-Z0-9]{2,3}[0-9]{1,4}[A-Z]?$' then n end
  from (select upper(regexp_replace(coalesce(p_flight, ''), '\s', '', 'g')) as n) x;
$$;

create or replace function private.parking_booking_view(p_booking public.parking_bookings) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select jsonb_build_object(
    'id', p_booking.id, 'reference', o.number, 'status', p_booking.status, 'channel', p_booking.channel,
    'lot_id', l.id, 'lot', l.name, 'iata_code', l.iata_code, 'address', l.address, 'timezone', l.timezone,
    'transfer_minutes', l.transfer_minutes,
    'product_id', pr.id, 'product', pr.name, 'service', pr.service, 'flexible', pr.flexible,
    'entry_at', private.local_iso(p_booking.entry_at, l.timezone),
    'exit_at', private.local_iso(p_booking.exit_at, l.timezone),
    'first_day', p_booking.first_day, 'last_day', p_booking.last_day, 'billable_days', p_booking.billable_days,
    'plate', p_booking.plate, 'make', p_booking.make, 'model', p_booking.model, 'colour', p_booking.colour,
    'outbound_flight', p_booking.outbound_flight, 'return_flight', p_booking.return_flight,
    'passengers', p_booking.passengers, 'customer_name', p_booking.customer_name,
    'stay_minor', p_booking.stay_minor, 'cover_minor', p_booking.cover_minor, 'currency', l.currency,
    'entered_at', p_booking.entered_at, 'exited_at', p_booking.exited_at,
    'extras', (select coalesce(jsonb_agg(jsonb_build_object('extra_id', e.id, 'name', e.name, 'kind', e.kind,
                                                            'price_minor', be.price_minor) order by e.name), '[]')
               from public.parking_booking_extras be join public.parking_extras e on e.id = be.extra_id
               where be.booking_id = p_booking.id),
    'charges', (select coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'reason', c.reason,
                                                             'amount_minor', c.amount_minor, 'order_number', co.number,
                                                             'status', co.status) order by c.created_at), '[]')
                from public.parking_charges c join public.orders co on co.id = c.order_id
                where c.booking_id = p_booking.id),
    'balance_due_minor', (select coalesce(sum(c.amount_minor), 0) from public.parking_charges c
                          join public.orders co on co.id = c.order_id
                          where c.booking_id = p_booking.id and co.status = 'pending'))
  from public.orders o
  join public.parking_lots l on l.id = p_booking.lot_id
  join public.parking_products pr on pr.id = p_booking.product_id
  where o.id = p_booking.order_id;
$$;
comment on function private.parking_booking_view(public.parking_bookings) is
  'A booking as its customer and the lot''s staff read it (times in the lot''s zone); never the gate code.';

create or replace function private.parking_order_summary(p_order_id uuid) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select jsonb_build_object(
    'order_id', o.id, 'number', o.number, 'status', o.status, 'kind', o.kind,
    'buyer_name', o.buyer_name, 'buyer_email', o.buyer_email, 'currency', o.currency,
    'subtotal_minor', o.subtotal_minor, 'discount_minor', o.discount_minor, 'total_minor', o.total_minor,
    'hold_expires_at', o.hold_expires_at, 'checkout_url', o.checkout_url, 'paid_at', o.paid_at,
    'items', (select coalesce(jsonb_agg(jsonb_build_object(
                'id', i.id, 'description', i.description, 'quantity', i.quantity,
                'unit_price_minor', i.unit_price_minor, 'discount_minor', i.discount_minor,
                'total_minor', i.total_minor)
                order by i.metadata ->> 'parking' is distinct from 'stay', i.created_at, i.description), '[]')
              from public.order_items i where i.order_id = o.id),
    'booking', (select private.parking_booking_view(b) from public.parking_bookings b
                where b.order_id = o.id
                   or b.id = (select c.booking_id from public.parking_charges c where c.order_id = o.id)))
  from public.orders o
  where o.id = p_order_id and o.kind = 'parking';
$$;
comment on function private.parking_order_summary(uuid) is
  'A parking order (a booking''s own, or a charge on one) with its lines and the booking.';
grant execute on function private.parking_order_summary(uuid) to service_role;

create or replace function private.place_parking_order(
  p_request jsonb, p_buyer jsonb, p_promo_code text, p_idempotency_key text, p_request_hash text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  now_ timestamptz := now();
  buyer uuid := (select auth.uid());
  token text := private.random_token();
  q jsonb;
  lot public.parking_lots;
  product public.parking_products;
  policy public.parking_policies;
  ord public.orders;
  booking public.parking_bookings;
  buyer_email text := nullif(btrim(p_buyer ->> 'email'), '');
  buyer_name text := nullif(btrim(p_buyer ->> 'name'), '');
  buyer_phone text := nullif(btrim(p_buyer ->> 'phone'), '');
  plate text := private.normalize_plate(p_request ->> 'plate');
  outbound text := private.normalize_flight(p_request ->> 'outbound_flight');
  inbound text := private.normalize_flight(p_request ->> 'return_flight');
  passengers integer;
  extras uuid[];
  line jsonb;
  stay_item uuid;
  replayed uuid;
begin
  if jsonb_typeof(p_request) is distinct from 'object' then
    raise exception using errcode = 'PT422', detail = 'invalid_stay', message = 'A booking needs a lot, a product and a stay';
  end if;
  if buyer is not null then
    buyer_email := coalesce(buyer_email, (select auth.email()));
    buyer_name := coalesce(buyer_name, (select p.full_name from public.profiles p where p.id = buyer));
  end if;
  if buyer_email is null or buyer_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' or length(buyer_email) > 320
     or buyer_name is null or length(buyer_name) > 200 or length(buyer_phone) > 40 then
    raise exception using errcode = 'PT422', detail = 'invalid_buyer',
      message = 'A name and a valid email are required (phone up to 40 characters)';
  end if;
  if plate is null then
    raise exception using errcode = 'PT422', detail = 'invalid_plate',
      message = 'The registration plate has 2 to 10 letters and digits';
  end if;
  if outbound is null or inbound is null then
    raise exception using errcode = 'PT422', detail = 'invalid_flight',
      message = 'A flight number is an airline code and up to four digits, e.g. BA2490';
  end if;
  passengers := case when coalesce(p_request ->> 'passengers', '1') ~ '^\d{1,2}$'
                     then coalesce(p_request ->> 'passengers', '1')::int end;
  if passengers is null or passengers not between 1 and 16 then
    raise exception using errcode = 'PT422', detail = 'invalid_passengers', message = 'Between 1 and 16 passengers';
  end if;
  if jsonb_typeof(coalesce(p_request -> 'extras', '[]')) <> 'array'
     or exists (select 1 from jsonb_array_elements_text(coalesce(p_request -> 'extras', '[]')) e
                where private.as_uuid(e) is null) then
    raise exception using errcode = 'PT422', detail = 'unknown_extra', message = 'Extras are a list of extra ids';
  end if;
  extras := array(select private.as_uuid(e) from jsonb_array_elements_text(coalesce(p_request -> 'extras', '[]')) e);

  replayed := private.replayed_order(p_idempotency_key, 'parking', p_request_hash, buyer);
  if replayed is not null then
    return private.parking_order_summary(replayed) || jsonb_build_object('tracking_token', null, 'replayed', true);
  end if;

  q := private.quote_parking(private.as_uuid(p_request ->> 'lot_id'), private.as_uuid(p_request ->> 'product_id'),
                             p_request ->> 'entry', p_request ->> 'exit', extras, now_);
  select * into lot from public.parking_lots where id = (q ->> 'lot_id')::uuid;
  select * into product from public.parking_products where id = (q ->> 'product_id')::uuid;
  policy := private.parking_policy(lot.org_id);

  ord := private.insert_order(lot.org_id, 'parking', buyer, buyer_email, buyer_name, lot.currency,
                              (q ->> 'total_minor')::bigint, private.token_hash(token), p_idempotency_key,
                              p_request_hash, now_ + make_interval(mins => policy.hold_minutes),
                              jsonb_build_object('lot_id', lot.id, 'product_id', product.id));

  for line in select value from jsonb_array_elements(q -> 'lines') loop
    insert into public.order_items (order_id, org_id, description, quantity, unit_price_minor, metadata)
    values (ord.id, lot.org_id,
            case when line ->> 'kind' = 'stay'
                 then format('%s at %s (%s), %s to %s', line ->> 'description', lot.name, lot.iata_code,
                             to_char((q ->> 'entry_instant')::timestamptz at time zone lot.timezone, 'Dy DD Mon HH24:MI'),
                             to_char((q ->> 'exit_instant')::timestamptz at time zone lot.timezone, 'Dy DD Mon YYYY HH24:MI'))
                 else line ->> 'description' end,
            1, (line ->> 'amount_minor')::bigint,
            jsonb_strip_nulls(jsonb_build_object('parking', line ->> 'kind', 'extra_id', line -> 'extra_id')))
    returning case when line ->> 'kind' = 'stay' then id else stay_item end into stay_item;
  end loop;

  insert into public.parking_bookings (
    org_id, lot_id, product_id, order_id, channel, customer_user_id, customer_name, customer_email, customer_phone,
    entry_at, exit_at, first_day, last_day, billable_days, plate, make, model, colour, outbound_flight,
    return_flight, passengers, stay_minor, cover_minor, gate_code)
  values (
    lot.org_id, lot.id, product.id, ord.id,
    case when private.has_org_role(lot.org_id, '{owner,admin,manager,staff}') then 'staff' else 'online' end::public.parking_channel,
    buyer, buyer_name, lower(buyer_email), buyer_phone,
    (q ->> 'entry_instant')::timestamptz, (q ->> 'exit_instant')::timestamptz, (q ->> 'first_day')::date,
    (q ->> 'last_day')::date, (q ->> 'billable_days')::int, plate,
    nullif(left(btrim(p_request ->> 'make'), 60), ''), nullif(left(btrim(p_request ->> 'model'), 60), ''),
    nullif(left(btrim(p_request ->> 'colour'), 40), ''), nullif(outbound, ''), nullif(inbound, ''), passengers,
    (q ->> 'stay_minor')::bigint, (q ->> 'cover_minor')::bigint, private.random_token())
  returning * into booking;  -- claims the days, or PT409 parking_day_full / parking_day_closed

  insert into public.parking_booking_extras (booking_id, extra_id, org_id, price_minor)
  select booking.id, (l ->> 'extra_id')::uuid, lot.org_id, (l ->> 'amount_minor')::bigint
  from jsonb_array_elements(q -> 'lines') l where l ? 'extra_id';

  -- A promo code takes money off the stay, never the extras.
  perform private.finish_order(ord.id, p_promo_code, array[stay_item], now_);

  return private.parking_order_summary(ord.id) || jsonb_build_object('tracking_token', token, 'replayed', false);
end;
$$;
comment on function private.place_parking_order(jsonb, jsonb, text, text, text) is
  'Holds a parking stay and creates its pending order (guest or signed in; staff book every space, others the share '
  'released online). p_request: lot_id, product_id, entry, exit, plate, make, model, colour, outbound_flight, '
  'return_flight, passengers, extras[]; p_buyer: email, name, phone. Returns the order summary plus tracking_token '
  '(null on a replay) and replayed.';
grant execute on function private.place_parking_order(jsonb, jsonb, text, text, text)
  to anon, authenticated, service_role;

-- A guest reads their booking with the reference and tracking token (and gets the gate code for the QR). Null
-- for a wrong pair, not an error, so that authorize_guest's count of it survives (checked once, into a variable:
-- in a WHERE clause it would run, and count, per row); PT404 for an order that is not a booking (a charge).
create or replace function private.lookup_parking_booking(p_number text, p_token text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  guest_order uuid := private.authorize_guest(p_number, p_token);
  b public.parking_bookings;
begin
  if guest_order is null then
    return null;
  end if;
  select * into b from public.parking_bookings where order_id = guest_order;
  if not found then
    raise exception using errcode = 'PT404', detail = 'booking_not_found', message = 'No such booking';
  end if;
  return private.parking_booking_view(b) || jsonb_build_object('gate_code', b.gate_code);
end;
$$;
grant execute on function private.lookup_parking_booking(text, text) to anon, authenticated, service_role;

create or replace function public.lookup_parking_booking(booking_reference text, tracking_token text) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.lookup_parking_booking(booking_reference, tracking_token);
$$;
comment on function public.lookup_parking_booking(text, text) is
  'A guest reads their parking booking, with the gate code for the QR. Null when the reference and token do not '
  'match (PT429 throttled after 10 in 15 minutes); PT404 booking_not_found for an order that is not a booking.';
grant execute on function public.lookup_parking_booking(text, text) to anon, authenticated, service_role;

-- A signed-in customer's own bookings, newest stay first, with their gate codes.
create or replace function private.my_parking_bookings() returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(jsonb_agg(private.parking_booking_view(b) || jsonb_build_object('gate_code', b.gate_code)
                            order by b.entry_at desc), '[]')
  from public.parking_bookings b
  where b.customer_user_id = (select auth.uid()) and (select auth.uid()) is not null;
$$;
grant execute on function private.my_parking_bookings() to authenticated, service_role;

create or replace function public.my_parking_bookings() returns jsonb
  language sql stable
  set search_path = ''
as $$
  select private.my_parking_bookings();
$$;
comment on function public.my_parking_bookings() is 'The caller''s own parking bookings, with gate codes.';
grant execute on function public.my_parking_bookings() to authenticated, service_role;
