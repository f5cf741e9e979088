-- Service appointments: the cancel/reschedule cut-off, the change RPCs and
-- change requests.
--
-- The policy (per org: appointment_settings.cancellation_cutoff_hours, 24 by
-- default) is enforced by a BEFORE UPDATE trigger on public.appointments, so
-- it holds on every path that writes the table: the customer's and the
-- guest's RPCs, staff RPCs, a manager's direct UPDATE through RLS and the
-- server key alike. The trigger (private.enforce_appointment_cutoff) refuses
-- with PT409 cutoff_passed, once now() > start - cut-off,
--   * a reschedule: any change of period or staff_id, and
--   * a cancellation: status -> cancelled,
-- of an appointment that was `booked` or `in_progress` before the change.
--
-- Not subject to the cut-off, on purpose:
--   * status moves that are not cancellations (booked -> in_progress ->
--     completed, no_show): that is the job happening, not a change of plan;
--   * anything done to a `held` appointment: a hold is an unpaid checkout,
--     not a booking; the expire-holds job closes the order and
--     private.appointment_order_release cancels the hold (held -> cancelled),
--     whatever the time. Likewise cancelled -> booked (a late payment);
--   * a cancellation that follows its order: when the appointment's order is
--     expired, cancelled or refunded the cancellation is the order's (a refund
--     is an owner/admin or provider decision, recorded in public.refunds);
--   * a superuser session without JWT claims (migrations, maintenance in psql,
--     test arrangement): it is not an API caller and could disable the
--     trigger anyway. Every API role (anon, authenticated, service_role) and
--     every SECURITY DEFINER function called by one carries claims.
--
-- The override: owners, admins and managers may change an appointment after
-- the cut-off through public.override_appointment_change (or by approving a
-- change request). It marks its own transaction with the transaction-local
-- setting bookwell.policy_override = <reason>, makes the change and clears the
-- setting. The trigger honours the setting ONLY when auth.uid() is an owner,
-- admin or manager of the appointment's org (so a customer or staff member
-- setting it by hand gains nothing) and writes an audit entry,
-- private.audit(org, 'appointment.policy_override', 'appointments', id,
-- {reason, change, cutoff_passed, from, to}). A manager who sets the setting by
-- hand before a direct UPDATE is doing exactly what the RPC does, with the same
-- audit entry.
--
-- RPCs (public SECURITY INVOKER wrappers check inputs; the private SECURITY
-- DEFINER halves authorize and act), all returning the appointment as jsonb:
--   cancel_appointment(id, reason)                  customer, its staff member, owner/admin/manager
--   cancel_appointment_as_guest(number, token, id, reason)          guest link (order + token)
--   reschedule_appointment(id, new_start)           same callers as cancel
--   reschedule_appointment_as_guest(number, token, id, new_start)
--   override_appointment_change(id, 'cancel'|'reschedule', new_start, reason)   owner/admin/manager
-- Only `booked` appointments change through them (PT409 not_changeable). A
-- reschedule keeps the staff member and the duration and needs the new start
-- to be bookable by the slot search's rules (private.is_bookable, the
-- appointment's own current time not counting against it), else PT409
-- slot_unavailable; the override bypasses the cut-off, not availability. The
-- guest variants answer null for a wrong number/token pair (nothing is
-- raised, so private.authorize_guest's failure count survives), like
-- public.lookup_order. Each change queues 'appointment_cancelled' or
-- 'appointment_rescheduled' to the customer's email (deduplicated per
-- appointment and sequence) and writes an audit entry with the reason.
--
-- Change requests (public.appointment_change_requests): the customer (or
-- guest) asks to cancel or move a booked appointment, also after the cut-off
-- (that is the point); owners, admins and managers are told
-- ('change_request_received'); one of them approves (the change is applied
-- through the override path, audited) or rejects; the customer is told
-- ('change_request_decided'). One pending request per appointment. Rows are
-- written only by these RPCs; RLS: policies/appointments.sql.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121001300_appointments_changes.sql.

create or replace function private.enforce_appointment_cutoff() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  maintenance boolean;
  cutoff_hours integer;
  tz text;
  cutoff_at timestamptz;
  override_reason text := nullif(btrim(current_setting('bookwell.policy_override', true)), '');
  change text := case when new.status = 'cancelled' and old.status <> 'cancelled' then 'cancel' else 'reschedule' end;
begin
  maintenance := private.is_maintenance_session();
  -- A cancellation that follows its order (refund; expiry and cancellation only ever meet holds).
  if change = 'cancel' and new.period = old.period and new.staff_id = old.staff_id
     and old.order_id is not null
     and exists (select 1 from public.orders o
                 where o.id = old.order_id and o.status in ('expired', 'cancelled', 'refunded')) then
    return new;
  end if;

  cutoff_hours := (private.appointment_settings_for(old.org_id)).cancellation_cutoff_hours;
  cutoff_at := lower(old.period) - make_interval(hours => cutoff_hours);

  if override_reason is not null and private.manages_appointment(old.org_id, old.staff_id, old.service_id) then
    perform private.audit(old.org_id, 'appointment.policy_override', 'appointments', old.id::text,
      jsonb_build_object(
        'reason', override_reason, 'change', change, 'cutoff_passed', now() > cutoff_at,
        'from', jsonb_build_object('status', old.status, 'period', old.period::text, 'staff_id', old.staff_id),
        'to', jsonb_build_object('status', new.status, 'period', new.period::text, 'staff_id', new.staff_id)));
    return new;
  end if;

  if now() > cutoff_at and maintenance then
    perform private.audit_maintenance(old.org_id, 'appointments', old.id::text, jsonb_build_object(
      'bypassed', 'cutoff_passed', 'change', change,
      'from', jsonb_build_object('status', old.status, 'period', old.period::text, 'staff_id', old.staff_id),
      'to', jsonb_build_object('status', new.status, 'period', new.period::text, 'staff_id', new.staff_id)));
    return new;
  end if;
  if now() > cutoff_at then
    select o.timezone into tz from public.organizations o where o.id = old.org_id;
    raise exception using errcode = 'PT409', detail = 'cutoff_passed',
      message = format('Appointments can be cancelled or rescheduled until %s hours before they start; '
                       'this one starts at %s, so the cut-off was %s',
                       cutoff_hours, private.local_iso(lower(old.period), tz), private.local_iso(cutoff_at, tz)),
      hint = 'Ask the business: send a change request, which they may approve.';
  end if;
  return new;
end;
$$;
comment on function private.enforce_appointment_cutoff() is
  'BEFORE UPDATE trigger on appointments: a reschedule (period/staff) or cancellation of a booked or in-progress '
  'appointment after start - cancellation_cutoff_hours raises PT409 cutoff_passed, unless an owner/admin/manager '
  'in scope set bookwell.policy_override (audited as appointment.policy_override). Exempt: holds, cancellations '
  'following an expired/cancelled/refunded order; a maintenance session passes and is audited (maintenance.bypass).';

-- Input checks for the private halves (the public wrappers pass their arguments through).
create or replace function private.check_change_reason(p_reason text, p_required boolean default false) returns text
  language plpgsql immutable
  set search_path = ''
as $$
begin
  if p_required and nullif(btrim(p_reason), '') is null then
    raise exception using errcode = 'PT422', message = 'Give a reason', detail = 'reason_required';
  end if;
  if length(p_reason) > 1000 then
    raise exception using errcode = 'PT422', message = 'Keep the reason under 1000 characters', detail = 'invalid_reason';
  end if;
  return nullif(btrim(p_reason), '');
end;
$$;

create or replace function private.check_change_kind(p_kind text) returns public.appointment_change_kind
  language plpgsql immutable
  set search_path = ''
as $$
begin
  if p_kind is null or lower(btrim(p_kind)) not in ('cancel', 'reschedule') then
    raise exception using errcode = 'PT422', message = 'The change is cancel or reschedule', detail = 'invalid_action';
  end if;
  return lower(btrim(p_kind))::public.appointment_change_kind;
end;
$$;

-- Where the customer hears about their appointment: its email, the order's buyer, the profile.
create or replace function private.appointment_recipient(p_appointment public.appointments) returns text
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(p_appointment.customer_email,
                  (select o.buyer_email from public.orders o where o.id = p_appointment.order_id),
                  (select p.email from public.profiles p where p.id = p_appointment.customer_user_id));
$$;

create or replace function private.appointment_json(p_appointment public.appointments) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select jsonb_build_object(
    'appointment_id', p_appointment.id, 'status', p_appointment.status,
    'start', private.local_iso(lower(p_appointment.period), o.timezone),
    'end', private.local_iso(upper(p_appointment.period), o.timezone),
    'staff_id', p_appointment.staff_id, 'service_id', p_appointment.service_id,
    'sequence', p_appointment.sequence)
  from public.organizations o where o.id = p_appointment.org_id;
$$;

-- Cancel or move one (locked, booked) appointment. p_override (a reason) takes
-- the override path; the trigger decides whether the caller may use it.
create or replace function private.apply_appointment_change(
  p_appointment public.appointments, p_action text, p_new_start timestamptz, p_reason text,
  p_by text, p_override text default null
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  appt public.appointments;
  new_period tstzrange;
  bookable boolean;
  recipient text;
begin
  if p_appointment.status <> 'booked' then
    raise exception using errcode = 'PT409', detail = 'not_changeable',
      message = format('Only a booked appointment can be changed; this one is %s', p_appointment.status);
  end if;
  if p_override is not null then
    perform set_config('bookwell.policy_override', p_override, true);
  end if;

  if p_action = 'cancel' then
    update public.appointments set status = 'cancelled' where id = p_appointment.id returning * into appt;
  elsif p_action = 'reschedule' then
    if p_new_start is null then
      raise exception using errcode = 'PT422', message = 'Choose the new start time', detail = 'invalid_start';
    end if;
    new_period := tstzrange(p_new_start, p_new_start + (upper(p_appointment.period) - lower(p_appointment.period)), '[)');
    if new_period = p_appointment.period then
      raise exception using errcode = 'PT422', message = 'The appointment already starts then', detail = 'unchanged';
    end if;
    -- The staff member's booking lock first (the header): the check below is then not overtaken.
    perform private.lock_staff(array[p_appointment.staff_id]);
    -- Is the new start free by the slot rules, with this appointment's current time not counting?
    -- Ask with it cancelled inside a subtransaction that is always rolled back (the cut-off trigger
    -- runs on that cancellation, so a late change is refused here with cutoff_passed).
    begin
      update public.appointments set status = 'cancelled' where id = p_appointment.id;
      bookable := private.is_bookable(p_appointment.staff_id, p_appointment.service_id, p_new_start);
      raise exception using errcode = 'BW001', message = 'availability probe';
    exception when sqlstate 'BW001' then
      null;
    end;
    if not bookable then
      raise exception using errcode = 'PT409', detail = 'slot_unavailable',
        message = 'That time is not available for this staff member';
    end if;
    begin
      update public.appointments set period = new_period where id = p_appointment.id returning * into appt;
    exception when exclusion_violation then
      raise exception using errcode = 'PT409', detail = 'slot_unavailable',
        message = 'That time was booked a moment ago';
    end;
  else
    raise exception using errcode = 'PT422', message = 'The change is cancel or reschedule', detail = 'invalid_action';
  end if;

  if p_override is not null then
    perform set_config('bookwell.policy_override', '', true);
  end if;

  perform private.audit(appt.org_id, 'appointment.' || case p_action when 'cancel' then 'cancelled' else 'rescheduled' end,
    'appointments', appt.id::text,
    jsonb_build_object('by', p_by, 'reason', p_reason, 'override', p_override is not null,
                       'from', p_appointment.period::text, 'to', appt.period::text));
  recipient := private.appointment_recipient(appt);
  if recipient is not null then
    perform private.enqueue_notification(
      appt.org_id, 'email', case p_action when 'cancel' then 'appointment_cancelled' else 'appointment_rescheduled' end,
      recipient,
      private.appointment_json(appt) || jsonb_build_object(
        'previous_start', (select private.local_iso(lower(p_appointment.period), o.timezone)
                           from public.organizations o where o.id = appt.org_id),
        'reason', p_reason, 'by', p_by),
      case p_action when 'cancel' then 'appointment_cancelled:' else 'appointment_rescheduled:' end
        || appt.id || ':' || appt.sequence);
  end if;
  if nullif(btrim(appt.customer_phone), '') is not null then
    perform private.enqueue_notification(
      appt.org_id, 'sms', case p_action when 'cancel' then 'appointment_cancelled' else 'appointment_rescheduled' end,
      btrim(appt.customer_phone),
      private.appointment_json(appt) || jsonb_build_object('reason', p_reason, 'by', p_by),
      case p_action when 'cancel' then 'appointment_cancelled:sms:' else 'appointment_rescheduled:sms:' end
        || appt.id || ':' || appt.sequence);
  end if;
  return private.appointment_json(appt);
end;
$$;
comment on function private.apply_appointment_change(public.appointments, text, timestamptz, text, text, text) is
  'Cancels or reschedules a booked appointment (same staff, same duration, bookable start), audits it and queues '
  'appointment_cancelled / appointment_rescheduled. p_override: take the override path (the trigger checks the caller).';

-- The appointment, locked, if the caller may change it as its customer, its
-- staff member or a manager of its org; PT404 otherwise. Also says who they are.
create or replace function private.appointment_for_change(p_appointment_id uuid, out appt public.appointments, out by_whom text)
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
begin
  select * into appt from public.appointments where id = p_appointment_id for update;
  by_whom := case
    when appt.id is null then null
    when private.manages_appointment(appt.org_id, appt.staff_id, appt.service_id) then 'manager'
    when appt.staff_id = any (private.own_staff_ids()) then 'staff'
    when appt.customer_user_id = caller then 'customer'
  end;
  if by_whom is null then
    raise exception using errcode = 'PT404', message = 'Appointment not found', detail = 'appointment_not_found';
  end if;
end;
$$;

-- The guest's appointment, locked: null when the number/token pair is wrong.
create or replace function private.guest_appointment(p_number text, p_token text, p_appointment_id uuid)
  returns public.appointments
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  by_subscription boolean := upper(btrim(coalesce(p_number, ''))) like 'SUB-%';
  authorized uuid := case when by_subscription then private.authorize_subscription_guest(p_number, p_token)
                          else private.authorize_guest(p_number, p_token) end;
  appt public.appointments;
begin
  if authorized is null then
    return null;
  end if;
  select * into appt from public.appointments a
  where a.id = p_appointment_id
    and authorized = case when by_subscription then a.subscription_id else a.order_id end
  for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'Appointment not found', detail = 'appointment_not_found';
  end if;
  return appt;
end;
$$;
comment on function private.guest_appointment(text, text, uuid) is
  'The appointment, locked, behind a guest link: an order (number + token) or a subscription (SUB-… + token); '
  'null for a wrong pair (counted by the throttle), PT404 when the appointment is not behind that link.';

create or replace function private.cancel_appointment(p_appointment_id uuid, p_reason text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  found_row record;
begin
  select * into found_row from private.appointment_for_change(p_appointment_id);
  return private.apply_appointment_change(found_row.appt, 'cancel', null, private.check_change_reason(p_reason),
                                          found_row.by_whom);
end;
$$;

create or replace function private.reschedule_appointment(p_appointment_id uuid, p_new_start timestamptz) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  found_row record;
begin
  select * into found_row from private.appointment_for_change(p_appointment_id);
  return private.apply_appointment_change(found_row.appt, 'reschedule', p_new_start, null, found_row.by_whom);
end;
$$;

create or replace function private.cancel_appointment_as_guest(
  p_number text, p_token text, p_appointment_id uuid, p_reason text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  appt public.appointments := private.guest_appointment(p_number, p_token, p_appointment_id);
begin
  if appt.id is null then
    return null;
  end if;
  return private.apply_appointment_change(appt, 'cancel', null, private.check_change_reason(p_reason), 'guest');
end;
$$;

create or replace function private.reschedule_appointment_as_guest(
  p_number text, p_token text, p_appointment_id uuid, p_new_start timestamptz
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  appt public.appointments := private.guest_appointment(p_number, p_token, p_appointment_id);
begin
  if appt.id is null then
    return null;
  end if;
  return private.apply_appointment_change(appt, 'reschedule', p_new_start, null, 'guest');
end;
$$;

create or replace function private.override_appointment_change(
  p_appointment_id uuid, p_action text, p_new_start timestamptz, p_reason text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  found_row record;
  action text := private.check_change_kind(p_action)::text;
  reason text := private.check_change_reason(p_reason, true);
begin
  select * into found_row from private.appointment_for_change(p_appointment_id);
  if found_row.by_whom <> 'manager' then
    raise exception using errcode = 'PT403', detail = 'not_a_manager',
      message = 'Only owners, admins and managers override the cancellation cut-off';
  end if;
  return private.apply_appointment_change(found_row.appt, action, p_new_start, reason, 'manager', reason);
end;
$$;

create or replace function private.file_change_request(
  p_appointment public.appointments, p_requested_by uuid, p_kind text, p_proposed_start timestamptz, p_reason text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  kind public.appointment_change_kind := private.check_change_kind(p_kind);
  reason text := private.check_change_reason(p_reason);
  req public.appointment_change_requests;
  manager record;
begin
  if p_appointment.status <> 'booked' or lower(p_appointment.period) <= now() then
    raise exception using errcode = 'PT409', detail = 'not_changeable',
      message = 'Only a booked appointment that has not started can be changed';
  end if;
  if kind = 'reschedule' and (p_proposed_start is null or p_proposed_start <= now()) then
    raise exception using errcode = 'PT422', message = 'Propose a new start time in the future', detail = 'invalid_start';
  end if;
  begin
    insert into public.appointment_change_requests (org_id, appointment_id, requested_by, kind, proposed_start, reason)
    values (p_appointment.org_id, p_appointment.id, p_requested_by, kind,
            case when kind = 'reschedule' then p_proposed_start end, reason)
    returning * into req;
  exception when unique_violation then
    raise exception using errcode = 'PT409', detail = 'request_pending',
      message = 'A change request for this appointment is already waiting for an answer';
  end;
  for manager in
    select m.user_id, p.email from public.memberships m join public.profiles p on p.id = m.user_id
    where m.org_id = p_appointment.org_id and p.email is not null
      and private.user_manages_appointment(m.user_id, m.org_id, p_appointment.staff_id, p_appointment.service_id)
  loop
    perform private.enqueue_notification(
      p_appointment.org_id, 'email', 'change_request_received', manager.email,
      private.appointment_json(p_appointment) || jsonb_build_object(
        'request_id', req.id, 'kind', req.kind, 'proposed_start', req.proposed_start, 'reason', req.reason),
      'change_request_received:' || req.id || ':' || manager.user_id);
  end loop;
  return to_jsonb(req);
end;
$$;

create or replace function private.request_appointment_change(
  p_appointment_id uuid, p_kind text, p_proposed_start timestamptz, p_reason text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
  appt public.appointments;
begin
  select * into appt from public.appointments where id = p_appointment_id and customer_user_id = caller for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'Appointment not found', detail = 'appointment_not_found';
  end if;
  return private.file_change_request(appt, caller, p_kind, p_proposed_start, p_reason);
end;
$$;

create or replace function private.request_appointment_change_as_guest(
  p_number text, p_token text, p_appointment_id uuid, p_kind text, p_proposed_start timestamptz, p_reason text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  appt public.appointments := private.guest_appointment(p_number, p_token, p_appointment_id);
begin
  if appt.id is null then
    return null;
  end if;
  return private.file_change_request(appt, null, p_kind, p_proposed_start, p_reason);
end;
$$;
grant execute on function
  private.cancel_appointment_as_guest(text, text, uuid, text),
  private.reschedule_appointment_as_guest(text, text, uuid, timestamptz),
  private.request_appointment_change_as_guest(text, text, uuid, text, timestamptz, text)
  to anon, authenticated;

create or replace function private.decide_appointment_change(p_request_id uuid, p_approve boolean, p_note text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
  note text := private.check_change_reason(p_note);
  req public.appointment_change_requests;
  appt public.appointments;
  outcome jsonb;
  recipient text;
begin
  select * into req from public.appointment_change_requests where id = p_request_id for update;
  if found then
    select * into appt from public.appointments where id = req.appointment_id for update;
  end if;
  if not found or not private.manages_appointment(appt.org_id, appt.staff_id, appt.service_id) then
    raise exception using errcode = 'PT404', message = 'Change request not found', detail = 'request_not_found';
  end if;
  if req.status <> 'pending' then
    raise exception using errcode = 'PT409', detail = 'already_decided',
      message = format('This request was %s already', req.status);
  end if;
  if p_approve is null then
    raise exception using errcode = 'PT422', message = 'Approve or reject', detail = 'invalid_decision';
  end if;
  if p_approve then
    outcome := private.apply_appointment_change(
      appt, req.kind::text, req.proposed_start, req.reason, 'manager',
      format('change request %s approved%s', req.id, coalesce(': ' || note, '')));
    select * into appt from public.appointments where id = req.appointment_id;
  end if;
  update public.appointment_change_requests
  set status = case when p_approve then 'approved'::public.appointment_change_status else 'rejected' end,
      decided_by = caller, decided_at = now(), decision_note = note
  where id = req.id
  returning * into req;
  recipient := private.appointment_recipient(appt);
  if recipient is not null then
    perform private.enqueue_notification(
      req.org_id, 'email', 'change_request_decided', recipient,
      private.appointment_json(appt) || jsonb_build_object(
        'request_id', req.id, 'kind', req.kind, 'decision', req.status, 'note', req.decision_note,
        'proposed_start', req.proposed_start),
      'change_request_decided:' || req.id);
  end if;
  return to_jsonb(req) || jsonb_build_object('appointment', private.appointment_json(appt));
end;
$$;
-- The guest halves are what anon may execute (they authorize by order number + tracking token).
grant execute on function
  private.cancel_appointment(uuid, text),
  private.reschedule_appointment(uuid, timestamptz),
  private.override_appointment_change(uuid, text, timestamptz, text),
  private.request_appointment_change(uuid, text, timestamptz, text),
  private.decide_appointment_change(uuid, boolean, text)
  to authenticated;

create or replace function public.cancel_appointment(appointment_id uuid, reason text default null) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.cancel_appointment(cancel_appointment.appointment_id,
                                    cancel_appointment.reason);
end;
$$;
comment on function public.cancel_appointment(uuid, text) is
  'The customer, the staff member or a manager cancels a booked appointment until the org''s cut-off '
  '(PT409 cutoff_passed after it). Returns the appointment. PT404 appointment_not_found, PT409 not_changeable.';
grant execute on function public.cancel_appointment(uuid, text) to authenticated;

create or replace function public.cancel_appointment_as_guest(
  order_number text, tracking_token text, appointment_id uuid, reason text default null
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.cancel_appointment_as_guest(
    cancel_appointment_as_guest.order_number, cancel_appointment_as_guest.tracking_token,
    cancel_appointment_as_guest.appointment_id, cancel_appointment_as_guest.reason);
end;
$$;
comment on function public.cancel_appointment_as_guest(text, text, uuid, text) is
  'A guest cancels an appointment of their order (order number + tracking token) until the cut-off. '
  'null when the number/token pair is wrong (throttled: PT429 throttled).';
grant execute on function public.cancel_appointment_as_guest(text, text, uuid, text) to anon, authenticated;

create or replace function public.reschedule_appointment(appointment_id uuid, new_start timestamptz) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.reschedule_appointment(reschedule_appointment.appointment_id, reschedule_appointment.new_start);
end;
$$;
comment on function public.reschedule_appointment(uuid, timestamptz) is
  'Moves a booked appointment to a new start with the same staff member until the cut-off. '
  'PT409 cutoff_passed / slot_unavailable / not_changeable, PT404 appointment_not_found.';
grant execute on function public.reschedule_appointment(uuid, timestamptz) to authenticated;

create or replace function public.reschedule_appointment_as_guest(
  order_number text, tracking_token text, appointment_id uuid, new_start timestamptz
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.reschedule_appointment_as_guest(
    reschedule_appointment_as_guest.order_number, reschedule_appointment_as_guest.tracking_token,
    reschedule_appointment_as_guest.appointment_id, reschedule_appointment_as_guest.new_start);
end;
$$;
comment on function public.reschedule_appointment_as_guest(text, text, uuid, timestamptz) is
  'A guest moves an appointment of their order (order number + tracking token); null for a wrong pair.';
grant execute on function public.reschedule_appointment_as_guest(text, text, uuid, timestamptz) to anon, authenticated;

create or replace function public.override_appointment_change(
  appointment_id uuid, action text, new_start timestamptz default null, reason text default null
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.override_appointment_change(
    override_appointment_change.appointment_id, override_appointment_change.action,
    override_appointment_change.new_start, override_appointment_change.reason);
end;
$$;
comment on function public.override_appointment_change(uuid, text, timestamptz, text) is
  'Owners, admins and managers cancel or reschedule past the cut-off, with a reason (audited as '
  'appointment.policy_override). PT403 not_a_manager, PT422 reason_required / invalid_action.';
grant execute on function public.override_appointment_change(uuid, text, timestamptz, text) to authenticated;

create or replace function public.request_appointment_change(
  appointment_id uuid, kind text, proposed_start timestamptz default null, reason text default null
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.request_appointment_change(
    request_appointment_change.appointment_id, request_appointment_change.kind,
    request_appointment_change.proposed_start, request_appointment_change.reason);
end;
$$;
comment on function public.request_appointment_change(uuid, text, timestamptz, text) is
  'The customer asks the business to cancel or move their appointment (also after the cut-off). '
  'PT409 request_pending / not_changeable.';
grant execute on function public.request_appointment_change(uuid, text, timestamptz, text) to authenticated;

create or replace function public.request_appointment_change_as_guest(
  order_number text, tracking_token text, appointment_id uuid, kind text,
  proposed_start timestamptz default null, reason text default null
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.request_appointment_change_as_guest(
    request_appointment_change_as_guest.order_number, request_appointment_change_as_guest.tracking_token,
    request_appointment_change_as_guest.appointment_id,
    request_appointment_change_as_guest.kind,
    request_appointment_change_as_guest.proposed_start,
    request_appointment_change_as_guest.reason);
end;
$$;
comment on function public.request_appointment_change_as_guest(text, text, uuid, text, timestamptz, text) is
  'A guest asks for a change to an appointment of their order; null for a wrong number/token pair.';
grant execute on function public.request_appointment_change_as_guest(text, text, uuid, text, timestamptz, text)
  to anon, authenticated;

create or replace function public.decide_appointment_change(request_id uuid, approve boolean, note text default null)
  returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.decide_appointment_change(decide_appointment_change.request_id, decide_appointment_change.approve,
                                           decide_appointment_change.note);
end;
$$;
comment on function public.decide_appointment_change(uuid, boolean, text) is
  'An owner/admin/manager approves (applied through the audited override) or rejects a change request; the '
  'customer is told. PT404 request_not_found, PT409 already_decided / slot_unavailable.';
grant execute on function public.decide_appointment_change(uuid, boolean, text) to authenticated;
