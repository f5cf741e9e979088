"""POST /functions/v1/housekeeping (service role; cron every ten minutes)

Clears what only grows: rate-limit counters that have gone idle (a counter due
in the past says nothing a fresh one would not). Answers what it removed.
"""

import functions_framework

from shared.platform import db, http


@functions_framework.http
@http.function()
def main(call: http.Call):
    call.require_service()
    with db.as_service() as cur:
        cur.execute("select private.purge_idle_rate_limits() as rate_limits")
        return cur.fetchone()
