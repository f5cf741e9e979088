-- Feature flags: switch a capability off (or on) for one organization or for everyone.
--
-- The catalogue (private.features) names each flag and its default; overrides
-- live in public.feature_flags, one row per flag and organization, or with no
-- organization for the whole platform. A platform row that switches a flag off
-- is a kill switch no organization can override; otherwise the organization's
-- own row decides, then the platform's, then the default. Functions and SQL
-- ask the same function (private.feature_enabled / private.require_feature).
-- Functions: routines/platform/feature_flags.sql; policies: policies/tenancy.sql.

create table private.features (
  flag text primary key check (flag ~ '^[a-z][a-z0-9_]{1,39}$'),
  enabled_by_default boolean not null,
  description text not null
);
comment on table private.features is 'Every feature flag there is, with its default and what it switches.';

insert into private.features (flag, enabled_by_default, description) values
  ('paypal', true, 'Paying with PayPal'),
  ('ai_wizard', true, 'The AI event wizard'),
  ('pam', true, 'PAM, the member app''s assistant');

create table public.feature_flags (
  id uuid primary key default gen_random_uuid(),
  flag text not null references private.features (flag) on delete cascade,
  org_id uuid references public.organizations (id) on delete cascade,
  enabled boolean not null,
  updated_by uuid references public.profiles (id) on delete set null,
  updated_at timestamptz not null default now(),
  unique nulls not distinct (flag, org_id)
);
comment on table public.feature_flags is
  'A flag switched on or off for one organization, or (org_id null) for the whole platform. Written by set_feature_flag.';
create index feature_flags_org_id_idx on public.feature_flags (org_id);
create index feature_flags_updated_by_idx on public.feature_flags (updated_by);

insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  ('feature_flags', 'updated_by', null, false, 'which admin changed an organization''s setting; kept as audit');
