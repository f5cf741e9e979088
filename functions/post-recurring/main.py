"""POST /functions/v1/post-recurring  (cron, service role)

Posts every due date of members' recurring expenses and income (insurance, campsite memberships, a
pension) up to each member's own today, once per template and date however often or concurrently it
runs; templates that wait for their member's confirmation are only counted. {posted, due_for_confirmation}.
"""

import functions_framework
from pydantic import BaseModel

from shared.platform import contract, db, http


class Posted(BaseModel):
    posted: int
    due_for_confirmation: int


@functions_framework.http
@http.function(operations=[
    contract.Operation("POST", summary="Post members' due recurring expenses and income", answer=Posted,
                       auth="service"),
])
def main(call: http.Call):
    call.require_service()
    with db.as_service() as cur:
        cur.execute("select private.post_due_recurring() as result")
        return cur.fetchone()["result"]
