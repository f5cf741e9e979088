-- A maintenance path that exists on Supabase, and is audited.
--
-- The cut-off and status-transition triggers exempted "a superuser session
-- without JWT claims" (migrations, psql, test arrangement). On Supabase
-- `postgres` is never a superuser, so there that path did not exist: the
-- owner could not, say, move a booking after its cut-off from the SQL editor.
-- A maintenance session is now one that acts as no API role: no JWT claims
-- and a current role that is not anon, authenticated, service_role or
-- authenticator. Every API request (PostgREST, or a function acting as its
-- caller through shared/db.py) carries claims and one of those roles, so none
-- can take this path. What it does that the API may not (a change after the
-- cut-off, a status move outside the transition table) is written to the
-- audit log as `maintenance.bypass`, with the session's role.
-- The two triggers are redefined here; their other rules are as in
-- *_manager_scope.sql and *_staff_portal.sql.

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

create function private.audit_maintenance(p_org_id uuid, p_table text, p_row_id text, p_details jsonb)
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
comment on function private.enforce_appointment_cutoff() is
  'BEFORE UPDATE trigger on appointments: a reschedule (period/staff) or cancellation of a booked or in-progress '
  'appointment after start - cancellation_cutoff_hours raises PT409 cutoff_passed, unless an owner/admin/manager '
  'in scope set bookwell.policy_override (audited as appointment.policy_override). Exempt: holds, cancellations '
  'following an expired/cancelled/refunded order; a maintenance session passes and is audited (maintenance.bypass).';
comment on function private.enforce_appointment_transition() is
  'BEFORE INSERT/UPDATE trigger on appointments: created held or booked; status moves only along '
  'private.appointment_status_transitions (PT409 illegal_transition); check-in from the job''s local day '
  '(too_early), no-show after the start (not_started); checked_in_at/checked_out_at stamped with now(). '
  'A maintenance session is exempt; a move outside the table is audited (maintenance.bypass).';
