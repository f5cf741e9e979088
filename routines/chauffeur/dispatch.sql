-- Chauffeur: dispatch. Assigning a driver and a vehicle to a trip, and the
-- dispatch board.
--
-- The checks a dispatcher would make are made here (the vehicle is of the
-- booked class or an upgrade, has the seats, is in service; the driver's
-- licence is valid on the day of the pickup); the one that matters under
-- load, that neither the driver nor the vehicle is on another live trip at
-- an overlapping time, is the exclusion constraints on public.reservations:
-- two dispatchers assigning the same driver at once cannot both succeed. A
-- trigger takes the driver's and the vehicle's assignment locks first, so
-- contenders queue and the losers get a clean PT409, never a deadlock.

-- BEFORE INSERT/UPDATE on reservations: the assignment locks of the trip's driver, then its vehicle
-- (transaction-scoped advisory locks, always in that order). Concurrent writers of one driver's or
-- vehicle's trips queue here, so the exclusion constraint then sees the winner committed and refuses
-- the rest at once, instead of two in-flight rows waiting on each other until one is killed as a deadlock.
create or replace function private.lock_reservation_assignees() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if new.status in ('pending', 'confirmed', 'in_progress') then
    if new.driver_id is not null then
      perform pg_catalog.pg_advisory_xact_lock(4, pg_catalog.hashtext(new.driver_id::text));
    end if;
    if new.vehicle_id is not null then
      perform pg_catalog.pg_advisory_xact_lock(5, pg_catalog.hashtext(new.vehicle_id::text));
    end if;
  end if;
  return new;
end;
$$;
comment on function private.lock_reservation_assignees() is
  'BEFORE INSERT/UPDATE on reservations: the driver''s, then the vehicle''s assignment lock, so concurrent '
  'assignments queue instead of deadlocking on each other''s uncommitted rows.';

create or replace function private.assign_reservation(
  p_reservation_id uuid, p_driver_id uuid, p_vehicle_id uuid
) returns public.reservations
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  r public.reservations;
  booked_class public.vehicle_classes;
  v public.vehicles;
  v_class public.vehicle_classes;
  d public.drivers;
  violated text;
begin
  select * into r from public.reservations where id = p_reservation_id;
  if not found or not private.has_org_role(r.org_id, '{owner,admin,dispatcher}') then
    raise exception using errcode = 'PT404', detail = 'reservation_not_found', message = 'No such reservation';
  end if;
  if r.status not in ('pending', 'confirmed') then
    raise exception using errcode = 'PT409', detail = 'reservation_closed',
      message = format('A %s reservation is not assigned', r.status);
  end if;
  if p_vehicle_id is not null then
    select * into v from public.vehicles where id = p_vehicle_id and org_id = r.org_id;
    if not found then
      raise exception using errcode = 'PT422', detail = 'unknown_vehicle', message = 'No such vehicle';
    end if;
    select * into booked_class from public.vehicle_classes where id = r.class_id;
    select * into v_class from public.vehicle_classes where id = v.class_id;
    if v_class.rank < booked_class.rank then
      raise exception using errcode = 'PT422', detail = 'vehicle_class_too_low',
        message = format('A %s is below the booked %s', v_class.name, booked_class.name);
    end if;
    if v.seats < r.passengers then
      raise exception using errcode = 'PT422', detail = 'vehicle_too_small',
        message = format('The vehicle seats %s; the trip has %s passengers', v.seats, r.passengers);
    end if;
    if v.status not in ('available', 'in_service') then
      raise exception using errcode = 'PT422', detail = 'vehicle_unavailable',
        message = format('The vehicle is %s', v.status);
    end if;
  end if;
  if (p_driver_id is not null or p_vehicle_id is not null)
     and exists (select 1 from public.farm_outs f where f.reservation_id = r.id and f.status in ('offered', 'accepted')) then
    raise exception using errcode = 'PT409', detail = 'farmed_out',
      message = 'This trip is offered or farmed out to an affiliate; withdraw it first';
  end if;
  if p_driver_id is not null then
    select * into d from public.drivers where id = p_driver_id and org_id = r.org_id;
    if not found then
      raise exception using errcode = 'PT422', detail = 'unknown_driver', message = 'No such driver';
    end if;
    if d.licence_expires_on < (select (r.pickup_at at time zone o.timezone)::date
                               from public.organizations o where o.id = r.org_id) then
      raise exception using errcode = 'PT422', detail = 'licence_expired',
        message = format('%s''s licence expires before the pickup', d.name);
    end if;
  end if;

  begin
    update public.reservations set driver_id = p_driver_id, vehicle_id = p_vehicle_id
    where id = r.id returning * into r;
  exception when exclusion_violation then
    get stacked diagnostics violated = constraint_name;
    if violated = 'reservations_driver_free' then
      raise exception using errcode = 'PT409', detail = 'driver_busy',
        message = 'The driver is on another trip at that time';
    end if;
    raise exception using errcode = 'PT409', detail = 'vehicle_busy',
      message = 'The vehicle is on another trip at that time';
  end;
  perform private.audit(r.org_id, 'reservation.assigned', 'reservations', r.id::text,
                        jsonb_build_object('driver_id', p_driver_id, 'vehicle_id', p_vehicle_id));
  return r;
end;
$$;
comment on function private.assign_reservation(uuid, uuid, uuid) is
  'Assigns (or with nulls, unassigns) a driver and a vehicle. Dispatchers, admins, owners. PT409 driver_busy / '
  'vehicle_busy (the exclusion constraints), PT422 vehicle_class_too_low/vehicle_too_small/vehicle_unavailable/'
  'licence_expired/unknown_vehicle/unknown_driver, PT409 reservation_closed / farmed_out.';
grant execute on function private.assign_reservation(uuid, uuid, uuid) to authenticated, service_role;

create or replace function public.assign_reservation(reservation_id uuid, driver_id uuid, vehicle_id uuid)
  returns public.reservations
  language sql
  set search_path = ''
as $$
  select private.assign_reservation(reservation_id, driver_id, vehicle_id);
$$;
grant execute on function public.assign_reservation(uuid, uuid, uuid) to authenticated, service_role;

-- The dispatch board for one local day: every trip picking up that day, grouped, with what is wrong.
create or replace function public.dispatch_board(org_id uuid, day date) returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  tz text;
  trips jsonb;
begin
  if not private.has_org_role(dispatch_board.org_id, '{owner,admin,dispatcher}') then
    raise exception using errcode = 'PT403', detail = 'not_a_dispatcher', message = 'The board is for dispatchers';
  end if;
  select o.timezone into tz from public.organizations o where o.id = dispatch_board.org_id;
  select coalesce(jsonb_agg(t order by t ->> 'pickup_at'), '[]'::jsonb) into trips
  from (
    select jsonb_build_object(
      'id', r.id, 'number', r.number, 'status', r.status, 'pickup_at', r.pickup_at,
      'service_type', r.service_type, 'class', c.name, 'passengers', r.passengers,
      'customer', cu.name, 'vip', cu.vip, 'driver_id', r.driver_id, 'driver', d.name,
      'vehicle_id', r.vehicle_id, 'plate', v.plate, 'total_minor', r.total_minor,
      'farm_out', (select jsonb_build_object('status', f.status, 'affiliate', a.company)
                   from public.farm_outs f join public.affiliates a on a.id = f.affiliate_id
                   where f.reservation_id = r.id and f.status in ('offered', 'accepted')),
      'pickup', (select s.address from public.reservation_stops s where s.reservation_id = r.id and s.position = 0),
      'problems', to_jsonb(array_remove(array[
        case when r.status = 'confirmed' and (r.driver_id is null or r.vehicle_id is null)
                  and not exists (select 1 from public.farm_outs f where f.reservation_id = r.id and f.status = 'accepted')
             then 'unassigned' end,
        case when v.status in ('maintenance', 'offline') then 'vehicle_' || v.status end,
        case when d.status = 'off_duty' then 'driver_off_duty' end,
        case when d.licence_expires_on < (r.pickup_at at time zone tz)::date then 'licence_expired' end,
        case when vc.rank < c.rank then 'vehicle_class_too_low' end,
        case when v.seats < r.passengers then 'vehicle_too_small' end,
        case when r.status in ('confirmed', 'in_progress') and r.order_id is not null
                  and (select o.status from public.orders o where o.id = r.order_id) in ('cancelled', 'expired')
             then 'unpaid' end], null))) as t
    from public.reservations r
    join public.vehicle_classes c on c.id = r.class_id
    join public.chauffeur_customers cu on cu.id = r.customer_id
    left join public.drivers d on d.id = r.driver_id
    left join public.vehicles v on v.id = r.vehicle_id
    left join public.vehicle_classes vc on vc.id = v.class_id
    where r.org_id = dispatch_board.org_id
      and r.pickup_at >= (day::timestamp at time zone tz) and r.pickup_at < ((day + 1)::timestamp at time zone tz)
  ) x (t);
  return jsonb_build_object(
    'day', day, 'timezone', tz, 'trips', jsonb_array_length(trips),
    'unassigned', (select coalesce(jsonb_agg(t), '[]') from jsonb_array_elements(trips) t
                   where t ->> 'status' in ('pending', 'confirmed') and t -> 'farm_out' = 'null'::jsonb
                     and (t ->> 'driver_id' is null or t ->> 'vehicle_id' is null)),
    'farmed_out', (select coalesce(jsonb_agg(t), '[]') from jsonb_array_elements(trips) t
                   where t ->> 'status' in ('pending', 'confirmed', 'in_progress') and t -> 'farm_out' <> 'null'::jsonb),
    'assigned', (select coalesce(jsonb_agg(t), '[]') from jsonb_array_elements(trips) t
                 where t ->> 'status' in ('pending', 'confirmed', 'in_progress') and t ->> 'driver_id' is not null
                   and t ->> 'vehicle_id' is not null),
    'closed', (select coalesce(jsonb_agg(t), '[]') from jsonb_array_elements(trips) t
               where t ->> 'status' in ('completed', 'cancelled', 'no_show')),
    'conflicts', (select coalesce(jsonb_agg(t), '[]') from jsonb_array_elements(trips) t
                  where t ->> 'status' in ('pending', 'confirmed', 'in_progress')
                    and jsonb_array_length(t -> 'problems') > 0));
end;
$$;
comment on function public.dispatch_board(uuid, date) is
  'One local day''s trips for dispatch: unassigned, assigned, farmed out, closed, and conflicts (live trips with a problem: '
  'unassigned when confirmed, vehicle in maintenance/offline, driver off duty, licence expired, class or seats short, '
  'unpaid: confirmed, and its card authorisation released or lapsed).';
grant execute on function public.dispatch_board(uuid, date) to authenticated, service_role;
