"""POST /functions/v1/refresh-event-stats (service role; cron)

Refreshes the event statistics (sold, held, revenue, refunds, check-ins) that
dashboards read through the event_statistics RPC.
"""

import functions_framework
from pydantic import BaseModel

from shared.platform import contract, db, http


class Refreshed(BaseModel):
    refreshed: bool


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Refresh the event statistics", answer=Refreshed, auth="service"),
])
def main(call: http.Call):
    call.require_service()
    with db.as_service() as cur:
        cur.execute("select private.refresh_event_stats()")
    return {"refreshed": True}
