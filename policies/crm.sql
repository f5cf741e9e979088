-- Row-level security for the CRM: private to the organiser's organization.
-- Owners, admins and managers manage; staff read.

revoke all on public.companies, public.contacts, public.interactions from anon, authenticated;
grant select, insert, update, delete on public.companies, public.contacts, public.interactions
  to authenticated;
grant all on public.companies, public.contacts, public.interactions to service_role;

alter table public.companies enable row level security;
alter table public.contacts enable row level security;
alter table public.interactions enable row level security;

do $$
declare
  t text;
begin
  foreach t in array array['companies', 'contacts', 'interactions'] loop
    execute format('drop policy if exists "CRM %1$s are visible to the organization" on public.%1$I', t);
    execute format($p$create policy "CRM %1$s are visible to the organization" on public.%1$I
      for select to authenticated
      using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[]))$p$, t);
    execute format('drop policy if exists "CRM %1$s are created by managers" on public.%1$I', t);
    execute format($p$create policy "CRM %1$s are created by managers" on public.%1$I
      for insert to authenticated
      with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))$p$, t);
    execute format('drop policy if exists "CRM %1$s are edited by managers" on public.%1$I', t);
    execute format($p$create policy "CRM %1$s are edited by managers" on public.%1$I
      for update to authenticated
      using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))
      with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))$p$, t);
    execute format('drop policy if exists "CRM %1$s are deleted by managers" on public.%1$I', t);
    execute format($p$create policy "CRM %1$s are deleted by managers" on public.%1$I
      for delete to authenticated
      using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))$p$, t);
  end loop;
end
$$;
