-- Commerce: every trigger on this area's tables, in the order they were added.
-- The functions they run are in routines/commerce/*.sql; re-applied on every migrate.

create or replace trigger promo_codes_touch before update on public.promo_codes
  for each row execute function private.touch_updated_at();

create or replace trigger orders_touch before update on public.orders
  for each row execute function private.touch_updated_at();

create or replace trigger refunds_touch before update on public.refunds
  for each row execute function private.touch_updated_at();

create or replace trigger refunds_within_payment before insert or update of amount_minor, status on public.refunds
  for each row execute function private.check_refund_total();

create or replace trigger orders_release_promo after update of status on public.orders
  for each row when (new.status in ('expired', 'cancelled') and old.status in ('pending', 'processing'))
  execute function private.release_promo_redemption();

create or replace trigger orders_audit after update of status, disputed_at on public.orders
  for each row execute function private.audit_row('org_id');

create or replace trigger refunds_audit after insert or update of status on public.refunds
  for each row execute function private.audit_row('org_id');
