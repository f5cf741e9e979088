"""`bookwell` as a user runs it: a subprocess with DATABASE_URL set to this
module's test database."""

from __future__ import annotations

import re

import pytest

from shared.platform import auth, config, migrate
from shared.platform.errors import DomainError
from tests.support.cli import UUID, bookwell, ok, one_line_failure  # noqa: F401  (bookwell: a fixture)


def test_migrate_status_lists_the_applied_migrations(bookwell, db) -> None:
    out = ok(bookwell("migrate", "--status"))
    lines = out.strip().splitlines()
    assert any(re.fullmatch(r"applied\s+\d{14}_platform_tenancy\.sql", line) for line in lines), out
    assert all(re.fullmatch(r"(applied|pending)  \d{14}_[a-z0-9_]+\.sql", line) for line in lines), out
    assert [line.split()[1] for line in lines] == [m.path.name for m in migrate.discover()]
    recorded = db.sql("select version, name from supabase_migrations.schema_migrations order by version")
    assert {f"applied  {r['version']}_{r['name']}.sql" for r in recorded} <= set(lines)


def test_migrate_on_a_migrated_database_applies_nothing(bookwell, db) -> None:
    before = db.value("select count(*) from supabase_migrations.schema_migrations")
    out = ok(bookwell("migrate"))
    assert out.strip().splitlines()[-1] == "0 migration(s) applied; routines and policies re-applied"
    assert db.value("select count(*) from supabase_migrations.schema_migrations") == before


def test_token_prints_a_verifiable_jwt_and_creates_the_user(bookwell, db) -> None:
    email = "x@example.com"
    assert db.value("select count(*) from auth.users where lower(email) = %s", (email,)) == 0

    token = ok(bookwell("token", "--email", email)).strip().splitlines()[-1]

    caller = auth.verify(token, config.settings())
    assert caller.role == "authenticated"
    assert caller.email == email
    user_id = db.value("select id::text from auth.users where email = %s", (email,))
    assert caller.user_id == user_id
    assert db.one("select id::text, email from public.profiles where id = %s", (user_id,)) == {
        "id": user_id, "email": email}

    again = ok(bookwell("token", "--email", email.upper())).strip().splitlines()[-1]
    assert auth.verify(again, config.settings()).user_id == user_id
    assert db.value("select count(*) from auth.users where lower(email) = %s", (email,)) == 1


def test_token_is_signed_with_the_configured_secret(bookwell) -> None:
    token = ok(bookwell("token", "--email", "y@example.com")).strip().splitlines()[-1]
    other = config.Settings(SUPABASE_JWT_SECRET="another-secret-that-is-at-least-32-characters")
    with pytest.raises(DomainError) as refused:
        auth.verify(token, other)
    assert (refused.value.status, refused.value.code) == (401, "invalid_token")


def test_seed_twice_is_idempotent(bookwell, db) -> None:
    def seed() -> tuple[str, int, int]:
        out = ok(bookwell("seed"))
        match = re.search(rf"slug (\S+), id ({UUID})\)", out)
        assert match, out
        slug, org_id = match.groups()
        assert db.value("select id::text from public.organizations where slug = %s", (slug,)) == org_id
        members = db.value("select count(*) from public.memberships where org_id = %s", (org_id,))
        users = db.value("select count(*) from auth.users")
        return org_id, members, users

    first = seed()
    assert first[1] > 0
    assert seed() == first
    # The demo cleaning business takes bookings in SE1 next week.
    service = db.value("select id from public.services where org_id = %s and name = 'Regular clean'", (first[0],))
    assert db.value("select count(*) from public.services where org_id = %s", (first[0],)) == 2
    slots = db.value("select public.available_slots(%s, 'SE1 7PB', current_date + 7, current_date + 13)", (service,))
    assert sum(len(day["slots"]) for day in slots) > 0, slots
    # The demo chauffeur service (once, however often seeded) quotes an airport run from Heathrow.
    fleet = db.one("select (select count(*) from public.vehicle_classes where org_id = %(o)s) as classes,"
                   " (select count(*) from public.vehicles where org_id = %(o)s) as vehicles,"
                   " (select count(*) from public.drivers where org_id = %(o)s) as drivers,"
                   " (select count(*) from public.chauffeur_rate_rules where org_id = %(o)s) as rules", {"o": first[0]})
    assert fleet == {"classes": 2, "vehicles": 2, "drivers": 1, "rules": 5}
    sedan = db.value("select id from public.vehicle_classes where org_id = %s and name = 'Executive Sedan'", (first[0],))
    quote = db.value("select public.quote_reservation(%s, jsonb_build_object('service_type', 'airport_transfer',"
                     " 'class_id', %s::text, 'pickup_at', (now() + interval '3 days')::text, 'stops', jsonb_build_array("
                     " jsonb_build_object('address', 'Heathrow T5', 'latitude', 51.4718, 'longitude', -0.4898),"
                     " jsonb_build_object('address', 'Mayfair', 'latitude', 51.5126, 'longitude', -0.1479))))",
                     (first[0], sedan))
    assert [line["code"] for line in quote["lines"]] == ["base", "distance", "gratuity", "tax"]


def test_cron_list_exits_zero_and_lists_every_job(bookwell) -> None:
    result = bookwell("cron", "list")
    out = ok(result)
    assert result.stderr == ""
    listed = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert listed == list(config.project().cron)


def test_cron_run_unknown_job_fails_with_one_line(bookwell) -> None:
    result = bookwell("cron", "run", "nosuch")
    line = one_line_failure(result)
    assert "nosuch" in line
    assert result.stdout == ""


def test_migrate_unreachable_database_fails_with_one_line(bookwell) -> None:
    result = bookwell("migrate", "--database-url", "postgresql://nobody@127.0.0.1:1/x")
    line = one_line_failure(result)
    assert "cannot reach the database" in line
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["dev", "serve"])
def test_a_port_in_use_is_found_first_and_said_in_one_line(bookwell, command) -> None:
    """Issue 10: a taken port was found only after migrating and printing "running". Now it is checked
    before anything else (here the database does not even exist) and the message says where it is set."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        nowhere = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing"}
        line = one_line_failure(bookwell(command, "--port", str(port), env=nowhere))
        assert f"port {port} is already in use (set by --port)" in line and f"bookwell {command} --port N" in line
        line = one_line_failure(bookwell(command, env=nowhere | {"BOOKWELL_API_PORT": str(port)}))
        assert f"port {port} is already in use (set by BOOKWELL_API_PORT)" in line


@pytest.mark.parametrize("command, said", [
    (["db", "dump"], "cannot reach the database"),
    (["db", "restore", "--file", "README.md"], "README.md is not a backup `bookwell db dump` wrote"),  # looked at first
])
def test_backup_failures_are_said_in_one_line(bookwell, command, said) -> None:
    result = bookwell(*command, "--database-url", "postgresql://nobody@127.0.0.1:1/x")
    line = one_line_failure(result)
    assert said in line, line
    assert result.stdout == ""


def test_db_keeps_its_actions_and_lists_the_backup_ones(bookwell) -> None:
    out = ok(bookwell("db", "--help"))
    for action in ("start", "stop", "url", "dump", "restore"):
        assert re.search(rf"^\s+{action}\s", out, re.MULTILINE), out
    refused = bookwell("db", "restore")
    assert refused.returncode == 2 and "--file" in refused.stderr
