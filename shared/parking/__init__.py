"""Airport parking: lots, products, per-day capacity, bookings through checkout (kind "parking"),
changes by the org's policy, and the gates. The rules live in Postgres (routines/parking/*.sql);
this package registers the order kind, the messages and the change/gate function's Python side."""
