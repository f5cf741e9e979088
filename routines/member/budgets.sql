-- Member app: budgets, and their status computed from the expenses (migrations/*_member_money.sql).
--
-- public.budget_status(budget, on) walks the budget's periods from its first to the one holding `on`
-- (the member's today by default) and gives each period's budgeted, carried, spent and left, where
-- spent is the sum of the category's expenses in the budget's currency dated inside the period, and
--   none      carried = 0
--   rollover  carried = what the period before had left, when that was positive
--   adjusted  carried = what the period before had left, when that was negative (overspending)
--   left      = budgeted + carried - spent
-- Nothing is stored: the answer equals a plain sum of the expenses at any moment, whatever was
-- inserted, edited, moved or deleted before. It runs as the caller (invoker), so RLS decides what
-- it may read: another member's budget is simply not found.
--
-- Periods start on Mondays (weekly) or on the first day of the month, quarter or year; a budget's
-- starts_on is moved to the start of its period. Features by tier are enforced here too: a free
-- member keeps at most private.free_budget_limit() budgets (PT403 tier_limit), counted under a lock
-- on their settings row, so concurrent inserts cannot pass it together.

create or replace function private.free_budget_limit() returns integer
  language sql immutable
  set search_path = ''
as $$
  select 3;
$$;

create or replace function private.period_start(p_period public.budget_period, p_day date) returns date
  language sql immutable
  set search_path = ''
as $$
  select date_trunc(case p_period when 'weekly' then 'week' when 'monthly' then 'month'
                                  when 'quarterly' then 'quarter' else 'year' end, p_day::timestamp)::date;
$$;

create or replace function private.period_length(p_period public.budget_period) returns interval
  language sql immutable
  set search_path = ''
as $$
  select case p_period when 'weekly' then interval '7 days' when 'monthly' then interval '1 month'
                       when 'quarterly' then interval '3 months' else interval '1 year' end;
$$;

create or replace function private.check_budget() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  settings public.member_settings;
begin
  new.user_id := coalesce(new.user_id, (select auth.uid()));
  if not exists (select 1 from private.currencies c where c.code = upper(new.currency)) then
    raise exception using errcode = 'PT422', detail = 'unknown_currency', message = 'An ISO 4217 currency, e.g. GBP';
  end if;
  new.currency := upper(new.currency);
  if new.amount_minor is null or new.amount_minor <= 0 then
    raise exception using errcode = 'PT422', detail = 'invalid_amount', message = 'A budget is above zero, in minor units';
  end if;
  if not exists (select 1 from public.expense_categories c
                 where c.id = new.category_id and c.user_id = new.user_id and not c.for_income) then
    raise exception using errcode = 'PT422', detail = 'unknown_category', message = 'Choose one of your own expense categories';
  end if;
  if new.starts_on is null or new.starts_on < date '2000-01-01' or new.starts_on > private.member_today(new.user_id) + 366 then
    raise exception using errcode = 'PT422', detail = 'invalid_date', message = 'A start from 2000 until a year from today';
  end if;
  new.starts_on := private.period_start(new.period, new.starts_on);
  new.updated_at := now();
  if tg_op = 'INSERT' then
    -- The tier's limit, counted under the member's settings row lock: concurrent inserts queue here.
    insert into public.member_settings (user_id) values (new.user_id) on conflict (user_id) do nothing;
    select * into settings from public.member_settings where user_id = new.user_id for update;
    if settings.tier = 'free'
       and (select count(*) from public.budgets b where b.user_id = new.user_id) >= private.free_budget_limit() then
      raise exception using errcode = 'PT403', detail = 'tier_limit',
        message = format('The free plan keeps %s budgets; upgrade for more', private.free_budget_limit());
    end if;
  end if;
  return new;
end;
$$;
comment on function private.check_budget() is
  'BEFORE INSERT OR UPDATE on budgets: the owner, the period start, PT422 unknown_currency / invalid_amount / '
  'unknown_category / invalid_date, and the free tier''s budget limit (PT403 tier_limit, under a lock).';

create or replace function public.budget_status(budget_id uuid, on_date date default null)
  returns table (period_start date, period_end date, budgeted_minor bigint, carried_minor bigint,
                 spent_minor bigint, left_minor bigint, currency text)
  language plpgsql stable
  set search_path = ''
as $$
declare
  b public.budgets;
  through date;
  carry bigint := 0;
  p record;
begin
  select * into b from public.budgets x where x.id = budget_status.budget_id;  -- RLS: the caller's own only
  if not found then
    raise exception using errcode = 'PT404', detail = 'budget_not_found', message = 'No such budget';
  end if;
  through := coalesce(on_date, private.member_today(b.user_id));
  if through > private.member_today(b.user_id) + 3660 then
    raise exception using errcode = 'PT422', detail = 'invalid_date', message = 'Ask about a date within ten years';
  end if;
  for p in
    with periods as (
      select g::date as starts, (g + private.period_length(b.period))::date - 1 as ends
      from generate_series(b.starts_on::timestamp, private.period_start(b.period, through)::timestamp,
                           private.period_length(b.period)) g),
    spent as (
      select pr.starts, coalesce(sum(e.amount_minor), 0)::bigint as total
      from periods pr
      left join public.expenses e on e.user_id = b.user_id and e.category_id = b.category_id
                                 and e.currency = b.currency and e.spent_on between pr.starts and pr.ends
      group by pr.starts)
    select pr.starts, pr.ends, s.total from periods pr join spent s using (starts) order by pr.starts
  loop
    period_start := p.starts;
    period_end := p.ends;
    budgeted_minor := b.amount_minor;
    carried_minor := carry;
    spent_minor := p.total;
    left_minor := b.amount_minor + carry - p.total;
    currency := b.currency;
    return next;
    carry := case b.rollover when 'rollover' then greatest(left_minor, 0)
                             when 'adjusted' then least(left_minor, 0) else 0 end;
  end loop;
end;
$$;
comment on function public.budget_status(uuid, date) is
  'Each period of a budget up to the one holding on_date (default: the member''s today): budgeted, carried, '
  'spent (from the expenses) and left. PT404 budget_not_found, PT422 invalid_date.';
grant execute on function public.budget_status(uuid, date) to authenticated, service_role;
grant execute on function private.period_start(public.budget_period, date),
  private.period_length(public.budget_period) to authenticated, service_role;
