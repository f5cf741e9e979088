-- Chauffeur: the rate rules a quote is computed from (private.quote_reservation,
-- routines/chauffeur/quotes.sql), which an org's owners and admins edit.
--
-- The industry's model (Limo Anywhere's): a base (a fare per service, or the
-- hourly rate times the hours with the class's minimum, plus distance), then
-- miscellaneous fees (per extra stop, per child seat, meet & greet, tolls),
-- gratuity and taxes, then surcharges on top (peak hours, holidays, fuel),
-- and a discount (a promo code) taken off the base. Each rule is one line of
-- the breakdown, named by the rule, in integer minor units; a percentage is
-- of a named basis and rounds half up:
--
--   base                  the base lines, less the discount ("the offset base")
--   base_fees             base + fees
--   base_gratuity_tax     base + gratuity + tax
--   base_gratuity_tax_fees base + gratuity + tax + fees
--
-- The worked example: base 100.00, gratuity 20% and tax 8% of the base, fuel
-- surcharge 10% of base + gratuity + tax -> 100 + 20 + 8 + 12.80 = 140.80.
--
-- A rule applies when all its criteria hold: service type, vehicle class,
-- meet & greet asked for, the pickup's local weekday and time (peak), or its
-- local date (holidays).

create type public.rate_rule_kind as enum ('fee', 'gratuity', 'tax', 'surcharge');
create type public.rate_rule_unit as enum ('flat', 'per_extra_stop', 'per_child_seat', 'meet_and_greet', 'percent');
create type public.rate_rule_basis as enum ('base', 'base_fees', 'base_gratuity_tax', 'base_gratuity_tax_fees');

create table public.chauffeur_rate_rules (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 100),
  kind public.rate_rule_kind not null,
  unit public.rate_rule_unit not null,
  amount_minor bigint check (amount_minor >= 0),             -- flat and per-unit rules
  percent numeric(6, 3) check (percent between 0 and 100),   -- percent rules: 20 = 20%
  basis public.rate_rule_basis,                               -- percent rules
  service_type public.chauffeur_service,                      -- null: any
  class_id uuid,                                              -- null: any
  days_of_week integer[] check (days_of_week <@ '{1,2,3,4,5,6,7}'::integer[]),  -- ISO: 1 = Monday
  local_from time,
  local_to time,
  on_dates date[],
  position integer not null default 0,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, name),
  foreign key (class_id, org_id) references public.vehicle_classes (id, org_id) on delete cascade,
  check ((unit = 'percent') = (percent is not null and basis is not null and amount_minor is null)),
  check (unit = 'percent' or amount_minor is not null),
  check ((local_from is null) = (local_to is null)),
  -- a gratuity or tax on itself makes no sense: gratuity and tax are percent of the base or base + fees
  check (kind not in ('gratuity', 'tax') or basis is null or basis in ('base', 'base_fees'))
);
comment on table public.chauffeur_rate_rules is
  'One line of a quote''s breakdown: a fee, gratuity, tax or surcharge, flat, per unit or a percent of a basis, '
  'under criteria (service, class, weekday and time, dates). Edited by owners and admins.';
create index chauffeur_rate_rules_org_id_idx on public.chauffeur_rate_rules (org_id, kind, position);
create index chauffeur_rate_rules_class_id_idx on public.chauffeur_rate_rules (class_id, org_id);
