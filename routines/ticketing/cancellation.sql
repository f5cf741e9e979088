-- Event cancellation: refund every paid order, void its tickets, close unpaid
-- orders, email each buyer once.
--
-- private.settle_cancelled_event does the sweep and is safe to run any number
-- of times: a paid order is refunded at most once (queue_refund takes only what
-- remains of its payment), the email is deduplicated per event and buyer, and
-- an order already closed is left alone. It runs from the AFTER trigger when an
-- event's status becomes cancelled (whoever changed it), and again from
-- public.cancel_event on an event already cancelled, to pick up a late payment.
-- Refunding is an owner's or admin's act: a manager may cancel an event that
-- has sold nothing, not one with paid orders (PT403 refunds_need_an_admin).
-- A late payment for an order of a cancelled event is refused by the reclaim
-- trigger (PT409 event_cancelled), so private.record_payment refunds it.
-- Tables: migrations/20261208000400_ticketing_event_cancellation.sql.

create or replace function private.settle_cancelled_event(p_event_id uuid) returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ev public.events;
  ord public.orders;
begin
  select * into ev from public.events where id = p_event_id;
  if ev.status is distinct from 'cancelled' then
    raise exception 'settle_cancelled_event: event % is not cancelled', p_event_id;
  end if;
  for ord in
    select * from public.orders
    where event_id = p_event_id and status in ('pending', 'processing', 'paid')
    order by id
    for update
  loop
    if ord.status = 'paid' then
      if coalesce((select auth.role()), '') <> 'service_role'
         and not private.has_org_role(ev.org_id, '{owner,admin}') then
        raise exception using errcode = 'PT403', detail = 'refunds_need_an_admin',
          message = 'This event has paid orders: only an owner or admin may cancel it, which refunds them';
      end if;
      perform private.queue_refund(ord.id, ord.total_minor, 'event_cancelled', p_notify => false);
      -- A free order (or one refunded in full at the provider already) has nothing left to send back.
      update public.orders set status = 'refunded', closed_at = now(), close_reason = 'event_cancelled'
      where id = ord.id and status = 'paid';
    else
      perform private.close_unpaid_order(ord.id, 'cancelled', 'event_cancelled');
    end if;
  end loop;
  -- One email per buyer, whatever number of orders they had; the dedupe key makes a rerun send none.
  perform private.enqueue_notification(
            ev.org_id, 'email', 'event_cancelled', min(o.buyer_email),
            jsonb_build_object('event_id', ev.id, 'buyer_email', lower(min(o.buyer_email))),
            'event_cancelled:' || ev.id || ':' || lower(o.buyer_email))
  from public.orders o
  where o.event_id = p_event_id and o.status = 'refunded' and o.close_reason = 'event_cancelled'
  group by lower(o.buyer_email);
end;
$$;
comment on function private.settle_cancelled_event(uuid) is
  'The sweep of a cancelled event (see the file header); safe to repeat.';

-- Where a cancellation stands: counted from the rows, so a rerun reports the same.
create or replace function private.event_cancellation_summary(p_event_id uuid) returns jsonb
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select jsonb_build_object(
    'event_id', e.id, 'status', e.status, 'cancelled_at', e.cancelled_at,
    'orders_refunded', (select count(*) from public.orders o
                        where o.event_id = e.id and o.status = 'refunded' and o.close_reason = 'event_cancelled'),
    'orders_closed', (select count(*) from public.orders o
                      where o.event_id = e.id and o.status = 'cancelled' and o.close_reason = 'event_cancelled'),
    'refunded_minor', (select coalesce(sum(r.amount_minor), 0) from public.refunds r
                       join public.orders o on o.id = r.order_id
                       where o.event_id = e.id and r.reason = 'event_cancelled' and r.status <> 'failed'),
    'buyers_emailed', (select count(*) from public.notification_outbox n
                       where n.template = 'event_cancelled' and n.payload ->> 'event_id' = e.id::text),
    'refunds_pending', (select coalesce(jsonb_agg(r.id order by r.created_at), '[]'::jsonb) from public.refunds r
                        join public.orders o on o.id = r.order_id
                        where o.event_id = e.id and r.status = 'pending'))
  from public.events e where e.id = p_event_id;
$$;

create or replace function private.event_cancelled() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform private.settle_cancelled_event(new.id);
  return null;
end;
$$;

create or replace function private.cancel_event(p_event_id uuid, p_reason text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  ev public.events;
begin
  select * into ev from public.events where id = p_event_id for update;
  if not found or (coalesce((select auth.role()), '') <> 'service_role'
                   and not private.has_org_role(ev.org_id, '{owner,admin,manager}')) then
    raise exception using errcode = 'PT404', detail = 'event_not_found', message = 'No such event';
  end if;
  if ev.status = 'completed' then
    raise exception using errcode = 'PT409', detail = 'event_completed', message = 'A completed event cannot be cancelled';
  end if;
  if ev.status = 'cancelled' then
    perform private.settle_cancelled_event(p_event_id);  -- whatever was paid since
  else
    update public.events
    set status = 'cancelled', cancelled_at = now(), cancel_reason = nullif(btrim(p_reason), '')
    where id = p_event_id;  -- the trigger settles it
  end if;
  return private.event_cancellation_summary(p_event_id)
    || jsonb_build_object('already_cancelled', ev.status = 'cancelled');
end;
$$;

create or replace function public.cancel_event(event_id uuid, reason text default null) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.cancel_event(event_id, reason);
$$;
comment on function public.cancel_event(uuid, text) is
  'Owners/admins (managers, for an event with nothing paid): cancel an event, refunding every paid order in full, '
  'voiding its tickets and emailing each buyer once; again on a cancelled event, settles what arrived since. '
  'PT404 event_not_found, PT409 event_completed, PT403 refunds_need_an_admin.';

grant execute on function private.cancel_event(uuid, text), public.cancel_event(uuid, text)
  to authenticated, service_role;
