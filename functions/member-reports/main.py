"""GET /functions/v1/member-reports/<report>  — a member's own money reports, as JSON or CSV.

    /spending?from=YYYY-MM-DD&to=YYYY-MM-DD[&group=week|month|quarter|year]   spent per period and category
    /income-vs-expenses?from&to[&group]                                        income, expenses and net per period
    /budget-vs-actual[?on=YYYY-MM-DD]                                          each budget's current period
    /trip-costs                                                                what each trip cost (per day, per km)

`format=csv` (or `Accept: text/csv`): a header row, money as decimal strings in each row's currency.
A signed-in member only (401 otherwise); the RPCs run as them, so RLS limits every figure to their own
rows. 422 for bad dates or groups, 404 for an unknown report.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

import functions_framework
from pydantic import BaseModel, ConfigDict, Field

from shared.platform import contract, db, errors, http, reports

REPORTS = {
    "spending": ("select * from public.member_spending(%(from)s, %(to)s, %(group)s)", True),
    "income-vs-expenses": ("select * from public.member_income_vs_expenses(%(from)s, %(to)s, %(group)s)", True),
    "budget-vs-actual": ("select * from public.member_budget_vs_actual(%(on)s)", False),
    "trip-costs": ("select * from public.member_trip_costs()", False),
}
PATH = re.compile(r"^/([a-z-]{1,40})/?$")


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    date_from: date | None = Field(None, alias="from")
    date_to: date | None = Field(None, alias="to")
    on: date | None = None
    group: str | None = Field(None, max_length=10)
    format: Literal["json", "csv"] | None = None


class Report(BaseModel):
    """One report as JSON: a row per period, category, budget or trip, money in minor units with its currency."""

    model_config = ConfigDict(populate_by_name=True)
    report: str
    date_from: date | None = Field(alias="from")
    date_to: date | None = Field(alias="to")
    group: str | None
    columns: list[str]
    rows: list[dict[str, Any]]


AS_CSV = (contract.JSON, "text/csv")
SUMMARIES = {
    "spending": "Spent per period and category (from, to, group)",
    "income-vs-expenses": "Income, expenses and net per period (from, to, group)",
    "budget-vs-actual": "Each budget's current period (on)",
    "trip-costs": "What each trip cost, per day and per km",
}


@functions_framework.http
@http.function(methods=("GET",), operations=[
    contract.Operation("GET", f"/{name}", summary=SUMMARIES[name], query=Query, answer=Report, media=AS_CSV,
                       auth="user")
    for name in REPORTS
])
def main(call: http.Call):
    call.require_user()
    found = PATH.match(call.path)
    if not found or found.group(1) not in REPORTS:
        raise errors.not_found("unknown_report", f"Ask for one of /{', /'.join(REPORTS)}")
    name = found.group(1)
    statement, ranged = REPORTS[name]
    query = call.query(Query)
    if ranged and (query.date_from is None or query.date_to is None):
        raise errors.unprocessable("invalid_date_range", "Give from and to dates (YYYY-MM-DD)")
    with db.transaction(call.caller) as cur:
        cur.execute(statement, {"from": query.date_from, "to": query.date_to, "group": query.group or "month",
                                "on": query.on})
        result = {"report": name, "from": query.date_from or query.on or date.min, "to": query.date_to or date.min,
                  "group": query.group if ranged else None, "columns": [c.name for c in cur.description],
                  "rows": cur.fetchall()}
    if query.format == "csv" or (query.format is None and http.prefers(call.request, "text/csv")):
        return http.Response(reports.to_csv(result), content_type=reports.CSV_CONTENT_TYPE, headers={
            "content-disposition": f'attachment; filename="{name}.csv"', "cache-control": "private, no-store"})
    return http.Response({k: v for k, v in result.items() if k not in ("from", "to")} | {
        "from": query.date_from, "to": query.date_to}, headers={"cache-control": "private, no-store"})
