"""GET /functions/v1/me: the caller's profile and memberships, read under RLS."""

from datetime import datetime
from uuid import UUID

import functions_framework
from pydantic import BaseModel

from shared.platform import contract, db, http, tenancy


class Profile(BaseModel):
    id: UUID
    email: str | None
    full_name: str | None
    phone: str | None
    avatar_url: str | None
    created_at: datetime


class Membership(BaseModel):
    org_id: UUID
    org_name: str
    org_slug: str
    role: str
    scope: dict


class Me(BaseModel):
    profile: Profile | None
    memberships: list[Membership]


@functions_framework.http
@http.function(methods=("GET",), operations=[
    contract.Operation("GET", summary="The caller's profile and memberships", answer=Me, auth="user"),
])
def main(call: http.Call):
    call.require_user()
    with db.transaction(call.caller) as cur:
        return tenancy.describe_caller(cur)
