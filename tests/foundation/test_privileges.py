"""Function privileges are decided per role, and identical locally and on Supabase
(migrations/*_platform_privileges_by_role.sql, shared/platform/migrate.py FUNCTION_FLOOR, shared/sql/bootstrap.sql).

The same checks run on the Supabase-shaped database (tests/foundation/test_supabase_shape.py)."""

from __future__ import annotations

OURS = "n.nspname in ('public', 'private')"


def test_public_executes_none_of_our_functions(db):
    executable = db.sql(
        "select n.nspname || '.' || p.proname as fn from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
        f" where {OURS} and exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a"
        "                    where a.grantee = 0 and a.privilege_type = 'EXECUTE')")
    assert executable == []


def test_the_service_role_runs_every_rpc_in_public_and_only_named_private_helpers(db):
    missing = db.sql("select p.proname from pg_proc p where p.pronamespace = 'public'::regnamespace"
                     " and not has_function_privilege('service_role', p.oid, 'execute')")
    assert missing == []
    private = db.one("select count(*) filter (where has_function_privilege('service_role', p.oid, 'execute')) as granted,"
                     " count(*) as total from pg_proc p where p.pronamespace = 'private'::regnamespace")
    assert 0 < private["granted"] < private["total"]


def test_anon_runs_only_functions_granted_to_it_by_name(db):
    # Every public function anon may run carries an explicit ACL entry for anon (none comes from PUBLIC).
    implicit = db.sql(
        "select p.proname from pg_proc p where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)"
        " and has_function_privilege('anon', p.oid, 'execute')"
        " and not exists (select 1 from aclexplode(p.proacl) a where a.grantee = 'anon'::regrole)")
    assert implicit == []


def test_default_privileges_are_changed_only_in_our_schemas(db):
    # No global (schema-less) default privileges of the migration role: every function created anywhere
    # else (the dashboard's too) gets Postgres's defaults.
    glob = db.sql("select defaclobjtype from pg_default_acl where defaclnamespace = 0"
                  " and defaclrole = (select nspowner from pg_namespace where nspname = 'private')")
    assert glob == []
