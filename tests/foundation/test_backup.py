"""`bookwell db dump` and `bookwell db restore` (shared/devstack/backup.py), as a user runs them.

The module's database is seeded (every area's demo rows) and given a paid ticket order, then dumped
once. Each test restores that file into a database of its own and compares it with the source: every
table of public, private, auth and supabase_migrations row for row, and the catalogue (policies,
functions and their grants, triggers, constraints, indexes, default privileges, sequences). Then the
restored database is used: RPCs answer, an order is placed and paid, `bookwell migrate` finds nothing
to do. A restore refuses a database that has the schema, and one that fails changes nothing.

Where ../shared/data/supabase-shape exists, the same backup goes into a database shaped like a hosted
Supabase project (as `postgres`, no superuser, GoTrue's auth), and that project's backup comes back
to a plain Postgres.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from shared.devstack import backup, seed
from shared.platform import migrate
from shared.platform.db import Caller
from tests.conftest import clone_database, drop_database
from tests.support import orders, ticketing
from tests.support.cli import bookwell, ok, one_line_failure  # noqa: F401  (bookwell: a fixture)
from tests.support.pg import Db

SCHEMAS = ("public", "private", "auth", "supabase_migrations")
SHAPE = Path(__file__).resolve().parents[3] / "shared" / "data" / "supabase-shape"

CATALOGUE = {
    "relations": """select c.oid::regclass::text, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
                           coalesce(c.relacl, acldefault((case c.relkind when 'S' then 's' else 'r' end)::"char",
                                                         c.relowner))::text
                    from pg_class c where c.relnamespace::regnamespace::text = any(%(schemas)s)
                      and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') order by 1""",
    "columns": """select a.attrelid::regclass::text, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                         a.attgenerated, pg_get_expr(d.adbin, d.adrelid), a.attacl::text
                  from pg_attribute a join pg_class c on c.oid = a.attrelid
                  left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
                  where c.relnamespace::regnamespace::text = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm')
                    and a.attnum > 0 and not a.attisdropped order by 1, 2""",
    "functions": """select p.oid::regprocedure::text, md5(pg_get_functiondef(p.oid)), p.prosecdef, p.proconfig::text,
                           coalesce(p.proacl, acldefault('f'::"char", p.proowner))::text,
                           obj_description(p.oid, 'pg_proc')
                    from pg_proc p where p.pronamespace::regnamespace::text = any(%(schemas)s) and p.prokind <> 'a'
                    order by 1""",
    "policies": """select schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check
                   from pg_policies where schemaname = any(%(schemas)s) order by 1, 2, 3""",
    "triggers": """select t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
                   from pg_trigger t join pg_class c on c.oid = t.tgrelid
                   where not t.tgisinternal and c.relnamespace::regnamespace::text = any(%(schemas)s) order by 1, 2""",
    "constraints": """select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint
                      where connamespace::regnamespace::text = any(%(schemas)s) order by 1, 2, 3""",
    "indexes": """select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) from pg_index i
                  join pg_class c on c.oid = i.indrelid where c.relnamespace::regnamespace::text = any(%(schemas)s)
                  order by 1""",
    "types": """select t.oid::regtype::text, t.typtype, coalesce(t.typacl, acldefault('T'::"char", t.typowner))::text,
                       (select array_agg(e.enumlabel order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid)
                from pg_type t where t.typnamespace::regnamespace::text = any(%(schemas)s)
                  and t.typtype in ('e', 'd', 'r') order by 1""",
    "schemas": "select nspname, nspacl::text from pg_namespace where nspname = any(%(schemas)s) order by 1",
    "default privileges": """select defaclrole::regrole::text, defaclnamespace::regnamespace::text, defaclobjtype,
                                    defaclacl::text from pg_default_acl where defaclacl <> '{}' order by 1, 2, 3""",
    "sequences": """select schemaname, sequencename, last_value from pg_sequences
                    where schemaname = any(%(schemas)s) order by 1, 2""",
    "extensions": "select extname, extnamespace::regnamespace::text from pg_extension order by 1",
}
# Platform-owned on Supabase (GoTrue's auth, the extensions' owners): compared only between like servers.
LIKE_SERVERS_ONLY = ("schemas", "extensions", "default privileges")


def tables(conn: psycopg.Connection, schemas=SCHEMAS) -> list[str]:
    return [r[0] for r in conn.execute(
        "select format('%%I.%%I', schemaname, tablename) from pg_tables where schemaname = any(%s) order by 1",
        (list(schemas),))]


def contents(url: str, schemas=SCHEMAS, only: list[str] | None = None) -> dict[str, tuple[int, str]]:
    """Every table's row count and the md5 of its rows, in a fixed order."""
    with psycopg.connect(url) as conn:
        return {t: conn.execute(sql.SQL("select count(*), md5(coalesce(string_agg(t::text, ',' order by t::text), ''))"
                                        " from {} t").format(sql.SQL(t))).fetchone()
                for t in (only if only is not None else tables(conn, schemas))}


def catalogue(url: str, *, schemas=SCHEMAS, keys=tuple(CATALOGUE)) -> dict[str, list]:
    with psycopg.connect(url) as conn:
        return {key: conn.execute(CATALOGUE[key], {"schemas": list(schemas)}).fetchall() for key in keys}


def differences(before: dict, after: dict) -> dict:
    out = {}
    for key in before.keys() | after.keys():
        a, b = before.get(key), after.get(key)
        if a != b:
            if isinstance(a, list) and isinstance(b, list):
                out[key] = {"only before": sorted(set(a) - set(b), key=str)[:5],
                            "only after": sorted(set(b) - set(a), key=str)[:5]}
            else:
                out[key] = (a, b)
    return out


@contextlib.contextmanager
def empty_database(server_url: str):
    name = f"t_restore_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = make_conninfo(server_url, dbname=name)
    try:
        yield url
    finally:
        drop_database(server_url, url)


# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source(database_url: str, db: Db) -> dict:
    """The module's database with rows in every area: the demo world (`bookwell seed`), a paid ticket
    order (tickets, a payment, the ticket email in the outbox) and a guest's pending one."""
    demo = seed.seed(database_url)
    event = ticketing.event(db)
    general = ticketing.tier(db, event, name="General", price_minor=2500, capacity=50)
    vip = ticketing.tier(db, event, name="VIP", price_minor=9000, capacity=5)
    buyer = db.user(full_name="Bea Buyer", confirmed=True)
    paid = orders.paid(db, event, [(general, 2), (vip, 1)], buyer=buyer)
    pending = orders.place(db, event, [(general, 1)], email="guest@example.com", name="Gus Guest")
    return {"demo": demo, "event": event, "general": general, "paid": paid, "pending": pending}


@pytest.fixture(scope="module")
def archive(source, bookwell, tmp_path_factory) -> Path:
    """`bookwell db dump` with no --file: .bookwell/backups/bookwell-<UTC timestamp>.dump."""
    home = tmp_path_factory.mktemp("bookwell-home")
    out = ok(bookwell("db", "dump", env={"BOOKWELL_HOME": str(home)}))
    written = list((home / "backups").iterdir())
    assert len(written) == 1 and re.fullmatch(r"bookwell-\d{8}T\d{6}Z\.dump", written[0].name), written
    assert out.startswith(f"dumped database ") and str(written[0]) in out, out
    return written[0]


def test_the_source_has_rows_in_every_area(source, db):
    counted = ["auth.users", "auth.identities", "public.organizations", "public.orders", "public.tickets",
               "public.services", "public.vehicles", "public.parking_prices", "public.notification_outbox",
               "private.ticket_seats", "supabase_migrations.schema_migrations"]
    counts = {t: db.value(sql.SQL("select count(*) from {}").format(sql.SQL(t))) for t in counted}
    assert all(n > 0 for n in counts.values()), counts


def test_a_restore_brings_back_every_row_policy_function_and_grant(archive, database_url, pg_server_url, bookwell):
    with empty_database(pg_server_url) as target:
        out = ok(bookwell("db", "restore", "--file", str(archive), "--database-url", target))
        assert re.fullmatch(rf"restored {re.escape(str(archive))} into database \S+ on \S+: \d+ tables, "
                            rf"schema version \d{{14}}\n", out), out

        source_rows, restored_rows = contents(database_url), contents(target)
        assert len(source_rows) > 80 and "auth.users" in source_rows and \
            "supabase_migrations.schema_migrations" in source_rows
        assert sum(n for n, _ in source_rows.values()) > 500
        assert differences(source_rows, restored_rows) == {}
        assert differences(catalogue(database_url), catalogue(target)) == {}
        with psycopg.connect(target) as conn:
            assert conn.execute("select count(*) from pg_policies").fetchone()[0] > 200


def test_the_restored_database_answers_and_takes_orders(archive, source, pg_server_url, bookwell):
    with empty_database(pg_server_url) as target:
        ok(bookwell("db", "restore", "--file", str(archive), "--database-url", target))
        restored = Db(target)
        # A read RPC, as a guest.
        with restored.acting(Caller.anon()) as cur:
            cur.execute("select public.services_for_postcode('demo', 'SE1 7PB') as answer")
            assert cur.fetchone()["answer"]["org"]["slug"] == "demo"
        # The restored buyer still sees their own paid order, and only theirs (RLS, auth.uid()).
        buyer = source["paid"]["buyer_user_id"]
        with restored.acting(Caller.user(str(buyer))) as cur:
            cur.execute("select id, status from public.orders")
            assert cur.fetchall() == [{"id": source["paid"]["id"], "status": "paid"}]
        # A new order: the checkout RPC (a definer helper, capacity, the order-number sequence), then
        # payment (triggers issue tickets): nothing collides with the restored rows.
        summary = orders.place(restored, source["event"], [(source["general"], 3)],
                               email="new@example.com", name="New Buyer")
        assert orders.pay(restored, summary["order_id"]) == "fulfilled"
        assert restored.value("select count(*) from public.tickets where order_id = %s", (summary["order_id"],)) == 3
        assert summary["number"] not in {source["paid"]["number"], source["pending"]["number"]}
        # The ledger came back with its checksums: nothing to migrate.
        out = ok(bookwell("migrate", "--database-url", target))
        assert out.strip().splitlines()[-1] == "0 migration(s) applied; routines and policies re-applied"


def test_restore_refuses_a_database_that_has_the_schema_and_changes_nothing(archive, database_url, bookwell):
    before = contents(database_url), catalogue(database_url)
    line = one_line_failure(bookwell("db", "restore", "--file", str(archive)))
    assert "is not empty" in line and "schema private" in line and "--clean" in line, line
    assert (contents(database_url), catalogue(database_url)) == before


def test_a_restore_that_fails_halfway_changes_nothing(archive, pg_server_url, bookwell):
    """The target has a relation named like a primary key the archive adds after every table was created
    and loaded (a sequence: not what `present()` looks for): the restore stops there and rolls it all back."""
    table, key = next(e.tag.split() for e in backup.contents(archive)
                      if e.desc == "CONSTRAINT" and e.namespace == "public" and e.tag.endswith("_pkey"))
    with empty_database(pg_server_url) as target:
        with psycopg.connect(target, autocommit=True) as conn:
            migrate.apply_bootstrap(conn)  # (a restore commits the bootstrap first, on its own)
            conn.execute(sql.SQL("create sequence public.{}").format(sql.Identifier(key)))
        before = contents(target), catalogue(target)
        line = one_line_failure(bookwell("db", "restore", "--file", str(archive), "--database-url", target))
        assert "failed and was rolled back" in line and f'relation "{key}" already exists' in line, line
        assert (contents(target), catalogue(target)) == before
        with psycopg.connect(target) as conn:
            assert conn.execute("select to_regclass(%s)", (f"public.{table}",)).fetchone()[0] is None
            assert conn.execute("select count(*) from pg_class where relnamespace = 'public'::regnamespace"
                                ).fetchone()[0] == 1


def test_clean_replaces_what_the_target_had(archive, database_url, pg_server_url, template_url, bookwell):
    target = clone_database(pg_server_url, template_url, "restore_clean")
    try:
        other = Db(target)
        stray_user = other.user("stray@example.com")
        ticketing.event(other)
        other.sql("create table public.stray (id int primary key)")
        other.sql("create function public.stray_fn() returns int language sql as $$ select 1 $$")
        other.sql("create type public.stray_kind as enum ('a')")
        out = ok(bookwell("db", "restore", "--clean", "--file", str(archive), "--database-url", target))
        assert out.startswith("restored "), out
        assert differences(contents(database_url), contents(target)) == {}
        assert differences(catalogue(database_url), catalogue(target)) == {}
        assert other.value("select count(*) from auth.users where id = %s", (stray_user.id,)) == 0
        assert other.value("select to_regclass('public.stray')") is None
    finally:
        drop_database(pg_server_url, target)


def test_a_file_that_is_not_a_backup_is_refused_in_one_line(bookwell, tmp_path):
    junk = tmp_path / "junk.dump"
    junk.write_text("not an archive\n")
    line = one_line_failure(bookwell("db", "restore", "--file", str(junk)))
    assert f"{junk} is not a backup `bookwell db dump` wrote" in line, line
    line = one_line_failure(bookwell("db", "restore", "--file", str(tmp_path / "missing.dump")))
    assert "no such file" in line, line


def test_the_archive_carries_our_schemas_and_the_auth_rows_not_the_platform(archive):
    entries = backup.contents(archive)
    assert {e.namespace for e in entries} <= {"-", "public", "private", "supabase_migrations", "auth", "extensions"}
    assert {e.tag for e in entries if e.namespace == "auth" and e.desc == "TABLE DATA"} == {"users", "identities"}
    assert {e.tag for e in entries if e.desc == "EXTENSION"} == {"btree_gist"}  # the exclusion constraints use it
    assert {e.desc for e in entries if e.namespace == "auth"} >= {"TRIGGER"}


def test_what_the_platform_provides_is_left_out_of_a_restore():
    line = "{}; 0 0 {} {} {} {}"
    entries = [backup.Entry(line.format(i, d, ns, tag, owner), d, ns, tag, owner) for i, (d, ns, tag, owner) in
               enumerate([("SCHEMA", "-", "auth", "postgres"), ("ACL", "-", "SCHEMA auth", "postgres"),
                          ("ACL", "-", "SCHEMA public", "pg_database_owner"), ("TABLE", "auth", "users", "x"),
                          ("FUNCTION", "auth", "uid()", "x"), ("TABLE DATA", "auth", "identities", "x"),
                          ("TABLE DATA", "auth", "sessions", "x"), ("TABLE DATA", "auth", "users", "x"),
                          ("TRIGGER", "auth", "users on_auth_user_saved", "x"), ("EXTENSION", "-", "btree_gist", ""),
                          ("COMMENT", "-", "EXTENSION btree_gist", ""), ("ACL", "extensions", "FUNCTION f()", "x"),
                          ("DEFAULT ACL", "public", "DEFAULT PRIVILEGES FOR TABLES", "postgres"),
                          ("DEFAULT ACL", "public", "DEFAULT PRIVILEGES FOR TABLES", "supabase_admin"),
                          ("TABLE", "public", "orders", "postgres")])]

    def kept(installed: set[str]) -> list[str]:
        target = backup.Target("postgres", frozenset(installed), frozenset({"users", "identities"}))
        return [f"{e.desc} {e.namespace} {e.tag} {e.owner}".strip() for e in backup.select(entries, target)]

    assert kept(set()) == [
        "ACL - SCHEMA public pg_database_owner", "TABLE DATA auth users x", "TABLE DATA auth identities x",
        "TRIGGER auth users on_auth_user_saved x", "EXTENSION - btree_gist", "ACL extensions FUNCTION f() x",
        "DEFAULT ACL public DEFAULT PRIVILEGES FOR TABLES postgres", "TABLE public orders postgres"]
    assert "EXTENSION - btree_gist" not in kept({"btree_gist"})
    assert "ACL extensions FUNCTION f() x" not in kept({"btree_gist"})


# ---------------------------------------------------------------------------
# Supabase-shaped: a backup goes to a hosted-like project and comes back
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shape():
    """A server built from Supabase's own SQL (see tests/foundation/test_supabase_shape.py); yields a function
    that makes a fresh project database (a copy of its pristine `postgres`), connected to as `postgres`."""
    if not (SHAPE / "build.py").exists():
        pytest.skip(f"{SHAPE} is absent: the Supabase-shaped database is built from there")
    root = Path(tempfile.mkdtemp(prefix="bookwell-backup-shape-"))
    root.chmod(0o755)
    built = subprocess.run([sys.executable, str(SHAPE / "build.py"), str(root / "data")], capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    pid_lines = (root / "data" / "postmaster.pid").read_text().splitlines()
    server = make_conninfo(user="postgres", dbname="postgres", host=str(root / "data"), port=pid_lines[3])

    def project() -> str:
        name = f"project_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {} template postgres").format(sql.Identifier(name)))
        return make_conninfo(server, dbname=name)

    try:
        yield project
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_lines[0]), signal.SIGTERM)
        time.sleep(1)
        shutil.rmtree(root, ignore_errors=True)


OURS_AND_USERS = ("public", "private", "supabase_migrations")
SAME_EVERYWHERE = tuple(k for k in CATALOGUE if k not in LIKE_SERVERS_ONLY)


def test_a_local_backup_restores_into_a_supabase_project_as_postgres(archive, database_url, shape, bookwell):
    project = shape()
    with psycopg.connect(project) as conn:
        assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (False,)
    out = ok(bookwell("db", "restore", "--file", str(archive), "--database-url", project))
    assert out.startswith("restored "), out
    assert differences(contents(database_url, OURS_AND_USERS), contents(project, OURS_AND_USERS)) == {}
    users = ["auth.users", "auth.identities"]
    assert differences(contents(database_url, only=users), contents(project, only=users)) == {}
    assert differences(catalogue(database_url, schemas=OURS_AND_USERS, keys=SAME_EVERYWHERE),
                       catalogue(project, schemas=OURS_AND_USERS, keys=SAME_EVERYWHERE)) == {}
    with psycopg.connect(project) as conn:  # our triggers on GoTrue's table came back
        assert {r[0] for r in conn.execute("select tgname from pg_trigger where tgrelid = 'auth.users'::regclass"
                                           " and not tgisinternal")} >= {"on_auth_user_saved"}
    restored = Db(project)
    with restored.acting(Caller.anon()) as cur:
        cur.execute("select public.services_for_postcode('demo', 'SE1 7PB') as answer")
        assert cur.fetchone()["answer"]["org"]["slug"] == "demo"


def test_a_supabase_projects_backup_restores_on_a_plain_postgres(shape, pg_server_url, tmp_path, bookwell):
    project = shape()
    env = {"DATABASE_URL": project}
    ok(bookwell("migrate", "--database-url", project, env=env))
    ok(bookwell("seed", env=env))
    file = tmp_path / "hosted.dump"
    ok(bookwell("db", "dump", "--file", str(file), env=env))
    with empty_database(pg_server_url) as target:
        out = ok(bookwell("db", "restore", "--file", str(file), "--database-url", target))
        # Supabase's own roles (supabase_realtime_admin's grant on schema public) are not on a plain server.
        assert "left out grants to roles this server does not have: supabase_realtime_admin" in out, out
        assert differences(contents(project, OURS_AND_USERS), contents(target, OURS_AND_USERS)) == {}
        users = ["auth.users", "auth.identities"]
        assert differences(contents(project, only=users), contents(target, only=users)) == {}
        assert differences(catalogue(project, schemas=OURS_AND_USERS, keys=SAME_EVERYWHERE),
                           catalogue(target, schemas=OURS_AND_USERS, keys=SAME_EVERYWHERE)) == {}
