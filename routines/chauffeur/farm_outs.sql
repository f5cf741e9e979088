-- Chauffeur: farm-outs (migrations/20261207002000_chauffeur_farm_outs.sql).

-- The caller's affiliate rows (for policies and the affiliate's view).
create or replace function private.own_affiliate_ids() returns uuid[]
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(array_agg(a.id), '{}') from public.affiliates a where a.user_id = (select auth.uid());
$$;
grant execute on function private.own_affiliate_ids() to authenticated, service_role;

-- Dispatch offers a live trip without a driver of its own to an active affiliate.
create or replace function public.offer_farm_out(reservation_id uuid, affiliate_id uuid) returns public.farm_outs
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  r public.reservations;
  a public.affiliates;
  offer public.farm_outs;
begin
  select * into r from public.reservations x where x.id = offer_farm_out.reservation_id for update;
  if not found or not private.has_org_role(r.org_id, '{owner,admin,dispatcher}') then
    raise exception using errcode = 'PT404', detail = 'reservation_not_found', message = 'No such reservation';
  end if;
  if r.status not in ('pending', 'confirmed') then
    raise exception using errcode = 'PT409', detail = 'reservation_closed', message = format('A %s trip is not farmed out', r.status);
  end if;
  if r.driver_id is not null then
    raise exception using errcode = 'PT409', detail = 'has_driver', message = 'Unassign the org''s driver first';
  end if;
  select * into a from public.affiliates x where x.id = offer_farm_out.affiliate_id and x.org_id = r.org_id;
  if not found or a.status <> 'active' then
    raise exception using errcode = 'PT422', detail = 'affiliate_not_active', message = 'No such active affiliate';
  end if;
  begin
    insert into public.farm_outs (org_id, reservation_id, affiliate_id, commission_minor, currency, offered_by)
    values (r.org_id, r.id, a.id,
            case a.commission_kind when 'percent' then private.percent_of(r.total_minor, a.commission_value)
                                   else a.commission_value end,
            r.currency, (select auth.uid()))
    returning * into offer;
  exception when unique_violation then
    raise exception using errcode = 'PT409', detail = 'already_farmed_out',
      message = 'This trip is already offered or farmed out';
  end;
  perform private.audit(r.org_id, 'farm_out.offered', 'farm_outs', offer.id::text,
                        jsonb_build_object('reservation_id', r.id, 'affiliate_id', a.id));
  return offer;
end;
$$;
grant execute on function public.offer_farm_out(uuid, uuid) to authenticated, service_role;

-- The affiliate accepts or declines an offer made to them.
create or replace function public.respond_farm_out(farm_out_id uuid, accept boolean) returns public.farm_outs
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  offer public.farm_outs;
begin
  update public.farm_outs f
  set status = case when accept then 'accepted'::public.farm_out_status else 'declined'::public.farm_out_status end,
      responded_at = now()
  where f.id = farm_out_id and f.status = 'offered' and f.affiliate_id = any (private.own_affiliate_ids())
    and exists (select 1 from public.reservations r where r.id = f.reservation_id and r.status in ('pending', 'confirmed'))
  returning * into offer;
  if not found then
    raise exception using errcode = 'PT404', detail = 'offer_not_found', message = 'No open offer of yours';
  end if;
  perform private.audit(offer.org_id, 'farm_out.' || offer.status, 'farm_outs', offer.id::text, '{}'::jsonb);
  return offer;
end;
$$;
grant execute on function public.respond_farm_out(uuid, boolean) to authenticated, service_role;

-- Dispatch withdraws an offer, or a farm-out before the trip has started.
create or replace function public.withdraw_farm_out(farm_out_id uuid) returns public.farm_outs
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  offer public.farm_outs;
begin
  update public.farm_outs f set status = 'withdrawn', responded_at = coalesce(f.responded_at, now())
  where f.id = farm_out_id and f.status in ('offered', 'accepted')
    and private.has_org_role(f.org_id, '{owner,admin,dispatcher}')
    and exists (select 1 from public.reservations r where r.id = f.reservation_id and r.status in ('pending', 'confirmed'))
  returning * into offer;
  if not found then
    raise exception using errcode = 'PT404', detail = 'farm_out_not_found', message = 'No live farm-out to withdraw';
  end if;
  perform private.audit(offer.org_id, 'farm_out.withdrawn', 'farm_outs', offer.id::text, '{}'::jsonb);
  return offer;
end;
$$;
grant execute on function public.withdraw_farm_out(uuid) to authenticated, service_role;

-- What an affiliate sees: their offers and farm-outs, with only what they need to drive the trip
-- (the passenger's name and phone, the stops, the time), never the customer's email, notes or account.
create or replace function public.my_farm_outs() returns jsonb
  language sql stable
  security definer
  set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
    'farm_out_id', f.id, 'status', f.status, 'commission_minor', f.commission_minor, 'currency', f.currency,
    'number', r.number, 'trip_status', r.status, 'pickup_at', r.pickup_at, 'service_type', r.service_type,
    'class', vc.name, 'passengers', r.passengers, 'luggage', r.luggage, 'child_seats', r.child_seats,
    'flight_number', r.flight_number, 'meet_and_greet', r.meet_and_greet,
    'special_instructions', r.special_instructions,
    'passenger', jsonb_build_object('name', c.name, 'phone', case when f.status = 'accepted' then c.phone end),
    'stops', (select jsonb_agg(jsonb_build_object('kind', s.kind, 'address', s.address, 'notes', s.notes)
                               order by s.position) from public.reservation_stops s where s.reservation_id = r.id))
    order by r.pickup_at), '[]'::jsonb)
  from public.farm_outs f
  join public.reservations r on r.id = f.reservation_id
  join public.vehicle_classes vc on vc.id = r.class_id
  join public.chauffeur_customers c on c.id = r.customer_id
  where f.affiliate_id = any (private.own_affiliate_ids()) and f.status in ('offered', 'accepted');
$$;
comment on function public.my_farm_outs() is
  'The caller''s open offers and accepted farm-outs as an affiliate: the trip and only the passenger''s name '
  '(and phone once accepted).';
grant execute on function public.my_farm_outs() to authenticated, service_role;
