-- Notifications: the outbox.
--
-- Every email or SMS is a row written in the same transaction as the state
-- change that causes it, so a rollback sends nothing and a commit always sends.
-- A worker claims due rows with `for update skip locked`, sends them with the
-- outbox id as the provider's idempotency key, and marks them sent; failures
-- come back later with exponential backoff. A lease (`locked_until`) returns
-- rows whose worker died mid-send; the idempotency key makes that resend a
-- no-op at the provider, so nothing is ever delivered twice.
--
-- This file holds the current definition of each of its functions, re-applied on every migrate
-- (shared/platform/migrate.py). Tables, types and indexes: migrations/20261121000200_comms_notifications.sql.

-- Queue a notification; a repeated dedupe_key is ignored. Returns the row id (or null when deduplicated).
create or replace function private.enqueue_notification(
  p_org_id uuid, p_channel public.notification_channel, p_template text, p_recipient text,
  p_payload jsonb default '{}'::jsonb, p_dedupe_key text default null
) returns uuid
  language sql
  security definer
  set search_path = ''
as $$
  insert into public.notification_outbox (org_id, channel, template, recipient, payload, dedupe_key)
  values (p_org_id, p_channel, p_template, p_recipient, coalesce(p_payload, '{}'::jsonb), p_dedupe_key)
  on conflict (dedupe_key) do nothing
  returning id;
$$;

-- Claim up to p_limit due rows for sending (service_role workers only),
-- optionally only those about one order (the webhook sends its own at once).
create or replace function private.claim_notifications(
  p_limit integer, p_lease interval default interval '2 minutes',
  p_templates text[] default null, p_order_id uuid default null
) returns setof public.notification_outbox
  language sql
  security definer
  set search_path = ''
as $$
  update public.notification_outbox o
  set status = 'sending', attempts = o.attempts + 1, locked_until = now() + p_lease
  where o.id in (
    select d.id from public.notification_outbox d
    where d.next_attempt_at <= now()
      and (d.status = 'pending' or (d.status = 'sending' and d.locked_until < now()))
      and (p_templates is null or d.template = any (p_templates))
      and (p_order_id is null or d.payload ->> 'order_id' = p_order_id::text)
    order by d.next_attempt_at
    limit p_limit
    for update skip locked
  )
  returning o.*;
$$;

create or replace function private.mark_notification_sent(p_id uuid, p_provider_message_id text) returns void
  language sql
  security definer
  set search_path = ''
as $$
  update public.notification_outbox
  set status = 'sent', sent_at = now(), locked_until = null,
      provider_message_id = p_provider_message_id, last_error = null
  where id = p_id and status = 'sending';
$$;

-- Backoff: 30 s, 1 min, 2 min, … capped at 1 h; dead after p_max_attempts.
create or replace function private.mark_notification_failed(p_id uuid, p_error text, p_max_attempts integer default 8)
  returns void
  language sql
  security definer
  set search_path = ''
as $$
  update public.notification_outbox
  set status = case when attempts >= p_max_attempts then 'dead'::public.notification_status
                    else 'pending'::public.notification_status end,
      locked_until = null,
      last_error = left(p_error, 2000),
      next_attempt_at = now() + least(interval '1 hour', interval '30 seconds' * power(2, attempts - 1))
  where id = p_id and status = 'sending';
$$;
-- Skip a claimed notification that must not be sent (its reason in last_error).
create or replace function private.mark_notification_skipped(p_id uuid, p_reason text) returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  update public.notification_outbox
  set status = 'skipped', locked_until = null, last_error = left(p_reason, 2000)
  where id = p_id and status = 'sending';
end;
$$;
comment on function private.mark_notification_skipped(uuid, text) is
  'Marks a claimed outbox row as deliberately not sent (e.g. its appointment was cancelled); never retried.';

grant execute on function
  private.enqueue_notification(uuid, public.notification_channel, text, text, jsonb, text),
  private.claim_notifications(integer, interval, text[], uuid),
  private.mark_notification_sent(uuid, text),
  private.mark_notification_failed(uuid, text, integer),
  private.mark_notification_skipped(uuid, text)
  to service_role;
