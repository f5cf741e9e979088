-- Airport parking: every trigger on this area's tables, and its hooks on public.orders.
-- The functions they run are in routines/parking/*.sql; re-applied on every migrate.

create or replace trigger parking_lots_touch before update on public.parking_lots
  for each row execute function private.touch_updated_at();

create or replace trigger parking_lots_audit after insert or update or delete on public.parking_lots
  for each row execute function private.audit_row('org_id');

create or replace trigger parking_products_touch before update on public.parking_products
  for each row execute function private.touch_updated_at();

create or replace trigger parking_products_audit after insert or update or delete on public.parking_products
  for each row execute function private.audit_row('org_id');

create or replace trigger parking_extras_touch before update on public.parking_extras
  for each row execute function private.touch_updated_at();

create or replace trigger parking_policies_touch before update on public.parking_policies
  for each row execute function private.touch_updated_at();

create or replace trigger parking_policies_audit after insert or update or delete on public.parking_policies
  for each row execute function private.audit_row('org_id');

create or replace trigger parking_bookings_touch before update on public.parking_bookings
  for each row execute function private.touch_updated_at();

create or replace trigger parking_bookings_count_days
  after insert or delete or update of status, lot_id, first_day, last_day, channel on public.parking_bookings
  for each row execute function private.count_parking_days();
comment on trigger parking_bookings_count_days on public.parking_bookings is
  'The only writer of parking_days counts: claims a stay''s days in date order, or PT409 parking_day_full / closed.';

create or replace trigger orders_parking_reclaim before update of status on public.orders
  for each row when (new.kind = 'parking' and new.status = 'paid' and old.status in ('expired', 'cancelled'))
  execute function private.parking_order_reclaim_late();
comment on trigger orders_parking_reclaim on public.orders is
  'A late payment for a parking order re-takes its days or is refused with PT409 capacity_gone.';

create or replace trigger orders_parking_book after update of status on public.orders
  for each row when (new.kind = 'parking' and new.status = 'paid' and old.status <> 'paid')
  execute function private.parking_order_book();
comment on trigger orders_parking_book on public.orders is
  'A paid parking order books its held stay and queues the confirmation.';

create or replace trigger orders_parking_release after update of status on public.orders
  for each row when (new.kind = 'parking' and (
       (new.status in ('expired', 'cancelled') and old.status in ('pending', 'processing'))
    or (new.status = 'refunded' and old.status = 'paid')))
  execute function private.parking_order_release();
comment on trigger orders_parking_release on public.orders is
  'A parking order that expires, is cancelled unpaid or is refunded frees its stay''s days.';
