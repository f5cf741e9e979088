-- Rate limits: take one request from a bucket for a subject, or refuse with 429.
--
-- `private.rate_limit_take` is the generic cell rate algorithm over one row per
-- (bucket, subject): the row's time is when the next request would be due at the
-- allowed rate; a request is allowed while that time stays within one period of
-- now, and moves it on by period / requests. The upsert is one statement, so
-- concurrent requests of one subject serialise on the row and never overshoot.
-- `private.throttle` applies a bucket's rule to whoever is calling: nothing for
-- the service role, the user id when signed in, else the client's IP address
-- as PostgREST passes it (the first X-Forwarded-For entry, Supabase's own advice;
-- the functions set the same header from the address they trust).
--
-- A refusal is raised as PostgREST's SQLSTATE 'PGRST', whose DETAIL carries the
-- HTTP status and headers: PostgREST answers 429 with Retry-After, and
-- shared/platform/errors.py reads it the same way for the functions.
-- Tables: migrations/20261208000100_platform_rate_limits.sql.

create or replace function private.raise_rate_limited(p_bucket text, p_retry_after_seconds integer)
  returns void
  language plpgsql
  set search_path = ''
as $$
begin
  raise sqlstate 'PGRST' using
    message = jsonb_build_object(
      'code', 'rate_limited',
      'message', 'Too many requests; try again in ' || p_retry_after_seconds || ' s',
      'details', jsonb_build_object('bucket', p_bucket, 'retry_after_seconds', p_retry_after_seconds),
      'hint', null)::text,
    detail = jsonb_build_object(
      'status', 429,
      'headers', jsonb_build_object('Retry-After', p_retry_after_seconds::text))::text;
end;
$$;

create or replace function private.rate_limit_take(p_bucket text, p_subject text, p_requests integer,
                                                   p_per interval, p_at timestamptz default null)
  returns integer
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  at_ timestamptz := coalesce(p_at, now());
  step interval := p_per / p_requests;
  due timestamptz;
begin
  insert into private.rate_limits as r (bucket, subject, theoretical_arrival)
  values (p_bucket, left(p_subject, 100), at_ + step)
  on conflict (bucket, subject) do update
    set theoretical_arrival = greatest(r.theoretical_arrival, at_) + step
    where greatest(r.theoretical_arrival, at_) + step <= at_ + p_per
  returning theoretical_arrival into due;
  if due is null then
    select greatest(r.theoretical_arrival, at_) + step - p_per into due
    from private.rate_limits r where r.bucket = p_bucket and r.subject = left(p_subject, 100);
    perform private.raise_rate_limited(p_bucket, greatest(1, ceil(extract(epoch from due - at_)))::integer);
  end if;
  return floor(extract(epoch from at_ + p_per - due) / extract(epoch from step))::integer;
end;
$$;
comment on function private.rate_limit_take(text, text, integer, interval, timestamptz) is
  'Take one request for (bucket, subject) and return how many more would pass now: allowed are `requests` '
  'at once, then one per `per / requests`. Refuses with 429 rate_limited and the seconds to wait. p_at is the clock (default now()).';

-- Who the caller is, for counting: the user, or the guest's IP address.
create or replace function private.client_subject() returns text
  language sql
  stable
  set search_path = ''
as $$
  select coalesce(
    'user:' || (select auth.uid())::text,
    'ip:' || nullif(btrim(split_part(
      coalesce(nullif(current_setting('request.headers', true), ''), '{}')::jsonb ->> 'x-forwarded-for', ',', 1)), ''),
    'ip:unknown');
$$;

create or replace function private.throttle(p_bucket text) returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  rule private.rate_limit_rules;
begin
  if coalesce((select auth.role()), '') = 'service_role' then
    return;
  end if;
  select * into rule from private.rate_limit_rules where bucket = p_bucket;
  if not found then
    raise exception 'no rate limit rule for bucket %', p_bucket;
  end if;
  perform private.rate_limit_take(p_bucket, private.client_subject(), rule.requests, rule.per);
end;
$$;
comment on function private.throttle(text) is
  'Apply the rule of `p_bucket` to the caller (user, else client IP; never the service role): 429 when over.';

-- Idle rows (due in the past) say nothing a fresh row would not; cron clears them.
create or replace function private.purge_idle_rate_limits() returns integer
  language sql
  security definer
  set search_path = ''
as $$
  with gone as (delete from private.rate_limits where theoretical_arrival < now() returning 1)
  select count(*)::integer from gone;
$$;

grant execute on function private.throttle(text), private.client_subject() to anon, authenticated, service_role;
grant execute on function private.purge_idle_rate_limits() to service_role;
