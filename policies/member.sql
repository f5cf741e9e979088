-- Row-level security for the member app. Money, trips and wishlists belong to one member (user_id), who
-- alone reads and writes them; no organization, no staff and no anonymous caller sees any of it. Writes
-- go through the area's triggers (routines/member/*.sql), which check amounts, currencies, dates and
-- categories. A member may not change their own tier (only the service role does).
--
-- The community: published trip templates and public posts that are not hidden are read by anyone
-- (anonymous visitors too); private posts by their author; hidden ones by their author and moderators.
-- Comments, likes and reports go on posts the member can read; each member edits and deletes their own.
-- Ratings are read by their rater (averages: public.published_trip_templates).

revoke all on public.member_settings, public.expense_categories, public.recurring_items, public.expenses,
  public.income_entries, public.budgets, public.trips, public.wishlist_items, public.pam_conversations,
  public.pam_expense_proposals from anon, authenticated;
grant select, insert, update, delete on public.expense_categories, public.recurring_items, public.expenses,
  public.income_entries, public.budgets, public.trips, public.wishlist_items, public.pam_conversations,
  public.pam_expense_proposals to authenticated;
grant select, insert on public.member_settings to authenticated;
grant update (timezone, currency) on public.member_settings to authenticated;
grant all on public.member_settings, public.expense_categories, public.recurring_items, public.expenses,
  public.income_entries, public.budgets, public.trips, public.wishlist_items, public.pam_conversations,
  public.pam_expense_proposals to service_role;

do $$
declare
  t text;
begin
  foreach t in array array['member_settings', 'expense_categories', 'recurring_items', 'expenses', 'income_entries',
                           'budgets', 'trips', 'wishlist_items', 'pam_conversations', 'pam_expense_proposals'] loop
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

-- The community ----------------------------------------------------------------------------------------
revoke all on public.trip_templates, public.trip_template_ratings, public.platform_moderators, public.posts,
  public.post_comments, public.post_likes, public.post_reports from anon, authenticated;
grant select on public.trip_templates, public.posts, public.post_comments, public.post_likes to anon;
grant select, insert, update, delete on public.trip_templates to authenticated;
grant select, insert, delete on public.trip_template_ratings, public.post_comments, public.post_likes to authenticated;
grant select, insert on public.post_reports to authenticated;
grant select on public.platform_moderators to authenticated;
grant select, delete on public.posts to authenticated;
grant insert (title, body, visibility), update (title, body, visibility) on public.posts to authenticated;
grant all on public.trip_templates, public.trip_template_ratings, public.platform_moderators, public.posts,
  public.post_comments, public.post_likes, public.post_reports to service_role;
alter table public.trip_templates enable row level security;
alter table public.trip_template_ratings enable row level security;
alter table public.platform_moderators enable row level security;
alter table public.posts enable row level security;
alter table public.post_comments enable row level security;
alter table public.post_likes enable row level security;
alter table public.post_reports enable row level security;

drop policy if exists "Published templates are read by anyone, drafts by their author" on public.trip_templates;
create policy "Published templates are read by anyone, drafts by their author" on public.trip_templates
  for select to anon, authenticated using (published or user_id = (select auth.uid()));
drop policy if exists "Authors write their templates" on public.trip_templates;
drop policy if exists "Authors add templates" on public.trip_templates;
create policy "Authors add templates" on public.trip_templates
  for insert to authenticated with check (user_id = (select auth.uid()));
drop policy if exists "Authors edit their templates" on public.trip_templates;
create policy "Authors edit their templates" on public.trip_templates
  for update to authenticated using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
drop policy if exists "Authors delete their templates" on public.trip_templates;
create policy "Authors delete their templates" on public.trip_templates
  for delete to authenticated using (user_id = (select auth.uid()));

drop policy if exists "Raters read and manage their own ratings" on public.trip_template_ratings;
create policy "Raters read and manage their own ratings" on public.trip_template_ratings
  for all to authenticated using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));

drop policy if exists "Moderators see that they are" on public.platform_moderators;
create policy "Moderators see that they are" on public.platform_moderators
  for select to authenticated using (user_id = (select auth.uid()));

drop policy if exists "Posts are read by anyone when public, else by their author and moderators" on public.posts;
create policy "Posts are read by anyone when public, else by their author and moderators" on public.posts
  for select to anon, authenticated
  using ((visibility = 'public' and hidden_at is null) or user_id = (select auth.uid())
         or (select private.is_moderator()));
drop policy if exists "Members post as themselves" on public.posts;
create policy "Members post as themselves" on public.posts
  for insert to authenticated with check (user_id = (select auth.uid()));
drop policy if exists "Authors edit their posts" on public.posts;
create policy "Authors edit their posts" on public.posts
  for update to authenticated using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
drop policy if exists "Authors delete their posts" on public.posts;
create policy "Authors delete their posts" on public.posts
  for delete to authenticated using (user_id = (select auth.uid()));

do $$
declare
  t text;
begin
  foreach t in array array['post_comments', 'post_likes'] loop
    execute format('drop policy if exists "%1$s follow their post" on public.%1$I', t);
    execute format($p$create policy "%1$s follow their post" on public.%1$I for select to anon, authenticated
                      using (post_id in (select p.id from public.posts p))$p$, t);
    execute format('drop policy if exists "Members add %1$s to posts they read" on public.%1$I', t);
    execute format($p$create policy "Members add %1$s to posts they read" on public.%1$I for insert to authenticated
                      with check (user_id = (select auth.uid()) and post_id in (select p.id from public.posts p))$p$, t);
    execute format('drop policy if exists "Members remove their own %1$s" on public.%1$I', t);
    execute format($p$create policy "Members remove their own %1$s" on public.%1$I for delete to authenticated
                      using (user_id = (select auth.uid()))$p$, t);
  end loop;
end
$$;

drop policy if exists "Reports are read by their reporter and moderators" on public.post_reports;
create policy "Reports are read by their reporter and moderators" on public.post_reports
  for select to authenticated using (user_id = (select auth.uid()) or (select private.is_moderator()));
drop policy if exists "Members report posts they read" on public.post_reports;
create policy "Members report posts they read" on public.post_reports
  for insert to authenticated
  with check (user_id = (select auth.uid()) and post_id in (select p.id from public.posts p));

-- Subscriptions: the member reads their own; only the Stripe webhook (service role) writes them.
revoke all on public.member_subscriptions from anon, authenticated;
grant select on public.member_subscriptions to authenticated;
grant all on public.member_subscriptions to service_role;
alter table public.member_subscriptions enable row level security;
drop policy if exists "Members read their own subscription" on public.member_subscriptions;
create policy "Members read their own subscription" on public.member_subscriptions
  for select to authenticated using (user_id = (select auth.uid()));
