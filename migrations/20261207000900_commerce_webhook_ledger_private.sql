-- The webhook ledger leaves the exposed schema.
--
-- public.webhook_events had row-level security on and no policy: no API role
-- may read or write it (the webhook RPCs record events as their definer), a
-- table Supabase's advisors flag (rls_enabled_no_policy) and PostgREST still
-- lists. In `private`, which PostgREST does not serve, the schema says so; its
-- grants are revoked in policies/commerce.sql. The GDPR registry learns which
-- schema each table lives in, so erasure still scrubs the events' payloads.
--
-- The functions that use it: routines/commerce/orders.sql, routines/privacy/gdpr.sql.

alter table public.webhook_events set schema private;

alter table private.gdpr_tables add column schema_name text not null default 'public';
comment on column private.gdpr_tables.schema_name is 'The schema the table lives in (public unless the API may not reach it).';
update private.gdpr_tables set schema_name = 'private' where table_name = 'webhook_events';
