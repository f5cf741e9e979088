-- AI assistants: wizard sessions, and the per-user rate limit and daily token
-- budget every assistant shares.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/ticketing/ai_wizard.sql, routines/ticketing/triggers.sql.

create type public.wizard_status as enum ('active', 'completed', 'abandoned');

create table public.wizard_sessions (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  owner_id uuid not null references public.profiles (id) on delete cascade,
  title text check (length(title) <= 200),
  status public.wizard_status not null default 'active',
  messages jsonb not null default '[]'::jsonb check (jsonb_typeof(messages) = 'array'),
  draft jsonb not null default '{}'::jsonb check (jsonb_typeof(draft) = 'object'),
  event_id uuid references public.events (id) on delete set null,
  prompt_tokens integer not null default 0 check (prompt_tokens >= 0),
  completion_tokens integer not null default 0 check (completion_tokens >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.wizard_sessions is
  'One AI event-wizard conversation: messages, the draft saved so far, token usage. Private to its owner.';
create index wizard_sessions_owner_id_idx on public.wizard_sessions (owner_id, updated_at desc);
create index wizard_sessions_org_id_idx on public.wizard_sessions (org_id);
create index wizard_sessions_event_id_idx on public.wizard_sessions (event_id);

-- ===========================================================================
-- Rate limit and daily token budget (shared by every assistant)
-- ===========================================================================
create table private.ai_usage (
  user_id uuid not null references auth.users (id) on delete cascade,
  day date not null,
  window_start timestamptz not null,
  window_requests integer not null default 0,
  requests integer not null default 0,
  tokens integer not null default 0,
  primary key (user_id, day)
);
comment on table private.ai_usage is
  'Per user and day: requests in the current one-minute window, requests and tokens today.';
