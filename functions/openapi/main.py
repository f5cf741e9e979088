"""GET /functions/v1/openapi: the OpenAPI 3.1 contract of every function (also at /openapi.json under it).

The document is functions/openapi/openapi.json, generated from the operations each function declares
(shared/platform/contract.py) by scripts/gen_openapi.py and checked in; tests/foundation/test_openapi.py
fails when it no longer matches the code, and tests/foundation/test_fuzz.py runs schemathesis over every
operation in it. No sign-in (supabase.toml: verify_jwt = false): the contract is public, as the code is.
"""

from pathlib import Path

import functions_framework

from shared.platform import contract, errors, http

DOCUMENT = Path(__file__).with_name("openapi.json")


@functions_framework.http
@http.function(methods=("GET",), operations=[
    contract.Operation("GET", summary="This document", auth="none"),
    contract.Operation("GET", "/openapi.json", summary="This document", auth="none"),
])
def main(call: http.Call):
    if call.path.rstrip("/") not in ("", "/openapi.json"):
        raise errors.not_found("no_route", f"No {call.method} {call.path} in openapi")
    return http.Response(DOCUMENT.read_bytes(), content_type="application/json",
                         headers={"cache-control": "public, max-age=300"})
