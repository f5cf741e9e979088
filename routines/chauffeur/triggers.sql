-- Chauffeur: every trigger on this area's tables.
-- The functions they run are in routines/chauffeur/*.sql; re-applied on every migrate.

create or replace trigger chauffeur_settings_touch before update on public.chauffeur_settings
  for each row execute function private.touch_updated_at();
create or replace trigger vehicle_classes_touch before update on public.vehicle_classes
  for each row execute function private.touch_updated_at();
create or replace trigger vehicles_touch before update on public.vehicles
  for each row execute function private.touch_updated_at();
create or replace trigger drivers_touch before update on public.drivers
  for each row execute function private.touch_updated_at();
create or replace trigger affiliates_touch before update on public.affiliates
  for each row execute function private.touch_updated_at();
create or replace trigger chauffeur_rate_rules_touch before update on public.chauffeur_rate_rules
  for each row execute function private.touch_updated_at();
create or replace trigger chauffeur_customers_touch before update on public.chauffeur_customers
  for each row execute function private.touch_updated_at();
create or replace trigger reservations_touch before update on public.reservations
  for each row execute function private.touch_updated_at();

create or replace trigger drivers_are_members before insert or update of org_id, user_id on public.drivers
  for each row execute function private.check_chauffeur_member('driver');
create or replace trigger affiliates_are_members before insert or update of org_id, user_id on public.affiliates
  for each row execute function private.check_chauffeur_member('affiliate');
create or replace trigger vehicles_check before insert or update on public.vehicles
  for each row execute function private.check_vehicle();
create or replace trigger chauffeur_customers_phone before insert or update of phone on public.chauffeur_customers
  for each row execute function private.normalise_customer_phone();
create or replace trigger reservations_transition before update on public.reservations
  for each row execute function private.check_reservation_transition();
create or replace trigger reservations_lock_assignees before insert or update on public.reservations
  for each row execute function private.lock_reservation_assignees();
create or replace trigger reservations_audit after insert or update or delete on public.reservations
  for each row execute function private.audit_row('org_id');

create or replace trigger orders_reservation_changed after update of status on public.orders
  for each row when (new.kind = 'reservation' and new.status is distinct from old.status)
  execute function private.reservation_order_changed();
comment on trigger orders_reservation_changed on public.orders is
  'A reservation''s payment moves the trip: authorised -> confirmed; released while pending -> cancelled.';
