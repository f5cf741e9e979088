-- GDPR: export everything an organization holds about a customer, and erase it.
--
-- Each organization is a data controller: its owners and admins export or
-- erase what *their* org holds about one person, named by email:
--   export_customer_data(org_id, email) -> one JSON document
--   erase_customer(org_id, email)       -> what was erased (row counts)
-- A signed-in customer may export their own data across every org:
--   export_my_data()                    -> one JSON document (matched by user id,
--                                          and by email only once Supabase Auth
--                                          has confirmed it, so nobody reads a
--                                          guest's orders by signing up with
--                                          their address)
--
-- Data-driven, so that a new table is a small, obvious change. Two registries
-- in `private` (never exposed) say, for every table that holds customer data:
--
--   private.gdpr_tables   (table_name, schema_name, position, org_column, match, note)
--       `match` is a SQL boolean expression over the row `t` that picks the
--       subject's rows. Parameters: $1 the org id (null for export_my_data;
--       the org filter `t.<org_column> = $1` is added for you), $2 the
--       subject's email in lower case (null when unknown), $3 the subject's
--       account ids (uuid[]), $4 the ids already picked in earlier tables,
--       as jsonb {"orders": ["<id>", ...], ...}; tables are visited in
--       `position` order, so children match on their parents' ids, e.g.
--       t.order_id::text in (select jsonb_array_elements_text($4 -> 'orders')).
--       Rows are picked by `t.id`; every registered table has an `id` column.
--   private.gdpr_columns  (table_name, column_name, erase_to, exported, reason)
--       Every column of `public` that may hold personal data, registered
--       either with `erase_to`, the SQL expression the column is set to on
--       erasure (same parameters; e.g. 'Erased customer', null,
--       private.erased_email(t.id)), or with a `reason` why it stays
--       (not a customer's data, or kept as a financial record). `exported =
--       false` leaves a secret out of exports (token hashes, ticket secrets).
--
-- tests/appointments/test_gdpr.py lists every column of the public schema
-- whose name looks personal (email, phone, name, address, postcode, notes,
-- reason, customer*, buyer*, attendee*, recipient, payload, secret, token...)
-- and fails unless each one is registered here. Adding a table with customer
-- data therefore means, in the new table's migration:
--   insert into private.gdpr_tables (table_name, position, match) values
--     ('job_photos', 76, $m$t.appointment_id::text in (select jsonb_array_elements_text($4 -> 'appointments'))$m$);
--   insert into private.gdpr_columns (table_name, column_name, erase_to) values
--     ('job_photos', 'caption', 'null');
-- (and, if the rows need more than their columns rewritten, e.g. files in
-- storage or live bookings to stop, a step in private.erase_customer_rows).
--
-- Erasure (private.erase_customer_rows), in one transaction:
--   1. pick the subject's rows in every registered table (before anything changes);
--   2. stop what is live: unpaid orders (pending) are cancelled, which frees
--      their seats and held slots through the area triggers; the subject's
--      future booked/in-progress appointments are cancelled; queued emails and
--      SMS to them (pending/sending) are marked dead, never sent;
--   3. rewrite every registered column with its erase_to expression, in the
--      picked rows only: names become 'Erased customer', emails a per-row
--      address at erased.invalid (the not-null/format checks stay true),
--      phones, addresses, postcodes and notes null, tracking tokens and
--      ticket secrets replaced by fresh random values (the guest link and the
--      QR codes stop working), account links (buyer_user_id,
--      customer_user_id, requested_by, user_id) null, free text in audit
--      details and provider payloads removed;
--   4. keep every financial row: orders, items, payments, refunds, amounts,
--      currencies, dates and statuses are untouched, so revenue and refund
--      totals do not move;
--   5. write one audit entry, 'customer.erased', with the row counts per
--      table and no personal data;
--   6. delete the job photos of their appointments (rows here; the stored
--      objects are deleted by the caller, shared/gdpr.py, after commit, from
--      the `deleted_photos` paths returned).
-- Running it again finds nothing left and changes nothing (it audits the
-- request again, with zero counts).
--
-- The 24-hour cut-off: cancelling a future appointment within the cut-off is
-- normally refused (private.enforce_appointment_cutoff). Erasure is a legal
-- duty, not a change of plan, so it goes through the cut-off's own override
-- path (bookwell.policy_override = 'GDPR erasure'): only owners and admins
-- run erasure, the trigger honours the override for them, and each such
-- cancellation is audited as 'appointment.policy_override' like any other.
-- Erasure does not refund: money owed for a cancelled booking is refunded by
-- an owner or admin (request_refund) before erasing, as a business decision.
--
-- Not erased per organization, on purpose: the person's account (auth.users,
-- public.profiles, calendar feeds) belongs to the platform, not to one org;
-- deleting the Supabase Auth user removes it (profiles cascade).
--
-- Errors: PT401 not_authenticated, PT403 not_org_admin (anyone but an owner or
-- admin of that org, including other tenants), PT422 invalid_email /
-- invalid_org.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121002200_privacy_gdpr.sql.

-- A per-row address that keeps email checks true and identifies nobody.
create or replace function private.erased_email(p_row_id text) returns text
  language sql immutable
  set search_path = ''
as $$
  select 'erased-' || left(md5(p_row_id), 12) || '@erased.invalid';
$$;

-- The subject's row ids per registered table: {"orders": ["<id>", ...], ...}.
create or replace function private.gdpr_pick(p_org_id uuid, p_email text, p_user_ids uuid[]) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  reg private.gdpr_tables;
  picked jsonb := '{}'::jsonb;
  ids jsonb;
begin
  for reg in select * from private.gdpr_tables order by position loop
    execute format(
      'select coalesce(jsonb_agg(t.id::text order by t.id::text), ''[]''::jsonb) from %I.%I t where (%s)%s',
      reg.schema_name, reg.table_name, reg.match,
      case when reg.org_column is not null then format(' and ($1 is null or t.%I = $1)', reg.org_column) else '' end)
      into ids
      using p_org_id, lower(btrim(p_email)), coalesce(p_user_ids, '{}'::uuid[]), picked;
    picked := picked || jsonb_build_object(reg.table_name, ids);
  end loop;
  return picked;
end;
$$;

-- The picked rows as JSON, secrets (exported = false) left out.
create or replace function private.gdpr_rows(p_picked jsonb) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  reg private.gdpr_tables;
  hidden text[];
  rows jsonb;
  out jsonb := '{}'::jsonb;
begin
  for reg in select * from private.gdpr_tables order by position loop
    select coalesce(array_agg(c.column_name), '{}') into hidden
    from private.gdpr_columns c where c.table_name = reg.table_name and not c.exported;
    execute format(
      'select coalesce(jsonb_agg(to_jsonb(t) - $2 order by t.id::text), ''[]''::jsonb) from %I.%I t'
      ' where t.id::text in (select jsonb_array_elements_text($1))', reg.schema_name, reg.table_name)
      into rows using coalesce(p_picked -> reg.table_name, '[]'::jsonb), hidden;
    out := out || jsonb_build_object(reg.table_name, rows);
  end loop;
  return out;
end;
$$;

-- Every registered column rewritten with its erase_to, in the picked rows only.
create or replace function private.gdpr_scrub(p_org_id uuid, p_email text, p_user_ids uuid[], p_picked jsonb) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  reg private.gdpr_tables;
  assignments text;
  n integer;
  counts jsonb := '{}'::jsonb;
begin
  for reg in select * from private.gdpr_tables order by position loop
    select string_agg(format('%I = %s', c.column_name, c.erase_to), ', ' order by c.column_name) into assignments
    from private.gdpr_columns c where c.table_name = reg.table_name and c.erase_to is not null;
    n := jsonb_array_length(coalesce(p_picked -> reg.table_name, '[]'::jsonb));
    if assignments is not null and n > 0 then
      execute format('update %I.%I t set %s where t.id::text in (select jsonb_array_elements_text($4 -> %L))',
                     reg.schema_name, reg.table_name, assignments, reg.table_name)
        using p_org_id, lower(btrim(p_email)), coalesce(p_user_ids, '{}'::uuid[]), p_picked;
    end if;
    counts := counts || jsonb_build_object(reg.table_name, n);
  end loop;
  return counts;
end;
$$;

create or replace function private.gdpr_check_request(p_org_id uuid, p_email text) returns text
  language plpgsql stable
  security definer
  set search_path = ''
as $$
begin
  perform private.require_caller();
  if p_org_id is null then
    raise exception using errcode = 'PT422', message = 'Name the organization', detail = 'invalid_org';
  end if;
  if p_email is null or btrim(p_email) !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' or length(p_email) > 320 then
    raise exception using errcode = 'PT422', message = 'Give the customer''s email address', detail = 'invalid_email';
  end if;
  if not private.has_org_role(p_org_id, '{owner,admin}') then
    raise exception using errcode = 'PT403', detail = 'not_org_admin',
      message = 'Only the organization''s owners and admins export or erase customer data';
  end if;
  return lower(btrim(p_email));
end;
$$;

-- Every account with that email (confirmed or not: orders may carry its id).
create or replace function private.accounts_with_email(p_email text) returns uuid[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(array_agg(u.id), '{}') from auth.users u where lower(u.email) = lower(btrim(p_email));
$$;

create or replace function private.export_customer_data(p_org_id uuid, p_email text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  email text := private.gdpr_check_request(p_org_id, p_email);
  users uuid[] := private.accounts_with_email(email);
begin
  perform private.audit(p_org_id, 'customer.exported', 'customers', null, '{}'::jsonb);
  return jsonb_build_object(
    'format', 'bookwell.gdpr.export/1',
    'generated_at', now(),
    'organization', (select jsonb_build_object('id', o.id, 'name', o.name) from public.organizations o
                     where o.id = p_org_id),
    'subject', jsonb_build_object('email', email, 'has_account', cardinality(users) > 0),
    'data', private.gdpr_rows(private.gdpr_pick(p_org_id, email, users)));
end;
$$;

create or replace function private.export_my_data() returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
  email text := private.confirmed_email(caller);
  found_rows jsonb := private.gdpr_rows(private.gdpr_pick(null, email, array[caller]));
begin
  return jsonb_build_object(
    'format', 'bookwell.gdpr.export/1',
    'generated_at', now(),
    'subject', jsonb_build_object('user_id', caller, 'email', email, 'email_confirmed', email is not null),
    'account', jsonb_build_object(
      'profile', (select to_jsonb(p) from public.profiles p where p.id = caller),
      'memberships', (select coalesce(jsonb_agg(jsonb_build_object('org_id', m.org_id, 'role', m.role,
                                                                   'created_at', m.created_at)), '[]'::jsonb)
                      from public.memberships m where m.user_id = caller)),
    'organizations', (select coalesce(jsonb_agg(jsonb_build_object('id', o.id, 'name', o.name) order by o.name),
                                      '[]'::jsonb)
                      from public.organizations o
                      where o.id in (select (r ->> 'org_id')::uuid
                                     from jsonb_each(found_rows) d, jsonb_array_elements(d.value) r
                                     where r ->> 'org_id' is not null)),
    'data', found_rows);
end;
$$;

create or replace function private.erase_customer(p_org_id uuid, p_email text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  email text := private.gdpr_check_request(p_org_id, p_email);
  users uuid[] := private.accounts_with_email(email);
  picked jsonb;
  counts jsonb;
  cancelled_orders integer;
  cancelled_appointments integer;
  dropped_messages integer;
  deleted_photos jsonb;
begin
  -- One erasure per org at a time (a second waits and then finds nothing left).
  perform 1 from public.organizations where id = p_org_id for update;
  -- A member is not a customer to erase: it would unlink their audit trail.
  if exists (select 1 from public.memberships m where m.org_id = p_org_id and m.user_id = any (users)) then
    raise exception using errcode = 'PT409', detail = 'subject_is_member',
      message = 'This address belongs to a member of the organization; remove them from it first';
  end if;
  picked := private.gdpr_pick(p_org_id, email, users);

  -- Stop what is live. Unpaid orders close (their triggers free seats and held slots).
  update public.orders set status = 'cancelled', closed_at = now(), close_reason = 'customer_erased',
                           idempotency_key = null
  where id::text in (select jsonb_array_elements_text(picked -> 'orders')) and status = 'pending';
  get diagnostics cancelled_orders = row_count;

  -- Recurring bookings stop: no more visits are generated.
  update public.appointment_subscriptions
  set status = 'cancelled', cancelled_at = now(), cancelled_by = (select auth.uid()), cancel_reason = null
  where id::text in (select jsonb_array_elements_text(picked -> 'appointment_subscriptions')) and status = 'active';

  -- Future bookings: cancelled through the cut-off's audited override (see the header).
  perform set_config('bookwell.policy_override', 'GDPR erasure', true);
  update public.appointments set status = 'cancelled'
  where id::text in (select jsonb_array_elements_text(picked -> 'appointments'))
    and status in ('held', 'booked', 'in_progress') and lower(period) > now();
  get diagnostics cancelled_appointments = row_count;
  perform set_config('bookwell.policy_override', '', true);

  -- Pending change requests on them are closed.
  update public.appointment_change_requests set status = 'rejected', decided_at = now(), decided_by = (select auth.uid())
  where id::text in (select jsonb_array_elements_text(picked -> 'appointment_change_requests')) and status = 'pending';

  -- Messages to them that are not out yet are never sent.
  update public.notification_outbox set status = 'dead', locked_until = null
  where id::text in (select jsonb_array_elements_text(picked -> 'notification_outbox'))
    and (lower(recipient) = email or channel = 'sms') and status in ('pending', 'sending');
  get diagnostics dropped_messages = row_count;

  -- Photos of their home go altogether; the caller deletes the stored objects after commit.
  with gone as (
    delete from public.job_photos
    where id::text in (select jsonb_array_elements_text(picked -> 'job_photos'))
    returning object_path
  )
  select coalesce(jsonb_agg(object_path), '[]'::jsonb) into deleted_photos from gone;

  counts := private.gdpr_scrub(p_org_id, email, users, picked);

  perform private.audit(p_org_id, 'customer.erased', 'customers', null, jsonb_build_object(
    'rows', counts, 'cancelled_orders', cancelled_orders, 'cancelled_appointments', cancelled_appointments,
    'cancelled_messages', dropped_messages));
  return jsonb_build_object('erased', true, 'rows', counts, 'cancelled_orders', cancelled_orders,
                            'cancelled_appointments', cancelled_appointments, 'cancelled_messages', dropped_messages,
                            'deleted_photos', deleted_photos);
end;
$$;
grant execute on function
  private.export_customer_data(uuid, text),
  private.export_my_data(),
  private.erase_customer(uuid, text)
  to authenticated;

create or replace function public.export_customer_data(org_id uuid, email text) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.export_customer_data(export_customer_data.org_id, export_customer_data.email);
$$;
comment on function public.export_customer_data(uuid, text) is
  'GDPR export: everything the org holds about the person with this email, as one JSON document (owners/admins). '
  'PT403 not_org_admin, PT422 invalid_email.';
grant execute on function public.export_customer_data(uuid, text) to authenticated;

create or replace function public.erase_customer(org_id uuid, email text) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.erase_customer(erase_customer.org_id, erase_customer.email);
$$;
comment on function public.erase_customer(uuid, text) is
  'GDPR erasure in one org (owners/admins): personal data removed or anonymised, financial rows kept anonymised, '
  'future bookings cancelled, queued messages dropped, audited as customer.erased. Idempotent.';
grant execute on function public.erase_customer(uuid, text) to authenticated;

create or replace function public.export_my_data() returns jsonb
  language sql
  set search_path = ''
as $$
  select private.export_my_data();
$$;
comment on function public.export_my_data() is
  'GDPR export for the signed-in person: their account and everything every org holds about them '
  '(matched by email only once it is confirmed).';
grant execute on function public.export_my_data() to authenticated;
