-- Service appointments: calendar feeds (iCalendar subscriptions) and the data
-- behind one .ics per appointment.
--
-- A feed is a secret URL a user pastes into their calendar app
-- (/functions/v1/calendar/feeds/<token>.ics). The token (384 random bits,
-- private.random_token) is shown once by create_calendar_feed(); only its
-- sha256 is stored, so a leaked table leaks no feed. One active feed per
-- user: creating a new one revokes the old. A revoked feed stays revoked.
--
-- What a feed shows (private.calendar_events, the same scope as the SELECT
-- policy on appointments):
--   staff                  -> the jobs assigned to their staff rows, in orgs where
--                             they are still a member;
--   customer               -> their own appointments;
--   owner/admin/manager    -> every appointment of their org (scope: whole org).
-- From 30 days ago to 365 days ahead, cancelled ones included (a calendar only
-- removes an event it is told is CANCELLED); held slots (unpaid checkouts) are
-- left out of feeds. The customer's name is shown only where the viewer is the
-- staff member or a manager of that appointment.
--
-- The calendar function reads a feed as service_role through
-- private.calendar_feed_events(token) (anon has no execute), and one
-- appointment as the signed-in caller through
-- private.calendar_appointment_event(id), scoped to auth.uid().
-- RLS: policies/appointments.sql.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121001400_appointments_calendar_feeds.sql.

-- Revoking stamps the server's clock; a revoked feed cannot be revived.
create or replace function private.calendar_feed_guard() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if old.revoked_at is not null then
    if new.revoked_at is distinct from old.revoked_at then
      raise exception using errcode = 'PT409', message = 'A revoked calendar feed stays revoked',
        detail = 'feed_revoked';
    end if;
  elsif new.revoked_at is not null then
    new.revoked_at := now();
  end if;
  return new;
end;
$$;

create or replace function private.create_calendar_feed() returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
  token text := private.random_token();
  feed public.calendar_feeds;
begin
  -- Serialise a user's feed changes, then retire the active one.
  perform 1 from public.profiles where id = caller for update;
  update public.calendar_feeds set revoked_at = now() where user_id = caller and revoked_at is null;
  insert into public.calendar_feeds (user_id, token_hash)
  values (caller, private.token_hash(token))
  returning * into feed;
  return jsonb_build_object(
    'feed_id', feed.id,
    'token', token,
    'url_path', '/functions/v1/calendar/feeds/' || token || '.ics',
    'created_at', feed.created_at
  );
end;
$$;
grant execute on function private.create_calendar_feed() to authenticated;

create or replace function public.create_calendar_feed() returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.create_calendar_feed();
end;
$$;
comment on function public.create_calendar_feed() is
  'Creates the caller''s calendar feed and revokes the previous one; returns the token and URL path once (store them nowhere).';
grant execute on function public.create_calendar_feed() to authenticated;

-- SECURITY INVOKER: RLS decides (own rows only); unknown or foreign ids are 404.
create or replace function public.revoke_calendar_feed(feed_id uuid) returns void
  language plpgsql
  set search_path = ''
as $$
begin
  update public.calendar_feeds set revoked_at = now()
  where id = revoke_calendar_feed.feed_id and revoked_at is null;
  if not found and not exists (select 1 from public.calendar_feeds where id = revoke_calendar_feed.feed_id) then
    raise exception using errcode = 'PT404', message = 'No such calendar feed', detail = 'feed_not_found';
  end if;
end;
$$;
comment on function public.revoke_calendar_feed(uuid) is
  'Revokes one of the caller''s calendar feeds (idempotent); its URL stops working at once.';
grant execute on function public.revoke_calendar_feed(uuid) to authenticated;

-- The events `p_user_id` may see: the window (or one appointment), as a jsonb
-- array ordered by start. Owner-only: called by the definer functions below.
create or replace function private.calendar_events(p_user_id uuid, p_appointment_id uuid default null) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  with own_staff as (
    select s.id
    from public.staff s
    join public.memberships m on m.org_id = s.org_id and m.user_id = s.user_id
    where s.user_id = p_user_id
  ), managed_orgs as (
    select m.org_id from public.memberships m
    where m.user_id = p_user_id and m.role in ('owner', 'admin', 'manager')
  ), visible as (
    select a.*,
           (a.staff_id in (select id from own_staff)
            or (a.org_id in (select org_id from managed_orgs)
                and private.user_manages_appointment(p_user_id, a.org_id, a.staff_id, a.service_id))) as works_on_it
    from public.appointments a
    where (a.customer_user_id = p_user_id
           or a.staff_id in (select id from own_staff)
           or (a.org_id in (select org_id from managed_orgs)
               and private.user_manages_appointment(p_user_id, a.org_id, a.staff_id, a.service_id)))
      and case when p_appointment_id is null
               then a.status <> 'held'
                    and a.period && tstzrange(now() - interval '30 days', now() + interval '365 days')
               else a.id = p_appointment_id end
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', a.id,
           'org_name', o.name,
           'org_timezone', o.timezone,
           'service_name', sv.name,
           'staff_name', st.display_name,
           'customer_name', case when a.works_on_it then a.customer_name end,
           'customer_phone', case when a.works_on_it then a.customer_phone end,
           'address', a.address,
           'postcode', a.postcode,
           'starts_at', lower(a.period),
           'ends_at', upper(a.period),
           'status', a.status,
           'sequence', a.sequence,
           'created_at', a.created_at,
           'updated_at', a.updated_at
         ) order by lower(a.period), a.id), '[]'::jsonb)
  from visible a
  join public.services sv on sv.id = a.service_id
  join public.staff st on st.id = a.staff_id
  join public.organizations o on o.id = a.org_id;
$$;
comment on function private.calendar_events(uuid, uuid) is
  'Appointments a user''s calendar shows (staff: their jobs; customer: their own; owner/admin/manager: their org), -30 to +365 days, cancelled included, held excluded; or one appointment by id within that scope.';

-- The feed behind a token: null when unknown or revoked. service_role only
-- (the calendar function), so anon cannot probe tokens through SQL.
create or replace function private.calendar_feed_events(p_token text) returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  feed public.calendar_feeds;
  who public.profiles;
begin
  if p_token is null or length(p_token) not between 32 and 200 then
    return null;
  end if;
  select * into feed from public.calendar_feeds
  where token_hash = private.token_hash(p_token) and revoked_at is null;
  if not found then
    return null;
  end if;
  select * into who from public.profiles where id = feed.user_id;
  return jsonb_build_object(
    'feed_id', feed.id,
    'user_id', feed.user_id,
    'user_name', coalesce(nullif(btrim(who.full_name), ''), who.email),
    'events', private.calendar_events(feed.user_id)
  );
end;
$$;
comment on function private.calendar_feed_events(text) is
  'The calendar feed for a token (see private.calendar_events), or null for an unknown or revoked token.';
grant execute on function private.calendar_feed_events(text) to service_role;

-- One appointment for the signed-in caller, within their own scope (the same
-- as the appointments SELECT policy); null when they may not see it.
create or replace function private.calendar_appointment_event(p_appointment_id uuid) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select private.calendar_events((select auth.uid()), p_appointment_id) -> 0
  where (select auth.uid()) is not null;
$$;
comment on function private.calendar_appointment_event(uuid) is
  'One appointment as a calendar event for the caller (auth.uid()), or null when outside their scope.';
grant execute on function private.calendar_appointment_event(uuid) to authenticated, service_role;
