"""GET /functions/v1/health: a database round trip and the schema version."""

import functions_framework

from shared.platform import http, tenancy


@functions_framework.http
@http.function(methods=("GET",))
def main(call: http.Call):
    return tenancy.health()
