-- AI assistants: wizard sessions, and the per-user rate limit and daily token
-- budget every assistant shares.
--
-- A wizard session is one conversation that drafts an event: its messages (in
-- the OpenAI chat format), the draft it has saved so far, and its token usage.
-- Sessions belong to their user within an organization; the assistant's tools
-- act as that user under RLS, never as service_role.
--
-- Limits live in Postgres so that every function instance agrees: a request
-- reserves its place in the current minute's window and is refused when the
-- window is full or today's tokens are spent (PT429).
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121000600_ticketing_ai_wizard.sql.

-- A session may only be opened in an organization the owner manages events for.
create or replace function private.check_wizard_session() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  if not exists (
    select 1 from public.memberships m
    where m.org_id = new.org_id and m.user_id = new.owner_id and m.role in ('owner', 'admin', 'manager')
  ) then
    raise exception using errcode = 'PT403', message = 'Only event managers of this organization use the wizard',
      detail = 'not_an_event_manager';
  end if;
  if new.event_id is not null and not exists (
    select 1 from public.events e where e.id = new.event_id and e.org_id = new.org_id
  ) then
    raise exception using errcode = 'PT422', message = 'The event belongs to another organization',
      detail = 'foreign_event';
  end if;
  return new;
end;
$$;

-- Reserve one request for the caller, or refuse with PT429 (rate_limited or
-- token_budget_exhausted). Atomic: the row lock serialises one user's instances.
create or replace function private.ai_reserve(p_requests_per_minute integer, p_daily_tokens integer)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
  today date := (now() at time zone 'UTC')::date;
  usage private.ai_usage;
begin
  insert into private.ai_usage (user_id, day, window_start)
  values (caller, today, date_trunc('minute', now()))
  on conflict (user_id, day) do nothing;
  select * into usage from private.ai_usage where user_id = caller and day = today for update;
  if usage.window_start < date_trunc('minute', now()) then
    usage.window_start := date_trunc('minute', now());
    usage.window_requests := 0;
  end if;
  if usage.tokens >= p_daily_tokens then
    raise exception using errcode = 'PT429', detail = 'token_budget_exhausted',
      message = 'Today''s AI budget is used up; it resets at midnight UTC';
  end if;
  if usage.window_requests >= p_requests_per_minute then
    raise exception using errcode = 'PT429', detail = 'rate_limited',
      message = 'Too many AI requests; wait a minute';
  end if;
  update private.ai_usage
  set window_start = usage.window_start, window_requests = usage.window_requests + 1, requests = requests + 1
  where user_id = caller and day = today;
  return jsonb_build_object('tokens_left', p_daily_tokens - usage.tokens,
                            'requests_left_this_minute', p_requests_per_minute - usage.window_requests - 1);
end;
$$;

create or replace function private.ai_record_tokens(p_tokens integer) returns void
  language sql
  security definer
  set search_path = ''
as $$
  insert into private.ai_usage as u (user_id, day, window_start, tokens)
  values ((select auth.uid()), (now() at time zone 'UTC')::date, date_trunc('minute', now()), greatest(p_tokens, 0))
  on conflict (user_id, day) do update set tokens = u.tokens + greatest(excluded.tokens, 0);
$$;
grant execute on function
  private.ai_reserve(integer, integer),
  private.ai_record_tokens(integer)
  to authenticated;
