-- Member app: paid tiers through Stripe subscriptions. A member's subscription as Stripe last told us
-- (the customer.subscription.* webhooks, each applying the subscription's current state, so their order
-- does not matter); the member's tier (member_settings.tier) follows it. Functions:
-- routines/member/subscriptions.sql; RLS: policies/member.sql (the member reads their own).

create table public.member_subscriptions (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  subscription_id text not null unique check (length(subscription_id) <= 100),
  customer_id text check (length(customer_id) <= 100),
  status text not null check (status in ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due',
                                         'canceled', 'unpaid', 'paused')),
  price_lookup_key text check (length(price_lookup_key) <= 200),
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  updated_at timestamptz not null default now()
);
comment on table public.member_subscriptions is
  'A member''s Stripe subscription as last seen: status, plan, period end, whether it ends then.';

insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  ('member_subscriptions', 'user_id', null, true, 'the member''s own subscription, deleted with the account'),
  ('member_subscriptions', 'customer_id', null, true, 'the member''s own Stripe customer id, deleted with the account');
