-- Chauffeur: the fleet's rules that a table constraint cannot say
-- (tables: migrations/20261207001700_chauffeur_fleet.sql; triggers: triggers.sql).

-- Drivers and affiliates are members of the org with that role.
create or replace function private.check_chauffeur_member() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  wanted public.org_role := tg_argv[0]::public.org_role;
begin
  if not exists (select 1 from public.memberships m
                 where m.org_id = new.org_id and m.user_id = new.user_id and m.role = wanted) then
    raise exception using errcode = 'PT422', detail = 'not_a_' || wanted,
      message = format('A %s must be a member of the organization with the role %s', wanted, wanted);
  end if;
  return new;
end;
$$;
comment on function private.check_chauffeur_member() is
  'BEFORE INSERT/UPDATE on drivers (argument driver) and affiliates (affiliate): the user is an org member with that role.';

-- A vehicle's plate in one form (upper case, no spaces or dashes), and mileage that only goes up.
create or replace function private.check_vehicle() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  new.plate := upper(regexp_replace(new.plate, '[\s-]', '', 'g'));
  new.vin := upper(btrim(new.vin));
  if tg_op = 'UPDATE' and new.mileage < old.mileage then
    raise exception using errcode = 'PT422', detail = 'mileage_decreased',
      message = format('Mileage only goes up (it is %s)', old.mileage);
  end if;
  return new;
end;
$$;
comment on function private.check_vehicle() is
  'BEFORE INSERT/UPDATE on vehicles: plate normalised (upper case, no spaces), VIN upper case; mileage never decreases.';

-- A chauffeur customer's phone in E.164, read as the org's country when typed without +.
create or replace function private.normalise_customer_phone() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  typed text := new.phone;
begin
  if nullif(btrim(typed), '') is null then
    new.phone := null;
    return new;
  end if;
  new.phone := private.to_e164(typed, (select o.country from public.organizations o where o.id = new.org_id));
  if new.phone is null then
    raise exception using errcode = 'PT422', detail = 'invalid_phone', message = format('%s is not a phone number', typed);
  end if;
  return new;
end;
$$;
comment on function private.normalise_customer_phone() is
  'BEFORE INSERT/UPDATE OF phone on chauffeur_customers: E.164 with the org''s country; PT422 invalid_phone.';
