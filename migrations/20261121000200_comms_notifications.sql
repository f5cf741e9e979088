-- Notifications: the outbox.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/comms/notifications.sql.

create type public.notification_channel as enum ('email', 'sms');
create type public.notification_status as enum ('pending', 'sending', 'sent', 'dead');

create table public.notification_outbox (
  id uuid primary key default gen_random_uuid(),
  org_id uuid references public.organizations (id) on delete cascade,
  channel public.notification_channel not null,
  template text not null check (template ~ '^[a-z][a-z0-9_]*$'),
  recipient text not null check (length(recipient) between 3 and 320),
  payload jsonb not null default '{}'::jsonb,
  dedupe_key text unique,
  status public.notification_status not null default 'pending',
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz not null default now(),
  locked_until timestamptz,
  last_error text,
  provider_message_id text,
  sent_at timestamptz,
  created_at timestamptz not null default now()
);
comment on table public.notification_outbox is
  'Emails and SMS waiting to be sent, written in the transaction that caused them. Sent by the send-tickets/notify workers.';
comment on column public.notification_outbox.dedupe_key is
  'Stops the same notification being queued twice (e.g. ''tickets:<order id>'').';
create index notification_outbox_org_id_idx on public.notification_outbox (org_id);
create index notification_outbox_due_idx on public.notification_outbox (next_attempt_at)
  where status in ('pending', 'sending');
