-- Row-level security for the notification outbox: written only in the
-- transactions that cause a notification (definer helpers) and by the
-- service_role workers; owners and admins may read their org's queue.

revoke all on public.notification_outbox from anon, authenticated;
grant select on public.notification_outbox to authenticated;
grant all on public.notification_outbox to service_role;
alter table public.notification_outbox enable row level security;

drop policy if exists "Notifications are visible to owners and admins" on public.notification_outbox;
create policy "Notifications are visible to owners and admins" on public.notification_outbox
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));
