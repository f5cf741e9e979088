-- Row-level security for the ticketing area: events, tiers, orders' tickets, check-ins, and the
-- AI event wizard's sessions. One file per area; each section keeps its own header.

-- Row-level security for ticketing.
--
-- Anon reads published public events, their on-sale tiers and their venues,
-- nothing else. Owners, admins and managers manage their org's venues, events,
-- tiers and promo restrictions; staff read them and check in (through the RPC).
-- Buyers read their own tickets; no API role reads a ticket's secret.

revoke all on public.venues, public.events, public.ticket_tiers, public.promo_code_tiers,
  public.tickets, public.check_ins from anon, authenticated;

grant select on public.venues, public.events, public.ticket_tiers to anon;
grant select, insert, update, delete on public.venues, public.events, public.ticket_tiers,
  public.promo_code_tiers to authenticated;
grant select (id, org_id, event_id, tier_id, order_id, order_item_id, attendee_name, attendee_email,
              status, checked_in_at, checked_in_by, created_at, updated_at)
  on public.tickets to authenticated;
grant select on public.check_ins to authenticated;

grant all on public.venues, public.events, public.ticket_tiers, public.promo_code_tiers,
  public.tickets, public.check_ins to service_role;

alter table public.venues enable row level security;
alter table public.events enable row level security;
alter table public.ticket_tiers enable row level security;
alter table public.promo_code_tiers enable row level security;
alter table public.tickets enable row level security;
alter table public.check_ins enable row level security;

-- events --------------------------------------------------------------------
drop policy if exists "Published public events are visible to anyone" on public.events;
create policy "Published public events are visible to anyone" on public.events
  for select to anon
  using (status = 'published' and visibility = 'public');

drop policy if exists "Events are visible to members and, once published, to everyone" on public.events;
create policy "Events are visible to members and, once published, to everyone" on public.events
  for select to authenticated
  using ((status = 'published' and visibility = 'public')
         or org_id = any ((select private.org_ids_with_role())::uuid[]));

drop policy if exists "Events are created by event managers" on public.events;
create policy "Events are created by event managers" on public.events
  for insert to authenticated
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Events are edited by event managers" on public.events;
create policy "Events are edited by event managers" on public.events
  for update to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Draft events are deleted by event managers" on public.events;
create policy "Draft events are deleted by event managers" on public.events
  for delete to authenticated
  using (status = 'draft'
         and org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

-- venues --------------------------------------------------------------------
drop policy if exists "Venues of published public events are visible to anyone" on public.venues;
create policy "Venues of published public events are visible to anyone" on public.venues
  for select to anon
  using (id in (select e.venue_id from public.events e
                where e.status = 'published' and e.visibility = 'public'));

drop policy if exists "Venues are visible to members and with published events" on public.venues;
create policy "Venues are visible to members and with published events" on public.venues
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role())::uuid[])
         or id in (select e.venue_id from public.events e
                   where e.status = 'published' and e.visibility = 'public'));

drop policy if exists "Venues are created by event managers" on public.venues;
create policy "Venues are created by event managers" on public.venues
  for insert to authenticated
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Venues are edited by event managers" on public.venues;
create policy "Venues are edited by event managers" on public.venues
  for update to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Venues are deleted by event managers" on public.venues;
create policy "Venues are deleted by event managers" on public.venues
  for delete to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

-- ticket_tiers ----------------------------------------------------------------
drop policy if exists "On-sale tiers of published public events are visible to anyone" on public.ticket_tiers;
create policy "On-sale tiers of published public events are visible to anyone" on public.ticket_tiers
  for select to anon
  using ((sale_starts_at is null or sale_starts_at <= now())
         and (sale_ends_at is null or sale_ends_at > now())
         and event_id in (select e.id from public.events e
                          where e.status = 'published' and e.visibility = 'public'));

drop policy if exists "Tiers are visible to members and, on sale, to everyone" on public.ticket_tiers;
create policy "Tiers are visible to members and, on sale, to everyone" on public.ticket_tiers
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role())::uuid[])
         or ((sale_starts_at is null or sale_starts_at <= now())
             and (sale_ends_at is null or sale_ends_at > now())
             and event_id in (select e.id from public.events e
                              where e.status = 'published' and e.visibility = 'public')));

drop policy if exists "Tiers are created by event managers" on public.ticket_tiers;
create policy "Tiers are created by event managers" on public.ticket_tiers
  for insert to authenticated
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Tiers are edited by event managers" on public.ticket_tiers;
create policy "Tiers are edited by event managers" on public.ticket_tiers
  for update to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Tiers are deleted by event managers" on public.ticket_tiers;
create policy "Tiers are deleted by event managers" on public.ticket_tiers
  for delete to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

-- promo_code_tiers --------------------------------------------------------------
drop policy if exists "Promo tier limits are visible to event managers" on public.promo_code_tiers;
create policy "Promo tier limits are visible to event managers" on public.promo_code_tiers
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Promo tier limits are created by event managers" on public.promo_code_tiers;
create policy "Promo tier limits are created by event managers" on public.promo_code_tiers
  for insert to authenticated
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Promo tier limits are edited by event managers" on public.promo_code_tiers;
create policy "Promo tier limits are edited by event managers" on public.promo_code_tiers
  for update to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]))
  with check (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

drop policy if exists "Promo tier limits are deleted by event managers" on public.promo_code_tiers;
create policy "Promo tier limits are deleted by event managers" on public.promo_code_tiers
  for delete to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager}'))::uuid[]));

-- tickets and check-ins -------------------------------------------------------------
drop policy if exists "Tickets are visible to their buyer and the organization" on public.tickets;
create policy "Tickets are visible to their buyer and the organization" on public.tickets
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[])
         or order_id in (select o.id from public.orders o where o.buyer_user_id = (select auth.uid())));

drop policy if exists "Check-ins are visible to the organization" on public.check_ins;
create policy "Check-ins are visible to the organization" on public.check_ins
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin,manager,staff}'))::uuid[]));

-- ===========================================================================

-- Row-level security for AI wizard sessions: private to the user who opened
-- them (the trigger checks they manage events in the session's organization).
-- Token budgets live in private.ai_usage, out of every API role's reach.

revoke all on public.wizard_sessions from anon, authenticated;
grant select, delete on public.wizard_sessions to authenticated;
grant insert (org_id, owner_id, title, messages, draft, event_id) on public.wizard_sessions to authenticated;
grant update (title, status, messages, draft, event_id, prompt_tokens, completion_tokens)
  on public.wizard_sessions to authenticated;
grant all on public.wizard_sessions to service_role;
alter table public.wizard_sessions enable row level security;

drop policy if exists "Wizard sessions are visible to their owner" on public.wizard_sessions;
create policy "Wizard sessions are visible to their owner" on public.wizard_sessions
  for select to authenticated
  using (owner_id = (select auth.uid()));

drop policy if exists "Wizard sessions are opened by their owner" on public.wizard_sessions;
create policy "Wizard sessions are opened by their owner" on public.wizard_sessions
  for insert to authenticated
  with check (owner_id = (select auth.uid()));

drop policy if exists "Wizard sessions are continued by their owner" on public.wizard_sessions;
create policy "Wizard sessions are continued by their owner" on public.wizard_sessions
  for update to authenticated
  using (owner_id = (select auth.uid()))
  with check (owner_id = (select auth.uid()));

drop policy if exists "Wizard sessions are deleted by their owner" on public.wizard_sessions;
create policy "Wizard sessions are deleted by their owner" on public.wizard_sessions
  for delete to authenticated
  using (owner_id = (select auth.uid()));
