-- Row-level security for the notification outbox and its delivery events. The outbox is written only in the
-- transactions that cause a notification (definer helpers) and by the
-- service_role workers; owners and admins may read their org's queue.

revoke all on public.notification_outbox from anon, authenticated;
grant select on public.notification_outbox to authenticated;
grant all on public.notification_outbox to service_role;
alter table public.notification_outbox enable row level security;

drop policy if exists "Notifications are visible to owners and admins" on public.notification_outbox;
create policy "Notifications are visible to owners and admins" on public.notification_outbox
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

-- Delivery events: what the providers reported about an org's messages, readable by its owners
-- and admins; written only by private.record_message_event (service_role webhooks).
revoke all on public.message_events from anon, authenticated;
grant select on public.message_events to authenticated;
grant all on public.message_events to service_role;
alter table public.message_events enable row level security;

drop policy if exists "Message events are visible to owners and admins" on public.message_events;
create policy "Message events are visible to owners and admins" on public.message_events
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

-- The suppression list (private): no API role; read and written by definer functions only.
revoke all on private.suppressions from public, anon, authenticated, service_role;
alter table private.suppressions enable row level security;

-- Message templates: an org's owners and admins read its overrides; they write them only through
-- functions/message-templates (validated there, saved by private.save_message_template).
revoke all on public.message_templates from anon, authenticated;
grant select on public.message_templates to authenticated;
grant all on public.message_templates to service_role;
alter table public.message_templates enable row level security;

drop policy if exists "Message templates are visible to owners and admins" on public.message_templates;
create policy "Message templates are visible to owners and admins" on public.message_templates
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

-- Emergency alerts: an org's owners and admins read what was sent; alerts are sent only through
-- public.send_emergency_alert. The audience registry (private) is no API role's.
revoke all on public.emergency_alerts from anon, authenticated;
grant select on public.emergency_alerts to authenticated;
grant all on public.emergency_alerts to service_role;
alter table public.emergency_alerts enable row level security;

drop policy if exists "Emergency alerts are visible to owners and admins" on public.emergency_alerts;
create policy "Emergency alerts are visible to owners and admins" on public.emergency_alerts
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

revoke all on private.alert_audiences from public, anon, authenticated, service_role;
alter table private.alert_audiences enable row level security;

-- Consent and campaigns: an org's owners and admins read them; they are written only through
-- set_marketing_consent, create_campaign, queue_campaign and the unsubscribe link. The audience
-- registry and the unsubscribe tokens (private) are no API role's.
revoke all on public.marketing_consents, public.campaigns from anon, authenticated;
grant select on public.marketing_consents, public.campaigns to authenticated;
grant all on public.marketing_consents, public.campaigns to service_role;
alter table public.marketing_consents enable row level security;
alter table public.campaigns enable row level security;

drop policy if exists "Marketing consents are visible to owners and admins" on public.marketing_consents;
create policy "Marketing consents are visible to owners and admins" on public.marketing_consents
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

drop policy if exists "Campaigns are visible to owners and admins" on public.campaigns;
create policy "Campaigns are visible to owners and admins" on public.campaigns
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));

revoke all on private.campaign_audiences, private.unsubscribe_tokens from public, anon, authenticated, service_role;
alter table private.campaign_audiences enable row level security;
alter table private.unsubscribe_tokens enable row level security;

-- Recipients' languages: an org's owners and admins read them; written only through
-- private.remember_language (checkout, as the buyer with their tracking token).
revoke all on public.recipient_languages from anon, authenticated;
grant select on public.recipient_languages to authenticated;
grant all on public.recipient_languages to service_role;
alter table public.recipient_languages enable row level security;

drop policy if exists "Recipient languages are visible to owners and admins" on public.recipient_languages;
create policy "Recipient languages are visible to owners and admins" on public.recipient_languages
  for select to authenticated
  using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));
