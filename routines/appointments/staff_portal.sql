-- Service appointments: the staff portal.
--
-- A staff member's day (public.my_jobs), check-in and check-out
-- (public.check_in_job / check_out_job), other status moves
-- (public.set_job_status) and job photos (public.job_photos). The HTTP
-- function functions/staff-portal adds the route order (shared/routing.py)
-- and stores the photo bytes (shared/storage.py).
--
-- The job lifecycle is a table, private.appointment_status_transitions, and a
-- BEFORE INSERT OR UPDATE trigger on public.appointments enforces it on every
-- path (the RPCs below, a manager's direct UPDATE through RLS, service_role):
--   * an appointment is created `held` or `booked`; every later status is
--     reached through a listed transition (PT409 illegal_transition), so
--     cancelled -> completed or completed -> booked never happen;
--   * booked -> in_progress (check-in) from the start of the job's local day
--     in the org's timezone (PT409 too_early): a staff member may take the
--     day's jobs in route order rather than time order, but not tomorrow's;
--   * booked -> no_show only once the start time has passed (PT409 not_started);
--   * checked_in_at / checked_out_at are stamped with the server clock (now())
--     when the job moves to in_progress / completed, whatever a client sent,
--     and never change otherwise (API roles cannot write them).
-- Exempt, like the cut-off trigger: a superuser session without JWT claims
-- (migrations, maintenance, test arrangement). The 24-hour cut-off trigger
-- still applies to cancellations; it never covers these status moves.
--
-- RPCs (public SECURITY INVOKER wrappers; private SECURITY DEFINER halves):
--   my_jobs(day, staff_id)            the caller's jobs of that local day (default: today in the
--                                     org's timezone); a manager may pass a staff_id in their scope
--   check_in_job(id)                  booked -> in_progress; a second check-in is PT409 already_checked_in
--   check_out_job(id, note)           in_progress -> completed, with an optional note
--   set_job_status(id, status, note)  in_progress | completed | no_show (cancel: cancel_appointment)
-- Only the assigned staff member or an owner/admin/manager whose scope admits
-- the job may move it (else PT404 job_not_found; the job's customer gets
-- PT403 not_your_job).
--
-- Job photos: metadata here, bytes in storage (local files in dev, Supabase
-- Storage in production). The object path is set by the database,
-- <org>/<appointment>/<photo id>.<ext>, never by the client. At most
-- private.job_photo_limit() (20) photos per job, enforced under a row lock on
-- the appointment so concurrent uploads cannot pass it. RLS:
-- policies/appointments.sql.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121001900_appointments_staff_portal.sql.

create or replace function private.is_maintenance_session() returns boolean
  language sql stable
  set search_path = ''
as $$
  select (select auth.role()) is null
     and current_user::text not in ('anon', 'authenticated', 'service_role', 'authenticator');
$$;
comment on function private.is_maintenance_session() is
  'A session acting as no API role (no JWT claims; not anon, authenticated, service_role or authenticator): '
  'migrations, the owner in psql or the SQL editor, test arrangement. Never an API caller.';
revoke execute on function private.is_maintenance_session() from public, anon, authenticated;

create or replace function private.next_job_statuses(p_status public.appointment_status) returns text[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(array_agg(t.to_status::text order by t.to_status), '{}')
  from private.appointment_status_transitions t where t.from_status = p_status;
$$;
comment on function private.next_job_statuses(public.appointment_status) is
  'The statuses an appointment in this status may move to (shown beside each job in the portal).';
revoke execute on function private.next_job_statuses(public.appointment_status) from public, anon;
grant execute on function private.next_job_statuses(public.appointment_status) to authenticated, service_role;

create or replace function private.enforce_appointment_transition() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  tz text;
  day_start timestamptz;
begin
  if private.is_maintenance_session() then
    if tg_op = 'UPDATE' and new.status is distinct from old.status
       and not exists (select 1 from private.appointment_status_transitions t
                       where t.from_status = old.status and t.to_status = new.status) then
      perform private.audit_maintenance(old.org_id, 'appointments', old.id::text, jsonb_build_object(
        'bypassed', 'illegal_transition', 'from', old.status, 'to', new.status));
    end if;
    return new;
  end if;
  if tg_op = 'INSERT' then
    if new.status not in ('held', 'booked') then
      raise exception using errcode = 'PT422', detail = 'invalid_initial_status',
        message = format('An appointment is created held or booked, not %s', new.status);
    end if;
    new.checked_in_at := null;
    new.checked_out_at := null;
    return new;
  end if;

  if new.status is distinct from old.status then
    if not exists (select 1 from private.appointment_status_transitions t
                   where t.from_status = old.status and t.to_status = new.status) then
      raise exception using errcode = 'PT409', detail = 'illegal_transition',
        message = format('An appointment cannot go from %s to %s', old.status, new.status),
        hint = to_jsonb(private.next_job_statuses(old.status))::text;
    end if;
    select o.timezone into tz from public.organizations o where o.id = old.org_id;
    if new.status = 'in_progress' then
      day_start := (lower(old.period) at time zone tz)::date::timestamp at time zone tz;
      if now() < day_start then
        raise exception using errcode = 'PT409', detail = 'too_early',
          message = format('This job is on %s; check in on the day',
                           to_char(lower(old.period) at time zone tz, 'YYYY-MM-DD'));
      end if;
    end if;
    if new.status = 'no_show' and now() < lower(old.period) then
      raise exception using errcode = 'PT409', detail = 'not_started',
        message = format('A no-show can be recorded once the job has started (%s)',
                         private.local_iso(lower(old.period), tz));
    end if;
  end if;

  -- Server clock only: stamped on the transition, frozen otherwise.
  new.checked_in_at := case when new.status = 'in_progress' and old.status is distinct from 'in_progress'
                            then now() else old.checked_in_at end;
  new.checked_out_at := case when new.status = 'completed' and old.status is distinct from 'completed'
                             then now() else old.checked_out_at end;
  return new;
end;
$$;
comment on function private.enforce_appointment_transition() is
  'BEFORE INSERT/UPDATE trigger on appointments: created held or booked; status moves only along '
  'private.appointment_status_transitions (PT409 illegal_transition); check-in from the job''s local day '
  '(too_early), no-show after the start (not_started); checked_in_at/checked_out_at stamped with now(). '
  'A maintenance session is exempt; a move outside the table is audited (maintenance.bypass).';

create or replace function private.job_photo_limit() returns integer
  language sql immutable
  set search_path = ''
as $$ select 20 $$;
comment on function private.job_photo_limit() is 'At most this many photos per job.';

create or replace function private.job_photo_prepare() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  appt public.appointments;
  taken integer;
begin
  -- One upload at a time per job: the count below sees every committed photo.
  select * into appt from public.appointments a where a.id = new.appointment_id for no key update;
  if not found then
    return new;  -- the foreign key refuses it
  end if;
  new.org_id := appt.org_id;
  new.object_path := format('%s/%s/%s.%s', appt.org_id, appt.id, new.id,
                            case new.content_type when 'image/jpeg' then 'jpg' when 'image/png' then 'png'
                                                  else 'webp' end);
  if (select auth.role()) = 'authenticated' then
    new.uploaded_by := (select auth.uid());
    -- Tell nothing about a job the caller may not add to: RLS refuses the row.
    if not (appt.staff_id = any (private.own_staff_ids())
            or private.manages_appointment(appt.org_id, appt.staff_id, appt.service_id)) then
      return new;
    end if;
  end if;
  if appt.status not in ('booked', 'in_progress', 'completed', 'no_show') then
    raise exception using errcode = 'PT409', detail = 'job_not_active',
      message = format('Photos are for booked jobs; this one is %s', appt.status);
  end if;
  select count(*) into taken from public.job_photos p where p.appointment_id = appt.id;
  if taken >= private.job_photo_limit() then
    raise exception using errcode = 'PT409', detail = 'too_many_photos',
      message = format('A job has at most %s photos', private.job_photo_limit());
  end if;
  return new;
end;
$$;
comment on function private.job_photo_prepare() is
  'BEFORE INSERT trigger on job_photos: org and object path from the appointment, uploaded_by = the caller, '
  'only on booked/in-progress/completed/no-show jobs (PT409 job_not_active), at most job_photo_limit() per job '
  '(PT409 too_many_photos) under a row lock on the appointment.';

create or replace function private.job_json(p_appointment public.appointments) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select jsonb_build_object(
    'id', p_appointment.id,
    'org_id', p_appointment.org_id,
    'staff_id', p_appointment.staff_id,
    'service_id', p_appointment.service_id,
    'service_name', sv.name,
    'duration_minutes', sv.duration_minutes,
    'customer_name', p_appointment.customer_name,
    'customer_phone', p_appointment.customer_phone,
    'address', p_appointment.address,
    'postcode', p_appointment.postcode,
    'notes', p_appointment.notes,
    'starts_at', lower(p_appointment.period),
    'ends_at', upper(p_appointment.period),
    'starts_local', private.local_iso(lower(p_appointment.period), o.timezone),
    'ends_local', private.local_iso(upper(p_appointment.period), o.timezone),
    'status', p_appointment.status,
    'next_statuses', to_jsonb(private.next_job_statuses(p_appointment.status)),
    'checked_in_at', p_appointment.checked_in_at,
    'checked_out_at', p_appointment.checked_out_at,
    'job_note', p_appointment.job_note,
    'outcode', u.outcode,
    'latitude', u.latitude,
    'longitude', u.longitude,
    'photo_count', (select count(*) from public.job_photos p where p.appointment_id = p_appointment.id))
  from public.services sv
  join public.organizations o on o.id = p_appointment.org_id
  left join public.uk_outcodes u on u.outcode = (private.parse_uk_postcode(p_appointment.postcode)).outward
  where sv.id = p_appointment.service_id;
$$;
comment on function private.job_json(public.appointments) is
  'One job for the staff portal: service, customer contact and address, local times, status and the moves '
  'it may make, check-in/out, the outcode centroid for routing (null when the postcode is missing or unknown).';
revoke execute on function private.job_json(public.appointments) from public, anon, authenticated;

create or replace function private.my_jobs(p_day date, p_staff_id uuid) returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
  own uuid[] := private.own_staff_ids();
  wanted uuid[];
begin
  if p_staff_id is null then
    if cardinality(own) = 0 then
      raise exception using errcode = 'PT403', detail = 'not_staff',
        message = 'You have no staff profile; managers pass staff_id to see a team member''s day';
    end if;
    wanted := own;
  elsif p_staff_id = any (own)
        or exists (select 1 from public.staff s
                   where s.id = p_staff_id and private.manages_appointment(s.org_id, s.id, null)) then
    wanted := array[p_staff_id];
  else
    raise exception using errcode = 'PT404', detail = 'staff_not_found', message = 'Staff member not found';
  end if;

  return (
    select coalesce(jsonb_agg(jsonb_build_object(
             'staff_id', s.id,
             'staff_name', s.display_name,
             'org_id', o.id,
             'org_name', o.name,
             'timezone', o.timezone,
             'day', d.day,
             'base_outcode', b.outcode,
             'base_latitude', b.latitude,
             'base_longitude', b.longitude,
             'jobs', (select coalesce(jsonb_agg(private.job_json(a) order by lower(a.period), a.id), '[]'::jsonb)
                      from public.appointments a
                      where a.staff_id = s.id
                        and lower(a.period) >= d.day::timestamp at time zone o.timezone
                        and lower(a.period) < (d.day + 1)::timestamp at time zone o.timezone
                        and a.status <> 'held'
                        and (s.id = any (own) or private.user_manages_appointment(caller, a.org_id, a.staff_id,
                                                                                  a.service_id))))
           order by o.name, s.display_name, s.id), '[]'::jsonb)
    from public.staff s
    join public.organizations o on o.id = s.org_id
    cross join lateral (select coalesce(p_day, (now() at time zone o.timezone)::date) as day) d
    left join public.uk_outcodes b on b.outcode = s.base_outcode
    where s.id = any (wanted));
end;
$$;
comment on function private.my_jobs(date, uuid) is
  'The caller''s days (one per staff profile) or, for a manager, one staff member''s day in their scope: '
  'jobs starting on that local day (held excluded), by start time.';
grant execute on function private.my_jobs(date, uuid) to authenticated;

create or replace function public.my_jobs(day date default null, staff_id uuid default null) returns jsonb
  language plpgsql stable
  set search_path = ''
as $$
begin
  if my_jobs.day is not null and abs(my_jobs.day - current_date) > 3660 then
    raise exception using errcode = 'PT422', message = 'Pick a day within ten years', detail = 'invalid_day';
  end if;
  return private.my_jobs(my_jobs.day, my_jobs.staff_id);
end;
$$;
comment on function public.my_jobs(date, uuid) is
  'A staff member''s day: [{staff_id, staff_name, org_id, timezone, day, base_outcode/latitude/longitude, jobs}]; '
  'day defaults to today in the org''s timezone. staff_id: a team member in the caller''s manager scope. '
  'PT403 not_staff, PT404 staff_not_found.';
grant execute on function public.my_jobs(date, uuid) to authenticated;

create or replace function private.job_for_update(p_appointment_id uuid) returns public.appointments
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  caller uuid := private.require_caller();
  appt public.appointments;
begin
  select * into appt from public.appointments a where a.id = p_appointment_id for update;
  if found and (appt.staff_id = any (private.own_staff_ids())
                or private.manages_appointment(appt.org_id, appt.staff_id, appt.service_id)) then
    return appt;
  end if;
  if found and appt.customer_user_id = caller then
    raise exception using errcode = 'PT403', detail = 'not_your_job',
      message = 'Only the staff member doing this job (or their manager) can update it';
  end if;
  raise exception using errcode = 'PT404', message = 'Job not found', detail = 'job_not_found';
end;
$$;
revoke execute on function private.job_for_update(uuid) from public, anon, authenticated;

create or replace function private.move_job(p_appointment_id uuid, p_status text, p_note text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  appt public.appointments := private.job_for_update(p_appointment_id);
  target public.appointment_status;
  tz text := (select o.timezone from public.organizations o where o.id = appt.org_id);
  note text := nullif(btrim(p_note), '');
begin
  if p_status is null or lower(btrim(p_status)) not in ('in_progress', 'completed', 'no_show') then
    raise exception using errcode = 'PT422', detail = 'invalid_status',
      message = 'Set in_progress, completed or no_show (cancel with cancel_appointment)';
  end if;
  target := lower(btrim(p_status))::public.appointment_status;
  if length(note) > 2000 then
    raise exception using errcode = 'PT422', message = 'Keep the note under 2000 characters', detail = 'invalid_note';
  end if;
  if appt.status = target then
    raise exception using errcode = 'PT409',
      detail = case target when 'in_progress' then 'already_checked_in'
                           when 'completed' then 'already_checked_out' else 'already_no_show' end,
      message = case target
        when 'in_progress' then format('Already checked in at %s', private.local_iso(appt.checked_in_at, tz))
        when 'completed' then format('Already checked out at %s', private.local_iso(appt.checked_out_at, tz))
        else 'Already recorded as a no-show' end;
  end if;
  if target = 'in_progress' and appt.status = 'completed' then
    raise exception using errcode = 'PT409', detail = 'already_checked_out',
      message = format('This job was completed at %s', private.local_iso(appt.checked_out_at, tz));
  end if;
  if target = 'completed' and appt.status = 'booked' then
    raise exception using errcode = 'PT409', detail = 'not_checked_in', message = 'Check in before checking out';
  end if;
  if appt.status in ('held', 'cancelled') then
    raise exception using errcode = 'PT409', detail = 'job_not_active',
      message = format('This job is %s', appt.status);
  end if;
  -- Anything else (e.g. no_show -> in_progress) is the transition trigger's to refuse.
  update public.appointments a
  set status = target, job_note = coalesce(note, a.job_note)
  where a.id = appt.id
  returning * into appt;
  return private.job_json(appt);
end;
$$;
comment on function private.move_job(uuid, text, text) is
  'Check-in, check-out and other status moves by the assigned staff member or a manager in scope; the '
  'transition trigger has the last word.';
grant execute on function private.move_job(uuid, text, text) to authenticated;

create or replace function public.check_in_job(appointment_id uuid) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.move_job(check_in_job.appointment_id, 'in_progress', null);
end;
$$;
comment on function public.check_in_job(uuid) is
  'booked -> in_progress, checked_in_at = now(). PT409 already_checked_in (with the time), already_checked_out, '
  'job_not_active (held/cancelled), too_early (not the job''s day yet); PT404 job_not_found; PT403 not_your_job.';
grant execute on function public.check_in_job(uuid) to authenticated;

create or replace function public.check_out_job(appointment_id uuid, note text default null) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.move_job(check_out_job.appointment_id, 'completed', check_out_job.note);
end;
$$;
comment on function public.check_out_job(uuid, text) is
  'in_progress -> completed, checked_out_at = now(), the note kept as job_note. PT409 not_checked_in, '
  'already_checked_out; PT422 invalid_note.';
grant execute on function public.check_out_job(uuid, text) to authenticated;

create or replace function public.set_job_status(appointment_id uuid, status text, note text default null) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  return private.move_job(set_job_status.appointment_id, set_job_status.status, set_job_status.note);
end;
$$;
comment on function public.set_job_status(uuid, text, text) is
  'Move a job to in_progress, completed or no_show (after its start time) along the allowed transitions. '
  'PT422 invalid_status; PT409 illegal_transition, not_started, already_*.';
grant execute on function public.set_job_status(uuid, text, text) to authenticated;

create or replace function private.audit_maintenance(p_org_id uuid, p_table text, p_row_id text, p_details jsonb)
  returns void
  language sql
  security definer
  set search_path = ''
as $$
  select private.audit(p_org_id, 'maintenance.bypass', p_table, p_row_id,
                       p_details || jsonb_build_object('session_user', session_user::text));
$$;
comment on function private.audit_maintenance(uuid, text, text, jsonb) is
  'Audits what a maintenance session did that the API may not (action maintenance.bypass).';
revoke execute on function private.audit_maintenance(uuid, text, text, jsonb) from anon, authenticated;
