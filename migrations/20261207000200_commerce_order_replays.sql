-- Idempotency replays answer the order, never a token.
--
-- A replayed idempotency key used to rotate the order's tracking token and
-- return the new one: anyone who sent the same body with the same key (a key
-- such as "cart-00000042" is easily guessed) got a working guest link, and
-- the buyer's own stopped working. A key is not a credential. Now:
--   * keys are 32 to 200 characters (a UUID v4 is 36): long enough not to be
--     guessed, checked here (PT422 invalid_idempotency_key) and by the table;
--   * a replay (same key, same kind, same request, same buyer) answers the
--     order's current summary with "tracking_token": null and "replayed": true;
--     the token was shown once, to the first answer, and stays the only one;
--   * anything else sent with a known key is refused (idempotency_key_reused).
-- Both placing functions are redefined here with that branch; the rest of
-- their bodies is as in *_ticketing.sql and *_booking_locks.sql.
--
-- Re-based on 2026-12-07: the functions and triggers this migration created or replaced
-- are defined in routines/appointments/booking.sql, routines/commerce/orders.sql, routines/ticketing/events.sql.

-- Older rows keep their keys; every new key is checked.
alter table public.orders drop constraint orders_idempotency_key_check;
alter table public.orders add constraint orders_idempotency_key_check
  check (length(idempotency_key) between 32 and 200) not valid;
