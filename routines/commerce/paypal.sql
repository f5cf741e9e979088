-- Commerce: PayPal orders and captures (migrations/20261207002600_commerce_paypal.sql).
--
-- A PayPal order pays only the order it was opened for (orders.paypal_order_id),
-- never one its custom_id names. A capture of another amount or currency
-- fulfils nothing and is refunded in full (private.record_matching_payment,
-- shared with Stripe's sessions); a capture of the right amount is the order's
-- payment through private.record_payment, so late captures, duplicates and
-- refunds follow the same rules as Stripe's.

create or replace function private.attach_paypal_order(
  p_order_id uuid, p_paypal_order_id text, p_approve_url text, p_return_url text
) returns void
  language sql
  security definer
  set search_path = ''
as $$
  update public.orders
  set paypal_order_id = p_paypal_order_id, checkout_url = p_approve_url, payment_return_url = p_return_url
  where id = p_order_id;
$$;
comment on function private.attach_paypal_order(uuid, text, text, text) is
  'Records the PayPal order opened for an order, its approval page and where the buyer returns.';

create or replace function private.order_of_paypal_order(p_paypal_order_id text) returns public.orders
  language sql stable
  security definer
  set search_path = ''
as $$
  select * from public.orders where paypal_order_id = p_paypal_order_id;
$$;

-- A PayPal capture: the payment of the order its PayPal order was opened for.
create or replace function private.record_paypal_capture(
  p_paypal_order_id text, p_capture_id text, p_amount_minor bigint, p_currency text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders := private.order_of_paypal_order(p_paypal_order_id);
begin
  if ord.id is null then
    return jsonb_build_object('order_id', null, 'result', 'unknown_order');
  end if;
  return private.record_matching_payment(ord.id, 'paypal', p_capture_id, p_amount_minor, p_currency,
                                         jsonb_build_object('paypal_order_id', p_paypal_order_id));
end;
$$;
comment on function private.record_paypal_capture(text, text, bigint, text) is
  'Records a completed PayPal capture against the order its PayPal order was opened for: {order_id, result} with '
  'result unknown_order, mismatch_refunded, mismatch_recorded, or record_payment''s outcome.';

grant execute on function
  private.attach_paypal_order(uuid, text, text, text),
  private.order_of_paypal_order(text),
  private.record_paypal_capture(text, text, bigint, text)
  to service_role;
