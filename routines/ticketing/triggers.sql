-- Ticketing: every trigger on this area's tables, in the order they were added.
-- The functions they run are in routines/ticketing/*.sql; re-applied on every migrate.

create or replace trigger venues_touch before update on public.venues
  for each row execute function private.touch_updated_at();

create or replace trigger events_touch before update on public.events
  for each row execute function private.touch_updated_at();

create or replace trigger events_same_org before insert or update of venue_id, org_id on public.events
  for each row execute function private.check_ticketing_same_org();

create or replace trigger events_transition before update of status on public.events
  for each row execute function private.check_event_transition();

create or replace trigger events_audit after insert or update or delete on public.events
  for each row execute function private.audit_row('org_id');

create or replace trigger ticket_tiers_touch before update on public.ticket_tiers
  for each row execute function private.touch_updated_at();

create or replace trigger ticket_tiers_audit after insert or update or delete on public.ticket_tiers
  for each row execute function private.audit_row('org_id');

create or replace trigger ticket_tiers_same_org before insert or update of event_id, org_id on public.ticket_tiers
  for each row execute function private.check_ticketing_same_org();

create or replace trigger ticket_tiers_seats after insert or update of capacity on public.ticket_tiers
  for each row execute function private.sync_tier_seats();

create or replace trigger promo_code_tiers_same_org before insert or update on public.promo_code_tiers
  for each row execute function private.check_ticketing_same_org();

create or replace trigger tickets_touch before update on public.tickets
  for each row execute function private.touch_updated_at();

create or replace trigger orders_ticket_reclaim before update of status on public.orders
  for each row when (new.kind = 'tickets' and new.status = 'paid' and old.status in ('expired', 'cancelled'))
  execute function private.ticket_order_reclaim_late();

create or replace trigger orders_ticket_issue after update of status on public.orders
  for each row when (new.kind = 'tickets' and new.status = 'paid' and old.status <> 'paid')
  execute function private.ticket_order_issue();

create or replace trigger orders_ticket_release after update of status on public.orders
  for each row when (new.kind = 'tickets' and (
       (new.status in ('expired', 'cancelled') and old.status in ('pending', 'processing'))
    or (new.status = 'refunded' and old.status = 'paid')))
  execute function private.ticket_order_release();

create or replace trigger wizard_sessions_touch before update on public.wizard_sessions
  for each row execute function private.touch_updated_at();

create or replace trigger wizard_sessions_check before insert or update of org_id, owner_id, event_id
  on public.wizard_sessions
  for each row execute function private.check_wizard_session();

create or replace trigger events_cancelled after update of status on public.events
  for each row when (new.status = 'cancelled' and old.status is distinct from 'cancelled')
  execute function private.event_cancelled();
