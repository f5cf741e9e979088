-- Chauffeur: what a trip costs the customer, and when (migrations/20261207002200_chauffeur_payments.sql).
--
-- private.open_reservation_order: at booking, the order the customer authorises (a card, through
-- Stripe) or pays in advance (PayPal: the quoted total is captured at once).
-- private.settle_reservation: once a trip is completed, cancelled or a no-show, the one settlement of
-- its authorisation (routines/commerce/authorisations.sql): capture the final amount (or the fee), or
-- release it; of a trip paid in advance: refund what it cost less, or leave the rest as a balance due.
-- private.reservation_order_changed: the order's payment moves the reservation (authorised or paid ->
-- confirmed; released before the trip -> cancelled).

create or replace function private.open_reservation_order(p_reservation public.reservations, p_promo_code text)
  returns uuid
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  c public.chauffeur_customers;
  margin integer := (private.chauffeur_settings_of(p_reservation.org_id)).authorisation_margin_percent;
  base bigint;
  discount bigint;
  base_item uuid;
  created uuid;
begin
  select * into c from public.chauffeur_customers where id = p_reservation.customer_id;
  -- Two lines, so a promo code (a discount off the base, as the quote says) is redeemed on the base alone:
  -- the base before the discount, and everything the quote adds to it.
  select coalesce(sum((l ->> 'amount_minor')::bigint) filter (where l ->> 'code' in ('base', 'hourly', 'distance')), 0),
         coalesce(-sum((l ->> 'amount_minor')::bigint) filter (where l ->> 'code' = 'discount'), 0)
  into base, discount
  from jsonb_array_elements(p_reservation.quote -> 'lines') l;
  insert into public.orders (org_id, number, kind, buyer_user_id, buyer_email, buyer_name, currency, subtotal_minor,
                             total_minor, tracking_token_hash, metadata)
  values (p_reservation.org_id, p_reservation.number, 'reservation', c.user_id, c.email, c.name, p_reservation.currency,
          p_reservation.total_minor + discount, p_reservation.total_minor + discount, p_reservation.tracking_token_hash,
          jsonb_build_object('reservation_id', p_reservation.id,
                             'authorise_minor', ceil(p_reservation.total_minor * (100 + margin) / 100.0)::bigint))
  returning id into created;
  insert into public.order_items (order_id, org_id, description, quantity, unit_price_minor)
  values (created, p_reservation.org_id, format('%s: %s, %s', p_reservation.number, p_reservation.quote ->> 'class',
                                                p_reservation.quote ->> 'local_pickup'), 1, base)
  returning id into base_item;
  insert into public.order_items (order_id, org_id, description, quantity, unit_price_minor)
  select created, p_reservation.org_id, 'Fees, gratuity and taxes', 1, p_reservation.total_minor + discount - base
  where p_reservation.total_minor + discount - base > 0;
  if nullif(btrim(p_promo_code), '') is not null then
    perform private.redeem_promo(created, p_promo_code, array[base_item]);
    if (select o.total_minor from public.orders o where o.id = created) <> p_reservation.total_minor then
      raise exception 'the promo code''s discount at booking differs from the quote''s';
    end if;
  end if;
  update public.reservations set order_id = created where id = p_reservation.id;
  return created;
end;
$$;
comment on function private.open_reservation_order(public.reservations, text) is
  'At booking: the order the customer authorises (the base and the rest as two lines), its promo code redeemed '
  'on the base, as the quote computed it.';

-- The fee a cancellation or no-show costs by the class's windows, and who bears it (policy_type).
create or replace function private.reservation_fee(p_reservation public.reservations, p_status public.reservation_status)
  returns bigint
  language sql stable
  set search_path = ''
as $$
  select private.percent_of(p_reservation.total_minor,
           case when p_status = 'no_show' then c.no_show_percent
                when p_reservation.pickup_at - now() >= make_interval(hours => c.free_cancel_hours) then 0
                else c.late_cancel_percent end)
  from public.vehicle_classes c where c.id = p_reservation.class_id;
$$;

-- Settle a closed trip's authorisation, once: capture the final amount (completed) or the customer's
-- fee (cancelled, no-show), else release it. An amount beyond the authorisation is a balance due. A trip
-- paid in advance is refunded the difference when it cost less, and owes the rest when it cost more.
create or replace function private.settle_reservation(p_reservation_id uuid) returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  r public.reservations;
  ord public.orders;
  owed bigint;
  paid bigint;
  charge bigint;
  lines jsonb;
begin
  select * into r from public.reservations where id = p_reservation_id for update;
  select * into ord from public.orders where id = r.order_id;
  owed := case when r.status = 'completed' then coalesce(r.final_total_minor, r.total_minor)
               when r.fee_owed_by = 'customer' then coalesce(r.fee_minor, 0) else 0 end;
  if ord.status = 'paid' and ord.authorized_minor is null then
    -- Paid in advance (PayPal captures the quote at booking): what it cost less is refunded, what it
    -- cost more is a balance due.
    paid := (select coalesce(sum(p.amount_minor), 0) from public.payments p where p.order_id = ord.id)
            - (select coalesce(sum(x.amount_minor), 0) from public.refunds x where x.order_id = ord.id and x.status <> 'failed');
    perform private.queue_refund(ord.id, paid - owed, 'reservation_' || r.status::text);
    update public.reservations set balance_due_minor = greatest(owed - paid, 0) where id = r.id;
    return;
  end if;
  if ord.id is null or ord.authorized_minor is null or ord.status <> 'processing' then
    -- Nothing authorised: all of it is due by another payment (or nothing is), and a trip that did not
    -- happen closes its unpaid order, so an authorisation arriving later is given straight back.
    update public.reservations set balance_due_minor = case when r.status = 'completed' then owed else 0 end
    where id = r.id;
    if r.status <> 'completed' and ord.status = 'pending' then
      perform private.close_unpaid_order(ord.id, 'cancelled', 'reservation_' || r.status);
    end if;
    return;
  end if;
  charge := least(owed, ord.authorized_minor);
  update public.reservations set balance_due_minor = owed - charge where id = r.id;
  if charge = 0 then
    perform private.request_settlement(ord.id, 'release');
    return;
  end if;
  lines := case
    when r.status = 'completed' and owed = charge then
      (select jsonb_agg(jsonb_build_object('description', l ->> 'rule', 'amount_minor', (l ->> 'amount_minor')::bigint))
       from jsonb_array_elements(coalesce(r.final_lines, r.quote -> 'lines')) l)
    when r.status = 'completed' then
      jsonb_build_array(jsonb_build_object('description',
        format('Trip %s (the authorised part; %s more is due separately)', r.number, owed - charge), 'amount_minor', charge))
    else jsonb_build_array(jsonb_build_object('description',
        format('%s fee for trip %s', case r.status when 'no_show' then 'No-show' else 'Late cancellation' end, r.number),
        'amount_minor', charge)) end;
  perform private.reprice_order(ord.id, lines);
  perform private.request_settlement(ord.id, 'capture', charge);
end;
$$;
comment on function private.settle_reservation(uuid) is
  'After a trip is completed, cancelled or a no-show: capture what the customer owes (never above the '
  'authorisation; the rest is balance_due_minor) or release the authorisation; a trip paid in advance is '
  'refunded what it cost less, or owes the rest.';

-- Close a live trip as cancelled (with a reason) or a no-show: the fee by the class's windows, who bears it,
-- and the settlement of its payment.
create or replace function private.close_reservation(
  p_reservation public.reservations, p_status public.reservation_status, p_reason text
) returns public.reservations
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  r public.reservations;
  fee bigint := private.reservation_fee(p_reservation, p_status);
begin
  update public.reservations
  set status = p_status, cancel_reason = case when p_status = 'cancelled' then btrim(p_reason) else cancel_reason end,
      fee_minor = fee, fee_owed_by = case when fee > 0 and p_reservation.policy_type <> 'none' then p_reservation.policy_type end
  where id = p_reservation.id
  returning * into r;
  perform private.settle_reservation(r.id);
  select * into r from public.reservations where id = r.id;
  return r;
end;
$$;

-- A guest cancels their own trip with its confirmation number and token (the class's windows decide the fee).
create or replace function private.cancel_reservation_as_guest(p_number text, p_token text, p_reason text)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  -- Checked once, before the query (in its WHERE clause it would run per row). A wrong pair answers null,
  -- not an error, so the failure it counts is kept (PT429 throttled after 10), as lookup_reservation does.
  holder uuid := private.authorize_token_holder('public.reservations', p_number, p_token);
  r public.reservations;
begin
  if holder is null then
    return null;
  end if;
  select * into r from public.reservations where id = holder for update;
  if r.status not in ('pending', 'confirmed') or r.en_route_at is not null then
    raise exception using errcode = 'PT409', detail = 'not_cancellable',
      message = 'This trip can no longer be cancelled here; please call us';
  end if;
  r := private.close_reservation(r, 'cancelled', coalesce(nullif(btrim(p_reason), ''), 'Cancelled by the customer'));
  perform private.audit(r.org_id, 'reservation.cancelled', 'reservations', r.id::text,
                        jsonb_build_object('by', 'guest', 'fee_minor', r.fee_minor));
  return jsonb_build_object('number', r.number, 'status', r.status, 'fee_minor', r.fee_minor,
                            'fee_owed_by', r.fee_owed_by, 'currency', r.currency);
end;
$$;
grant execute on function private.cancel_reservation_as_guest(text, text, text) to anon, authenticated, service_role;

create or replace function public.cancel_reservation_as_guest(confirmation_number text, tracking_token text,
                                                              reason text default null) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.cancel_reservation_as_guest(confirmation_number, tracking_token, reason);
$$;
comment on function public.cancel_reservation_as_guest(text, text, text) is
  'A guest cancels their trip: {number, status, fee_minor, fee_owed_by}. Free until the class''s window, then its '
  'percentage. Null for a wrong number + token (counted: PT429 throttled after 10); PT409 not_cancellable.';
grant execute on function public.cancel_reservation_as_guest(text, text, text) to anon, authenticated, service_role;

-- AFTER UPDATE OF status on orders (kind reservation): the payment moves the trip.
create or replace function private.reservation_order_changed() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  r public.reservations;
begin
  select * into r from public.reservations where order_id = new.id for update;
  if not found then
    return new;
  end if;
  if (new.status = 'processing' and old.status = 'pending' or new.status = 'paid' and old.status <> 'paid')
     and r.status = 'pending' then
    -- Authorised (a card), or paid in advance (PayPal): the trip is confirmed, and the customer told.
    update public.reservations set status = 'confirmed' where id = r.id;
    perform private.enqueue_notification(r.org_id, 'email', 'reservation_confirmed', new.buyer_email,
      jsonb_build_object('reservation_id', r.id), 'reservation_confirmed:' || r.id);
  elsif new.status in ('cancelled', 'expired') and r.status = 'pending' then
    -- Released before the trip was ever confirmed (e.g. by Stripe, unused): no trip without a payment.
    -- A confirmed trip is kept when its authorisation lapses (Stripe drops uncaptured ones after 7
    -- days): it is driven, and its final amount becomes a balance due (private.settle_reservation).
    update public.reservations set status = 'cancelled', cancel_reason = 'The card authorisation was released'
    where id = r.id;
  end if;
  return new;
end;
$$;
comment on function private.reservation_order_changed() is
  'AFTER UPDATE OF status on orders (kind reservation): authorised -> the trip is confirmed (email); released '
  'while the trip is still pending -> the trip is cancelled (a confirmed trip is kept, its amount then due).';
