-- Row-level security for the member app: every row belongs to one member (user_id), who alone reads
-- and writes it; no organization, no staff and no anonymous caller sees any of it. Writes go through
-- the area's triggers (routines/member/*.sql), which check amounts, currencies, dates and categories.
-- A member may not change their own tier (only the subscription webhook, as the service role, does).

revoke all on public.member_settings, public.expense_categories, public.recurring_items, public.expenses,
  public.income_entries, public.budgets from anon, authenticated;
grant select, insert, update, delete on public.expense_categories, public.recurring_items, public.expenses,
  public.income_entries, public.budgets to authenticated;
grant select, insert on public.member_settings to authenticated;
grant update (timezone, currency) on public.member_settings to authenticated;
grant all on public.member_settings, public.expense_categories, public.recurring_items, public.expenses,
  public.income_entries, public.budgets to service_role;

do $$
declare
  t text;
begin
  foreach t in array array['member_settings', 'expense_categories', 'recurring_items', 'expenses', 'income_entries',
                           'budgets'] loop
    execute format('alter table public.%I enable row level security', t);
    execute format('drop policy if exists "Members read their own %1$s" on public.%1$I', t);
    execute format($p$create policy "Members read their own %1$s" on public.%1$I for select to authenticated
                      using (user_id = (select auth.uid()))$p$, t);
    execute format('drop policy if exists "Members add their own %1$s" on public.%1$I', t);
    execute format($p$create policy "Members add their own %1$s" on public.%1$I for insert to authenticated
                      with check (user_id = (select auth.uid()))$p$, t);
    execute format('drop policy if exists "Members change their own %1$s" on public.%1$I', t);
    execute format($p$create policy "Members change their own %1$s" on public.%1$I for update to authenticated
                      using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()))$p$, t);
    execute format('drop policy if exists "Members delete their own %1$s" on public.%1$I', t);
    if t <> 'member_settings' then
      execute format($p$create policy "Members delete their own %1$s" on public.%1$I for delete to authenticated
                        using (user_id = (select auth.uid()))$p$, t);
    end if;
  end loop;
end
$$;
