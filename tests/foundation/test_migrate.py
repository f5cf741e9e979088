"""The migration runner (shared/platform/migrate.py): bootstrap, ledger, checksums,
atomic migrations and re-applied policies.

Every test that changes the schema gets its own database (a clone of the
migrated template, or an empty one) and its own copy of the migration files
in a tmp dir: the real migrations/ and policies/ folders are only read.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from shared.platform import migrate
from shared.platform.migrate import MigrationError

PENDING_VERSION = "20990101000000"  # after any real migration


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


@pytest.fixture
def copied_migrations(tmp_path: Path) -> Path:
    """A copy of the real migration files."""
    target = tmp_path / "copied_migrations"
    target.mkdir()
    for path in sorted(migrate.MIGRATIONS_DIR.glob("*.sql")):
        shutil.copy2(path, target / path.name)
    assert list(target.glob("*.sql")), "no migrations to copy"
    return target


@pytest.fixture
def migrations_dir(clone_url: str, tmp_path: Path) -> Path:
    """The migrations applied to the clone, as files, to add to and edit.

    Written from the clone's ledger rather than copied from migrations/, so a
    migration edited on disk while the session runs (after the template was
    built) cannot make the checksums disagree by accident.
    """
    target = tmp_path / "migrations"
    target.mkdir()
    with connect(clone_url) as conn:
        rows = ledger(conn)
    assert rows, "the template has no applied migrations"
    for version, row in rows.items():
        path = target / f"{version}_{row['name']}.sql"
        path.write_bytes(row["statements"][0].encode())
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["checksum"], path.name
    return target


def ledger(conn: psycopg.Connection) -> dict[str, dict]:
    rows = conn.execute(
        "select version, name, statements, checksum from supabase_migrations.schema_migrations order by version"
    ).fetchall()
    return {v: {"name": n, "statements": s, "checksum": c} for v, n, s, c in rows}


def exists(conn: psycopg.Connection, regclass: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (regclass,)).fetchone()[0]


def write(directory: Path, filename: str, text: str) -> Path:
    path = directory / filename
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------


def bootstrap_snapshot(conn: psycopg.Connection) -> dict:
    """What the bootstrap creates, with oids: a re-created object would differ."""
    q = lambda query: conn.execute(query).fetchall()  # noqa: E731
    return {
        "roles": q("""select oid, rolname, rolcanlogin, rolinherit, rolbypassrls from pg_roles
                      where rolname in ('anon', 'authenticated', 'service_role', 'authenticator') order by rolname"""),
        "members": q("""select r.rolname, m.rolname from pg_auth_members am
                        join pg_roles r on r.oid = am.roleid join pg_roles m on m.oid = am.member
                        where m.rolname = 'authenticator' order by 1"""),
        "schemas": q("""select oid, nspname, nspacl::text from pg_namespace
                        where nspname in ('auth', 'extensions', 'public') order by nspname"""),
        "functions": q("""select p.oid, p.oid::regprocedure::text, md5(p.prosrc), p.proacl::text
                          from pg_proc p where p.pronamespace = 'auth'::regnamespace order by 2"""),
        "users_table": q("""select c.oid, a.attname, format_type(a.atttypid, a.atttypmod)
                            from pg_class c join pg_attribute a on a.attrelid = c.oid
                            where c.oid = 'auth.users'::regclass and a.attnum > 0 and not a.attisdropped
                            order by a.attnum"""),
        "indexes": q("select indexrelid from pg_index where indrelid = 'auth.users'::regclass order by 1"),
        "default_acls": q("""select defaclrole::regrole::text, defaclnamespace, defaclobjtype, defaclacl::text
                             from pg_default_acl order by 1, 2, 3"""),
    }


def test_bootstrap_twice_on_an_empty_database_is_a_no_op(empty_url: str) -> None:
    with connect(empty_url) as conn:
        assert conn.execute("select to_regprocedure('auth.uid()')").fetchone()[0] is None
        migrate.apply_bootstrap(conn)
        first = bootstrap_snapshot(conn)
        migrate.apply_bootstrap(conn)
        second = bootstrap_snapshot(conn)
    changed = {key: {"before": first[key], "after": second[key]} for key in first if second[key] != first[key]}
    assert changed == {}, f"the second bootstrap changed: {changed}"
    assert [r[1] for r in first["roles"]] == ["anon", "authenticated", "authenticator", "service_role"]
    assert {f[1] for f in first["functions"]} >= {"auth.uid()", "auth.jwt()", "auth.role()", "auth.email()"}


def test_bootstrap_on_a_migrated_database_changes_nothing(clone_url: str) -> None:
    with connect(clone_url) as conn:
        before = {**bootstrap_snapshot(conn), "ledger": ledger(conn)}
        migrate.apply_bootstrap(conn)
        migrate.apply_bootstrap(conn)
        after = {**bootstrap_snapshot(conn), "ledger": ledger(conn)}
    changed = {key: {"before": before[key], "after": after[key]} for key in before if after[key] != before[key]}
    assert changed == {}, f"re-running the bootstrap changed: {changed}"


def test_rerunning_migrate_keeps_the_migrations_default_privileges(clone_url: str, migrations_dir: Path) -> None:
    """`bookwell migrate` re-runs the bootstrap every time; a function a later
    migration adds to public must still not be executable by anon by default."""
    migrate.migrate(clone_url)  # the second migrate of this database: bootstrap again, nothing pending
    write(migrations_dir, f"{PENDING_VERSION}_rpc.sql",
          "create function public.mig_rpc() returns int language sql set search_path = '' as $$ select 1 $$;")
    with connect(clone_url) as conn:
        migrate.apply_migrations(conn, migrations_dir)
        executable = conn.execute(
            "select has_function_privilege('anon', 'public.mig_rpc()', 'execute'),"
            " has_function_privilege('authenticated', 'public.mig_rpc()', 'execute')").fetchone()
    assert executable == (False, False), "(anon, authenticated) may execute a new public function by default"


def test_bootstrap_never_replaces_an_existing_claim_helper(clone_url: str) -> None:
    """On Supabase auth.uid() already exists and is not ours to replace."""
    marker = "select '00000000-0000-0000-0000-00000000beef'::uuid"
    with connect(clone_url) as conn:
        if not conn.execute("select has_schema_privilege('auth', 'create')").fetchone()[0]:
            pytest.skip("on Supabase only supabase_auth_admin may replace auth.uid(); the bootstrap's guard is "
                        "what test_supabase_shape.py shows there")
        conn.execute(f"create or replace function auth.uid() returns uuid language sql stable as $$ {marker} $$")
        migrate.apply_bootstrap(conn)
        assert marker in conn.execute("select prosrc from pg_proc where oid = 'auth.uid()'::regprocedure").fetchone()[0]


# ---------------------------------------------------------------------------
# Migrations: ledger, idempotence, status
# ---------------------------------------------------------------------------


def test_migrations_applied_twice_apply_nothing_the_second_time(empty_url: str, copied_migrations: Path) -> None:
    expected = [m.version for m in migrate.discover(copied_migrations)]
    with connect(empty_url) as conn:
        migrate.apply_bootstrap(conn)
        first = migrate.apply_migrations(conn, copied_migrations)
        rows = ledger(conn)
        second = migrate.apply_migrations(conn, copied_migrations)
        assert ledger(conn) == rows
    assert [m.version for m in first] == expected
    assert list(rows) == expected
    assert second == []


def test_a_migrated_database_has_nothing_pending(clone_url: str, migrations_dir: Path) -> None:
    with connect(clone_url) as conn:
        before = ledger(conn)
        assert migrate.apply_migrations(conn, migrations_dir) == []
        assert ledger(conn) == before
    assert set(before) >= {m.version for m in migrate.discover(migrations_dir)}


def test_status_lists_applied_and_pending(clone_url: str, migrations_dir: Path) -> None:
    real = [p.name for p in sorted(migrations_dir.glob("*.sql"))]
    write(migrations_dir, f"{PENDING_VERSION}_pending_one.sql", "create table public.mig_pending_one (id int);")
    with connect(clone_url) as conn:
        statuses = migrate.status(conn, migrations_dir)
        assert [(s.migration.path.name, s.applied) for s in statuses] == (
            [(name, True) for name in real] + [(f"{PENDING_VERSION}_pending_one.sql", False)])
        assert not exists(conn, "public.mig_pending_one"), "status must not apply anything"

        done = migrate.apply_migrations(conn, migrations_dir)
        assert [m.name for m in done] == ["pending_one"]
        assert all(s.applied for s in migrate.status(conn, migrations_dir))
        assert migrate.schema_version(conn) == PENDING_VERSION


def test_ledger_rows_record_version_name_statements_and_checksum(clone_url: str, migrations_dir: Path) -> None:
    text = "-- a comment\ncreate table public.mig_ledger (id int primary key);\n"
    path = write(migrations_dir, f"{PENDING_VERSION}_ledger_check.sql", text)
    with connect(clone_url) as conn:
        migrate.apply_migrations(conn, migrations_dir)
        rows = ledger(conn)
        columns = dict(conn.execute(
            """select column_name, data_type from information_schema.columns
               where table_schema = 'supabase_migrations' and table_name = 'schema_migrations'""").fetchall())
        pk = conn.execute(
            """select array_agg(a.attname::text) from pg_index i
               join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
               where i.indrelid = 'supabase_migrations.schema_migrations'::regclass and i.indisprimary""").fetchone()[0]
    assert rows[PENDING_VERSION] == {
        "name": "ledger_check",
        "statements": [text],
        "checksum": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    assert columns == {"version": "text", "name": "text", "statements": "ARRAY", "checksum": "text"}
    assert pk == ["version"]
    # The template's real migrations were recorded the same way.
    real = {v: row for v, row in rows.items() if v != PENDING_VERSION}
    assert any(row["name"] == "platform_tenancy" for row in real.values())
    for version, row in real.items():
        assert migrate.FILENAME.match(f"{version}_{row['name']}.sql"), (version, row["name"])
        assert len(row["statements"]) == 1
        assert row["checksum"] == hashlib.sha256(row["statements"][0].encode()).hexdigest()


def test_misnamed_migration_file_is_refused_before_anything_runs(clone_url: str, migrations_dir: Path) -> None:
    write(migrations_dir, f"{PENDING_VERSION}_fine.sql", "create table public.mig_fine (id int);")
    write(migrations_dir, "2099_Bad-Name.sql", "create table public.mig_bad_name (id int);")
    with connect(clone_url) as conn:
        before = ledger(conn)
        with pytest.raises(MigrationError, match="2099_Bad-Name.sql"):
            migrate.apply_migrations(conn, migrations_dir)
        assert ledger(conn) == before
        assert not exists(conn, "public.mig_fine")
        assert not exists(conn, "public.mig_bad_name")


# ---------------------------------------------------------------------------
# Checksums: an applied file that changed stops the run before anything runs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("changed", ["synthetic", "real_first"])
def test_a_changed_applied_migration_is_refused_and_nothing_else_runs(
    clone_url: str, migrations_dir: Path, changed: str
) -> None:
    first = write(migrations_dir, f"{PENDING_VERSION}_first.sql", "create table public.mig_first (id int);\n")
    with connect(clone_url) as conn:
        assert [m.name for m in migrate.apply_migrations(conn, migrations_dir)] == ["first"]
        target = first if changed == "synthetic" else sorted(migrations_dir.glob("*.sql"))[0]
        with target.open("a") as f:
            f.write("\n-- edited after it was applied\n")
        write(migrations_dir, f"{int(PENDING_VERSION) + 1}_second.sql", "create table public.mig_second (id int);\n")
        before = ledger(conn)

        with pytest.raises(MigrationError) as refused:
            migrate.apply_migrations(conn, migrations_dir)

        assert target.name in str(refused.value)
        assert "_second.sql" not in str(refused.value)
        assert not exists(conn, "public.mig_second"), "a pending migration ran after the refusal"
        assert ledger(conn) == before


def test_ledger_rows_without_checksum_are_not_refused(clone_url: str, migrations_dir: Path) -> None:
    """Rows written by `supabase db push` carry no checksum: nothing to compare, nothing refused."""
    first = write(migrations_dir, f"{PENDING_VERSION}_first.sql", "create table public.mig_first (id int);\n")
    with connect(clone_url) as conn:
        migrate.apply_migrations(conn, migrations_dir)
        conn.execute("update supabase_migrations.schema_migrations set checksum = null where version = %s",
                     (PENDING_VERSION,))
        first.write_text("create table public.mig_first (id int, changed int);\n")
        assert migrate.apply_migrations(conn, migrations_dir) == []


# ---------------------------------------------------------------------------
# A failing migration rolls back entirely
# ---------------------------------------------------------------------------

BAD = """
create table public.mig_partial (id int primary key);
insert into public.mig_partial values (1);
create function public.mig_partial_fn() returns int language sql set search_path = '' as $$ select 1 $$;
alter table public.profiles add column mig_partial_col text;
select 1 / 0;
"""


def test_a_failing_migration_rolls_back_entirely(clone_url: str, migrations_dir: Path) -> None:
    v = int(PENDING_VERSION)
    write(migrations_dir, f"{v}_good.sql", "create table public.mig_good (id int);")
    bad = write(migrations_dir, f"{v + 1}_bad.sql", BAD)
    write(migrations_dir, f"{v + 2}_after.sql", "create table public.mig_after (id int);")
    with connect(clone_url) as conn:
        with pytest.raises(MigrationError) as failed:
            migrate.apply_migrations(conn, migrations_dir)
        assert bad.name in str(failed.value)
        assert "division by zero" in str(failed.value)
        # One line naming the file, the line and the statement that failed (BAD starts with a newline).
        line = BAD.splitlines().index("select 1 / 0;") + 1
        assert str(failed.value) == f"migrations/{bad.name} line {line} (select 1 / 0;): division by zero [22012]"

        rows = ledger(conn)
        assert str(v) in rows and exists(conn, "public.mig_good"), "the good migration before it stays applied"
        assert str(v + 1) not in rows and str(v + 2) not in rows
        assert not exists(conn, "public.mig_partial")
        assert conn.execute("select to_regprocedure('public.mig_partial_fn()')").fetchone()[0] is None
        assert conn.execute(
            "select count(*) from information_schema.columns"
            " where table_schema = 'public' and table_name = 'profiles' and column_name = 'mig_partial_col'"
        ).fetchone()[0] == 0
        assert not exists(conn, "public.mig_after"), "a migration after the failing one ran"

        # Not recorded, so the fixed file is simply applied next time.
        bad.write_text(BAD.replace("select 1 / 0;", ""))
        assert [m.name for m in migrate.apply_migrations(conn, migrations_dir)] == ["bad", "after"]
        assert exists(conn, "public.mig_partial") and exists(conn, "public.mig_after")


# ---------------------------------------------------------------------------
# Policies: re-applied on every migrate, all files in one transaction
# ---------------------------------------------------------------------------

POLICY = """select schemaname, tablename, policyname, permissive, roles::text[], cmd, qual, with_check
            from pg_policies where schemaname = %s and tablename = %s and policyname = %s"""


def test_migrate_reapplies_a_dropped_policy_and_rls(clone_url: str) -> None:
    with connect(clone_url) as conn:
        schema, table, name = conn.execute(
            "select schemaname, tablename, policyname from pg_policies where schemaname = 'public'"
            " order by tablename, policyname limit 1").fetchone()
        original = conn.execute(POLICY, (schema, table, name)).fetchone()
        conn.execute(sql.SQL("drop policy {} on {}.{}").format(
            sql.Identifier(name), sql.Identifier(schema), sql.Identifier(table)))
        conn.execute(sql.SQL("alter table {}.{} disable row level security").format(
            sql.Identifier(schema), sql.Identifier(table)))
        assert conn.execute(POLICY, (schema, table, name)).fetchone() is None

    migrate.migrate(clone_url)

    with connect(clone_url) as conn:
        assert conn.execute(POLICY, (schema, table, name)).fetchone() == original
        assert conn.execute("select relrowsecurity from pg_class where oid = %s::regclass",
                            (f"{schema}.{table}",)).fetchone()[0] is True


def test_policy_files_apply_together_or_not_at_all(clone_url: str, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    with connect(clone_url) as conn:
        schema, table, name = conn.execute(
            "select schemaname, tablename, policyname from pg_policies where schemaname = 'public'"
            " order by tablename, policyname limit 1").fetchone()
        original = conn.execute(POLICY, (schema, table, name)).fetchone()
        target = sql.SQL("{} on {}.{}").format(sql.Identifier(name), sql.Identifier(schema), sql.Identifier(table))
        write(policies, "a_drops.sql", sql.SQL("drop policy if exists {};").format(target).as_string(conn))
        write(policies, "b_breaks.sql", "select 1 / 0;")

        with pytest.raises(MigrationError, match="policies/b_breaks.sql"):
            migrate.apply_policies(conn, policies)
        assert conn.execute(POLICY, (schema, table, name)).fetchone() == original, "a_drops.sql was not rolled back"

        (policies / "b_breaks.sql").unlink()
        assert [p.name for p in migrate.apply_policies(conn, policies)] == ["a_drops.sql"]
        assert conn.execute(POLICY, (schema, table, name)).fetchone() is None


def test_a_syntax_error_is_reported_at_its_own_line_inside_the_statement(clone_url: str,
                                                                         migrations_dir: Path) -> None:
    text = ("-- a comment\ncreate table public.mig_syntax (\n  id int,\n  oops int int\n);\n"
            "create table public.mig_never (id int);\n")
    bad = write(migrations_dir, f"{int(PENDING_VERSION)}_syntax.sql", text)
    with connect(clone_url) as conn:
        with pytest.raises(MigrationError) as failed:
            migrate.apply_migrations(conn, migrations_dir)
    message = str(failed.value)
    assert message.startswith(f"migrations/{bad.name} line 4 (create table public.mig_syntax (): syntax error")
    assert message.endswith("[42601]") and "\n" not in message



# ---------------------------------------------------------------------------
# A failure leaves the database exactly as it was: the whole catalogue and the ledger compared
# ---------------------------------------------------------------------------

# What a migration, routine or policy file can change. (Sequences are left out: nextval is never
# rolled back in Postgres, by design.)
FINGERPRINT = {
    "relations": """select c.oid::regclass::text, c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.relacl::text,
                           obj_description(c.oid, 'pg_class')
                    from pg_class c where c.relnamespace::regnamespace::text in ('public', 'private', 'auth')
                    order by 1""",
    "columns": """select a.attrelid::regclass::text, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                         pg_get_expr(d.adbin, d.adrelid), a.attacl::text
                  from pg_attribute a join pg_class c on c.oid = a.attrelid
                  left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
                  where c.relnamespace::regnamespace::text in ('public', 'private', 'auth') and a.attnum > 0
                    and not a.attisdropped order by 1, 2""",
    "functions": """select p.oid::regprocedure::text, md5(p.prosrc), p.prosecdef, p.provolatile, p.proconfig::text,
                           p.proacl::text, obj_description(p.oid, 'pg_proc')
                    from pg_proc p where p.pronamespace::regnamespace::text in ('public', 'private', 'auth')
                    order by 1""",
    "policies": "select schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check"
                " from pg_policies order by 1, 2, 3",
    "triggers": "select tgrelid::regclass::text, tgname, pg_get_triggerdef(oid), tgenabled from pg_trigger"
                " where not tgisinternal order by 1, 2",
    "constraints": "select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint"
                   " where connamespace::regnamespace::text in ('public', 'private', 'auth') order by 1, 2, 3",
    "types": "select oid::regtype::text, typtype from pg_type where typnamespace::regnamespace::text"
             " in ('public', 'private') and typtype in ('e', 'd', 'c') order by 1",
    "default privileges": "select defaclrole::regrole::text, defaclnamespace, defaclobjtype, defaclacl::text"
                          " from pg_default_acl order by 1, 2, 3",
    "schemas": "select nspname, nspacl::text from pg_namespace order by 1",
    "ledger": "select version, name, statements, checksum from supabase_migrations.schema_migrations order by 1",
}


def fingerprint(conn: psycopg.Connection) -> dict[str, list]:
    found = {key: conn.execute(query).fetchall() for key, query in FINGERPRINT.items()}
    tables = [r[0] for r in conn.execute("select format('%I.%I', schemaname, tablename) from pg_tables"
                                         " where schemaname in ('public', 'private', 'auth') order by 1")]
    rows = sql.SQL("select count(*), md5(coalesce(string_agg(t::text, ',' order by t::text), '')) from {} t")
    found["rows"] = [(t, *conn.execute(rows.format(sql.SQL(t))).fetchone()) for t in tables]
    return found


def changed(before: dict, after: dict) -> dict:
    return {key: {"only before": [r for r in before[key] if r not in after[key]][:5],
                  "only after": [r for r in after[key] if r not in before[key]][:5]}
            for key in before if before[key] != after[key]}


# Everything a file may do to what exists, then a statement that fails.
SWEEPING = """
create table public.mig_swept (id int primary key);
insert into public.organizations (name, slug, created_by)
  select 'Swept', 'swept', id from auth.users limit 1;
alter table public.organizations add column mig_swept text;
comment on table public.organizations is 'swept';
create or replace function private.random_token() returns text language sql as $$ select 'swept' $$;
create function public.mig_swept_fn() returns int language sql set search_path = '' as $$ select 1 $$;
grant execute on function private.random_token() to anon;
revoke select on public.organizations from authenticated;
alter default privileges in schema public grant execute on functions to anon;
drop policy if exists "{policy}" on public.{table};
alter table public.{table} disable row level security;
create policy mig_swept on public.organizations for select to anon using (true);
drop trigger if exists on_auth_user_saved on auth.users;
create type public.mig_swept_kind as enum ('a');
"""


@pytest.fixture
def sweeping(clone_url: str) -> str:
    with connect(clone_url) as conn:
        table, policy = conn.execute(
            "select tablename, policyname from pg_policies where schemaname = 'public' and tablename <> 'organizations'"
            " order by tablename, policyname limit 1").fetchone()
        db_has_user = conn.execute("select count(*) from auth.users").fetchone()[0]
        if not db_has_user:
            from shared.platform import users

            with conn.transaction():
                users.create_in_database(conn, "sweeper@example.com")
    return SWEEPING.format(table=table, policy=policy.replace('"', '""'))


def test_a_migration_whose_second_statement_fails_leaves_schema_and_ledger_exactly_as_before(
        clone_url: str, migrations_dir: Path) -> None:
    bad = write(migrations_dir, f"{PENDING_VERSION}_second_fails.sql",
                "create table public.mig_first_statement (id int);\nselect 1 / 0;\n")
    with connect(clone_url) as conn:
        before = fingerprint(conn)
        with pytest.raises(MigrationError, match=f"migrations/{bad.name} line 2"):
            migrate.apply_migrations(conn, migrations_dir)
        assert changed(before, fingerprint(conn)) == {}


def test_a_failing_migration_that_changed_everything_first_leaves_it_all_as_it_was(
        clone_url: str, migrations_dir: Path, sweeping: str) -> None:
    write(migrations_dir, f"{PENDING_VERSION}_sweeping.sql", sweeping + "select 1 / 0;\n")
    with connect(clone_url) as conn:
        before = fingerprint(conn)
        with pytest.raises(MigrationError, match="division by zero"):
            migrate.apply_migrations(conn, migrations_dir)
        assert changed(before, fingerprint(conn)) == {}
        # The same file, fixed, does change all of that: the fingerprint would have seen it.
        write(migrations_dir, f"{PENDING_VERSION}_sweeping.sql", sweeping)
        migrate.apply_migrations(conn, migrations_dir)
        assert set(changed(before, fingerprint(conn))) >= {
            "relations", "columns", "functions", "policies", "triggers", "types", "default privileges", "ledger",
            "rows"}


def test_a_failing_routines_file_leaves_every_function_and_trigger_as_it_was(
        clone_url: str, tmp_path: Path, sweeping: str) -> None:
    routines = tmp_path / "routines"
    (routines / "a_area").mkdir(parents=True)
    (routines / "b_area").mkdir()
    write(routines / "a_area", "functions.sql", sweeping)
    write(routines / "b_area", "functions.sql",
          "create or replace function public.mig_ok() returns int language sql as $$ select 1 $$;\nselect 1 / 0;\n")
    write(routines / "a_area", "triggers.sql", "create trigger mig_never after insert on public.organizations"
          " for each row execute function private.touch_updated_at();\n")
    with connect(clone_url) as conn:
        before = fingerprint(conn)
        with pytest.raises(MigrationError, match="routines/b_area/functions.sql line 2"):
            migrate.apply_routines(conn, routines)
        assert changed(before, fingerprint(conn)) == {}
        (routines / "b_area" / "functions.sql").unlink()  # without the failing file, all of it lands
        migrate.apply_routines(conn, routines)
        assert set(changed(before, fingerprint(conn))) >= {"functions", "triggers", "policies", "rows"}


def test_a_failing_policies_file_leaves_every_policy_grant_and_rls_switch_as_it_was(
        clone_url: str, tmp_path: Path, sweeping: str) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    write(policies, "a_sweeps.sql", sweeping)
    write(policies, "b_fails.sql", "alter table public.organizations force row level security;\nselect 1 / 0;\n")
    with connect(clone_url) as conn:
        before = fingerprint(conn)
        with pytest.raises(MigrationError, match="policies/b_fails.sql line 2"):
            migrate.apply_policies(conn, policies)
        assert changed(before, fingerprint(conn)) == {}
        (policies / "b_fails.sql").unlink()  # without the failing file, all of it lands
        migrate.apply_policies(conn, policies)
        assert set(changed(before, fingerprint(conn))) >= {"relations", "policies", "functions", "rows"}
