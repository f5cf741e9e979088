-- Comms: every trigger on this area's tables.
-- The functions they run are in routines/comms/*.sql; re-applied on every migrate.

create or replace trigger notification_outbox_language before insert on public.notification_outbox
  for each row execute function private.notification_language();
