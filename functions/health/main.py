"""GET /functions/v1/health: for an uptime check.

A database round trip and the migration level (503 database_unavailable if the database does not answer),
and the outbox backlog: how many messages wait to be sent and how old the oldest is, in seconds, so a check
can alert when the sending worker is stuck (e.g. oldest_seconds above 900 while cron runs every minute).
"""

from typing import Literal

import functions_framework
from pydantic import BaseModel, Field

from shared.comms import notifications
from shared.platform import contract, http, tenancy


class Outbox(BaseModel):
    waiting: int = Field(description="messages pending or being sent")
    oldest_seconds: int = Field(description="age of the oldest waiting message in seconds; 0 when none waits")


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]
    schema_version: str | None = Field(description="the latest migration applied")
    latency_ms: float = Field(description="the database round trip")
    outbox: Outbox


@functions_framework.http
@http.function(methods=("GET",), operations=[
    contract.Operation("GET", summary="Database round trip, migration level and outbox backlog",
                       answer=Health, auth="none"),
])
def main(call: http.Call):
    answer = tenancy.health()
    return answer | {"outbox": notifications.backlog()}
