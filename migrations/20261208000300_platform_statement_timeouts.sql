-- Statement timeouts per API role, as Supabase sets them: a guest's statement
-- may run 3 s, a signed-in user's 8 s; the service role (webhooks, cron,
-- reports run by the platform) keeps the server's default. PostgREST applies a
-- role's settings when it switches to the role; the functions do the same in
-- shared/platform/db.py act_as, reading these values, so both paths agree.

alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
