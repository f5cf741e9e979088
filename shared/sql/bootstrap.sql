-- Supabase-compatible bootstrap for a plain Postgres.
--
-- Gives a bare server what a Supabase project already has, so migrations and
-- policies run unchanged on both: the API roles, the `auth` schema with
-- GoTrue's (Supabase Auth's) `auth.users` and `auth.identities` and the claim
-- helpers PostgREST relies on, the `extensions` schema, and Supabase's
-- default privileges on `public`.
--
-- A true no-op on Supabase: every object is created only where it does not
-- exist, tested by existence (to_regclass, to_regnamespace, pg_roles), never
-- by `create … if not exists`, which checks the privilege first and fails on
-- Supabase, where `postgres` is not a superuser and may not create in `auth`.
-- Grants on what Supabase owns are made only where this file created it.
-- Applied by `bookwell migrate` before migrations.

-- ---------------------------------------------------------------------------
-- Roles, as Supabase has them
-- ---------------------------------------------------------------------------
do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  -- PostgREST logs in as authenticator and switches to the role the JWT names.
  if not (pg_has_role('authenticator', 'anon', 'member') and pg_has_role('authenticator', 'authenticated', 'member')
          and pg_has_role('authenticator', 'service_role', 'member')) then
    grant anon, authenticated, service_role to authenticator;
  end if;
end
$$;

-- ---------------------------------------------------------------------------
-- Schemas
-- ---------------------------------------------------------------------------
do $$
begin
  if to_regnamespace('extensions') is null then
    create schema extensions;
    grant usage on schema extensions to anon, authenticated, service_role;
  end if;
  if to_regnamespace('auth') is null then
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
  end if;
end
$$;

-- ---------------------------------------------------------------------------
-- auth.users and auth.identities as GoTrue's migrations leave them
-- (github.com/supabase/auth, MIT), so local tests run against the table
-- production has: no id default, a generated confirmed_at, the unique email
-- index that ignores SSO users. Users are created by shared/platform/users.py the way
-- GoTrue creates them.
-- ---------------------------------------------------------------------------
do $$
declare
  missing record;
begin
  if to_regclass('auth.users') is null then
    create table auth.users (
      instance_id uuid,
      id uuid not null primary key,
      aud varchar(255),
      role varchar(255),
      email varchar(255),
      encrypted_password varchar(255),
      email_confirmed_at timestamptz,
      invited_at timestamptz,
      confirmation_token varchar(255),
      confirmation_sent_at timestamptz,
      recovery_token varchar(255),
      recovery_sent_at timestamptz,
      email_change_token_new varchar(255),
      email_change varchar(255),
      email_change_sent_at timestamptz,
      last_sign_in_at timestamptz,
      raw_app_meta_data jsonb,
      raw_user_meta_data jsonb,
      is_super_admin boolean,
      created_at timestamptz,
      updated_at timestamptz,
      phone text default null unique,
      phone_confirmed_at timestamptz,
      phone_change text default '',
      phone_change_token varchar(255) default '',
      phone_change_sent_at timestamptz,
      confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
      email_change_token_current varchar(255) default '',
      email_change_confirm_status smallint default 0 check (email_change_confirm_status between 0 and 2),
      banned_until timestamptz,
      reauthentication_token varchar(255) default '',
      reauthentication_sent_at timestamptz,
      is_sso_user boolean not null default false,
      deleted_at timestamptz,
      is_anonymous boolean not null default false
    );
    create unique index users_email_partial_key on auth.users (email) where is_sso_user = false;
    create index users_instance_id_email_idx on auth.users (instance_id, lower(email::text));
    create index users_instance_id_idx on auth.users (instance_id);
    create index users_is_anonymous_idx on auth.users (is_anonymous);
    create unique index confirmation_token_idx on auth.users (confirmation_token)
      where confirmation_token::text !~ '^[0-9 ]*$';
    create unique index recovery_token_idx on auth.users (recovery_token) where recovery_token::text !~ '^[0-9 ]*$';
    alter table auth.users enable row level security;
  end if;
  -- A local database bootstrapped by an older Bookwell lacks columns GoTrue has and users.py writes:
  -- add each one that is missing (on Supabase every one exists, so nothing is altered there).
  for missing in
    select c.name, c.definition from (values
      ('confirmation_sent_at', 'timestamptz'), ('recovery_sent_at', 'timestamptz'),
      ('email_change_token_new', 'varchar(255)'), ('email_change', 'varchar(255)'),
      ('email_change_sent_at', 'timestamptz'), ('phone_change', $d$text default ''$d$),
      ('phone_change_token', $d$varchar(255) default ''$d$), ('phone_change_sent_at', 'timestamptz'),
      ('email_change_token_current', $d$varchar(255) default ''$d$),
      ('email_change_confirm_status', 'smallint default 0 check (email_change_confirm_status between 0 and 2)'),
      ('reauthentication_token', $d$varchar(255) default ''$d$), ('reauthentication_sent_at', 'timestamptz'),
      ('is_sso_user', 'boolean not null default false'), ('deleted_at', 'timestamptz'),
      ('is_anonymous', 'boolean not null default false')) c (name, definition)
    where not exists (select 1 from information_schema.columns i
                      where i.table_schema = 'auth' and i.table_name = 'users' and i.column_name = c.name)
  loop
    execute format('alter table auth.users add column %I %s', missing.name, missing.definition);
  end loop;
  if to_regclass('auth.identities') is null then
    create table auth.identities (
      provider_id text not null,
      user_id uuid not null references auth.users (id) on delete cascade,
      identity_data jsonb not null,
      provider text not null,
      last_sign_in_at timestamptz,
      created_at timestamptz,
      updated_at timestamptz,
      email text generated always as (lower(identity_data ->> 'email')) stored,
      id uuid not null default gen_random_uuid() primary key,
      unique (provider_id, provider)
    );
    create index identities_user_id_idx on auth.identities (user_id);
    create index identities_email_idx on auth.identities (email text_pattern_ops);
    alter table auth.identities enable row level security;
  end if;
end
$$;

-- ---------------------------------------------------------------------------
-- Claim helpers, exactly as Supabase defines them: they read the JWT claims
-- PostgREST (and shared.db) put in `request.jwt.claims` for the transaction.
-- Created (and granted) only where missing: on Supabase they already exist.
-- ---------------------------------------------------------------------------
do $$
begin
  if to_regprocedure('auth.jwt()') is null then
    create function auth.jwt() returns jsonb
      language sql stable
      as $f$
        select coalesce(
          nullif(current_setting('request.jwt.claim', true), ''),
          nullif(current_setting('request.jwt.claims', true), '')
        )::jsonb
      $f$;
    grant execute on function auth.jwt() to anon, authenticated, service_role;
  end if;
  if to_regprocedure('auth.uid()') is null then
    create function auth.uid() returns uuid
      language sql stable
      as $f$
        select coalesce(
          nullif(current_setting('request.jwt.claim.sub', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
        )::uuid
      $f$;
    grant execute on function auth.uid() to anon, authenticated, service_role;
  end if;
  if to_regprocedure('auth.role()') is null then
    create function auth.role() returns text
      language sql stable
      as $f$
        select coalesce(
          nullif(current_setting('request.jwt.claim.role', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
        )::text
      $f$;
    grant execute on function auth.role() to anon, authenticated, service_role;
  end if;
  if to_regprocedure('auth.email()') is null then
    create function auth.email() returns text
      language sql stable
      as $f$
        select coalesce(
          nullif(current_setting('request.jwt.claim.email', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
        )::text
      $f$;
    grant execute on function auth.email() to anon, authenticated, service_role;
  end if;
end
$$;

-- ---------------------------------------------------------------------------
-- Supabase's default privileges on public, for objects the migration role
-- creates: tables, sequences and functions are granted to the API roles, and
-- narrowed by RLS and by the migrations' own revokes and grants. The same
-- statements Supabase's images run, so privileges come out identical locally
-- and hosted. Only on a server this file is setting up for the first time:
-- run again, it must never undo a migration's revoke.
-- ---------------------------------------------------------------------------
do $$
begin
  if not exists (select from pg_default_acl d
                 where d.defaclnamespace = 'public'::regnamespace and d.defaclobjtype = 'r'
                   and d.defaclrole = current_user::regrole) then
    grant usage on schema public to anon, authenticated, service_role;
    alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
    alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
    alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
  end if;
end
$$;
