"""One current definition of every SQL function and trigger (routines/, shared/platform/migrate.py).

Migrations keep what holds data; routines/<area>/*.sql holds every function (with its comment
and grants) and routines/<area>/triggers.sql every trigger, re-applied on every migrate. The
only functions a migration may define are those a table's own definition calls (a check
constraint, default, generated column or index), which Postgres records as a dependency.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import psycopg
import pytest

from shared.platform import migrate
from shared.platform.migrate import MigrationError

CREATE_FUNCTION = re.compile(r"^\s*create\s+(?:or\s+replace\s+)?function\s+([a-z_]+\.[a-z_0-9]+)\s*\(", re.I | re.M)
CREATE_TRIGGER = re.compile(r"^\s*create\s+(?:or\s+replace\s+)?(?:constraint\s+)?trigger\s+([a-z_0-9]+)\s+", re.I | re.M)


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def without_comments(sql_text: str) -> str:
    return re.sub(r"--[^\n]*", "", sql_text)


def definitions(pattern: re.Pattern, files: list[Path]) -> dict[str, list[str]]:
    """name -> the files (one entry per definition) that define it."""
    found: dict[str, list[str]] = {}
    for path in files:
        for name in pattern.findall(without_comments(path.read_text())):
            found.setdefault(name.lower(), []).append(f"{path.parent.name}/{path.name}")
    return found


def migration_files(directory: Path = migrate.MIGRATIONS_DIR) -> list[Path]:
    return sorted(directory.glob("*.sql"))


def catalogue_functions(conn: psycopg.Connection) -> dict[str, int]:
    """schema.name -> overloads, of every function in the schemas the product owns."""
    rows = conn.execute(
        """select n.nspname || '.' || p.proname, count(*) from pg_proc p
           join pg_namespace n on n.oid = p.pronamespace
           where n.nspname in ('public', 'private')
             and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
           group by 1""").fetchall()
    return dict(rows)


def functions_tables_depend_on(conn: psycopg.Connection) -> set[str]:
    """Functions a constraint, column default or index calls (schema.name)."""
    rows = conn.execute(
        """select distinct n.nspname || '.' || p.proname
           from pg_depend d
           join pg_proc p on d.refclassid = 'pg_proc'::regclass and p.oid = d.refobjid
           join pg_namespace n on n.oid = p.pronamespace
           where n.nspname in ('public', 'private')
             and (d.classid in ('pg_constraint'::regclass, 'pg_attrdef'::regclass)
                  or (d.classid = 'pg_class'::regclass
                      and (select relkind from pg_class where oid = d.objid) in ('i', 'r')))""").fetchall()
    return {name for (name,) in rows}


def test_every_function_is_defined_exactly_once_in_the_tree(template_url: str) -> None:
    routines = definitions(CREATE_FUNCTION, migrate.routine_files())
    migrations = definitions(CREATE_FUNCTION, migration_files())
    with connect(template_url) as conn:
        live = catalogue_functions(conn)
        table_functions = functions_tables_depend_on(conn)
    everywhere = {name: routines.get(name, []) + migrations.get(name, []) for name in set(routines) | set(migrations)}
    assert {name: where for name, where in everywhere.items() if len(where) != live.get(name, 0)} == {}, (
        "defined a different number of times in the tree than there are overloads in the database")
    assert set(live) - set(everywhere) == set(), "in the database but defined nowhere in the tree"
    assert set(migrations) == table_functions, (
        "a migration may define only the functions a table's definition calls; the rest live in routines/")


def test_every_trigger_is_defined_once_in_a_triggers_file(template_url: str) -> None:
    in_triggers = definitions(CREATE_TRIGGER, [p for p in migrate.routine_files() if p.name == "triggers.sql"])
    elsewhere = definitions(CREATE_TRIGGER, [p for p in migrate.routine_files() if p.name != "triggers.sql"]
                            + migration_files())
    with connect(template_url) as conn:
        live = {name for (name,) in conn.execute(
            """select t.tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid
               where not t.tgisinternal
                 and c.relnamespace in ('public'::regnamespace, 'private'::regnamespace, 'auth'::regnamespace)""")}
    assert elsewhere == {}
    assert {name: where for name, where in in_triggers.items() if len(where) != 1} == {}
    assert set(in_triggers) == live


def test_the_lint_finds_a_function_defined_in_a_migration(tmp_path: Path) -> None:
    planted = tmp_path / "20990101000000_stray.sql"
    planted.write_text("-- a stray\ncreate or replace function private.stray_helper(p int) returns int\n"
                       "  language sql as $$ select p $$;\n")
    assert "private.stray_helper" in definitions(CREATE_FUNCTION, migration_files(tmp_path))


def test_sql_function_bodies_are_valid_once_everything_exists(clone_url: str) -> None:
    """Routines are created with check_function_bodies off (no order among files); here every
    SQL-language body is checked, as it would be at creation, against the finished schema."""
    with connect(clone_url) as conn, conn.transaction(force_rollback=True):
        conn.execute("set local check_function_bodies = on")
        for path in migrate.routine_files():
            conn.execute(path.read_text())


def test_a_broken_sql_body_is_found_by_that_check(clone_url: str, tmp_path: Path) -> None:
    area = tmp_path / "routines" / "demo"
    area.mkdir(parents=True)
    (area / "broken.sql").write_text(
        "create or replace function private.broken() returns int language sql as $$ select missing_column from public.organizations $$;\n")
    with connect(clone_url) as conn, conn.transaction(force_rollback=True):
        conn.execute("set local check_function_bodies = on")
        with pytest.raises(psycopg.errors.UndefinedColumn):
            conn.execute((area / "broken.sql").read_text())


def function_state(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        """select p.oid, p.oid::regprocedure::text, md5(pg_get_functiondef(p.oid)), p.proacl::text,
                  obj_description(p.oid, 'pg_proc')
           from pg_proc p where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
             and p.prokind = 'f'
           order by 2""").fetchall()


def trigger_state(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        """select t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), obj_description(t.oid, 'pg_trigger')
           from pg_trigger t where not t.tgisinternal order by 1, 2""").fetchall()


def test_reapplying_the_routines_changes_nothing(clone_url: str) -> None:
    with connect(clone_url) as conn:
        before = function_state(conn), trigger_state(conn)
        applied = migrate.apply_routines(conn)
        after = function_state(conn), trigger_state(conn)
    assert applied == migrate.routine_files()
    assert after == before, "same oids, bodies, grants and comments; same triggers"


def test_a_changed_routine_is_live_after_the_next_migrate(clone_url: str, tmp_path: Path) -> None:
    routines = tmp_path / "routines"
    shutil.copytree(migrate.ROUTINES_DIR, routines)
    path = routines / "platform" / "tenancy.sql"
    text = path.read_text()
    assert "create or replace function private.require_caller()" in text
    path.write_text(text + "\ncreate or replace function private.routine_probe() returns int "
                           "language sql set search_path = '' as $$ select 42 $$;\n")
    with connect(clone_url) as conn:
        migrate.apply_routines(conn, routines)
        assert conn.execute("select private.routine_probe()").fetchone()[0] == 42
        assert not conn.execute(
            "select has_function_privilege('anon', 'private.routine_probe()', 'execute')").fetchone()[0], (
            "PUBLIC (so anon) executes nothing the routines create")


def test_a_failing_routine_rolls_back_all_and_names_its_file(clone_url: str, tmp_path: Path) -> None:
    routines = tmp_path / "routines"
    (routines / "aaa").mkdir(parents=True)
    (routines / "aaa" / "first.sql").write_text(
        "create or replace function private.routine_first() returns int language sql as $$ select 1 $$;\n")
    (routines / "zzz").mkdir()
    (routines / "zzz" / "second.sql").write_text("-- line 1\ncreate or replace function private.routine_second(\n")
    with connect(clone_url) as conn:
        with pytest.raises(MigrationError, match=r"^routines/zzz/second.sql line 2 .*\[42601\]"):
            migrate.apply_routines(conn, routines)
        assert conn.execute("select to_regprocedure('private.routine_first()')").fetchone()[0] is None


# ---------------------------------------------------------------------------
# The re-base: databases migrated before functions moved to routines/
# ---------------------------------------------------------------------------


def rebased_checksums() -> dict[str, str]:
    return tomllib.loads((migrate.MIGRATIONS_DIR / migrate.REBASED).read_text())["checksums"]


def ledger(conn: psycopg.Connection) -> dict[str, tuple[str, str]]:
    return {v: (n, c) for v, n, c in conn.execute(
        "select version, name, checksum from supabase_migrations.schema_migrations")}


def test_every_rebased_version_is_a_migration_and_its_old_checksum_differs() -> None:
    on_disk = {m.version: m.checksum for m in migrate.discover()}
    before = rebased_checksums()
    assert before and set(before) <= set(on_disk)
    assert all(before[v] != on_disk[v] for v in before)


def test_a_ledger_from_before_the_rebase_is_rewritten_not_refused(clone_url: str) -> None:
    """As on a database migrated with the old files: the old checksum (and old name) recorded."""
    before = rebased_checksums()
    version = sorted(before)[0]
    with connect(clone_url) as conn:
        current = ledger(conn)
        conn.execute("update supabase_migrations.schema_migrations set name = 'old_name', checksum = %s,"
                     " statements = array['-- the old text'] where version = %s", (before[version], version))
        assert migrate.apply_migrations(conn) == []
        rows = ledger(conn)
        statements = conn.execute("select statements from supabase_migrations.schema_migrations where version = %s",
                                  (version,)).fetchone()[0]
    assert rows == current
    assert statements == [next(m.sql for m in migrate.discover() if m.version == version)]


def test_a_checksum_that_is_neither_old_nor_new_is_still_refused(clone_url: str) -> None:
    version = sorted(rebased_checksums())[0]
    with connect(clone_url) as conn:
        conn.execute("update supabase_migrations.schema_migrations set checksum = %s where version = %s",
                     ("0" * 64, version))
        with pytest.raises(MigrationError, match="was changed after it was applied"):
            migrate.apply_migrations(conn)
