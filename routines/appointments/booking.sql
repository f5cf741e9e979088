-- Service appointments, part 4: booking (the checkout hold for appointments).
--
-- private.place_appointment_order turns a guest's (or a signed-in customer's)
-- basket of services at chosen start times into one generic order (kind
-- 'appointments', the commerce migration) with one order item per
-- appointment and one `held` appointment per item. Payment then follows the
-- same path as tickets (create-checkout-session, Stripe, the webhook,
-- private.record_payment), and the order's status moves the appointments
-- (migrations/*_appointment_orders.sql): paid books them, expiry or
-- cancellation frees them, a late payment re-takes them or is refunded.
--
-- It follows private.place_ticket_order step by step: inputs first, the
-- idempotency replay, then the org, the postcode (it must be valid and
-- covered), every item's service (active, in the org, one currency), then the
-- order, the items, the appointments, the promo code and, when nothing is
-- owed, the payment ('free'). Everything happens in the caller's transaction:
-- any refusal leaves nothing behind.
--
-- Staff: an item may name a staff member. They take it when they cover the
-- postcode, do the service and are free then (private.is_bookable: the slot
-- search's own rules: hours, breaks, time off, buffers, notice, horizon,
-- grid); otherwise the first covering, qualified staff member (by display
-- name, then id) for whom private.is_bookable holds. Items are placed in the
-- order given, each seeing the ones before it (a held appointment is live), so
-- two items of one order never share a staff member's time: the second gets
-- someone else or PT409 slot_unavailable. A booking that commits between our
-- check and our insert trips the exclusion constraint (23P01), answered as
-- PT409 slot_taken; the hint names the item ({"item": index from 0}).
--
-- Promo codes: public.promo_code_services restricts a code to services (as
-- promo_code_tiers does to ticket tiers); a code without rows there applies to
-- every item. RLS for it: policies/appointments.sql.
--
-- Error codes: invalid_items, invalid_item, invalid_buyer, idempotency_key_reused,
-- idempotency_conflict, org_not_found, invalid_postcode, postcode_not_covered,
-- unknown_service, mixed_currency, not_served_here, slot_unavailable, slot_taken,
-- promo_invalid, promo_exhausted, promo_customer_limit, promo_not_applicable.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121001500_appointments_booking.sql.

create or replace function private.check_promo_code_services_same_org() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  if not exists (
       select 1 from public.promo_codes c join public.services s on s.org_id = c.org_id
       where c.id = new.promo_code_id and s.id = new.service_id and c.org_id = new.org_id) then
    raise exception using errcode = 'PT422', message = 'The code and the service belong to different organizations',
      detail = 'foreign_service';
  end if;
  return new;
end;
$$;

create or replace function private.appointment_order_summary(p_order_id uuid) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select jsonb_build_object(
    'order_id', o.id, 'number', o.number, 'status', o.status, 'kind', o.kind,
    'buyer_name', o.buyer_name, 'buyer_email', o.buyer_email,
    'currency', o.currency, 'subtotal_minor', o.subtotal_minor, 'discount_minor', o.discount_minor,
    'total_minor', o.total_minor, 'hold_expires_at', o.hold_expires_at,
    'checkout_url', o.checkout_url, 'paid_at', o.paid_at,
    'refunded_minor', (select coalesce(sum(r.amount_minor), 0) from public.refunds r
                       where r.order_id = o.id and r.status <> 'failed'),
    'items', (select coalesce(jsonb_agg(jsonb_build_object(
                'id', i.id, 'service_id', i.service_id, 'description', i.description, 'quantity', i.quantity,
                'unit_price_minor', i.unit_price_minor, 'discount_minor', i.discount_minor,
                'total_minor', i.total_minor) order by a.starts_at, i.id), '[]'::jsonb)
              from public.order_items i
              left join lateral (select min(lower(x.period)) as starts_at from public.appointments x
                                 where x.order_item_id = i.id) a on true
              where i.order_id = o.id),
    'appointments', (select coalesce(jsonb_agg(jsonb_build_object(
                       'id', a.id, 'item_id', a.order_item_id, 'service_id', a.service_id, 'service', s.name,
                       'staff_id', a.staff_id, 'staff_name', st.display_name, 'status', a.status,
                       'start', private.local_iso(lower(a.period), org.timezone),
                       'end', private.local_iso(upper(a.period), org.timezone))
                       order by lower(a.period), a.id), '[]'::jsonb)
                     from public.appointments a
                     join public.services s on s.id = a.service_id
                     join public.staff st on st.id = a.staff_id
                     where a.order_id = o.id))
  from public.orders o join public.organizations org on org.id = o.org_id
  where o.id = p_order_id;
$$;
comment on function private.appointment_order_summary(uuid) is
  'An appointment order as its buyer may see it: totals, items and appointments (start/end in the org''s timezone).';
grant execute on function private.appointment_order_summary(uuid) to service_role;

create or replace function private.place_appointment_order(
  p_org_id uuid,
  p_items jsonb,
  p_postcode text,
  p_buyer_email text,
  p_buyer_name text,
  p_buyer_phone text default null,
  p_address text default null,
  p_promo_code text default null,
  p_idempotency_key text default null,
  p_request_hash text default null,
  p_hold interval default null
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  p_now timestamptz := now();
  org public.organizations;
  ord public.orders;
  token text := private.random_token();
  buyer uuid := (select auth.uid());
  district jsonb;
  outward text;
  wanted record;
  svc public.services;
  chosen uuid;
  candidate record;
  any_covering boolean;
  item_id uuid;
  currencies text[];
  eligible uuid[];
  subtotal bigint := 0;
  wanted_blocked tstzrange;
  planned uuid[] := '{}';          -- per item (index + 1): the staff member chosen before locking
  planned_blocked tstzrange[] := '{}';
  locked uuid[] := '{}';           -- staff whose booking lock this transaction holds
  top_key integer;                 -- the greatest lock key held (locks are taken in key order)
  lock_key integer;
  got boolean;
  replayed uuid;
begin
  -- A signed-in buyer may leave name and email to their profile.
  if buyer is not null then
    p_buyer_email := coalesce(nullif(btrim(p_buyer_email), ''), (select auth.email()));
    p_buyer_name := coalesce(nullif(btrim(p_buyer_name), ''),
                             (select p.full_name from public.profiles p where p.id = buyer));
  end if;
  p_buyer_phone := nullif(btrim(p_buyer_phone), '');
  p_address := nullif(btrim(p_address), '');

  -- Inputs first.
  if jsonb_typeof(p_items) is distinct from 'array' or jsonb_array_length(p_items) not between 1 and 10 then
    raise exception using errcode = 'PT422', message = 'Choose between 1 and 10 appointments', detail = 'invalid_items';
  end if;
  for wanted in select e.value as item, e.ordinality - 1 as idx from jsonb_array_elements(p_items) with ordinality e
  loop
    if jsonb_typeof(wanted.item) is distinct from 'object'
       or coalesce(wanted.item ->> 'service_id', '') !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
       or (jsonb_typeof(wanted.item -> 'staff_id') is distinct from 'null' and wanted.item ? 'staff_id'
           and coalesce(wanted.item ->> 'staff_id', '') !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
       or jsonb_typeof(wanted.item -> 'start') is distinct from 'string'
       -- An instant with its UTC offset: a bare wall-clock time would depend on the session's zone.
       or wanted.item ->> 'start' !~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d(:?\d\d)?)$'
       or not pg_input_is_valid(wanted.item ->> 'start', 'timestamptz') then
      raise exception using errcode = 'PT422', detail = 'invalid_item',
        message = 'Each appointment needs a service_id, a start time with its UTC offset and optionally a staff_id',
        hint = jsonb_build_object('item', wanted.idx)::text;
    end if;
  end loop;
  if p_buyer_email is null or btrim(p_buyer_email) !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' or length(p_buyer_email) > 320
     or p_buyer_name is null or length(btrim(p_buyer_name)) not between 1 and 200
     or length(p_buyer_phone) > 40 or length(p_address) > 500 then
    raise exception using errcode = 'PT422', detail = 'invalid_buyer',
      message = 'A name and a valid email are required (phone up to 40 characters, address up to 500)';
  end if;

  -- The same idempotency key again: the order as it stands, without a token.
  replayed := private.replayed_order(p_idempotency_key, 'appointments', p_request_hash, buyer);
  if replayed is not null then
    return private.appointment_order_summary(replayed) || jsonb_build_object('tracking_token', null, 'replayed', true);
  end if;

  select * into org from public.organizations where id = p_org_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'Organization not found', detail = 'org_not_found';
  end if;
  -- Holds last the org's hold_minutes unless the caller says otherwise; between one minute and two hours.
  p_hold := least(greatest(coalesce(p_hold, make_interval(mins => (private.appointment_settings_for(org.id)).hold_minutes)),
                           interval '1 minute'), interval '2 hours');

  district := private.covered_postcode(p_postcode);  -- PT422 invalid_postcode / postcode_not_covered
  outward := district ->> 'outward';

  for wanted in select e.value as item, e.ordinality - 1 as idx from jsonb_array_elements(p_items) with ordinality e
  loop
    select * into svc from public.services
    where id = (wanted.item ->> 'service_id')::uuid and org_id = org.id and active;
    if not found then
      raise exception using errcode = 'PT422', message = 'This service is not offered', detail = 'unknown_service',
        hint = jsonb_build_object('item', wanted.idx)::text;
    end if;
    currencies := array(select distinct x from unnest(currencies || svc.currency::text) x);
    subtotal := subtotal + svc.price_minor;
  end loop;
  if array_length(currencies, 1) > 1 then
    raise exception using errcode = 'PT422', message = 'All appointments in one order share a currency',
      detail = 'mixed_currency';
  end if;

  -- 1. Plan, without locks: the staff member each item would get (the rules below), the
  -- order's earlier items counted as if already held. Nothing free: slot_unavailable now.
  for wanted in
    select e.value as item, e.ordinality - 1 as idx, (e.value ->> 'start')::timestamptz as starts_at,
           nullif(e.value ->> 'staff_id', '')::uuid as staff_id
    from jsonb_array_elements(p_items) with ordinality e order by e.ordinality
  loop
    select * into svc from public.services where id = (wanted.item ->> 'service_id')::uuid;
    wanted_blocked := private.blocked_range(wanted.starts_at, svc.duration_minutes,
                                            svc.buffer_before_minutes, svc.buffer_after_minutes);
    chosen := null;
    any_covering := false;
    for candidate in
      select c.staff_id, st.display_name
      from private.covering_staff(org.id, outward) c
      join public.staff_services ss on ss.staff_id = c.staff_id and ss.service_id = svc.id
      join public.staff st on st.id = c.staff_id
      order by (c.staff_id = wanted.staff_id) is true desc, st.display_name, st.id
    loop
      any_covering := true;
      continue when exists (select 1 from unnest(planned, planned_blocked) p(staff_id, blocked)
                            where p.staff_id = candidate.staff_id and p.blocked && wanted_blocked);
      if private.is_bookable(candidate.staff_id, svc.id, wanted.starts_at) then
        chosen := candidate.staff_id;
        exit;
      end if;
    end loop;
    if not any_covering then
      raise exception using errcode = 'PT422', detail = 'not_served_here',
        message = format('%s is not available at %s', svc.name, district ->> 'normalized'),
        hint = jsonb_build_object('item', wanted.idx)::text;
    end if;
    if chosen is null then
      raise exception using errcode = 'PT409', detail = 'slot_unavailable',
        message = format('%s cannot be booked at %s', svc.name,
                         to_char(wanted.starts_at at time zone org.timezone, 'Dy DD Mon YYYY HH24:MI')),
        hint = jsonb_build_object('item', wanted.idx)::text;
    end if;
    planned := planned || chosen;
    planned_blocked := planned_blocked || wanted_blocked;
  end loop;

  ord := private.insert_order(org.id, 'appointments', buyer, p_buyer_email, p_buyer_name, currencies[1], subtotal,
                              private.token_hash(token), p_idempotency_key, p_request_hash, p_now + p_hold,
                              jsonb_build_object('postcode', district ->> 'normalized'));

  -- 2. Lock every planned staff member, in key order (no two bookings wait on each other in
  -- opposite orders), then place the items in the order given, re-checking each under its lock.
  top_key := private.lock_staff(planned);
  locked := planned;
  for wanted in
    select e.value as item, e.ordinality - 1 as idx, (e.value ->> 'start')::timestamptz as starts_at,
           nullif(e.value ->> 'staff_id', '')::uuid as staff_id
    from jsonb_array_elements(p_items) with ordinality e order by e.ordinality
  loop
    select * into svc from public.services where id = (wanted.item ->> 'service_id')::uuid;
    wanted_blocked := planned_blocked[wanted.idx + 1];
    chosen := null;
    -- The planned staff member passed every rule a moment ago; what can have changed since is
    -- another booking, committed while we queued for the lock (or this order's earlier items).
    if not exists (select 1 from public.appointments a
                   where a.staff_id = planned[wanted.idx + 1] and a.status in ('held', 'booked', 'in_progress')
                     and a.blocked && wanted_blocked) then
      chosen := planned[wanted.idx + 1];
    else
      -- Taken meanwhile: the next staff member by the same preference, if free. A lock that does
      -- not keep the key order is only tried, never waited for.
      for candidate in
        select c.staff_id
        from private.covering_staff(org.id, outward) c
        join public.staff_services ss on ss.staff_id = c.staff_id and ss.service_id = svc.id
        join public.staff st on st.id = c.staff_id
        where c.staff_id <> planned[wanted.idx + 1]
        order by (c.staff_id = wanted.staff_id) is true desc, st.display_name, st.id
      loop
        continue when not private.is_bookable(candidate.staff_id, svc.id, wanted.starts_at);
        if candidate.staff_id = any (locked) then
          chosen := candidate.staff_id;  -- locked already, and checked under the lock
          exit;
        end if;
        lock_key := private.staff_lock_key(candidate.staff_id);
        if lock_key > top_key then
          perform pg_catalog.pg_advisory_xact_lock(3, lock_key);
          got := true;
          top_key := lock_key;
        else
          got := pg_catalog.pg_try_advisory_xact_lock(3, lock_key);
        end if;
        if got then
          locked := locked || candidate.staff_id;
          if private.is_bookable(candidate.staff_id, svc.id, wanted.starts_at) then
            chosen := candidate.staff_id;
            exit;
          end if;
        end if;
      end loop;
    end if;
    if chosen is null then
      raise exception using errcode = 'PT409', detail = 'slot_taken',
        message = format('%s at %s was just booked by someone else', svc.name,
                         to_char(wanted.starts_at at time zone org.timezone, 'Dy DD Mon YYYY HH24:MI')),
        hint = jsonb_build_object('item', wanted.idx)::text;
    end if;

    insert into public.order_items (order_id, org_id, service_id, description, quantity, unit_price_minor, metadata)
    values (ord.id, org.id, svc.id,
            svc.name || ', ' || to_char(wanted.starts_at at time zone org.timezone, 'Dy DD Mon YYYY HH24:MI'),
            1, svc.price_minor, jsonb_build_object('index', wanted.idx))
    returning id into item_id;
    begin
      insert into public.appointments (
        org_id, service_id, staff_id, order_id, order_item_id, customer_user_id, customer_name, customer_email,
        customer_phone, postcode, address, status, period, buffer_before_minutes, buffer_after_minutes,
        hold_expires_at)
      values (
        org.id, svc.id, chosen, ord.id, item_id, buyer, ord.buyer_name, ord.buyer_email,
        p_buyer_phone, district ->> 'normalized', p_address, 'held',
        tstzrange(wanted.starts_at, wanted.starts_at + make_interval(mins => svc.duration_minutes), '[)'),
        svc.buffer_before_minutes, svc.buffer_after_minutes, ord.hold_expires_at);
    exception when exclusion_violation then
      raise exception using errcode = 'PT409', detail = 'slot_taken',
        message = format('%s at %s was just booked by someone else', svc.name,
                         to_char(wanted.starts_at at time zone org.timezone, 'Dy DD Mon YYYY HH24:MI')),
        hint = jsonb_build_object('item', wanted.idx)::text;
    end;
  end loop;

  -- A code restricted to services (promo_code_services) applies to those services' lines only.
  -- No code, no lookup (most orders have none; see the ticket placer).
  if nullif(btrim(p_promo_code), '') is not null then
    select array_agg(i.id) into eligible
    from public.order_items i
    join public.promo_codes pc on pc.org_id = ord.org_id and lower(pc.code) = lower(btrim(p_promo_code))
    where i.order_id = ord.id
      and (not exists (select 1 from public.promo_code_services r where r.promo_code_id = pc.id)
           or exists (select 1 from public.promo_code_services r
                      where r.promo_code_id = pc.id and r.service_id = i.service_id));
  end if;
  perform private.finish_order(ord.id, p_promo_code, eligible, p_now);

  return private.appointment_order_summary(ord.id) || jsonb_build_object('tracking_token', token, 'replayed', false);
end;
$$;
comment on function private.place_appointment_order(uuid, jsonb, text, text, text, text, text, text, text, text, interval) is
  'Holds appointments and creates a pending appointments order (guest or signed in); free orders are paid at once. '
  'Plans each item''s staff member, locks them in key order (migrations/*_booking_locks.sql), re-checks under the lock: '
  'PT409 slot_unavailable (not free when asked), slot_taken (taken by someone else meanwhile). '
  'Returns the order summary plus tracking_token (shown once; null on a replay) and replayed.';
grant execute on function
  private.place_appointment_order(uuid, jsonb, text, text, text, text, text, text, text, text, interval)
  to anon, authenticated, service_role;

create or replace function public.place_appointment_order(
  org_id uuid, items jsonb, postcode text, buyer_email text default null, buyer_name text default null,
  buyer_phone text default null, address text default null, promo_code text default null,
  idempotency_key text default null
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.place_appointment_order(
    place_appointment_order.org_id, place_appointment_order.items, place_appointment_order.postcode,
    place_appointment_order.buyer_email, place_appointment_order.buyer_name,
    place_appointment_order.buyer_phone, place_appointment_order.address,
    place_appointment_order.promo_code, place_appointment_order.idempotency_key,
    md5(jsonb_build_array(place_appointment_order.org_id, place_appointment_order.items,
                          place_appointment_order.postcode, place_appointment_order.buyer_email,
                          place_appointment_order.buyer_name, place_appointment_order.buyer_phone,
                          place_appointment_order.address, place_appointment_order.promo_code)::text),
    null);
end;
$$;
comment on function public.place_appointment_order(uuid, jsonb, text, text, text, text, text, text, text) is
  'Holds appointments ([{service_id, start, staff_id?}]) at a postcode and creates a pending order (guest or signed in), '
  'held for the org''s hold_minutes. Payment: the create-checkout-session function (kind "appointments").';
grant execute on function public.place_appointment_order(uuid, jsonb, text, text, text, text, text, text, text)
  to anon, authenticated;

create or replace function private.staff_lock_key(p_staff_id uuid) returns integer
  language sql immutable strict parallel safe
  set search_path = ''
as $$
  select (pg_catalog.crc32(pg_catalog.convert_to(p_staff_id::text, 'UTF8')) - 2147483648)::integer;
$$;
comment on function private.staff_lock_key(uuid) is
  'The advisory key of a staff member''s booking lock in key space 3 (''staff''): crc32(id text) - 2^31, '
  'exactly what shared.db.lock_objects(cur, ''staff'', [id]) locks.';

-- A period's blocked range, as private.appointment_derive stores it.
create or replace function private.blocked_range(p_start timestamptz, p_minutes integer, p_before integer, p_after integer)
  returns tstzrange
  language sql immutable strict parallel safe
  set search_path = ''
as $$
  select pg_catalog.tstzrange(p_start - pg_catalog.make_interval(mins => p_before),
                              p_start + pg_catalog.make_interval(mins => p_minutes + p_after), '[)');
$$;
comment on function private.blocked_range(timestamptz, integer, integer, integer) is
  'blocked for a booking starting at p_start lasting p_minutes with buffers: [start - before, start + minutes + after).';

create or replace function private.lock_staff(p_staff_ids uuid[]) returns integer
  language plpgsql
  set search_path = ''
as $$
declare
  lock_key integer;
  top_key integer;
begin
  for lock_key in
    select distinct private.staff_lock_key(s) from unnest(p_staff_ids) s where s is not null order by 1
  loop
    perform pg_catalog.pg_advisory_xact_lock(3, lock_key);
    top_key := lock_key;
  end loop;
  return top_key;
end;
$$;
comment on function private.lock_staff(uuid[]) is
  'Takes the booking lock of each staff member (transaction-scoped), in key order; returns the greatest key taken. '
  'Callers writing several staff members'' appointments call it before the first write.';

create or replace function private.appointment_lock_staff() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform pg_catalog.pg_advisory_xact_lock(3, private.staff_lock_key(new.staff_id));
  return new;
end;
$$;
comment on function private.appointment_lock_staff() is
  'BEFORE INSERT/UPDATE trigger on appointments (rows live afterwards): the staff member''s booking lock, '
  'so concurrent writers of one staff member''s time queue instead of deadlocking on each other''s rows.';
