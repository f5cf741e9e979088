-- Idempotency replays answer the order, never a token.
--
-- A replayed idempotency key used to rotate the order's tracking token and
-- return the new one: anyone who sent the same body with the same key (a key
-- such as "cart-00000042" is easily guessed) got a working guest link, and
-- the buyer's own stopped working. A key is not a credential. Now:
--   * keys are 32 to 200 characters (a UUID v4 is 36): long enough not to be
--     guessed, checked here (PT422 invalid_idempotency_key) and by the table;
--   * a replay (same key, same kind, same request, same buyer) answers the
--     order's current summary with "tracking_token": null and "replayed": true;
--     the token was shown once, to the first answer, and stays the only one;
--   * anything else sent with a known key is refused (idempotency_key_reused).
-- Both placing functions are redefined here with that branch; the rest of
-- their bodies is as in *_ticketing.sql and *_booking_locks.sql.

-- Older rows keep their keys; every new key is checked.
alter table public.orders drop constraint orders_idempotency_key_check;
alter table public.orders add constraint orders_idempotency_key_check
  check (length(idempotency_key) between 32 and 200) not valid;

-- ===========================================================================
-- The replay check both placers share
-- ===========================================================================
create function private.replayed_order(
  p_key text, p_kind public.order_kind, p_request_hash text, p_buyer uuid
) returns uuid
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
begin
  if p_key is null then
    return null;
  end if;
  if length(p_key) not between 32 and 200 then
    raise exception using errcode = 'PT422', detail = 'invalid_idempotency_key',
      message = 'An idempotency key is 32 to 200 characters: use a random UUID';
  end if;
  select * into ord from public.orders where idempotency_key = p_key for update;
  if not found then
    return null;
  end if;
  if ord.kind <> p_kind or ord.request_hash is distinct from p_request_hash
     or ord.buyer_user_id is distinct from p_buyer then
    raise exception using errcode = 'PT422', detail = 'idempotency_key_reused',
      message = 'This idempotency key was used for a different request';
  end if;
  return ord.id;
end;
$$;
comment on function private.replayed_order(text, public.order_kind, text, uuid) is
  'The order an idempotency key already placed for this kind, request and buyer (locked), or null for a new key. '
  'PT422 invalid_idempotency_key (not 32-200 characters), idempotency_key_reused (anything else sent with it).';

-- ===========================================================================
-- Placing a ticket order
-- ===========================================================================
create or replace function private.place_ticket_order(
  p_event_id uuid,
  p_items jsonb,
  p_buyer_email text,
  p_buyer_name text,
  p_promo_code text default null,
  p_idempotency_key text default null,
  p_request_hash text default null,
  p_hold interval default interval '15 minutes'
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  p_now timestamptz := now();
  ev public.events;
  ord public.orders;
  token text := private.random_token();
  buyer uuid := (select auth.uid());
  wanted record;
  tier public.ticket_tiers;
  currencies text[];
  n_items integer;
  n_tiers integer;
  got integer;
  eligible uuid[];
  attempt integer := 0;
  subtotal bigint := 0;
  replayed uuid;
begin
  -- Holds last between one minute and two hours, whatever the caller asks.
  p_hold := least(greatest(coalesce(p_hold, interval '15 minutes'), interval '1 minute'), interval '2 hours');

  -- A signed-in buyer may leave name and email to their profile.
  if buyer is not null then
    p_buyer_email := coalesce(nullif(btrim(p_buyer_email), ''), (select auth.email()));
    p_buyer_name := coalesce(nullif(btrim(p_buyer_name), ''),
                             (select p.full_name from public.profiles p where p.id = buyer));
  end if;

  -- Inputs first.
  if jsonb_typeof(p_items) is distinct from 'array' or jsonb_array_length(p_items) not between 1 and 20 then
    raise exception using errcode = 'PT422', message = 'Choose between 1 and 20 ticket lines', detail = 'invalid_items';
  end if;
  if exists (
    select 1 from jsonb_array_elements(p_items) e
    where jsonb_typeof(e -> 'quantity') is distinct from 'number'
       or (e ->> 'quantity')::numeric <> floor((e ->> 'quantity')::numeric)
       or (e ->> 'quantity')::numeric not between 1 and 100
       or coalesce(e ->> 'tier_id', '') !~ '^[0-9a-fA-F-]{36}$'
  ) then
    raise exception using errcode = 'PT422', message = 'Each line needs a tier_id and a quantity from 1 to 100',
      detail = 'invalid_quantity';
  end if;
  select count(*), count(distinct e ->> 'tier_id') into n_items, n_tiers from jsonb_array_elements(p_items) e;
  if n_items <> n_tiers then
    raise exception using errcode = 'PT422', message = 'Each tier may appear once', detail = 'duplicate_tier';
  end if;
  if p_buyer_email is null or btrim(p_buyer_email) !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' or length(p_buyer_email) > 320
     or p_buyer_name is null or length(btrim(p_buyer_name)) not between 1 and 200 then
    raise exception using errcode = 'PT422', message = 'A buyer name and a valid email are required',
      detail = 'invalid_buyer';
  end if;

  -- The same idempotency key again: the order as it stands, without a token.
  replayed := private.replayed_order(p_idempotency_key, 'tickets', p_request_hash, buyer);
  if replayed is not null then
    return private.ticket_order_summary(replayed) || jsonb_build_object('tracking_token', null, 'replayed', true);
  end if;

  select * into ev from public.events where id = p_event_id;
  if not found or ev.status <> 'published' or coalesce(ev.ends_at, ev.starts_at) <= p_now then
    raise exception using errcode = 'PT422', message = 'This event is not on sale', detail = 'event_not_on_sale';
  end if;

  if (select count(*) from public.ticket_tiers t
      where t.event_id = ev.id and t.id in (select (e ->> 'tier_id')::uuid from jsonb_array_elements(p_items) e))
     <> n_items then
    raise exception using errcode = 'PT422', message = 'A ticket tier is not part of this event', detail = 'unknown_tier';
  end if;

  select array_agg(distinct t.currency) into currencies from public.ticket_tiers t
  where t.id in (select (e ->> 'tier_id')::uuid from jsonb_array_elements(p_items) e);
  if array_length(currencies, 1) > 1 then
    raise exception using errcode = 'PT422', message = 'All tickets in one order share a currency',
      detail = 'mixed_currency';
  end if;

  -- Every tier's sale window and per-order limits, and the subtotal, before anything is written.
  for wanted in
    select (e ->> 'tier_id')::uuid as tier_id, (e ->> 'quantity')::int as quantity
    from jsonb_array_elements(p_items) e order by 1
  loop
    select * into tier from public.ticket_tiers where id = wanted.tier_id;
    if (tier.sale_starts_at is not null and p_now < tier.sale_starts_at)
       or (tier.sale_ends_at is not null and p_now >= tier.sale_ends_at) then
      raise exception using errcode = 'PT422', message = format('%s is not on sale now', tier.name),
        detail = 'sale_closed', hint = jsonb_build_object('tier_id', tier.id)::text;
    end if;
    if wanted.quantity not between tier.min_per_order and tier.max_per_order then
      raise exception using errcode = 'PT422', detail = 'invalid_quantity',
        message = format('%s: buy between %s and %s', tier.name, tier.min_per_order, tier.max_per_order),
        hint = jsonb_build_object('tier_id', tier.id)::text;
    end if;
    subtotal := subtotal + tier.price_minor * wanted.quantity;
  end loop;

  loop
    begin
      insert into public.orders (
        org_id, number, kind, event_id, buyer_user_id, buyer_email, buyer_name, currency,
        subtotal_minor, total_minor, tracking_token_hash, idempotency_key, request_hash, hold_expires_at)
      values (
        ev.org_id, private.new_order_number(), 'tickets', ev.id, buyer, lower(btrim(p_buyer_email)),
        btrim(p_buyer_name), currencies[1], subtotal, subtotal, private.token_hash(token), p_idempotency_key,
        p_request_hash, p_now + p_hold)
      returning * into ord;
      exit;
    exception when unique_violation then
      attempt := attempt + 1;
      if attempt > 5 or p_idempotency_key is not null and exists (
           select 1 from public.orders where idempotency_key = p_idempotency_key) then
        raise exception using errcode = 'PT409', message = 'A request with this idempotency key is in progress',
          detail = 'idempotency_conflict';
      end if;
    end;
  end loop;

  -- Seats tier by tier in a fixed order, so two buyers of the same tiers never deadlock.
  for wanted in
    select (e ->> 'tier_id')::uuid as tier_id, (e ->> 'quantity')::int as quantity
    from jsonb_array_elements(p_items) e order by 1
  loop
    select * into tier from public.ticket_tiers where id = wanted.tier_id;
    insert into public.order_items (order_id, org_id, ticket_tier_id, description, quantity, unit_price_minor)
    values (ord.id, ord.org_id, tier.id, ev.title || ' - ' || tier.name, wanted.quantity, tier.price_minor);
    got := private.claim_seats(tier.id, ord.id, wanted.quantity);
    if got < wanted.quantity then
      raise exception using errcode = 'PT409', detail = 'sold_out',
        message = format('Not enough %s tickets left', tier.name),
        hint = jsonb_build_object('tier_id', tier.id)::text;
    end if;
  end loop;

  if nullif(btrim(p_promo_code), '') is not null then
    select array_agg(i.id) into eligible
    from public.order_items i
    join public.promo_codes pc on pc.org_id = ord.org_id and lower(pc.code) = lower(btrim(p_promo_code))
    where i.order_id = ord.id
      and (not exists (select 1 from public.promo_code_tiers r where r.promo_code_id = pc.id)
           or exists (select 1 from public.promo_code_tiers r
                      where r.promo_code_id = pc.id and r.tier_id = i.ticket_tier_id));
    perform private.redeem_promo(ord.id, p_promo_code, coalesce(eligible, '{}'), p_now);
  end if;

  -- Nothing to pay: fulfilled here and now.
  if (select total_minor from public.orders where id = ord.id) = 0 then
    perform private.record_payment(ord.id, 'free', 'free:' || ord.id, 0, ord.currency);
  end if;

  return private.ticket_order_summary(ord.id) || jsonb_build_object('tracking_token', token, 'replayed', false);
end;
$$;

-- ===========================================================================
-- Placing an appointment order
-- ===========================================================================
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
  attempt integer := 0;
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

  loop
    begin
      insert into public.orders (
        org_id, number, kind, buyer_user_id, buyer_email, buyer_name, currency,
        subtotal_minor, total_minor, tracking_token_hash, idempotency_key, request_hash, hold_expires_at, metadata)
      values (
        org.id, private.new_order_number(), 'appointments', buyer, lower(btrim(p_buyer_email)),
        btrim(p_buyer_name), currencies[1], subtotal, subtotal, private.token_hash(token), p_idempotency_key,
        p_request_hash, p_now + p_hold, jsonb_build_object('postcode', district ->> 'normalized'))
      returning * into ord;
      exit;
    exception when unique_violation then
      attempt := attempt + 1;
      if attempt > 5 or p_idempotency_key is not null and exists (
           select 1 from public.orders where idempotency_key = p_idempotency_key) then
        raise exception using errcode = 'PT409', message = 'A request with this idempotency key is in progress',
          detail = 'idempotency_conflict';
      end if;
    end;
  end loop;

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

  if nullif(btrim(p_promo_code), '') is not null then
    select array_agg(i.id) into eligible
    from public.order_items i
    join public.promo_codes pc on pc.org_id = ord.org_id and lower(pc.code) = lower(btrim(p_promo_code))
    where i.order_id = ord.id
      and (not exists (select 1 from public.promo_code_services r where r.promo_code_id = pc.id)
           or exists (select 1 from public.promo_code_services r
                      where r.promo_code_id = pc.id and r.service_id = i.service_id));
    perform private.redeem_promo(ord.id, p_promo_code, coalesce(eligible, '{}'), p_now);
  end if;

  -- Nothing to pay: booked here and now.
  if (select total_minor from public.orders where id = ord.id) = 0 then
    perform private.record_payment(ord.id, 'free', 'free:' || ord.id, 0, ord.currency);
  end if;

  return private.appointment_order_summary(ord.id) || jsonb_build_object('tracking_token', token, 'replayed', false);
end;
$$;
comment on function private.place_appointment_order(uuid, jsonb, text, text, text, text, text, text, text, text, interval) is
  'Holds appointments and creates a pending appointments order (guest or signed in); free orders are paid at once. '
  'Plans each item''s staff member, locks them in key order (migrations/*_booking_locks.sql), re-checks under the lock: '
  'PT409 slot_unavailable (not free when asked), slot_taken (taken by someone else meanwhile). '
  'Returns the order summary plus tracking_token (shown once; null on a replay) and replayed.';
