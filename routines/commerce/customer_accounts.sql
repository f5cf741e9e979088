-- Guest orders and customer accounts.
--
-- A guest order (tickets or appointments) is reached through its order number
-- and tracking token (private.authorize_guest, throttled). Afterwards the
-- buyer may attach it to an account, after logging in or after signing up:
--
--   order_account_status(number, token)   anon or signed in. Does the order's
--       buyer email have an account, is the order linked, and is it linked to
--       the caller? Only with a valid number/token pair (null otherwise, and the
--       failure counts towards the guest-lookup throttle, PT429 after 10 in 15
--       minutes). There is deliberately no "does this email have an account?"
--       call taking a bare email: that would let anyone enumerate accounts. The
--       token holder already knows the buyer email, so telling them whether it
--       has an account discloses nothing new.
--   link_guest_order(number, token)       signed in. Links the order to the
--       caller when the caller's account email (auth.users.email, confirmed:
--       email_confirmed_at set) equals the order's buyer email, ignoring case.
--       Links the order (orders.buyer_user_id), its appointments
--       (customer_user_id, where unset), its promo redemption (user_id) and the
--       change requests a guest filed on them (requested_by, where unset); the
--       customer then reads all of it, and the order's tickets and payments,
--       through the ordinary RLS policies. Idempotent for the same user.
--       Refusals (nothing written):
--         PT401 not_authenticated       anon
--         PT422 invalid_order_reference number or token missing / malformed
--         PT403 email_not_confirmed     the account's email is not confirmed
--         PT403 email_mismatch          the order was bought with another email
--         PT409 already_linked          the order belongs to another account
--       A wrong number/token pair answers null (nothing raised, so the
--       throttle's failure count survives, as public.lookup_order does).
--
-- Linking takes nothing away: the tracking token keeps working, so a guest who
-- skips linking (or links and then loses the session) keeps the order, the
-- guest cancel/reschedule/change-request RPCs and the emails.
--
-- Also here: public.lookup_order for appointment orders answers the
-- appointment summary (service, staff display name, start/end in the org's
-- timezone, status, postcode) instead of the ticket-shaped one; ticket orders'
-- answer is unchanged.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121002100_commerce_customer_accounts.sql.

-- The caller's confirmed account email (lower case), or null when the account
-- has no email or has not confirmed it.
create or replace function private.confirmed_email(p_user_id uuid) returns text
  language sql stable
  security definer
  set search_path = ''
as $$
  select lower(u.email) from auth.users u
  where u.id = p_user_id and u.email is not null and u.email_confirmed_at is not null
    and u.deleted_at is null;
$$;
comment on function private.confirmed_email(uuid) is
  'The account''s email (lower case) when Supabase Auth has confirmed it; null otherwise. Emails gate linking and self-export.';

create or replace function private.check_order_reference(p_number text, p_token text) returns void
  language plpgsql immutable
  set search_path = ''
as $$
begin
  if nullif(btrim(p_number), '') is null or length(p_number) > 40
     or nullif(btrim(p_token), '') is null or length(p_token) > 200 then
    raise exception using errcode = 'PT422', message = 'Give the order number and the tracking token from your link',
      detail = 'invalid_order_reference';
  end if;
end;
$$;

create or replace function private.order_account_status(p_number text, p_token text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  order_id uuid;
  ord public.orders;
begin
  perform private.check_order_reference(p_number, p_token);
  order_id := private.authorize_guest(p_number, p_token);
  if order_id is null then
    return null;
  end if;
  select * into ord from public.orders where id = order_id;
  return jsonb_build_object(
    'order_number', ord.number,
    'has_account', exists (select 1 from auth.users u
                           where lower(u.email) = lower(ord.buyer_email) and u.deleted_at is null),
    'linked', ord.buyer_user_id is not null,
    'linked_to_you', ord.buyer_user_id is not null and ord.buyer_user_id = (select auth.uid()),
    'email_matches_you', (select auth.uid()) is not null
                         and private.confirmed_email((select auth.uid())) = lower(ord.buyer_email));
end;
$$;
comment on function private.order_account_status(text, text) is
  'Given a valid order number + tracking token: whether the buyer email has an account and whether the order is linked. Throttled like lookup_order.';
-- confirmed_email and check_order_reference run inside the definer halves only: no grant.
grant execute on function private.order_account_status(text, text) to anon, authenticated, service_role;

create or replace function private.link_guest_order(p_number text, p_token text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
  caller_email text;
  found_order uuid;
  ord public.orders;
  appointments_linked integer;
  already boolean;
begin
  perform private.check_order_reference(p_number, p_token);
  found_order := private.authorize_guest(p_number, p_token);
  if found_order is null then
    return null;
  end if;
  select * into ord from public.orders where id = found_order for update;

  caller_email := private.confirmed_email(caller);
  if caller_email is null then
    raise exception using errcode = 'PT403', detail = 'email_not_confirmed',
      message = 'Confirm your email address before linking orders to your account';
  end if;
  if caller_email <> lower(btrim(ord.buyer_email)) then
    raise exception using errcode = 'PT403', detail = 'email_mismatch',
      message = 'This order was placed with another email address; sign in with that address to link it';
  end if;
  if ord.buyer_user_id is not null and ord.buyer_user_id <> caller then
    raise exception using errcode = 'PT409', detail = 'already_linked',
      message = 'This order is already linked to another account';
  end if;

  already := ord.buyer_user_id is not distinct from caller;
  if not already then
    update public.orders set buyer_user_id = caller where id = ord.id;
    update public.promo_redemptions set user_id = caller where order_id = ord.id and user_id is null;
    perform private.audit(ord.org_id, 'order.linked_to_account', 'orders', ord.id::text,
                          jsonb_build_object('user_id', caller));
  end if;
  -- Also on a repeat: appointments added to the order since (none today) follow it.
  update public.appointments set customer_user_id = caller
  where appointments.order_id = ord.id and customer_user_id is null;
  get diagnostics appointments_linked = row_count;
  update public.appointment_change_requests r set requested_by = caller
  where r.requested_by is null
    and r.appointment_id in (select a.id from public.appointments a where a.order_id = ord.id);

  return jsonb_build_object(
    'order_id', ord.id, 'order_number', ord.number, 'kind', ord.kind, 'linked', true,
    'already_linked', already, 'appointments_linked', appointments_linked);
end;
$$;
comment on function private.link_guest_order(text, text) is
  'Links a guest order (number + token) to the caller when their confirmed account email is the buyer email. See the migration header.';
grant execute on function private.link_guest_order(text, text) to authenticated;

create or replace function private.guest_appointment_order_summary(p_order_id uuid) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select private.appointment_order_summary(p_order_id) || jsonb_build_object(
    'appointments', (select coalesce(jsonb_agg(jsonb_build_object(
                       'id', a.id, 'item_id', a.order_item_id, 'service_id', a.service_id, 'service', s.name,
                       'staff_id', a.staff_id, 'staff_name', st.display_name, 'status', a.status,
                       'start', private.local_iso(lower(a.period), org.timezone),
                       'end', private.local_iso(upper(a.period), org.timezone),
                       'postcode', a.postcode)
                       order by lower(a.period), a.id), '[]'::jsonb)
                     from public.appointments a
                     join public.services s on s.id = a.service_id
                     join public.staff st on st.id = a.staff_id
                     join public.organizations org on org.id = a.org_id
                     where a.order_id = p_order_id),
    'tickets', '[]'::jsonb);
$$;
comment on function private.guest_appointment_order_summary(uuid) is
  'What the guest link shows of an appointment order: the order summary and its appointments with their postcode.';
grant execute on function private.guest_appointment_order_summary(uuid) to service_role;

create or replace function public.order_account_status(order_number text, tracking_token text) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.order_account_status(order_account_status.order_number, order_account_status.tracking_token);
$$;
comment on function public.order_account_status(text, text) is
  'For the guest link: {has_account, linked, linked_to_you, email_matches_you}; null for a wrong number/token pair '
  '(throttled: PT429 throttled). There is no lookup by bare email, on purpose (account enumeration).';
grant execute on function public.order_account_status(text, text) to anon, authenticated;

create or replace function public.link_guest_order(order_number text, tracking_token text) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.link_guest_order(link_guest_order.order_number, link_guest_order.tracking_token);
$$;
comment on function public.link_guest_order(text, text) is
  'Links a guest order to the signed-in caller (confirmed account email = buyer email). PT403 email_mismatch / '
  'email_not_confirmed, PT409 already_linked, PT422 invalid_order_reference; null for a wrong number/token pair. '
  'Idempotent; the tracking token keeps working.';
grant execute on function public.link_guest_order(text, text) to authenticated;
