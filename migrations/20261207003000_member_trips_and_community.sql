-- Member app: trips, trip templates, wishlists and the community (posts, comments, likes, reports).
--
-- Trips are a member's own, with dates, route notes and a distance; expenses may name one (cost per
-- trip, per day and per distance: public.trip_costs). A trip template may be published: other members
-- read it and rate it 1-5, once each; its average is computed from the ratings. Wishlist items have a
-- target price and a priority. Posts are public (anyone reads them, anonymous visitors too) or private
-- (their author only); comments and likes go on posts the member can read, one like per member and
-- post (the primary key); like and comment counts are computed from the rows (public.posts_feed), so
-- they always equal them. Members report a post; a platform moderator (no organization:
-- public.platform_moderators) hides it, and a hidden post is read only by its author and moderators.
--
-- Functions: routines/member/*.sql; RLS: policies/member.sql.

create table public.trips (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 120),
  starts_on date not null,
  ends_on date not null,
  route_notes text check (length(route_notes) <= 5000),
  distance_km numeric(9, 1) check (distance_km >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (ends_on >= starts_on and ends_on - starts_on <= 3660),
  unique (id, user_id)
);
comment on table public.trips is 'A member''s trip: dates, route notes and distance; expenses may name it.';
create index trips_user_id_idx on public.trips (user_id, starts_on desc);

alter table public.expenses add column trip_id uuid;
alter table public.expenses add constraint expenses_trip_fkey foreign key (trip_id, user_id)
  references public.trips (id, user_id) on delete set null (trip_id);
create index expenses_trip_idx on public.expenses (trip_id, user_id);

create table public.trip_templates (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  title text not null check (length(btrim(title)) between 1 and 120),
  description text check (length(description) <= 5000),
  days integer not null check (days between 1 and 365),
  route_notes text check (length(route_notes) <= 5000),
  published boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.trip_templates is 'A route a member may publish for others to follow and rate.';
create index trip_templates_user_id_idx on public.trip_templates (user_id);
create index trip_templates_published_idx on public.trip_templates (created_at desc) where published;

create table public.trip_template_ratings (
  template_id uuid not null references public.trip_templates (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  rating integer not null check (rating between 1 and 5),
  created_at timestamptz not null default now(),
  primary key (template_id, user_id)
);
comment on table public.trip_template_ratings is 'One rating 1-5 per member and published template, never the author''s own.';
create index trip_template_ratings_user_id_idx on public.trip_template_ratings (user_id);

create table public.wishlist_items (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 200),
  target_price_minor bigint check (target_price_minor > 0),
  currency char(3) check (currency ~ '^[A-Z]{3}$'),
  priority integer not null default 3 check (priority between 1 and 5),
  url text check (length(url) <= 2000 and url ~ '^https?://'),
  purchased_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((target_price_minor is null) = (currency is null))
);
comment on table public.wishlist_items is 'Something a member means to buy: target price, priority 1 (most) to 5, purchased.';
create index wishlist_items_user_id_idx on public.wishlist_items (user_id, priority);

create type public.post_visibility as enum ('public', 'private');

create table public.platform_moderators (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  created_at timestamptz not null default now()
);
comment on table public.platform_moderators is 'Members who moderate the community (no organization): they hide reported posts.';

create table public.posts (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  title text check (length(btrim(title)) between 1 and 200),
  body text not null check (length(btrim(body)) between 1 and 10000),
  visibility public.post_visibility not null default 'public',
  hidden_at timestamptz,
  hidden_by uuid references public.profiles (id) on delete set null,
  hidden_reason text check (length(hidden_reason) <= 500),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.posts is 'A community post: public (anyone reads it) or private (its author only); hidden by a moderator.';
create index posts_user_id_idx on public.posts (user_id);
create index posts_public_idx on public.posts (created_at desc) where visibility = 'public' and hidden_at is null;
create index posts_hidden_by_idx on public.posts (hidden_by);

create table public.post_comments (
  id uuid primary key default gen_random_uuid(),
  post_id uuid not null references public.posts (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  body text not null check (length(btrim(body)) between 1 and 5000),
  created_at timestamptz not null default now()
);
create index post_comments_post_idx on public.post_comments (post_id, created_at);
create index post_comments_user_id_idx on public.post_comments (user_id);

create table public.post_likes (
  post_id uuid not null references public.posts (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (post_id, user_id)
);
comment on table public.post_likes is 'One like per member and post (the primary key).';
create index post_likes_user_id_idx on public.post_likes (user_id);

create table public.post_reports (
  post_id uuid not null references public.posts (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  reason text not null check (length(btrim(reason)) between 1 and 500),
  created_at timestamptz not null default now(),
  primary key (post_id, user_id)
);
create index post_reports_user_id_idx on public.post_reports (user_id);

insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  ('trips', 'user_id', null, true, 'the member''s own rows, deleted with the account'),
  ('trips', 'name', null, true, 'the member''s own rows, deleted with the account'),
  ('trips', 'route_notes', null, true, 'the member''s own rows, deleted with the account'),
  ('trip_templates', 'route_notes', null, true, 'published by its author for others to follow; deleted with the account'),
  ('trip_templates', 'user_id', null, true, 'the member''s own rows, deleted with the account'),
  ('trip_template_ratings', 'user_id', null, true, 'the member''s own rows, deleted with the account'),
  ('wishlist_items', 'user_id', null, true, 'the member''s own rows, deleted with the account'),
  ('wishlist_items', 'name', null, true, 'the member''s own rows, deleted with the account'),
  ('platform_moderators', 'user_id', null, false, 'a moderator''s role, removed with the account'),
  ('posts', 'user_id', null, true, 'the member''s own posts, deleted with the account'),
  ('posts', 'hidden_by', null, false, 'the moderator who hid it (team data)'),
  ('posts', 'hidden_reason', null, false, 'a moderator''s note about the post'),
  ('post_comments', 'user_id', null, true, 'the member''s own comments, deleted with the account'),
  ('post_likes', 'user_id', null, true, 'the member''s own likes, deleted with the account'),
  ('post_reports', 'user_id', null, true, 'the member''s own reports, deleted with the account'),
  ('post_reports', 'reason', null, true, 'the member''s own reports, deleted with the account');
