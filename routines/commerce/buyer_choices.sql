-- Commerce: what a buyer chooses at checkout about the messages they get.
--
-- The language they read (remembered per org and address, so every later
-- message to them is in it: routines/comms/languages.sql), and consent to
-- offers by email, or by SMS to a number they give. A ticked box is consent,
-- recorded with the order as its evidence (source 'checkout'); an unticked
-- box changes nothing, since only the person's own act (the unsubscribe
-- link, the org on their request) withdraws consent once given.
--
-- Called by shared/commerce/checkout.py in the transaction that placed the
-- order, as the caller: whoever holds the order's number and tracking token,
-- which only its buyer was given, so no one records a choice for another.

create or replace function private.record_buyer_choices(
  p_order_number text, p_tracking_token text, p_language text, p_marketing_email boolean,
  p_marketing_sms_phone text
) returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  -- Checked once, before the query: in its WHERE clause the check would run once per row of orders.
  holder uuid := private.authorize_token_holder('public.orders', p_order_number, p_tracking_token);
  ord public.orders;
  evidence jsonb;
begin
  select * into ord from public.orders where id = holder;
  if not found then
    raise exception using errcode = 'PT404', detail = 'order_not_found', message = 'No such order';
  end if;
  if p_language is not null and p_language !~ '^[a-z]{2}(-[A-Z]{2})?$' then
    raise exception using errcode = 'PT422', detail = 'invalid_language',
      message = 'The language must be a code such as en, de or fr-CA';
  end if;
  perform private.remember_language(ord.org_id, 'email', ord.buyer_email, p_language, 'checkout');
  perform private.remember_language(ord.org_id, 'sms', p_marketing_sms_phone, p_language, 'checkout');
  evidence := jsonb_build_object('order_id', ord.id, 'order_number', ord.number, 'recorded_at', now());
  if p_marketing_email then
    perform private.record_consent(ord.org_id, 'email', ord.buyer_email, true, 'checkout', evidence);
  end if;
  if nullif(btrim(p_marketing_sms_phone), '') is not null then
    perform private.record_consent(ord.org_id, 'sms', p_marketing_sms_phone, true, 'checkout', evidence);
  end if;
end;
$$;
comment on function private.record_buyer_choices(text, text, text, boolean, text) is
  'The buyer''s language and marketing consent, for the holder of the order''s number and tracking token. '
  'PT404 order_not_found, PT422 invalid_language / invalid_address (the SMS number), PT429 throttled.';
grant execute on function private.record_buyer_choices(text, text, text, boolean, text) to anon, authenticated, service_role;
