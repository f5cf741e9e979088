-- Communications: emergency alerts.
--
-- An org's owner or admin tells everyone with a live booking in a window (a
-- venue change, a closure) by email and SMS, consent not needed, each person
-- once per channel. Who has a live booking is each area's business: an area
-- registers a contacts function in private.alert_audiences (from its
-- routines), and the alert asks every registered one. The alert itself is
-- kept in public.emergency_alerts, readable by the org's owners and admins.
--
-- The functions: routines/comms/alerts.sql; RLS: policies/comms.sql.

create table private.alert_audiences (
  name text primary key check (name ~ '^[a-z][a-z0-9_]*$'),
  contacts_function text not null check (contacts_function ~ '^private\.[a-z][a-z0-9_]*$')
);
comment on table private.alert_audiences is
  'Per area, the function (org_id uuid, during tstzrange) returning (name, email, phone) of everyone with a live '
  'booking in the window. Rows are upserted by the areas'' routines.';

create table public.emergency_alerts (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  during tstzrange not null check (not isempty(during) and upper(during) - lower(during) <= interval '31 days'),
  title text not null check (length(btrim(title)) between 1 and 150),
  message text not null check (length(btrim(message)) between 1 and 1000),
  channels public.notification_channel[] not null check (cardinality(channels) between 1 and 2),
  emails integer not null default 0,
  texts integer not null default 0,
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now()
);
comment on table public.emergency_alerts is
  'An alert an owner or admin sent to everyone with a live booking in `during`: how many emails and texts it queued.';
create index emergency_alerts_org_id_idx on public.emergency_alerts (org_id, created_at desc);
create index emergency_alerts_created_by_idx on public.emergency_alerts (created_by);

-- The GDPR registry asks about every column whose name looks personal (routines/privacy/gdpr.sql).
insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  ('emergency_alerts', 'emails', null, true, 'how many emails an alert queued: a count, not an address');
