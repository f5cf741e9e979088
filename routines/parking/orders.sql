-- Airport parking: how a booking follows its order.
--
-- Parking sells through the generic orders (kind 'parking'). The order's
-- status decides, through triggers on public.orders (the commerce area-hook
-- convention; routines/parking/triggers.sql):
--
--   pending/processing -> paid          held -> booked; one parking_confirmed
--                                       email (with the QR) and SMS per order
--   pending/processing -> expired       held -> cancelled: its days are free
--                      -> cancelled     again at once
--   paid -> refunded                    booked -> cancelled (a car parked or
--                                       gone stays: that stay happened)
--   expired/cancelled -> paid (late)    cancelled -> booked again, BEFORE the
--                                       order changes; a day filled meanwhile
--                                       makes the capacity trigger refuse, and
--                                       we raise PT409 capacity_gone, which
--                                       private.record_payment turns into an
--                                       automatic refund.
-- A charge order (parking_charges) moves no booking: it is money owed on one.
-- The triggers are SECURITY DEFINER: they run for whoever moved the order.

create or replace function private.parking_order_reclaim_late() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  update public.parking_bookings set status = 'booked', cancelled_at = null, cancel_reason = null
  where order_id = new.id and status = 'cancelled';
  return new;
exception when sqlstate 'PT409' then
  raise exception using errcode = 'PT409', message = 'The car park filled up while the payment was late',
    detail = 'capacity_gone';
end;
$$;
comment on function private.parking_order_reclaim_late() is
  'BEFORE trigger on orders (kind parking, expired/cancelled -> paid): re-takes the booking''s days, or PT409 capacity_gone.';

create or replace function private.parking_order_book() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  b public.parking_bookings;
begin
  update public.parking_bookings set status = 'booked' where order_id = new.id and status = 'held';
  select * into b from public.parking_bookings where order_id = new.id and status = 'booked';
  if found then
    perform private.enqueue_notification(new.org_id, 'email', 'parking_confirmed', b.customer_email,
                                         jsonb_build_object('order_id', new.id), 'parking_confirmed:' || new.id);
    if b.customer_phone is not null then
      perform private.enqueue_notification(new.org_id, 'sms', 'parking_confirmed', b.customer_phone,
                                           jsonb_build_object('order_id', new.id), 'parking_confirmed:sms:' || new.id);
    end if;
  end if;
  return new;
end;
$$;
comment on function private.parking_order_book() is
  'AFTER trigger on orders (kind parking, -> paid): books the held stay and queues its confirmation (email, SMS).';

create or replace function private.parking_order_release() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  update public.parking_bookings
  set status = 'cancelled', cancelled_at = coalesce(cancelled_at, now()),
      cancel_reason = coalesce(cancel_reason, 'order_' || new.status::text)
  where order_id = new.id
    and status = any (case when new.status = 'refunded' then '{held,booked}'::public.parking_status[]
                           else '{held}'::public.parking_status[] end);
  return new;
end;
$$;
comment on function private.parking_order_release() is
  'AFTER trigger on orders (kind parking): an unpaid order closed frees its held stay; a refunded one its booked stay.';
