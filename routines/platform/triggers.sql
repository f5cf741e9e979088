-- Platform: every trigger on this area's tables, in the order they were added.
-- The functions they run are in routines/platform/*.sql; re-applied on every migrate.

create or replace trigger profiles_touch before update on public.profiles
  for each row execute function private.touch_updated_at();

create or replace trigger on_auth_user_saved
  after insert or update of email, phone on auth.users
  for each row execute function private.sync_profile_from_auth();

create or replace trigger organizations_touch before update on public.organizations
  for each row execute function private.touch_updated_at();

create or replace trigger memberships_touch before update on public.memberships
  for each row execute function private.touch_updated_at();

create or replace trigger memberships_audit
  after insert or update or delete on public.memberships
  for each row execute function private.audit_row('org_id');

create or replace trigger invitations_audit
  after insert or update or delete on public.invitations
  for each row execute function private.audit_row('org_id');

create or replace trigger organizations_audit
  after update on public.organizations
  for each row execute function private.audit_row('id');

create or replace trigger feature_flags_audit
  after insert or update or delete on public.feature_flags
  for each row execute function private.audit_row('org_id');
