import httpx


def test_health_answers_with_the_schema_version(functions_url, db):
    r = httpx.get(f"{functions_url}/health")
    assert r.status_code == 200, r.text
    assert r.json()["schema_version"] == db.value("select max(version) from supabase_migrations.schema_migrations")


def test_me_without_a_token_is_401(functions_url):
    r = httpx.get(f"{functions_url}/me")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_token"


def test_me_lists_the_callers_memberships(functions_url, db):
    from tests.support import factories

    organization = factories.org(db)
    owner = organization["owner"]
    r = httpx.get(f"{functions_url}/me", headers=owner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["profile"]["email"] == owner.email
    assert [(m["org_id"], m["role"]) for m in body["memberships"]] == [(str(organization["id"]), "owner")]
