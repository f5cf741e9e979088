-- Tenancy and identity.
--
-- Who is who: a profile per auth user (made by a trigger), organizations, the
-- memberships that give a user a role in an organization, invitations (the
-- token is shown once and only its hash is kept), and the audit log with the
-- reusable trigger every later area attaches to the tables it wants audited.
--
-- Customers are not members: they reach their own rows by user id or, as
-- guests, through a tracking token. Role checks live in `private` as
-- SECURITY DEFINER helpers with an empty search_path; the public RPCs below
-- are SECURITY INVOKER wrappers that call them. RLS policies: policies/tenancy.sql.
--
-- Errors raised for callers use PostgREST's `PTxxx` SQLSTATEs (the HTTP status),
-- with the stable machine code in DETAIL; shared/db.py maps them the same way.

-- ===========================================================================
-- Schema for privileged helpers: never exposed through the API.
-- ===========================================================================
create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

-- Functions are not executable by PUBLIC unless granted: every grant below is
-- deliberate (basejump's habit). Postgres grants EXECUTE to PUBLIC globally,
-- so the revoke must be global too (a per-schema revoke cannot take it back).
alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;

-- ===========================================================================
-- Types
-- ===========================================================================
create type public.org_role as enum (
  'owner', 'admin', 'manager', 'staff', 'dispatcher', 'driver', 'affiliate'
);
comment on type public.org_role is
  'A member''s role in an organization. owner/admin manage members; manager has a scope; staff, dispatcher, driver and affiliate act on their own work.';

-- ===========================================================================
-- Generic helpers
-- ===========================================================================

-- Keeps updated_at honest on every table that has one.
create function private.touch_updated_at() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

create function private.is_valid_timezone(tz text) returns boolean
  language sql stable
  set search_path = ''
as $$
  select exists (select 1 from pg_catalog.pg_timezone_names where name = tz);
$$;

-- 256 random bits, hex encoded: two v4 UUIDs come from pg_strong_random.
-- Used for invitation tokens; only the sha256 of a token is ever stored.
create function private.random_token() returns text
  language sql volatile
  set search_path = ''
as $$
  select encode(
    uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
      || uuid_send(gen_random_uuid()),
    'hex');
$$;

create function private.token_hash(token text) returns bytea
  language sql immutable strict
  set search_path = ''
as $$
  select sha256(convert_to(token, 'UTF8'));
$$;

-- ===========================================================================
-- Profiles: one per auth user, created by a trigger on auth.users.
-- ===========================================================================
create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email text,
  full_name text check (length(full_name) <= 200),
  phone text check (length(phone) <= 40),
  avatar_url text check (length(avatar_url) <= 2000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.profiles is
  'Public face of an auth user. Email mirrors auth.users; the rest is the user''s to edit.';

create trigger profiles_touch before update on public.profiles
  for each row execute function private.touch_updated_at();

create function private.sync_profile_from_auth() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  insert into public.profiles (id, email, full_name, phone)
  values (
    new.id,
    new.email,
    nullif(new.raw_user_meta_data ->> 'full_name', ''),
    new.phone
  )
  on conflict (id) do update
    set email = excluded.email,
        phone = coalesce(excluded.phone, public.profiles.phone);
  return new;
end;
$$;
comment on function private.sync_profile_from_auth() is
  'Creates the profile when Supabase Auth creates a user, and follows email/phone changes.';

create trigger on_auth_user_saved
  after insert or update of email, phone on auth.users
  for each row execute function private.sync_profile_from_auth();

-- ===========================================================================
-- Organizations
-- ===========================================================================
create table public.organizations (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 200),
  slug text not null unique
    check (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  timezone text not null default 'UTC' check (private.is_valid_timezone(timezone)),
  currency char(3) not null default 'GBP' check (currency ~ '^[A-Z]{3}$'),
  settings jsonb not null default '{}'::jsonb check (jsonb_typeof(settings) = 'object'),
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.organizations is
  'A business running on Bookwell (tenant). Every business row carries its org_id.';
create index organizations_created_by_idx on public.organizations (created_by);

create trigger organizations_touch before update on public.organizations
  for each row execute function private.touch_updated_at();

-- ===========================================================================
-- Memberships
-- ===========================================================================
create table public.memberships (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  role public.org_role not null,
  scope jsonb not null default '{}'::jsonb check (jsonb_typeof(scope) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, user_id)
);
comment on table public.memberships is
  'A user''s role in an organization. Changed only through the membership RPCs, which keep at least one owner.';
comment on column public.memberships.scope is
  'A manager''s limits, e.g. {"service_ids": [...], "staff_ids": [...]}; empty means the whole organization.';
create index memberships_user_id_idx on public.memberships (user_id);

create trigger memberships_touch before update on public.memberships
  for each row execute function private.touch_updated_at();

-- ===========================================================================
-- Invitations
-- ===========================================================================
create table public.invitations (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  email text not null check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and length(email) <= 320),
  role public.org_role not null,
  scope jsonb not null default '{}'::jsonb check (jsonb_typeof(scope) = 'object'),
  token_hash bytea not null unique,
  invited_by uuid references public.profiles (id) on delete set null,
  accepted_by uuid references public.profiles (id) on delete set null,
  expires_at timestamptz not null default now() + interval '7 days',
  accepted_at timestamptz,
  created_at timestamptz not null default now()
);
comment on table public.invitations is
  'An open offer of a role. The token travels by email; only its sha256 is stored.';
create index invitations_org_id_idx on public.invitations (org_id);
create index invitations_invited_by_idx on public.invitations (invited_by);
create index invitations_accepted_by_idx on public.invitations (accepted_by);
create unique index invitations_one_open_per_email
  on public.invitations (org_id, lower(email)) where accepted_at is null;

-- ===========================================================================
-- Audit log and the reusable audit trigger
-- ===========================================================================
create table public.audit_log (
  id bigint generated always as identity primary key,
  org_id uuid,
  actor_id uuid,
  action text not null,
  table_name text not null,
  row_id text,
  changed_columns text[],
  details jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
comment on table public.audit_log is
  'Who changed what, when. Written only by triggers and private helpers; owners and admins read their org''s entries.';
comment on column public.audit_log.actor_id is
  'auth.uid() of the caller; null for service_role jobs (webhooks, cron).';
comment on column public.audit_log.org_id is
  'No foreign key on purpose: the trail outlives the users and organizations it mentions.';
create index audit_log_org_id_created_at_idx on public.audit_log (org_id, created_at desc);

-- Explicit entries (e.g. an admin overriding a policy).
create function private.audit(
  p_org_id uuid, p_action text, p_table text, p_row_id text, p_details jsonb default '{}'::jsonb
) returns void
  language sql
  security definer
  set search_path = ''
as $$
  insert into public.audit_log (org_id, actor_id, action, table_name, row_id, details)
  values (p_org_id, (select auth.uid()), p_action, p_table, p_row_id, coalesce(p_details, '{}'::jsonb));
$$;

-- Row trigger: `execute function private.audit_row('org_id')` names the column
-- that holds the organization (default org_id; 'id' for organizations).
create function private.audit_row() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  org_column text := coalesce(tg_argv[0], 'org_id');
  old_row jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) end;
  new_row jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) end;
  changed text[];
begin
  if tg_op = 'UPDATE' then
    select array_agg(key order by key) into changed
    from jsonb_each(new_row) as n(key, value)
    where n.value is distinct from old_row -> n.key
      and n.key not in ('updated_at');
    if changed is null then
      return new;  -- nothing but the timestamp moved
    end if;
  end if;

  insert into public.audit_log (org_id, actor_id, action, table_name, row_id, changed_columns)
  values (
    (coalesce(new_row, old_row) ->> org_column)::uuid,
    (select auth.uid()),
    lower(tg_op),
    tg_table_name,
    coalesce(new_row, old_row) ->> 'id',
    changed
  );
  return coalesce(new, old);
end;
$$;
comment on function private.audit_row() is
  'Reusable audit trigger: actor, org, action, table, row id and changed columns.';

create trigger memberships_audit
  after insert or update or delete on public.memberships
  for each row execute function private.audit_row('org_id');
create trigger invitations_audit
  after insert or update or delete on public.invitations
  for each row execute function private.audit_row('org_id');
create trigger organizations_audit
  after update on public.organizations
  for each row execute function private.audit_row('id');

-- ===========================================================================
-- Role helpers (used by every area's policies, wrapped as `(select …)`)
-- ===========================================================================

-- The organizations where the caller holds one of `roles` (any role when null).
create function private.org_ids_with_role(roles public.org_role[] default null)
  returns uuid[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(array_agg(m.org_id), '{}')
  from public.memberships m
  where m.user_id = (select auth.uid())
    and (roles is null or m.role = any (roles));
$$;
comment on function private.org_ids_with_role(public.org_role[]) is
  'Org ids where the caller has one of the roles; policies compare with = any((select …)).';

create function private.has_org_role(p_org_id uuid, roles public.org_role[] default null)
  returns boolean
  language sql stable
  security definer
  set search_path = ''
as $$
  select exists (
    select 1 from public.memberships m
    where m.org_id = p_org_id
      and m.user_id = (select auth.uid())
      and (roles is null or m.role = any (roles))
  );
$$;

-- The profiles the caller may see: their own and those of co-members.
create function private.visible_profile_ids() returns uuid[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select array_agg(distinct ids.id) from (
    select (select auth.uid()) as id
    union
    select other.user_id
    from public.memberships mine
    join public.memberships other on other.org_id = mine.org_id
    where mine.user_id = (select auth.uid())
  ) ids where ids.id is not null;
$$;

create function private.require_caller() returns uuid
  language plpgsql stable
  set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
begin
  if caller is null then
    raise exception using errcode = 'PT401', message = 'Sign in first', detail = 'not_authenticated';
  end if;
  return caller;
end;
$$;

grant execute on function
  private.is_valid_timezone(text),
  private.org_ids_with_role(public.org_role[]),
  private.has_org_role(uuid, public.org_role[]),
  private.visible_profile_ids(),
  private.require_caller()
  to authenticated, service_role;

-- ===========================================================================
-- Membership management (privileged halves)
--
-- Every mutation locks the organization row first, so two owners demoting or
-- removing each other at once cannot leave an organization without an owner.
-- ===========================================================================

create function private.lock_org_as_manager(p_org_id uuid) returns public.org_role
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller_role public.org_role;
begin
  perform 1 from public.organizations where id = p_org_id for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'Organization not found', detail = 'org_not_found';
  end if;
  select role into caller_role
  from public.memberships
  where org_id = p_org_id and user_id = (select auth.uid());
  if caller_role is null or caller_role not in ('owner', 'admin') then
    raise exception using errcode = 'PT403',
      message = 'Only owners and admins manage members', detail = 'not_a_manager';
  end if;
  return caller_role;
end;
$$;

create function private.owner_count(p_org_id uuid) returns integer
  language sql stable
  security definer
  set search_path = ''
as $$
  select count(*)::int from public.memberships where org_id = p_org_id and role = 'owner';
$$;

create function private.create_organization(
  p_name text, p_slug text, p_timezone text, p_currency text
) returns public.organizations
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
  org public.organizations;
begin
  insert into public.organizations (name, slug, timezone, currency, created_by)
  values (btrim(p_name), lower(btrim(p_slug)), p_timezone, upper(p_currency), caller)
  returning * into org;
  insert into public.memberships (org_id, user_id, role) values (org.id, caller, 'owner');
  return org;
exception
  when unique_violation then
    raise exception using errcode = 'PT409', message = 'That slug is taken', detail = 'slug_taken';
end;
$$;

create function private.invite_member(
  p_org_id uuid, p_email text, p_role public.org_role, p_scope jsonb
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller_role public.org_role := private.lock_org_as_manager(p_org_id);
  token text := private.random_token();
  invitation public.invitations;
begin
  if p_role = 'owner' and caller_role <> 'owner' then
    raise exception using errcode = 'PT403', message = 'Only owners can invite owners', detail = 'owner_only';
  end if;
  if exists (
    select 1 from public.memberships m join public.profiles p on p.id = m.user_id
    where m.org_id = p_org_id and lower(p.email) = lower(btrim(p_email))
  ) then
    raise exception using errcode = 'PT409', message = 'That person is already a member', detail = 'already_member';
  end if;
  -- A new invitation replaces an open one for the same address.
  delete from public.invitations
  where org_id = p_org_id and lower(email) = lower(btrim(p_email)) and accepted_at is null;
  insert into public.invitations (org_id, email, role, scope, token_hash, invited_by)
  values (p_org_id, lower(btrim(p_email)), p_role, coalesce(p_scope, '{}'::jsonb),
          private.token_hash(token), (select auth.uid()))
  returning * into invitation;
  return jsonb_build_object(
    'invitation_id', invitation.id,
    'email', invitation.email,
    'role', invitation.role,
    'expires_at', invitation.expires_at,
    'token', token
  );
end;
$$;

create function private.accept_invitation(p_token text) returns public.memberships
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
  caller_email text;
  invitation public.invitations;
  membership public.memberships;
begin
  -- Lock order as in every membership mutation: the organization row first,
  -- then the invitation. invite_member replaces an open invitation while
  -- holding the org lock; taking the invitation first here deadlocked with it.
  select * into invitation from public.invitations where token_hash = private.token_hash(p_token);
  if found then
    perform 1 from public.organizations where id = invitation.org_id for update;
    -- Re-read under the lock: it may have been accepted, replaced or revoked meanwhile.
    select * into invitation from public.invitations where id = invitation.id for update;
  end if;
  if not found or invitation.accepted_at is not null then
    raise exception using errcode = 'PT404', message = 'This invitation is not valid', detail = 'invitation_invalid';
  end if;
  if invitation.expires_at <= now() then
    raise exception using errcode = 'PT410', message = 'This invitation has expired', detail = 'invitation_expired';
  end if;
  select email into caller_email from auth.users where id = caller;
  if caller_email is null or lower(caller_email) <> lower(invitation.email) then
    raise exception using errcode = 'PT403',
      message = 'This invitation was sent to another email address', detail = 'invitation_email_mismatch';
  end if;

  insert into public.memberships (org_id, user_id, role, scope)
  values (invitation.org_id, caller, invitation.role, invitation.scope)
  on conflict (org_id, user_id) do nothing
  returning * into membership;
  if membership.id is null then
    raise exception using errcode = 'PT409', message = 'You are already a member', detail = 'already_member';
  end if;
  update public.invitations set accepted_at = now(), accepted_by = caller where id = invitation.id;
  return membership;
end;
$$;

create function private.change_member_role(
  p_org_id uuid, p_user_id uuid, p_role public.org_role, p_scope jsonb
) returns public.memberships
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller_role public.org_role := private.lock_org_as_manager(p_org_id);
  target public.memberships;
begin
  select * into target from public.memberships where org_id = p_org_id and user_id = p_user_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'No such member', detail = 'member_not_found';
  end if;
  if caller_role <> 'owner' and (target.role = 'owner' or p_role = 'owner') then
    raise exception using errcode = 'PT403', message = 'Only owners grant or change the owner role', detail = 'owner_only';
  end if;
  if target.role = 'owner' and p_role <> 'owner' and private.owner_count(p_org_id) = 1 then
    raise exception using errcode = 'PT409', message = 'An organization keeps at least one owner', detail = 'last_owner';
  end if;
  update public.memberships
  set role = p_role, scope = coalesce(p_scope, scope)
  where id = target.id
  returning * into target;
  return target;
end;
$$;

create function private.remove_member(p_org_id uuid, p_user_id uuid) returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller_role public.org_role := private.lock_org_as_manager(p_org_id);
  target public.memberships;
begin
  select * into target from public.memberships where org_id = p_org_id and user_id = p_user_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'No such member', detail = 'member_not_found';
  end if;
  if target.role = 'owner' and caller_role <> 'owner' then
    raise exception using errcode = 'PT403', message = 'Only owners remove owners', detail = 'owner_only';
  end if;
  if target.role = 'owner' and private.owner_count(p_org_id) = 1 then
    raise exception using errcode = 'PT409', message = 'An organization keeps at least one owner', detail = 'last_owner';
  end if;
  delete from public.memberships where id = target.id;
end;
$$;

create function private.leave_organization(p_org_id uuid) returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
  target public.memberships;
begin
  perform 1 from public.organizations where id = p_org_id for update;
  select * into target from public.memberships where org_id = p_org_id and user_id = caller;
  if not found then
    raise exception using errcode = 'PT404', message = 'You are not a member', detail = 'member_not_found';
  end if;
  if target.role = 'owner' and private.owner_count(p_org_id) = 1 then
    raise exception using errcode = 'PT409',
      message = 'The last owner cannot leave; make someone else owner first', detail = 'last_owner';
  end if;
  delete from public.memberships where id = target.id;
end;
$$;

grant execute on function
  private.create_organization(text, text, text, text),
  private.invite_member(uuid, text, public.org_role, jsonb),
  private.accept_invitation(text),
  private.change_member_role(uuid, uuid, public.org_role, jsonb),
  private.remove_member(uuid, uuid),
  private.leave_organization(uuid)
  to authenticated;

-- ===========================================================================
-- Public RPCs (SECURITY INVOKER): check inputs, then call the private half.
-- ===========================================================================

create function public.create_organization(
  name text, slug text, timezone text default 'UTC', currency text default 'GBP'
) returns public.organizations
  language plpgsql
  set search_path = ''
as $$
begin
  if create_organization.name is null or length(btrim(create_organization.name)) = 0 then
    raise exception using errcode = 'PT422', message = 'name is required', detail = 'invalid_name';
  end if;
  if create_organization.slug is null
     or lower(btrim(create_organization.slug)) !~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$' then
    raise exception using errcode = 'PT422',
      message = 'slug must be lower-case letters, digits and dashes', detail = 'invalid_slug';
  end if;
  if not private.is_valid_timezone(create_organization.timezone) then
    raise exception using errcode = 'PT422', message = 'Unknown time zone', detail = 'invalid_timezone';
  end if;
  if upper(coalesce(create_organization.currency, '')) !~ '^[A-Z]{3}$' then
    raise exception using errcode = 'PT422', message = 'currency is an ISO 4217 code', detail = 'invalid_currency';
  end if;
  return private.create_organization(
    create_organization.name, create_organization.slug,
    create_organization.timezone, create_organization.currency);
end;
$$;
comment on function public.create_organization(text, text, text, text) is
  'Creates an organization; the caller becomes its owner.';
grant execute on function public.create_organization(text, text, text, text) to authenticated;

create function public.invite_member(
  org_id uuid, email text, role public.org_role, scope jsonb default '{}'::jsonb
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  if invite_member.email is null or btrim(invite_member.email) !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
    raise exception using errcode = 'PT422', message = 'A valid email address is required', detail = 'invalid_email';
  end if;
  if jsonb_typeof(coalesce(invite_member.scope, '{}'::jsonb)) <> 'object' then
    raise exception using errcode = 'PT422', message = 'scope must be an object', detail = 'invalid_scope';
  end if;
  return private.invite_member(invite_member.org_id, invite_member.email, invite_member.role, invite_member.scope);
end;
$$;
comment on function public.invite_member(uuid, text, public.org_role, jsonb) is
  'Owners/admins invite someone by email; returns the token once (send it, then forget it).';
grant execute on function public.invite_member(uuid, text, public.org_role, jsonb) to authenticated;

create function public.accept_invitation(token text) returns public.memberships
  language plpgsql
  set search_path = ''
as $$
begin
  if accept_invitation.token is null or length(accept_invitation.token) not between 16 and 200 then
    raise exception using errcode = 'PT404', message = 'This invitation is not valid', detail = 'invitation_invalid';
  end if;
  return private.accept_invitation(accept_invitation.token);
end;
$$;
comment on function public.accept_invitation(text) is
  'The invited user (signed in with the invited email) joins the organization.';
grant execute on function public.accept_invitation(text) to authenticated;

create function public.change_member_role(
  org_id uuid, user_id uuid, role public.org_role, scope jsonb default null
) returns public.memberships
  language plpgsql
  set search_path = ''
as $$
begin
  if change_member_role.scope is not null and jsonb_typeof(change_member_role.scope) <> 'object' then
    raise exception using errcode = 'PT422', message = 'scope must be an object', detail = 'invalid_scope';
  end if;
  return private.change_member_role(
    change_member_role.org_id, change_member_role.user_id, change_member_role.role, change_member_role.scope);
end;
$$;
grant execute on function public.change_member_role(uuid, uuid, public.org_role, jsonb) to authenticated;

create function public.remove_member(org_id uuid, user_id uuid) returns void
  language sql
  set search_path = ''
as $$
  select private.remove_member(remove_member.org_id, remove_member.user_id);
$$;
grant execute on function public.remove_member(uuid, uuid) to authenticated;

create function public.leave_organization(org_id uuid) returns void
  language sql
  set search_path = ''
as $$
  select private.leave_organization(leave_organization.org_id);
$$;
grant execute on function public.leave_organization(uuid) to authenticated;
