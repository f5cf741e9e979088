"""GET /functions/v1/message-analytics?org_id=<uuid>&from=YYYY-MM-DD&to=YYYY-MM-DD[&format=json|csv]

Per local day (the org's timezone), template and channel: messages queued,
sent, delivered, opened, clicked, bounced, complained about, failed, and not
sent to a suppressed address (routines/comms/delivery.sql). JSON by default;
CSV with format=csv or `Accept: text/csv` (format wins), as an attachment.
A signed-in owner or admin of the org; anyone else 403 not_an_admin; a bad
range 422.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

import functions_framework
from pydantic import BaseModel, ConfigDict, Field

from shared.comms import analytics
from shared.platform import contract, db, http


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    org_id: uuid.UUID
    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")
    format: Literal["json", "csv"] | None = None


class Analytics(BaseModel):
    """A row per local day, template and channel (shared/comms/analytics.py COLUMNS)."""

    model_config = ConfigDict(populate_by_name=True)
    org_id: uuid.UUID
    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")
    columns: list[str]
    rows: list[dict[str, Any]]


@functions_framework.http
@http.function(methods=("GET",), operations=[
    contract.Operation("GET", summary="Messages per day, template and channel, as JSON or CSV", query=Query,
                       answer=Analytics, media=(contract.JSON, "text/csv"), auth="user"),
])
def main(call: http.Call):
    call.require_user()
    query = call.query(Query)
    with db.transaction(call.caller) as cur:
        result = analytics.run(cur, org_id=str(query.org_id), date_from=query.date_from, date_to=query.date_to)
    if query.format == "csv" or (query.format is None and http.prefers(call.request, "text/csv")):
        return http.Response(analytics.to_csv(result), content_type=analytics.CSV_CONTENT_TYPE, headers={
            "content-disposition": f'attachment; filename="{analytics.filename(result)}"'})
    return result
