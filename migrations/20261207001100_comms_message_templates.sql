-- Communications: message templates an organization may edit.
--
-- Every message kind ships with default templates in the product (per
-- channel: subject, HTML and text for email; body for SMS), written for the
-- sandboxed Jinja engine in shared/comms/templates.py. An org's owners and
-- admins may override them per kind, channel and language; a row here is such
-- an override. Rows are written only through functions/message-templates,
-- which refuses a template that names a variable the kind does not offer or
-- that fails to render with sample data; the sender falls back to the default
-- should an override ever fail anyway.
--
-- The functions: routines/comms/templates.sql; RLS: policies/comms.sql.

create table public.message_templates (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  kind text not null check (kind ~ '^[a-z][a-z0-9_]*$'),
  channel public.notification_channel not null,
  language text not null default 'en' check (language ~ '^[a-z]{2}(-[A-Z]{2})?$'),
  subject text check (length(subject) <= 500),
  html text check (length(html) <= 100000),
  text text check (length(text) <= 50000),
  body text check (length(body) <= 1600),
  updated_by uuid references public.profiles (id) on delete set null,
  updated_at timestamptz not null default now(),
  unique (org_id, kind, channel, language),
  check (case channel
           when 'email' then subject is not null and html is not null and text is not null and body is null
           else body is not null and subject is null and html is null and text is null end)
);
comment on table public.message_templates is
  'An org''s own wording of a message kind per channel and language (else the product''s default). '
  'Written only through functions/message-templates, which validates it.';
create index message_templates_updated_by_idx on public.message_templates (updated_by);
