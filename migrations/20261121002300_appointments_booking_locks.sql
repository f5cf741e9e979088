-- Service appointments: bookings of one staff member queue instead of deadlocking.
--
-- appointments_no_double_booking (EXCLUDE using gist (staff_id with =, blocked
-- with &&)) stays the guarantee. What it does not give is a clean queue:
-- Postgres checks an exclusion constraint after inserting the index entry, so
-- two writers racing for one staff member's time each find the other's
-- uncommitted row and wait for the other's transaction. With 50 clients at one
-- slot those waits form cycles that only the deadlock detector breaks, after
-- deadlock_timeout (1 s), as 40P01 - which the functions answer 503 busy.
--
-- The staff member's booking lock: a transaction-scoped advisory lock in the
-- 'staff' key space of shared/db.py (pg_advisory_xact_lock(3, key), key =
-- crc32 of the id's text - 2^31: private.staff_lock_key, the same key that
-- shared.db.lock_objects(cur, 'staff', [id]) takes). Every writer of a live
-- appointment takes it before writing, so at most one transaction at a time
-- has an uncommitted live row for a staff member, and no one ever waits on
-- another's row: the second writer waits on the lock, then sees the first's
-- booking committed and is refused at once (slot_taken / 23P01), in FIFO
-- order. No deadlock, no 503.
--
-- Who takes it:
--   * every path, through the BEFORE INSERT OR UPDATE trigger
--     appointments_lock_staff on any row that is live afterwards (held,
--     booked, in_progress): direct inserts and updates by managers through
--     RLS, service_role, the SECURITY DEFINER RPCs and the order triggers
--     alike. Any update of a live row counts (a non-HOT update re-checks the
--     constraint with a new index entry), status moves such as held -> booked
--     included. Moving a row off a staff member or out of `live` needs no
--     lock: it only ever frees time. A trigger locks row by row, in the order
--     the rows are written, so
--   * paths that write several appointments in one transaction lock all their
--     staff first, sorted by key (private.lock_staff), the trigger's locks then
--     being re-entrant: private.place_appointment_order (multi-item orders),
--     the order triggers that book an order's appointments on payment and
--     re-take them on a late payment. Two such transactions can then never
--     hold one lock each and wait for the other's (the deadlock the canary in
--     tests/appointments/test_double_booking.py shows for row-order locking);
--   * private.apply_appointment_change (reschedule) locks before its check.
-- A single direct statement that writes live rows of several staff members
-- locks them in row order: two of those crossing can still deadlock (40P01,
-- answered 503 and retried); no API path does that.
--
-- place_appointment_order now runs in two steps ("lock late, but before the
-- check"): (1) plan without locks, choosing each item's staff member by the
-- unchanged rules (private.is_bookable, the order's earlier items counted):
-- nothing free is slot_unavailable, as before; (2) lock the planned staff in
-- key order and place the items, re-checking each planned staff member under
-- the lock (the only thing that can have changed is another booking,
-- committed while we queued); if taken, the next candidate by the same
-- preference is checked and locked (waited for only when its key keeps the
-- order, otherwise only tried); nothing left is PT409 slot_taken ("just
-- booked by someone else"). The exclusion constraint's 23P01 still maps to
-- slot_taken should anything bypass the lock.
--
-- Waiting for the lock obeys lock_timeout (shared/db.run sets 5 s: 55P03,
-- answered 503 busy). The lock is held until commit, so the work after it is
-- kept short: the order row is written before the lock is taken.

-- ===========================================================================
-- Keys and locks
-- ===========================================================================
create function private.staff_lock_key(p_staff_id uuid) returns integer
  language sql immutable strict parallel safe
  set search_path = ''
as $$
  select (pg_catalog.crc32(pg_catalog.convert_to(p_staff_id::text, 'UTF8')) - 2147483648)::integer;
$$;
comment on function private.staff_lock_key(uuid) is
  'The advisory key of a staff member''s booking lock in key space 3 (''staff''): crc32(id text) - 2^31, '
  'exactly what shared.db.lock_objects(cur, ''staff'', [id]) locks.';

-- A period's blocked range, as private.appointment_derive stores it.
create function private.blocked_range(p_start timestamptz, p_minutes integer, p_before integer, p_after integer)
  returns tstzrange
  language sql immutable strict parallel safe
  set search_path = ''
as $$
  select pg_catalog.tstzrange(p_start - pg_catalog.make_interval(mins => p_before),
                              p_start + pg_catalog.make_interval(mins => p_minutes + p_after), '[)');
$$;
comment on function private.blocked_range(timestamptz, integer, integer, integer) is
  'blocked for a booking starting at p_start lasting p_minutes with buffers: [start - before, start + minutes + after).';

create function private.lock_staff(p_staff_ids uuid[]) returns integer
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

-- ===========================================================================
-- Every write of a live appointment takes its staff member's lock
-- ===========================================================================
create function private.appointment_lock_staff() returns trigger
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
create trigger appointments_lock_staff before insert or update on public.appointments
  for each row when (new.status in ('held', 'booked', 'in_progress'))
  execute function private.appointment_lock_staff();
comment on trigger appointments_lock_staff on public.appointments is
  'Writers of live appointments queue per staff member (advisory lock, key space staff) before the exclusion check.';

-- ===========================================================================
-- Order triggers that write several appointments: lock their staff sorted first
-- ===========================================================================
create or replace function private.appointment_order_reclaim_late() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform private.lock_staff(array(select a.staff_id from public.appointments a
                                   where a.order_id = new.id and a.status = 'cancelled'));
  begin
    -- One statement for all of the order's appointments: either every slot is
    -- still free or the constraint refuses the lot.
    update public.appointments set status = 'booked'
    where order_id = new.id and status = 'cancelled';
  exception when exclusion_violation then
    raise exception using errcode = 'PT409', message = 'The time slot was booked while the payment was late',
      detail = 'capacity_gone';
  end;
  return new;
end;
$$;

create or replace function private.appointment_order_book() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform private.lock_staff(array(select a.staff_id from public.appointments a
                                   where a.order_id = new.id and a.status = 'held'));
  update public.appointments set status = 'booked'
  where order_id = new.id and status = 'held';
  -- On a late payment the reclaim trigger has booked them already; either way
  -- the buyer hears once per order (the dedupe key), and only about something booked.
  if exists (select 1 from public.appointments where order_id = new.id and status = 'booked') then
    perform private.enqueue_notification(
      new.org_id, 'email', 'appointment_confirmed', new.buyer_email,
      jsonb_build_object('order_id', new.id), 'appointment_confirmed:' || new.id);
  end if;
  return new;
end;
$$;

-- ===========================================================================
-- Reschedule: lock, then check (private.apply_appointment_change, unchanged otherwise)
-- ===========================================================================
create or replace function private.apply_appointment_change(
  p_appointment public.appointments, p_action text, p_new_start timestamptz, p_reason text,
  p_by text, p_override text default null
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  appt public.appointments;
  new_period tstzrange;
  bookable boolean;
  recipient text;
begin
  if p_appointment.status <> 'booked' then
    raise exception using errcode = 'PT409', detail = 'not_changeable',
      message = format('Only a booked appointment can be changed; this one is %s', p_appointment.status);
  end if;
  if p_override is not null then
    perform set_config('bookwell.policy_override', p_override, true);
  end if;

  if p_action = 'cancel' then
    update public.appointments set status = 'cancelled' where id = p_appointment.id returning * into appt;
  elsif p_action = 'reschedule' then
    if p_new_start is null then
      raise exception using errcode = 'PT422', message = 'Choose the new start time', detail = 'invalid_start';
    end if;
    new_period := tstzrange(p_new_start, p_new_start + (upper(p_appointment.period) - lower(p_appointment.period)), '[)');
    if new_period = p_appointment.period then
      raise exception using errcode = 'PT422', message = 'The appointment already starts then', detail = 'unchanged';
    end if;
    -- The staff member's booking lock first (the header): the check below is then not overtaken.
    perform private.lock_staff(array[p_appointment.staff_id]);
    -- Is the new start free by the slot rules, with this appointment's current time not counting?
    -- Ask with it cancelled inside a subtransaction that is always rolled back (the cut-off trigger
    -- runs on that cancellation, so a late change is refused here with cutoff_passed).
    begin
      update public.appointments set status = 'cancelled' where id = p_appointment.id;
      bookable := private.is_bookable(p_appointment.staff_id, p_appointment.service_id, p_new_start);
      raise exception using errcode = 'BW001', message = 'availability probe';
    exception when sqlstate 'BW001' then
      null;
    end;
    if not bookable then
      raise exception using errcode = 'PT409', detail = 'slot_unavailable',
        message = 'That time is not available for this staff member';
    end if;
    begin
      update public.appointments set period = new_period where id = p_appointment.id returning * into appt;
    exception when exclusion_violation then
      raise exception using errcode = 'PT409', detail = 'slot_unavailable',
        message = 'That time was booked a moment ago';
    end;
  else
    raise exception using errcode = 'PT422', message = 'The change is cancel or reschedule', detail = 'invalid_action';
  end if;

  if p_override is not null then
    perform set_config('bookwell.policy_override', '', true);
  end if;

  perform private.audit(appt.org_id, 'appointment.' || case p_action when 'cancel' then 'cancelled' else 'rescheduled' end,
    'appointments', appt.id::text,
    jsonb_build_object('by', p_by, 'reason', p_reason, 'override', p_override is not null,
                       'from', p_appointment.period::text, 'to', appt.period::text));
  recipient := private.appointment_recipient(appt);
  if recipient is not null then
    perform private.enqueue_notification(
      appt.org_id, 'email', case p_action when 'cancel' then 'appointment_cancelled' else 'appointment_rescheduled' end,
      recipient,
      private.appointment_json(appt) || jsonb_build_object(
        'previous_start', (select private.local_iso(lower(p_appointment.period), o.timezone)
                           from public.organizations o where o.id = appt.org_id),
        'reason', p_reason, 'by', p_by),
      case p_action when 'cancel' then 'appointment_cancelled:' else 'appointment_rescheduled:' end
        || appt.id || ':' || appt.sequence);
  end if;
  return private.appointment_json(appt);
end;
$$;

-- ===========================================================================
-- Booking: plan, lock the planned staff sorted, place under the locks
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

  -- The same idempotency key again, from the same buyer: the same order, with
  -- a fresh tracking token. Anyone else's request with that key is refused.
  if p_idempotency_key is not null then
    select * into ord from public.orders where idempotency_key = p_idempotency_key for update;
    if found then
      if ord.kind <> 'appointments' or ord.request_hash is distinct from p_request_hash
         or ord.buyer_user_id is distinct from buyer then
        raise exception using errcode = 'PT422', detail = 'idempotency_key_reused',
          message = 'This idempotency key was used for a different request';
      end if;
      update public.orders set tracking_token_hash = private.token_hash(token) where id = ord.id;
      return private.appointment_order_summary(ord.id) || jsonb_build_object('tracking_token', token, 'replayed', true);
    end if;
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
  'Returns the order summary plus tracking_token (shown once) and replayed.';
