-- Comms: every trigger on this area's tables.
-- The functions they run are in routines/comms/*.sql; re-applied on every migrate.

create or replace trigger notification_outbox_language before insert on public.notification_outbox
  for each row execute function private.notification_language();

create or replace trigger auth_user_welcome after insert or update of email_confirmed_at on auth.users
  for each row execute function private.welcome_confirmed_user();
