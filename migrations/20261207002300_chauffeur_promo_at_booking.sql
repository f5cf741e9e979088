-- Chauffeur: a promo code is redeemed when the trip is booked. The booking's order is opened with the
-- code (routines/chauffeur/payments.sql), so the function that opens it takes one more argument and its
-- old definition goes.

drop function if exists private.open_reservation_order(public.reservations);
