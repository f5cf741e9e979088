-- Commerce: orders, their items, payments, refunds, promo codes and the
-- webhook ledger. Generic on purpose: tickets, appointments, reservations and
-- parking all sell through these tables and add their own link columns and
-- status triggers in their own migrations.
--
-- Order lifecycle (one state machine, `orders.status`):
--   pending     capacity held until hold_expires_at, waiting for payment
--   processing  an asynchronous payment is in flight; the hold is kept
--   paid        money received, goods issued (tickets, appointments, …)
--   expired     the hold ran out unpaid; capacity went back on sale
--   cancelled   given up before payment (buyer, admin, or provider down)
--   refunded    all money returned (or on its way back); goods voided
-- Partial refunds leave an order `paid`; how much came back is the sum of its
-- refunds, never a stored counter. A dispute sets disputed_at (a flag, not a status).
--
-- Area hooks: each area reacts to status changes with its own triggers on
-- public.orders (ticketing: release seats on expiry, issue tickets on payment,
-- re-claim seats for a late payment or refuse with PT409 capacity_gone).
--
-- Money is bigint minor units plus the order's ISO currency; totals are
-- computed here from their parts and checked by constraints.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121000300_commerce_orders.sql.

-- A human order number: BW- and 8 characters without look-alikes (0/O, 1/I/L, U).
create or replace function private.new_order_number() returns text
  language sql volatile
  set search_path = ''
as $$
  select 'BW-' || string_agg(
    substr('23456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + (get_byte(b, i) % 30), 1), '' order by i)
  from (select uuid_send(gen_random_uuid()) as b) r, generate_series(0, 7) as i;
$$;

-- The refund invariant: refunds (not failed) never exceed what was paid.
create or replace function private.check_refund_total() returns trigger
  language plpgsql
  set search_path = ''
as $$
declare
  paid bigint;
  refunded bigint;
begin
  perform 1 from public.orders where id = new.order_id for update;
  select coalesce(sum(amount_minor), 0) into paid from public.payments where order_id = new.order_id;
  select coalesce(sum(amount_minor), 0) into refunded from public.refunds
  where order_id = new.order_id and status <> 'failed' and id <> new.id;
  -- Requests (pending) may never exceed what remains; refunds the provider
  -- reports as done are facts and are recorded whatever we expected.
  if new.status = 'pending' and refunded + new.amount_minor > paid then
    raise exception using errcode = 'PT409', detail = 'refund_exceeds_payment',
      message = format('Only %s remains refundable', paid - refunded);
  end if;
  return new;
end;
$$;

-- Expired or cancelled orders give their promo redemption back.
create or replace function private.release_promo_redemption() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  redeemed public.promo_redemptions;
begin
  delete from public.promo_redemptions where order_id = new.id returning * into redeemed;
  if redeemed.id is not null then
    update public.promo_codes set redemptions_count = redemptions_count - 1
    where id = redeemed.promo_code_id;
  end if;
  return new;
end;
$$;

-- Redeem a code for an order atomically and spread the discount over the
-- eligible items. The conditional update both enforces max_redemptions and
-- locks the code row, which serialises the per-customer count after it.
create or replace function private.redeem_promo(
  p_order_id uuid, p_code text, p_eligible_item_ids uuid[], p_now timestamptz default now()
) returns bigint
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
  promo public.promo_codes;
  eligible_total bigint;
  discount bigint;
  used integer;
begin
  select * into ord from public.orders where id = p_order_id;
  select * into promo from public.promo_codes
  where org_id = ord.org_id and lower(code) = lower(btrim(p_code)) and active;
  if promo.id is null
     or (promo.valid_from is not null and p_now < promo.valid_from)
     or (promo.valid_until is not null and p_now >= promo.valid_until) then
    raise exception using errcode = 'PT422', message = 'This promo code is not valid', detail = 'promo_invalid';
  end if;
  if promo.kind = 'fixed' and promo.currency <> ord.currency then
    raise exception using errcode = 'PT422', message = 'This promo code is not valid here', detail = 'promo_invalid';
  end if;

  update public.promo_codes
  set redemptions_count = redemptions_count + 1
  where id = promo.id and (max_redemptions is null or redemptions_count < max_redemptions);
  if not found then
    raise exception using errcode = 'PT409', message = 'This promo code has been used up', detail = 'promo_exhausted';
  end if;

  if promo.per_customer_limit is not null then
    select count(*) into used from public.promo_redemptions r
    where r.promo_code_id = promo.id
      and (lower(r.customer_email) = lower(ord.buyer_email)
           or (ord.buyer_user_id is not null and r.user_id = ord.buyer_user_id));
    if used >= promo.per_customer_limit then
      raise exception using errcode = 'PT409', message = 'You have already used this promo code',
        detail = 'promo_customer_limit';
    end if;
  end if;

  select coalesce(sum(unit_price_minor * quantity), 0) into eligible_total
  from public.order_items where order_id = p_order_id and id = any (p_eligible_item_ids);
  if eligible_total = 0 then
    raise exception using errcode = 'PT422', message = 'This promo code does not apply to these items',
      detail = 'promo_not_applicable';
  end if;
  discount := case promo.kind
    when 'percent' then (eligible_total * promo.value) / 100
    else least(promo.value, eligible_total) end;

  -- Spread the discount over eligible items in proportion (largest remainder).
  with lines as (
    select id, unit_price_minor * quantity as gross
    from public.order_items where order_id = p_order_id and id = any (p_eligible_item_ids)
  ), shares as (
    select id, gross, (discount * gross) / eligible_total as base,
           (discount * gross) % eligible_total as remainder
    from lines
  ), ranked as (
    select id, base, row_number() over (order by remainder desc, id) as rn from shares
  )
  update public.order_items i
  set discount_minor = r.base + case when r.rn <= discount - (select sum(base) from shares) then 1 else 0 end
  from ranked r where i.id = r.id;

  update public.orders
  set discount_minor = discount, total_minor = subtotal_minor - discount, promo_code_id = promo.id
  where id = p_order_id;
  insert into public.promo_redemptions (org_id, promo_code_id, order_id, customer_email, user_id, discount_minor)
  values (ord.org_id, promo.id, p_order_id, lower(ord.buyer_email), ord.buyer_user_id, discount);
  return discount;
end;
$$;
grant execute on function private.redeem_promo(uuid, text, uuid[], timestamptz) to service_role;

-- How every kind of order placing ends, once its items are in: the promo code
-- (if any) is redeemed over the items the area found eligible for it, and an
-- order with nothing to pay is paid at once (so fulfilled or booked now).
create or replace function private.finish_order(
  p_order_id uuid, p_promo_code text, p_eligible_items uuid[], p_now timestamptz
) returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
begin
  if nullif(btrim(p_promo_code), '') is not null then
    perform private.redeem_promo(p_order_id, p_promo_code, coalesce(p_eligible_items, '{}'), p_now);
  end if;
  select * into ord from public.orders where id = p_order_id;
  if ord.total_minor = 0 then
    perform private.record_payment(ord.id, 'free', 'free:' || ord.id, 0, ord.currency);
  end if;
end;
$$;
comment on function private.finish_order(uuid, text, uuid[], timestamptz) is
  'The shared end of placing an order: redeem the promo code over the eligible items, then pay a free order at once.';

-- A new pending order with a fresh number, for an area's placing function. A number taken
-- meanwhile is drawn again (five tries); an idempotency key taken meanwhile is a request still in
-- flight: PT409 idempotency_conflict.
create or replace function private.insert_order(
  p_org_id uuid, p_kind public.order_kind, p_buyer_user_id uuid, p_buyer_email text, p_buyer_name text,
  p_currency text, p_subtotal_minor bigint, p_tracking_token_hash bytea, p_idempotency_key text,
  p_request_hash text, p_hold_expires_at timestamptz, p_metadata jsonb default '{}'::jsonb,
  p_event_id uuid default null
) returns public.orders
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
  attempt integer := 0;
begin
  loop
    -- `on conflict do nothing`, not an exception block: no subtransaction on every placer's hot path.
    insert into public.orders (org_id, number, kind, event_id, buyer_user_id, buyer_email, buyer_name, currency,
                               subtotal_minor, total_minor, tracking_token_hash, idempotency_key, request_hash,
                               hold_expires_at, metadata)
    values (p_org_id, private.new_order_number(), p_kind, p_event_id, p_buyer_user_id, lower(btrim(p_buyer_email)),
            btrim(p_buyer_name), p_currency, p_subtotal_minor, p_subtotal_minor, p_tracking_token_hash,
            p_idempotency_key, p_request_hash, p_hold_expires_at, coalesce(p_metadata, '{}'))
    on conflict do nothing
    returning * into ord;
    if ord.id is not null then
      return ord;
    end if;
    attempt := attempt + 1;
    if attempt > 5 or p_idempotency_key is not null and exists (
         select 1 from public.orders where idempotency_key = p_idempotency_key) then
      raise exception using errcode = 'PT409', message = 'A request with this idempotency key is in progress',
        detail = 'idempotency_conflict';
    end if;
  end loop;
end;
$$;
comment on function private.insert_order(uuid, public.order_kind, uuid, text, text, text, bigint, bytea, text, text,
                                         timestamptz, jsonb, uuid) is
  'Inserts a pending order with a fresh number (retried on a collision); PT409 idempotency_conflict when its key '
  'is taken meanwhile. The areas'' placing functions add the items and their goods.';

-- Record a provider event once. Returns false when it was seen before.
create or replace function private.record_webhook_event(p_id text, p_provider text, p_type text, p_payload jsonb)
  returns boolean
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  insert into private.webhook_events (id, provider, type, payload) values (p_id, p_provider, p_type, p_payload)
  on conflict (id) do nothing;
  return found;
end;
$$;

create or replace function private.set_webhook_outcome(p_id text, p_outcome text) returns void
  language sql
  security definer
  set search_path = ''
as $$
  update private.webhook_events set outcome = p_outcome where id = p_id;
$$;

create or replace function private.attach_checkout_session(
  p_order_id uuid, p_session_id text, p_url text
) returns void
  language sql
  security definer
  set search_path = ''
as $$
  update public.orders set checkout_session_id = p_session_id, checkout_url = p_url
  where id = p_order_id;
$$;

-- Close an unpaid order: capacity and promo go back (area triggers), the
-- idempotency key is freed so the buyer can retry with the same key.
create or replace function private.close_unpaid_order(
  p_order_id uuid, p_status public.order_status, p_reason text
) returns boolean
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  if p_status not in ('expired', 'cancelled') then
    raise exception 'close_unpaid_order closes to expired or cancelled, not %', p_status;
  end if;
  update public.orders
  set status = p_status, closed_at = now(), close_reason = p_reason, idempotency_key = null
  where id = p_order_id and status in ('pending', 'processing');
  return found;
end;
$$;

create or replace function private.mark_order_processing(p_order_id uuid, p_payment_intent_id text) returns boolean
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  update public.orders set status = 'processing', payment_intent_id = coalesce(p_payment_intent_id, payment_intent_id)
  where id = p_order_id and status = 'pending';
  return found;
end;
$$;

-- Money arrived. Outcomes:
--   fulfilled           pending/processing -> paid (area triggers issue the goods; the buyer
--                       gets a payment_receipt)
--   already_paid        a duplicate event for a payment we have
--   duplicate_refunded  a second, different payment for an order already paid:
--                       it is refunded in full, automatically
--   late_fulfilled      the hold had expired but capacity (and the promo code,
--                       if any) remained: paid
--   late_refunded       the hold had expired and the seats or the code's
--                       redemptions are gone: a refund is queued and the buyer
--                       is told why
create or replace function private.record_payment(
  p_order_id uuid, p_provider text, p_provider_payment_id text, p_amount_minor bigint, p_currency text
) returns text
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
  payment_id uuid;
  was_late boolean;
  refusal text;
begin
  select * into ord from public.orders where id = p_order_id for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'Unknown order', detail = 'order_not_found';
  end if;

  insert into public.payments (org_id, order_id, provider, provider_payment_id, amount_minor, currency)
  values (ord.org_id, ord.id, p_provider, p_provider_payment_id, p_amount_minor, upper(p_currency))
  on conflict (provider, provider_payment_id) do nothing
  returning id into payment_id;
  if payment_id is null then
    return 'already_paid';
  end if;
  if ord.status in ('paid', 'refunded') then
    if p_amount_minor > 0 then
      insert into public.refunds (org_id, order_id, payment_id, amount_minor, currency, reason)
      values (ord.org_id, ord.id, payment_id, p_amount_minor, upper(p_currency), 'duplicate_payment');
    end if;
    return 'duplicate_refunded';
  end if;

  was_late := ord.status in ('expired', 'cancelled');
  begin
    -- A late order lost its promo redemption when its hold expired: take it
    -- again, within the code's limit, or refuse like a sold-out seat.
    if was_late and ord.promo_code_id is not null then
      update public.promo_codes set redemptions_count = redemptions_count + 1
      where id = ord.promo_code_id and (max_redemptions is null or redemptions_count < max_redemptions);
      if not found then
        raise exception using errcode = 'PT409', message = 'The promo code was used up meanwhile',
          detail = 'promo_exhausted';
      end if;
      insert into public.promo_redemptions (org_id, promo_code_id, order_id, customer_email, user_id, discount_minor)
      values (ord.org_id, ord.promo_code_id, ord.id, lower(ord.buyer_email), ord.buyer_user_id, ord.discount_minor);
    end if;
    update public.orders
    set status = 'paid', paid_at = now(), payment_intent_id = coalesce(payment_intent_id, p_provider_payment_id),
        closed_at = null, close_reason = null
    where id = ord.id;
    -- The receipt: what was paid, when and how (beside the area's own confirmation of the goods).
    if p_amount_minor > 0 then
      perform private.enqueue_notification(
        ord.org_id, 'email', 'payment_receipt', ord.buyer_email,
        jsonb_build_object('order_id', ord.id, 'payment_id', payment_id), 'payment_receipt:' || payment_id);
    end if;
  exception when sqlstate 'PT409' then
    -- An area trigger (or the code's limit) refused: keep the money's record,
    -- give it back, and explain.
    get stacked diagnostics refusal = pg_exception_detail;
    refusal := case refusal when 'promo_exhausted' then 'late_payment_promo_exhausted'
                            else 'late_payment_no_capacity' end;
    update public.orders
    set status = 'refunded', closed_at = now(), close_reason = refusal,
        payment_intent_id = coalesce(payment_intent_id, p_provider_payment_id)
    where id = ord.id;
    insert into public.refunds (org_id, order_id, payment_id, amount_minor, currency, reason)
    values (ord.org_id, ord.id, payment_id, p_amount_minor, upper(p_currency), refusal);
    perform private.enqueue_notification(
      ord.org_id, 'email', 'late_payment_refunded', ord.buyer_email,
      jsonb_build_object('order_id', ord.id), 'late_payment_refunded:' || ord.id);
    return 'late_refunded';
  end;
  return case when was_late then 'late_fulfilled' else 'fulfilled' end;
end;
$$;

-- The provider's refunds of one payment, as the provider lists them:
-- [{"id", "amount", "status", "refund_id"}], where refund_id is ours (from the
-- refund's metadata) when we asked for it. Ours are confirmed by that id; any
-- other is a refund made in the provider's dashboard, recorded once by its
-- provider id and told to the buyer. Matching by id, never by running totals,
-- keeps a dashboard refund from passing for one of ours that never happened.
-- A fully refunded order becomes `refunded` (area triggers void its goods).
create or replace function private.apply_provider_refunds(
  p_provider text, p_provider_payment_id text, p_refunds jsonb
) returns text
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  pay public.payments;
  ord public.orders;
  r jsonb;
  ours uuid;
  recorded uuid;
  refunded bigint;
begin
  select * into pay from public.payments
  where provider = p_provider and provider_payment_id = p_provider_payment_id;
  if not found then
    raise exception using errcode = 'PT503', message = 'The payment is not recorded yet', detail = 'not_ready';
  end if;
  select * into ord from public.orders where id = pay.order_id for update;

  for r in select value from jsonb_array_elements(coalesce(p_refunds, '[]'::jsonb)) loop
    ours := case when r ->> 'refund_id' ~ '^[0-9a-f-]{36}$' then (r ->> 'refund_id')::uuid end;
    if ours is not null and exists (select 1 from public.refunds where id = ours and payment_id = pay.id) then
      update public.refunds
      set provider_refund_id = r ->> 'id',
          status = case r ->> 'status' when 'succeeded' then 'succeeded'::public.refund_status
                                        when 'failed' then 'failed'::public.refund_status
                                        when 'canceled' then 'failed'::public.refund_status
                                        else status end
      where id = ours;
    elsif r ->> 'status' in ('succeeded', 'pending') then
      insert into public.refunds (org_id, order_id, payment_id, amount_minor, currency, status, reason, provider_refund_id)
      values (ord.org_id, ord.id, pay.id, (r ->> 'amount')::bigint, pay.currency, 'succeeded',
              'provider_dashboard', r ->> 'id')
      on conflict (provider_refund_id) do nothing
      returning id into recorded;
      if recorded is not null then
        perform private.enqueue_notification(
          ord.org_id, 'email', 'order_refunded', ord.buyer_email,
          jsonb_build_object('order_id', ord.id, 'refund_id', recorded), 'refund:' || recorded);
      end if;
    end if;
  end loop;

  select coalesce(sum(amount_minor), 0) into refunded
  from public.refunds where payment_id = pay.id and status = 'succeeded';
  -- The order is refunded when its own payment (the one that paid it) is: giving back a stray
  -- payment (a duplicate) leaves an order its own payment still pays for.
  if ord.status = 'paid' and pay.provider_payment_id = ord.payment_intent_id and refunded >= pay.amount_minor then
    update public.orders set status = 'refunded', closed_at = now(), close_reason = 'refunded' where id = ord.id;
  end if;
  return case when refunded >= pay.amount_minor then 'fully_refunded' else 'partially_refunded' end;
end;
$$;

create or replace function private.flag_dispute(p_order_id uuid, p_reason text) returns boolean
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
begin
  update public.orders set disputed_at = coalesce(disputed_at, now())
  where id = p_order_id and disputed_at is null
  returning * into ord;
  if not found then
    return false;
  end if;
  insert into public.notification_outbox (org_id, channel, template, recipient, payload, dedupe_key)
  select ord.org_id, 'email', 'dispute_opened', p.email,
         jsonb_build_object('order_id', ord.id, 'reason', p_reason), 'dispute:' || ord.id || ':' || p.id
  from public.memberships m join public.profiles p on p.id = m.user_id
  where m.org_id = ord.org_id and m.role in ('owner', 'admin') and p.email is not null;
  return true;
end;
$$;

-- Orders whose hold has run out, claimed for the expiry job.
create or replace function private.due_expired_orders(p_limit integer) returns setof public.orders
  language sql
  security definer
  set search_path = ''
as $$
  select * from public.orders
  where status = 'pending' and hold_expires_at < now()
  order by hold_expires_at
  limit p_limit
  for update skip locked;
$$;

-- A refund asked for by an owner/admin (checked here) or by the system (service_role).
create or replace function private.request_refund(
  p_order_id uuid, p_amount_minor bigint, p_reason text
) returns public.refunds
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
  pay public.payments;
  refund public.refunds;
  remaining bigint;
begin
  select * into ord from public.orders where id = p_order_id for update;
  if not found or (coalesce((select auth.role()), '') <> 'service_role'
                   and not private.has_org_role(ord.org_id, '{owner,admin}')) then
    raise exception using errcode = 'PT404', message = 'Order not found', detail = 'order_not_found';
  end if;
  if ord.status <> 'paid' then
    raise exception using errcode = 'PT409', message = 'Only paid orders can be refunded', detail = 'order_not_paid';
  end if;
  -- The payment that paid the order; a stray one (a duplicate) has its own automatic refund.
  select * into pay from public.payments
  where order_id = ord.id and provider <> 'free'
  order by provider_payment_id is distinct from ord.payment_intent_id, created_at
  limit 1;
  if pay.id is null then
    raise exception using errcode = 'PT409', message = 'Nothing was paid for this order', detail = 'nothing_to_refund';
  end if;
  select pay.amount_minor - coalesce(sum(amount_minor), 0) into remaining
  from public.refunds where payment_id = pay.id and status <> 'failed';
  if p_amount_minor is not null and (p_amount_minor <= 0 or p_amount_minor > remaining) then
    raise exception using errcode = 'PT422', detail = 'invalid_refund_amount',
      message = format('The refund must be between 1 and %s', remaining);
  end if;
  insert into public.refunds (org_id, order_id, payment_id, amount_minor, currency, reason, requested_by)
  values (ord.org_id, ord.id, pay.id, coalesce(p_amount_minor, remaining), pay.currency,
          coalesce(nullif(btrim(p_reason), ''), 'requested_by_organizer'), (select auth.uid()))
  returning * into refund;
  if refund.amount_minor = remaining then
    update public.orders set status = 'refunded', closed_at = now(), close_reason = 'refunded' where id = ord.id;
  end if;
  perform private.enqueue_notification(
    ord.org_id, 'email', 'order_refunded', ord.buyer_email,
    jsonb_build_object('order_id', ord.id, 'refund_id', refund.id), 'refund:' || refund.id);
  return refund;
end;
$$;
grant execute on function private.request_refund(uuid, bigint, text) to authenticated, service_role;

-- A refund the system owes on a paid order (a parking cancellation by policy, a prepaid trip that cost
-- less): up to p_amount of what the order's own payment has not had back, queued for the refund worker.
-- The order is refunded when nothing of that payment remains. Returns what was queued.
create or replace function private.queue_refund(p_order_id uuid, p_amount bigint, p_reason text,
                                                p_notify boolean default true)
  returns bigint
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
  pay public.payments;
  remaining bigint;
  take bigint;
  refund_id uuid;
begin
  select * into ord from public.orders where id = p_order_id for update;
  if not found or ord.status <> 'paid' or coalesce(p_amount, 0) <= 0 then
    return 0;
  end if;
  select * into pay from public.payments
  where order_id = ord.id and provider <> 'free'
  order by provider_payment_id is distinct from ord.payment_intent_id, created_at
  limit 1;
  if pay.id is null then
    return 0;
  end if;
  select pay.amount_minor - coalesce(sum(amount_minor), 0) into remaining
  from public.refunds where payment_id = pay.id and status <> 'failed';
  take := least(p_amount, remaining);
  if take <= 0 then
    return 0;
  end if;
  insert into public.refunds (org_id, order_id, payment_id, amount_minor, currency, reason, requested_by)
  values (ord.org_id, ord.id, pay.id, take, pay.currency, p_reason, (select auth.uid()))
  returning id into refund_id;
  if take = remaining then
    update public.orders set status = 'refunded', closed_at = now(), close_reason = p_reason where id = ord.id;
  end if;
  if p_notify then
    perform private.enqueue_notification(ord.org_id, 'email', 'order_refunded', ord.buyer_email,
                                         jsonb_build_object('order_id', ord.id, 'refund_id', refund_id),
                                         'refund:' || refund_id);
  end if;
  return take;
end;
$$;
comment on function private.queue_refund(uuid, bigint, text, boolean) is
  'Queues a refund of up to p_amount of a paid order''s own payment (what remains of it); the order is refunded '
  'when none remains; the buyer is emailed unless p_notify is false. Returns the amount queued (0: nothing).';

create or replace function private.pending_refunds(p_limit integer) returns setof public.refunds
  language sql
  security definer
  set search_path = ''
as $$
  select * from public.refunds
  where status = 'pending' and provider_refund_id is null
  order by created_at limit p_limit
  for update skip locked;
$$;

create or replace function private.mark_refund_executed(
  p_refund_id uuid, p_provider_refund_id text, p_error text, p_final boolean default false
) returns void
  language sql
  security definer
  set search_path = ''
as $$
  update public.refunds
  set provider_refund_id = coalesce(p_provider_refund_id, provider_refund_id),
      status = case when p_error is null then 'succeeded'::public.refund_status
                    when p_final then 'failed'::public.refund_status
                    else status end,
      last_error = p_error
  where id = p_refund_id and status = 'pending';
$$;
comment on function private.mark_refund_executed(uuid, text, text, boolean) is
  'After a provider call: succeeded, still pending (a transient error, retried by cron) or failed (refused for good).';
grant execute on function
  private.record_webhook_event(text, text, text, jsonb),
  private.set_webhook_outcome(text, text),
  private.attach_checkout_session(uuid, text, text),
  private.close_unpaid_order(uuid, public.order_status, text),
  private.mark_order_processing(uuid, text),
  private.record_payment(uuid, text, text, bigint, text),
  private.apply_provider_refunds(text, text, jsonb),
  private.flag_dispute(uuid, text),
  private.due_expired_orders(integer),
  private.pending_refunds(integer),
  private.mark_refund_executed(uuid, text, text, boolean)
  to service_role;

-- One throttled number + token check for every kind of guest link (orders and
-- subscriptions): every attempt counts against the caller's guest_lookup rate
-- limit, and the failures of both count per number in private.order_lookup_failures.
create or replace function private.authorize_token_holder(p_table regclass, p_number text, p_token text)
  returns uuid
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  -- One spelling for the throttle and the lookup: ' bw-x' and 'BW-X' are one number.
  wanted text := upper(btrim(coalesce(p_number, '')));
  found_id uuid;
  fails integer;
begin
  perform private.throttle('guest_lookup');
  if wanted !~ '^[A-Z]{2,3}-[0-9A-Z]{8}$' or p_token is null then
    return null;  -- can match no row; not counted, so garbage cannot grow the throttle table
  end if;
  execute format('select id from %s where number = $1 and tracking_token_hash = $2', p_table)
    into found_id using wanted, private.token_hash(p_token);
  if found_id is not null then
    return found_id;  -- the holder is never refused, however many guesses came before
  end if;
  select failures into fails from private.order_lookup_failures
  where order_number = wanted and window_started_at > now() - interval '15 minutes';
  if coalesce(fails, 0) >= 10 then
    raise exception using errcode = 'PT429', message = 'Too many attempts; try again later', detail = 'throttled';
  end if;
  insert into private.order_lookup_failures as f (order_number, failures, window_started_at)
  values (wanted, 1, now())
  on conflict (order_number) do update
    set failures = case when f.window_started_at > now() - interval '15 minutes' then f.failures + 1 else 1 end,
        window_started_at = case when f.window_started_at > now() - interval '15 minutes'
                                 then f.window_started_at else now() end;
  return null;
end;
$$;
comment on function private.authorize_token_holder(regclass, text, text) is
  'The id of the row of p_table (a table with number and tracking_token_hash) matching number + token. A wrong '
  'token gives null and is counted; past 10 in 15 minutes for that number, PT429 throttled. The right token always '
  'opens. Called by definer functions only.';

-- Returns the order id when the token matches; null otherwise (and counts the
-- failure, which survives because nothing is raised).
create or replace function private.authorize_guest(p_number text, p_token text) returns uuid
  language sql
  security definer
  set search_path = ''
as $$
  select private.authorize_token_holder('public.orders', p_number, p_token);
$$;
grant execute on function private.authorize_guest(text, text) to anon, authenticated, service_role;

create or replace function private.replayed_order(
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

-- The order a Checkout Session was opened for (null: not one of ours).
create or replace function private.order_of_checkout_session(p_session_id text) returns uuid
  language sql stable
  security definer
  set search_path = ''
as $$
  select id from public.orders where checkout_session_id = p_session_id;
$$;
comment on function private.order_of_checkout_session(text) is
  'The order whose recorded checkout_session_id is p_session_id, else null. Webhooks find orders by this, never by '
  'metadata a Payment Link could set.';
grant execute on function private.order_of_checkout_session(text) to service_role;

-- Money from a Checkout Session. Outcomes: those of private.record_payment, and
--   unknown_order      the session is not one an order of ours was opened for, and names none
--   foreign_session    not our session, but its metadata names one of our orders: nothing is
--                      written to that order and nothing refunded (it is not our sale to refund);
--                      the audit log of the named order says what was tried
--   mismatch_refunded  the order's own session, another amount or currency: not fulfilled; the
--                      payment is recorded and refunded in full, the order closed (its session is
--                      spent) and its capacity released
--   mismatch_recorded  that payment was recorded before
-- Returns {"order_id", "result"}.
-- A provider's payment for one of our orders (found by the caller through the provider object it opened:
-- a Checkout Session, a PayPal order). Another amount or currency fulfils nothing: the money is recorded,
-- refunded in full and the order closed; the right amount goes through private.record_payment.
create or replace function private.record_matching_payment(
  p_order_id uuid, p_provider text, p_provider_payment_id text, p_amount_minor bigint, p_currency text,
  p_reference jsonb
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
  payment_id uuid;
begin
  select * into ord from public.orders where id = p_order_id for update;
  if p_amount_minor is distinct from ord.total_minor or upper(p_currency) is distinct from ord.currency then
    insert into public.payments (org_id, order_id, provider, provider_payment_id, amount_minor, currency)
    values (ord.org_id, ord.id, p_provider, p_provider_payment_id, greatest(coalesce(p_amount_minor, 0), 0),
            upper(coalesce(p_currency, ord.currency)))
    on conflict (provider, provider_payment_id) do nothing
    returning id into payment_id;
    if payment_id is null then
      return jsonb_build_object('order_id', ord.id, 'result', 'mismatch_recorded');
    end if;
    if p_amount_minor > 0 then
      insert into public.refunds (org_id, order_id, payment_id, amount_minor, currency, reason)
      values (ord.org_id, ord.id, payment_id, p_amount_minor, upper(p_currency), 'payment_mismatch');
    end if;
    perform private.audit(ord.org_id, 'payment.mismatch', 'orders', ord.id::text, coalesce(p_reference, '{}') || jsonb_build_object(
      'provider', p_provider, 'amount_minor', p_amount_minor, 'expected_amount_minor', ord.total_minor,
      'currency', upper(p_currency), 'expected_currency', ord.currency,
      'provider_payment_id', p_provider_payment_id));
    perform private.close_unpaid_order(ord.id, 'cancelled', 'payment_mismatch');
    return jsonb_build_object('order_id', ord.id, 'result', 'mismatch_refunded');
  end if;
  return jsonb_build_object('order_id', ord.id, 'result', private.record_payment(
    ord.id, p_provider, p_provider_payment_id, p_amount_minor, p_currency));
end;
$$;

create or replace function private.record_checkout_payment(
  p_session_id text, p_named_order_id uuid, p_provider_payment_id text, p_amount_minor bigint, p_currency text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
  named public.orders;
begin
  select * into ord from public.orders where checkout_session_id = p_session_id;
  if not found then
    select * into named from public.orders where id = p_named_order_id;
    if not found then
      return jsonb_build_object('order_id', null, 'result', 'unknown_order');
    end if;
    perform private.audit(named.org_id, 'payment.foreign_session', 'orders', named.id::text, jsonb_build_object(
      'session_id', p_session_id, 'order_session_id', named.checkout_session_id, 'amount_minor', p_amount_minor,
      'currency', upper(p_currency), 'provider_payment_id', p_provider_payment_id));
    return jsonb_build_object('order_id', null, 'result', 'foreign_session');
  end if;
  return private.record_matching_payment(ord.id, 'stripe', p_provider_payment_id, p_amount_minor, p_currency,
                                         jsonb_build_object('session_id', p_session_id));
end;
$$;
comment on function private.record_checkout_payment(text, uuid, text, bigint, text) is
  'Money from a Checkout Session, for the order it was opened for only: fulfilled (private.record_payment) when '
  'amount and currency match; otherwise recorded, refunded in full, audited and the order closed. A session that is '
  'not ours is never attached or refunded (foreign_session, audited on the order it names). {order_id, result}.';
grant execute on function private.record_checkout_payment(text, uuid, text, bigint, text) to service_role;
