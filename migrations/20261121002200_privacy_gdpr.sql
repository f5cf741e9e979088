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
--   private.gdpr_tables   (table_name, position, org_column, match, note)
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

-- ===========================================================================
-- The registries
-- ===========================================================================
create table private.gdpr_tables (
  table_name text primary key,
  position integer not null unique,
  org_column text default 'org_id',
  match text not null,
  note text
);
comment on table private.gdpr_tables is
  'Tables holding customer data and how to pick one subject''s rows (see migrations/*_gdpr.sql).';

create table private.gdpr_columns (
  table_name text not null,
  column_name text not null,
  erase_to text,
  exported boolean not null default true,
  reason text,
  primary key (table_name, column_name),
  check (erase_to is not null or reason is not null)
);
comment on table private.gdpr_columns is
  'Every public column that may hold personal data: erase_to (a SQL expression) or the reason it stays.';

-- A per-row address that keeps email checks true and identifies nobody.
create function private.erased_email(p_row_id text) returns text
  language sql immutable
  set search_path = ''
as $$
  select 'erased-' || left(md5(p_row_id), 12) || '@erased.invalid';
$$;

insert into private.gdpr_tables (table_name, position, org_column, match, note) values
  ('orders', 10, 'org_id',
   $m$lower(t.buyer_email) = $2 or t.buyer_user_id = any ($3)$m$,
   'Kept as financial records; buyer details anonymised, tracking token replaced.'),
  ('order_items', 20, 'org_id',
   $m$t.order_id::text in (select jsonb_array_elements_text($4 -> 'orders'))$m$, null),
  ('payments', 30, 'org_id',
   $m$t.order_id::text in (select jsonb_array_elements_text($4 -> 'orders'))$m$, null),
  ('refunds', 40, 'org_id',
   $m$t.order_id::text in (select jsonb_array_elements_text($4 -> 'orders'))$m$, null),
  ('promo_redemptions', 50, 'org_id',
   $m$lower(t.customer_email) = $2 or t.user_id = any ($3)
      or t.order_id::text in (select jsonb_array_elements_text($4 -> 'orders'))$m$, null),
  ('tickets', 60, 'org_id',
   $m$lower(t.attendee_email) = $2 or t.order_id::text in (select jsonb_array_elements_text($4 -> 'orders'))$m$,
   'Secrets replaced: the QR codes stop working.'),
  ('appointment_subscriptions', 65, 'org_id',
   $m$lower(t.customer_email) = $2 or t.customer_user_id = any ($3)$m$,
   'Active ones are cancelled first, so no more visits are generated.'),
  ('appointments', 70, 'org_id',
   $m$lower(t.customer_email) = $2 or t.customer_user_id = any ($3)
      or t.order_id::text in (select jsonb_array_elements_text($4 -> 'orders'))$m$,
   'Future live ones are cancelled first (under the cut-off override).'),
  ('appointment_reviews', 75, 'org_id',
   $m$t.created_by = any ($3)
      or t.appointment_id::text in (select jsonb_array_elements_text($4 -> 'appointments'))$m$,
   'The rating stays (staff ratings), the comment and the author go.'),
  ('job_photos', 76, 'org_id',
   $m$t.appointment_id::text in (select jsonb_array_elements_text($4 -> 'appointments'))$m$,
   'Photos of the customer''s home: deleted on erasure, rows and stored objects.'),
  ('appointment_change_requests', 80, 'org_id',
   $m$t.requested_by = any ($3)
      or t.appointment_id::text in (select jsonb_array_elements_text($4 -> 'appointments'))$m$, null),
  ('contacts', 90, 'org_id', $m$lower(t.email) = $2$m$, 'CRM contacts with the subject''s email.'),
  ('interactions', 100, 'org_id',
   $m$t.contact_id::text in (select jsonb_array_elements_text($4 -> 'contacts'))$m$, null),
  ('notification_outbox', 110, 'org_id',
   $m$lower(t.recipient) = $2
      or ($1 is not null
          and (t.payload ->> 'order_id' in (select jsonb_array_elements_text($4 -> 'orders'))
               or t.payload ->> 'appointment_id' in (select jsonb_array_elements_text($4 -> 'appointments'))
               or t.payload ->> 'request_id' in (select jsonb_array_elements_text($4 -> 'appointment_change_requests'))
               or t.payload ->> 'subscription_id'
                  in (select jsonb_array_elements_text($4 -> 'appointment_subscriptions'))))$m$,
   'Messages to the subject (email or SMS), and, for the org, messages to staff about the subject''s orders, '
   'appointments and subscriptions. A self-export (no org) shows only what was addressed to the subject.'),
  ('webhook_events', 120, null,
   $m$coalesce(t.payload #>> '{data,object,metadata,order_id}', t.payload #>> '{data,object,client_reference_id}')
      in (select jsonb_array_elements_text($4 -> 'orders'))$m$,
   'Provider payloads about the subject''s orders (they carry the buyer''s email); no org column: scoped by the orders.'),
  ('calendar_feeds', 130, null,
   $m$t.user_id = any ($3)
      and ($1 is null or exists (select 1 from public.memberships m where m.user_id = t.user_id and m.org_id = $1))$m$,
   'Exported only (the feed belongs to the account, not to the org); for an org, only when the subject is a member.'),
  ('audit_log', 1000, 'org_id',
   $m$t.actor_id = any ($3)
      or exists (select 1 from jsonb_each($4) picked
                 where picked.key = t.table_name and t.row_id in (select jsonb_array_elements_text(picked.value)))$m$,
   'Entries about the subject''s rows or made by them; free text removed from details, the actor unlinked.');

insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  -- orders: kept as financial records, anonymised
  ('orders', 'buyer_name', $e$'Erased customer'$e$, true, null),
  ('orders', 'buyer_email', $e$private.erased_email(t.id::text)$e$, true, null),
  ('orders', 'buyer_user_id', 'null', true, null),
  ('orders', 'tracking_token_hash', $e$private.token_hash(private.random_token())$e$, false, null),
  ('orders', 'metadata', $e$t.metadata - 'postcode'$e$, true, null),
  ('orders', 'checkout_url', 'null', true, null),
  ('orders', 'close_reason', null, true, 'a machine code (refunded, late_payment_no_capacity, ...), not free text'),
  -- order lines: describe what was sold
  ('order_items', 'description', null, true, 'the product sold (event and tier, or service and time), not the buyer'),
  ('order_items', 'metadata', null, true, 'line bookkeeping (index), no personal data'),
  ('refunds', 'reason', null, true, 'a machine code or the organiser''s reason for a refund: financial record, kept'),
  ('refunds', 'last_error', null, true, 'the provider''s error message: financial record, kept'),
  ('refunds', 'requested_by', null, true, 'the org member who asked for the refund, not the customer'),
  ('promo_redemptions', 'customer_email', $e$private.erased_email(t.id::text)$e$, true, null),
  ('promo_redemptions', 'user_id', 'null', true, null),
  -- tickets
  ('tickets', 'attendee_name', $e$'Erased customer'$e$, true, null),
  ('tickets', 'attendee_email', $e$private.erased_email(t.id::text)$e$, true, null),
  ('tickets', 'secret', $e$private.ticket_secret()$e$, false, null),
  -- appointments
  ('appointments', 'customer_name', $e$'Erased customer'$e$, true, null),
  ('appointments', 'customer_email', 'null', true, null),
  ('appointments', 'customer_phone', 'null', true, null),
  ('appointments', 'customer_user_id', 'null', true, null),
  ('appointments', 'postcode', 'null', true, null),
  ('appointments', 'address', 'null', true, null),
  ('appointments', 'notes', 'null', true, null),
  ('appointments', 'job_note', 'null', true, null),
  ('job_photos', 'uploaded_by', null, true, 'the staff member who took the photo, not the customer'),
  ('appointment_subscriptions', 'customer_name', $e$'Erased customer'$e$, true, null),
  ('appointment_subscriptions', 'customer_email', $e$private.erased_email(t.id::text)$e$, true, null),
  ('appointment_subscriptions', 'customer_phone', 'null', true, null),
  ('appointment_subscriptions', 'customer_user_id', 'null', true, null),
  ('appointment_subscriptions', 'postcode', $e$''$e$, true, null),
  ('appointment_subscriptions', 'address', 'null', true, null),
  ('appointment_subscriptions', 'notes', 'null', true, null),
  ('appointment_subscriptions', 'cancel_reason', 'null', true, null),
  ('appointment_subscriptions', 'tracking_token_hash', $e$private.token_hash(private.random_token())$e$, false, null),
  ('appointment_reviews', 'comment', 'null', true, null),
  ('appointment_reviews', 'created_by', 'null', true, null),
  ('appointment_change_requests', 'requested_by', 'null', true, null),
  ('appointment_change_requests', 'reason', 'null', true, null),
  ('appointment_change_requests', 'decision_note', 'null', true, null),
  -- CRM
  ('contacts', 'full_name', $e$'Erased customer'$e$, true, null),
  ('contacts', 'email', 'null', true, null),
  ('contacts', 'phone', 'null', true, null),
  ('contacts', 'job_title', 'null', true, null),
  ('contacts', 'notes', 'null', true, null),
  ('interactions', 'summary', $e$'Erased'$e$, true, null),
  -- messages
  ('notification_outbox', 'recipient',
   $e$case when lower(t.recipient) = $2 or t.channel = 'sms'
           then private.erased_email(t.id::text) else t.recipient end$e$, true, null),
  ('notification_outbox', 'payload',
   $e$t.payload - array['reason', 'note', 'buyer_name', 'buyer_email', 'customer_name', 'customer_email', 'phone',
                        'tracking_token']$e$,
   true, null),
  ('notification_outbox', 'last_error', 'null', true, null),
  ('webhook_events', 'payload',
   $e$jsonb_build_object('id', t.payload -> 'id', 'type', t.payload -> 'type', 'erased', true)$e$, true, null),
  -- audit
  ('audit_log', 'details', $e$t.details - array['reason', 'note', 'decision_note']$e$, true, null),
  ('audit_log', 'actor_id', $e$case when t.actor_id = any ($3) then null else t.actor_id end$e$, true, null),
  ('calendar_feeds', 'token_hash', null, false, 'the account''s feed secret (hashed), never exported; the account''s, not the org''s'),
  ('calendar_feeds', 'user_id', null, true, 'the account itself; removed with the account'),
  -- Not customer data: the people who run the business, the business itself, its catalogue
  ('profiles', 'email', null, true, 'the account (platform data): exported by export_my_data, removed by deleting the auth user'),
  ('profiles', 'full_name', null, true, 'the account (platform data): exported by export_my_data, removed by deleting the auth user'),
  ('profiles', 'phone', null, true, 'the account (platform data): exported by export_my_data, removed by deleting the auth user'),
  ('organizations', 'name', null, true, 'the business, not a person'),
  ('invitations', 'email', null, true, 'an invited team member, not a customer; expires in 7 days'),
  ('invitations', 'token_hash', null, false, 'an invitation secret (hashed), team data'),
  ('memberships', 'user_id', null, true, 'a team member, not a customer'),
  ('staff', 'display_name', null, true, 'a staff member (team data), not a customer'),
  ('staff', 'email', null, true, 'a staff member (team data), not a customer'),
  ('staff', 'phone', null, true, 'a staff member (team data), not a customer'),
  ('staff', 'user_id', null, true, 'a staff member''s account (team data)'),
  ('venues', 'name', null, true, 'a place of business'),
  ('venues', 'address', null, true, 'a place of business'),
  ('venues', 'postcode', null, true, 'a place of business'),
  ('services', 'name', null, true, 'the catalogue'),
  ('service_categories', 'name', null, true, 'the catalogue'),
  ('ticket_tiers', 'name', null, true, 'the catalogue'),
  ('companies', 'name', null, true, 'a company, not a person'),
  ('companies', 'notes', null, true, 'notes on a company (CRM, the organiser''s business data)'),
  ('uk_outcodes', 'outcode', null, true, 'reference data (postcode districts), no person'),
  ('wizard_sessions', 'messages', null, true, 'an organiser''s AI conversation drafting an event (team data)'),
  ('check_ins', 'gate', null, true, 'where a ticket was scanned'),
  ('staff_time_off', 'reason', null, true, 'a staff member''s time off (team data)'),
  ('audit_log', 'table_name', null, true, 'which table an entry is about, not a person'),
  ('promo_codes', 'per_customer_limit', null, true, 'a number on a discount code'),
  ('uk_outcodes', 'postcode_count', null, true, 'reference data, a count'),
  ('wizard_sessions', 'prompt_tokens', null, true, 'LLM token usage, a count'),
  ('wizard_sessions', 'completion_tokens', null, true, 'LLM token usage, a count');

-- ===========================================================================
-- Picking, exporting and erasing (dynamic SQL over the registries)
-- ===========================================================================

-- The subject's row ids per registered table: {"orders": ["<id>", ...], ...}.
create function private.gdpr_pick(p_org_id uuid, p_email text, p_user_ids uuid[]) returns jsonb
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
      'select coalesce(jsonb_agg(t.id::text order by t.id::text), ''[]''::jsonb) from public.%I t where (%s)%s',
      reg.table_name, reg.match,
      case when reg.org_column is not null then format(' and ($1 is null or t.%I = $1)', reg.org_column) else '' end)
      into ids
      using p_org_id, lower(btrim(p_email)), coalesce(p_user_ids, '{}'::uuid[]), picked;
    picked := picked || jsonb_build_object(reg.table_name, ids);
  end loop;
  return picked;
end;
$$;

-- The picked rows as JSON, secrets (exported = false) left out.
create function private.gdpr_rows(p_picked jsonb) returns jsonb
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
      'select coalesce(jsonb_agg(to_jsonb(t) - $2 order by t.id::text), ''[]''::jsonb) from public.%I t'
      ' where t.id::text in (select jsonb_array_elements_text($1))', reg.table_name)
      into rows using coalesce(p_picked -> reg.table_name, '[]'::jsonb), hidden;
    out := out || jsonb_build_object(reg.table_name, rows);
  end loop;
  return out;
end;
$$;

-- Every registered column rewritten with its erase_to, in the picked rows only.
create function private.gdpr_scrub(p_org_id uuid, p_email text, p_user_ids uuid[], p_picked jsonb) returns jsonb
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
      execute format('update public.%I t set %s where t.id::text in (select jsonb_array_elements_text($4 -> %L))',
                     reg.table_name, assignments, reg.table_name)
        using p_org_id, lower(btrim(p_email)), coalesce(p_user_ids, '{}'::uuid[]), p_picked;
    end if;
    counts := counts || jsonb_build_object(reg.table_name, n);
  end loop;
  return counts;
end;
$$;

-- ===========================================================================
-- Who may ask, and about whom
-- ===========================================================================
create function private.gdpr_check_request(p_org_id uuid, p_email text) returns text
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
create function private.accounts_with_email(p_email text) returns uuid[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(array_agg(u.id), '{}') from auth.users u where lower(u.email) = lower(btrim(p_email));
$$;

-- ===========================================================================
-- Export
-- ===========================================================================
create function private.export_customer_data(p_org_id uuid, p_email text) returns jsonb
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

create function private.export_my_data() returns jsonb
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

-- ===========================================================================
-- Erasure
-- ===========================================================================
create function private.erase_customer(p_org_id uuid, p_email text) returns jsonb
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

-- ===========================================================================
-- Public RPCs (SECURITY INVOKER)
-- ===========================================================================
create function public.export_customer_data(org_id uuid, email text) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.export_customer_data(export_customer_data.org_id, export_customer_data.email);
$$;
comment on function public.export_customer_data(uuid, text) is
  'GDPR export: everything the org holds about the person with this email, as one JSON document (owners/admins). '
  'PT403 not_org_admin, PT422 invalid_email.';
grant execute on function public.export_customer_data(uuid, text) to authenticated;

create function public.erase_customer(org_id uuid, email text) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.erase_customer(erase_customer.org_id, erase_customer.email);
$$;
comment on function public.erase_customer(uuid, text) is
  'GDPR erasure in one org (owners/admins): personal data removed or anonymised, financial rows kept anonymised, '
  'future bookings cancelled, queued messages dropped, audited as customer.erased. Idempotent.';
grant execute on function public.erase_customer(uuid, text) to authenticated;

create function public.export_my_data() returns jsonb
  language sql
  set search_path = ''
as $$
  select private.export_my_data();
$$;
comment on function public.export_my_data() is
  'GDPR export for the signed-in person: their account and everything every org holds about them '
  '(matched by email only once it is confirmed).';
grant execute on function public.export_my_data() to authenticated;
