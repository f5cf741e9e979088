-- Manager scope: which jobs a manager manages.
--
-- A membership's `scope` (tenancy migration) narrows what a manager manages:
--   {"staff_ids": ["<uuid>", ...], "service_ids": ["<uuid>", ...]}
-- A missing key does not narrow that dimension, so '{}' (the default) means the
-- whole organization, as before; both keys narrow to jobs of those staff AND
-- those services. Owners and admins are never narrowed; the scope means
-- nothing for other roles. Other keys are left for other business areas.
--
-- The scope applies to the appointments side: reading and writing
-- appointments (policies/appointments.sql), the staff rows, schedules, breaks,
-- time off and service areas of the staff they manage, overriding the
-- cancellation cut-off, deciding change requests (and being told about them),
-- and what their calendar feed shows. The catalogue (services, categories)
-- stays organization-wide for managers.
--
-- Also here: nobody signed in deletes appointments any more. Deleting a booked
-- job inside the cut-off was a way around the 24-hour policy; an appointment
-- is cancelled instead (and keeps its history). Held rows are cleaned up by
-- the service role.
--
-- The functions below are the earlier ones (appointment_changes,
-- calendar_feeds migrations) with their manager checks narrowed to the scope.

-- ---------------------------------------------------------------------------
-- The rule
-- ---------------------------------------------------------------------------

create function private.valid_manager_scope(p_scope jsonb) returns boolean
  language sql immutable
  set search_path = ''
as $$
  select jsonb_typeof(p_scope) = 'object'
     and coalesce((
       select bool_and(jsonb_typeof(p_scope -> k) = 'array'
                       and not exists (
                         select 1 from jsonb_array_elements(p_scope -> k) e
                         where jsonb_typeof(e) <> 'string'
                            or e #>> '{}' !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'))
       from unnest(array['staff_ids', 'service_ids']) k
       where p_scope ? k), true);
$$;
comment on function private.valid_manager_scope(jsonb) is
  'A scope is an object; staff_ids and service_ids, when present, are arrays of lower-case uuid strings.';

-- Pure; the API roles that write memberships need it for the check.
grant execute on function private.valid_manager_scope(jsonb) to authenticated, service_role;

alter table public.memberships
  add constraint memberships_scope_shape check (private.valid_manager_scope(scope));
alter table public.invitations
  add constraint invitations_scope_shape check (private.valid_manager_scope(scope));

-- The membership RPCs say what is wrong instead of failing the check constraint.
create or replace function public.invite_member(
  org_id uuid, email text, role public.org_role, scope jsonb default '{}'::jsonb
) returns jsonb
  language plpgsql
  set search_path = ''
as $$
begin
  if invite_member.email is null or btrim(invite_member.email) !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
    raise exception using errcode = 'PT422', message = 'A valid email address is required', detail = 'invalid_email';
  end if;
  if not private.valid_manager_scope(coalesce(invite_member.scope, '{}'::jsonb)) then
    raise exception using errcode = 'PT422', detail = 'invalid_scope',
      message = 'scope must be an object; staff_ids and service_ids, if given, are lists of ids';
  end if;
  return private.invite_member(invite_member.org_id, invite_member.email, invite_member.role, invite_member.scope);
end;
$$;

create or replace function public.change_member_role(
  org_id uuid, user_id uuid, role public.org_role, scope jsonb default null
) returns public.memberships
  language plpgsql
  set search_path = ''
as $$
begin
  if change_member_role.scope is not null and not private.valid_manager_scope(change_member_role.scope) then
    raise exception using errcode = 'PT422', detail = 'invalid_scope',
      message = 'scope must be an object; staff_ids and service_ids, if given, are lists of ids';
  end if;
  return private.change_member_role(
    change_member_role.org_id, change_member_role.user_id, change_member_role.role, change_member_role.scope);
end;
$$;

-- A scope lists staff and service ids, so a row must never change org under
-- it: the catalogue's org_id is fixed once written (the policies check the
-- caller's org too, but this holds for every path).
create function private.keep_org_id() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if new.org_id is distinct from old.org_id then
    raise exception using errcode = 'PT422', detail = 'org_id_fixed',
      message = format('A %s row cannot move to another organization', tg_table_name);
  end if;
  return new;
end;
$$;
create trigger service_categories_keep_org before update of org_id on public.service_categories
  for each row execute function private.keep_org_id();
create trigger services_keep_org before update of org_id on public.services
  for each row execute function private.keep_org_id();
create trigger staff_keep_org before update of org_id on public.staff
  for each row execute function private.keep_org_id();

create function private.scope_allows(p_scope jsonb, p_staff_id uuid, p_service_id uuid) returns boolean
  language sql immutable
  set search_path = ''
as $$
  select (p_staff_id is null or not (p_scope ? 'staff_ids') or (p_scope -> 'staff_ids') ? p_staff_id::text)
     and (p_service_id is null or not (p_scope ? 'service_ids') or (p_scope -> 'service_ids') ? p_service_id::text);
$$;
comment on function private.scope_allows(jsonb, uuid, uuid) is
  'Whether a manager scope admits a job of this staff member and service (a null argument is not checked).';

create function private.user_manages_appointment(p_user_id uuid, p_org_id uuid, p_staff_id uuid, p_service_id uuid)
  returns boolean
  language sql stable
  security definer
  set search_path = ''
as $$
  select exists (
    select 1 from public.memberships m
    where m.org_id = p_org_id and m.user_id = p_user_id
      and (m.role in ('owner', 'admin')
           or (m.role = 'manager' and private.scope_allows(m.scope, p_staff_id, p_service_id))));
$$;
comment on function private.user_manages_appointment(uuid, uuid, uuid, uuid) is
  'Owner/admin of the org, or a manager whose scope admits the staff member and service. Not for API roles '
  '(it would tell anyone who manages what); they use manages_appointment().';
revoke execute on function private.user_manages_appointment(uuid, uuid, uuid, uuid) from public, anon, authenticated;

create function private.manages_appointment(p_org_id uuid, p_staff_id uuid, p_service_id uuid)
  returns boolean
  language sql stable
  security definer
  set search_path = ''
as $$
  select private.user_manages_appointment((select auth.uid()), p_org_id, p_staff_id, p_service_id);
$$;
comment on function private.manages_appointment(uuid, uuid, uuid) is
  'Whether the caller manages jobs of this staff member and service in this org (policies and RPCs).';
revoke execute on function private.manages_appointment(uuid, uuid, uuid) from public, anon;
grant execute on function private.manages_appointment(uuid, uuid, uuid) to authenticated;

-- For policies: the staff members and services whose jobs the caller manages
-- as a manager (owners and admins are matched by org instead). Each staff
-- member and service belongs to one org and a user has one membership per
-- org, so `staff_id = any(manager_staff_ids()) and service_id =
-- any(manager_service_ids())` is exactly scope_allows() for that job's org,
-- and both arrays are computed once per statement (`(select …)` initplans).
create function private.manager_staff_ids() returns uuid[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(array_agg(s.id), '{}')
  from public.memberships m
  join public.staff s on s.org_id = m.org_id
  where m.user_id = (select auth.uid()) and m.role = 'manager'
    and private.scope_allows(m.scope, s.id, null);
$$;
comment on function private.manager_staff_ids() is
  'Staff ids whose jobs the caller manages as a manager (scope staff_ids, or the whole org).';

create function private.manager_service_ids() returns uuid[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(array_agg(v.id), '{}')
  from public.memberships m
  join public.services v on v.org_id = m.org_id
  where m.user_id = (select auth.uid()) and m.role = 'manager'
    and private.scope_allows(m.scope, null, v.id);
$$;
comment on function private.manager_service_ids() is
  'Service ids whose jobs the caller manages as a manager (scope service_ids, or the whole org).';
revoke execute on function private.manager_staff_ids(), private.manager_service_ids() from public, anon;
grant execute on function private.manager_staff_ids(), private.manager_service_ids() to authenticated;

-- ---------------------------------------------------------------------------
-- Earlier functions, narrowed to the scope
-- ---------------------------------------------------------------------------

create or replace function private.enforce_appointment_cutoff() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  cutoff_hours integer;
  tz text;
  cutoff_at timestamptz;
  override_reason text := nullif(btrim(current_setting('bookwell.policy_override', true)), '');
  change text := case when new.status = 'cancelled' and old.status <> 'cancelled' then 'cancel' else 'reschedule' end;
begin
  -- Outside the API: a superuser session without claims (see the header).
  if (select auth.role()) is null
     and coalesce((select r.rolsuper from pg_catalog.pg_roles r where r.rolname = session_user), false) then
    return new;
  end if;
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

create or replace function private.calendar_events(p_user_id uuid, p_appointment_id uuid default null) returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  with own_staff as (
    select s.id
    from public.staff s
    join public.memberships m on m.org_id = s.org_id and m.user_id = s.user_id
    where s.user_id = p_user_id
  ), managed_orgs as (
    select m.org_id from public.memberships m
    where m.user_id = p_user_id and m.role in ('owner', 'admin', 'manager')
  ), visible as (
    select a.*,
           (a.staff_id in (select id from own_staff)
            or (a.org_id in (select org_id from managed_orgs)
                and private.user_manages_appointment(p_user_id, a.org_id, a.staff_id, a.service_id))) as works_on_it
    from public.appointments a
    where (a.customer_user_id = p_user_id
           or a.staff_id in (select id from own_staff)
           or (a.org_id in (select org_id from managed_orgs)
               and private.user_manages_appointment(p_user_id, a.org_id, a.staff_id, a.service_id)))
      and case when p_appointment_id is null
               then a.status <> 'held'
                    and a.period && tstzrange(now() - interval '30 days', now() + interval '365 days')
               else a.id = p_appointment_id end
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', a.id,
           'org_name', o.name,
           'org_timezone', o.timezone,
           'service_name', sv.name,
           'staff_name', st.display_name,
           'customer_name', case when a.works_on_it then a.customer_name end,
           'customer_phone', case when a.works_on_it then a.customer_phone end,
           'address', a.address,
           'postcode', a.postcode,
           'starts_at', lower(a.period),
           'ends_at', upper(a.period),
           'status', a.status,
           'sequence', a.sequence,
           'created_at', a.created_at,
           'updated_at', a.updated_at
         ) order by lower(a.period), a.id), '[]'::jsonb)
  from visible a
  join public.services sv on sv.id = a.service_id
  join public.staff st on st.id = a.staff_id
  join public.organizations o on o.id = a.org_id;
$$;
