-- Row-level security for the chauffeur area.
--
-- Public (anon and anyone signed in): active vehicle classes, for the booking
-- page. Quotes, bookings and guest lookups go through definer functions.
-- Owners and admins manage the fleet, the settings and the rate rules;
-- dispatchers read all of it and every reservation of their org, and change
-- reservations only through the dispatch functions. A driver reads their own
-- driver row, the org's vehicles and classes, and only the trips assigned to
-- them (with those trips' stops and customers); an affiliate their own row. A
-- customer signed in reads their own customer row and trips. Reservations and
-- their stops are written only by the functions (book, assign, set status,
-- the driver's steps), so every rule in them holds on every path.

revoke all on public.chauffeur_settings, public.vehicle_classes, public.vehicles, public.drivers, public.affiliates,
  public.chauffeur_rate_rules, public.chauffeur_customers, public.reservations, public.reservation_stops
  from anon, authenticated;

grant select on public.vehicle_classes to anon;
grant select, insert, update, delete on public.chauffeur_settings, public.vehicle_classes, public.vehicles,
  public.drivers, public.affiliates, public.chauffeur_rate_rules to authenticated;
grant select, insert, update on public.chauffeur_customers to authenticated;
grant select on public.reservations, public.reservation_stops to authenticated;
grant all on public.chauffeur_settings, public.vehicle_classes, public.vehicles, public.drivers, public.affiliates,
  public.chauffeur_rate_rules, public.chauffeur_customers, public.reservations, public.reservation_stops to service_role;

alter table public.chauffeur_settings enable row level security;
alter table public.vehicle_classes enable row level security;
alter table public.vehicles enable row level security;
alter table public.drivers enable row level security;
alter table public.affiliates enable row level security;
alter table public.chauffeur_rate_rules enable row level security;
alter table public.chauffeur_customers enable row level security;
alter table public.reservations enable row level security;
alter table public.reservation_stops enable row level security;

-- Fleet, settings and rate rules: owners and admins write; dispatchers (and for the fleet, drivers) read;
-- anyone reads an active class; a driver or an affiliate reads their own row.
do $$
declare
  t text;
  readers text;
  also text;
begin
  foreach t in array array['chauffeur_settings', 'vehicle_classes', 'vehicles', 'drivers', 'affiliates',
                           'chauffeur_rate_rules'] loop
    readers := case when t in ('vehicle_classes', 'vehicles', 'chauffeur_settings') then '{owner,admin,dispatcher,driver}'
                    else '{owner,admin,dispatcher}' end;
    also := case t when 'vehicle_classes' then ' or active'
                   when 'drivers' then ' or user_id = (select auth.uid())'
                   when 'affiliates' then ' or user_id = (select auth.uid())' else '' end;
    execute format('drop policy if exists "Chauffeur staff read %1$s" on public.%1$I', t);
    execute format($p$create policy "Chauffeur staff read %1$s" on public.%1$I for select to authenticated
                      using (org_id = any ((select private.org_ids_with_role(%2$L))::uuid[])%3$s)$p$, t, readers, also);
    execute format('drop policy if exists "Owners and admins insert %1$s" on public.%1$I', t);
    execute format($p$create policy "Owners and admins insert %1$s" on public.%1$I for insert to authenticated
                      with check (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]))$p$, t);
    execute format('drop policy if exists "Owners and admins update %1$s" on public.%1$I', t);
    execute format($p$create policy "Owners and admins update %1$s" on public.%1$I for update to authenticated
                      using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]))
                      with check (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]))$p$, t);
    execute format('drop policy if exists "Owners and admins delete %1$s" on public.%1$I', t);
    execute format($p$create policy "Owners and admins delete %1$s" on public.%1$I for delete to authenticated
                      using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]))$p$, t);
  end loop;
end
$$;

drop policy if exists "Active vehicle classes are visible to anyone" on public.vehicle_classes;
create policy "Active vehicle classes are visible to anyone" on public.vehicle_classes
  for select to anon using (active);

-- Customers: dispatch reads and edits them; a driver reads the customers of their own trips; a customer themselves.
drop policy if exists "Dispatch reads customers" on public.chauffeur_customers;
create policy "Dispatch reads customers" on public.chauffeur_customers
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,dispatcher}'))::uuid[])
         or user_id = (select auth.uid())
         or id in (select r.customer_id from public.reservations r
                   where r.driver_id = any ((select private.own_driver_ids())::uuid[])));

drop policy if exists "Dispatch adds customers" on public.chauffeur_customers;
create policy "Dispatch adds customers" on public.chauffeur_customers
  for insert to authenticated
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,dispatcher}'))::uuid[]));

drop policy if exists "Dispatch edits customers" on public.chauffeur_customers;
create policy "Dispatch edits customers" on public.chauffeur_customers
  for update to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,dispatcher}'))::uuid[]))
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,dispatcher}'))::uuid[]));

-- Reservations and stops: dispatch reads the org's; a driver their own trips; a customer their own.
drop policy if exists "Reservations are visible to dispatch, their driver and their customer" on public.reservations;
create policy "Reservations are visible to dispatch, their driver and their customer" on public.reservations
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,dispatcher}'))::uuid[])
         or driver_id = any ((select private.own_driver_ids())::uuid[])
         or customer_id = any ((select private.own_chauffeur_customer_ids())::uuid[]));

drop policy if exists "Stops are visible with their reservation" on public.reservation_stops;
create policy "Stops are visible with their reservation" on public.reservation_stops
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,dispatcher}'))::uuid[])
         or reservation_id in (select r.id from public.reservations r
                               where r.driver_id = any ((select private.own_driver_ids())::uuid[])
                                  or r.customer_id = any ((select private.own_chauffeur_customer_ids())::uuid[])));

-- Farm-outs: dispatch reads its org's; an affiliate their own; written only through the functions.
revoke all on public.farm_outs from anon, authenticated;
grant select on public.farm_outs to authenticated;
grant all on public.farm_outs to service_role;
alter table public.farm_outs enable row level security;

drop policy if exists "Farm-outs are visible to dispatch and their affiliate" on public.farm_outs;
create policy "Farm-outs are visible to dispatch and their affiliate" on public.farm_outs
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,dispatcher}'))::uuid[])
         or affiliate_id = any ((select private.own_affiliate_ids())::uuid[]));
