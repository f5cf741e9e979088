-- Communications: marketing consent, promotional campaigns and one-click unsubscribe.
--
-- Consent is per org, channel and address (lower-case email or the number as
-- given), with when and how it was given or withdrawn; no row means no
-- consent. A campaign (an org's owners and admins) is a promotion, written
-- like an alert, sent to a segment of the org's customers that an area
-- offers (private.campaign_audiences, registered from the areas' routines,
-- e.g. "booked in the last 12 months", "bought tickets for an event"). Only
-- addresses with consent, not suppressed (routines/comms/delivery.sql) and
-- not unsubscribed are queued, at the campaign's rate and, for SMS, outside
-- quiet hours in the org's timezone. Each promotion email carries its
-- recipient's own unsubscribe token: a random secret (only its hash is kept)
-- that withdraws that one consent, once, without signing in (RFC 8058).
--
-- The functions: routines/comms/campaigns.sql; RLS: policies/comms.sql.

create type public.consent_status as enum ('granted', 'withdrawn');
create type public.campaign_status as enum ('draft', 'queued');

create table public.marketing_consents (
  id uuid not null default gen_random_uuid() unique,
  org_id uuid not null references public.organizations (id) on delete cascade,
  channel public.notification_channel not null,
  address text not null check (length(address) between 3 and 320),
  status public.consent_status not null,
  source text not null check (source in ('checkout', 'account', 'import', 'staff', 'unsubscribe_link')),
  evidence jsonb not null default '{}'::jsonb,
  changed_at timestamptz not null default now(),
  primary key (org_id, channel, address)
);
comment on table public.marketing_consents is
  'Marketing consent per org, channel and address: granted or withdrawn, when (changed_at) and how (source, evidence).';

create table private.campaign_audiences (
  name text primary key check (name ~ '^[a-z][a-z0-9_]*$'),
  contacts_function text not null check (contacts_function ~ '^private\.[a-z][a-z0-9_]*$'),
  description text not null
);
comment on table private.campaign_audiences is
  'Per segment an area offers, the function (org_id uuid, options jsonb) returning (name, email, phone). '
  'Rows are upserted by the areas'' routines.';

create table public.campaigns (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  channel public.notification_channel not null,
  audience text not null check (audience ~ '^[a-z][a-z0-9_]*$'),
  audience_options jsonb not null default '{}'::jsonb,
  title text not null check (length(btrim(title)) between 1 and 150),
  message text not null check (length(btrim(message)) between 1 and 1000),
  per_minute integer not null default 60 check (per_minute between 1 and 10000),
  status public.campaign_status not null default 'draft',
  queued integer,
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  queued_at timestamptz
);
comment on table public.campaigns is
  'A promotion to a segment (audience + options) of an org''s customers who consented; queued once.';
create index campaigns_org_id_idx on public.campaigns (org_id, created_at desc);
create index campaigns_created_by_idx on public.campaigns (created_by);

create table private.unsubscribe_tokens (
  token_hash bytea primary key,
  org_id uuid not null references public.organizations (id) on delete cascade,
  channel public.notification_channel not null,
  address text not null,
  campaign_id uuid references public.campaigns (id) on delete cascade,
  used_at timestamptz,
  created_at timestamptz not null default now()
);
create index unsubscribe_tokens_org_id_idx on private.unsubscribe_tokens (org_id);
create index unsubscribe_tokens_campaign_id_idx on private.unsubscribe_tokens (campaign_id);
comment on table private.unsubscribe_tokens is
  'One per promotion sent: the hash of its recipient''s unsubscribe secret, which withdraws that consent once.';

-- GDPR (routines/privacy/gdpr.sql): a subject's email consent is erased with them, and the names
-- and unsubscribe secrets alerts and promotions carry leave the outbox with the rest.
insert into private.gdpr_tables (table_name, position, org_column, match, note) values
  ('marketing_consents', 115, 'org_id', $m$t.channel = 'email' and t.address = $2$m$,
   'The subject''s consent to offers by email: erased (withdrawn, the address replaced).');
insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  ('marketing_consents', 'address', $e$private.erased_email(t.id::text)$e$, true, null),
  ('marketing_consents', 'status', $e$'withdrawn'$e$, true, null),
  ('marketing_consents', 'evidence', $e$'{}'::jsonb$e$, true, null);
update private.gdpr_columns
set erase_to = $e$t.payload - array['reason', 'note', 'buyer_name', 'buyer_email', 'customer_name', 'customer_email',
                                   'phone', 'tracking_token', 'name', 'unsubscribe_token']$e$
where table_name = 'notification_outbox' and column_name = 'payload';

