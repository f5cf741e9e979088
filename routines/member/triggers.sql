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

create or replace trigger trips_owner before insert on public.trips
  for each row execute function private.own_row_defaults();

create or replace trigger trips_touch before update on public.trips
  for each row execute function private.touch_updated_at();

create or replace trigger trip_templates_owner before insert on public.trip_templates
  for each row execute function private.own_row_defaults();

create or replace trigger trip_templates_touch before update on public.trip_templates
  for each row execute function private.touch_updated_at();

create or replace trigger trip_template_ratings_check before insert on public.trip_template_ratings
  for each row execute function private.check_template_rating();

create or replace trigger wishlist_items_owner before insert on public.wishlist_items
  for each row execute function private.own_row_defaults();

create or replace trigger wishlist_items_touch before update on public.wishlist_items
  for each row execute function private.touch_updated_at();

create or replace trigger posts_owner before insert on public.posts
  for each row execute function private.own_row_defaults();

create or replace trigger posts_touch before update on public.posts
  for each row execute function private.touch_updated_at();

create or replace trigger post_comments_owner before insert on public.post_comments
  for each row execute function private.own_row_defaults();

create or replace trigger post_likes_owner before insert on public.post_likes
  for each row execute function private.own_row_defaults();

create or replace trigger post_reports_owner before insert on public.post_reports
  for each row execute function private.own_row_defaults();

create or replace trigger pam_conversations_owner before insert on public.pam_conversations
  for each row execute function private.own_row_defaults();

create or replace trigger pam_conversations_touch before update on public.pam_conversations
  for each row execute function private.touch_updated_at();

create or replace trigger pam_expense_proposals_owner before insert on public.pam_expense_proposals
  for each row execute function private.own_row_defaults();
