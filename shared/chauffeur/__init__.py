"""Chauffeur reservations: quotes with an itemised breakdown, reservations, dispatch of drivers and
vehicles (never double-booked: the database's exclusion constraints), the driver's steps. The rules
live in Postgres (routines/chauffeur/); this package holds the area's message kinds,
order describer and reports."""
