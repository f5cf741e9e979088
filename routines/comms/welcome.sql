-- Communications: a welcome email once someone's sign-up is confirmed.
--
-- Only a confirmed address is welcomed (Supabase confirms it by the link it
-- mails, at once when confirmations are off, or an admin creates the user
-- confirmed): welcoming at sign-up would let anyone make us email any address.
-- Once per user (the outbox dedupe key), whatever is confirmed again later.
--
-- A sign-up may name the org it came through and the language the person
-- reads (supabase.auth.signUp({ email, password, options: { data: { org:
-- "<slug>", language: "de" } } })): the welcome is then that org's, in its
-- wording and language; otherwise the product's, in English. The metadata is
-- the person's own to write, so all it can choose is which existing org's
-- welcome they themselves receive.

create or replace function private.welcome_confirmed_user() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  wanted text := new.raw_user_meta_data ->> 'language';
begin
  if new.email is null or new.email_confirmed_at is null
     or (tg_op = 'UPDATE' and old.email_confirmed_at is not null) then
    return new;
  end if;
  insert into public.notification_outbox (org_id, channel, template, recipient, payload, dedupe_key, language)
  values ((select o.id from public.organizations o where o.slug = new.raw_user_meta_data ->> 'org'),
          'email', 'welcome', new.email, jsonb_build_object('user_id', new.id), 'welcome:' || new.id,
          case when wanted ~ '^[a-z]{2}(-[A-Z]{2})?$' then wanted end)
  on conflict (dedupe_key) do nothing;
  return new;
end;
$$;
comment on function private.welcome_confirmed_user() is
  'AFTER INSERT/UPDATE OF email_confirmed_at on auth.users: queues one welcome email per user, once the address is confirmed.';
