-- Crm: every trigger on this area's tables, in the order they were added.
-- The functions they run are in routines/crm/*.sql; re-applied on every migrate.

create or replace trigger companies_touch before update on public.companies
  for each row execute function private.touch_updated_at();

create or replace trigger contacts_touch before update on public.contacts
  for each row execute function private.touch_updated_at();

create or replace trigger contacts_same_org before insert or update of company_id, org_id on public.contacts
  for each row execute function private.check_crm_same_org();

create or replace trigger interactions_same_org before insert or update of contact_id, org_id on public.interactions
  for each row execute function private.check_crm_same_org();
