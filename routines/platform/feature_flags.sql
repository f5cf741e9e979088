-- Feature flags: is a capability on for an organization, and who may switch it.
--
-- Resolution (private.feature_enabled): a platform row (org_id null) that says
-- off wins everywhere, a kill switch; otherwise the organization's own row,
-- then the platform's, then the catalogue's default. Functions call the same
-- SQL (shared/platform/flags.py), so a flag means one thing everywhere.
-- Owners and admins set their organization's flags; only the service role sets
-- the platform's. Tables: migrations/20261208000200_platform_feature_flags.sql.

create or replace function private.feature_enabled(p_flag text, p_org_id uuid default null) returns boolean
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
declare
  answer boolean;
begin
  select case when platform.enabled is false then false
              else coalesce(own.enabled, platform.enabled, f.enabled_by_default) end
  into answer
  from private.features f
  left join public.feature_flags platform on platform.flag = f.flag and platform.org_id is null
  left join public.feature_flags own on own.flag = f.flag and own.org_id = p_org_id
  where f.flag = p_flag;
  if answer is null then
    raise exception using errcode = 'PT404', detail = 'unknown_feature', message = 'There is no such feature flag',
      hint = jsonb_build_object('flag', p_flag)::text;
  end if;
  return answer;
end;
$$;
comment on function private.feature_enabled(text, uuid) is
  'Whether `p_flag` is on for the organization (or the platform when null): a platform off is a kill switch, '
  'else the org''s row, the platform''s, the default. PT404 unknown_feature.';

-- For SQL paths that must not run with a flag off: PT403 feature_disabled.
create or replace function private.require_feature(p_flag text, p_org_id uuid default null) returns void
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  if not private.feature_enabled(p_flag, p_org_id) then
    raise exception using errcode = 'PT403', detail = 'feature_disabled',
      message = (select description from private.features where flag = p_flag) || ' is switched off here',
      hint = jsonb_build_object('flag', p_flag)::text;
  end if;
end;
$$;

create or replace function private.set_feature_flag(p_flag text, p_enabled boolean, p_org_id uuid)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  if not exists (select 1 from private.features where flag = p_flag) then
    raise exception using errcode = 'PT404', detail = 'unknown_feature', message = 'There is no such feature flag',
      hint = jsonb_build_object('flag', p_flag)::text;
  end if;
  if p_org_id is null and coalesce((select auth.role()), '') <> 'service_role' then
    raise exception using errcode = 'PT403', detail = 'platform_flag',
      message = 'Only the platform operator switches a flag for everyone';
  end if;
  if p_org_id is not null and coalesce((select auth.role()), '') <> 'service_role'
     and not private.has_org_role(p_org_id, array['owner', 'admin']::public.org_role[]) then
    raise exception using errcode = 'PT403', detail = 'not_an_admin',
      message = 'Only owners and admins switch this organization''s features';
  end if;
  if p_enabled is null then
    delete from public.feature_flags where flag = p_flag and org_id is not distinct from p_org_id;
  else
    insert into public.feature_flags as f (flag, org_id, enabled, updated_by)
    values (p_flag, p_org_id, p_enabled, (select auth.uid()))
    on conflict (flag, org_id) do update
      set enabled = excluded.enabled, updated_by = excluded.updated_by, updated_at = now();
  end if;
  return jsonb_build_object('flag', p_flag, 'org_id', p_org_id,
                            'enabled', private.feature_enabled(p_flag, p_org_id));
end;
$$;

create or replace function public.feature_enabled(flag text, org_id uuid default null) returns boolean
  language sql
  stable
  set search_path = ''
as $$
  select private.feature_enabled(flag, org_id);
$$;
comment on function public.feature_enabled(text, uuid) is
  'Anyone: whether a feature (paypal, ai_wizard, pam) is on for an organization, or the platform when org_id is null.';

create or replace function public.set_feature_flag(flag text, enabled boolean, org_id uuid default null)
  returns jsonb
  language sql
  set search_path = ''
as $$
  select private.set_feature_flag(flag, enabled, org_id);
$$;
comment on function public.set_feature_flag(text, boolean, uuid) is
  'Owners/admins: switch a feature on or off for their organization (enabled null: back to the platform''s '
  'choice). The service role: for the platform (org_id null). PT403 not_an_admin / platform_flag, PT404 unknown_feature.';

grant execute on function private.feature_enabled(text, uuid), public.feature_enabled(text, uuid)
  to anon, authenticated, service_role;
grant execute on function private.require_feature(text, uuid) to authenticated, service_role;
grant execute on function private.set_feature_flag(text, boolean, uuid), public.set_feature_flag(text, boolean, uuid)
  to authenticated, service_role;
