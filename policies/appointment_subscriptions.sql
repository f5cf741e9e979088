-- Row-level security for recurring appointment subscriptions
-- (migrations/*_appointment_subscriptions.sql).
--
-- Both tables are written only by the RPCs and the generator (SECURITY
-- DEFINER), so signed-in users get SELECT and nothing else; anon gets nothing
-- (a guest reads their subscription through public.lookup_subscription).
--
-- appointment_subscriptions: the customer reads their own; the staff member
-- who serves it reads it (read-only: it is their recurring job); the org's
-- owners and admins read their org's, managers those within their scope
-- (staff_ids/service_ids, migrations/*_manager_scope.sql). tracking_token_hash
-- is not readable by anyone but the server (column grant).
-- subscription_occurrences (the generation ledger, with the clashes "flagged
-- for an admin"): the org's owners, admins and managers (in scope). Customers and staff
-- see the resulting appointments themselves (policies/appointments.sql) and
-- customers the occurrences through the RPCs' answers.
revoke all on public.appointment_subscriptions, public.subscription_occurrences from anon, authenticated;
grant select (id, org_id, number, service_id, staff_id, customer_user_id, customer_name, customer_email,
              customer_phone, postcode, address, notes, frequency, first_date, start_time, months, ends_on,
              status, cancelled_at, cancelled_by, cancel_reason, created_at, updated_at)
  on public.appointment_subscriptions to authenticated;
grant select on public.subscription_occurrences to authenticated;
grant all on public.appointment_subscriptions, public.subscription_occurrences to service_role;

alter table public.appointment_subscriptions enable row level security;
alter table public.subscription_occurrences enable row level security;

drop policy if exists "Subscriptions are visible to their customer, their staff member and managers"
  on public.appointment_subscriptions;
create policy "Subscriptions are visible to their customer, their staff member and managers"
  on public.appointment_subscriptions
  for select to authenticated
  using (customer_user_id = (select auth.uid())
         or staff_id = any ((select private.own_staff_ids())::uuid[])
         or org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[])
         or (org_id = any ((select private.org_ids_with_role('{manager}'))::uuid[])
             and staff_id = any ((select private.manager_staff_ids())::uuid[])
             and service_id = any ((select private.manager_service_ids())::uuid[])));

drop policy if exists "Subscription occurrences are visible to the organization's managers"
  on public.subscription_occurrences;
create policy "Subscription occurrences are visible to the organization's managers"
  on public.subscription_occurrences
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[])
         -- within a manager's scope: the subscription's own policy decides
         and exists (select 1 from public.appointment_subscriptions s where s.id = subscription_id));
