-- Communications: marketing consent, campaigns and unsubscribe
-- (migrations/20261207001300_comms_consent_and_campaigns.sql explains the rules).
--
-- private.campaign_recipients is the one place that decides who a promotion
-- may reach: the audience's contacts with granted consent for that channel,
-- not suppressed, each address once (numbers compared in E.164, however they
-- were typed). queue_campaign queues exactly those.

-- Record a consent given or withdrawn (definer code only: the callers decide who may).
-- PT422 invalid_address when the address is not an email address or a phone number.
create or replace function private.record_consent(
  p_org_id uuid, p_channel public.notification_channel, p_address text, p_granted boolean, p_source text,
  p_evidence jsonb default '{}'::jsonb
) returns public.marketing_consents
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  saved public.marketing_consents;
  normalised text;
begin
  normalised := private.contact_address(p_channel, p_address,
                                        (select o.country from public.organizations o where o.id = p_org_id));
  if normalised is null then
    raise exception using errcode = 'PT422', detail = 'invalid_address',
      message = case p_channel when 'email' then 'That is not an email address' else 'That is not a phone number' end;
  end if;
  insert into public.marketing_consents (org_id, channel, address, status, source, evidence)
  values (p_org_id, p_channel, normalised,
          case when p_granted then 'granted'::public.consent_status else 'withdrawn'::public.consent_status end,
          p_source, coalesce(p_evidence, '{}'::jsonb))
  on conflict (org_id, channel, address) do update
    set status = excluded.status, source = excluded.source, evidence = excluded.evidence, changed_at = now()
  returning * into saved;
  return saved;
end;
$$;
grant execute on function
  private.record_consent(uuid, public.notification_channel, text, boolean, text, jsonb) to service_role;

-- Consent as recorded by an org's owners and admins (e.g. from a signed form) or the service role.
create or replace function private.set_marketing_consent(
  p_org_id uuid, p_channel public.notification_channel, p_address text, p_granted boolean, p_source text,
  p_evidence jsonb default '{}'::jsonb
) returns public.marketing_consents
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  if (select auth.role()) is distinct from 'service_role' and not private.has_org_role(p_org_id, '{owner,admin}') then
    raise exception using errcode = 'PT403', detail = 'not_an_admin',
      message = 'Consent is recorded by the organization''s owners and admins';
  end if;
  return private.record_consent(p_org_id, p_channel, p_address, p_granted, p_source, p_evidence);
end;
$$;
grant execute on function
  private.set_marketing_consent(uuid, public.notification_channel, text, boolean, text, jsonb) to authenticated, service_role;

create or replace function public.set_marketing_consent(
  org_id uuid, channel public.notification_channel, address text, granted boolean, source text default 'staff',
  evidence jsonb default '{}'::jsonb
) returns public.marketing_consents
  language sql
  set search_path = ''
as $$
  select private.set_marketing_consent(org_id, channel, address, granted, source, evidence);
$$;
grant execute on function
  public.set_marketing_consent(uuid, public.notification_channel, text, boolean, text, jsonb) to authenticated, service_role;

-- Who a promotion of this org, channel and audience may reach.
create or replace function private.campaign_recipients(
  p_org_id uuid, p_channel public.notification_channel, p_audience text, p_options jsonb
) returns table (address text, name text)
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  audience private.campaign_audiences;
  contacts jsonb;
begin
  select * into audience from private.campaign_audiences a where a.name = p_audience;
  if not found then
    raise exception using errcode = 'PT422', detail = 'unknown_audience',
      message = format('No audience %s', p_audience),
      hint = (select jsonb_agg(a.name order by a.name) from private.campaign_audiences a)::text;
  end if;
  execute format('select coalesce(jsonb_agg(c), ''[]''::jsonb) from %s($1, $2) c', audience.contacts_function)
    into contacts using p_org_id, coalesce(p_options, '{}'::jsonb);
  return query
    select x.address, min(x.name)
    from (select private.contact_address(p_channel, case p_channel when 'email' then c.email else c.phone end,
                                         (select o.country from public.organizations o where o.id = p_org_id))
                 as address, c.name
          from jsonb_to_recordset(contacts) as c(name text, email text, phone text)) x
    join public.marketing_consents mc
      on mc.org_id = p_org_id and mc.channel = p_channel and mc.address = x.address and mc.status = 'granted'
    where x.address is not null and not private.is_suppressed(p_channel, x.address, 'promotional')
    group by x.address;
end;
$$;

create or replace function private.create_campaign(
  p_org_id uuid, p_channel public.notification_channel, p_audience text, p_options jsonb, p_title text,
  p_message text, p_per_minute integer
) returns public.campaigns
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  created public.campaigns;
begin
  if not private.has_org_role(p_org_id, '{owner,admin}') then
    raise exception using errcode = 'PT403', detail = 'not_an_admin',
      message = 'Campaigns are for the organization''s owners and admins';
  end if;
  if not exists (select 1 from private.campaign_audiences a where a.name = p_audience) then
    raise exception using errcode = 'PT422', detail = 'unknown_audience', message = format('No audience %s', p_audience);
  end if;
  insert into public.campaigns (org_id, channel, audience, audience_options, title, message, per_minute, created_by)
  values (p_org_id, p_channel, p_audience, coalesce(p_options, '{}'::jsonb), btrim(p_title), btrim(p_message),
          coalesce(p_per_minute, 60), (select auth.uid()))
  returning * into created;
  return created;
end;
$$;
grant execute on function
  private.create_campaign(uuid, public.notification_channel, text, jsonb, text, text, integer) to authenticated, service_role;

create or replace function public.create_campaign(
  org_id uuid, channel public.notification_channel, audience text, title text, message text,
  audience_options jsonb default '{}'::jsonb, per_minute integer default 60
) returns public.campaigns
  language sql
  set search_path = ''
as $$
  select private.create_campaign(org_id, channel, audience, audience_options, title, message, per_minute);
$$;
grant execute on function
  public.create_campaign(uuid, public.notification_channel, text, text, text, jsonb, integer) to authenticated, service_role;

-- When a message queued at p_at may go: SMS never in quiet hours (21:00-09:00 in the org's zone).
create or replace function private.outside_quiet_hours(p_at timestamptz, p_tz text) returns timestamptz
  language sql stable
  set search_path = ''
as $$
  select case
    when (p_at at time zone p_tz)::time >= time '09:00' and (p_at at time zone p_tz)::time < time '21:00' then p_at
    when (p_at at time zone p_tz)::time < time '09:00' then ((p_at at time zone p_tz)::date + time '09:00') at time zone p_tz
    else ((p_at at time zone p_tz)::date + 1 + time '09:00') at time zone p_tz
  end;
$$;

-- Queue a draft campaign once: one promotion per recipient (campaign_recipients), spread at
-- per_minute, each with its own unsubscribe token. Returns {campaign_id, queued}.
create or replace function private.queue_campaign(p_campaign_id uuid) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  c public.campaigns;
  tz text;
  n integer := 0;
  recipient record;
  token text;
  at timestamptz;
begin
  select * into c from public.campaigns where id = p_campaign_id for update;
  if not found or not private.has_org_role(c.org_id, '{owner,admin}') then
    raise exception using errcode = 'PT404', detail = 'campaign_not_found', message = 'No such campaign';
  end if;
  if c.status <> 'draft' then
    raise exception using errcode = 'PT409', detail = 'already_queued', message = 'This campaign was queued already';
  end if;
  select o.timezone into tz from public.organizations o where o.id = c.org_id;
  for recipient in select * from private.campaign_recipients(c.org_id, c.channel, c.audience, c.audience_options)
                   order by address loop
    token := private.random_token();
    at := now() + make_interval(secs => 60.0 * n / c.per_minute);
    if c.channel = 'sms' then
      at := private.outside_quiet_hours(at, tz);
    end if;
    insert into private.unsubscribe_tokens (token_hash, org_id, channel, address, campaign_id)
    values (private.token_hash(token), c.org_id, c.channel, recipient.address, c.id);
    insert into public.notification_outbox (org_id, channel, template, recipient, payload, dedupe_key, purpose,
                                            next_attempt_at)
    values (c.org_id, c.channel, 'promotion', recipient.address,
            jsonb_build_object('campaign_id', c.id, 'name', recipient.name, 'unsubscribe_token', token),
            'promotion:' || c.id || ':' || recipient.address, 'promotional', at);
    n := n + 1;
  end loop;
  update public.campaigns set status = 'queued', queued = n, queued_at = now() where id = c.id;
  perform private.audit(c.org_id, 'campaign.queued', 'campaigns', c.id::text, jsonb_build_object('queued', n));
  return jsonb_build_object('campaign_id', c.id, 'queued', n);
end;
$$;
grant execute on function private.queue_campaign(uuid) to authenticated, service_role;

create or replace function public.queue_campaign(campaign_id uuid) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.queue_campaign(campaign_id);
$$;
grant execute on function public.queue_campaign(uuid) to authenticated, service_role;

-- The one-click unsubscribe (functions/unsubscribe, as the service role): the token's own consent
-- is withdrawn, once. PT404 unknown_token, PT410 token_used.
create or replace function private.unsubscribe(p_token text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  t private.unsubscribe_tokens;
begin
  select * into t from private.unsubscribe_tokens where token_hash = private.token_hash(coalesce(p_token, ''))
  for update;
  if not found then
    raise exception using errcode = 'PT404', detail = 'unknown_token', message = 'This unsubscribe link is not valid';
  end if;
  if t.used_at is not null then
    raise exception using errcode = 'PT410', detail = 'token_used', message = 'This unsubscribe link was used already';
  end if;
  update private.unsubscribe_tokens set used_at = now() where token_hash = t.token_hash;
  insert into public.marketing_consents (org_id, channel, address, status, source, evidence)
  values (t.org_id, t.channel, t.address, 'withdrawn', 'unsubscribe_link', jsonb_build_object('campaign_id', t.campaign_id))
  on conflict (org_id, channel, address) do update
    set status = 'withdrawn', source = 'unsubscribe_link', evidence = excluded.evidence, changed_at = now();
  return jsonb_build_object('unsubscribed', true, 'channel', t.channel,
                            'org_name', (select o.name from public.organizations o where o.id = t.org_id));
end;
$$;
grant execute on function private.unsubscribe(text) to service_role;
