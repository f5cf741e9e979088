"""Apply the bootstrap, the migrations and the policies to a database.

- `shared/sql/bootstrap.sql` first: the Supabase-compatible base (a no-op on
  Supabase itself).
- `migrations/YYYYMMDDHHMMSS_name.sql` in order, each in its own transaction,
  recorded in `supabase_migrations.schema_migrations`, the Supabase CLI's own
  ledger, so `supabase db push` and `bookwell migrate` agree on what ran. We add
  a `checksum` column: an applied file whose content changed stops the run.
- `policies/*.sql`, every file, re-applied together in one transaction: they
  are declarative (revoke/grant, enable RLS, drop policy if exists/create).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from shared.config import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
POLICIES_DIR = PROJECT_ROOT / "policies"
BOOTSTRAP = Path(__file__).parent / "sql" / "bootstrap.sql"
FILENAME = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")

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


def apply_bootstrap(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute(BOOTSTRAP.read_text())


def apply_migrations(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations; refuse if an applied file has changed."""
    with conn.transaction():
        conn.execute(LEDGER)
    applied = _applied(conn)
    migrations = discover(directory)
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
                conn.execute(
                    "insert into supabase_migrations.schema_migrations (version, name, statements, checksum)"
                    " values (%s, %s, %s, %s)",
                    (m.version, m.name, [m.sql], m.checksum),
                )
        except psycopg.Error as exc:
            raise MigrationError(f"{m.path.name}: {exc.diag.message_primary or exc}") from exc
        done.append(m)
    return done


def apply_policies(conn: psycopg.Connection, directory: Path = POLICIES_DIR) -> list[Path]:
    files = sorted(directory.glob("*.sql"))
    with conn.transaction():
        for path in files:
            try:
                conn.execute(path.read_text())
            except psycopg.Error as exc:
                raise MigrationError(f"policies/{path.name}: {exc.diag.message_primary or exc}") from exc
    return files


def migrate(database_url: str) -> list[Migration]:
    """Bootstrap, migrate and re-apply policies. Returns the migrations applied now."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        apply_bootstrap(conn)
        done = apply_migrations(conn)
        apply_policies(conn)
        return done


def schema_version(conn: psycopg.Connection) -> str | None:
    row = conn.execute("select max(version) from supabase_migrations.schema_migrations").fetchone()
    return row[0] if row else None
