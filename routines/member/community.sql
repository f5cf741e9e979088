-- Member app: the community (migrations/*_member_trips_and_community.sql).
--
-- Who reads a post is RLS's (policies/member.sql): public and not hidden, anyone; otherwise its
-- author, and a moderator. Comments, likes and reports follow the post's visibility. public.posts_feed
-- (as the caller) lists the posts they can read with like and comment counts computed from the rows,
-- so a count always equals its rows. A moderator (public.platform_moderators) hides a post with a
-- reason (public.hide_post: PT404 post_not_found for anyone else).

create or replace function private.is_moderator() returns boolean
  language sql stable
  security definer
  set search_path = ''
as $$
  select exists (select 1 from public.platform_moderators m where m.user_id = (select auth.uid()));
$$;
grant execute on function private.is_moderator() to anon, authenticated, service_role;

create or replace function public.posts_feed(max_posts integer default 50, before timestamptz default null)
  returns table (id uuid, author_id uuid, title text, body text, visibility public.post_visibility,
                 created_at timestamptz, likes bigint, comments bigint, liked_by_me boolean, hidden boolean)
  language sql stable
  set search_path = ''
as $$
  select p.id, p.user_id, p.title, p.body, p.visibility, p.created_at,
         (select count(*) from public.post_likes l where l.post_id = p.id),
         (select count(*) from public.post_comments c where c.post_id = p.id),
         exists (select 1 from public.post_likes l where l.post_id = p.id and l.user_id = (select auth.uid())),
         p.hidden_at is not null
  from public.posts p
  where before is null or p.created_at < before
  order by p.created_at desc
  limit least(greatest(coalesce(max_posts, 50), 1), 200);
$$;
comment on function public.posts_feed(integer, timestamptz) is
  'The posts the caller may read, newest first, with like and comment counts computed from the rows.';
grant execute on function public.posts_feed(integer, timestamptz) to anon, authenticated, service_role;

create or replace function private.hide_post(p_post_id uuid, p_reason text) returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  if not private.is_moderator() then
    raise exception using errcode = 'PT404', detail = 'post_not_found', message = 'No such post';
  end if;
  update public.posts set hidden_at = now(), hidden_by = (select auth.uid()),
                          hidden_reason = nullif(btrim(p_reason), '')
  where id = p_post_id and hidden_at is null;
  if not found and not exists (select 1 from public.posts where id = p_post_id) then
    raise exception using errcode = 'PT404', detail = 'post_not_found', message = 'No such post';
  end if;
end;
$$;
grant execute on function private.hide_post(uuid, text) to authenticated, service_role;

create or replace function public.hide_post(post_id uuid, reason text default null) returns void
  language sql
  set search_path = ''
as $$
  select private.hide_post(post_id, reason);
$$;
comment on function public.hide_post(uuid, text) is 'A moderator hides a post (PT404 post_not_found for anyone else).';
grant execute on function public.hide_post(uuid, text) to authenticated, service_role;
