-- A Checkout Session pays only the order it was opened for, and only in full.
--
-- The webhook used to find the order by the session's metadata.order_id or
-- client_reference_id, which anyone can set on a Payment Link of the same
-- Stripe account, and record whatever amount and currency it carried: a
-- session for 1 USD settled a £240 order, and a foreign session's "expired"
-- event could close someone else's hold. Now the order is the one whose
-- recorded checkout_session_id is the session's id (attach_checkout_session
-- records it before anyone can pay). Money is fulfilled only when session,
-- amount and currency all match what the order recorded; otherwise nothing is
-- fulfilled, the payment is recorded against the order it named and refunded
-- in full (reason payment_mismatch), and the audit log says why. A session
-- that names no order we know is recorded by the webhook and acknowledged, so
-- Stripe does not retry it for days and then disable the endpoint.
--
-- Giving such money back must not undo the order it landed on: the provider's
-- refund of a stray payment (a mismatch, or a duplicate payment) used to mark
-- the whole order refunded, voiding goods its own payment still paid for.
-- private.apply_provider_refunds now refunds the order only when none of the
-- money it received is kept; the rest of it is as in *_commerce.sql.

-- The order a Checkout Session was opened for (null: not one of ours).
create function private.order_of_checkout_session(p_session_id text) returns uuid
  language sql stable
  security definer
  set search_path = ''
as $$
  select id from public.orders where checkout_session_id = p_session_id;
$$;
comment on function private.order_of_checkout_session(text) is
  'The order whose recorded checkout_session_id is p_session_id, else null. Webhooks find orders by this, never by '
  'metadata a Payment Link could set.';

-- Money from a Checkout Session. Outcomes: those of private.record_payment, and
--   unknown_order       neither the session nor the order it names is ours: nothing written
--   mismatch_refunded   the session is not the order's, or its amount or currency differs:
--                       not fulfilled; the payment is recorded and refunded in full
--   mismatch_recorded   that payment was recorded (and refunded) before
-- Returns {"order_id", "result"}.
create function private.record_checkout_payment(
  p_session_id text, p_named_order_id uuid, p_provider_payment_id text, p_amount_minor bigint, p_currency text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
  payment_id uuid;
begin
  select * into ord from public.orders where checkout_session_id = p_session_id for update;
  if not found then
    select * into ord from public.orders where id = p_named_order_id for update;
    if not found then
      return jsonb_build_object('order_id', null, 'result', 'unknown_order');
    end if;
  end if;

  if ord.checkout_session_id is distinct from p_session_id
     or p_amount_minor is distinct from ord.total_minor
     or upper(p_currency) is distinct from ord.currency then
    insert into public.payments (org_id, order_id, provider, provider_payment_id, amount_minor, currency)
    values (ord.org_id, ord.id, 'stripe', p_provider_payment_id, greatest(coalesce(p_amount_minor, 0), 0),
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
    perform private.audit(ord.org_id, 'payment.mismatch', 'orders', ord.id::text, jsonb_build_object(
      'session_id', p_session_id, 'expected_session_id', ord.checkout_session_id,
      'amount_minor', p_amount_minor, 'expected_amount_minor', ord.total_minor,
      'currency', upper(p_currency), 'expected_currency', ord.currency,
      'provider_payment_id', p_provider_payment_id));
    return jsonb_build_object('order_id', ord.id, 'result', 'mismatch_refunded');
  end if;

  return jsonb_build_object('order_id', ord.id, 'result', private.record_payment(
    ord.id, 'stripe', p_provider_payment_id, p_amount_minor, p_currency));
end;
$$;
comment on function private.record_checkout_payment(text, uuid, text, bigint, text) is
  'Money from a Checkout Session: fulfilled (private.record_payment) only when the session is the order''s and amount '
  'and currency match; otherwise recorded, refunded in full (payment_mismatch) and audited. {order_id, result}.';

grant execute on function private.order_of_checkout_session(text) to service_role;
grant execute on function private.record_checkout_payment(text, uuid, text, bigint, text) to service_role;

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

  -- The order is refunded when none of the money it received is kept: giving back a stray
  -- payment (a duplicate, a mismatched session) leaves an order its own payment still pays for.
  if ord.status = 'paid'
     and (select coalesce(sum(p.amount_minor), 0) from public.payments p where p.order_id = ord.id)
         <= (select coalesce(sum(x.amount_minor), 0) from public.refunds x
             where x.order_id = ord.id and x.status = 'succeeded') then
    update public.orders set status = 'refunded', closed_at = now(), close_reason = 'refunded' where id = ord.id;
  end if;
  select coalesce(sum(amount_minor), 0) into refunded
  from public.refunds where payment_id = pay.id and status = 'succeeded';
  return case when refunded >= pay.amount_minor then 'fully_refunded' else 'partially_refunded' end;
end;
$$;
