-- Function privileges decided per role, identical locally and on Supabase;
-- default-privilege changes only in the schemas the product owns.
--
-- *_tenancy.sql revoked PUBLIC's EXECUTE from the owner's default privileges
-- in every schema, which also changed every function the owner creates later
-- anywhere (the dashboard's included). That global change is undone here.
-- Instead, `bookwell migrate` revokes PUBLIC's EXECUTE on every function in
-- `public` and `private` inside each migration's own transaction
-- (shared/migrate.py, FUNCTION_FLOOR), so no function of ours is ever
-- executable by PUBLIC and every grant below is explicit.
--
-- Who runs what:
--   anon, authenticated  only the functions granted to them by name where the
--                        function is created (their default in public is
--                        revoked by *_tenancy.sql)
--   service_role         every function in public, on purpose: it is the
--                        project's admin key, bypasses RLS and reads every
--                        table, and Supabase grants it all of public by
--                        default; the RPCs still check their caller (for it
--                        auth.uid() is null). In private, only the helpers
--                        granted to it by name (webhooks, cron).
-- Locally the bootstrap sets Supabase's default privileges, so a function
-- created by a later migration gets the same grants in both places.

alter default privileges grant execute on functions to public;

grant execute on all functions in schema public to service_role;
alter default privileges in schema public grant execute on functions to service_role;

revoke execute on all functions in schema public, private from public;
