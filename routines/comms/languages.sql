-- Communications: the language of each message (migrations/20261207001600_comms_recipient_languages.sql).
--
-- A recipient's choice is remembered per org and address (private.remember_language,
-- called by the areas that ask, e.g. checkout); a queued message takes it, or
-- the org's language, or English, once, when it is queued.

-- Remember the language a customer chose (a later choice replaces it). Null address or language: nothing.
create or replace function private.remember_language(
  p_org_id uuid, p_channel public.notification_channel, p_address text, p_language text, p_source text
) returns void
  language sql
  security definer
  set search_path = ''
as $$
  insert into public.recipient_languages (org_id, address, language, source)
  select p_org_id, a.address, p_language, p_source
  from (select private.contact_address(p_channel, p_address,
                                       (select o.country from public.organizations o where o.id = p_org_id)) as address) a
  where a.address is not null and p_language is not null
  on conflict (org_id, address) do update
    set language = excluded.language, source = excluded.source, updated_at = now();
$$;
comment on function private.remember_language(uuid, public.notification_channel, text, text, text) is
  'Records the language a customer chose for messages from an org (latest wins). Called by definer functions only.';

-- BEFORE INSERT on notification_outbox: the language the message will be written in.
create or replace function private.notification_language() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  org public.organizations;
begin
  if new.language is null then
    select * into org from public.organizations o where o.id = new.org_id;
    select r.language into new.language
    from public.recipient_languages r
    where r.org_id = new.org_id and r.address = private.contact_address(new.channel, new.recipient, org.country);
    new.language := coalesce(new.language, org.language, 'en');
  end if;
  return new;
end;
$$;
comment on function private.notification_language() is
  'BEFORE INSERT on notification_outbox: language := the recipient''s choice with this org, the org''s language, or en.';
