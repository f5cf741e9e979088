-- Row-level security for calendar feeds (migrations/*_calendar_feeds.sql).
--
-- Owner only: a signed-in user reads their own feeds (id, user_id, created_at,
-- revoked_at; never token_hash, by column grants), revokes one by setting
-- revoked_at (the only updatable column; a trigger stamps now() and refuses
-- to un-revoke) and deletes their own. Feeds are created only through
-- create_calendar_feed(), which makes the token server-side and shows it once:
-- there is no insert grant. Anon has no grant at all; the feed URL is served by
-- the calendar function through private.calendar_feed_events (service_role).

revoke all on public.calendar_feeds from anon, authenticated;
grant select (id, user_id, created_at, revoked_at) on public.calendar_feeds to authenticated;
grant update (revoked_at) on public.calendar_feeds to authenticated;
grant delete on public.calendar_feeds to authenticated;
grant all on public.calendar_feeds to service_role;
alter table public.calendar_feeds enable row level security;

drop policy if exists "Calendar feeds are visible to their owner" on public.calendar_feeds;
create policy "Calendar feeds are visible to their owner" on public.calendar_feeds
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists "Calendar feeds are revoked by their owner" on public.calendar_feeds;
create policy "Calendar feeds are revoked by their owner" on public.calendar_feeds
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));

drop policy if exists "Calendar feeds are deleted by their owner" on public.calendar_feeds;
create policy "Calendar feeds are deleted by their owner" on public.calendar_feeds
  for delete to authenticated
  using (user_id = (select auth.uid()));
