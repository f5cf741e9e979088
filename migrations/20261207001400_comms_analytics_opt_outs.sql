-- Communications: message analytics count opt-outs.
--
-- message_analytics gains a column (opted_out), so its old definition is
-- dropped here and routines/comms/delivery.sql creates the new one (a
-- function's result columns cannot change in place).

drop function if exists public.message_analytics(uuid, date, date);
drop function if exists private.message_analytics(uuid, date, date);
