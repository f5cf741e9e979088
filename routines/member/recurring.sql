-- Member app: recurring income and expenses (migrations/*_member_money.sql).
--
-- private.post_due_recurring (cron, functions/post-recurring) takes every active template whose
-- next_due has come in its member's timezone (skipping templates another run holds) and, for each due
-- date up to today, posts the expense or income (auto_post) or leaves it flagged as due for the member
-- (public.due_recurring). A post is unique per template and due date, so a run repeated or run twice at
-- once posts each date once. public.confirm_recurring posts a flagged one on the member's say-so.

create or replace function private.next_occurrence(p_every public.recurrence, p_day date) returns date
  language sql immutable
  set search_path = ''
as $$
  select (p_day + case p_every when 'weekly' then interval '7 days' when 'monthly' then interval '1 month'
                               when 'quarterly' then interval '3 months' else interval '1 year' end)::date;
$$;

create or replace function private.post_recurring_once(p_item public.recurring_items, p_due date) returns boolean
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  if p_item.kind = 'expense' then
    insert into public.expenses (user_id, category_id, amount_minor, currency, spent_on, payee, recurring_id, due_on)
    values (p_item.user_id, p_item.category_id, p_item.amount_minor, p_item.currency, p_due, p_item.label, p_item.id, p_due)
    on conflict (recurring_id, due_on) do nothing;
  else
    insert into public.income_entries (user_id, category_id, source, amount_minor, currency, received_on, recurring_id,
                                       due_on)
    values (p_item.user_id, p_item.category_id, p_item.label, p_item.amount_minor, p_item.currency, p_due, p_item.id, p_due)
    on conflict (recurring_id, due_on) do nothing;
  end if;
  return found;
end;
$$;

create or replace function private.post_due_recurring(p_limit integer default 500) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  item public.recurring_items;
  posted integer := 0;
  flagged integer := 0;
  today date;
begin
  for item in
    select * from public.recurring_items r
    where r.active and r.auto_post and r.next_due <= private.member_today(r.user_id)
    order by r.next_due limit p_limit
    for update skip locked
  loop
    today := private.member_today(item.user_id);
    while item.next_due <= today loop
      if private.post_recurring_once(item, item.next_due) then
        posted := posted + 1;
      end if;
      item.next_due := private.next_occurrence(item.every, item.next_due);
    end loop;
    update public.recurring_items set next_due = item.next_due, updated_at = now() where id = item.id;
  end loop;
  select count(*) into flagged from public.recurring_items r
  where r.active and not r.auto_post and r.next_due <= private.member_today(r.user_id);
  return jsonb_build_object('posted', posted, 'due_for_confirmation', flagged);
end;
$$;
comment on function private.post_due_recurring(integer) is
  'Cron: posts every due date of auto-posting templates up to each member''s today, once each; counts the ones '
  'waiting for their member.';
grant execute on function private.post_due_recurring(integer) to service_role;

create or replace function public.due_recurring()
  returns table (id uuid, kind text, label text, amount_minor bigint, currency text, next_due date)
  language sql stable
  set search_path = ''
as $$
  select r.id, r.kind, r.label, r.amount_minor, r.currency::text, r.next_due from public.recurring_items r
  where r.active and not r.auto_post and r.next_due <= private.member_today(r.user_id)
  order by r.next_due;
$$;
comment on function public.due_recurring() is 'The caller''s recurring items waiting for confirmation (RLS: their own).';
grant execute on function public.due_recurring() to authenticated, service_role;

create or replace function private.confirm_recurring(p_id uuid) returns boolean
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  item public.recurring_items;
begin
  select * into item from public.recurring_items
  where id = p_id and user_id = (select private.require_caller()) and active for update;
  if not found then
    raise exception using errcode = 'PT404', detail = 'recurring_not_found', message = 'No such recurring item';
  end if;
  if item.next_due > private.member_today(item.user_id) then
    return false;  -- not due yet
  end if;
  perform private.post_recurring_once(item, item.next_due);
  update public.recurring_items set next_due = private.next_occurrence(every, next_due), updated_at = now()
  where id = item.id;
  return true;
end;
$$;
grant execute on function private.confirm_recurring(uuid) to authenticated, service_role;

create or replace function public.confirm_recurring(id uuid) returns boolean
  language sql
  set search_path = ''
as $$
  select private.confirm_recurring(id);
$$;
comment on function public.confirm_recurring(uuid) is
  'Post a recurring item''s due date now (for one that waits for confirmation): true, or false if not due yet.';
grant execute on function public.confirm_recurring(uuid) to authenticated, service_role;
