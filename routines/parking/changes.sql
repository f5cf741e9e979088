-- Airport parking: cancelling and amending a booking, by the org's policy.
--
-- The policy (public.parking_policies, per org, defaults when absent) and the
-- product decide, on every path: the guest's link (reference + token), the
-- signed-in customer, the lot's staff and the service role all call the same
-- private functions, which take the booking's row lock first.
--
-- Cancelling (private.parking_cancellation_terms says what it would refund):
--   unpaid (held)                      the order is cancelled; nothing to refund
--   after entry (or once parked)       refused: PT409 not_cancellable
--   cancellation cover bought          everything paid but the cover's price
--   flexible, until cancel_until_hours
--   before entry                       everything paid less the admin fee
--   flexible, later; or not flexible   nothing (the space is still given back)
-- Refunds are queued against the booking's paid orders, its own first, then
-- its charges (the refund worker executes them at the provider); unpaid
-- charges are cancelled.
--
-- Amending (new entry and exit, same product and extras) is allowed until
-- amend_until_hours before the booked entry: PT409 amend_window_closed. The
-- new days are claimed in the same statement that gives the old ones back
-- (the capacity trigger), so a full day refuses the change and keeps the
-- booking as it was. A dearer stay raises a charge (an order of its own, paid
-- online or at the exit); a cheaper one is refunded for a flexible product or
-- one with cancellation cover, and not otherwise (a non-flexible stay made
-- shorter is no cheaper, as a cancellation would not be).
--
-- A wrong reference + token answers null rather than an error, so that
-- private.authorize_guest's count of the failure is kept (PT429 throttled
-- after 10 in 15 minutes), as for every guest link; the parking function
-- answers it 404 booking_not_found.
--
-- Error codes: booking_not_found, not_cancellable, not_amendable,
-- amend_window_closed, throttled, and those of private.quote_parking and the
-- capacity trigger.

create or replace function private.parking_policy(p_org_id uuid) returns public.parking_policies
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  p public.parking_policies;
begin
  select * into p from public.parking_policies where org_id = p_org_id;
  if not found then  -- the column defaults of migrations/*_parking_lots.sql
    p.org_id := p_org_id;
    p.cancel_until_hours := 24;
    p.admin_fee_minor := 0;
    p.amend_until_hours := 2;
    p.hold_minutes := 15;
  end if;
  return p;
end;
$$;
comment on function private.parking_policy(uuid) is 'The org''s parking policy, or the defaults when it has none.';

-- What the booking has paid and not had back, over its own order and its charges.
create or replace function private.parking_paid_minor(p_booking_id uuid) returns bigint
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(sum(p.amount_minor), 0)
         - coalesce((select sum(r.amount_minor) from public.refunds r
                     where r.status <> 'failed' and r.order_id in (
                       select b.order_id from public.parking_bookings b where b.id = p_booking_id
                       union all select c.order_id from public.parking_charges c where c.booking_id = p_booking_id)), 0)
  from public.payments p
  join public.orders o on o.id = p.order_id and o.status in ('paid', 'refunded')
  where p.order_id in (select b.order_id from public.parking_bookings b where b.id = p_booking_id
                       union all select c.order_id from public.parking_charges c where c.booking_id = p_booking_id)
    and p.provider <> 'free';
$$;

create or replace function private.parking_cancellation_terms(p_booking public.parking_bookings, p_now timestamptz)
  returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  product public.parking_products;
  policy public.parking_policies := private.parking_policy(p_booking.org_id);
  paid bigint := private.parking_paid_minor(p_booking.id);
  fee bigint;
begin
  select * into product from public.parking_products where id = p_booking.product_id;
  if p_booking.status = 'held' then
    return jsonb_build_object('cancellable', true, 'rule', 'unpaid', 'refund_minor', 0, 'fee_minor', 0);
  end if;
  if p_booking.status <> 'booked' or p_booking.entered_at is not null or p_now >= p_booking.entry_at then
    return jsonb_build_object('cancellable', false, 'rule', 'after_entry', 'refund_minor', 0, 'fee_minor', 0);
  end if;
  if p_booking.cover_minor > 0 then
    return jsonb_build_object('cancellable', true, 'rule', 'cover', 'fee_minor', 0,
                              'refund_minor', greatest(paid - p_booking.cover_minor, 0));
  end if;
  if product.flexible and p_now <= p_booking.entry_at - make_interval(hours => policy.cancel_until_hours) then
    fee := least(policy.admin_fee_minor, paid);
    return jsonb_build_object('cancellable', true, 'rule', 'flexible', 'fee_minor', fee, 'refund_minor', paid - fee);
  end if;
  return jsonb_build_object('cancellable', true, 'rule', case when product.flexible then 'flexible_late' else 'non_flexible' end,
                            'refund_minor', 0, 'fee_minor', 0);
end;
$$;
comment on function private.parking_cancellation_terms(public.parking_bookings, timestamptz) is
  'What cancelling now would do: {cancellable, rule (unpaid, after_entry, cover, flexible, flexible_late, '
  'non_flexible), refund_minor, fee_minor}.';

-- Queue refunds of p_amount over the booking's paid orders (its own first, then its charges).
create or replace function private.refund_parking_money(p_booking public.parking_bookings, p_amount bigint, p_reason text)
  returns bigint
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  owed bigint := p_amount;
  target uuid;
begin
  for target in
    select x.order_id
    from (select p_booking.order_id as order_id, 0 as rank, p_booking.created_at as at
          union all select c.order_id, 1, c.created_at from public.parking_charges c where c.booking_id = p_booking.id) x
    order by x.rank, x.at
  loop
    exit when owed <= 0;
    -- The booking's own email says what comes back: no separate refund email per order.
    owed := owed - private.queue_refund(target, owed, p_reason, false);
  end loop;
  return p_amount - owed;
end;
$$;

-- The booking a caller may change, locked: the guest by reference + token, else by id as its customer, the
-- lot's staff or the service role. Null for a wrong reference + token: not raised, so authorize_guest's count
-- of the failure survives (checked once, into a variable: in a WHERE clause it would run, and count, per row).
create or replace function private.parking_booking_for_change(p_booking_id uuid, p_number text, p_token text)
  returns public.parking_bookings
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  b public.parking_bookings;
  guest_order uuid;
begin
  if p_number is not null then
    guest_order := private.authorize_guest(p_number, p_token);
    if guest_order is null then
      return null;
    end if;
    select * into b from public.parking_bookings where order_id = guest_order for update;
  else
    select * into b from public.parking_bookings where id = p_booking_id for update;
    -- coalesce: a guest's booking has no customer, and null = anyone is null, which `not` would let through.
    if found and not (coalesce((select auth.role()), '') = 'service_role'
                      or coalesce(b.customer_user_id = (select auth.uid()), false)
                      or private.has_org_role(b.org_id, '{owner,admin,manager,staff}')) then
      b := null;
    end if;
  end if;
  if b.id is null then
    raise exception using errcode = 'PT404', detail = 'booking_not_found', message = 'No such booking';
  end if;
  return b;
end;
$$;

create or replace function private.cancel_parking_booking(p_booking public.parking_bookings, p_by text, p_now timestamptz)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  terms jsonb := private.parking_cancellation_terms(p_booking, p_now);
  refunded bigint := 0;
begin
  if not (terms ->> 'cancellable')::boolean then
    raise exception using errcode = 'PT409', detail = 'not_cancellable',
      message = 'A stay cannot be cancelled once its entry time has come';
  end if;
  if p_booking.status = 'held' then
    perform private.close_unpaid_order(p_booking.order_id, 'cancelled', 'cancelled_by_' || p_by);
  else
    update public.parking_bookings set status = 'cancelled', cancelled_at = p_now, cancel_reason = 'cancelled_by_' || p_by
    where id = p_booking.id;
    refunded := private.refund_parking_money(p_booking, (terms ->> 'refund_minor')::bigint, 'parking_cancelled');
    perform private.close_unpaid_order(c.order_id, 'cancelled', 'booking_cancelled')
    from public.parking_charges c where c.booking_id = p_booking.id;
    perform private.enqueue_notification(p_booking.org_id, 'email', 'parking_cancelled', p_booking.customer_email,
                                         jsonb_build_object('order_id', p_booking.order_id, 'refund_minor', refunded,
                                                            'rule', terms ->> 'rule'),
                                         'parking_cancelled:' || p_booking.id);
  end if;
  perform private.audit(p_booking.org_id, 'parking.cancelled', 'parking_bookings', p_booking.id::text,
                        jsonb_build_object('by', p_by, 'rule', terms ->> 'rule', 'refund_minor', refunded));
  return jsonb_build_object('booking_id', p_booking.id, 'status', 'cancelled', 'rule', terms ->> 'rule',
                            'refund_minor', refunded,
                            'fee_minor', (terms ->> 'fee_minor')::bigint);
end;
$$;

-- A charge on a booking: a pending order of its own (no hold: it waits to be paid), with its own token.
create or replace function private.open_parking_charge(p_booking public.parking_bookings,
                                                       p_reason public.parking_charge_reason, p_amount bigint,
                                                       p_description text)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  token text := private.random_token();
  ord public.orders;
  charge public.parking_charges;
begin
  insert into public.orders (org_id, number, kind, buyer_user_id, buyer_email, buyer_name, currency, subtotal_minor,
                             total_minor, tracking_token_hash, metadata)
  select p_booking.org_id, private.new_order_number(), 'parking', p_booking.customer_user_id, p_booking.customer_email,
         p_booking.customer_name, l.currency, p_amount, p_amount, private.token_hash(token),
         jsonb_build_object('parking_booking_id', p_booking.id, 'charge', p_reason)
  from public.parking_lots l where l.id = p_booking.lot_id
  returning * into ord;
  insert into public.order_items (order_id, org_id, description, quantity, unit_price_minor, metadata)
  values (ord.id, ord.org_id, p_description, 1, p_amount, jsonb_build_object('parking', p_reason));
  insert into public.parking_charges (org_id, booking_id, order_id, reason, amount_minor)
  values (p_booking.org_id, p_booking.id, ord.id, p_reason, p_amount)
  returning * into charge;
  return jsonb_build_object('charge_id', charge.id, 'reason', p_reason, 'amount_minor', p_amount,
                            'order_id', ord.id, 'order_number', ord.number, 'tracking_token', token,
                            'currency', ord.currency);
end;
$$;

create or replace function private.amend_parking_booking(p_booking public.parking_bookings, p_entry text, p_exit text,
                                                         p_by text, p_now timestamptz)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  policy public.parking_policies := private.parking_policy(p_booking.org_id);
  lot public.parking_lots;
  product public.parking_products;
  q jsonb;
  old_total bigint;
  diff bigint;
  charge jsonb;
  refunded bigint := 0;
  b public.parking_bookings;
begin
  if p_booking.status <> 'booked' or p_booking.entered_at is not null then
    raise exception using errcode = 'PT409', detail = 'not_amendable',
      message = 'Only a paid booking not yet used can be changed';
  end if;
  if p_now > p_booking.entry_at - make_interval(hours => policy.amend_until_hours) then
    raise exception using errcode = 'PT409', detail = 'amend_window_closed',
      message = format('Dates can be changed until %s hours before entry', policy.amend_until_hours);
  end if;
  select * into lot from public.parking_lots where id = p_booking.lot_id;
  select * into product from public.parking_products where id = p_booking.product_id;
  q := private.quote_parking(p_booking.lot_id, p_booking.product_id, p_entry, p_exit,
                             array(select extra_id from public.parking_booking_extras where booking_id = p_booking.id),
                             p_now);
  select p_booking.stay_minor + coalesce(sum(price_minor), 0) into old_total
  from public.parking_booking_extras where booking_id = p_booking.id;
  diff := (q ->> 'total_minor')::bigint - old_total;

  update public.parking_bookings
  set entry_at = (q ->> 'entry_instant')::timestamptz, exit_at = (q ->> 'exit_instant')::timestamptz,
      first_day = (q ->> 'first_day')::date, last_day = (q ->> 'last_day')::date,
      billable_days = (q ->> 'billable_days')::int, stay_minor = (q ->> 'stay_minor')::bigint,
      cover_minor = (q ->> 'cover_minor')::bigint
  where id = p_booking.id
  returning * into b;  -- the capacity trigger moves the days, or PT409 parking_day_full / closed
  update public.parking_booking_extras be set price_minor = (l ->> 'amount_minor')::bigint
  from jsonb_array_elements(q -> 'lines') l
  where be.booking_id = b.id and be.extra_id = (l ->> 'extra_id')::uuid;

  if diff > 0 then
    charge := private.open_parking_charge(
      b, 'amendment', diff,
      format('Change of dates: %s to %s', to_char(b.entry_at at time zone lot.timezone, 'Dy DD Mon HH24:MI'),
             to_char(b.exit_at at time zone lot.timezone, 'Dy DD Mon YYYY HH24:MI')));
  elsif diff < 0 and (product.flexible or b.cover_minor > 0) then
    refunded := private.refund_parking_money(b, -diff, 'parking_amended');
  end if;
  perform private.enqueue_notification(b.org_id, 'email', 'parking_amended', b.customer_email,
                                       jsonb_build_object('order_id', b.order_id, 'difference_minor', diff,
                                                          'refund_minor', refunded,
                                                          'charge_order_id', charge ->> 'order_id'),
                                       'parking_amended:' || b.id || ':' || extract(epoch from clock_timestamp()));
  perform private.audit(b.org_id, 'parking.amended', 'parking_bookings', b.id::text,
                        jsonb_build_object('by', p_by, 'entry_at', b.entry_at, 'exit_at', b.exit_at,
                                           'difference_minor', diff, 'refund_minor', refunded));
  return jsonb_build_object('booking', private.parking_booking_view(b), 'difference_minor', diff,
                            'refund_minor', refunded, 'charge', charge);
end;
$$;

-- The callable forms: a guest by reference + token, anyone else by booking id.
create or replace function private.parking_change(p_action text, p_booking_id uuid, p_number text, p_token text,
                                                  p_entry text, p_exit text)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  b public.parking_bookings := private.parking_booking_for_change(p_booking_id, p_number, p_token);
  by_ text := case when p_number is not null then 'guest'
                   when coalesce((select auth.role()), '') = 'service_role' then 'service'
                   when b.customer_user_id = (select auth.uid()) then 'customer'
                   else 'staff' end;
begin
  if b.id is null then
    return null;  -- a wrong reference + token (counted by the throttle)
  end if;
  return case p_action
    when 'cancel' then private.cancel_parking_booking(b, by_, now())
    when 'amend' then private.amend_parking_booking(b, p_entry, p_exit, by_, now())
    when 'terms' then private.parking_cancellation_terms(b, now())
                      || jsonb_build_object('amend_until', b.entry_at - make_interval(
                                              hours => (private.parking_policy(b.org_id)).amend_until_hours))
  end;
end;
$$;
comment on function private.parking_change(text, uuid, text, text, text, text) is
  'cancel | amend | terms for a booking, by reference + token (a guest) or by id (its customer, the lot''s staff, '
  'the service role). Null for a wrong reference + token (PT429 throttled after 10 in 15 minutes). '
  'PT404 booking_not_found, PT409 not_cancellable / not_amendable / amend_window_closed / '
  'parking_day_full / parking_day_closed, PT422 from the quote.';
grant execute on function private.parking_change(text, uuid, text, text, text, text)
  to anon, authenticated, service_role;

create or replace function public.cancel_parking_booking(booking_id uuid default null, booking_reference text default null,
                                                         tracking_token text default null) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.parking_change('cancel', booking_id, booking_reference, tracking_token, null, null);
$$;
comment on function public.cancel_parking_booking(uuid, text, text) is
  'Cancel a booking by the org''s policy: {status, rule, refund_minor, fee_minor}. A guest passes reference and token '
  '(null when they do not match).';

create or replace function public.amend_parking_booking(entry text, "exit" text, booking_id uuid default null,
                                                        booking_reference text default null,
                                                        tracking_token text default null) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.parking_change('amend', booking_id, booking_reference, tracking_token, entry, "exit");
$$;
comment on function public.amend_parking_booking(text, text, uuid, text, text) is
  'Move a booking''s entry and exit: {booking, difference_minor, refund_minor, charge}. A guest passes reference and '
  'token (null when they do not match).';

create or replace function public.parking_change_terms(booking_id uuid default null, booking_reference text default null,
                                                       tracking_token text default null) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.parking_change('terms', booking_id, booking_reference, tracking_token, null, null);
$$;
comment on function public.parking_change_terms(uuid, text, text) is
  'What cancelling now would refund, and until when the dates may be changed (null for a wrong reference + token).';
grant execute on function public.cancel_parking_booking(uuid, text, text), public.amend_parking_booking(text, text, uuid, text, text),
  public.parking_change_terms(uuid, text, text) to anon, authenticated, service_role;
