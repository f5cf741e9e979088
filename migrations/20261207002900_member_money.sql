-- Member app (Wheels & Wins, seed 004): a traveller's own money. These rows
-- belong to a member (a signed-in user), not to an organization.
--
-- Categories (grouped, per member; a default set is created on first use),
-- expenses and income in integer minor units of a known currency, recurring
-- templates (insurance, campsite memberships) that cron posts or flags as due,
-- and budgets per category and period with a rollover mode:
--   none       each period stands alone
--   rollover   what was left unspent carries into the next period
--   adjusted   only overspending carries: 25 budgeted, 35 spent -> 15 next
-- What a budget has spent is never stored: public.budget_status computes it
-- from the expenses every time, so it cannot drift. Period edges are dates,
-- and "today" is the member's own timezone (member_settings).
--
-- Functions: routines/member/*.sql; RLS: policies/member.sql (each member
-- their own rows, nobody else's).

create type public.budget_period as enum ('weekly', 'monthly', 'quarterly', 'yearly');
create type public.budget_rollover as enum ('none', 'rollover', 'adjusted');
create type public.recurrence as enum ('weekly', 'monthly', 'quarterly', 'yearly');
create type public.member_tier as enum ('free', 'plus');

create table public.member_settings (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  timezone text not null default 'Europe/London' check (private.is_valid_timezone(timezone)),
  currency char(3) not null default 'GBP' references private.currencies (code),
  tier public.member_tier not null default 'free',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index member_settings_currency_idx on public.member_settings (currency);
comment on table public.member_settings is
  'A member''s timezone (it decides "today" and so the current budget period), home currency and tier.';

create table public.expense_categories (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 60),
  group_name text not null default 'Other' check (length(btrim(group_name)) between 1 and 60),
  for_income boolean not null default false,
  archived boolean not null default false,
  created_at timestamptz not null default now(),
  unique (user_id, name, for_income),
  unique (id, user_id)
);
comment on table public.expense_categories is 'A member''s categories for expenses (or income), in groups.';

create table public.recurring_items (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  kind text not null check (kind in ('expense', 'income')),
  category_id uuid,
  label text not null check (length(btrim(label)) between 1 and 120),  -- the payee or the source
  amount_minor bigint not null check (amount_minor > 0),
  currency char(3) not null check (currency ~ '^[A-Z]{3}$'),  -- a private.currencies code (the trigger)
  every public.recurrence not null,
  next_due date not null,
  auto_post boolean not null default true,  -- false: flagged as due for the member to confirm
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, user_id),
  foreign key (category_id, user_id) references public.expense_categories (id, user_id) on delete restrict
);
comment on table public.recurring_items is
  'An expense or income that repeats (insurance, a campsite membership, a pension): cron posts it on each due '
  'date, or flags it as due when auto_post is off.';
create index recurring_items_user_id_idx on public.recurring_items (user_id);
create index recurring_items_category_idx on public.recurring_items (category_id, user_id);
create index recurring_items_due_idx on public.recurring_items (next_due) where active;

create table public.expenses (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  category_id uuid not null,
  amount_minor bigint not null check (amount_minor > 0),
  currency char(3) not null check (currency ~ '^[A-Z]{3}$'),  -- a private.currencies code (the trigger)
  spent_on date not null,
  payee text check (length(payee) <= 120),
  notes text check (length(notes) <= 2000),
  receipt_path text check (length(receipt_path) <= 500),
  recurring_id uuid,
  due_on date,  -- for a recurring post: the due date it stands for (one post per template and date)
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (category_id, user_id) references public.expense_categories (id, user_id) on delete restrict,
  foreign key (recurring_id, user_id) references public.recurring_items (id, user_id) on delete set null (recurring_id),
  unique (recurring_id, due_on)
);
comment on table public.expenses is
  'Money a member spent: minor units of a known currency, the date (their local date), category, payee, notes, '
  'a receipt in storage, and the recurring template and due date it was posted for.';
create index expenses_user_category_day_idx on public.expenses (user_id, category_id, spent_on) include (amount_minor, currency);
create index expenses_category_idx on public.expenses (category_id, user_id);
create index expenses_recurring_idx on public.expenses (recurring_id, user_id);

create table public.income_entries (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  category_id uuid,
  source text not null check (length(btrim(source)) between 1 and 120),
  amount_minor bigint not null check (amount_minor > 0),
  currency char(3) not null check (currency ~ '^[A-Z]{3}$'),  -- a private.currencies code (the trigger)
  received_on date not null,
  notes text check (length(notes) <= 2000),
  recurring_id uuid,
  due_on date,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (category_id, user_id) references public.expense_categories (id, user_id) on delete restrict,
  foreign key (recurring_id, user_id) references public.recurring_items (id, user_id) on delete set null (recurring_id),
  unique (recurring_id, due_on)
);
comment on table public.income_entries is 'Money a member received (a pension, work on the road), optionally recurring.';
create index income_entries_user_day_idx on public.income_entries (user_id, received_on);
create index income_entries_category_idx on public.income_entries (category_id, user_id);
create index income_entries_recurring_idx on public.income_entries (recurring_id, user_id);

create table public.budgets (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  category_id uuid not null,
  period public.budget_period not null,
  amount_minor bigint not null check (amount_minor > 0),
  currency char(3) not null check (currency ~ '^[A-Z]{3}$'),  -- a private.currencies code (the trigger)
  rollover public.budget_rollover not null default 'none',
  starts_on date not null,  -- the first day of its first period
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (user_id, category_id, period),
  foreign key (category_id, user_id) references public.expense_categories (id, user_id) on delete cascade
);
comment on table public.budgets is
  'How much a member means to spend on a category each period, and what happens to the rest (rollover mode). '
  'Spent, carried and left are computed from the expenses (public.budget_status), never stored.';
create index budgets_category_idx on public.budgets (category_id, user_id);

insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  ('member_settings', 'user_id', null, true, 'the member''s own rows, deleted with the account'),
  ('expense_categories', 'user_id', null, true, 'the member''s own rows, deleted with the account'),
  ('expense_categories', 'name', null, true, 'the member''s own rows, deleted with the account'),
  ('expense_categories', 'group_name', null, true, 'the member''s own rows, deleted with the account'),
  ('recurring_items', 'user_id', null, true, 'the member''s own rows, deleted with the account'),
  ('expenses', 'user_id', null, true, 'the member''s own rows, deleted with the account'),
  ('expenses', 'payee', null, true, 'the member''s own rows, deleted with the account'),
  ('expenses', 'notes', null, true, 'the member''s own rows, deleted with the account'),
  ('income_entries', 'user_id', null, true, 'the member''s own rows, deleted with the account'),
  ('income_entries', 'notes', null, true, 'the member''s own rows, deleted with the account'),
  ('budgets', 'user_id', null, true, 'the member''s own rows, deleted with the account');
