-- Row-level security for airport parking.
--
-- Public (anon and anyone signed in): active lots, their active products,
-- prices, overrides and extras, for the booking page; availability and
-- quotes go through definer functions (routines/parking/capacity.sql,
-- pricing.sql). Owners and admins manage lots, products, prices, extras and
-- the policy; managers and staff read them. The capacity calendar is read by
-- the org's staff and written only through set_parking_days and the bookings
-- trigger. Bookings, their extras and charges are read by the org's staff and
-- by their own signed-in customer, and written only through the functions
-- (checkout, change, gates), so the policy and the capacity rules hold on
-- every path. The gate code is never readable through the API: the guest gets
-- it with the reference and token, a customer from my_parking_bookings.

revoke all on public.parking_lots, public.parking_products, public.parking_prices, public.parking_price_overrides,
  public.parking_extras, public.parking_days, public.parking_policies, public.parking_bookings,
  public.parking_booking_extras, public.parking_charges from anon, authenticated;

grant select on public.parking_lots, public.parking_products, public.parking_prices, public.parking_price_overrides,
  public.parking_extras to anon;
grant select, insert, update, delete on public.parking_lots, public.parking_products, public.parking_prices,
  public.parking_price_overrides, public.parking_extras, public.parking_policies to authenticated;
grant select on public.parking_days, public.parking_booking_extras, public.parking_charges to authenticated;
grant select (id, org_id, lot_id, product_id, order_id, status, channel, customer_user_id, customer_name,
              customer_email, customer_phone, entry_at, exit_at, first_day, last_day, billable_days, plate, make, model,
              colour, outbound_flight, return_flight, passengers, stay_minor, cover_minor, entered_at, entered_by,
              exited_at, exited_by, cancelled_at, cancel_reason, created_at, updated_at)
  on public.parking_bookings to authenticated;
grant all on public.parking_lots, public.parking_products, public.parking_prices, public.parking_price_overrides,
  public.parking_extras, public.parking_days, public.parking_policies, public.parking_bookings,
  public.parking_booking_extras, public.parking_charges to service_role;

alter table public.parking_lots enable row level security;
alter table public.parking_products enable row level security;
alter table public.parking_prices enable row level security;
alter table public.parking_price_overrides enable row level security;
alter table public.parking_extras enable row level security;
alter table public.parking_days enable row level security;
alter table public.parking_policies enable row level security;
alter table public.parking_bookings enable row level security;
alter table public.parking_booking_extras enable row level security;
alter table public.parking_charges enable row level security;

-- The catalogue: owners and admins write; the org's managers and staff read; anyone reads what is on sale.
do $$
declare
  t text;
  on_sale text;
begin
  foreach t in array array['parking_lots', 'parking_products', 'parking_prices', 'parking_price_overrides',
                           'parking_extras', 'parking_policies'] loop
    on_sale := case t
      when 'parking_lots' then 'active'
      when 'parking_products' then 'active and lot_id in (select l.id from public.parking_lots l where l.active)'
      when 'parking_prices' then 'product_id in (select p.id from public.parking_products p where p.active)'
      when 'parking_price_overrides' then 'product_id in (select p.id from public.parking_products p where p.active)'
      when 'parking_extras' then 'active and lot_id in (select l.id from public.parking_lots l where l.active)'
      else 'false' end;
    execute format('drop policy if exists "Parking staff read %1$s" on public.%1$I', t);
    execute format($p$create policy "Parking staff read %1$s" on public.%1$I for select to authenticated
                      using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[])
                             or (%2$s))$p$, t, on_sale);
    execute format('drop policy if exists "On sale to anyone %1$s" on public.%1$I', t);
    if t <> 'parking_policies' then
      execute format($p$create policy "On sale to anyone %1$s" on public.%1$I for select to anon using (%2$s)$p$,
                     t, on_sale);
    end if;
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

drop policy if exists "Parking staff read the calendar" on public.parking_days;
create policy "Parking staff read the calendar" on public.parking_days
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[]));

drop policy if exists "Bookings are visible to the lot's staff and their customer" on public.parking_bookings;
create policy "Bookings are visible to the lot's staff and their customer" on public.parking_bookings
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[])
         or customer_user_id = (select auth.uid()));

drop policy if exists "Booking extras are visible with their booking" on public.parking_booking_extras;
create policy "Booking extras are visible with their booking" on public.parking_booking_extras
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[])
         or booking_id in (select b.id from public.parking_bookings b where b.customer_user_id = (select auth.uid())));

drop policy if exists "Charges are visible with their booking" on public.parking_charges;
create policy "Charges are visible with their booking" on public.parking_charges
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[])
         or booking_id in (select b.id from public.parking_bookings b where b.customer_user_id = (select auth.uid())));
