-- Row-level security for appointment booking (migrations/*_appointment_booking.sql).
--
-- promo_code_services limits a promo code to services. Like promo_code_tiers,
-- only the org's owners, admins and managers read or change it; the public
-- never sees it (codes are validated at checkout only, by the SECURITY
-- DEFINER booking function).

revoke all on public.promo_code_services from anon, authenticated;
grant select, insert, update, delete on public.promo_code_services to authenticated;
grant all on public.promo_code_services to service_role;

alter table public.promo_code_services enable row level security;

drop policy if exists "Promo service limits are visible to managers" on public.promo_code_services;
create policy "Promo service limits are visible to managers" on public.promo_code_services
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Promo service limits are created by managers" on public.promo_code_services;
create policy "Promo service limits are created by managers" on public.promo_code_services
  for insert to authenticated
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Promo service limits are edited by managers" on public.promo_code_services;
create policy "Promo service limits are edited by managers" on public.promo_code_services
  for update to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Promo service limits are deleted by managers" on public.promo_code_services;
create policy "Promo service limits are deleted by managers" on public.promo_code_services
  for delete to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));
