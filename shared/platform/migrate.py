"""Apply the bootstrap, the migrations, the routines and the policies to a database.

- `shared/sql/bootstrap.sql` first: the Supabase-compatible base (a no-op on
  Supabase itself).
- `migrations/YYYYMMDDHHMMSS_name.sql` in order, each in its own transaction,
  recorded in `supabase_migrations.schema_migrations`, the Supabase CLI's own
  ledger, so `supabase db push` and `bookwell migrate` agree on what ran. We add
  a `checksum` column: an applied file whose content changed stops the run.
- `routines/<area>/*.sql`, every file, re-applied together in one transaction:
  the one current definition of every function (`create or replace`, with its
  comment and grants), then every `triggers.sql`. Migrations keep what holds
  data (tables, types, indexes, constraints, rows), so a function has one
  definition in the tree, where a reader looks for it (Flyway calls these
  repeatable migrations). The exception is a function a table's own definition
  calls (a check constraint or generated column): it stays with the table in
  its migration, because changing it means rechecking or recomputing rows.
- `policies/*.sql`, every file, re-applied together in one transaction: they
  are declarative (revoke/grant, enable RLS, drop policy if exists/create).

Each migration runs in its own transaction, followed in it by FUNCTION_FLOOR
(PUBLIC executes none of our functions). A failure stops the run with one
line naming the file, the line and the statement that failed.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import psycopg
import sqlparse

from shared.platform.config import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
ROUTINES_DIR = PROJECT_ROOT / "routines"
POLICIES_DIR = PROJECT_ROOT / "policies"
# Migrations whose functions and triggers moved to routines/ (version -> checksum of the text
# before): a database that applied that text has its ledger row rewritten to the new text.
REBASED = "rebased.toml"
BOOTSTRAP = Path(__file__).parents[1] / "sql" / "bootstrap.sql"
FILENAME = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")

# After every migration, in its transaction: no function in the schemas the product owns is
# executable by PUBLIC; every role's EXECUTE is granted by name (migrations/*_platform_privileges_by_role.sql).
FUNCTION_FLOOR = """
do $$
begin
  revoke execute on all functions in schema public from public;
  if to_regnamespace('private') is not null then
    revoke execute on all functions in schema private from public;
  end if;
end
$$;
"""

LEDGER = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
alter table supabase_migrations.schema_migrations add column if not exists statements text[];
alter table supabase_migrations.schema_migrations add column if not exists name text;
alter table supabase_migrations.schema_migrations add column if not exists checksum text;
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Status:
    migration: Migration
    applied: bool


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = FILENAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named YYYYMMDDHHMMSS_name.sql")
        found.append(Migration(match["version"], match["name"], path))
    return found


def _applied(conn: psycopg.Connection) -> dict[str, str | None]:
    rows = conn.execute("select version, checksum from supabase_migrations.schema_migrations").fetchall()
    return {version: checksum for version, checksum in rows}


def status(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Status]:
    with conn.transaction():
        conn.execute(LEDGER)
    applied = _applied(conn)
    return [Status(m, m.version in applied) for m in discover(directory)]


def _statements(sql_text: str) -> list[tuple[int, str]]:
    """(line number where its code starts, its text without leading comments) of each statement."""
    out, offset = [], 0
    for statement in sqlparse.split(sql_text):
        start = sql_text.find(statement, offset)
        offset = start + len(statement)
        lines = statement.splitlines()
        skipped = 0
        while skipped < len(lines) and (not lines[skipped].strip() or lines[skipped].lstrip().startswith("--")):
            skipped += 1
        code = "\n".join(lines[skipped:]).strip()
        if code:
            out.append((sql_text.count("\n", 0, start) + skipped + 1, code))
    return out


def _locate(conn: psycopg.Connection, sql_text: str) -> tuple[int, str, psycopg.Error] | None:
    """After a file failed (and rolled back): run its statements one by one in a transaction that is
    always rolled back, to find the first that fails. Costs nothing when migrations succeed."""
    try:
        with conn.transaction(force_rollback=True):
            for line_no, statement in _statements(sql_text):
                try:
                    with conn.transaction():
                        conn.execute(statement)
                except psycopg.Error as exc:
                    return line_no, statement, exc
    except psycopg.Error:
        return None
    return None


def failure(label: str, sql_text: str, exc: psycopg.Error, conn: psycopg.Connection) -> MigrationError:
    """One line: which file, which line and statement, and what Postgres said."""
    located = _locate(conn, sql_text)
    where = ""
    if located:
        line_no, statement, exc = located
        if exc.diag.statement_position:  # a syntax error: the line inside the statement
            line_no += statement.count("\n", 0, int(exc.diag.statement_position) - 1)
        head = " ".join(statement.splitlines()[0].split())
        where = f" line {line_no} ({head[:80]}{'…' if len(head) > 80 else ''})"
    message = (exc.diag.message_primary or str(exc)).strip().splitlines()[0]
    return MigrationError(f"{label}{where}: {message} [{exc.sqlstate}]")


def apply_bootstrap(conn: psycopg.Connection) -> None:
    sql_text = BOOTSTRAP.read_text()
    try:
        with conn.transaction():
            conn.execute(sql_text)
    except psycopg.Error as exc:
        raise failure("shared/sql/bootstrap.sql", sql_text, exc, conn) from exc


def apply_migrations(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations; refuse if an applied file has changed."""
    with conn.transaction():
        conn.execute(LEDGER)
    migrations = discover(directory)
    _rebase_ledger(conn, migrations, directory)
    applied = _applied(conn)
    for m in migrations:
        recorded = applied.get(m.version)
        if m.version in applied and recorded is not None and recorded != m.checksum:
            raise MigrationError(
                f"{m.path.name} was changed after it was applied (checksum {recorded[:12]} "
                f"in the ledger, {m.checksum[:12]} on disk); write a new migration instead"
            )
    done = []
    for m in migrations:
        if m.version in applied:
            continue
        try:
            with conn.transaction():
                conn.execute(m.sql)
                conn.execute(FUNCTION_FLOOR)
                conn.execute(
                    "insert into supabase_migrations.schema_migrations (version, name, statements, checksum)"
                    " values (%s, %s, %s, %s)",
                    (m.version, m.name, [m.sql], m.checksum),
                )
        except psycopg.Error as exc:
            raise failure(f"migrations/{m.path.name}", m.sql, exc, conn) from exc
        done.append(m)
    return done


def _rebase_ledger(conn: psycopg.Connection, migrations: list[Migration], directory: Path) -> None:
    """Rewrite the ledger rows of re-based migrations that recorded the text before the re-base
    (and the name, where a file was renamed), so the checksum check below holds for them."""
    manifest = directory / REBASED
    before = tomllib.loads(manifest.read_text()).get("checksums", {}) if manifest.exists() else {}
    recorded = {version: (name, checksum) for version, name, checksum in conn.execute(
        "select version, name, checksum from supabase_migrations.schema_migrations").fetchall()}
    with conn.transaction():
        for m in migrations:
            name, checksum = recorded.get(m.version, (None, None))
            if checksum is not None and checksum != m.checksum and before.get(m.version) == checksum:
                conn.execute("update supabase_migrations.schema_migrations"
                             " set name = %s, statements = %s, checksum = %s where version = %s",
                             (m.name, [m.sql], m.checksum, m.version))
            elif checksum == m.checksum and name != m.name:
                conn.execute("update supabase_migrations.schema_migrations set name = %s where version = %s",
                             (m.name, m.version))


def routine_files(directory: Path = ROUTINES_DIR) -> list[Path]:
    """Every area's functions, then every area's triggers (which need the functions)."""
    functions = sorted(p for p in directory.glob("*/*.sql") if p.name != "triggers.sql")
    return functions + sorted(directory.glob("*/triggers.sql"))


def apply_routines(conn: psycopg.Connection, directory: Path = ROUTINES_DIR) -> list[Path]:
    """Re-create every function and trigger. Function bodies are checked when first called, not
    when created (as pg_dump restores them), so the files need no order among themselves."""
    files = routine_files(directory)
    current = files[0] if files else None
    try:
        with conn.transaction():
            conn.execute("set local check_function_bodies = off")
            for current in files:
                conn.execute(current.read_text())
            conn.execute(FUNCTION_FLOOR)
    except psycopg.Error as exc:
        raise failure(f"routines/{current.parent.name}/{current.name}", current.read_text(), exc, conn) from exc
    return files


def apply_policies(conn: psycopg.Connection, directory: Path = POLICIES_DIR) -> list[Path]:
    files = sorted(directory.glob("*.sql"))
    current = files[0] if files else None
    try:
        with conn.transaction():
            for current in files:
                conn.execute(current.read_text())
    except psycopg.Error as exc:  # rolled back as a whole; then say which file and statement
        raise failure(f"policies/{current.name}", current.read_text(), exc, conn) from exc
    return files


def migrate(database_url: str) -> list[Migration]:
    """Bootstrap, migrate and re-apply policies. Returns the migrations applied now."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        apply_bootstrap(conn)
        done = apply_migrations(conn)
        apply_routines(conn)
        apply_policies(conn)
        return done


def schema_version(conn: psycopg.Connection) -> str | None:
    row = conn.execute("select max(version) from supabase_migrations.schema_migrations").fetchone()
    return row[0] if row else None
