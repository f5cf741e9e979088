-- Chauffeur: farming a trip out to an affiliate.
--
-- Dispatch offers a live, unassigned trip to an active affiliate; the
-- affiliate accepts or declines; dispatch may withdraw an offer or an
-- accepted farm-out before the trip starts. A trip has at most one live
-- farm-out (offered or accepted) at a time, and a farmed-out trip is not
-- also given one of the org's own drivers. The commission is fixed when the
-- offer is made, from the affiliate's terms (a percent of the trip's total,
-- rounded half up, or a flat amount). An affiliate sees their own offers
-- and, of the trip, only what they need to drive it (routines/chauffeur/farm_outs.sql).

create type public.farm_out_status as enum ('offered', 'accepted', 'declined', 'withdrawn');

create table public.farm_outs (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  reservation_id uuid not null references public.reservations (id) on delete cascade,
  affiliate_id uuid not null,
  status public.farm_out_status not null default 'offered',
  commission_minor bigint not null check (commission_minor >= 0),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  offered_by uuid references public.profiles (id) on delete set null,
  offered_at timestamptz not null default now(),
  responded_at timestamptz,
  foreign key (affiliate_id, org_id) references public.affiliates (id, org_id)
);
comment on table public.farm_outs is
  'A trip offered to an affiliate: offered -> accepted / declined / withdrawn; the commission fixed at the offer.';
create unique index farm_outs_one_live_per_trip on public.farm_outs (reservation_id)
  where status in ('offered', 'accepted');
create index farm_outs_reservation_id_idx on public.farm_outs (reservation_id);
create index farm_outs_org_id_idx on public.farm_outs (org_id, offered_at);
create index farm_outs_affiliate_id_idx on public.farm_outs (affiliate_id, org_id);
create index farm_outs_offered_by_idx on public.farm_outs (offered_by);
