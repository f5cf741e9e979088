-- Service appointments: recurring subscriptions.
--
-- A subscription is "this service, with this staff member, at this address,
-- every week / every other week / every month at the same local time, for 1 to
-- 12 months". Signed-in customers and guests both subscribe through
-- public.create_appointment_subscription; a guest gets a subscription number
-- and a tracking token (shown once, only its sha256 stored, the same helpers
-- and the same throttle as guest orders) to look the subscription up and
-- cancel it.
--
-- Recurrence, in the org's timezone (organizations.timezone, read when each
-- occurrence is generated):
--   * occurrence n's local date is first_date + 7n days (weekly), + 14n days
--     (biweekly) or + n months (monthly: the same day of the month, clamped to
--     the month's last day: 31 Jan -> 28/29 Feb -> 31 Mar; always computed
--     from first_date, so one short month never shifts the rest);
--   * its wanted start is (local date + start_time) AT TIME ZONE tz, so 09:00
--     stays 09:00 local across DST changes; a start inside a spring-forward
--     gap (01:30 on the last Sunday of March in London) is read with the
--     offset before the gap, as RFC 5545 does: 02:30 BST that day only;
--   * occurrences run while the local date is before ends_on = first_date +
--     months (exclusive).
--
-- Generation (private.generate_subscription_appointments(horizon), run by the
-- generate-subscriptions function on a cron): for every active subscription,
-- each occurrence whose wanted start lies in [now, now + horizon) (default 4
-- weeks, never beyond the org's max_days_ahead) and has no ledger row yet is
-- claimed in public.subscription_occurrences (unique per subscription and
-- occurrence: a concurrent run blocks on the claim and then skips it, so two
-- runs never book one occurrence twice) and then booked:
--   * the slot rules of the slot search (private.slot_candidates: hours,
--     breaks, time off, live appointments with buffers, grid, notice, horizon)
--     for the SAME staff member within +-3 local days; the nearest start wins
--     (ties: the earlier). At the wanted start: status 'generated'; elsewhere:
--     'moved' (the customer is told, 'subscription_occurrence_moved');
--   * none free: 'needs_attention', nothing is booked, and the org's owners,
--     admins and managers are told ('subscription_needs_attention').
-- A booking that commits between the search and our insert trips the
-- exclusion constraint; the next-nearest start is tried. Occurrences whose
-- start has already passed when first seen are not generated (a cron outage
-- does not book the past). The appointment carries subscription_id and
-- subscription_occurrence, unique together: a second guard on idempotency.
--
-- Payment: occurrences are booked unpaid (status 'booked', no order) and
-- settled per visit (on the day or invoiced by the business); the generic
-- checkout is for one-off orders. The price is the service's at each visit.
--
-- Cancellation (public.cancel_subscription for the customer or the org's
-- owners/admins/managers; public.cancel_subscription_as_guest with number +
-- token): the subscription becomes 'cancelled' (no more generation) and each
-- of its future booked appointments is cancelled THROUGH the cut-off trigger
-- (private.enforce_appointment_cutoff): those already inside the org's
-- cancellation cut-off stay booked and are reported back as `kept` (a manager
-- may still override one with public.override_appointment_change).
--
-- RLS: policies/appointments.sql. Error codes: invalid_service,
-- service_not_found, invalid_frequency, invalid_months, invalid_start,
-- invalid_customer, invalid_postcode, postcode_not_covered, not_served_here,
-- staff_unavailable, slot_unavailable, invalid_reason, subscription_not_found,
-- not_active, invalid_horizon.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121001700_appointments_subscriptions.sql.

create or replace function private.subscription_occurrence_date(
  p_first date, p_frequency public.subscription_frequency, p_n integer
) returns date
  language sql immutable
  set search_path = ''
as $$
  select case p_frequency
    when 'weekly' then p_first + 7 * p_n
    when 'biweekly' then p_first + 14 * p_n
    else (p_first + make_interval(months => p_n))::date  -- clamps to the month's last day
  end;
$$;
comment on function private.subscription_occurrence_date(date, public.subscription_frequency, integer) is
  'Local date of occurrence n (from 0): +7n / +14n days, or +n months from the first date (clamped to month end).';

-- Every occurrence of a subscription: (n, local date, wanted start as an instant in the org's zone).
create or replace function private.subscription_schedule(p_subscription public.appointment_subscriptions, p_tz text)
  returns table (occurrence integer, day date, wanted_start timestamptz)
  language sql stable
  set search_path = ''
as $$
  select g.n, d.day, (d.day + p_subscription.start_time) at time zone p_tz
  from generate_series(0, 60) as g(n)
  cross join lateral (select private.subscription_occurrence_date(
                         p_subscription.first_date, p_subscription.frequency, g.n) as day) d
  where d.day < p_subscription.ends_on
  order by g.n;
$$;
comment on function private.subscription_schedule(public.appointment_subscriptions, text) is
  'All occurrences of a subscription with their wanted start: local date + start_time AT TIME ZONE the org''s zone.';

create or replace function private.subscription_json(p_subscription_id uuid) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select jsonb_build_object(
    'subscription_id', s.id, 'number', s.number, 'status', s.status, 'frequency', s.frequency,
    'months', s.months, 'first_date', s.first_date, 'start_time', to_char(s.start_time, 'HH24:MI'),
    'ends_on', s.ends_on, 'timezone', o.timezone,
    'service_id', s.service_id, 'service', svc.name, 'staff_id', s.staff_id, 'staff_name', st.display_name,
    'customer_name', s.customer_name, 'customer_email', s.customer_email, 'postcode', s.postcode,
    'cancelled_at', s.cancelled_at,
    'occurrences', (select coalesce(jsonb_agg(jsonb_build_object(
                      'occurrence', x.occurrence, 'status', x.status,
                      'wanted_start', private.local_iso(x.wanted_start, o.timezone),
                      'start', private.local_iso(x.actual_start, o.timezone),
                      'appointment_id', x.appointment_id, 'appointment_status', a.status)
                      order by x.occurrence), '[]'::jsonb)
                    from public.subscription_occurrences x
                    left join public.appointments a on a.id = x.appointment_id
                    where x.subscription_id = s.id))
  from public.appointment_subscriptions s
  join public.organizations o on o.id = s.org_id
  join public.services svc on svc.id = s.service_id
  join public.staff st on st.id = s.staff_id
  where s.id = p_subscription_id;
$$;
comment on function private.subscription_json(uuid) is
  'A subscription as its customer may see it, with every generated occurrence (wanted and booked start, status).';

create or replace function private.generate_for_subscription(p_subscription_id uuid, p_horizon interval,
                                                   p_now timestamptz default now())
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  sub public.appointment_subscriptions;
  svc public.services;
  tz text;
  until_at timestamptz;
  occ record;
  claimed uuid;
  slot record;
  appt public.appointments;
  booked_at timestamptz;
  manager record;
  generated integer := 0;
  moved integer := 0;
  attention integer := 0;
begin
  select * into sub from public.appointment_subscriptions where id = p_subscription_id;
  if not found or sub.status <> 'active' then
    return jsonb_build_object('generated', 0, 'moved', 0, 'needs_attention', 0);
  end if;
  select o.timezone into tz from public.organizations o where o.id = sub.org_id;
  select * into svc from public.services where id = sub.service_id;
  until_at := p_now + least(p_horizon,
                            make_interval(days => (private.appointment_settings_for(sub.org_id)).max_days_ahead));

  for occ in
    select s.occurrence, s.day, s.wanted_start
    from private.subscription_schedule(sub, tz) s
    where s.wanted_start >= p_now and s.wanted_start < until_at
      and not exists (select 1 from public.subscription_occurrences x
                      where x.subscription_id = sub.id and x.occurrence = s.occurrence)
    order by s.occurrence
  loop
    -- The claim: a concurrent run waits here for ours to commit, then skips this occurrence.
    claimed := null;
    insert into public.subscription_occurrences (org_id, subscription_id, occurrence, wanted_start, status)
    values (sub.org_id, sub.id, occ.occurrence, occ.wanted_start, 'needs_attention')
    on conflict do nothing  -- the only key that can conflict: subscription_occurrences_once
    returning id into claimed;
    continue when claimed is null;

    appt := null;
    booked_at := null;
    for slot in
      select c.starts_at
      from private.slot_candidates(sub.service_id, occ.day - 3, occ.day + 3, sub.staff_id, null, p_now) c
      where c.staff_id = sub.staff_id
      order by abs(extract(epoch from c.starts_at - occ.wanted_start)), c.starts_at
      limit 20
    loop
      begin
        insert into public.appointments (
          org_id, service_id, staff_id, customer_user_id, customer_name, customer_email, customer_phone,
          postcode, address, notes, status, period, buffer_before_minutes, buffer_after_minutes,
          subscription_id, subscription_occurrence)
        values (
          sub.org_id, sub.service_id, sub.staff_id, sub.customer_user_id, sub.customer_name, sub.customer_email,
          sub.customer_phone, sub.postcode, sub.address, sub.notes, 'booked',
          tstzrange(slot.starts_at, slot.starts_at + make_interval(mins => svc.duration_minutes), '[)'),
          svc.buffer_before_minutes, svc.buffer_after_minutes, sub.id, occ.occurrence)
        returning * into appt;
        booked_at := slot.starts_at;
        exit;
      exception when exclusion_violation then
        null;  -- taken since the search: try the next nearest
      end;
    end loop;

    if booked_at is null then
      attention := attention + 1;
      for manager in
        select m.user_id, p.email from public.memberships m join public.profiles p on p.id = m.user_id
        where m.org_id = sub.org_id and p.email is not null
          and private.user_manages_appointment(m.user_id, m.org_id, sub.staff_id, sub.service_id)
      loop
        perform private.enqueue_notification(sub.org_id, 'email', 'subscription_needs_attention', manager.email,
          jsonb_build_object('subscription_id', sub.id, 'number', sub.number, 'service_id', sub.service_id,
                             'staff_id', sub.staff_id, 'customer_name', sub.customer_name,
                             'occurrence', occ.occurrence, 'occurrence_id', claimed,
                             'wanted_start', private.local_iso(occ.wanted_start, tz)),
          'subscription_needs_attention:' || claimed || ':' || manager.user_id);
      end loop;
      continue;
    end if;

    update public.subscription_occurrences
    set status = case when booked_at = occ.wanted_start then 'generated'::public.subscription_occurrence_status
                      else 'moved' end,
        actual_start = booked_at, appointment_id = appt.id
    where id = claimed;
    if booked_at = occ.wanted_start then
      generated := generated + 1;
    else
      moved := moved + 1;
      perform private.enqueue_notification(sub.org_id, 'email', 'subscription_occurrence_moved', sub.customer_email,
        private.appointment_json(appt) || jsonb_build_object(
          'number', sub.number, 'occurrence', occ.occurrence,
          'wanted_start', private.local_iso(occ.wanted_start, tz)),
        'subscription_occurrence_moved:' || claimed);
    end if;
  end loop;
  return jsonb_build_object('generated', generated, 'moved', moved, 'needs_attention', attention);
end;
$$;
comment on function private.generate_for_subscription(uuid, interval, timestamptz) is
  'Claims and books the not yet generated occurrences of one active subscription starting within the horizon: the '
  'nearest free start of the same staff member within 3 days (generated / moved), else needs_attention. '
  'p_now: the clock (tests inject one; the cron passes none).';

-- The subscriptions a run visits: active and not yet over. One definition for the
-- SQL run below and for the cron function, which visits them one transaction each.
create or replace function private.due_subscriptions(p_now timestamptz default now()) returns setof uuid
  language sql stable
  security definer
  set search_path = ''
as $$
  select s.id from public.appointment_subscriptions s
  where s.status = 'active' and s.ends_on >= (p_now at time zone 'UTC')::date - 1
  order by s.id;
$$;

create or replace function private.generate_subscription_appointments(p_horizon interval default null,
                                                            p_now timestamptz default null) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  horizon interval := coalesce(p_horizon, interval '4 weeks');
  clock timestamptz := coalesce(p_now, now());
  sub record;
  one jsonb;
  subscriptions integer := 0;
  generated integer := 0;
  moved integer := 0;
  attention integer := 0;
begin
  if horizon < interval '1 day' or horizon > interval '26 weeks' then
    raise exception using errcode = 'PT422', message = 'The horizon is between 1 day and 26 weeks',
      detail = 'invalid_horizon';
  end if;
  for sub in select d.id from private.due_subscriptions(clock) d (id)
  loop
    one := private.generate_for_subscription(sub.id, horizon, clock);
    subscriptions := subscriptions + 1;
    generated := generated + (one ->> 'generated')::integer;
    moved := moved + (one ->> 'moved')::integer;
    attention := attention + (one ->> 'needs_attention')::integer;
  end loop;
  return jsonb_build_object('subscriptions', subscriptions, 'generated', generated, 'moved', moved,
                            'needs_attention', attention, 'horizon_days', extract(epoch from horizon)::bigint / 86400);
end;
$$;
comment on function private.generate_subscription_appointments(interval, timestamptz) is
  'Cron (generate-subscriptions): generates every active subscription''s occurrences up to the horizon (default '
  '4 weeks, capped by each org''s max_days_ahead), idempotently. Returns counts. PT422 invalid_horizon.';
grant execute on function
  private.generate_subscription_appointments(interval, timestamptz),
  private.due_subscriptions(timestamptz),
  private.generate_for_subscription(uuid, interval, timestamptz),
  private.subscription_json(uuid),
  private.subscription_occurrence_date(date, public.subscription_frequency, integer),
  private.subscription_schedule(public.appointment_subscriptions, text)
  to service_role;

create or replace function private.create_appointment_subscription(
  p_service_id uuid, p_postcode text, p_frequency text, p_first_date date, p_start_time time,
  p_months integer, p_staff_id uuid, p_customer_name text, p_customer_email text, p_customer_phone text,
  p_address text, p_notes text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  customer uuid := (select auth.uid());
  svc public.services;
  org public.organizations;
  frequency public.subscription_frequency;
  district jsonb;
  first_start timestamptz;
  chosen uuid;
  candidate record;
  any_covering boolean := false;
  named_covers boolean := false;
  token text := private.random_token();
  sub public.appointment_subscriptions;
  attempt integer := 0;
  vouched boolean;
begin
  -- Inputs first.
  if p_service_id is null then
    raise exception using errcode = 'PT422', message = 'Choose a service', detail = 'invalid_service';
  end if;
  if p_frequency is null or lower(btrim(p_frequency)) not in ('weekly', 'biweekly', 'monthly') then
    raise exception using errcode = 'PT422', message = 'The frequency is weekly, biweekly or monthly',
      detail = 'invalid_frequency';
  end if;
  frequency := lower(btrim(p_frequency))::public.subscription_frequency;
  if p_months is null or p_months not between 1 and 12 then
    raise exception using errcode = 'PT422', message = 'A subscription runs for 1 to 12 months', detail = 'invalid_months';
  end if;
  if p_first_date is null or p_start_time is null then
    raise exception using errcode = 'PT422', message = 'Choose the date and time of the first visit',
      detail = 'invalid_start';
  end if;
  if customer is not null then
    p_customer_email := coalesce(nullif(btrim(p_customer_email), ''), (select auth.email()));
    p_customer_name := coalesce(nullif(btrim(p_customer_name), ''),
                                (select p.full_name from public.profiles p where p.id = customer));
  end if;
  p_customer_phone := nullif(btrim(p_customer_phone), '');
  p_address := nullif(btrim(p_address), '');
  p_notes := nullif(btrim(p_notes), '');
  if p_customer_email is null or btrim(p_customer_email) !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'
     or length(p_customer_email) > 320
     or p_customer_name is null or length(btrim(p_customer_name)) not between 1 and 200
     or length(p_customer_phone) > 40 or length(p_address) > 500 or length(p_notes) > 2000 then
    raise exception using errcode = 'PT422', detail = 'invalid_customer',
      message = 'A name and a valid email are required (phone up to 40 characters, address up to 500, notes up to 2000)';
  end if;

  select * into svc from public.services where id = p_service_id and active;
  if not found then
    raise exception using errcode = 'PT404', message = 'Service not found', detail = 'service_not_found';
  end if;
  select * into org from public.organizations where id = svc.org_id;

  -- Who vouches for the address: a signed-in customer whose confirmed email it is books at once.
  -- Anyone else confirms through the code emailed to that address (confirm_subscription), so
  -- nobody can fill a business's calendar with unpaid visits, or mail strangers, from a script.
  vouched := exists (select 1 from auth.users u
                     where u.id = customer and u.email_confirmed_at is not null
                       and lower(u.email) = lower(btrim(p_customer_email)));
  if not vouched and (select count(*) from public.appointment_subscriptions s
                      where s.org_id = org.id and s.customer_email = lower(btrim(p_customer_email))
                        and s.status = 'pending' and s.created_at > now() - interval '1 day') >= 3 then
    raise exception using errcode = 'PT429', detail = 'too_many_pending',
      message = 'Three subscriptions for this address are already waiting for confirmation; check your email';
  end if;
  if p_first_date < (now() at time zone org.timezone)::date then
    raise exception using errcode = 'PT422', message = 'The first visit cannot be in the past', detail = 'invalid_start';
  end if;
  first_start := (p_first_date + p_start_time) at time zone org.timezone;
  district := private.covered_postcode(p_postcode);  -- PT422 invalid_postcode / postcode_not_covered

  -- The staff member: the one named (if they cover the postcode, do the service and are free
  -- for the first visit), else the first covering, qualified one who is free then.
  for candidate in
    select c.staff_id, st.display_name
    from private.covering_staff(org.id, district ->> 'outward') c
    join public.staff_services ss on ss.staff_id = c.staff_id and ss.service_id = svc.id
    join public.staff st on st.id = c.staff_id
    where p_staff_id is null or c.staff_id = p_staff_id
    order by st.display_name, st.id
  loop
    any_covering := true;
    named_covers := named_covers or candidate.staff_id = p_staff_id;
    if private.is_bookable(candidate.staff_id, svc.id, first_start) then
      chosen := candidate.staff_id;
      exit;
    end if;
  end loop;
  if not any_covering then
    if p_staff_id is not null then
      raise exception using errcode = 'PT422', detail = 'staff_unavailable',
        message = 'This staff member does not do this service at this postcode';
    end if;
    raise exception using errcode = 'PT422', detail = 'not_served_here',
      message = format('%s is not available at %s', svc.name, district ->> 'normalized');
  end if;
  if chosen is null then
    raise exception using errcode = 'PT409', detail = 'slot_unavailable',
      message = format('%s cannot be booked at %s', svc.name,
                       to_char(first_start at time zone org.timezone, 'Dy DD Mon YYYY HH24:MI')),
      hint = 'Choose a start time from public.available_slots.';
  end if;

  loop
    begin
      insert into public.appointment_subscriptions (
        org_id, number, service_id, staff_id, customer_user_id, customer_name, customer_email, customer_phone,
        postcode, address, notes, frequency, first_date, start_time, months, tracking_token_hash, status)
      values (
        org.id, 'SUB-' || substr(private.new_order_number(), 4), svc.id, chosen, customer, btrim(p_customer_name),
        lower(btrim(p_customer_email)), p_customer_phone, district ->> 'normalized', p_address, p_notes,
        frequency, p_first_date, date_trunc('minute', p_start_time)::time, p_months, private.token_hash(token),
        case when vouched then 'active' else 'pending' end::public.subscription_status)
      returning * into sub;
      exit;
    exception when unique_violation then
      attempt := attempt + 1;
      if attempt > 5 then
        raise;
      end if;
    end;
  end loop;

  if not vouched then
    -- The code goes to the address only; the caller learns the number, not the code.
    perform private.enqueue_notification(org.id, 'email', 'subscription_confirm', sub.customer_email,
      jsonb_build_object('subscription_id', sub.id, 'number', sub.number, 'service_id', sub.service_id,
                         'frequency', sub.frequency, 'months', sub.months, 'tracking_token', token,
                         'first_start', private.local_iso(first_start, org.timezone)),
      'subscription_confirm:' || sub.id);
    return private.subscription_json(sub.id) || jsonb_build_object('confirmation_sent_to', sub.customer_email);
  end if;
  perform private.start_subscription(sub.id);
  return private.subscription_json(sub.id) || jsonb_build_object('tracking_token', token);
end;
$$;
comment on function private.create_appointment_subscription(uuid, text, text, date, time, integer, uuid, text, text, text, text, text) is
  'Creates a subscription (guest or signed in) after checking every input and that the first visit is bookable; '
  'books the occurrences inside the default horizon at once. Returns the subscription plus tracking_token (shown once).';

-- An active subscription's first weeks are booked and the customer is told.
create or replace function private.start_subscription(p_subscription_id uuid) returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  sub public.appointment_subscriptions;
  tz text;
begin
  select * into sub from public.appointment_subscriptions where id = p_subscription_id;
  select o.timezone into tz from public.organizations o where o.id = sub.org_id;
  -- Book what falls inside the horizon now (the first visit included: it was just checked).
  perform private.generate_for_subscription(sub.id, interval '4 weeks');
  perform private.enqueue_notification(sub.org_id, 'email', 'subscription_created', sub.customer_email,
    jsonb_build_object('subscription_id', sub.id, 'number', sub.number, 'service_id', sub.service_id,
                       'frequency', sub.frequency, 'months', sub.months,
                       'first_start', private.local_iso((sub.first_date + sub.start_time) at time zone tz, tz),
                       'ends_on', sub.ends_on),
    'subscription_created:' || sub.id);
end;
$$;

-- The guest confirms with the code from the email: the subscription starts (idempotent).
create or replace function private.confirm_subscription(p_number text, p_token text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  sub_id uuid := private.authorize_subscription_guest(p_number, p_token);
  started integer;
begin
  if sub_id is null then
    return null;
  end if;
  update public.appointment_subscriptions set status = 'active' where id = sub_id and status = 'pending';
  get diagnostics started = row_count;
  if started = 1 then
    perform private.start_subscription(sub_id);
  end if;
  return private.subscription_json(sub_id);
end;
$$;
comment on function private.confirm_subscription(text, text) is
  'A guest''s subscription starts when they enter the code emailed to them (number + tracking token): its first '
  'weeks are booked. Null for a wrong pair (throttled like order links); a second call changes nothing.';

create or replace function private.authorize_subscription_guest(p_number text, p_token text) returns uuid
  language sql
  security definer
  set search_path = ''
as $$
  select private.authorize_token_holder('public.appointment_subscriptions', p_number, p_token);
$$;
comment on function private.authorize_subscription_guest(text, text) is
  'The subscription id for a matching number + tracking token, else null (the failure is counted in '
  'private.order_lookup_failures: 10 in 15 minutes lock the number out, PT429 throttled).';

create or replace function private.lookup_subscription(p_number text, p_token text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  sub_id uuid := private.authorize_subscription_guest(p_number, p_token);
begin
  if sub_id is null then
    return null;
  end if;
  return private.subscription_json(sub_id);
end;
$$;

create or replace function private.end_subscription(p_subscription_id uuid, p_by uuid, p_reason text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  reason text := private.check_change_reason(p_reason);
  sub public.appointment_subscriptions;
  tz text;
  appt record;
  cancelled jsonb := '[]'::jsonb;
  kept jsonb := '[]'::jsonb;
begin
  select * into sub from public.appointment_subscriptions where id = p_subscription_id for update;
  if sub.status <> 'active' then
    raise exception using errcode = 'PT409', message = 'This subscription is already cancelled', detail = 'not_active';
  end if;
  select o.timezone into tz from public.organizations o where o.id = sub.org_id;
  update public.appointment_subscriptions
  set status = 'cancelled', cancelled_at = now(), cancelled_by = p_by, cancel_reason = reason
  where id = sub.id;

  -- Each future visit goes through the cut-off trigger: inside the cut-off it stays booked.
  for appt in
    select a.id, a.period from public.appointments a
    where a.subscription_id = sub.id and a.status = 'booked' and lower(a.period) > now()
    order by lower(a.period)
    for update
  loop
    begin
      update public.appointments set status = 'cancelled' where id = appt.id;
      cancelled := cancelled || jsonb_build_object('appointment_id', appt.id,
                                                   'start', private.local_iso(lower(appt.period), tz));
    exception when sqlstate 'PT409' then
      kept := kept || jsonb_build_object('appointment_id', appt.id, 'start', private.local_iso(lower(appt.period), tz));
    end;
  end loop;

  perform private.audit(sub.org_id, 'subscription.cancelled', 'appointment_subscriptions', sub.id::text,
    jsonb_build_object('by', p_by, 'reason', reason, 'cancelled', cancelled, 'kept', kept));
  perform private.enqueue_notification(sub.org_id, 'email', 'subscription_cancelled', sub.customer_email,
    jsonb_build_object('subscription_id', sub.id, 'number', sub.number, 'service_id', sub.service_id,
                       'reason', reason, 'cancelled', cancelled, 'kept', kept),
    'subscription_cancelled:' || sub.id);
  return private.subscription_json(sub.id) || jsonb_build_object('cancelled', cancelled, 'kept', kept);
end;
$$;
comment on function private.end_subscription(uuid, uuid, text) is
  'Cancels a subscription and its future booked visits, except those inside the org''s cut-off (refused by the '
  'cut-off trigger, reported as kept). Audited; the customer is told. PT409 not_active.';

create or replace function private.cancel_subscription(p_subscription_id uuid, p_reason text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
begin
  if not exists (select 1 from public.appointment_subscriptions s
                 where s.id = p_subscription_id
                   and (s.customer_user_id = caller
                        or private.manages_appointment(s.org_id, s.staff_id, s.service_id))) then
    raise exception using errcode = 'PT404', message = 'Subscription not found', detail = 'subscription_not_found';
  end if;
  return private.end_subscription(p_subscription_id, caller, p_reason);
end;
$$;
grant execute on function private.cancel_subscription(uuid, text) to authenticated;

create or replace function private.cancel_subscription_as_guest(p_number text, p_token text, p_reason text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  sub_id uuid := private.authorize_subscription_guest(p_number, p_token);
begin
  if sub_id is null then
    return null;
  end if;
  return private.end_subscription(sub_id, null, p_reason);
end;
$$;
-- Anon reaches the guest entry points; the generator is the server's.
grant execute on function
  private.create_appointment_subscription(uuid, text, text, date, time, integer, uuid, text, text, text, text, text),
  private.lookup_subscription(text, text),
  private.confirm_subscription(text, text),
  private.cancel_subscription_as_guest(text, text, text)
  to anon, authenticated, service_role;

create or replace function public.create_appointment_subscription(
  service_id uuid, postcode text, frequency text, first_date date, start_time time, months integer,
  staff_id uuid default null, customer_name text default null, customer_email text default null,
  customer_phone text default null, address text default null, notes text default null
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.create_appointment_subscription(
    create_appointment_subscription.service_id, create_appointment_subscription.postcode,
    create_appointment_subscription.frequency, create_appointment_subscription.first_date,
    create_appointment_subscription.start_time, create_appointment_subscription.months,
    create_appointment_subscription.staff_id, create_appointment_subscription.customer_name,
    create_appointment_subscription.customer_email, create_appointment_subscription.customer_phone,
    create_appointment_subscription.address, create_appointment_subscription.notes);
end;
$$;
comment on function public.create_appointment_subscription(uuid, text, text, date, time, integer, uuid, text, text, text, text, text) is
  'Subscribe (guest or signed in): a service at a postcode, weekly|biweekly|monthly from first_date at start_time '
  '(local, the org''s timezone) for 1-12 months, optionally with one staff member. Visits are booked unpaid and '
  'settled per visit. Returns the subscription with number and tracking_token (shown once). PT422 invalid_service / '
  'invalid_frequency / invalid_months / invalid_start / invalid_customer / invalid_postcode / postcode_not_covered / '
  'not_served_here / staff_unavailable, PT404 service_not_found, PT409 slot_unavailable.';
grant execute on function
  public.create_appointment_subscription(uuid, text, text, date, time, integer, uuid, text, text, text, text, text)
  to anon, authenticated;

create or replace function public.lookup_subscription(subscription_number text, tracking_token text) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.lookup_subscription(lookup_subscription.subscription_number, lookup_subscription.tracking_token);
$$;
comment on function public.lookup_subscription(text, text) is
  'A guest''s view of a subscription and its occurrences (number + tracking token); null for a wrong pair. Throttled.';
grant execute on function public.lookup_subscription(text, text) to anon, authenticated;

create or replace function public.confirm_subscription(subscription_number text, confirmation_code text) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.confirm_subscription(confirm_subscription.subscription_number, confirm_subscription.confirmation_code);
$$;
comment on function public.confirm_subscription(text, text) is
  'A guest starts their subscription with the code emailed to them (it is also their tracking token). Throttled.';
grant execute on function public.confirm_subscription(text, text) to anon, authenticated;

create or replace function public.cancel_subscription(subscription_id uuid, reason text default null) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.cancel_subscription(cancel_subscription.subscription_id, cancel_subscription.reason);
end;
$$;
comment on function public.cancel_subscription(uuid, text) is
  'The customer or an owner/admin/manager cancels a subscription: future visits are cancelled except those inside '
  'the cut-off ({cancelled, kept}). PT404 subscription_not_found, PT409 not_active.';
grant execute on function public.cancel_subscription(uuid, text) to authenticated;

create or replace function public.cancel_subscription_as_guest(subscription_number text, tracking_token text,
                                                    reason text default null) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.cancel_subscription_as_guest(cancel_subscription_as_guest.subscription_number,
                                              cancel_subscription_as_guest.tracking_token,
                                              cancel_subscription_as_guest.reason);
end;
$$;
comment on function public.cancel_subscription_as_guest(text, text, text) is
  'A guest cancels their subscription (number + tracking token); null for a wrong pair. PT409 not_active.';
grant execute on function public.cancel_subscription_as_guest(text, text, text) to anon, authenticated;

create or replace function private.resolve_subscription_occurrence(
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

create or replace function public.resolve_subscription_occurrence(occurrence_id uuid, start timestamptz, staff_id uuid default null)
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
