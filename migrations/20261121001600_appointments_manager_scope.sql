-- Manager scope: which jobs a manager manages.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/appointments/calendar_feeds.sql, routines/appointments/changes.sql, routines/appointments/manager_scope.sql, routines/appointments/triggers.sql, routines/platform/tenancy.sql.

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

-- ---------------------------------------------------------------------------
-- Earlier functions, narrowed to the scope
-- ---------------------------------------------------------------------------
