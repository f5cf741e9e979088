-- AI assistants: wizard sessions, and the per-user rate limit and daily token
-- budget every assistant shares.
--
-- A wizard session is one conversation that drafts an event: its messages (in
-- the OpenAI chat format), the draft it has saved so far, and its token usage.
-- Sessions belong to their user within an organization; the assistant's tools
-- act as that user under RLS, never as service_role.
--
-- Limits live in Postgres so that every function instance agrees: a request
-- takes its place under the per-minute rule (routines/platform/rate_limits.sql)
-- and is refused when that is full or today's tokens are spent (429).
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121000600_ticketing_ai_wizard.sql.

-- A session may only be opened in an organization the owner manages events for, with the
-- ai_wizard feature on (routines/platform/feature_flags.sql).
create or replace function private.check_wizard_session() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform private.require_feature('ai_wizard', new.org_id);
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

-- Reserve one request for the caller, or refuse: 429 rate_limited past the
-- per-minute rule (private.rate_limit_take, with Retry-After), PT429
-- token_budget_exhausted when today's tokens are spent.
create or replace function private.ai_reserve(p_requests_per_minute integer, p_daily_tokens integer)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
  today date := (now() at time zone 'UTC')::date;
  spent integer;
  left_this_minute integer;
begin
  select u.tokens into spent from private.ai_usage u where u.user_id = caller and u.day = today;
  if coalesce(spent, 0) >= p_daily_tokens then
    raise exception using errcode = 'PT429', detail = 'token_budget_exhausted',
      message = 'Today''s AI budget is used up; it resets at midnight UTC';
  end if;
  left_this_minute := private.rate_limit_take('ai', 'user:' || caller, p_requests_per_minute, interval '1 minute');
  insert into private.ai_usage as u (user_id, day, requests) values (caller, today, 1)
  on conflict (user_id, day) do update set requests = u.requests + 1;
  return jsonb_build_object('tokens_left', p_daily_tokens - coalesce(spent, 0),
                            'requests_left_this_minute', left_this_minute);
end;
$$;

create or replace function private.ai_record_tokens(p_tokens integer) returns void
  language sql
  security definer
  set search_path = ''
as $$
  insert into private.ai_usage as u (user_id, day, tokens)
  values ((select auth.uid()), (now() at time zone 'UTC')::date, greatest(p_tokens, 0))
  on conflict (user_id, day) do update set tokens = u.tokens + greatest(excluded.tokens, 0);
$$;
grant execute on function
  private.ai_reserve(integer, integer),
  private.ai_record_tokens(integer)
  to authenticated;
