-- Member app: PAM, the assistant over a member's own data. Its conversations are kept per member, and
-- an expense PAM suggests waits as a proposal until the member confirms it (only then is the expense
-- written, by the member). Functions: shared/member/pam.py, routines/member/pam.sql; RLS:
-- policies/member.sql (each member their own).

create table public.pam_conversations (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  title text not null check (length(title) between 1 and 200),
  messages jsonb not null default '[]'::jsonb check (jsonb_typeof(messages) = 'array'),
  prompt_tokens bigint not null default 0,
  completion_tokens bigint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, user_id)
);
comment on table public.pam_conversations is 'A member''s conversation with PAM: its messages and token use.';
create index pam_conversations_user_id_idx on public.pam_conversations (user_id, updated_at desc);

create table public.pam_expense_proposals (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  conversation_id uuid,
  category_id uuid not null,
  amount_minor bigint not null check (amount_minor > 0),
  currency char(3) not null check (currency ~ '^[A-Z]{3}$'),
  spent_on date not null,
  payee text check (length(payee) <= 120),
  status text not null default 'proposed' check (status in ('proposed', 'confirmed', 'discarded')),
  expense_id uuid references public.expenses (id) on delete set null,
  created_at timestamptz not null default now(),
  foreign key (conversation_id, user_id) references public.pam_conversations (id, user_id) on delete cascade,
  foreign key (category_id, user_id) references public.expense_categories (id, user_id) on delete cascade
);
comment on table public.pam_expense_proposals is
  'An expense PAM suggested: written as an expense only when its member confirms it.';
create index pam_expense_proposals_user_idx on public.pam_expense_proposals (user_id, created_at desc);
create index pam_expense_proposals_conversation_idx on public.pam_expense_proposals (conversation_id, user_id);
create index pam_expense_proposals_category_idx on public.pam_expense_proposals (category_id, user_id);
create index pam_expense_proposals_expense_idx on public.pam_expense_proposals (expense_id);

insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  ('pam_conversations', 'user_id', null, true, 'the member''s own conversations, deleted with the account'),
  ('pam_conversations', 'title', null, true, 'the member''s own conversations, deleted with the account'),
  ('pam_conversations', 'messages', null, true, 'the member''s own conversations, deleted with the account'),
  ('pam_conversations', 'prompt_tokens', null, false, 'a count of tokens, not personal'),
  ('pam_conversations', 'completion_tokens', null, false, 'a count of tokens, not personal'),
  ('pam_expense_proposals', 'user_id', null, true, 'the member''s own proposals, deleted with the account'),
  ('pam_expense_proposals', 'payee', null, true, 'the member''s own proposals, deleted with the account');
