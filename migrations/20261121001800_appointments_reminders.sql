-- Appointment reminders: an email and/or an SMS 24 hours before a booked appointment.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/appointments/reminders.sql.

-- ===========================================================================
-- The outbox learns `skipped`
-- ===========================================================================
-- New enum values cannot be used in the transaction that adds them, so the
-- functions below that write it are plpgsql (bodies checked at run time).
alter type public.notification_status add value if not exists 'skipped';

-- ===========================================================================
-- Queueing
-- ===========================================================================

-- The job scans booked appointments by start time across every org.
create index appointments_booked_start_idx on public.appointments (lower(period)) where status = 'booked';
