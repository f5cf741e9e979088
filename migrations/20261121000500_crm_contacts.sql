-- CRM for organisers: companies, their contacts, and the interactions logged
-- with them. Private to the organiser's organization (policies/crm.sql).

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
create trigger companies_touch before update on public.companies
  for each row execute function private.touch_updated_at();

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
create trigger contacts_touch before update on public.contacts
  for each row execute function private.touch_updated_at();

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

-- A contact's company, and an interaction's contact, must be in the same org.
create function private.check_crm_same_org() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  if tg_table_name = 'contacts' then
    if new.company_id is not null and not exists (
         select 1 from public.companies c where c.id = new.company_id and c.org_id = new.org_id) then
      raise exception using errcode = 'PT422', message = 'The company belongs to another organization',
        detail = 'foreign_company';
    end if;
  elsif tg_table_name = 'interactions' then
    if not exists (select 1 from public.contacts c where c.id = new.contact_id and c.org_id = new.org_id) then
      raise exception using errcode = 'PT422', message = 'The contact belongs to another organization',
        detail = 'foreign_contact';
    end if;
  end if;
  return new;
end;
$$;
create trigger contacts_same_org before insert or update of company_id, org_id on public.contacts
  for each row execute function private.check_crm_same_org();
create trigger interactions_same_org before insert or update of contact_id, org_id on public.interactions
  for each row execute function private.check_crm_same_org();
