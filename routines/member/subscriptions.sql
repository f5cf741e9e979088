-- Member app: the tier follows the member's subscription (migrations/*_member_subscriptions.sql).
--
-- private.apply_member_subscription records the subscription's current state (from Stripe, read when
-- its webhook arrives) and sets the member's tier: 'plus' while the subscription is active, trialing or
-- past_due (Stripe is retrying the card: a grace period), 'free' otherwise. A downgrade keeps every row
-- readable; only what the free tier limits (new budgets beyond three) is refused from then on.

create or replace function private.apply_member_subscription(
  p_user_id uuid, p_subscription_id text, p_customer_id text, p_status text, p_lookup_key text,
  p_period_end timestamptz, p_cancel_at_period_end boolean
) returns public.member_tier
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  tier public.member_tier := case when p_status in ('active', 'trialing', 'past_due') then 'plus' else 'free' end;
begin
  if not exists (select 1 from public.profiles where id = p_user_id) then
    return null;
  end if;
  insert into public.member_subscriptions as s (user_id, subscription_id, customer_id, status, price_lookup_key,
                                                current_period_end, cancel_at_period_end)
  values (p_user_id, p_subscription_id, p_customer_id, p_status, p_lookup_key, p_period_end, p_cancel_at_period_end)
  on conflict (user_id) do update
    set subscription_id = excluded.subscription_id, customer_id = excluded.customer_id, status = excluded.status,
        price_lookup_key = excluded.price_lookup_key, current_period_end = excluded.current_period_end,
        cancel_at_period_end = excluded.cancel_at_period_end, updated_at = now()
    -- A finished subscription's late news does not undo a newer one the member took since.
    where s.subscription_id = excluded.subscription_id or excluded.status in ('active', 'trialing', 'past_due');
  insert into public.member_settings (user_id, tier) values (p_user_id, tier)
  on conflict (user_id) do update set tier = excluded.tier, updated_at = now()
  where (select s.subscription_id from public.member_subscriptions s where s.user_id = p_user_id) = p_subscription_id;
  return tier;
end;
$$;
comment on function private.apply_member_subscription(uuid, text, text, text, text, timestamptz, boolean) is
  'Records a member''s Stripe subscription as Stripe has it now and sets their tier (plus while active, '
  'trialing or past_due; free otherwise). Null for an unknown user.';
grant execute on function private.apply_member_subscription(uuid, text, text, text, text, timestamptz, boolean)
  to service_role;
