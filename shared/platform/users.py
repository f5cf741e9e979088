"""Users as Supabase Auth (GoTrue) creates them.

The product never owns `auth.users`: GoTrue does. Demo users (`bookwell seed`),
`bookwell token` and the tests need users all the same, so they are created
the way GoTrue's admin API creates them, in one of two ways:

- against a hosted project (SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY set):
  through the Auth admin API itself (`auth.admin.create_user`), never by
  writing its tables;
- on a local or test database: one row in `auth.users` and its email identity
  in `auth.identities`, with every column GoTrue writes (instance id, aud,
  role, app metadata, the empty-string token columns GoTrue reads back as
  strings, timestamps), so the user works with GoTrue too.

Either way the profile trigger (routines/platform/triggers.sql) makes the profile.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from shared.platform.config import Settings

# GoTrue's instance id since it stopped being multi-tenant: the nil UUID.
INSTANCE_ID = "00000000-0000-0000-0000-000000000000"

_CREATE = """
with created as (
  insert into auth.users (
    instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
    confirmation_token, recovery_token, email_change_token_new, email_change,
    raw_app_meta_data, raw_user_meta_data, is_super_admin, created_at, updated_at, is_sso_user, is_anonymous)
  values (
    %(instance)s, gen_random_uuid(), 'authenticated', 'authenticated', lower(%(email)s), '',
    case when %(confirmed)s then now() end, '', '', '', '',
    '{"provider": "email", "providers": ["email"]}', %(metadata)s, null, now(), now(), false, false)
  returning id, email, email_confirmed_at
), identity as (
  insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
  select c.id::text, c.id,
         jsonb_build_object('sub', c.id::text, 'email', c.email,
                            'email_verified', c.email_confirmed_at is not null, 'phone_verified', false),
         'email', null, now(), now()
  from created c
  returning user_id
)
select user_id as id from identity
"""


def find(conn: psycopg.Connection, email: str) -> str | None:
    """The id of the (non-SSO) user with this email, or None."""
    row = conn.cursor(row_factory=tuple_row).execute(
        "select id::text from auth.users where lower(email) = lower(%s) and not is_sso_user", (email,)).fetchone()
    return row[0] if row else None


def create_in_database(conn: psycopg.Connection, email: str, *, full_name: str | None = None,
                       confirmed: bool = True) -> str:
    """A user (and its email identity) written as GoTrue writes them; returns the id."""
    metadata: dict[str, Any] = {"full_name": full_name} if full_name else {}
    row = conn.cursor(row_factory=tuple_row).execute(
        _CREATE, {"instance": INSTANCE_ID, "email": email, "confirmed": confirmed, "metadata": Jsonb(metadata)}
    ).fetchone()
    return str(row[0])


def uses_auth_api(settings: Settings) -> bool:
    """Whether users are created through a hosted project's Auth admin API."""
    return bool(settings.auth.supabase_url and settings.auth.service_role_key)


def create_through_auth_api(settings: Settings, email: str, *, full_name: str | None = None,
                            confirmed: bool = True) -> str:
    from supabase import create_client

    client = create_client(settings.auth.supabase_url, settings.auth.service_role_key)
    answer = client.auth.admin.create_user({
        "email": email, "email_confirm": confirmed, "user_metadata": {"full_name": full_name} if full_name else {}})
    return str(answer.user.id)


def ensure(database_url: str, email: str, *, full_name: str | None = None, settings: Settings) -> str:
    """The user with this email, created (confirmed) if missing: through the Auth admin API when the
    settings name a hosted project, else in the database as GoTrue would."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        found = find(conn, email)
        if found:
            return found
        if uses_auth_api(settings):
            return create_through_auth_api(settings, email, full_name=full_name)
        with conn.transaction():
            return create_in_database(conn, email, full_name=full_name)
