"""POST /functions/v1/housekeeping (service role; cron every ten minutes)

Clears what only grows: rate-limit counters that have gone idle (a counter due
in the past says nothing a fresh one would not). Answers what it removed.
"""

import functions_framework
from pydantic import BaseModel, Field

from shared.platform import contract, db, http


class Removed(BaseModel):
    rate_limits: int = Field(description="idle rate-limit counters removed")


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Clear idle rate-limit counters", answer=Removed, auth="service"),
])
def main(call: http.Call):
    call.require_service()
    with db.as_service() as cur:
        cur.execute("select private.purge_idle_rate_limits() as rate_limits")
        return cur.fetchone()
