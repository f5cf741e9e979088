-- Member app: every trigger on this area's tables. The functions are in routines/member/*.sql.

create or replace trigger member_settings_touch before update on public.member_settings
  for each row execute function private.touch_updated_at();

create or replace trigger expenses_check before insert or update on public.expenses
  for each row execute function private.check_member_money();

create or replace trigger income_entries_check before insert or update on public.income_entries
  for each row execute function private.check_member_money();

create or replace trigger recurring_items_check before insert or update on public.recurring_items
  for each row execute function private.check_member_money();

create or replace trigger budgets_check before insert or update on public.budgets
  for each row execute function private.check_budget();
