-- Appointment reminders: an email and/or an SMS 24 hours before a booked appointment.
--
-- A cron job (functions/send-reminders, every 5 minutes) calls
-- private.queue_appointment_reminders(), which writes one outbox row per
-- channel for every booked appointment starting within the next 24 hours (and
-- not yet started). The outbox worker sends them like every other notification.
--
-- Idempotency is the outbox's unique dedupe_key,
-- 'appointment_reminder:<channel>:<appointment id>:<start as epoch seconds>':
-- one reminder per channel per (appointment, start time), however often or
-- concurrently the job runs. A rescheduled appointment has a new start, so a
-- new key and a fresh reminder.
--
-- What was true when a reminder was queued may not be true when it is sent:
-- the renderer asks private.appointment_reminder_details() at send time, which
-- answers null unless the appointment is still booked, still starts at the
-- queued time and has not started. The worker then marks the row `skipped`
-- (a new outbox status: deliberately not sent, never retried). A reminder
-- skipped because its appointment moved comes back to life if the appointment
-- moves back to that time while still within the window.
--
-- Channels: email to private.appointment_recipient(); SMS to the customer's
-- phone as typed. The worker normalises the number to E.164 (phonenumbers,
-- UK by default) and skips numbers it cannot parse, so a typo costs the SMS,
-- never the email.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121001800_appointments_reminders.sql.

create or replace function private.appointment_reminder_key(
  p_channel public.notification_channel, p_appointment_id uuid, p_start timestamptz
) returns text
  language sql immutable
  set search_path = ''
as $$
  select 'appointment_reminder:' || p_channel::text || ':' || p_appointment_id::text || ':'
         || extract(epoch from p_start)::bigint::text;
$$;
comment on function private.appointment_reminder_key(public.notification_channel, uuid, timestamptz) is
  'The outbox dedupe_key of a reminder: one per channel, appointment and start time.';

-- Queue the reminders due at p_now; returns how many rows were written (new or revived).
create or replace function private.queue_appointment_reminders(
  p_now timestamptz default now(), p_ahead interval default interval '24 hours'
) returns integer
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  written integer;
begin
  if p_ahead is null or p_ahead <= interval '0' or p_ahead > interval '7 days' then
    raise exception using errcode = 'PT422', message = 'The reminder window must be between 0 and 7 days',
      detail = 'invalid_window';
  end if;
  with due as (
    select a.id, a.org_id, a.service_id, a.sequence, a.customer_phone, lower(a.period) as starts_at, o.timezone,
           private.appointment_recipient(a) as email
    from public.appointments a
    join public.organizations o on o.id = a.org_id
    where a.status = 'booked'
      and lower(a.period) > coalesce(p_now, now())
      and lower(a.period) <= coalesce(p_now, now()) + p_ahead
  )
  insert into public.notification_outbox as n (org_id, channel, template, recipient, payload, dedupe_key)
  select d.org_id, m.channel, m.template, m.recipient,
         jsonb_build_object('appointment_id', d.id, 'service_id', d.service_id, 'starts_at', d.starts_at,
                            'start', private.local_iso(d.starts_at, d.timezone), 'timezone', d.timezone,
                            'sequence', d.sequence),
         private.appointment_reminder_key(m.channel, d.id, d.starts_at)
  from due d
  cross join lateral (values
    ('email'::public.notification_channel, 'appointment_reminder', d.email),
    ('sms'::public.notification_channel, 'appointment_reminder', btrim(d.customer_phone))
  ) m (channel, template, recipient)
  where m.recipient is not null and length(m.recipient) between 3 and 320
  order by d.id, m.channel  -- one lock order for every concurrent run
  on conflict (dedupe_key) do update
    set status = 'pending', attempts = 0, next_attempt_at = now(), last_error = null, locked_until = null,
        recipient = excluded.recipient, payload = excluded.payload
    where n.status = 'skipped' and n.last_error = 'appointment_changed';
  get diagnostics written = row_count;
  return written;
end;
$$;
comment on function private.queue_appointment_reminders(timestamptz, interval) is
  'Queues an email and an SMS reminder (where the customer has an address / a phone) for each booked appointment '
  'starting in (p_now, p_now + p_ahead]. Idempotent through the outbox dedupe_key; safe to run concurrently.';

-- What a reminder says, or null if it must not be sent any more: the
-- appointment is no longer booked, no longer starts at p_starts_at, or started.
create or replace function private.appointment_reminder_details(p_appointment_id uuid, p_starts_at timestamptz)
  returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select jsonb_build_object(
    'appointment_id', a.id, 'org_name', o.name, 'timezone', o.timezone, 'service', s.name,
    'staff_name', st.display_name, 'customer_name', a.customer_name,
    'starts_at', lower(a.period), 'ends_at', upper(a.period),
    'start', private.local_iso(lower(a.period), o.timezone), 'end', private.local_iso(upper(a.period), o.timezone),
    'address', a.address, 'postcode', a.postcode)
  from public.appointments a
  join public.organizations o on o.id = a.org_id
  join public.services s on s.id = a.service_id
  join public.staff st on st.id = a.staff_id
  where a.id = p_appointment_id
    and a.status = 'booked'
    and lower(a.period) = p_starts_at
    and lower(a.period) > now();
$$;
comment on function private.appointment_reminder_details(uuid, timestamptz) is
  'The facts a reminder shows, or null when it must not be sent (cancelled, moved, no longer booked, started).';
grant execute on function
  private.queue_appointment_reminders(timestamptz, interval),
  private.appointment_reminder_details(uuid, timestamptz)
  to service_role;
