-- Tenancy and identity.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/platform/tenancy.sql, routines/platform/triggers.sql.

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

create function private.is_valid_timezone(tz text) returns boolean
  language sql stable
  set search_path = ''
as $$
  select exists (select 1 from pg_catalog.pg_timezone_names where name = tz);
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

-- ===========================================================================
-- Role helpers (used by every area's policies, wrapped as `(select …)`)
-- ===========================================================================

grant execute on function private.is_valid_timezone(text) to authenticated, service_role;
