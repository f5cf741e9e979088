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
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121000100_platform_tenancy.sql.

-- Keeps updated_at honest on every table that has one.
create or replace function private.touch_updated_at() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

-- 256 random bits, hex encoded: two v4 UUIDs come from pg_strong_random.
-- Used for invitation tokens; only the sha256 of a token is ever stored.
create or replace function private.random_token() returns text
  language sql volatile
  set search_path = ''
as $$
  select encode(
    uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
      || uuid_send(gen_random_uuid()),
    'hex');
$$;

create or replace function private.token_hash(token text) returns bytea
  language sql immutable strict
  set search_path = ''
as $$
  select sha256(convert_to(token, 'UTF8'));
$$;

-- A uuid typed in a JSON body, or null when it is not one (instead of the cast's error).
create or replace function private.as_uuid(p_text text) returns uuid
  language sql immutable
  set search_path = ''
as $$
  select case when p_text ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then p_text::uuid end;
$$;

create or replace function private.sync_profile_from_auth() returns trigger
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

-- Explicit entries (e.g. an admin overriding a policy).
create or replace function private.audit(
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
create or replace function private.audit_row() returns trigger
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

-- The organizations where the caller holds one of `roles` (any role when null).
create or replace function private.org_ids_with_role(roles public.org_role[] default null)
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

create or replace function private.has_org_role(p_org_id uuid, roles public.org_role[] default null)
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
create or replace function private.visible_profile_ids() returns uuid[]
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

create or replace function private.require_caller() returns uuid
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
  private.org_ids_with_role(public.org_role[]),
  private.has_org_role(uuid, public.org_role[]),
  private.visible_profile_ids(),
  private.require_caller()
  to authenticated, service_role;

create or replace function private.lock_org_as_manager(p_org_id uuid) returns public.org_role
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

create or replace function private.owner_count(p_org_id uuid) returns integer
  language sql stable
  security definer
  set search_path = ''
as $$
  select count(*)::int from public.memberships where org_id = p_org_id and role = 'owner';
$$;

create or replace function private.create_organization(
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

create or replace function private.invite_member(
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

create or replace function private.accept_invitation(p_token text) returns public.memberships
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

create or replace function private.change_member_role(
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

create or replace function private.remove_member(p_org_id uuid, p_user_id uuid) returns void
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

create or replace function private.leave_organization(p_org_id uuid) returns void
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

create or replace function public.create_organization(
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

-- The membership RPCs say what is wrong instead of failing the check constraint.
create or replace function public.invite_member(
  org_id uuid, email text, role public.org_role, scope jsonb default '{}'::jsonb
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  if invite_member.email is null or btrim(invite_member.email) !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
    raise exception using errcode = 'PT422', message = 'A valid email address is required', detail = 'invalid_email';
  end if;
  if not private.valid_manager_scope(coalesce(invite_member.scope, '{}'::jsonb)) then
    raise exception using errcode = 'PT422', detail = 'invalid_scope',
      message = 'scope must be an object; staff_ids and service_ids, if given, are lists of ids';
  end if;
  return private.invite_member(invite_member.org_id, invite_member.email, invite_member.role, invite_member.scope);
end;
$$;
comment on function public.invite_member(uuid, text, public.org_role, jsonb) is
  'Owners/admins invite someone by email; returns the token once (send it, then forget it).';
grant execute on function public.invite_member(uuid, text, public.org_role, jsonb) to authenticated;

create or replace function public.accept_invitation(token text) returns public.memberships
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

create or replace function public.change_member_role(
  org_id uuid, user_id uuid, role public.org_role, scope jsonb default null
) returns public.memberships
  language plpgsql
  set search_path = ''
as $$
begin
  if change_member_role.scope is not null and not private.valid_manager_scope(change_member_role.scope) then
    raise exception using errcode = 'PT422', detail = 'invalid_scope',
      message = 'scope must be an object; staff_ids and service_ids, if given, are lists of ids';
  end if;
  return private.change_member_role(
    change_member_role.org_id, change_member_role.user_id, change_member_role.role, change_member_role.scope);
end;
$$;
grant execute on function public.change_member_role(uuid, uuid, public.org_role, jsonb) to authenticated;

create or replace function public.remove_member(org_id uuid, user_id uuid) returns void
  language sql
  set search_path = ''
as $$
  select private.remove_member(remove_member.org_id, remove_member.user_id);
$$;
grant execute on function public.remove_member(uuid, uuid) to authenticated;

create or replace function public.leave_organization(org_id uuid) returns void
  language sql
  set search_path = ''
as $$
  select private.leave_organization(leave_organization.org_id);
$$;
grant execute on function public.leave_organization(uuid) to authenticated;
