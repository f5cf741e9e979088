-- CRM for organisers: companies, their contacts, and the interactions logged
-- with them. Private to the organiser's organization (policies/crm.sql).
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/crm/contacts.sql, routines/crm/triggers.sql.

create type public.interaction_kind as enum ('call', 'email', 'meeting', 'note');

create table public.companies (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 200),
  website text check (length(website) <= 500),
  industry text check (length(industry) <= 100),
  notes text check (length(notes) <= 10000),
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.companies is 'Sponsors, partners, corporate buyers: whoever the organiser deals with.';
create index companies_org_id_idx on public.companies (org_id);
create index companies_created_by_idx on public.companies (created_by);

create table public.contacts (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  company_id uuid references public.companies (id) on delete set null,
  full_name text not null check (length(btrim(full_name)) between 1 and 200),
  email text check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  phone text check (length(phone) <= 40),
  job_title text check (length(job_title) <= 120),
  notes text check (length(notes) <= 10000),
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.contacts is 'People at companies (or on their own).';
create index contacts_org_id_idx on public.contacts (org_id);
create index contacts_company_id_idx on public.contacts (company_id);
create index contacts_created_by_idx on public.contacts (created_by);

create table public.interactions (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  contact_id uuid not null references public.contacts (id) on delete cascade,
  kind public.interaction_kind not null,
  summary text not null check (length(btrim(summary)) between 1 and 10000),
  occurred_at timestamptz not null default now(),
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now()
);
comment on table public.interactions is 'A call, email, meeting or note with a contact.';
create index interactions_org_id_idx on public.interactions (org_id);
create index interactions_contact_id_idx on public.interactions (contact_id, occurred_at desc);
create index interactions_created_by_idx on public.interactions (created_by);
