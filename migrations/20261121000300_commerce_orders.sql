-- Commerce: orders, their items, payments, refunds, promo codes and the
-- webhook ledger. Generic on purpose: tickets, appointments, reservations and
-- parking all sell through these tables and add their own link columns and
-- status triggers in their own migrations.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/commerce/orders.sql, routines/commerce/triggers.sql.

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

-- ===========================================================================
-- Privileged steps of the order lifecycle (service_role: webhooks, cron, functions)
-- ===========================================================================

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
