"""GET /functions/v1/reports/<report>: every area's reports as JSON or CSV.

    GET /<report>?org_id=<uuid>&from=YYYY-MM-DD&to=YYYY-MM-DD[&group=…][&format=json|csv]

Reports (registered with shared/platform/reports.py by the areas): appointments
(shared/appointments/reports.py): revenue (group day|week|month|service|staff),
bookings and cancellations (day|week|month), peak-hours, utilisation,
ratings (staff|service); chauffeur (shared/chauffeur/reports.py): trip-revenue
(class|driver|affiliate), trips (driver), commission (affiliate); commerce
(shared/commerce/transactions.py): transactions (stripe|paypal: only that provider's). Dates are local dates in the org's timezone, at
most 366 days. JSON by default: {report, org_id, from, to, group, columns,
rows}, money as integer minor units with its currency. CSV with format=csv
or `Accept: text/csv` (format wins): a header row, money as decimal strings,
sent as an attachment.

supabase.toml: verify_jwt = true, and a signed-in user is required (401
otherwise). The RPCs run as the caller: owners and admins see their org,
managers their scope (chauffeur: dispatchers too), anyone else 403; bad parameters 422.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any, Literal

import functions_framework
from pydantic import BaseModel, ConfigDict, Field

import shared.areas  # noqa: F401  every area's reports
from shared.platform import contract, db, errors, http, reports

REPORT_PATH = re.compile(r"^/([a-z-]{1,40})/?$")


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    org_id: uuid.UUID
    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")
    group: str | None = Field(None, max_length=20)
    format: Literal["json", "csv"] | None = None


class Report(BaseModel):
    """One report as JSON: money as integer minor units with its currency."""

    model_config = ConfigDict(populate_by_name=True)
    report: str
    org_id: uuid.UUID
    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")
    group: str | None
    columns: list[str]
    rows: list[dict[str, Any]]


@functions_framework.http
@http.function(methods=("GET",), operations=[
    contract.Operation("GET", "/{report}", summary="One report of an org as JSON or CSV", query=Query,
                       answer=Report, media=(contract.JSON, "text/csv"), auth="user",
                       params={"report": {"type": "string", "enum": sorted(reports.REPORTS)}}),
])
def main(call: http.Call):
    call.require_user()
    found = REPORT_PATH.match(call.path)
    if not found:
        raise errors.not_found("unknown_report", f"Ask for one of /{', /'.join(reports.REPORTS)}")
    name = found.group(1)
    reports.find(name, call.request.args.get("group"))  # 404 for an unknown report before the query is judged
    query = call.query(Query)
    as_csv = query.format == "csv" or (query.format is None and http.prefers(call.request, "text/csv"))
    with db.transaction(call.caller) as cur:
        result = reports.run(cur, name, org_id=str(query.org_id), date_from=query.date_from,
                             date_to=query.date_to, group=query.group)
    if as_csv:
        return http.Response(reports.to_csv(result), content_type=reports.CSV_CONTENT_TYPE, headers={
            "content-disposition": f'attachment; filename="{reports.filename(result)}"',
            "cache-control": "private, no-store"})
    return http.Response(result, headers={"cache-control": "private, no-store"})

