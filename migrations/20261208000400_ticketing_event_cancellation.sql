-- Cancelling an event refunds it.
--
-- When an event becomes cancelled (public.cancel_event, or any update of its
-- status), every paid order of it gets a refund of what remains of its payment
-- queued in the same transaction, its tickets are voided, unpaid orders are
-- closed, and each buyer is emailed once. The refunds are then sent to the
-- provider by the cancel-event function and, for any it could not send, by
-- the refund cron: each carries its own id as the provider's idempotency key,
-- so a crash halfway resumes without paying anyone twice.
-- Functions: routines/ticketing/cancellation.sql.

alter table public.events
  add column cancelled_at timestamptz,
  add column cancel_reason text check (length(cancel_reason) <= 500);
comment on column public.events.cancel_reason is 'Why the organizer cancelled, quoted in the email to every buyer.';
