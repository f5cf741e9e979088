"""Demo data for `bookwell dev` and `bookwell seed`. Idempotent: run it twice, get the same world.

A demo organization with an owner, an admin and a staff member, plus a
customer who belongs to no organization. Later areas add their demo rows by
appending to SEEDERS (a function of the connection and the demo world).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared import auth, config

DEMO_ORG = {"name": "Bookwell Demo", "slug": "demo", "timezone": "Europe/London", "currency": "GBP"}
DEMO_USERS = [
    ("owner@demo.bookwell.dev", "Olive Owner", "owner"),
    ("admin@demo.bookwell.dev", "Adam Admin", "admin"),
    ("staff@demo.bookwell.dev", "Sam Staff", "staff"),
    ("customer@demo.bookwell.dev", "Cara Customer", None),
]

SEEDERS: list[Callable[[psycopg.Connection, dict], None]] = []


def _ensure_user(conn: psycopg.Connection, email: str, name: str | None) -> str:
    row = conn.execute("select id from auth.users where lower(email) = lower(%s)", (email,)).fetchone()
    if row:
        return str(row["id"])
    row = conn.execute(
        "insert into auth.users (email, email_confirmed_at, raw_user_meta_data)"
        " values (lower(%s), now(), %s) returning id",
        (email, Jsonb({"full_name": name} if name else {})),
    ).fetchone()
    return str(row["id"])


def ensure_user(database_url: str, email: str, name: str | None = None) -> str:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        return _ensure_user(conn, email, name)


def seed(database_url: str) -> dict:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn, conn.transaction():
        users = {email: _ensure_user(conn, email, name) for email, name, _ in DEMO_USERS}
        owner = users[DEMO_USERS[0][0]]
        org = conn.execute(
            """
            insert into public.organizations (name, slug, timezone, currency, created_by)
            values (%(name)s, %(slug)s, %(timezone)s, %(currency)s, %(owner)s)
            on conflict (slug) do update set name = excluded.name
            returning id, name, slug
            """,
            {**DEMO_ORG, "owner": owner},
        ).fetchone()
        for email, _, role in DEMO_USERS:
            if role:
                conn.execute(
                    "insert into public.memberships (org_id, user_id, role) values (%s, %s, %s)"
                    " on conflict (org_id, user_id) do nothing",
                    (org["id"], users[email], role),
                )
        demo = {"org": org, "users": [(email, users[email], role) for email, _, role in DEMO_USERS]}
        for seeder in SEEDERS:
            seeder(conn, demo)
        return demo


def describe(demo: dict, *, with_tokens: bool = False) -> list[str]:
    lines = [f"  demo org        {demo['org']['name']} (slug {demo['org']['slug']}, id {demo['org']['id']})"]
    for email, user_id, role in demo["users"]:
        lines.append(f"  {role or 'customer':15} {email}")
        if with_tokens:
            token = auth.mint(config.settings(), role="authenticated", sub=user_id, email=email,
                              ttl_seconds=7 * 24 * 3600)
            lines.append(f"                  token {token}")
    return lines
