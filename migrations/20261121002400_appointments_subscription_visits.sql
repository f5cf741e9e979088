-- Subscription visits: what guests and admins do with single visits.
--
-- 1. A guest's subscription link (number SUB-… + tracking token) reaches its
--    visits the way an order link reaches its appointments: every guest
--    appointment RPC (cancel, reschedule, change request, review) resolves the
--    appointment through private.guest_appointment, which now accepts either
--    kind of number. The 24-hour cut-off trigger applies as everywhere else.
-- 2. A visit the generator flagged (`needs_attention`: no free slot of the
--    staff member within 3 days) is resolved by an owner, admin or manager in
--    scope: resolve_subscription_occurrence(occurrence, start, staff?) books
--    that start, with the subscription's staff member or another qualified
--    one, and tells the customer (subscription_occurrence_moved). The slot
--    must be bookable (private.is_bookable); the constraint and the staff
--    lock guard the race as for every booking.

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

create function private.resolve_subscription_occurrence(
  p_occurrence_id uuid, p_start timestamptz, p_staff_id uuid
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  occ public.subscription_occurrences;
  sub public.appointment_subscriptions;
  svc public.services;
  staff_member uuid;
  tz text;
  appt public.appointments;
begin
  perform private.require_caller();
  select * into occ from public.subscription_occurrences where id = p_occurrence_id for update;
  if found then
    select * into sub from public.appointment_subscriptions where id = occ.subscription_id;
  end if;
  if not found or not private.manages_appointment(sub.org_id, sub.staff_id, sub.service_id) then
    raise exception using errcode = 'PT404', message = 'Visit not found', detail = 'occurrence_not_found';
  end if;
  if occ.status <> 'needs_attention' then
    raise exception using errcode = 'PT409', detail = 'already_booked',
      message = format('This visit is %s already', occ.status);
  end if;
  if sub.status <> 'active' then
    raise exception using errcode = 'PT409', detail = 'not_active', message = 'The subscription was cancelled';
  end if;
  staff_member := coalesce(p_staff_id, sub.staff_id);
  if not private.manages_appointment(sub.org_id, staff_member, sub.service_id) then
    raise exception using errcode = 'PT422', detail = 'invalid_staff',
      message = 'Choose a staff member of this organization whose jobs you manage';
  end if;
  if p_start is null or p_start <= now() then
    raise exception using errcode = 'PT422', detail = 'invalid_start', message = 'Choose a start time in the future';
  end if;
  select * into svc from public.services where id = sub.service_id;
  perform private.lock_staff(array[staff_member]);
  if not private.is_bookable(staff_member, sub.service_id, p_start) then
    raise exception using errcode = 'PT409', detail = 'slot_unavailable',
      message = 'That time is not free for this staff member';
  end if;
  insert into public.appointments (
    org_id, service_id, staff_id, customer_user_id, customer_name, customer_email, customer_phone,
    postcode, address, notes, status, period, buffer_before_minutes, buffer_after_minutes,
    subscription_id, subscription_occurrence)
  values (
    sub.org_id, sub.service_id, staff_member, sub.customer_user_id, sub.customer_name, sub.customer_email,
    sub.customer_phone, sub.postcode, sub.address, sub.notes, 'booked',
    tstzrange(p_start, p_start + make_interval(mins => svc.duration_minutes), '[)'),
    svc.buffer_before_minutes, svc.buffer_after_minutes, sub.id, occ.occurrence)
  returning * into appt;
  update public.subscription_occurrences
  set status = 'moved', actual_start = p_start, appointment_id = appt.id
  where id = occ.id
  returning * into occ;
  select o.timezone into tz from public.organizations o where o.id = sub.org_id;
  perform private.enqueue_notification(sub.org_id, 'email', 'subscription_occurrence_moved', sub.customer_email,
    private.appointment_json(appt) || jsonb_build_object(
      'number', sub.number, 'occurrence', occ.occurrence, 'wanted_start', private.local_iso(occ.wanted_start, tz)),
    'subscription_occurrence_moved:' || occ.id);
  perform private.audit(sub.org_id, 'subscription.occurrence_resolved', 'subscription_occurrences', occ.id::text,
    jsonb_build_object('appointment_id', appt.id, 'start', p_start, 'staff_id', staff_member));
  return to_jsonb(occ) || jsonb_build_object('appointment', private.appointment_json(appt));
end;
$$;
comment on function private.resolve_subscription_occurrence(uuid, timestamptz, uuid) is
  'An owner/admin/manager in scope books a needs_attention visit at a chosen free start (the subscription''s staff '
  'member or another they manage); the customer is told. PT404 occurrence_not_found, PT409 already_booked / '
  'not_active / slot_unavailable / slot_taken, PT422 invalid_staff / invalid_start.';
grant execute on function private.resolve_subscription_occurrence(uuid, timestamptz, uuid) to authenticated;

create function public.resolve_subscription_occurrence(occurrence_id uuid, start timestamptz, staff_id uuid default null)
  returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  begin
    return private.resolve_subscription_occurrence(
      resolve_subscription_occurrence.occurrence_id, resolve_subscription_occurrence.start,
      resolve_subscription_occurrence.staff_id);
  exception when exclusion_violation then
    raise exception using errcode = 'PT409', detail = 'slot_taken', message = 'That time was just booked by someone else';
  end;
end;
$$;
comment on function public.resolve_subscription_occurrence(uuid, timestamptz, uuid) is
  'Books a subscription visit the generator could not place (needs_attention) at a chosen start.';
grant execute on function public.resolve_subscription_occurrence(uuid, timestamptz, uuid) to authenticated;
