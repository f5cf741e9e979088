"""GET /functions/v1/me: the caller's profile and memberships, read under RLS."""

import functions_framework

from shared.platform import db, http, tenancy


@functions_framework.http
@http.function(methods=("GET",))
def main(call: http.Call):
    call.require_user()
    with db.transaction(call.caller) as cur:
        return tenancy.describe_caller(cur)
