"""/functions/v1/member-receipts/expenses/<expense id>  — the receipt image of a member's own expense.

    PUT     the image as the raw body (JPEG, PNG or WebP, checked by its bytes): stored, replacing any before
    GET     the image bytes
    DELETE  the receipt is removed

A signed-in member, their own expenses only (anyone else's: 404 expense_not_found). 415 not an image,
422 empty body or a declared type the bytes contradict, 413 too large, 503 storage not configured.
"""

from __future__ import annotations

import re

from uuid import UUID

import functions_framework
from pydantic import BaseModel

from shared.member import receipts
from shared.platform import contract, db, errors, http, log

EXPENSE = re.compile(r"^/expenses/(?P<id>[^/]+)/?$")


class Stored(BaseModel):
    expense_id: UUID
    content_type: str
    bytes: int


class Removed(BaseModel):
    expense_id: UUID
    removed: bool


@functions_framework.http
@http.function(methods=("GET", "PUT", "DELETE"), max_body_bytes=lambda cfg: cfg.storage.photo_max_bytes,
               operations=[
    contract.Operation("PUT", "/expenses/{expense_id}", summary="Store the receipt image (replacing any before)",
                       body_media=contract.IMAGES, answer=Stored, auth="user"),
    contract.Operation("GET", "/expenses/{expense_id}", summary="The receipt image", media=contract.IMAGES,
                       auth="user"),
    contract.Operation("DELETE", "/expenses/{expense_id}", summary="Remove the receipt", answer=Removed,
                       auth="user"),
])
def main(call: http.Call):
    call.require_user()
    found = EXPENSE.match(call.path)
    if not found:
        raise errors.not_found("no_route", f"No {call.method} {call.path} in member-receipts")
    expense_id = http.path_uuid(found["id"], "expense")
    store = http.storage_or_503(call.settings)
    if call.method == "GET":
        with db.transaction(call.caller) as cur:
            data, content_type = receipts.read(cur, store, expense_id)
        return http.Response(data, content_type=content_type,
                             headers={"cache-control": "private, max-age=300", "x-content-type-options": "nosniff"})
    if call.method == "PUT":
        with db.transaction(call.caller) as cur:
            stored = receipts.attach(cur, store, expense_id, call.raw_body, call.request.headers.get("content-type"))
        old = stored.pop("replaced")
    else:
        call.limit_body()
        with db.transaction(call.caller) as cur:
            old = receipts.remove(cur, expense_id)
        stored = {"expense_id": expense_id, "removed": True}
    if old:
        try:
            store.delete(old)
        except Exception as exc:  # an orphaned object costs storage, not correctness
            log.event("receipt_delete_failed", expense_id=expense_id, error=type(exc).__name__)
    return stored
