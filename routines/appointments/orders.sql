-- Service appointments, part 3: how appointments follow their order.
--
-- Appointments sell through the generic orders of the commerce migration
-- (order kind 'appointments'); checkout creates them `held` with the order's
-- id. From then on the order's status decides, through triggers on
-- public.orders (the area-hook convention of the commerce migration, as
-- ticketing's orders_ticket_* triggers do):
--
--   pending/processing -> paid          held -> booked, one 'appointment_confirmed'
--                                       email per order (outbox, deduplicated)
--   pending/processing -> expired       held -> cancelled: cancelled is not live,
--                      -> cancelled     so the slot is free again at once
--   paid -> refunded                    booked -> cancelled (in_progress, completed
--                                       and no_show stay: that work happened)
--   expired/cancelled -> paid (late)    cancelled -> booked again, BEFORE the
--                                       order changes; if another booking took
--                                       a slot meanwhile the exclusion constraint
--                                       refuses (23P01) and we raise PT409
--                                       capacity_gone, which private.record_payment
--                                       turns into 'late_refunded' with an
--                                       automatic full refund.
--
-- There is no separate expiry job for appointment holds: a hold lives exactly
-- as long as its order's, and the existing expire-holds job closes the order
-- (private.close_unpaid_order), which cancels the appointments here.
-- The triggers are SECURITY DEFINER (search_path = ''): they run for whoever
-- moved the order (the webhook, the expiry job, an admin's refund) and must
-- write appointments that caller cannot write directly.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121001100_appointments_orders.sql.

create or replace function private.appointment_order_reclaim_late() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform private.lock_staff(array(select a.staff_id from public.appointments a
                                   where a.order_id = new.id and a.status = 'cancelled'));
  begin
    -- One statement for all of the order's appointments: either every slot is
    -- still free or the constraint refuses the lot.
    update public.appointments set status = 'booked'
    where order_id = new.id and status = 'cancelled';
  exception when exclusion_violation then
    raise exception using errcode = 'PT409', message = 'The time slot was booked while the payment was late',
      detail = 'capacity_gone';
  end;
  return new;
end;
$$;
comment on function private.appointment_order_reclaim_late() is
  'BEFORE trigger on orders (kind appointments, expired/cancelled -> paid): re-books the order''s cancelled appointments, or raises PT409 capacity_gone when a slot was taken meanwhile (record_payment then refunds).';

create or replace function private.appointment_order_book() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform private.lock_staff(array(select a.staff_id from public.appointments a
                                   where a.order_id = new.id and a.status = 'held'));
  update public.appointments set status = 'booked'
  where order_id = new.id and status = 'held';
  -- On a late payment the reclaim trigger has booked them already; either way
  -- the buyer hears once per order (the dedupe key), and only about something booked.
  if exists (select 1 from public.appointments where order_id = new.id and status = 'booked') then
    perform private.enqueue_notification(
      new.org_id, 'email', 'appointment_confirmed', new.buyer_email,
      jsonb_build_object('order_id', new.id), 'appointment_confirmed:' || new.id);
    -- ... and a text, when the customer gave a phone number (the worker skips one it cannot text).
    perform private.enqueue_notification(
      new.org_id, 'sms', 'appointment_confirmed', phone,
      jsonb_build_object('order_id', new.id), 'appointment_confirmed:sms:' || new.id)
    from (select min(btrim(a.customer_phone)) as phone from public.appointments a
          where a.order_id = new.id and a.status = 'booked' and nullif(btrim(a.customer_phone), '') is not null) p
    where p.phone is not null;
  end if;
  return new;
end;
$$;
comment on function private.appointment_order_book() is
  'AFTER trigger on orders (kind appointments, -> paid): books the order''s held appointments and queues one '
  'appointment_confirmed email per order (and SMS, when the customer gave a phone).';

create or replace function private.appointment_order_release() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  if new.status = 'refunded' then
    update public.appointments set status = 'cancelled'
    where order_id = new.id and status in ('held', 'booked');
  else
    update public.appointments set status = 'cancelled'
    where order_id = new.id and status = 'held';
  end if;
  return new;
end;
$$;
comment on function private.appointment_order_release() is
  'AFTER trigger on orders (kind appointments): an unpaid order closed (expired/cancelled) cancels its held appointments; a refunded one cancels its booked ones. Cancelled is not live, so the slots are free again.';
