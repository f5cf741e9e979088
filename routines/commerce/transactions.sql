-- Commerce: transaction history. Every payment (money in) and refund (money
-- out) of every order kind and provider, one row each, newest first.
--
--   public.my_transactions       a signed-in buyer's own, across orgs
--   public.org_transactions      an org's, for its owners and admins (also the
--                                "transactions" report: JSON or CSV, by provider)
-- Filters: local dates from..to (the order's org's timezone, at most 366
-- days), provider (stripe, paypal), order kind. Refunds count from when they
-- were asked for, with their status (pending until the provider confirms).
-- Amounts are minor units; a refund's amount is negative. The reach is decided
-- here (definer functions with explicit checks), never by the caller's filters.
--
-- Error codes: invalid_date_range, date_range_too_long, invalid_provider, org_not_found.

create or replace function private.transactions(p_org_id uuid, p_from date, p_to date, p_provider text,
                                                p_kind public.order_kind)
  returns table (occurred_at timestamptz, type text, provider text, amount_minor bigint, currency text,
                 status text, order_number text, order_kind public.order_kind, organization_id uuid, org_name text,
                 buyer_email text, provider_reference text, reason text)
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  buyer uuid;
begin
  -- The reach: without an org, the caller's own orders; with one, its owners and admins (or the service role).
  if p_org_id is null then
    buyer := private.require_caller();
  elsif not (coalesce((select auth.role()), '') = 'service_role' or private.has_org_role(p_org_id, '{owner,admin}')) then
    raise exception using errcode = 'PT404', detail = 'org_not_found', message = 'Organization not found';
  end if;
  if p_from is null or p_to is null or p_to < p_from then
    raise exception using errcode = 'PT422', detail = 'invalid_date_range',
      message = 'Give a date range whose end is not before its start';
  end if;
  if p_to - p_from + 1 > 366 then
    raise exception using errcode = 'PT422', detail = 'date_range_too_long', message = 'Ask for at most 366 days at a time';
  end if;
  if p_provider is not null and p_provider not in ('stripe', 'paypal', 'free') then
    raise exception using errcode = 'PT422', detail = 'invalid_provider', message = 'The provider is stripe, paypal or free';
  end if;
  return query
  with moves as (
    select p.created_at as at, 'payment'::text as type, p.provider, p.amount_minor, p.currency::text as currency,
           'succeeded'::text as status, p.order_id, p.provider_payment_id as reference, null::text as reason
    from public.payments p
    where (p_org_id is null or p.org_id = p_org_id)
    union all
    select r.created_at, 'refund', p.provider, -r.amount_minor, r.currency::text, r.status::text, r.order_id,
           r.provider_refund_id, r.reason
    from public.refunds r join public.payments p on p.id = r.payment_id
    where (p_org_id is null or r.org_id = p_org_id)
  )
  select m.at, m.type, m.provider, m.amount_minor, m.currency, m.status, o.number, o.kind, org.id, org.name,
         o.buyer_email, m.reference, m.reason
  from moves m
  join public.orders o on o.id = m.order_id
  join public.organizations org on org.id = o.org_id
  where (buyer is null or o.buyer_user_id = buyer)
    and (m.at at time zone org.timezone)::date between p_from and p_to
    and (p_provider is null or m.provider = p_provider)
    and (p_kind is null or o.kind = p_kind)
  order by m.at desc, m.type;
end;
$$;
comment on function private.transactions(uuid, date, date, text, public.order_kind) is
  'Payments and refunds: the caller''s own (no org) or an org''s for its owners and admins. PT401, PT404 '
  'org_not_found, PT422 invalid_date_range / date_range_too_long / invalid_provider.';
grant execute on function private.transactions(uuid, date, date, text, public.order_kind) to authenticated, service_role;

create or replace function public.my_transactions(from_date date, to_date date, only_provider text default null,
                                                  only_kind public.order_kind default null)
  returns table (occurred_at timestamptz, type text, provider text, amount_minor bigint, currency text,
                 status text, order_number text, order_kind public.order_kind, organization_id uuid, org_name text,
                 buyer_email text, provider_reference text, reason text)
  language sql stable
  set search_path = ''
as $$
  select * from private.transactions(null, from_date, to_date, only_provider, only_kind);
$$;
comment on function public.my_transactions(date, date, text, public.order_kind) is
  'The signed-in buyer''s payments and refunds across orgs and providers (see routines/commerce/transactions.sql).';
grant execute on function public.my_transactions(date, date, text, public.order_kind) to authenticated, service_role;

create or replace function public.org_transactions(org_id uuid, from_date date, to_date date,
                                                   only_provider text default null,
                                                   only_kind public.order_kind default null)
  returns table (occurred_at timestamptz, type text, provider text, amount_minor bigint, currency text,
                 status text, order_number text, order_kind public.order_kind, organization_id uuid, org_name text,
                 buyer_email text, provider_reference text, reason text)
  language sql stable
  set search_path = ''
as $$
  select * from private.transactions(coalesce(org_id, '00000000-0000-0000-0000-000000000000'), from_date, to_date,
                                     only_provider, only_kind);
$$;
comment on function public.org_transactions(uuid, date, date, text, public.order_kind) is
  'An org''s payments and refunds, for its owners and admins (see routines/commerce/transactions.sql).';
grant execute on function public.org_transactions(uuid, date, date, text, public.order_kind) to authenticated, service_role;
