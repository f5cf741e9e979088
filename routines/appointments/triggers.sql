-- Appointments: every trigger on this area's tables, in the order they were added.
-- The functions they run are in routines/appointments/*.sql; re-applied on every migrate.

create or replace trigger service_categories_touch before update on public.service_categories
  for each row execute function private.touch_updated_at();

create or replace trigger services_touch before update on public.services
  for each row execute function private.touch_updated_at();

create or replace trigger services_audit after insert or update or delete on public.services
  for each row execute function private.audit_row('org_id');

create or replace trigger staff_touch before update on public.staff
  for each row execute function private.touch_updated_at();

create or replace trigger staff_audit after insert or update or delete on public.staff
  for each row execute function private.audit_row('org_id');

create or replace trigger staff_schedules_touch before update on public.staff_schedules
  for each row execute function private.touch_updated_at();

create or replace trigger staff_breaks_touch before update on public.staff_breaks
  for each row execute function private.touch_updated_at();

create or replace trigger staff_time_off_touch before update on public.staff_time_off
  for each row execute function private.touch_updated_at();

create or replace trigger staff_time_off_audit after insert or update or delete on public.staff_time_off
  for each row execute function private.audit_row('org_id');

create or replace trigger staff_service_areas_touch before update on public.staff_service_areas
  for each row execute function private.touch_updated_at();

create or replace trigger appointment_settings_touch before update on public.appointment_settings
  for each row execute function private.touch_updated_at();

create or replace trigger appointment_settings_audit after insert or update or delete on public.appointment_settings
  for each row execute function private.audit_row('org_id');

create or replace trigger services_same_org before insert or update of category_id, org_id on public.services
  for each row execute function private.check_appointments_same_org();

create or replace trigger staff_same_org before insert or update of user_id, org_id on public.staff
  for each row execute function private.check_appointments_same_org();

create or replace trigger staff_services_same_org before insert or update on public.staff_services
  for each row execute function private.check_appointments_same_org();

create or replace trigger staff_schedules_same_org before insert or update of staff_id, org_id on public.staff_schedules
  for each row execute function private.check_appointments_same_org();

create or replace trigger staff_breaks_same_org before insert or update of staff_id, org_id on public.staff_breaks
  for each row execute function private.check_appointments_same_org();

create or replace trigger staff_time_off_same_org before insert or update of staff_id, org_id on public.staff_time_off
  for each row execute function private.check_appointments_same_org();

create or replace trigger staff_service_areas_same_org before insert or update of staff_id, org_id on public.staff_service_areas
  for each row execute function private.check_appointments_same_org();

create or replace trigger appointments_derive before insert or update on public.appointments
  for each row execute function private.appointment_derive();

create or replace trigger appointments_touch before update on public.appointments
  for each row execute function private.touch_updated_at();

create or replace trigger appointments_audit after insert or update or delete on public.appointments
  for each row execute function private.audit_row('org_id');

create or replace trigger appointments_refs before insert or update of org_id, service_id, staff_id, order_id
  on public.appointments
  for each row execute function private.check_appointment_refs();

create or replace trigger orders_appointment_reclaim before update of status on public.orders
  for each row when (new.kind = 'appointments' and new.status = 'paid' and old.status in ('expired', 'cancelled'))
  execute function private.appointment_order_reclaim_late();
comment on trigger orders_appointment_reclaim on public.orders is
  'A late payment for an appointment order re-takes its slots or is refused with PT409 capacity_gone.';

create or replace trigger orders_appointment_book after update of status on public.orders
  for each row when (new.kind = 'appointments' and new.status = 'paid' and old.status <> 'paid')
  execute function private.appointment_order_book();
comment on trigger orders_appointment_book on public.orders is
  'A paid appointment order books its held appointments and queues the confirmation email.';

create or replace trigger orders_appointment_release after update of status on public.orders
  for each row when (new.kind = 'appointments' and (
       (new.status in ('expired', 'cancelled') and old.status in ('pending', 'processing'))
    or (new.status = 'refunded' and old.status = 'paid')))
  execute function private.appointment_order_release();
comment on trigger orders_appointment_release on public.orders is
  'An appointment order that expires, is cancelled unpaid or is refunded cancels its appointments, freeing the slots.';

create or replace trigger appointments_cutoff before update on public.appointments
  for each row
  when (old.status in ('booked', 'in_progress')
        and (new.period is distinct from old.period
             or new.staff_id is distinct from old.staff_id
             or (new.status = 'cancelled' and old.status <> 'cancelled')))
  execute function private.enforce_appointment_cutoff();
comment on trigger appointments_cutoff on public.appointments is
  'The 24-hour policy (per org): no cancellation or reschedule after the cut-off without an audited manager override.';

create or replace trigger appointment_change_requests_touch before update on public.appointment_change_requests
  for each row execute function private.touch_updated_at();

create or replace trigger appointment_change_requests_audit after insert or update or delete on public.appointment_change_requests
  for each row execute function private.audit_row('org_id');

create or replace trigger calendar_feeds_guard before update on public.calendar_feeds
  for each row execute function private.calendar_feed_guard();

create or replace trigger promo_code_services_same_org before insert or update on public.promo_code_services
  for each row execute function private.check_promo_code_services_same_org();

create or replace trigger service_categories_keep_org before update of org_id on public.service_categories
  for each row execute function private.keep_org_id();

create or replace trigger services_keep_org before update of org_id on public.services
  for each row execute function private.keep_org_id();

create or replace trigger staff_keep_org before update of org_id on public.staff
  for each row execute function private.keep_org_id();

create or replace trigger appointment_subscriptions_touch before update on public.appointment_subscriptions
  for each row execute function private.touch_updated_at();

create or replace trigger appointment_subscriptions_audit after insert or update or delete on public.appointment_subscriptions
  for each row execute function private.audit_row('org_id');

create or replace trigger subscription_occurrences_touch before update on public.subscription_occurrences
  for each row execute function private.touch_updated_at();

create or replace trigger appointments_status_transition before insert or update on public.appointments
  for each row execute function private.enforce_appointment_transition();
comment on trigger appointments_status_transition on public.appointments is
  'The job lifecycle (private.appointment_status_transitions) and server-clock check-in/out times, on every path.';

create or replace trigger job_photos_prepare before insert on public.job_photos
  for each row execute function private.job_photo_prepare();

create or replace trigger job_photos_audit after insert or update or delete on public.job_photos
  for each row execute function private.audit_row('org_id');

create or replace trigger appointment_reviews_audit after insert or update or delete on public.appointment_reviews
  for each row execute function private.audit_row('org_id');

create or replace trigger appointments_lock_staff before insert or update on public.appointments
  for each row when (new.status in ('held', 'booked', 'in_progress'))
  execute function private.appointment_lock_staff();
comment on trigger appointments_lock_staff on public.appointments is
  'Writers of live appointments queue per staff member (advisory lock, key space staff) before the exclusion check.';
