"""Builders for test data: one call per thing, arranged as superuser."""

from __future__ import annotations

import uuid

from tests.support.pg import Db, User


def org(db: Db, owner: User | None = None, *, name: str | None = None,
        timezone: str = "Europe/London", currency: str = "GBP") -> dict:
    owner = owner or db.user()
    slug = f"org-{uuid.uuid4().hex[:10]}"
    row = db.one(
        "insert into public.organizations (name, slug, timezone, currency, created_by)"
        " values (%s, %s, %s, %s, %s) returning *",
        (name or slug, slug, timezone, currency, owner.id),
    )
    member(db, row, owner, "owner")
    row["owner"] = owner
    return row


def member(db: Db, organization: dict, user: User | None = None, role: str = "staff",
           scope: dict | None = None) -> User:
    user = user or db.user()
    import psycopg.types.json

    db.sql(
        "insert into public.memberships (org_id, user_id, role, scope) values (%s, %s, %s, %s)",
        (organization["id"], user.id, role, psycopg.types.json.Jsonb(scope or {})),
    )
    return user


def team(db: Db) -> dict:
    """An organization with one member per role, plus an outsider and a rival org."""
    organization = org(db)
    people = {"owner": organization["owner"]}
    for role in ("admin", "manager", "staff", "dispatcher", "driver", "affiliate"):
        people[role] = member(db, organization, role=role)
    people["outsider"] = db.user()
    rival = org(db)
    people["rival_owner"] = rival["owner"]
    return {"org": organization, "rival": rival, "people": people}
