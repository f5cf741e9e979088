"""GET /functions/v1/health: for an uptime check.

A database round trip and the migration level (503 database_unavailable if the database does not answer),
and the outbox backlog: how many messages wait to be sent and how old the oldest is, in seconds, so a check
can alert when the sending worker is stuck (e.g. oldest_seconds above 900 while cron runs every minute).
"""

import functions_framework

from shared.comms import notifications
from shared.platform import http, tenancy


@functions_framework.http
@http.function(methods=("GET",))
def main(call: http.Call):
    answer = tenancy.health()
    return answer | {"outbox": notifications.backlog()}
