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

-- ===========================================================================
-- Types
-- ===========================================================================
create type public.order_status as enum (
  'pending', 'processing', 'paid', 'expired', 'cancelled', 'refunded'
);
create type public.order_kind as enum ('tickets', 'appointments', 'reservation', 'parking');
create type public.discount_kind as enum ('percent', 'fixed');
create type public.refund_status as enum ('pending', 'succeeded', 'failed');

-- ===========================================================================
-- Helpers
-- ===========================================================================

-- A human order number: BW- and 8 characters without look-alikes (0/O, 1/I/L, U).
create function private.new_order_number() returns text
  language sql volatile
  set search_path = ''
as $$
  select 'BW-' || string_agg(
    substr('23456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + (get_byte(b, i) % 30), 1), '' order by i)
  from (select uuid_send(gen_random_uuid()) as b) r, generate_series(0, 7) as i;
$$;

-- ===========================================================================
-- Promo codes (area-specific restrictions live in the areas: e.g. promo_code_tiers)
-- ===========================================================================
create table public.promo_codes (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  code text not null check (code ~ '^[A-Za-z0-9_-]{3,40}$'),
  kind public.discount_kind not null,
  value bigint not null check (value > 0),
  currency char(3) check (currency ~ '^[A-Z]{3}$'),
  valid_from timestamptz,
  valid_until timestamptz,
  max_redemptions integer check (max_redemptions > 0),
  per_customer_limit integer check (per_customer_limit > 0),
  redemptions_count integer not null default 0,
  active boolean not null default true,
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (kind <> 'percent' or value <= 100),
  check (kind <> 'fixed' or currency is not null),
  check (valid_until is null or valid_from is null or valid_until > valid_from),
  check (redemptions_count >= 0 and (max_redemptions is null or redemptions_count <= max_redemptions))
);
comment on table public.promo_codes is
  'Discounts: percent (1-100) or fixed minor units. Never readable by the public; validated at checkout only.';
comment on column public.promo_codes.redemptions_count is
  'Maintained by redeem/release under the row lock; the check constraint makes over-redemption impossible.';
create unique index promo_codes_org_code_key on public.promo_codes (org_id, lower(code));
create index promo_codes_created_by_idx on public.promo_codes (created_by);
create trigger promo_codes_touch before update on public.promo_codes
  for each row execute function private.touch_updated_at();

-- ===========================================================================
-- Orders and items
-- ===========================================================================
create table public.orders (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete restrict,
  number text not null unique,
  kind public.order_kind not null,
  status public.order_status not null default 'pending',
  buyer_user_id uuid references public.profiles (id) on delete set null,
  buyer_email text not null check (buyer_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and length(buyer_email) <= 320),
  buyer_name text not null check (length(btrim(buyer_name)) between 1 and 200),
  currency char(3) not null check (currency ~ '^[A-Z]{3}$'),
  subtotal_minor bigint not null default 0 check (subtotal_minor >= 0),
  discount_minor bigint not null default 0 check (discount_minor >= 0),
  total_minor bigint not null default 0,
  promo_code_id uuid references public.promo_codes (id) on delete set null,
  tracking_token_hash bytea not null,
  idempotency_key text unique check (length(idempotency_key) between 8 and 200),
  request_hash text,
  hold_expires_at timestamptz,
  checkout_session_id text unique,
  checkout_url text,
  payment_intent_id text,
  paid_at timestamptz,
  closed_at timestamptz,
  close_reason text,
  disputed_at timestamptz,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (total_minor = subtotal_minor - discount_minor and total_minor >= 0)
);
comment on table public.orders is
  'Anything sold: tickets, appointments, reservations, parking. One status column; see the migration header for the lifecycle.';
comment on column public.orders.tracking_token_hash is
  'sha256 of the guest tracking token, which is shown once at checkout.';
create index orders_org_id_created_at_idx on public.orders (org_id, created_at desc);
create index orders_buyer_user_id_idx on public.orders (buyer_user_id);
create index orders_promo_code_id_idx on public.orders (promo_code_id);
create index orders_buyer_email_idx on public.orders (lower(buyer_email));
create index orders_payment_intent_id_idx on public.orders (payment_intent_id);
create index orders_hold_expiry_idx on public.orders (hold_expires_at) where status = 'pending';
create trigger orders_touch before update on public.orders
  for each row execute function private.touch_updated_at();

create table public.order_items (
  id uuid primary key default gen_random_uuid(),
  order_id uuid not null references public.orders (id) on delete cascade,
  org_id uuid not null references public.organizations (id) on delete restrict,
  description text not null,
  quantity integer not null check (quantity > 0),
  unit_price_minor bigint not null check (unit_price_minor >= 0),
  discount_minor bigint not null default 0 check (discount_minor >= 0),
  total_minor bigint generated always as (unit_price_minor * quantity - discount_minor) stored,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  check (discount_minor <= unit_price_minor * quantity)
);
comment on table public.order_items is
  'Lines of an order. Areas add their link column (ticket_tier_id, service_id, …).';
create index order_items_order_id_idx on public.order_items (order_id);
create index order_items_org_id_idx on public.order_items (org_id);

-- ===========================================================================
-- Promo redemptions
-- ===========================================================================
create table public.promo_redemptions (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  promo_code_id uuid not null references public.promo_codes (id) on delete cascade,
  order_id uuid not null unique references public.orders (id) on delete cascade,
  customer_email text not null,
  user_id uuid references public.profiles (id) on delete set null,
  discount_minor bigint not null check (discount_minor >= 0),
  created_at timestamptz not null default now()
);
comment on table public.promo_redemptions is
  'One row per order that used a code; deleted (and the count given back) when the order expires or is cancelled.';
create index promo_redemptions_org_id_idx on public.promo_redemptions (org_id);
create index promo_redemptions_code_email_idx on public.promo_redemptions (promo_code_id, lower(customer_email));
create index promo_redemptions_user_id_idx on public.promo_redemptions (user_id);

-- ===========================================================================
-- Payments, refunds, webhook ledger
-- ===========================================================================
create table public.payments (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete restrict,
  order_id uuid not null references public.orders (id) on delete restrict,
  provider text not null check (provider in ('stripe', 'paypal', 'free')),
  provider_payment_id text not null,
  amount_minor bigint not null check (amount_minor >= 0),
  currency char(3) not null,
  created_at timestamptz not null default now(),
  unique (provider, provider_payment_id)
);
comment on table public.payments is 'Money received for an order, keyed by the provider''s id (idempotent).';
create index payments_order_id_idx on public.payments (order_id);
create index payments_org_id_idx on public.payments (org_id);

create table public.refunds (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete restrict,
  order_id uuid not null references public.orders (id) on delete restrict,
  payment_id uuid not null references public.payments (id) on delete restrict,
  amount_minor bigint not null check (amount_minor > 0),
  currency char(3) not null,
  status public.refund_status not null default 'pending',
  reason text not null,
  provider_refund_id text unique,
  requested_by uuid references public.profiles (id) on delete set null,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.refunds is
  'Money going back. A pending row is executed at the provider with its id as idempotency key. Never more than was paid (trigger).';
create index refunds_order_id_idx on public.refunds (order_id);
create index refunds_payment_id_idx on public.refunds (payment_id);
create index refunds_org_id_idx on public.refunds (org_id);
create index refunds_requested_by_idx on public.refunds (requested_by);
create index refunds_pending_idx on public.refunds (created_at) where status = 'pending';
create trigger refunds_touch before update on public.refunds
  for each row execute function private.touch_updated_at();

create table public.webhook_events (
  id text primary key,
  provider text not null,
  type text not null,
  payload jsonb not null,
  outcome text,
  received_at timestamptz not null default now()
);
comment on table public.webhook_events is
  'Every provider event, recorded by its id in the same transaction as its effects: a replay is a no-op.';

-- The refund invariant: refunds (not failed) never exceed what was paid.
create function private.check_refund_total() returns trigger
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
create trigger refunds_within_payment before insert or update of amount_minor, status on public.refunds
  for each row execute function private.check_refund_total();

-- Expired or cancelled orders give their promo redemption back.
create function private.release_promo_redemption() returns trigger
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
create trigger orders_release_promo after update of status on public.orders
  for each row when (new.status in ('expired', 'cancelled') and old.status in ('pending', 'processing'))
  execute function private.release_promo_redemption();

create trigger orders_audit after update of status, disputed_at on public.orders
  for each row execute function private.audit_row('org_id');
create trigger refunds_audit after insert or update of status on public.refunds
  for each row execute function private.audit_row('org_id');

-- ===========================================================================
-- Privileged steps of the order lifecycle (service_role: webhooks, cron, functions)
-- ===========================================================================

-- Redeem a code for an order atomically and spread the discount over the
-- eligible items. The conditional update both enforces max_redemptions and
-- locks the code row, which serialises the per-customer count after it.
create function private.redeem_promo(
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

-- Record a provider event once. Returns false when it was seen before.
create function private.record_webhook_event(p_id text, p_provider text, p_type text, p_payload jsonb)
  returns boolean
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  insert into public.webhook_events (id, provider, type, payload) values (p_id, p_provider, p_type, p_payload)
  on conflict (id) do nothing;
  return found;
end;
$$;

create function private.set_webhook_outcome(p_id text, p_outcome text) returns void
  language sql
  security definer
  set search_path = ''
as $$
  update public.webhook_events set outcome = p_outcome where id = p_id;
$$;

create function private.attach_checkout_session(
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
create function private.close_unpaid_order(
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

create function private.mark_order_processing(p_order_id uuid, p_payment_intent_id text) returns boolean
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
--   fulfilled           pending/processing -> paid (area triggers issue the goods)
--   already_paid        a duplicate event for a payment we have
--   duplicate_refunded  a second, different payment for an order already paid:
--                       it is refunded in full, automatically
--   late_fulfilled      the hold had expired but capacity (and the promo code,
--                       if any) remained: paid
--   late_refunded       the hold had expired and the seats or the code's
--                       redemptions are gone: a refund is queued and the buyer
--                       is told why
create function private.record_payment(
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
create function private.apply_provider_refunds(
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
  if refunded >= pay.amount_minor then
    if ord.status = 'paid' then
      update public.orders set status = 'refunded', closed_at = now(), close_reason = 'refunded' where id = ord.id;
    end if;
    return 'fully_refunded';
  end if;
  return 'partially_refunded';
end;
$$;

create function private.flag_dispute(p_order_id uuid, p_reason text) returns boolean
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
create function private.due_expired_orders(p_limit integer) returns setof public.orders
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
create function private.request_refund(
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
  select * into pay from public.payments where order_id = ord.id and provider <> 'free' order by created_at limit 1;
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

create function private.pending_refunds(p_limit integer) returns setof public.refunds
  language sql
  security definer
  set search_path = ''
as $$
  select * from public.refunds
  where status = 'pending' and provider_refund_id is null
  order by created_at limit p_limit
  for update skip locked;
$$;

create function private.mark_refund_executed(
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
grant execute on function private.request_refund(uuid, bigint, text) to authenticated, service_role;
grant execute on function private.redeem_promo(uuid, text, uuid[], timestamptz) to service_role;
grant usage on schema private to anon;

-- ===========================================================================
-- Guest access by order number + tracking token, throttled against guessing
-- ===========================================================================
create table private.order_lookup_failures (
  order_number text primary key,
  failures integer not null default 0,
  window_started_at timestamptz not null default now()
);
comment on table private.order_lookup_failures is
  'Failed tracking-token guesses per order number; 10 in 15 minutes lock the number out for the rest of the window.';

-- Returns the order id when the token matches; null otherwise (and counts the
-- failure, which survives because nothing is raised).
create function private.authorize_guest(p_number text, p_token text) returns uuid
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  found_id uuid;
  fails integer;
begin
  select failures into fails from private.order_lookup_failures
  where order_number = upper(p_number) and window_started_at > now() - interval '15 minutes';
  if coalesce(fails, 0) >= 10 then
    raise exception using errcode = 'PT429', message = 'Too many attempts; try again later', detail = 'throttled';
  end if;
  select id into found_id from public.orders
  where number = upper(btrim(p_number)) and tracking_token_hash = private.token_hash(p_token);
  if found_id is null then
    insert into private.order_lookup_failures as f (order_number, failures, window_started_at)
    values (upper(p_number), 1, now())
    on conflict (order_number) do update
      set failures = case when f.window_started_at > now() - interval '15 minutes' then f.failures + 1 else 1 end,
          window_started_at = case when f.window_started_at > now() - interval '15 minutes'
                                   then f.window_started_at else now() end;
  end if;
  return found_id;
end;
$$;
grant execute on function private.authorize_guest(text, text) to anon, authenticated, service_role;
