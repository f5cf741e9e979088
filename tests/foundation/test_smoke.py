import httpx


def test_health_answers_with_the_schema_version(functions_url, db):
    r = httpx.get(f"{functions_url}/health")
    assert r.status_code == 200, r.text
    assert r.json()["schema_version"] == db.value("select max(version) from supabase_migrations.schema_migrations")


def test_health_reports_the_outbox_backlog_and_its_oldest_message(functions_url, db):
    db.sql("delete from public.notification_outbox where status in ('pending', 'sending')")
    assert httpx.get(f"{functions_url}/health").json()["outbox"] == {"waiting": 0, "oldest_seconds": 0}
    db.sql("insert into public.notification_outbox (channel, template, recipient, created_at) values"
           " ('email', 'welcome', 'stuck@example.com', now() - interval '20 minutes'),"
           " ('email', 'welcome', 'fresh@example.com', now())")
    db.sql("insert into public.notification_outbox (channel, template, recipient, status, created_at) values"
           " ('email', 'welcome', 'done@example.com', 'sent', now() - interval '2 days')")
    outbox = httpx.get(f"{functions_url}/health").json()["outbox"]
    assert outbox["waiting"] == 2 and 20 * 60 <= outbox["oldest_seconds"] < 21 * 60


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
