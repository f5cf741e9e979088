-- Communications: emergency alerts (see migrations/20261207001200_comms_emergency_alerts.sql).
--
-- public.send_emergency_alert(org_id, from, to, title, message, channels)
-- queues one `emergency_alert` message per distinct email address and per
-- distinct phone number (in E.164, however it was typed) among the contacts every registered area returns for
-- the window, with purpose `alert`: it reaches addresses suppressed for
-- promotions, but not a number that sent STOP (Twilio would refuse it). The
-- outbox dedupe key (alert, channel, address) makes "each person once" hold
-- even if an area lists someone twice. Owners and admins only.

create or replace function private.send_emergency_alert(
  p_org_id uuid, p_from timestamptz, p_to timestamptz, p_title text, p_message text,
  p_channels public.notification_channel[]
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  alert public.emergency_alerts;
  everyone text;
  contacts jsonb;
  n_emails integer := 0;
  n_texts integer := 0;
  region text;
begin
  if not private.has_org_role(p_org_id, '{owner,admin}') then
    raise exception using errcode = 'PT403', detail = 'not_an_admin',
      message = 'Emergency alerts are sent by the organization''s owners and admins';
  end if;
  if p_from is null or p_to is null or p_to <= p_from or p_to - p_from > interval '31 days' then
    raise exception using errcode = 'PT422', detail = 'invalid_window',
      message = 'Give a window that ends after it starts, at most 31 days long';
  end if;
  if coalesce(length(btrim(p_title)), 0) not between 1 and 150 or coalesce(length(btrim(p_message)), 0) not between 1 and 1000 then
    raise exception using errcode = 'PT422', detail = 'invalid_alert',
      message = 'An alert needs a title (at most 150 characters) and a message (at most 1000)';
  end if;
  if p_channels is null or cardinality(p_channels) = 0 then
    raise exception using errcode = 'PT422', detail = 'invalid_channels', message = 'Choose email, sms or both';
  end if;

  select o.country into region from public.organizations o where o.id = p_org_id;
  insert into public.emergency_alerts (org_id, during, title, message, channels, created_by)
  values (p_org_id, tstzrange(p_from, p_to, '[)'), btrim(p_title), btrim(p_message),
          array(select distinct unnest(p_channels)), (select auth.uid()))
  returning * into alert;

  -- Every registered area's contacts for the window, as one list.
  select string_agg(format('select name, email, phone from %s($1, $2)', a.contacts_function), ' union all '
                    order by a.name)
  into everyone from private.alert_audiences a;
  if everyone is not null then
    execute format('select coalesce(jsonb_agg(c), ''[]''::jsonb) from (%s) c', everyone)
      into contacts using p_org_id, alert.during;
  end if;
  contacts := coalesce(contacts, '[]'::jsonb);

  if 'email' = any (alert.channels) then
    with queued as (
      insert into public.notification_outbox (org_id, channel, template, recipient, payload, dedupe_key, purpose)
      select p_org_id, 'email', 'emergency_alert', c.email,
             jsonb_build_object('alert_id', alert.id, 'name', min(c.name)),
             'emergency_alert:' || alert.id || ':email:' || c.email, 'alert'
      from (select private.contact_address('email', x.email) as email, x.name
            from jsonb_to_recordset(contacts) as x(name text, email text, phone text)) c
      where c.email is not null
      group by c.email
      on conflict (dedupe_key) do nothing
      returning 1)
    select count(*) into n_emails from queued;
  end if;
  if 'sms' = any (alert.channels) then
    with queued as (
      insert into public.notification_outbox (org_id, channel, template, recipient, payload, dedupe_key, purpose)
      select p_org_id, 'sms', 'emergency_alert', c.phone,
             jsonb_build_object('alert_id', alert.id, 'name', min(c.name)),
             'emergency_alert:' || alert.id || ':sms:' || c.phone, 'alert'
      from (select private.contact_address('sms', x.phone, region) as phone, x.name
            from jsonb_to_recordset(contacts) as x(name text, email text, phone text)) c
      where c.phone is not null
      group by c.phone
      on conflict (dedupe_key) do nothing
      returning 1)
    select count(*) into n_texts from queued;
  end if;

  update public.emergency_alerts set emails = n_emails, texts = n_texts where id = alert.id;
  perform private.audit(p_org_id, 'emergency_alert.sent', 'emergency_alerts', alert.id::text,
                        jsonb_build_object('emails', n_emails, 'texts', n_texts, 'during', alert.during::text));
  return jsonb_build_object('alert_id', alert.id, 'emails', n_emails, 'texts', n_texts);
end;
$$;
comment on function private.send_emergency_alert(uuid, timestamptz, timestamptz, text, text, public.notification_channel[]) is
  'Queues an emergency alert to everyone with a live booking in [from, to) (every registered area), each email '
  'address and phone number once. Owners and admins; PT403 not_an_admin, PT422 invalid_window/alert/channels.';
grant execute on function
  private.send_emergency_alert(uuid, timestamptz, timestamptz, text, text, public.notification_channel[])
  to authenticated, service_role;

create or replace function public.send_emergency_alert(
  org_id uuid, window_from timestamptz, window_to timestamptz, title text, message text,
  channels public.notification_channel[] default '{email,sms}'
) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.send_emergency_alert(org_id, window_from, window_to, title, message, channels);
$$;
comment on function public.send_emergency_alert(uuid, timestamptz, timestamptz, text, text, public.notification_channel[]) is
  'Email and text everyone with a live booking in [window_from, window_to): {alert_id, emails, texts}. Owners and admins.';
grant execute on function
  public.send_emergency_alert(uuid, timestamptz, timestamptz, text, text, public.notification_channel[])
  to authenticated, service_role;
