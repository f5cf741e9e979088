"""Users as Supabase Auth creates them (shared/platform/users.py).

Locally the rows GoTrue writes (auth.users with its identity, every column GoTrue reads back set);
against a hosted project, through the Auth admin API with the real supabase SDK, here answered by
the GoTrue stand-in (shared/devstack/standins/auth_standin.py). Either way the profile follows.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from shared.platform import auth, config, users
from shared.platform.config import PROJECT_ROOT
from shared.devstack.standins.auth_standin import AuthStandin
from tests.support.cli import BOOKWELL, ok
from tests.standins import serve


def gotrue_columns(db, user_id: str) -> dict:
    return db.one("select u.id::text, u.aud, u.role, u.instance_id::text, u.email, u.email_confirmed_at is not null"
                  " as confirmed, u.confirmation_token, u.recovery_token, u.email_change_token_new, u.email_change,"
                  " u.raw_app_meta_data, u.created_at is not null as stamped, i.provider,"
                  " i.identity_data ->> 'sub' as sub, p.full_name from auth.users u"
                  " join auth.identities i on i.user_id = u.id join public.profiles p on p.id = u.id"
                  " where u.id = %s", (user_id,))


def expected(user_id: str, email: str, name: str | None, confirmed: bool = True) -> dict:
    return {"id": user_id, "aud": "authenticated", "role": "authenticated", "instance_id": users.INSTANCE_ID,
            "email": email, "confirmed": confirmed, "confirmation_token": "", "recovery_token": "",
            "email_change_token_new": "", "email_change": "",
            "raw_app_meta_data": {"provider": "email", "providers": ["email"]}, "stamped": True,
            "provider": "email", "sub": user_id, "full_name": name}


def test_a_local_user_has_every_column_gotrue_writes_and_its_identity(db, database_url):
    user_id = users.ensure(database_url, "Lou.Local@Example.com", full_name="Lou Local", settings=config.settings())
    assert gotrue_columns(db, user_id) == expected(user_id, "lou.local@example.com", "Lou Local")
    # GoTrue's own table: no id default, a generated confirmed_at, one user per (non-SSO) email.
    assert users.ensure(database_url, "LOU.local@example.com", settings=config.settings()) == user_id
    assert db.value("select column_default from information_schema.columns"
                    " where table_schema = 'auth' and table_name = 'users' and column_name = 'id'") is None
    assert db.value("select is_generated from information_schema.columns"
                    " where table_schema = 'auth' and table_name = 'users' and column_name = 'confirmed_at'") == "ALWAYS"


@pytest.fixture
def hosted(database_url):
    """SUPABASE_URL pointing at the GoTrue stand-in, with the project's service-role key."""
    settings = config.settings()
    standin = AuthStandin(database_url, settings.auth.jwt_secret)
    with serve(standin.wsgi) as url:
        yield {"standin": standin, "env": {"SUPABASE_URL": url,
                                           "SUPABASE_SERVICE_ROLE_KEY": auth.api_keys(settings)["service_role"]}}


def test_against_a_hosted_project_token_and_seed_create_users_through_the_auth_admin_api(db, database_url, hosted):
    env = {**os.environ, "DATABASE_URL": database_url, **hosted["env"]}
    token = ok(subprocess.run([str(BOOKWELL), "token", "--email", "hana@example.com", "--name", "Hana Hosted"],
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)).strip()
    caller = auth.verify(token, config.settings())
    assert [c["body"] for c in hosted["standin"].calls] == [
        {"email": "hana@example.com", "email_confirm": True, "user_metadata": {"full_name": "Hana Hosted"}}]
    assert gotrue_columns(db, caller.user_id) == expected(caller.user_id, "hana@example.com", "Hana Hosted")
    # The same email again is found, not created twice; the admin API is not asked.
    again = ok(subprocess.run([str(BOOKWELL), "token", "--email", "hana@example.com"], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=120)).strip()
    assert auth.verify(again, config.settings()).user_id == caller.user_id and len(hosted["standin"].calls) == 1
    ok(subprocess.run([str(BOOKWELL), "seed"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                      timeout=120))
    assert {c["body"]["email"] for c in hosted["standin"].calls[1:]} == {
        "owner@demo.bookwell.dev", "admin@demo.bookwell.dev", "staff@demo.bookwell.dev", "dispatcher@demo.bookwell.dev",
        "driver@demo.bookwell.dev", "customer@demo.bookwell.dev"}


def test_the_auth_standin_refuses_what_gotrue_refuses(hosted, database_url):
    import httpx

    url = hosted["env"]["SUPABASE_URL"] + "/auth/v1/admin/users"
    anon = auth.api_keys(config.settings())["anon"]
    body = {"email": "x@example.com", "email_confirm": True}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers={"apikey": anon, "Authorization": f"Bearer {anon}"}).status_code == 403
    service = hosted["env"]["SUPABASE_SERVICE_ROLE_KEY"]
    headers = {"apikey": service, "Authorization": f"Bearer {service}"}
    assert httpx.post(url, json=body, headers=headers).status_code == 200
    taken = httpx.post(url, json=body, headers=headers)
    assert taken.status_code == 422 and taken.json()["error_code"] == "email_exists"
