-- Row-level security for commerce: promo codes, orders, items, payments,
-- refunds, redemptions, and the webhook ledger kept out of the API.
--
-- Orders and everything hanging off them are written only by the checkout
-- RPCs and service_role jobs (webhooks, cron). Buyers read their own orders;
-- org members read their org's. Promo codes are never readable by anon.

revoke all on public.promo_codes, public.orders, public.order_items, public.promo_redemptions,
  public.payments, public.refunds from anon, authenticated;

grant select, delete on public.promo_codes to authenticated;
grant insert (org_id, code, kind, value, currency, valid_from, valid_until, max_redemptions,
              per_customer_limit, active, created_by) on public.promo_codes to authenticated;
grant update (code, kind, value, currency, valid_from, valid_until, max_redemptions,
              per_customer_limit, active) on public.promo_codes to authenticated;
grant select (id, org_id, number, kind, status, buyer_user_id, buyer_email, buyer_name, currency,
              subtotal_minor, discount_minor, total_minor, promo_code_id, hold_expires_at,
              checkout_session_id, checkout_url, payment_intent_id, paid_at, closed_at, close_reason,
              disputed_at, metadata, created_at, updated_at, event_id)
  on public.orders to authenticated;
grant select on public.order_items, public.promo_redemptions, public.payments, public.refunds
  to authenticated;

grant all on public.promo_codes, public.orders, public.order_items, public.promo_redemptions,
  public.payments, public.refunds to service_role;

alter table public.promo_codes enable row level security;
alter table public.orders enable row level security;
alter table public.order_items enable row level security;
alter table public.promo_redemptions enable row level security;
alter table public.payments enable row level security;
alter table public.refunds enable row level security;
-- The webhook ledger (private, not served by PostgREST): no API role, not even service_role;
-- the webhook RPCs record events as their definer. RLS stays on, with no policy, as a second lock.
revoke all on private.webhook_events from public, anon, authenticated, service_role;
alter table private.webhook_events enable row level security;

-- promo_codes ---------------------------------------------------------------
drop policy if exists "Promo codes are visible to event managers" on public.promo_codes;
create policy "Promo codes are visible to event managers" on public.promo_codes
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Promo codes are created by event managers" on public.promo_codes;
create policy "Promo codes are created by event managers" on public.promo_codes
  for insert to authenticated
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Promo codes are edited by event managers" on public.promo_codes;
create policy "Promo codes are edited by event managers" on public.promo_codes
  for update to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Promo codes are deleted by event managers" on public.promo_codes;
create policy "Promo codes are deleted by event managers" on public.promo_codes
  for delete to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

-- orders ----------------------------------------------------------------------
drop policy if exists "Orders are visible to their buyer and the organization" on public.orders;
create policy "Orders are visible to their buyer and the organization" on public.orders
  for select to authenticated
  using (buyer_user_id = (select auth.uid())
         or org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[]));

drop policy if exists "Order items are visible with their order" on public.order_items;
create policy "Order items are visible with their order" on public.order_items
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[])
         or order_id in (select o.id from public.orders o where o.buyer_user_id = (select auth.uid())));

drop policy if exists "Payments are visible with their order" on public.payments;
create policy "Payments are visible with their order" on public.payments
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[])
         or order_id in (select o.id from public.orders o where o.buyer_user_id = (select auth.uid())));

drop policy if exists "Refunds are visible with their order" on public.refunds;
create policy "Refunds are visible with their order" on public.refunds
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[])
         or order_id in (select o.id from public.orders o where o.buyer_user_id = (select auth.uid())));

drop policy if exists "Promo redemptions are visible to event managers" on public.promo_redemptions;
create policy "Promo redemptions are visible to event managers" on public.promo_redemptions
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

-- Settlements of authorised orders (capture or release): the worker's queue, no API role's.
revoke all on private.payment_settlements from public, anon, authenticated, service_role;
alter table private.payment_settlements enable row level security;

-- Saved payment methods and provider customers: their owner reads them; only the payment-methods function
-- (service role) writes and removes them, after the provider has confirmed or detached the method.
revoke all on public.payment_customers, public.saved_payment_methods from anon, authenticated;
grant select on public.payment_customers, public.saved_payment_methods to authenticated;
grant all on public.payment_customers, public.saved_payment_methods to service_role;
alter table public.payment_customers enable row level security;
alter table public.saved_payment_methods enable row level security;

drop policy if exists "Provider customers are visible to their user" on public.payment_customers;
create policy "Provider customers are visible to their user" on public.payment_customers
  for select to authenticated using (user_id = (select auth.uid()));

drop policy if exists "Saved payment methods are visible to their owner" on public.saved_payment_methods;
create policy "Saved payment methods are visible to their owner" on public.saved_payment_methods
  for select to authenticated using (user_id = (select auth.uid()));
