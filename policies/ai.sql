-- Row-level security for AI wizard sessions: private to the user who opened
-- them (the trigger checks they manage events in the session's organization).
-- Token budgets live in private.ai_usage, out of every API role's reach.

revoke all on public.wizard_sessions from anon, authenticated;
grant select, delete on public.wizard_sessions to authenticated;
grant insert (org_id, owner_id, title, messages, draft, event_id) on public.wizard_sessions to authenticated;
grant update (title, status, messages, draft, event_id, prompt_tokens, completion_tokens)
  on public.wizard_sessions to authenticated;
grant all on public.wizard_sessions to service_role;
alter table public.wizard_sessions enable row level security;

drop policy if exists "Wizard sessions are visible to their owner" on public.wizard_sessions;
create policy "Wizard sessions are visible to their owner" on public.wizard_sessions
  for select to authenticated
  using (owner_id = (select auth.uid()));

drop policy if exists "Wizard sessions are opened by their owner" on public.wizard_sessions;
create policy "Wizard sessions are opened by their owner" on public.wizard_sessions
  for insert to authenticated
  with check (owner_id = (select auth.uid()));

drop policy if exists "Wizard sessions are continued by their owner" on public.wizard_sessions;
create policy "Wizard sessions are continued by their owner" on public.wizard_sessions
  for update to authenticated
  using (owner_id = (select auth.uid()))
  with check (owner_id = (select auth.uid()));

drop policy if exists "Wizard sessions are deleted by their owner" on public.wizard_sessions;
create policy "Wizard sessions are deleted by their owner" on public.wizard_sessions
  for delete to authenticated
  using (owner_id = (select auth.uid()));
