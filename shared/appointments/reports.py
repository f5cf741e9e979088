"""Appointment reports (issue 5, deliverable 11), registered with shared.platform.reports.

The database computes every figure (routines/appointments/reports.sql): owners/admins see the org,
managers their scope, anyone else PT403 not_a_manager.

    revenue         group = day (default) | week | month | service | staff
    bookings        group = day (default) | week | month
    cancellations   group = day (default) | week | month
    peak-hours      (no group)
    utilisation     (no group)
    ratings         group = staff (default) | service
"""

from __future__ import annotations

from shared.platform.reports import Report, register


def _by_period(rpc: str) -> dict[str | None, str]:
    return {g: f"select * from public.{rpc}(%s, %s, %s, '{g}')" for g in ("day", "week", "month")}


register("revenue", Report({
    **_by_period("report_revenue"),
    "service": "select * from public.report_revenue_by_service(%s, %s, %s)",
    "staff": "select * from public.report_revenue_by_staff(%s, %s, %s)",
}, "day"))
register("bookings", Report(_by_period("report_bookings"), "day"))
register("cancellations", Report(_by_period("report_cancellations"), "day"))
register("peak-hours", Report({None: "select * from public.report_peak_hours(%s, %s, %s)"}, None))
register("utilisation", Report({None: "select * from public.report_staff_utilisation(%s, %s, %s)"}, None))
register("ratings", Report({g: f"select * from public.report_ratings(%s, %s, %s, '{g}')" for g in ("staff", "service")},
                           "staff"))
