"""Chauffeur reports, registered with shared.platform.reports (served by functions/reports):

    trip-revenue    group = class (default) | driver | affiliate: completed trips and what they came to
    trips           per driver: completed, cancelled, no-shows, average rating
    commission      per affiliate: the settlement of commission payable on completed farmed-out trips

Computed in Postgres (routines/chauffeur/reports.sql) for owners, admins and dispatchers.
"""

from __future__ import annotations

from shared.platform.reports import Report, register

register("trip-revenue", Report(
    {g: f"select * from public.report_trip_revenue(%s, %s, %s, '{g}')" for g in ("class", "driver", "affiliate")},
    "class"))
register("trips", Report({None: "select * from public.report_trips_per_driver(%s, %s, %s)"}, None))
register("commission", Report({None: "select * from public.report_commission(%s, %s, %s)"}, None))
