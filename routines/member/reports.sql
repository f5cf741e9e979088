-- Member app: reports over a member's own money, as the caller (RLS: their rows only). JSON through
-- PostgREST, or JSON and CSV through functions/member-reports. Money stays in minor units beside its
-- currency, one row per currency where members spend in several. Dates are the member's local dates.
--
--   member_spending             spent per period (week, month, quarter, year) and category
--   member_budget_vs_actual     every budget's period holding on_date: budgeted, carried, spent, left
--   member_income_vs_expenses   income, expenses and net per period
--   member_trip_costs           spent per trip, per day and per km
-- Error codes: invalid_date_range, date_range_too_long, invalid_group.

create or replace function private.check_member_range(p_from date, p_to date, p_group text) returns text
  language plpgsql immutable
  set search_path = ''
as $$
begin
  if p_from is null or p_to is null or p_to < p_from then
    raise exception using errcode = 'PT422', detail = 'invalid_date_range',
      message = 'Give a date range whose end is not before its start';
  end if;
  if p_to - p_from > 3660 then
    raise exception using errcode = 'PT422', detail = 'date_range_too_long', message = 'Ask for at most ten years';
  end if;
  if coalesce(p_group, 'month') not in ('week', 'month', 'quarter', 'year') then
    raise exception using errcode = 'PT422', detail = 'invalid_group', message = 'Group by week, month, quarter or year';
  end if;
  return coalesce(p_group, 'month');
end;
$$;
grant execute on function private.check_member_range(date, date, text) to authenticated, service_role;

create or replace function public.member_spending(from_date date, to_date date, by text default 'month')
  returns table (period_start date, category text, group_name text, currency text, spent_minor bigint, expenses bigint)
  language sql stable
  set search_path = ''
as $$
  select date_trunc(private.check_member_range(from_date, to_date, by), e.spent_on::timestamp)::date, c.name,
         c.group_name, e.currency::text, sum(e.amount_minor)::bigint, count(*)
  from public.expenses e join public.expense_categories c on c.id = e.category_id
  where e.spent_on between from_date and to_date
  group by 1, 2, 3, 4 order by 1, 5 desc;
$$;
comment on function public.member_spending(date, date, text) is
  'The caller''s spending per period (week, month, quarter, year) and category, per currency.';

create or replace function public.member_budget_vs_actual(on_date date default null)
  returns table (budget_id uuid, category text, period text, period_start date, period_end date,
                 budgeted_minor bigint, carried_minor bigint, spent_minor bigint, left_minor bigint, currency text)
  language sql stable
  set search_path = ''
as $$
  select b.id, c.name, b.period::text, s.period_start, s.period_end, s.budgeted_minor, s.carried_minor,
         s.spent_minor, s.left_minor, s.currency
  from public.budgets b
  join public.expense_categories c on c.id = b.category_id
  cross join lateral (select * from public.budget_status(b.id, on_date) x order by x.period_start desc limit 1) s
  order by c.name;
$$;
comment on function public.member_budget_vs_actual(date) is
  'Each of the caller''s budgets in its period holding on_date (default: their today): budgeted, carried, spent, left.';

create or replace function public.member_income_vs_expenses(from_date date, to_date date, by text default 'month')
  returns table (period_start date, currency text, income_minor bigint, expenses_minor bigint, net_minor bigint)
  language sql stable
  set search_path = ''
as $$
  with moves as (
    select date_trunc(private.check_member_range(from_date, to_date, by), i.received_on::timestamp)::date as p,
           i.currency::text as currency, i.amount_minor as income, 0::bigint as spent
    from public.income_entries i where i.received_on between from_date and to_date
    union all
    select date_trunc(private.check_member_range(from_date, to_date, by), e.spent_on::timestamp)::date,
           e.currency::text, 0, e.amount_minor
    from public.expenses e where e.spent_on between from_date and to_date)
  select p, currency, sum(income)::bigint, sum(spent)::bigint, (sum(income) - sum(spent))::bigint
  from moves group by p, currency order by p, currency;
$$;
comment on function public.member_income_vs_expenses(date, date, text) is
  'The caller''s income, expenses and net per period and currency.';

create or replace function public.member_trip_costs()
  returns table (trip_id uuid, trip text, starts_on date, ends_on date, currency text, spent_minor bigint,
                 per_day_minor bigint, per_km_minor bigint)
  language sql stable
  set search_path = ''
as $$
  select t.id, t.name, t.starts_on, t.ends_on, e.currency::text, sum(e.amount_minor)::bigint,
         round(sum(e.amount_minor) / (t.ends_on - t.starts_on + 1)::numeric)::bigint,
         case when t.distance_km > 0 then round(sum(e.amount_minor) / t.distance_km)::bigint end
  from public.trips t join public.expenses e on e.trip_id = t.id
  group by t.id, t.name, t.starts_on, t.ends_on, t.distance_km, e.currency
  order by t.starts_on desc, e.currency;
$$;
comment on function public.member_trip_costs() is 'What each of the caller''s trips cost: in all, per day and per km.';

grant execute on function public.member_spending(date, date, text), public.member_budget_vs_actual(date),
  public.member_income_vs_expenses(date, date, text), public.member_trip_costs() to authenticated, service_role;
