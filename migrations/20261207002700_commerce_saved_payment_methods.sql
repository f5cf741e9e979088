-- Commerce: saved payment methods. Provider ids only, never card numbers.
--
-- A signed-in user's customer at each provider (a Stripe Customer, the PayPal
-- vault's customer id), and the methods saved there: a Stripe PaymentMethod
-- (saved through a SetupIntent) or a PayPal vault payment token. Only what a
-- list needs to show is kept beside the id (brand, last four digits, expiry,
-- a PayPal email); the card itself stays at the provider. Rows are written by
-- the payment-methods function after the provider confirms them, read by
-- their owner only (policies/commerce.sql), removed by their owner through that
-- function, which detaches them at the provider first, and reused at checkout
-- (`saved_method_id`) by their owner only.

create table public.payment_customers (
  user_id uuid not null references public.profiles (id) on delete cascade,
  provider text not null check (provider in ('stripe', 'paypal')),
  customer_id text not null check (length(customer_id) between 1 and 100),
  created_at timestamptz not null default now(),
  primary key (user_id, provider),
  unique (provider, customer_id)
);
comment on table public.payment_customers is 'A user''s customer id at a payment provider (Stripe Customer, PayPal vault customer).';

create table public.saved_payment_methods (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  provider text not null check (provider in ('stripe', 'paypal')),
  provider_method_id text not null check (length(provider_method_id) between 1 and 100),
  brand text check (length(brand) <= 30),
  last4 text check (last4 ~ '^[0-9]{4}$'),
  exp_month integer check (exp_month between 1 and 12),
  exp_year integer check (exp_year between 2000 and 2100),
  wallet_email text check (length(wallet_email) <= 320),
  created_at timestamptz not null default now(),
  unique (provider, provider_method_id)
);
comment on table public.saved_payment_methods is
  'A payment method saved at its provider: the provider''s id and what a list shows (brand, last four, expiry, '
  'PayPal email). Never a card number.';
create index saved_payment_methods_user_id_idx on public.saved_payment_methods (user_id);

insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  ('payment_customers', 'user_id', null, true, 'the user''s own account link, deleted with the account'),
  ('payment_customers', 'customer_id', null, true, 'a provider''s id for the user''s own account, deleted with it'),
  ('saved_payment_methods', 'user_id', null, true, 'the user''s own account link, deleted with the account'),
  ('saved_payment_methods', 'wallet_email', null, true, 'the user''s own PayPal email, deleted with the account');
