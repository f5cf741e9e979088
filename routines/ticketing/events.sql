-- Event ticketing: venues, events, ticket tiers, seats, tickets and check-in.
--
-- Capacity is one row per seat in private.ticket_seats. A buyer claims free
-- seats with `for update skip locked`, so concurrent buyers of one tier take
-- different rows instead of queueing on a single counter, and overselling is
-- impossible: a seat belongs to at most one order. If skipping leaves a buyer
-- short (seats locked by someone who may still roll back), a second, waiting
-- pass decides exactly.
--
-- Ticketing reacts to order status changes (see the commerce migration):
--   pending|processing -> expired|cancelled   seats go back on sale
--   expired|cancelled  -> paid (late payment) seats re-claimed, or PT409 capacity_gone
--                                             (or event_cancelled: see cancellation.sql)
--   * -> paid                                  one ticket per seat + the ticket email queued
--   paid -> refunded                           tickets voided, seats back on sale
--
-- Ticket secrets: 256 random bits, base64url, what the QR code carries. Like
-- pretix we keep the secret (buyers re-display tickets; emails are re-sent),
-- but no API role can read the column: buyers get it through ticket_passes()
-- or the guest lookup, and staff only ever send it to check_in_ticket().
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121000400_ticketing_events.sql.

create or replace function private.check_event_transition() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if new.status is distinct from old.status and not (
       (old.status = 'draft' and new.status in ('published', 'cancelled'))
    or (old.status = 'published' and new.status in ('cancelled', 'completed'))
  ) then
    raise exception using errcode = 'PT409', detail = 'invalid_transition',
      message = format('An event cannot go from %s to %s', old.status, new.status);
  end if;
  if new.status = 'published' and old.status = 'draft' then
    new.published_at := now();
  end if;
  if new.status = 'cancelled' and old.status <> 'cancelled' then
    new.cancelled_at := coalesce(new.cancelled_at, now());  -- however it was cancelled (cancellation.sql)
  end if;
  return new;
end;
$$;

-- An event's venue, a tier's event and a code's tiers stay inside one organization.
create or replace function private.check_ticketing_same_org() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  -- One branch per table: PL/pgSQL resolves every field named in an expression.
  if tg_table_name = 'events' then
    if new.venue_id is not null and not exists (
         select 1 from public.venues v where v.id = new.venue_id and v.org_id = new.org_id) then
      raise exception using errcode = 'PT422', message = 'The venue belongs to another organization',
        detail = 'foreign_venue';
    end if;
  elsif tg_table_name = 'ticket_tiers' then
    if not exists (select 1 from public.events e where e.id = new.event_id and e.org_id = new.org_id) then
      raise exception using errcode = 'PT422', message = 'The event belongs to another organization',
        detail = 'foreign_event';
    end if;
  elsif tg_table_name = 'promo_code_tiers' then
    if not exists (
         select 1 from public.promo_codes c join public.ticket_tiers t on t.org_id = c.org_id
         where c.id = new.promo_code_id and t.id = new.tier_id and c.org_id = new.org_id) then
      raise exception using errcode = 'PT422', message = 'The code and the tier belong to different organizations',
        detail = 'foreign_tier';
    end if;
  end if;
  return new;
end;
$$;

-- Keep one seat row per unit of capacity. Shrinking removes free seats only, the highest numbers
-- first, so a seat sold or held above the new capacity stays; growing again fills the numbers
-- shrinking freed below it before going past it (seat numbers stay unique).
create or replace function private.sync_tier_seats() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  existing integer;
  highest integer;
  removed integer;
begin
  select count(*), coalesce(max(seat_no), 0) into existing, highest
  from private.ticket_seats where tier_id = new.id;
  if new.capacity > existing and highest = existing then  -- numbers 1..existing: the common case
    insert into private.ticket_seats (tier_id, seat_no)
    select new.id, n from generate_series(existing + 1, new.capacity) n;
  elsif new.capacity > existing then
    insert into private.ticket_seats (tier_id, seat_no)
    select new.id, n
    from generate_series(1, highest + new.capacity - existing) n
    where not exists (select 1 from private.ticket_seats s where s.tier_id = new.id and s.seat_no = n)
    order by n
    limit new.capacity - existing;
  elsif new.capacity < existing then
    with doomed as (
      select id from private.ticket_seats
      where tier_id = new.id and order_id is null
      order by seat_no desc limit existing - new.capacity
      for update
    )
    delete from private.ticket_seats s using doomed where s.id = doomed.id;
    get diagnostics removed = row_count;
    if removed < existing - new.capacity then
      raise exception using errcode = 'PT409', detail = 'capacity_below_sold',
        message = 'Capacity cannot go below the tickets already sold or held';
    end if;
  end if;
  return new;
end;
$$;

-- Fast path: take seats nobody else is touching (`skip locked`), from a random seat on (then from the
-- first): a pick from the first seat walked past the index entries of every seat sold since the last
-- vacuum, a third of a checkout's time in the server, and met every other buyer's locks on the way.
-- If that comes up short, it is rolled back whole (a sub-transaction), releasing every lock it took,
-- and the exact path waits for seats in seat order: waiting buyers always lock in the same order, so
-- they queue instead of deadlocking, and seats held by transactions that roll back are not missed.
-- One generic plan: with `limit p_quantity` every custom plan looks cheaper than the generic one, so
-- each call was planned afresh. The seats are updated by id: the generic plan of a join reads them all.
create or replace function private.claim_seats(p_tier_id uuid, p_order_id uuid, p_quantity integer) returns integer
  language plpgsql
  security definer
  set search_path = ''
  set plan_cache_mode = force_generic_plan
as $$
declare
  got integer;
  more integer;
  start integer;
begin
  select floor(random() * t.capacity)::integer + 1 into start from public.ticket_tiers t where t.id = p_tier_id;
  begin
    update private.ticket_seats set order_id = p_order_id
    where id = any (array(
      select id from private.ticket_seats
      where tier_id = p_tier_id and order_id is null and seat_no >= start
      order by seat_no  -- walks the free-seat index instead of scanning every seat
      limit p_quantity
      for update skip locked));
    get diagnostics got = row_count;
    if got < p_quantity then
      update private.ticket_seats set order_id = p_order_id
      where id = any (array(
        select id from private.ticket_seats
        where tier_id = p_tier_id and order_id is null and seat_no < start
        order by seat_no
        limit p_quantity - got
        for update skip locked));
      get diagnostics more = row_count;
      got := got + more;
    end if;
    if got = p_quantity then
      return got;
    end if;
    raise exception using errcode = 'BW001', message = 'fast path came up short';
  exception when sqlstate 'BW001' then
    null;  -- the fast path's claims and locks are gone; wait in order below
  end;

  update private.ticket_seats set order_id = p_order_id
  where id = any (array(
    select id from private.ticket_seats
    where tier_id = p_tier_id and order_id is null
    order by seat_no
    limit p_quantity
    for update));
  get diagnostics got = row_count;
  return got;
end;
$$;

-- 256 random bits as base64url (43 characters).
create or replace function private.ticket_secret() returns text
  language sql volatile
  set search_path = ''
as $$
  select rtrim(translate(encode(
    uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'base64'),
    '+/', '-_'), '=');
$$;

create or replace function private.ticket_order_reclaim_late() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  item record;
begin
  if exists (select 1 from public.events e where e.id = new.event_id and e.status = 'cancelled') then
    raise exception using errcode = 'PT409', message = 'The event was cancelled while the payment was late',
      detail = 'event_cancelled';
  end if;
  for item in
    select ticket_tier_id, sum(quantity)::int as quantity from public.order_items
    where order_id = new.id and ticket_tier_id is not null
    group by ticket_tier_id order by ticket_tier_id
  loop
    if private.claim_seats(item.ticket_tier_id, new.id, item.quantity) < item.quantity then
      raise exception using errcode = 'PT409', message = 'The seats were sold while the payment was late',
        detail = 'capacity_gone';
    end if;
  end loop;
  return new;
end;
$$;

create or replace function private.ticket_order_issue() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  insert into public.tickets (org_id, event_id, tier_id, order_id, order_item_id, secret, attendee_name, attendee_email)
  select new.org_id, new.event_id, s.tier_id, new.id,
         (select i.id from public.order_items i
          where i.order_id = new.id and i.ticket_tier_id = s.tier_id order by i.id limit 1),
         private.ticket_secret(), new.buyer_name, new.buyer_email
  from private.ticket_seats s
  where s.order_id = new.id
  order by s.tier_id, s.seat_no;
  perform private.enqueue_notification(
    new.org_id, 'email', 'tickets', new.buyer_email,
    jsonb_build_object('order_id', new.id), 'tickets:' || new.id);
  return new;
end;
$$;

create or replace function private.ticket_order_release() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  update private.ticket_seats set order_id = null where order_id = new.id;
  if new.status = 'refunded' then
    update public.tickets set status = 'void' where order_id = new.id and status = 'valid';
  end if;
  return new;
end;
$$;

-- Validates everything, claims seats tier by tier in a fixed order, redeems
-- the promo and creates the order in the caller's transaction. A free order is
-- paid at once. Returns the order summary with the tracking token (shown once).
-- Error codes: invalid_items, invalid_quantity, duplicate_tier, invalid_buyer,
-- event_not_on_sale, unknown_tier, sale_closed, mixed_currency, sold_out,
-- promo_invalid, promo_exhausted, promo_customer_limit, promo_not_applicable,
-- idempotency_key_reused.
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
  tier public.ticket_tiers;
  tiers public.ticket_tiers[];
  quantities integer[];
  n_currencies integer;
  n_items integer;
  n_tiers integer;
  malformed boolean;
  eligible uuid[];
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
  -- One pass over the lines for both checks (each statement costs an executor start on the hot path).
  select count(*), count(distinct e ->> 'tier_id'),
         coalesce(bool_or(jsonb_typeof(e -> 'quantity') is distinct from 'number'
                          or (e ->> 'quantity')::numeric <> floor((e ->> 'quantity')::numeric)
                          or (e ->> 'quantity')::numeric not between 1 and 100
                          or coalesce(e ->> 'tier_id', '') !~ '^[0-9a-fA-F-]{36}$'), false)
    into n_items, n_tiers, malformed
  from jsonb_array_elements(p_items) e;
  if malformed then
    raise exception using errcode = 'PT422', message = 'Each line needs a tier_id and a quantity from 1 to 100',
      detail = 'invalid_quantity';
  end if;
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

  -- The event's tiers the lines name, in tier order (the order seats are claimed in), read once.
  select array_agg(t order by t.id), array_agg(w.quantity order by t.id), count(distinct t.currency)
    into tiers, quantities, n_currencies
  from (select (e ->> 'tier_id')::uuid as tier_id, (e ->> 'quantity')::int as quantity
        from jsonb_array_elements(p_items) e) w
  join public.ticket_tiers t on t.id = w.tier_id and t.event_id = ev.id;
  if coalesce(cardinality(tiers), 0) <> n_items then
    raise exception using errcode = 'PT422', message = 'A ticket tier is not part of this event', detail = 'unknown_tier';
  end if;
  if n_currencies > 1 then
    raise exception using errcode = 'PT422', message = 'All tickets in one order share a currency',
      detail = 'mixed_currency';
  end if;

  -- Every tier's sale window and per-order limits, and the subtotal, before anything is written.
  for i in 1 .. n_items loop
    tier := tiers[i];
    if (tier.sale_starts_at is not null and p_now < tier.sale_starts_at)
       or (tier.sale_ends_at is not null and p_now >= tier.sale_ends_at) then
      raise exception using errcode = 'PT422', message = format('%s is not on sale now', tier.name),
        detail = 'sale_closed', hint = jsonb_build_object('tier_id', tier.id)::text;
    end if;
    if quantities[i] not between tier.min_per_order and tier.max_per_order then
      raise exception using errcode = 'PT422', detail = 'invalid_quantity',
        message = format('%s: buy between %s and %s', tier.name, tier.min_per_order, tier.max_per_order),
        hint = jsonb_build_object('tier_id', tier.id)::text;
    end if;
    subtotal := subtotal + tier.price_minor * quantities[i];
  end loop;

  ord := private.insert_order(ev.org_id, 'tickets', buyer, p_buyer_email, p_buyer_name, tiers[1].currency, subtotal,
                              private.token_hash(token), p_idempotency_key, p_request_hash, p_now + p_hold,
                              p_event_id => ev.id);

  insert into public.order_items (order_id, org_id, ticket_tier_id, description, quantity, unit_price_minor)
  select ord.id, ord.org_id, tiers[i].id, ev.title || ' - ' || tiers[i].name, quantities[i], tiers[i].price_minor
  from generate_series(1, n_items) i;

  -- Seats tier by tier in a fixed order, so two buyers of the same tiers never deadlock.
  for i in 1 .. n_items loop
    if private.claim_seats(tiers[i].id, ord.id, quantities[i]) < quantities[i] then
      raise exception using errcode = 'PT409', detail = 'sold_out',
        message = format('Not enough %s tickets left', tiers[i].name),
        hint = jsonb_build_object('tier_id', tiers[i].id)::text;
    end if;
  end loop;

  -- A code restricted to tiers (promo_code_tiers) applies to those tiers' lines only. No code, no lookup:
  -- most orders have none, and this query was a sixth of the hot path (benchmarks/RESULTS.md, #16).
  if nullif(btrim(p_promo_code), '') is not null then
    select array_agg(i.id) into eligible
    from public.order_items i
    join public.promo_codes pc on pc.org_id = ord.org_id and lower(pc.code) = lower(btrim(p_promo_code))
    where i.order_id = ord.id
      and (not exists (select 1 from public.promo_code_tiers r where r.promo_code_id = pc.id)
           or exists (select 1 from public.promo_code_tiers r
                      where r.promo_code_id = pc.id and r.tier_id = i.ticket_tier_id));
  end if;
  perform private.finish_order(ord.id, p_promo_code, eligible, p_now);

  return private.ticket_order_summary(ord.id) || jsonb_build_object('tracking_token', token, 'replayed', false);
end;
$$;

-- What a buyer may see of their ticket order.
create or replace function private.ticket_order_summary(p_order_id uuid) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select jsonb_build_object(
    'order_id', o.id, 'number', o.number, 'status', o.status, 'kind', o.kind,
    'event_id', o.event_id, 'event_title', e.title, 'event_starts_at', e.starts_at,
    'buyer_name', o.buyer_name, 'buyer_email', o.buyer_email,
    'currency', o.currency, 'subtotal_minor', o.subtotal_minor, 'discount_minor', o.discount_minor,
    'total_minor', o.total_minor, 'hold_expires_at', o.hold_expires_at,
    'checkout_url', o.checkout_url, 'paid_at', o.paid_at,
    'refunded_minor', (select coalesce(sum(r.amount_minor), 0) from public.refunds r
                       where r.order_id = o.id and r.status <> 'failed'),
    'items', (select coalesce(jsonb_agg(jsonb_build_object(
                'id', i.id, 'tier_id', i.ticket_tier_id, 'description', i.description, 'quantity', i.quantity,
                'unit_price_minor', i.unit_price_minor, 'discount_minor', i.discount_minor,
                'total_minor', i.total_minor) order by i.description), '[]'::jsonb)
              from public.order_items i where i.order_id = o.id))
  from public.orders o left join public.events e on e.id = o.event_id
  where o.id = p_order_id;
$$;

-- Tickets with their secrets, for the buyer's own display and the ticket email.
create or replace function private.ticket_passes_for(p_order_id uuid) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
    'ticket_id', t.id, 'secret', t.secret, 'status', t.status, 'tier', tt.name,
    'attendee_name', t.attendee_name, 'checked_in_at', t.checked_in_at) order by tt.sort_order, t.created_at, t.id),
    '[]'::jsonb)
  from public.tickets t join public.ticket_tiers tt on tt.id = t.tier_id
  where t.order_id = p_order_id;
$$;

create or replace function private.lookup_order(p_number text, p_token text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  order_id uuid := private.authorize_guest(p_number, p_token);
begin
  if order_id is null then
    return null;
  end if;
  if (select o.kind from public.orders o where o.id = order_id) = 'appointments' then
    return private.guest_appointment_order_summary(order_id);
  end if;
  return private.ticket_order_summary(order_id) || jsonb_build_object('tickets', private.ticket_passes_for(order_id));
end;
$$;

create or replace function private.ticket_passes(p_order_id uuid) returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
as $$
begin
  if not exists (select 1 from public.orders where id = p_order_id and buyer_user_id = (select auth.uid())) then
    raise exception using errcode = 'PT404', message = 'Order not found', detail = 'order_not_found';
  end if;
  return private.ticket_passes_for(p_order_id);
end;
$$;

create or replace function private.check_in(p_event_id uuid, p_secret text, p_gate text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ev public.events;
  t public.tickets;
  first_by text;
  refunded boolean;
  tier_name text;
begin
  select * into ev from public.events where id = p_event_id;
  if not found or not private.has_org_role(ev.org_id, '{owner,admin,manager,staff}') then
    raise exception using errcode = 'PT403', message = 'You do not check in for this event', detail = 'not_event_staff';
  end if;

  update public.tickets
  set checked_in_at = now(), checked_in_by = (select auth.uid())
  where secret = p_secret and event_id = p_event_id and status = 'valid' and checked_in_at is null
  returning * into t;
  if found then
    select name into tier_name from public.ticket_tiers where id = t.tier_id;
    insert into public.check_ins (org_id, event_id, ticket_id, scanned_by, result, gate)
    values (ev.org_id, ev.id, t.id, (select auth.uid()), 'ok', p_gate);
    return jsonb_build_object('ok', true, 'result', 'ok', 'ticket_id', t.id,
      'attendee_name', t.attendee_name, 'tier', tier_name, 'checked_in_at', t.checked_in_at);
  end if;

  select * into t from public.tickets where secret = p_secret;
  if not found then
    insert into public.check_ins (org_id, event_id, scanned_by, result, gate)
    values (ev.org_id, ev.id, (select auth.uid()), 'unknown_ticket', p_gate);
    return jsonb_build_object('ok', false, 'result', 'unknown_ticket', 'message', 'This is not a ticket we know');
  end if;
  if t.event_id <> p_event_id then
    insert into public.check_ins (org_id, event_id, scanned_by, result, gate)
    values (ev.org_id, ev.id, (select auth.uid()), 'wrong_event', p_gate);
    return jsonb_build_object('ok', false, 'result', 'wrong_event', 'message', 'This ticket is for another event');
  end if;
  if t.status = 'void' then
    select o.status = 'refunded' into refunded from public.orders o where o.id = t.order_id;
    insert into public.check_ins (org_id, event_id, ticket_id, scanned_by, result, gate)
    values (ev.org_id, ev.id, t.id, (select auth.uid()),
            case when refunded then 'refunded' else 'void' end::public.check_in_result, p_gate);
    return jsonb_build_object('ok', false, 'result', case when refunded then 'refunded' else 'void' end,
      'ticket_id', t.id, 'message',
      case when refunded then 'This ticket was refunded' else 'This ticket is void' end);
  end if;
  select coalesce(p.full_name, p.email) into first_by from public.profiles p where p.id = t.checked_in_by;
  insert into public.check_ins (org_id, event_id, ticket_id, scanned_by, result, gate)
  values (ev.org_id, ev.id, t.id, (select auth.uid()), 'already_checked_in', p_gate);
  return jsonb_build_object('ok', false, 'result', 'already_checked_in', 'ticket_id', t.id,
    'attendee_name', t.attendee_name, 'checked_in_at', t.checked_in_at, 'checked_in_by', first_by,
    'message', format('Already checked in at %s by %s',
                      to_char(t.checked_in_at at time zone (select timezone from public.organizations where id = ev.org_id),
                              'YYYY-MM-DD HH24:MI:SS'),
                      coalesce(first_by, 'someone')));
end;
$$;

create or replace function private.refresh_event_stats() returns void
  language sql
  security definer
  set search_path = ''
as $$
  refresh materialized view concurrently private.event_stats;
$$;
grant execute on function
  private.ticket_order_summary(uuid),
  private.ticket_passes_for(uuid),
  private.refresh_event_stats()
  to service_role;

create or replace function private.event_statistics(p_event_id uuid) returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  ev public.events;
begin
  select * into ev from public.events where id = p_event_id;
  if not found or not private.has_org_role(ev.org_id, '{owner,admin,manager}') then
    raise exception using errcode = 'PT404', message = 'Event not found', detail = 'event_not_found';
  end if;
  return (
    select jsonb_build_object(
      'event_id', p_event_id,
      'totals', (select to_jsonb(s) - 'row_key' - 'event_id' - 'tier_id' - 'org_id' from private.event_stats s
                 where s.event_id = p_event_id and s.tier_id is null),
      'tiers', (select coalesce(jsonb_agg(to_jsonb(s) - 'row_key' - 'event_id' - 'org_id' || jsonb_build_object('name', t.name)
                                          order by t.sort_order, t.name), '[]'::jsonb)
                from private.event_stats s join public.ticket_tiers t on t.id = s.tier_id
                where s.event_id = p_event_id))
  );
end;
$$;
grant execute on function
  private.ticket_passes(uuid),
  private.check_in(uuid, text, text),
  private.event_statistics(uuid)
  to authenticated;

create or replace function private.event_by_slug(p_org_slug text, p_event_slug text) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select to_jsonb(e) || jsonb_build_object(
    'venue', (select to_jsonb(v) from public.venues v where v.id = e.venue_id),
    'tiers', (select coalesce(jsonb_agg(to_jsonb(t) order by t.sort_order, t.name), '[]'::jsonb)
              from public.ticket_tiers t
              where t.event_id = e.id
                and (t.sale_starts_at is null or t.sale_starts_at <= now())
                and (t.sale_ends_at is null or t.sale_ends_at > now())))
  from public.events e join public.organizations o on o.id = e.org_id
  where o.slug = p_org_slug and e.slug = p_event_slug and e.status = 'published';
$$;
grant execute on function
  private.place_ticket_order(uuid, jsonb, text, text, text, text, text, interval),
  private.lookup_order(text, text),
  private.event_by_slug(text, text)
  to anon, authenticated, service_role;

create or replace function public.place_ticket_order(
  event_id uuid, items jsonb, buyer_email text default null, buyer_name text default null,
  promo_code text default null, idempotency_key text default null
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.place_ticket_order(
    place_ticket_order.event_id, place_ticket_order.items,
    place_ticket_order.buyer_email, place_ticket_order.buyer_name,
    place_ticket_order.promo_code, place_ticket_order.idempotency_key,
    md5(jsonb_build_array(place_ticket_order.event_id, place_ticket_order.items, place_ticket_order.buyer_email,
                          place_ticket_order.buyer_name, place_ticket_order.promo_code)::text));
end;
$$;
comment on function public.place_ticket_order(uuid, jsonb, text, text, text, text) is
  'Holds tickets and creates a pending order (guest or signed in). Payment: the create-checkout-session function.';
grant execute on function public.place_ticket_order(uuid, jsonb, text, text, text, text)
  to anon, authenticated;

create or replace function public.lookup_order(order_number text, tracking_token text) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.lookup_order(lookup_order.order_number, lookup_order.tracking_token);
$$;
comment on function public.lookup_order(text, text) is
  'A guest''s view of an order and its tickets, given the order number and tracking token. Throttled.';
grant execute on function public.lookup_order(text, text) to anon, authenticated;

create or replace function public.ticket_passes(order_id uuid) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.ticket_passes(ticket_passes.order_id);
$$;
grant execute on function public.ticket_passes(uuid) to authenticated;

create or replace function public.check_in_ticket(event_id uuid, secret text, gate text default null) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  if check_in_ticket.secret is null or length(check_in_ticket.secret) not between 10 and 200 then
    raise exception using errcode = 'PT422', message = 'Scan a ticket code', detail = 'invalid_secret';
  end if;
  return private.check_in(check_in_ticket.event_id, btrim(check_in_ticket.secret), check_in_ticket.gate);
end;
$$;
comment on function public.check_in_ticket(uuid, text, text) is
  'Staff scan: first scan admits, a second one says when and by whom; void, refunded and other-event tickets are refused. Every scan is logged.';
grant execute on function public.check_in_ticket(uuid, text, text) to authenticated;

create or replace function public.event_statistics(event_id uuid) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.event_statistics(event_statistics.event_id);
$$;
grant execute on function public.event_statistics(uuid) to authenticated;

create or replace function public.event_by_slug(org_slug text, event_slug text) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.event_by_slug(event_by_slug.org_slug, event_by_slug.event_slug);
$$;
comment on function public.event_by_slug(text, text) is 'A published event (public or unlisted) with its on-sale tiers.';
grant execute on function public.event_by_slug(text, text) to anon, authenticated;

create or replace function public.request_refund(order_id uuid, amount_minor bigint default null, reason text default null)
  returns public.refunds
  language sql
  set search_path = ''
as $$
  select private.request_refund(request_refund.order_id, request_refund.amount_minor, request_refund.reason);
$$;
comment on function public.request_refund(uuid, bigint, text) is
  'Owners/admins queue a full (amount null) or partial refund; the refund-order function executes it at Stripe.';
grant execute on function public.request_refund(uuid, bigint, text) to authenticated;

-- Emergency alerts (routines/comms/alerts.sql): the buyers of paid orders for events that run
-- during the window (an event without an end counts at its start).
create or replace function private.ticket_alert_contacts(p_org_id uuid, p_during tstzrange)
  returns table (name text, email text, phone text)
  language sql stable
  security definer
  set search_path = ''
as $$
  select o.buyer_name, o.buyer_email, null::text
  from public.orders o join public.events e on e.id = o.event_id
  where o.org_id = p_org_id and o.status = 'paid'
    and tstzrange(e.starts_at, coalesce(e.ends_at, e.starts_at), '[]') && p_during;
$$;
insert into private.alert_audiences (name, contacts_function) values ('tickets', 'private.ticket_alert_contacts')
  on conflict (name) do update set contacts_function = excluded.contacts_function;

-- Campaign audience (routines/comms/campaigns.sql): buyers of paid orders placed in the last
-- `within_days` (365 unless given), for one event if `event_id` is given.
create or replace function private.ticket_buyers(p_org_id uuid, p_options jsonb)
  returns table (name text, email text, phone text)
  language sql stable
  security definer
  set search_path = ''
as $$
  select o.buyer_name, o.buyer_email, null::text
  from public.orders o
  where o.org_id = p_org_id and o.kind = 'tickets' and o.status = 'paid'
    and o.created_at >= now() - make_interval(days => coalesce((p_options ->> 'within_days')::int, 365))
    and (p_options ->> 'event_id' is null or o.event_id = (p_options ->> 'event_id')::uuid);
$$;
insert into private.campaign_audiences (name, contacts_function, description)
  values ('ticket_buyers', 'private.ticket_buyers',
          'Buyers of paid ticket orders in the last within_days (365), optionally for one event_id')
  on conflict (name) do update set contacts_function = excluded.contacts_function, description = excluded.description;
