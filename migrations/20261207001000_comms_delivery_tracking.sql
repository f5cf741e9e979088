-- Communications: what happened to each message after we sent it, and who
-- must not get any more.
--
-- Resend's webhooks (email.sent, delivered, delivery_delayed, bounced,
-- complained, opened, clicked, failed, suppressed) and Twilio's status
-- callbacks (sent, delivered, undelivered, failed, read) become rows of
-- public.message_events, tied to the outbox row through the provider's message
-- id and recorded once per provider event (a replay is a no-op). The outbox row
-- keeps the furthest state its events reached (delivery_status), whatever
-- order they arrive in.
--
-- A hard bounce or a complaint suppresses that address for promotional mail;
-- a Twilio STOP (or UNSUBSCRIBE, CANCEL, END, QUIT, STOPALL) from a number
-- suppresses every SMS to it, since Twilio itself refuses them from then on,
-- until START (YES, UNSTOP). The suppression list is the platform's, not an
-- organization's: the sending domain and number are shared, and so is their
-- reputation. It lives in `private`, out of the API.
--
-- The functions: routines/comms/delivery.sql; RLS: policies/comms.sql.

create type public.message_purpose as enum ('transactional', 'promotional', 'alert');
create type public.message_event_type as enum (
  'sent', 'delayed', 'delivered', 'opened', 'clicked', 'bounced', 'complained', 'failed', 'suppressed');

alter table public.notification_outbox
  add column purpose public.message_purpose not null default 'transactional',
  add column delivery_status public.message_event_type,
  add column delivery_updated_at timestamptz;
comment on column public.notification_outbox.purpose is
  'transactional (tickets, receipts, reminders) and alert messages go to suppressed email addresses; promotional never do.';
comment on column public.notification_outbox.delivery_status is
  'The furthest state the provider reported (private.delivery_rank), whatever order its events arrived in.';
create index notification_outbox_provider_message_id_idx on public.notification_outbox (provider_message_id)
  where provider_message_id is not null;

create table public.message_events (
  id uuid primary key default gen_random_uuid(),
  org_id uuid references public.organizations (id) on delete cascade,
  notification_id uuid not null references public.notification_outbox (id) on delete cascade,
  channel public.notification_channel not null,
  provider text not null check (provider in ('resend', 'twilio')),
  provider_event_id text not null check (length(provider_event_id) between 1 and 200),
  type public.message_event_type not null,
  occurred_at timestamptz not null,
  detail jsonb not null default '{}'::jsonb,
  recorded_at timestamptz not null default now(),
  unique (provider, provider_event_id)
);
comment on table public.message_events is
  'What a provider reported about one outbox message (delivered, bounced, opened, ...), once per provider event.';
create index message_events_notification_id_idx on public.message_events (notification_id, occurred_at);
create index message_events_org_id_idx on public.message_events (org_id, occurred_at);

create table private.suppressions (
  channel public.notification_channel not null,
  address text not null check (length(address) between 3 and 320),
  reason text not null check (reason in ('hard_bounce', 'complaint', 'sms_stop')),
  detail jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  lifted_at timestamptz,
  primary key (channel, address)
);
comment on table private.suppressions is
  'Addresses (lower-case email, E.164 number) we must not send to: email suppressions stop promotional mail, an SMS '
  'stop every SMS. Lifted (lifted_at) by an SMS START; kept after a GDPR erasure, so an erased complainer stays unmailed.';
