-- Service appointments, part 4: booking (the checkout hold for appointments).
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/appointments/booking.sql, routines/appointments/triggers.sql.

-- ===========================================================================
-- Order items know their service; codes may be limited to services
-- ===========================================================================
alter table public.order_items add column service_id uuid references public.services (id) on delete restrict;
comment on column public.order_items.service_id is 'The service an appointment line sells (one appointment per line).';
create index order_items_service_id_idx on public.order_items (service_id);

create table public.promo_code_services (
  promo_code_id uuid not null references public.promo_codes (id) on delete cascade,
  service_id uuid not null references public.services (id) on delete cascade,
  org_id uuid not null references public.organizations (id) on delete cascade,
  primary key (promo_code_id, service_id)
);
comment on table public.promo_code_services is 'When a code has rows here it applies only to these services.';
create index promo_code_services_service_id_idx on public.promo_code_services (service_id);
create index promo_code_services_org_id_idx on public.promo_code_services (org_id);
