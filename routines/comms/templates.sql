-- Communications: an org's message templates (overrides of the product's defaults).
--
-- functions/message-templates validates a template (shared/comms/templates.py)
-- and then saves it through private.save_message_template as the caller, which
-- refuses anyone but the org's owners and admins (private is not served by
-- PostgREST, so the function is the only way in). The outbox worker reads the
-- override for a message with private.message_template_for.
--
-- Table: migrations/20261207001100_comms_message_templates.sql.

-- Refuses (PT403 not_an_admin) anyone but the org's owners and admins, and the service role.
create or replace function private.require_template_editor(p_org_id uuid) returns void
  language plpgsql stable
  security definer
  set search_path = ''
as $$
begin
  if (select auth.role()) is distinct from 'service_role' and not private.has_org_role(p_org_id, '{owner,admin}') then
    raise exception using errcode = 'PT403', detail = 'not_an_admin',
      message = 'Message templates are for the organization''s owners and admins';
  end if;
end;
$$;

create or replace function private.save_message_template(
  p_org_id uuid, p_kind text, p_channel public.notification_channel, p_language text,
  p_subject text, p_html text, p_text text, p_body text, p_by uuid
) returns public.message_templates
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  saved public.message_templates;
begin
  perform private.require_template_editor(p_org_id);
  insert into public.message_templates (org_id, kind, channel, language, subject, html, text, body, updated_by)
  values (p_org_id, p_kind, p_channel, coalesce(p_language, 'en'), p_subject, p_html, p_text, p_body,
          coalesce((select auth.uid()), p_by))
  on conflict (org_id, kind, channel, language) do update
    set subject = excluded.subject, html = excluded.html, text = excluded.text, body = excluded.body,
        updated_by = excluded.updated_by, updated_at = now()
  returning * into saved;
  return saved;
end;
$$;

-- Back to the product's default: true when there was an override.
create or replace function private.delete_message_template(
  p_org_id uuid, p_kind text, p_channel public.notification_channel, p_language text
) returns boolean
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform private.require_template_editor(p_org_id);
  delete from public.message_templates
  where org_id = p_org_id and kind = p_kind and channel = p_channel and language = coalesce(p_language, 'en');
  return found;
end;
$$;

-- The org's override for a message in p_language, else its base language (de for de-AT), else the
-- org's own language, else English; null: the product's default applies.
create or replace function private.message_template_for(
  p_org_id uuid, p_kind text, p_channel public.notification_channel, p_language text default 'en'
) returns public.message_templates
  language sql stable
  security definer
  set search_path = ''
as $$
  with preference as (
    select array[coalesce(p_language, 'en'), split_part(coalesce(p_language, 'en'), '-', 1), o.language, 'en'] as languages
    from public.organizations o where o.id = p_org_id
  )
  select t.* from public.message_templates t, preference p
  where t.org_id = p_org_id and t.kind = p_kind and t.channel = p_channel and t.language = any (p.languages)
  order by array_position(p.languages, t.language)
  limit 1;
$$;
grant execute on function
  private.require_template_editor(uuid),
  private.save_message_template(uuid, text, public.notification_channel, text, text, text, text, text, uuid),
  private.delete_message_template(uuid, text, public.notification_channel, text)
  to authenticated, service_role;
grant execute on function private.message_template_for(uuid, text, public.notification_channel, text) to service_role;
