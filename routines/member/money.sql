-- Member app: a member's settings, categories, expenses and income (migrations/*_member_money.sql).
--
-- Members write their own rows directly (PostgREST, RLS in policies/member.sql). The trigger
-- private.check_member_money fills in the owner and refuses, with a clear code and nothing written:
-- an amount not above zero (invalid_amount), an unknown currency (unknown_currency), a date before
-- 2000 or more than a year after the member's today (invalid_date), and a category that is not the
-- member's own of the right kind (unknown_category). public.member_setup creates the member's settings
-- and a default set of categories, once.

-- The member's own "today": their local date.
create or replace function private.member_today(p_user_id uuid) returns date
  language sql stable
  security definer
  set search_path = ''
as $$
  select (now() at time zone coalesce((select s.timezone from public.member_settings s where s.user_id = p_user_id),
                                      'Europe/London'))::date;
$$;

create or replace function private.check_member_money() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  -- One trigger for three tables: their date and kind columns are read by name.
  fields jsonb := to_jsonb(new);
  day date := (fields ->> case tg_table_name when 'expenses' then 'spent_on' when 'income_entries' then 'received_on'
                                             else 'next_due' end)::date;
  income boolean := tg_table_name = 'income_entries' or coalesce(fields ->> 'kind' = 'income', false);
begin
  new.user_id := coalesce(new.user_id, (select auth.uid()));
  if new.amount_minor is null or new.amount_minor <= 0 then
    raise exception using errcode = 'PT422', detail = 'invalid_amount', message = 'An amount is above zero, in minor units';
  end if;
  if not exists (select 1 from private.currencies c where c.code = upper(new.currency)) then
    raise exception using errcode = 'PT422', detail = 'unknown_currency',
      message = format('%s is not a currency we know (ISO 4217, e.g. GBP, EUR, USD)', new.currency);
  end if;
  new.currency := upper(new.currency);
  if day is null or day < date '2000-01-01' or day > private.member_today(new.user_id) + 366 then
    raise exception using errcode = 'PT422', detail = 'invalid_date',
      message = 'A date from 2000 until a year from today';
  end if;
  if new.category_id is not null and not exists (
       select 1 from public.expense_categories c
       where c.id = new.category_id and c.user_id = new.user_id and c.for_income = income) then
    raise exception using errcode = 'PT422', detail = 'unknown_category',
      message = format('Choose one of your own %s categories', case when income then 'income' else 'expense' end);
  end if;
  new.updated_at := now();
  return new;
end;
$$;
comment on function private.check_member_money() is
  'BEFORE INSERT OR UPDATE on expenses, income_entries, recurring_items: the owner, and PT422 invalid_amount, '
  'unknown_currency, invalid_date, unknown_category.';

create or replace function private.member_setup(p_timezone text, p_currency text) returns public.member_settings
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  me uuid := private.require_caller();
  settings public.member_settings;
begin
  if p_timezone is not null and not private.is_valid_timezone(p_timezone) then
    raise exception using errcode = 'PT422', detail = 'invalid_timezone', message = 'Give an IANA timezone, e.g. Europe/London';
  end if;
  if p_currency is not null and not exists (select 1 from private.currencies c where c.code = upper(p_currency)) then
    raise exception using errcode = 'PT422', detail = 'unknown_currency', message = 'An ISO 4217 currency, e.g. GBP';
  end if;
  insert into public.member_settings as s (user_id, timezone, currency)
  values (me, coalesce(p_timezone, 'Europe/London'), upper(coalesce(p_currency, 'GBP')))
  on conflict (user_id) do update
    set timezone = coalesce(p_timezone, s.timezone), currency = upper(coalesce(p_currency, s.currency)), updated_at = now()
  returning * into settings;
  -- Sensible defaults for life on the road, once (a member renames, archives or adds their own).
  insert into public.expense_categories (user_id, name, group_name, for_income)
  select me, d.name, d.group_name, d.for_income
  from (values ('Groceries', 'Living', false), ('Eating out', 'Living', false), ('Phone & internet', 'Living', false),
               ('Fuel', 'Travel', false), ('Campsites', 'Travel', false), ('Tolls & ferries', 'Travel', false),
               ('Maintenance', 'Vehicle', false), ('Insurance', 'Vehicle', false),
               ('Entertainment', 'Fun', false), ('Pension', 'Income', true), ('Work', 'Income', true),
               ('Other income', 'Income', true)) as d (name, group_name, for_income)
  where not exists (select 1 from public.expense_categories c where c.user_id = me)
  on conflict do nothing;
  return settings;
end;
$$;
grant execute on function private.member_setup(text, text) to authenticated, service_role;

create or replace function public.member_setup(timezone text default null, currency text default null)
  returns public.member_settings
  language sql
  set search_path = ''
as $$
  select private.member_setup(timezone, currency);
$$;
comment on function public.member_setup(text, text) is
  'The caller''s member settings (timezone, home currency), created with a default set of categories the first '
  'time. PT401 not_authenticated, PT422 invalid_timezone / unknown_currency.';
grant execute on function public.member_setup(text, text) to authenticated, service_role;
grant execute on function private.member_today(uuid) to authenticated, service_role;
