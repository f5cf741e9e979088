"""GDPR export and erasure: /functions/v1/gdpr

    GET  ?org_id=<uuid>&email=<address>   an owner/admin exports what the org holds
                                          about that person (JSON download)
    GET  (no parameters)                  the signed-in person exports their own data
    POST {"org_id", "email"}              an owner/admin erases the person from the org

JWT required (supabase.toml: verify_jwt = true) and a signed-in user (401
otherwise); the RPCs run as the caller, so Postgres checks the role (403
not_org_admin). Exports are answered with content-disposition: attachment and
never cached.
"""

import json
from datetime import datetime, timezone
from uuid import UUID

import functions_framework
from pydantic import BaseModel, ConfigDict, Field

from shared.platform import contract, errors, http
from shared.privacy import gdpr


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_id: UUID | None = None
    email: str | None = Field(default=None, min_length=3, max_length=320)


class EraseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_id: UUID
    email: str = Field(min_length=3, max_length=320)


@functions_framework.http
@http.function(methods=("GET", "POST"), operations=[
    contract.Operation("GET", summary="Export what an org holds about a customer (org_id and email), or the "
                                      "caller's own data (neither), as a JSON download", query=ExportQuery,
                       auth="user"),
    contract.Operation("POST", summary="Erase a customer from an org (financial records kept anonymised)",
                       body=EraseRequest, auth="user"),
])
def main(call: http.Call):
    call.require_user()
    if call.method == "POST":
        req = call.json(EraseRequest)
        store = http.storage_or_503(call.settings)  # job photos' files go too
        return gdpr.erase_customer(call.caller, org_id=str(req.org_id), email=req.email, store=store)
    query = call.query(ExportQuery)
    if query.org_id is None and query.email is None:
        doc, name = gdpr.export_mine(call.caller), "my-data"
    else:
        if query.org_id is None or query.email is None:
            raise errors.unprocessable("invalid_request", "Give both org_id and email, or neither")
        doc, name = gdpr.export_customer(call.caller, org_id=str(query.org_id), email=query.email), "customer-data"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return http.Response(json.dumps(doc, ensure_ascii=False, indent=2), content_type="application/json",
                         headers={"cache-control": "private, no-store",
                                  "content-disposition": f'attachment; filename="{name}-{stamp}.json"'})
