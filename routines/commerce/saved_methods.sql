-- Commerce: saved payment methods (migrations/20261207002700_commerce_saved_payment_methods.sql).
--
-- Written only after the provider confirmed the method (shared/commerce/saved_methods.py), by the
-- service role for the user the function verified; read, used and removed by the signed-in caller
-- (auth.uid()), never for a user id they give.
-- Error codes: not_authenticated, method_not_found, method_taken.

create or replace function private.payment_customer(p_provider text) returns text
  language sql stable
  security definer
  set search_path = ''
as $$
  select customer_id from public.payment_customers
  where user_id = (select private.require_caller()) and provider = p_provider;
$$;
comment on function private.payment_customer(text) is 'The caller''s customer id at a provider, or null.';

create or replace function private.record_payment_customer(p_user_id uuid, p_provider text, p_customer_id text)
  returns text
  language sql
  security definer
  set search_path = ''
as $$
  insert into public.payment_customers (user_id, provider, customer_id)
  values (p_user_id, p_provider, p_customer_id)
  on conflict (user_id, provider) do update set provider = excluded.provider
  returning customer_id;
$$;
comment on function private.record_payment_customer(uuid, text, text) is
  'Records a user''s customer at a provider (the first one stays); returns the customer id kept.';

create or replace function private.save_payment_method(
  p_user_id uuid, p_provider text, p_method_id text, p_brand text, p_last4 text, p_exp_month integer, p_exp_year integer,
  p_wallet_email text
) returns public.saved_payment_methods
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  me uuid := p_user_id;
  saved public.saved_payment_methods;
begin
  insert into public.saved_payment_methods (user_id, provider, provider_method_id, brand, last4, exp_month,
                                            exp_year, wallet_email)
  values (me, p_provider, p_method_id, p_brand, p_last4, p_exp_month, p_exp_year, p_wallet_email)
  on conflict (provider, provider_method_id) do update set brand = excluded.brand
    where saved_payment_methods.user_id = me
  returning * into saved;
  if saved.id is null then
    raise exception using errcode = 'PT409', detail = 'method_taken', message = 'This payment method belongs to someone else';
  end if;
  return saved;
end;
$$;
comment on function private.save_payment_method(uuid, text, text, text, text, integer, integer, text) is
  'Saves a method the provider confirmed for the user (again: the same row). PT409 method_taken.';

-- The caller's own method (for checkout or removal), with their customer id at its provider.
create or replace function private.own_payment_method(p_id uuid) returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  found_row jsonb;
begin
  select to_jsonb(m) || jsonb_build_object('customer_id', c.customer_id) into found_row
  from public.saved_payment_methods m
  left join public.payment_customers c on c.user_id = m.user_id and c.provider = m.provider
  where m.id = p_id and m.user_id = (select private.require_caller());
  if found_row is null then
    raise exception using errcode = 'PT404', detail = 'method_not_found', message = 'No such saved payment method';
  end if;
  return found_row;
end;
$$;

create or replace function private.forget_payment_method(p_id uuid) returns void
  language sql
  security definer
  set search_path = ''
as $$
  delete from public.saved_payment_methods where id = p_id and user_id = (select private.require_caller());
$$;

grant execute on function
  private.payment_customer(text),
  private.own_payment_method(uuid),
  private.forget_payment_method(uuid)
  to authenticated, service_role;
grant execute on function
  private.record_payment_customer(uuid, text, text),
  private.save_payment_method(uuid, text, text, text, text, integer, integer, text)
  to service_role;
