-- private.insert_order takes the order's event (p_event_id), so the ticket placer inserts its orders
-- through it too: one copy of the draw-again loop. Its new signature is defined in
-- routines/commerce/orders.sql; the old one goes, or calls would be ambiguous.
drop function if exists private.insert_order(uuid, public.order_kind, uuid, text, text, text, bigint, bytea, text, text,
                                             timestamptz, jsonb);
