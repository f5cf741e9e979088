-- An order is written on every checkout, and each index on it is one more insert in that
-- transaction (benchmarks/RESULTS.md, issue #16 item 10). Most of these columns are empty when an
-- order is placed (no user for a guest, no promo code, no Stripe or PayPal id yet, no event for an
-- appointment), and nothing looks up the empty ones: each index keeps only the rows that have a
-- value. A unique index without its nulls is the same rule (nulls never collide), and a foreign
-- key's `where col = $1` is answered by an index `where col is not null`.

alter table public.orders drop constraint orders_idempotency_key_key;
create unique index orders_idempotency_key_key on public.orders (idempotency_key) where idempotency_key is not null;
alter table public.orders drop constraint orders_checkout_session_id_key;
create unique index orders_checkout_session_id_key on public.orders (checkout_session_id)
  where checkout_session_id is not null;
alter table public.orders drop constraint orders_paypal_order_id_key;
create unique index orders_paypal_order_id_key on public.orders (paypal_order_id) where paypal_order_id is not null;

drop index public.orders_buyer_user_id_idx;
create index orders_buyer_user_id_idx on public.orders (buyer_user_id) where buyer_user_id is not null;
drop index public.orders_promo_code_id_idx;
create index orders_promo_code_id_idx on public.orders (promo_code_id) where promo_code_id is not null;
drop index public.orders_payment_intent_id_idx;
create index orders_payment_intent_id_idx on public.orders (payment_intent_id) where payment_intent_id is not null;
drop index public.orders_event_id_idx;
create index orders_event_id_idx on public.orders (event_id) where event_id is not null;

drop index public.order_items_ticket_tier_id_idx;
create index order_items_ticket_tier_id_idx on public.order_items (ticket_tier_id) where ticket_tier_id is not null;
drop index public.order_items_service_id_idx;
create index order_items_service_id_idx on public.order_items (service_id) where service_id is not null;

-- A seat without an order is found through ticket_seats_free_idx; this one finds an order's seats.
drop index private.ticket_seats_order_id_idx;
create index ticket_seats_order_id_idx on private.ticket_seats (order_id) where order_id is not null;
