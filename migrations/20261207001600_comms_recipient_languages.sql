-- Communications: every message in its recipient's language.
--
-- A message is written in one language, fixed when it is queued
-- (notification_outbox.language, set by private.notification_language, a
-- trigger in routines/comms/triggers.sql): the language the recipient chose
-- with this org (public.recipient_languages, e.g. at checkout), else the
-- org's own language (organizations.language), else English. Rendering then
-- takes the org's template in that language, its base language (de for
-- de-AT), the org's language or English, in that order, and the product's
-- default wording last (routines/comms/templates.sql).

alter table public.organizations
  add column language text not null default 'en' check (language ~ '^[a-z]{2}(-[A-Z]{2})?$');
comment on column public.organizations.language is
  'The language the organization writes to its customers in unless one chose another (BCP 47: en, de, fr-CA).';

alter table public.notification_outbox
  add column language text check (language ~ '^[a-z]{2}(-[A-Z]{2})?$');
comment on column public.notification_outbox.language is
  'The language this message is written in, fixed when it is queued (private.notification_language).';

create table public.recipient_languages (
  id uuid not null default gen_random_uuid() unique,
  org_id uuid not null references public.organizations (id) on delete cascade,
  address text not null check (length(address) between 3 and 320),  -- private.contact_address form
  language text not null check (language ~ '^[a-z]{2}(-[A-Z]{2})?$'),
  source text not null check (source in ('checkout', 'account', 'staff')),
  updated_at timestamptz not null default now(),
  primary key (org_id, address)
);
comment on table public.recipient_languages is
  'The language a customer chose to hear from an org in, per email address or E.164 number; latest choice wins.';

-- GDPR (routines/privacy/gdpr.sql): erased with the subject's other data.
insert into private.gdpr_tables (table_name, position, org_column, match, note) values
  ('recipient_languages', 116, 'org_id', $m$t.address = $2$m$,
   'The language the subject chose for messages from this org: the address is erased.');
insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  ('recipient_languages', 'address', $e$private.erased_email(t.id::text)$e$, true, null);
