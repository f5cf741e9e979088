-- CRM for organisers: companies, their contacts, and the interactions logged
-- with them. Private to the organiser's organization (policies/crm.sql).
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121000500_crm_contacts.sql.

-- A contact's company, and an interaction's contact, must be in the same org.
create or replace function private.check_crm_same_org() returns trigger
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
