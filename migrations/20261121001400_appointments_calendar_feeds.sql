-- Service appointments: calendar feeds (iCalendar subscriptions) and the data
-- behind one .ics per appointment.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/appointments/calendar_feeds.sql, routines/appointments/triggers.sql.

create table public.calendar_feeds (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  token_hash bytea not null unique check (length(token_hash) = 32),
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
comment on table public.calendar_feeds is
  'A secret, revocable iCalendar feed URL per user. Only the sha256 of the token is stored (never readable through the API); one active feed per user.';
comment on column public.calendar_feeds.token_hash is
  'sha256 of the feed token (private.token_hash); the token itself is shown once by create_calendar_feed().';
create index calendar_feeds_user_id_idx on public.calendar_feeds (user_id);
create unique index calendar_feeds_one_active_per_user on public.calendar_feeds (user_id) where revoked_at is null;

-- ---------------------------------------------------------------------------
-- Creating and revoking a feed
-- ---------------------------------------------------------------------------

-- ---------------------------------------------------------------------------
-- What a calendar shows
-- ---------------------------------------------------------------------------
