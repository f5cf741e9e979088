-- Chauffeur: who emergency alerts and campaigns reach (routines/comms/alerts.sql, campaigns.sql).

-- Alert audience: customers with a live trip (pending, confirmed, in progress) blocked out in the window.
create or replace function private.chauffeur_alert_contacts(p_org_id uuid, p_during tstzrange)
  returns table (name text, email text, phone text)
  language sql stable
  security definer
  set search_path = ''
as $$
  select c.name, c.email, c.phone
  from public.reservations r join public.chauffeur_customers c on c.id = r.customer_id
  where r.org_id = p_org_id and r.status in ('pending', 'confirmed', 'in_progress') and r.blocked && p_during;
$$;
insert into private.alert_audiences (name, contacts_function)
  values ('chauffeur', 'private.chauffeur_alert_contacts')
  on conflict (name) do update set contacts_function = excluded.contacts_function;

-- Campaign audience: customers with a trip in the last `within_days` (365 unless given), VIPs only if `vip_only`.
create or replace function private.chauffeur_customers_audience(p_org_id uuid, p_options jsonb)
  returns table (name text, email text, phone text)
  language sql stable
  security definer
  set search_path = ''
as $$
  select distinct c.name, c.email, c.phone
  from public.reservations r join public.chauffeur_customers c on c.id = r.customer_id
  where r.org_id = p_org_id and r.status in ('confirmed', 'in_progress', 'completed')
    and r.pickup_at >= now() - make_interval(days => coalesce((p_options ->> 'within_days')::int, 365))
    and (not coalesce((p_options ->> 'vip_only')::boolean, false) or c.vip);
$$;
insert into private.campaign_audiences (name, contacts_function, description)
  values ('chauffeur_customers', 'private.chauffeur_customers_audience',
          'Chauffeur customers with a trip in the last within_days (365); vip_only for VIPs')
  on conflict (name) do update set contacts_function = excluded.contacts_function, description = excluded.description;
