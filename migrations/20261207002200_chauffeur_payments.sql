-- Chauffeur: paying for a trip. Booking opens an order (kind reservation, the
-- reservation's number and token) that the customer authorises with a margin
-- above the quote for wait time and tolls (chauffeur_settings); after the trip
-- the final amount is captured, never more than was authorised (the rest is a
-- balance due, which needs a new payment); a cancellation inside the class's
-- window, or a no-show, costs its percentage, charged to whoever policy_type
-- names (the customer: captured from the authorisation; a driver or an
-- affiliate: owed by them; none: waived), and anything not captured is
-- released. The commerce layer does the money (routines/commerce/authorisations.sql);
-- routines/chauffeur/payments.sql decides the amounts.

alter table public.chauffeur_settings
  add column authorisation_margin_percent integer not null default 20 check (authorisation_margin_percent between 0 and 100);
comment on column public.chauffeur_settings.authorisation_margin_percent is
  'How far above the quote a booking''s card authorisation goes, for wait time and tolls found on the day.';

alter table public.reservations
  add column order_id uuid unique references public.orders (id) on delete set null,
  add column fee_minor bigint check (fee_minor >= 0),
  add column fee_owed_by public.reservation_policy,
  add column balance_due_minor bigint not null default 0 check (balance_due_minor >= 0);
comment on column public.reservations.fee_minor is
  'A late cancellation''s or no-show''s fee by the class''s windows; charged to fee_owed_by (policy_type).';
comment on column public.reservations.balance_due_minor is
  'What the final amount came to beyond the authorisation: collected by a new payment, never captured.';
