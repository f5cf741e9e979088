-- Stray money: what a security review of *_checkout_session_checks.sql found.
--
-- 1. A session that is not ours but names one of our orders (a Payment Link's
--    client_reference_id can be set by any buyer) was attached to that order
--    and refunded in full: anyone could get another sale of the merchant's
--    refunded by naming an order id. Such money is now never attached to an
--    order nor refunded (it is not our sale); the named order's audit log
--    records the attempt (payment.foreign_session).
-- 2. A mismatched payment on the order's own session is refunded and the order
--    closed (payment_mismatch): the session is spent, so the order could
--    otherwise stay pending for ever with its capacity held.
-- 3. Money that did not pay the order (a duplicate payment) no longer decides
--    the order's refunds: an organiser's refund takes the order's own payment,
--    and the order is refunded when its own payment is (not when a stray one is).
-- 4. The public placing RPCs' request hash covers every argument, so a replayed
--    key only ever matches the very same request (buyer included).
-- Functions redefined here are otherwise as in *_commerce.sql,
-- *_checkout_session_checks.sql, *_ticketing.sql and *_appointment_booking.sql.

-- Money from a Checkout Session. Outcomes: those of private.record_payment, and
--   unknown_order      the session is not one an order of ours was opened for, and names none
--   foreign_session    not our session, but its metadata names one of our orders: nothing is
--                      written to that order and nothing refunded (it is not our sale to refund);
--                      the audit log of the named order says what was tried
--   mismatch_refunded  the order's own session, another amount or currency: not fulfilled; the
--                      payment is recorded and refunded in full, the order closed (its session is
--                      spent) and its capacity released
--   mismatch_recorded  that payment was recorded before
-- Returns {"order_id", "result"}.
create or replace function private.record_checkout_payment(
  p_session_id text, p_named_order_id uuid, p_provider_payment_id text, p_amount_minor bigint, p_currency text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
  named public.orders;
  payment_id uuid;
begin
  select * into ord from public.orders where checkout_session_id = p_session_id for update;
  if not found then
    select * into named from public.orders where id = p_named_order_id;
    if not found then
      return jsonb_build_object('order_id', null, 'result', 'unknown_order');
    end if;
    perform private.audit(named.org_id, 'payment.foreign_session', 'orders', named.id::text, jsonb_build_object(
      'session_id', p_session_id, 'order_session_id', named.checkout_session_id, 'amount_minor', p_amount_minor,
      'currency', upper(p_currency), 'provider_payment_id', p_provider_payment_id));
    return jsonb_build_object('order_id', null, 'result', 'foreign_session');
  end if;

  if p_amount_minor is distinct from ord.total_minor or upper(p_currency) is distinct from ord.currency then
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
      'session_id', p_session_id, 'amount_minor', p_amount_minor, 'expected_amount_minor', ord.total_minor,
      'currency', upper(p_currency), 'expected_currency', ord.currency,
      'provider_payment_id', p_provider_payment_id));
    perform private.close_unpaid_order(ord.id, 'cancelled', 'payment_mismatch');
    return jsonb_build_object('order_id', ord.id, 'result', 'mismatch_refunded');
  end if;

  return jsonb_build_object('order_id', ord.id, 'result', private.record_payment(
    ord.id, 'stripe', p_provider_payment_id, p_amount_minor, p_currency));
end;
$$;
comment on function private.record_checkout_payment(text, uuid, text, bigint, text) is
  'Money from a Checkout Session, for the order it was opened for only: fulfilled (private.record_payment) when '
  'amount and currency match; otherwise recorded, refunded in full, audited and the order closed. A session that is '
  'not ours is never attached or refunded (foreign_session, audited on the order it names). {order_id, result}.';

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

  select coalesce(sum(amount_minor), 0) into refunded
  from public.refunds where payment_id = pay.id and status = 'succeeded';
  -- The order is refunded when its own payment (the one that paid it) is: giving back a stray
  -- payment (a duplicate) leaves an order its own payment still pays for.
  if ord.status = 'paid' and pay.provider_payment_id = ord.payment_intent_id and refunded >= pay.amount_minor then
    update public.orders set status = 'refunded', closed_at = now(), close_reason = 'refunded' where id = ord.id;
  end if;
  return case when refunded >= pay.amount_minor then 'fully_refunded' else 'partially_refunded' end;
end;
$$;

create or replace function private.request_refund(
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
  -- The payment that paid the order; a stray one (a duplicate) has its own automatic refund.
  select * into pay from public.payments
  where order_id = ord.id and provider <> 'free'
  order by provider_payment_id is distinct from ord.payment_intent_id, created_at
  limit 1;
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

create or replace function public.place_ticket_order(
  event_id uuid, items jsonb, buyer_email text default null, buyer_name text default null,
  promo_code text default null, idempotency_key text default null
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.place_ticket_order(
    place_ticket_order.event_id, place_ticket_order.items,
    place_ticket_order.buyer_email, place_ticket_order.buyer_name,
    place_ticket_order.promo_code, place_ticket_order.idempotency_key,
    md5(jsonb_build_array(place_ticket_order.event_id, place_ticket_order.items, place_ticket_order.buyer_email,
                          place_ticket_order.buyer_name, place_ticket_order.promo_code)::text));
end;
$$;

create or replace function public.place_appointment_order(
  org_id uuid, items jsonb, postcode text, buyer_email text default null, buyer_name text default null,
  buyer_phone text default null, address text default null, promo_code text default null,
  idempotency_key text default null
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.place_appointment_order(
    place_appointment_order.org_id, place_appointment_order.items, place_appointment_order.postcode,
    place_appointment_order.buyer_email, place_appointment_order.buyer_name,
    place_appointment_order.buyer_phone, place_appointment_order.address,
    place_appointment_order.promo_code, place_appointment_order.idempotency_key,
    md5(jsonb_build_array(place_appointment_order.org_id, place_appointment_order.items,
                          place_appointment_order.postcode, place_appointment_order.buyer_email,
                          place_appointment_order.buyer_name, place_appointment_order.buyer_phone,
                          place_appointment_order.address, place_appointment_order.promo_code)::text),
    null);
end;
$$;
