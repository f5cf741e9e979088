-- Commerce: orders paid by authorising first and capturing later (a
-- chauffeur trip is authorised at booking and captured after it, at its final
-- amount), for any kind of order.
--
-- The buyer authorises a Stripe PaymentIntent with manual capture
-- (functions/authorise-payment); its webhook records the authorised amount
-- on the order (orders.authorized_minor, status processing). The area then
-- asks, once, for the order's settlement: capture an amount never above what
-- was authorised, or release the authorisation. private.payment_settlements
-- is that request, carried out at Stripe by a worker
-- (functions/settle-payments, cron) with the order id as idempotency key;
-- Stripe's webhooks then record the payment (payment_intent.succeeded) or
-- close the order (payment_intent.canceled). Functions:
-- routines/commerce/authorisations.sql.

alter table public.orders add column authorized_minor bigint check (authorized_minor >= 0);
comment on column public.orders.authorized_minor is
  'For an order paid by authorise-then-capture: the amount the buyer''s card is authorised for.';

create type public.settlement_action as enum ('capture', 'release');

create table private.payment_settlements (
  order_id uuid primary key references public.orders (id) on delete cascade,
  action public.settlement_action not null,
  amount_minor bigint check (amount_minor > 0),
  requested_at timestamptz not null default now(),
  next_attempt_at timestamptz not null default now(),
  attempts integer not null default 0,
  done_at timestamptz,
  last_error text,
  check ((action = 'capture') = (amount_minor is not null))
);
comment on table private.payment_settlements is
  'Per authorised order, once: capture amount_minor (never above orders.authorized_minor) or release; done at Stripe '
  'by the settle-payments worker.';
create index payment_settlements_due_idx on private.payment_settlements (next_attempt_at) where done_at is null;
