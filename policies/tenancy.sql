-- Row-level security for tenancy and identity.
--
-- Declarative: re-applied on every migrate. Grants first (a policy never gives
-- back what a grant withheld), then RLS on, then one policy per role and
-- command, named as a sentence. Membership and invitation writes happen only
-- through the RPCs in the tenancy migration; the audit log is written only by
-- triggers.

-- ---------------------------------------------------------------------------
-- Grants: anon gets nothing here; authenticated gets only what policies allow.
-- ---------------------------------------------------------------------------
revoke all on public.profiles, public.organizations, public.memberships,
  public.invitations, public.audit_log from anon, authenticated;

grant select on public.profiles to authenticated;
grant update (full_name, phone, avatar_url) on public.profiles to authenticated;
grant select, delete on public.organizations to authenticated;
grant update (name, timezone, currency, country, language, settings) on public.organizations to authenticated;
grant select on public.memberships to authenticated;
grant select (id, org_id, email, role, scope, invited_by, accepted_by, expires_at, accepted_at, created_at),
  delete on public.invitations to authenticated;
grant select on public.audit_log to authenticated;

grant all on public.profiles, public.organizations, public.memberships,
  public.invitations to service_role;
-- The audit trail is append-only, even for the server key.
revoke update, delete, truncate on public.audit_log from service_role;
grant select, insert on public.audit_log to service_role;

alter table public.profiles enable row level security;
alter table public.organizations enable row level security;
alter table public.memberships enable row level security;
alter table public.invitations enable row level security;
alter table public.audit_log enable row level security;

-- ---------------------------------------------------------------------------
-- profiles
-- ---------------------------------------------------------------------------
drop policy if exists "Profiles are visible to their user and co-members" on public.profiles;
create policy "Profiles are visible to their user and co-members" on public.profiles
  for select to authenticated
  using (id = any ((select private.visible_profile_ids())::uuid[]));

drop policy if exists "Profiles are edited by their user" on public.profiles;
create policy "Profiles are edited by their user" on public.profiles
  for update to authenticated
  using (id = (select auth.uid()))
  with check (id = (select auth.uid()));

-- ---------------------------------------------------------------------------
-- organizations
-- ---------------------------------------------------------------------------
drop policy if exists "Organizations are visible to their members" on public.organizations;
create policy "Organizations are visible to their members" on public.organizations
  for select to authenticated
  using (id = any ((select private.org_ids_with_role())::uuid[]));

drop policy if exists "Organizations are edited by owners and admins" on public.organizations;
create policy "Organizations are edited by owners and admins" on public.organizations
  for update to authenticated
  using (id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]))
  with check (id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

drop policy if exists "Organizations are deleted by owners" on public.organizations;
create policy "Organizations are deleted by owners" on public.organizations
  for delete to authenticated
  using (id = any ((select private.org_ids_with_role('{owner}'))::uuid[]));

-- ---------------------------------------------------------------------------
-- memberships: read by co-members; written only through the RPCs.
-- ---------------------------------------------------------------------------
drop policy if exists "Memberships are visible to members of the organization" on public.memberships;
create policy "Memberships are visible to members of the organization" on public.memberships
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role())::uuid[]));

-- ---------------------------------------------------------------------------
-- invitations: owners and admins see and revoke their org's invitations.
-- ---------------------------------------------------------------------------
drop policy if exists "Invitations are visible to owners and admins" on public.invitations;
create policy "Invitations are visible to owners and admins" on public.invitations
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

drop policy if exists "Invitations are revoked by owners and admins" on public.invitations;
create policy "Invitations are revoked by owners and admins" on public.invitations
  for delete to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

-- ---------------------------------------------------------------------------
-- audit_log: owners and admins read their org's trail.
-- ---------------------------------------------------------------------------
drop policy if exists "Audit entries are visible to owners and admins" on public.audit_log;
create policy "Audit entries are visible to owners and admins" on public.audit_log
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

-- Phone-number rules (private.to_e164 reads them as definer code): no API role's.
revoke all on private.phone_regions from public, anon, authenticated, service_role;
alter table private.phone_regions enable row level security;

-- ---------------------------------------------------------------------------
-- feature_flags: members read their organization's, everyone signed in reads
-- the platform's; written only through set_feature_flag.
-- ---------------------------------------------------------------------------
revoke all on public.feature_flags from anon, authenticated;
grant select on public.feature_flags to authenticated;
grant all on public.feature_flags to service_role;
alter table public.feature_flags enable row level security;

drop policy if exists "Feature flags are visible to members and, for the platform, to everyone signed in"
  on public.feature_flags;
create policy "Feature flags are visible to members and, for the platform, to everyone signed in"
  on public.feature_flags
  for select to authenticated
  using (org_id is null or org_id = any ((select private.org_ids_with_role())::uuid[]));
