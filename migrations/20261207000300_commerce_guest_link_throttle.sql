-- The guest-link throttle slows guessers without locking out the holder.
--
-- Ten wrong tokens for one order (or subscription) number in 15 minutes used
-- to lock that number for the rest of the window, the right token included:
-- anyone who read a number in an email could shut its buyer out for a quarter
-- of an hour, ten requests at a time. Tracking tokens are random 366-bit
-- secrets (three UUID v4), so the lock protected nothing a guesser could reach and handed
-- every guesser a denial of service. Now the token is checked first: the
-- holder's always opens; a wrong one is counted, and past ten in the window
-- each further wrong one is answered PT429 throttled (slow down) instead of
-- null. Everything else is as in *_appointment_subscriptions.sql.

create or replace function private.authorize_token_holder(p_table regclass, p_number text, p_token text)
  returns uuid
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  -- One spelling for the throttle and the lookup: ' bw-x' and 'BW-X' are one number.
  wanted text := upper(btrim(coalesce(p_number, '')));
  found_id uuid;
  fails integer;
begin
  if wanted !~ '^[A-Z]{2,3}-[0-9A-Z]{8}$' or p_token is null then
    return null;  -- can match no row; not counted, so garbage cannot grow the throttle table
  end if;
  execute format('select id from %s where number = $1 and tracking_token_hash = $2', p_table)
    into found_id using wanted, private.token_hash(p_token);
  if found_id is not null then
    return found_id;  -- the holder is never refused, however many guesses came before
  end if;
  select failures into fails from private.order_lookup_failures
  where order_number = wanted and window_started_at > now() - interval '15 minutes';
  if coalesce(fails, 0) >= 10 then
    raise exception using errcode = 'PT429', message = 'Too many attempts; try again later', detail = 'throttled';
  end if;
  insert into private.order_lookup_failures as f (order_number, failures, window_started_at)
  values (wanted, 1, now())
  on conflict (order_number) do update
    set failures = case when f.window_started_at > now() - interval '15 minutes' then f.failures + 1 else 1 end,
        window_started_at = case when f.window_started_at > now() - interval '15 minutes'
                                 then f.window_started_at else now() end;
  return null;
end;
$$;
comment on function private.authorize_token_holder(regclass, text, text) is
  'The id of the row of p_table (a table with number and tracking_token_hash) matching number + token. A wrong '
  'token gives null and is counted; past 10 in 15 minutes for that number, PT429 throttled. The right token always '
  'opens. Called by definer functions only.';
