-- Commerce: PayPal beside Stripe, for every kind of order.
--
-- The buyer picks the provider at checkout. A PayPal order (Orders v2) is
-- opened for a pending order and recorded here (paypal_order_id, and the
-- approval page as checkout_url); after the buyer approves, the capture (by
-- functions/paypal-return, or the CHECKOUT.ORDER.APPROVED webhook if the buyer
-- never comes back) is recorded as the order's payment, provider 'paypal',
-- keyed by the capture id. `payment_return_url` is where the buyer goes after
-- the capture (the checkout's success_url). Functions: routines/commerce/paypal.sql.

alter table public.orders add column paypal_order_id text unique check (length(paypal_order_id) <= 64);
alter table public.orders add column payment_return_url text check (length(payment_return_url) <= 2000);
comment on column public.orders.paypal_order_id is
  'The PayPal order (Orders v2) opened for this order, when the buyer chose PayPal.';
comment on column public.orders.payment_return_url is
  'Where the buyer returns after paying by PayPal (the checkout''s success_url).';
