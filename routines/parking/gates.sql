-- Airport parking: the gates.
--
-- Staff of the lot's org (owner, admin, manager, staff) scan a booking's QR
-- code (its gate code) or type the plate, at entry and at exit. Each happens
-- once, at the server's time:
--   entry  a booked stay, from two hours before its entry time until its exit
--          time -> parked (entered_at). Refused: PT409 already_entered,
--          too_early, stay_over, not_booked (unpaid, cancelled).
--   exit   a parked car -> exited (exited_at). An exit later than the booked
--          exit plus the lot's grace raises an overstay charge: every started
--          24 hours past the booked exit at the lot's overstay_daily_minor,
--          an order of its own, payable then. Refused: PT409 already_exited,
--          not_parked.
-- A plate matches the lot's booked (entry) or parked (exit) stay nearest now.
-- Unpaid charges (an amendment, the overstay) are answered as balance due.
--
-- Error codes: lot_not_found, invalid_direction, booking_not_found and the above.

-- The overstay charge for an exit at p_exited (0 within the grace).
create or replace function private.parking_overstay_minor(p_booking public.parking_bookings, p_lot public.parking_lots,
                                                          p_exited timestamptz) returns bigint
  language sql immutable
  set search_path = ''
as $$
  select case when p_exited <= p_booking.exit_at + make_interval(mins => p_lot.overstay_grace_minutes) then 0
              else ceil(extract(epoch from p_exited - p_booking.exit_at) / 86400.0)::bigint * p_lot.overstay_daily_minor
         end;
$$;
comment on function private.parking_overstay_minor(public.parking_bookings, public.parking_lots, timestamptz) is
  'Overstay owed for an exit: 0 within the lot''s grace, else each started 24 h past the booked exit at its daily rate.';

create or replace function private.parking_gate(p_lot_id uuid, p_direction text, p_code text, p_plate text)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  now_ timestamptz := now();
  lot public.parking_lots;
  b public.parking_bookings;
  wanted_plate text := private.normalize_plate(p_plate);
  overstay bigint := 0;
  charge jsonb;
  seen jsonb;
begin
  select * into lot from public.parking_lots where id = p_lot_id;
  if not found or not (coalesce((select auth.role()), '') = 'service_role'
                       or private.has_org_role(lot.org_id, '{owner,admin,manager,staff}')) then
    raise exception using errcode = 'PT404', detail = 'lot_not_found', message = 'No such car park';
  end if;
  if p_direction is null or p_direction not in ('entry', 'exit') then
    raise exception using errcode = 'PT422', detail = 'invalid_direction', message = 'The direction is entry or exit';
  end if;
  if nullif(btrim(p_code), '') is not null then
    select * into b from public.parking_bookings where gate_code = btrim(p_code) and lot_id = lot.id for update;
  elsif wanted_plate is not null then
    select * into b from public.parking_bookings pb
    where pb.lot_id = lot.id and pb.plate = wanted_plate
      and pb.status = case p_direction when 'entry' then 'booked' else 'parked' end::public.parking_status
    order by abs(extract(epoch from (case p_direction when 'entry' then pb.entry_at else pb.exit_at end) - now_))
    limit 1
    for update;
  end if;
  if b.id is null then
    raise exception using errcode = 'PT404', detail = 'booking_not_found',
      message = 'No booking at this car park matches that code or plate';
  end if;

  if p_direction = 'entry' then
    if b.entered_at is not null then
      raise exception using errcode = 'PT409', detail = 'already_entered',
        message = format('%s entered at %s', b.plate, to_char(b.entered_at at time zone lot.timezone, 'Dy DD Mon HH24:MI'));
    elsif b.status <> 'booked' then
      raise exception using errcode = 'PT409', detail = 'not_booked', message = 'This booking is not paid or was cancelled';
    elsif now_ < b.entry_at - interval '2 hours' then
      raise exception using errcode = 'PT409', detail = 'too_early',
        message = format('This stay begins at %s', to_char(b.entry_at at time zone lot.timezone, 'Dy DD Mon HH24:MI'));
    elsif now_ >= b.exit_at then
      raise exception using errcode = 'PT409', detail = 'stay_over', message = 'This stay has already ended';
    end if;
    update public.parking_bookings set status = 'parked', entered_at = now_, entered_by = (select auth.uid())
    where id = b.id returning * into b;
  else
    if b.exited_at is not null then
      raise exception using errcode = 'PT409', detail = 'already_exited',
        message = format('%s left at %s', b.plate, to_char(b.exited_at at time zone lot.timezone, 'Dy DD Mon HH24:MI'));
    elsif b.status <> 'parked' then
      raise exception using errcode = 'PT409', detail = 'not_parked', message = 'This car was not scanned in';
    end if;
    update public.parking_bookings set status = 'exited', exited_at = now_, exited_by = (select auth.uid())
    where id = b.id returning * into b;
    overstay := private.parking_overstay_minor(b, lot, now_);
    if overstay > 0 then
      charge := private.open_parking_charge(
        b, 'overstay', overstay,
        format('Overstay: %s past the booked exit of %s', justify_hours(date_trunc('minute', now_ - b.exit_at)),
               to_char(b.exit_at at time zone lot.timezone, 'Dy DD Mon HH24:MI')));
    end if;
  end if;
  perform private.audit(lot.org_id, 'parking.' || p_direction, 'parking_bookings', b.id::text,
                        jsonb_build_object('at', now_, 'overstay_minor', overstay));
  seen := private.parking_booking_view(b);
  return jsonb_build_object('result', case p_direction when 'entry' then 'entered' else 'exited' end,
                            'booking', seen, 'overstay_minor', overstay, 'charge', charge,
                            'balance_due_minor', seen -> 'balance_due_minor');
end;
$$;
comment on function private.parking_gate(uuid, text, text, text) is
  'A gate scan by the lot''s staff (see the file header): {result, booking, overstay_minor, charge, balance_due_minor}.';
grant execute on function private.parking_gate(uuid, text, text, text) to authenticated, service_role;

create or replace function public.parking_gate_scan(lot_id uuid, direction text, code text default null,
                                                    plate text default null) returns jsonb
  language sql
  set search_path = ''
as $$
  select private.parking_gate(lot_id, direction, code, plate);
$$;
comment on function public.parking_gate_scan(uuid, text, text, text) is
  'Staff scan a QR code or look up a plate at the entry or exit gate, once each. See routines/parking/gates.sql.';
grant execute on function public.parking_gate_scan(uuid, text, text, text) to authenticated, service_role;
