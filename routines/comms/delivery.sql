-- Communications: delivery events and suppressions.
--
-- The provider webhooks (functions/resend-webhook, functions/twilio-webhook)
-- verify their signatures and hand each event to private.record_message_event
-- as the service role; an inbound SMS keyword goes to private.record_sms_keyword.
-- The outbox worker asks private.is_suppressed before it renders a message.
--
-- Out of order, in the right state: an event only ever moves the outbox row's
-- delivery_status forward (private.delivery_rank), so `delivered` arriving
-- before `sent`, or `opened` before `delivered`, ends where the last real
-- event left it. Negative outcomes outrank everything: a complaint comes after
-- delivery, a bounce or failure ends the message.
--
-- Tables and types: migrations/20261207001000_comms_delivery_tracking.sql.

-- How far along a message is: sent < delayed < delivered < opened < clicked < the bad endings.
create or replace function private.delivery_rank(p_type public.message_event_type) returns integer
  language sql immutable
  set search_path = ''
as $$
  select case p_type
    when 'sent' then 1 when 'delayed' then 2 when 'delivered' then 3 when 'opened' then 4
    when 'clicked' then 5 when 'suppressed' then 6 when 'failed' then 7 when 'bounced' then 8
    when 'complained' then 9 end;
$$;

-- The address form suppressions are kept in: lower-case email; numbers as given (E.164 already).
create or replace function private.suppression_address(p_channel public.notification_channel, p_address text)
  returns text
  language sql immutable
  set search_path = ''
as $$
  select case p_channel when 'email' then lower(btrim(p_address)) else btrim(p_address) end;
$$;

-- A contact's address in the form consent and suppressions are kept in, or null when it is not
-- one: a lower-case email address; a phone number in E.164, read as p_region's when typed without +.
create or replace function private.contact_address(
  p_channel public.notification_channel, p_address text, p_region text default 'GB'
) returns text
  language sql stable
  set search_path = ''
as $$
  select case p_channel
    when 'email' then case when btrim(p_address) ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then lower(btrim(p_address)) end
    else private.to_e164(p_address, p_region) end;
$$;
grant execute on function private.contact_address(public.notification_channel, text, text) to authenticated, service_role;

create or replace function private.suppress(
  p_channel public.notification_channel, p_address text, p_reason text, p_detail jsonb default '{}'::jsonb
) returns void
  language sql
  security definer
  set search_path = ''
as $$
  insert into private.suppressions (channel, address, reason, detail)
  values (p_channel, private.suppression_address(p_channel, p_address), p_reason, coalesce(p_detail, '{}'::jsonb))
  on conflict (channel, address) do update
    set reason = excluded.reason, detail = excluded.detail, created_at = now(), lifted_at = null;
$$;

-- Whether a message of this purpose must not go to this address.
create or replace function private.is_suppressed(
  p_channel public.notification_channel, p_address text, p_purpose public.message_purpose
) returns boolean
  language sql stable
  security definer
  set search_path = ''
as $$
  select exists (
    select 1 from private.suppressions s
    where s.channel = p_channel and s.address = private.suppression_address(p_channel, p_address)
      and s.lifted_at is null
      and (p_channel = 'sms' or p_purpose = 'promotional'));
$$;
comment on function private.is_suppressed(public.notification_channel, text, public.message_purpose) is
  'A suppressed email address gets transactional and alert mail but no promotions; a number that sent STOP gets no SMS.';
grant execute on function private.is_suppressed(public.notification_channel, text, public.message_purpose)
  to service_role;

-- One provider event about one of our messages, found by the outbox id we gave the provider
-- (so an event may overtake the worker marking the row sent) or else by the provider's message id.
-- Returns 'recorded', 'duplicate' (that provider event was recorded before) or 'unknown_message'.
create or replace function private.record_message_event(
  p_provider text, p_provider_event_id text, p_provider_message_id text, p_notification_id uuid,
  p_type public.message_event_type, p_occurred_at timestamptz, p_detail jsonb default '{}'::jsonb
) returns text
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  msg public.notification_outbox;
  event_id uuid;
begin
  select * into msg from public.notification_outbox o
  where (o.id = p_notification_id or (p_notification_id is null and o.provider_message_id = p_provider_message_id))
    and o.channel = case p_provider when 'resend' then 'email'::public.notification_channel
                                    else 'sms'::public.notification_channel end
  for update;
  if not found then
    return 'unknown_message';
  end if;

  insert into public.message_events (org_id, notification_id, channel, provider, provider_event_id, type,
                                     occurred_at, detail)
  values (msg.org_id, msg.id, msg.channel, p_provider, p_provider_event_id, p_type,
          coalesce(p_occurred_at, now()), coalesce(p_detail, '{}'::jsonb) - 'to')  -- the address stays on the outbox row
  on conflict (provider, provider_event_id) do nothing
  returning id into event_id;
  if event_id is null then
    return 'duplicate';
  end if;

  if msg.delivery_status is null or private.delivery_rank(p_type) > private.delivery_rank(msg.delivery_status) then
    update public.notification_outbox set delivery_status = p_type, delivery_updated_at = now() where id = msg.id;
  end if;

  if msg.channel = 'email' and (p_type = 'complained'
                                or (p_type = 'bounced' and p_detail ->> 'bounce_type' = 'Permanent')) then
    perform private.suppress('email', msg.recipient, case p_type when 'complained' then 'complaint' else 'hard_bounce' end,
                             jsonb_build_object('notification_id', msg.id, 'event', p_provider_event_id));
  end if;
  -- Twilio 21610: the number has replied STOP (we may have missed the inbound message).
  if msg.channel = 'sms' and p_type = 'failed' and p_detail ->> 'error_code' = '21610' then
    perform private.suppress('sms', coalesce(p_detail ->> 'to', msg.recipient), 'sms_stop',
                             jsonb_build_object('notification_id', msg.id, 'event', p_provider_event_id));
  end if;
  return 'recorded';
end;
$$;
comment on function private.record_message_event(text, text, text, uuid, public.message_event_type, timestamptz, jsonb) is
  'Records a verified provider event once, moves the message''s delivery_status forward only, and suppresses the '
  'address on a hard bounce, a complaint or Twilio''s 21610 (the number sent STOP).';
grant execute on function
  private.record_message_event(text, text, text, uuid, public.message_event_type, timestamptz, jsonb) to service_role;

-- An inbound SMS: the carrier-standard opt-out and opt-in keywords, as Twilio honours them.
-- Returns 'opted_out', 'opted_in' or 'ignored'.
create or replace function private.record_sms_keyword(p_from text, p_body text) returns text
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  keyword text := upper(btrim(coalesce(p_body, '')));
begin
  if keyword in ('STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT') then
    perform private.suppress('sms', p_from, 'sms_stop', jsonb_build_object('keyword', keyword));
    return 'opted_out';
  end if;
  if keyword in ('START', 'YES', 'UNSTOP') then
    update private.suppressions set lifted_at = now()
    where channel = 'sms' and address = private.suppression_address('sms', p_from) and lifted_at is null;
    return 'opted_in';
  end if;
  return 'ignored';
end;
$$;
grant execute on function private.record_sms_keyword(text, text) to service_role;

-- ===========================================================================
-- Analytics: per local day (the org's timezone, by when the message was
-- queued), template and channel, how many messages were queued and sent and
-- how many of them were reported delivered, opened, clicked, bounced,
-- complained about or failed, and how many were not sent to a suppressed
-- address, and how many led their recipient to opt out (its unsubscribe link
-- used, or a spam complaint). Each counts messages, not events: a message
-- opened twice is one opened. Owners and admins of the org; anyone else PT403
-- not_an_admin.
-- ===========================================================================
create or replace function private.message_analytics(org_id uuid, date_from date, date_to date)
  returns table (day date, template text, channel public.notification_channel, queued bigint, sent bigint,
                 delivered bigint, opened bigint, clicked bigint, bounced bigint, complained bigint,
                 failed bigint, suppressed bigint, opted_out bigint)
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  tz text;
begin
  if date_from is null or date_to is null or date_to < date_from then
    raise exception using errcode = 'PT422', detail = 'invalid_date_range',
      message = 'Give a date range whose end is not before its start';
  end if;
  if date_to - date_from > 365 then
    raise exception using errcode = 'PT422', detail = 'date_range_too_long', message = 'At most 366 days at a time';
  end if;
  if not private.has_org_role(message_analytics.org_id, '{owner,admin}') then
    raise exception using errcode = 'PT403', detail = 'not_an_admin',
      message = 'Message analytics are for the organization''s owners and admins';
  end if;
  select o.timezone into tz from public.organizations o where o.id = message_analytics.org_id;
  return query
    with messages as (
      select (m.created_at at time zone tz)::date as local_day, m.template, m.channel, m.status, m.last_error,
             array(select e.type from public.message_events e where e.notification_id = m.id) as reported,
             exists (select 1 from private.unsubscribe_tokens u
                     where m.payload ? 'unsubscribe_token'
                       and u.token_hash = private.token_hash(m.payload ->> 'unsubscribe_token')
                       and u.used_at is not null) as unsubscribed
      from public.notification_outbox m
      where m.org_id = message_analytics.org_id
        and m.created_at >= date_from::timestamp at time zone tz
        and m.created_at < (date_to + 1)::timestamp at time zone tz
    )
    select local_day, messages.template, messages.channel, count(*),
           count(*) filter (where status = 'sent'),
           count(*) filter (where 'delivered' = any (reported)),
           count(*) filter (where 'opened' = any (reported)),
           count(*) filter (where 'clicked' = any (reported)),
           count(*) filter (where 'bounced' = any (reported)),
           count(*) filter (where 'complained' = any (reported)),
           count(*) filter (where 'failed' = any (reported) or status = 'dead'),
           count(*) filter (where status = 'skipped' and last_error = 'suppressed'),
           count(*) filter (where unsubscribed or 'complained' = any (reported))
    from messages
    group by 1, 2, 3
    order by 1, 2, 3;
end;
$$;
comment on function private.message_analytics(uuid, date, date) is
  'Per local day, template and channel: messages queued, sent, delivered, opened, clicked, bounced, complained '
  'about, failed, not sent to a suppressed address, and opted out from. Owners and admins; PT403 not_an_admin.';
grant execute on function private.message_analytics(uuid, date, date) to authenticated, service_role;

create or replace function public.message_analytics(org_id uuid, date_from date, date_to date)
  returns table (day date, template text, channel public.notification_channel, queued bigint, sent bigint,
                 delivered bigint, opened bigint, clicked bigint, bounced bigint, complained bigint,
                 failed bigint, suppressed bigint, opted_out bigint)
  language sql stable
  set search_path = ''
as $$
  select * from private.message_analytics(org_id, date_from, date_to);
$$;
comment on function public.message_analytics(uuid, date, date) is
  'Message analytics of an org over a local date range (private.message_analytics): owners and admins.';
grant execute on function public.message_analytics(uuid, date, date) to authenticated, service_role;
