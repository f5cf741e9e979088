-- Commerce: authorise now, capture later (migrations/20261207002100_commerce_authorisations.sql).

-- What the holder of an order's number and token may authorise: an order whose area sells it this
-- way (its metadata names authorise_minor, the total plus any margin, e.g. for wait time). Any other
-- order is paid through Checkout: authorising it would hold its capacity with nothing ever captured.
create or replace function private.order_to_authorise(p_number text, p_token text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  -- Checked once, before the query (in its WHERE clause it would run per row). A wrong pair answers null,
  -- not an error, so the failure it counts is kept; the caller answers 404 after the transaction.
  holder uuid := private.authorize_token_holder('public.orders', p_number, p_token);
  ord public.orders;
begin
  if holder is null then
    return null;
  end if;
  select * into ord from public.orders where id = holder;
  if ord.status <> 'pending' or ord.checkout_session_id is not null or ord.total_minor <= 0
     or not ord.metadata ? 'authorise_minor' then
    raise exception using errcode = 'PT409', detail = 'not_authorisable',
      message = format('Order %s is not waiting for a card authorisation (it is %s)', ord.number, ord.status);
  end if;
  return jsonb_build_object('order_id', ord.id, 'number', ord.number, 'currency', ord.currency,
    'amount_minor', greatest(ord.total_minor, (ord.metadata ->> 'authorise_minor')::bigint),
    'buyer_email', ord.buyer_email, 'payment_intent_id', ord.payment_intent_id, 'kind', ord.kind,
    'total_minor', ord.total_minor, 'paypal_order_id', ord.paypal_order_id, 'checkout_url', ord.checkout_url);
end;
$$;
grant execute on function private.order_to_authorise(text, text) to anon, authenticated, service_role;

-- The PaymentIntent opened for a pending order (service role): its first one is kept.
create or replace function private.attach_payment_intent(p_order_id uuid, p_payment_intent_id text) returns boolean
  language sql
  security definer
  set search_path = ''
as $$
  update public.orders set payment_intent_id = p_payment_intent_id
  where id = p_order_id and status = 'pending'
    and (payment_intent_id is null or payment_intent_id = p_payment_intent_id)
  returning true;
$$;

-- Stripe says the card is authorised (payment_intent.amount_capturable_updated). Found only by the
-- order's own recorded PaymentIntent, never by metadata. {order_id, result}: authorised; unchanged (it
-- was authorised, or paid, already: late or repeated news); release (the order was closed meanwhile:
-- the authorisation is given back); or unknown_payment.
create or replace function private.record_authorisation(p_payment_intent_id text, p_amount_minor bigint, p_currency text)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
begin
  select * into ord from public.orders
  where payment_intent_id = p_payment_intent_id and checkout_session_id is null for update;
  if not found then
    return jsonb_build_object('order_id', null, 'result', 'unknown_payment');
  end if;
  if ord.status = 'pending' and upper(p_currency) = ord.currency and p_amount_minor >= ord.total_minor then
    update public.orders set authorized_minor = p_amount_minor, status = 'processing' where id = ord.id;
    return jsonb_build_object('order_id', ord.id, 'result', 'authorised');
  end if;
  if ord.status in ('processing', 'paid', 'refunded') then
    return jsonb_build_object('order_id', ord.id, 'result', 'unchanged');  -- late or repeated news
  end if;
  insert into private.payment_settlements (order_id, action) values (ord.id, 'release') on conflict do nothing;
  return jsonb_build_object('order_id', ord.id, 'result', 'release');
end;
$$;

-- An area settles an authorised order, once: capture p_amount (never above the authorisation) or release.
create or replace function private.request_settlement(
  p_order_id uuid, p_action public.settlement_action, p_amount_minor bigint default null
) returns boolean
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
begin
  select * into ord from public.orders where id = p_order_id for update;
  if ord.authorized_minor is null or ord.status <> 'processing' then
    return false;  -- nothing authorised: nothing to capture or give back
  end if;
  if p_action = 'capture' and (p_amount_minor is null or p_amount_minor <= 0 or p_amount_minor > ord.authorized_minor) then
    raise exception using errcode = 'PT409', detail = 'over_authorisation',
      message = format('Capturing %s needs a new payment: %s is authorised', p_amount_minor, ord.authorized_minor);
  end if;
  insert into private.payment_settlements (order_id, action, amount_minor)
  values (ord.id, p_action, case when p_action = 'capture' then p_amount_minor end)
  on conflict (order_id) do nothing;
  return found;
end;
$$;

-- The order's lines and totals as the area now knows them (before a capture): [{description, amount_minor}];
-- a negative line (a discount) is the order's discount.
create or replace function private.reprice_order(p_order_id uuid, p_lines jsonb) returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ord public.orders;
  subtotal bigint;
  discount bigint;
begin
  select * into ord from public.orders where id = p_order_id for update;
  if ord.status not in ('pending', 'processing') then
    raise exception 'order % is %: its lines are final', p_order_id, ord.status;
  end if;
  delete from public.order_items where order_id = ord.id;
  insert into public.order_items (order_id, org_id, description, quantity, unit_price_minor)
  select ord.id, ord.org_id, left(x ->> 'description', 300), 1, (x ->> 'amount_minor')::bigint
  from jsonb_array_elements(p_lines) x where (x ->> 'amount_minor')::bigint > 0;
  select coalesce(sum(unit_price_minor), 0) into subtotal from public.order_items where order_id = ord.id;
  select coalesce(-sum((x ->> 'amount_minor')::bigint), 0) into discount
  from jsonb_array_elements(p_lines) x where (x ->> 'amount_minor')::bigint < 0;
  update public.orders set subtotal_minor = subtotal, discount_minor = discount, total_minor = subtotal - discount
  where id = ord.id;
end;
$$;

-- The settlement worker (service role): claim due settlements, then mark each done or failed (backoff).
create or replace function private.claim_settlements(p_limit integer)
  returns table (order_id uuid, action public.settlement_action, amount_minor bigint, payment_intent_id text)
  language sql
  security definer
  set search_path = ''
as $$
  update private.payment_settlements s
  set attempts = s.attempts + 1, next_attempt_at = now() + interval '2 minutes'
  from public.orders o
  where o.id = s.order_id and s.order_id in (
    select d.order_id from private.payment_settlements d
    where d.done_at is null and d.next_attempt_at <= now()
    order by d.next_attempt_at limit p_limit for update skip locked)
  returning s.order_id, s.action, s.amount_minor, o.payment_intent_id;
$$;

create or replace function private.settlement_done(p_order_id uuid, p_error text default null) returns void
  language sql
  security definer
  set search_path = ''
as $$
  update private.payment_settlements
  set done_at = case when p_error is null then now() end, last_error = left(p_error, 2000),
      next_attempt_at = case when p_error is null then next_attempt_at
                             else now() + least(interval '1 hour', interval '30 seconds' * power(2, attempts - 1)) end
  where order_id = p_order_id and done_at is null;
$$;

grant execute on function
  private.attach_payment_intent(uuid, text),
  private.request_settlement(uuid, public.settlement_action, bigint),
  private.record_authorisation(text, bigint, text),
  private.claim_settlements(integer),
  private.settlement_done(uuid, text)
  to service_role;
