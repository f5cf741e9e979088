-- GDPR: export everything an organization holds about a customer, and erase it.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/privacy/gdpr.sql.

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
