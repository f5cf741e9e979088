"""Schema lint: the rules Supabase's database advisors (splinter) check, and
the ones DESIGN.md adds, run against the fully migrated test database.

Every rule scans the catalog, never a list of tables, so each business area's
migrations and policies are checked as soon as they land. A rule is a query
(or a query plus a small parser) in RULES below; `test_schema_passes[<rule>]`
fails the build listing every offender, and `test_rule_reports_offender`
proves each rule can fail by creating one offending object per rule in a
throwaway clone of the template, inside a transaction that is rolled back.

Scopes:
- exposed: `public` plus EXPOSED_SCHEMAS (what PostgREST serves);
- project: every schema except Postgres' own and the Supabase-managed ones
  (auth, storage, extensions, …), i.e. everything our migrations create.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import psycopg
import pytest

from tests.conftest import clone_database, drop_database

# Schemas PostgREST serves besides `public` (add e.g. "api" if it is exposed).
EXPOSED_SCHEMAS: tuple[str, ...] = ()

# Schemas owned by Postgres or by Supabase itself: not ours to lint (splinter's list).
MANAGED_SCHEMAS: tuple[str, ...] = (
    "pg_catalog", "information_schema", "auth", "cron", "extensions", "graphql", "graphql_public",
    "net", "pgmq", "pgroonga", "pgsodium", "pgsodium_masks", "pgtle", "pgbouncer", "realtime",
    "repack", "storage", "supabase_functions", "supabase_migrations", "tiger", "topology", "vault",
    "_timescaledb_cache", "_timescaledb_catalog", "_timescaledb_config", "_timescaledb_internal",
)


def exposed_schemas() -> list[str]:
    return ["public", *(s for s in EXPOSED_SCHEMAS if s != "public")]


# ---------------------------------------------------------------------------
# The queries. Each returns one text column: the offender, named in full
# (the lint runs with search_path = '' so regclass/regprocedure print
# schema-qualified). Parameters: %(exposed)s and %(managed)s (text[]).
# ---------------------------------------------------------------------------

# Not created by an extension (pg_depend deptype 'e'), for a pg_class or pg_proc row.
_NOT_EXTENSION_MEMBER = """
    not exists (
        select 1 from pg_catalog.pg_depend dep
        where dep.classid = '{catalog}'::pg_catalog.regclass and dep.objid = {oid} and dep.deptype = 'e'
    )"""
_TABLE_NOT_FROM_EXTENSION = _NOT_EXTENSION_MEMBER.format(catalog="pg_catalog.pg_class", oid="c.oid")
_FUNCTION_NOT_FROM_EXTENSION = _NOT_EXTENSION_MEMBER.format(catalog="pg_catalog.pg_proc", oid="p.oid")
_PROJECT_SCHEMA = "n.nspname <> all (%(managed)s) and n.nspname !~ '^pg_'"

# (a) splinter 0013, widened to every exposed schema and to partitioned tables.
RLS_DISABLED = f"""
select c.oid::pg_catalog.regclass::text
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p')
  and n.nspname = any (%(exposed)s)
  and not c.relrowsecurity
  and {_TABLE_NOT_FROM_EXTENSION}
order by 1
"""

# splinter 0008: RLS on and no policy at all, so no API role may touch the table; in an exposed
# schema it is listed by PostgREST for nothing. It belongs in a schema the API does not serve.
RLS_ENABLED_NO_POLICY = f"""
select c.oid::pg_catalog.regclass::text
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p')
  and n.nspname = any (%(exposed)s)
  and c.relrowsecurity
  and not exists (select 1 from pg_catalog.pg_policy pol where pol.polrelid = c.oid)
  and {_TABLE_NOT_FROM_EXTENSION}
order by 1
"""

# (b) and user_metadata: the deparsed USING / WITH CHECK of every policy in a project schema.
POLICY_EXPRESSIONS = f"""
select pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
       pg_catalog.quote_ident(pol.policyname), pol.qual, pol.with_check
from pg_catalog.pg_policies pol
join pg_catalog.pg_namespace n on n.nspname = pol.schemaname
join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = pol.tablename
where {_PROJECT_SCHEMA}
order by 1, 2
"""

# (c) splinter 0001, stricter: an index covers a foreign key when its leading
# key columns are the FK's columns (in any order), it is valid, and it is not
# partial, or leaves out only the rows whose (single) key column is null: the
# checks and cascades ask `where col = $1`, which no null row can answer.
FK_WITHOUT_INDEX = f"""
select c.oid::pg_catalog.regclass::text || ': ' || pg_catalog.quote_ident(fk.conname) || ' ('
       || (select pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' order by k.ord)
           from pg_catalog.unnest(fk.conkey) with ordinality k(attnum, ord)
           join pg_catalog.pg_attribute a on a.attrelid = fk.conrelid and a.attnum = k.attnum)
       || ')'
from pg_catalog.pg_constraint fk
join pg_catalog.pg_class c on c.oid = fk.conrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where fk.contype = 'f'
  and {_PROJECT_SCHEMA}
  and {_TABLE_NOT_FROM_EXTENSION}
  and not exists (
    select 1
    from pg_catalog.pg_index i
    where i.indrelid = fk.conrelid
      and i.indisvalid
      and (i.indpred is null
           or pg_catalog.cardinality(fk.conkey) = 1
              and pg_catalog.pg_get_expr(i.indpred, i.indrelid)
                  = (select '(' || pg_catalog.quote_ident(a.attname) || ' IS NOT NULL)'
                     from pg_catalog.pg_attribute a
                     where a.attrelid = fk.conrelid and a.attnum = fk.conkey[1]))
      and i.indnkeyatts >= pg_catalog.cardinality(fk.conkey)
      and (select pg_catalog.array_agg(x order by x)
           from pg_catalog.unnest((pg_catalog.string_to_array(i.indkey::text, ' ')::int2[])
                                  [1:pg_catalog.cardinality(fk.conkey)]) x)
        = (select pg_catalog.array_agg(x order by x) from pg_catalog.unnest(fk.conkey) x)
  )
order by 1
"""

# (d) splinter 0006: `ALL` expands to each command, `public` (oid 0) to every
# role that RLS applies to (not pg_*, not superusers or BYPASSRLS roles).
MULTIPLE_PERMISSIVE_POLICIES = f"""
select c.oid::pg_catalog.regclass::text || ': role ' || pg_catalog.quote_ident(r.rolname) || ', '
       || act.cmd || ': ' || pg_catalog.string_agg(pg_catalog.quote_ident(p.polname), ', ' order by p.polname)
from pg_catalog.pg_policy p
join pg_catalog.pg_class c on c.oid = p.polrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_roles r on r.oid = any (p.polroles) or 0::oid = any (p.polroles)
cross join lateral pg_catalog.unnest(case p.polcmd
    when 'r' then array['SELECT'] when 'a' then array['INSERT']
    when 'w' then array['UPDATE'] when 'd' then array['DELETE']
    else array['SELECT', 'INSERT', 'UPDATE', 'DELETE'] end) as act(cmd)
where p.polpermissive
  and c.relkind in ('r', 'p')
  and {_PROJECT_SCHEMA}
  and r.rolname !~ '^pg_'
  and r.rolname !~ '^supabase.*admin$'
  and not r.rolsuper
  and not r.rolbypassrls
group by c.oid, r.rolname, act.cmd
having pg_catalog.count(*) > 1
order by 1
"""

_NO_FIXED_SEARCH_PATH = """
    not exists (
        select 1 from pg_catalog.unnest(coalesce(p.proconfig, '{}')) cfg
        where pg_catalog.starts_with(cfg, 'search_path=')
    )"""

# (e) part 1: a SECURITY DEFINER function anywhere (outside Postgres' own
# schemas and extensions) must pin its search_path.
DEFINER_MUTABLE_SEARCH_PATH = f"""
select p.oid::pg_catalog.regprocedure::text
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
where p.prosecdef
  and n.nspname not in ('pg_catalog', 'information_schema')
  and {_FUNCTION_NOT_FROM_EXTENSION}
  and {_NO_FIXED_SEARCH_PATH}
order by 1
"""

# (e) part 2, splinter 0028: a SECURITY DEFINER function in an exposed schema
# that anon may execute is an RLS bypass behind /rest/v1/rpc.
DEFINER_EXECUTABLE_BY_ANON = f"""
select p.oid::pg_catalog.regprocedure::text
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
where p.prosecdef
  and n.nspname = any (%(exposed)s)
  and pg_catalog.has_function_privilege('anon', p.oid, 'EXECUTE')
  and {_FUNCTION_NOT_FROM_EXTENSION}
order by 1
"""

# (f) splinter 0014.
EXTENSION_IN_EXPOSED_SCHEMA = """
select pg_catalog.quote_ident(e.extname) || ' in schema ' || pg_catalog.quote_ident(n.nspname)
from pg_catalog.pg_extension e
join pg_catalog.pg_namespace n on n.oid = e.extnamespace
where n.nspname = any (%(exposed)s)
order by 1
"""

# (g) splinter 0010, for every view in an exposed schema (granted or not).
VIEW_WITHOUT_SECURITY_INVOKER = f"""
select c.oid::pg_catalog.regclass::text
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'v'
  and n.nspname = any (%(exposed)s)
  and {_TABLE_NOT_FROM_EXTENSION}
  and not exists (
    select 1 from pg_catalog.unnest(coalesce(c.reloptions, '{{}}')) opt
    where pg_catalog.lower(opt) in ('security_invoker=true', 'security_invoker=on',
                                    'security_invoker=yes', 'security_invoker=1')
  )
order by 1
"""

# (h) splinter 0016: materialized views have no RLS.
MATERIALIZED_VIEW_EXPOSED = f"""
select c.oid::pg_catalog.regclass::text
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'm'
  and n.nspname not in ('pg_catalog', 'information_schema')
  and {_TABLE_NOT_FROM_EXTENSION}
  and (
    n.nspname = any (%(exposed)s)
    or pg_catalog.has_table_privilege('anon', c.oid, 'SELECT')
    or pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT')
  )
order by 1
"""

# DESIGN.md "functions with a fixed search_path" (splinter 0011): every function
# our migrations create, definer or not.
FUNCTION_MUTABLE_SEARCH_PATH = f"""
select p.oid::pg_catalog.regprocedure::text
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
where p.prokind in ('f', 'p')
  and {_PROJECT_SCHEMA}
  and {_FUNCTION_NOT_FROM_EXTENSION}
  and {_NO_FIXED_SEARCH_PATH}
order by 1
"""

# DESIGN.md "granted only to the roles that need them": a SECURITY DEFINER
# function our migrations create must not keep PUBLIC's default EXECUTE (a null
# ACL means the default, which includes PUBLIC). Trigger functions cannot be
# called directly, so they are exempt.
DEFINER_EXECUTABLE_BY_PUBLIC = f"""
select p.oid::pg_catalog.regprocedure::text
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
where p.prosecdef
  and {_PROJECT_SCHEMA}
  and {_FUNCTION_NOT_FROM_EXTENSION}
  and p.prorettype not in ('pg_catalog.trigger'::pg_catalog.regtype, 'pg_catalog.event_trigger'::pg_catalog.regtype)
  and (
    p.proacl is null
    or exists (
      select 1 from pg_catalog.aclexplode(p.proacl) a
      where a.grantee = 0 and a.privilege_type = 'EXECUTE'
    )
  )
order by 1
"""


# ---------------------------------------------------------------------------
# Policy expressions: which calls must be wrapped as `(select …)`.
# ---------------------------------------------------------------------------

# auth.<fn>(, current_setting(, private.<fn>( — as deparsed with search_path = ''.
WRAPPED_CALL = re.compile(
    r'(?<![\w."$])(?:(?:pg_catalog\.)?current_setting|auth\.(?:\w+|"[^"]+")|private\.(?:\w+|"[^"]+"))\s*\(',
    re.IGNORECASE,
)
_SELECT_GROUP = re.compile(r"\(\s*select\b", re.IGNORECASE)
_FROM = re.compile(r"\bfrom\b", re.IGNORECASE)
USER_METADATA = re.compile(r"user_meta_?data", re.IGNORECASE)


def _blank_string_literals(text: str) -> str:
    """The text with the inside of every '…' literal replaced by spaces (positions kept)."""
    out: list[str] = []
    in_string = in_identifier = False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "'" and text[i + 1:i + 2] == "'":
                out.append("  ")
                i += 2
                continue
            if ch == "'":
                in_string = False
                out.append(ch)
            else:
                out.append(" ")
        else:
            if ch == '"':
                in_identifier = not in_identifier
            elif ch == "'" and not in_identifier:
                in_string = True
            out.append(ch)
        i += 1
    return "".join(out)


def _paren_pairs(text: str) -> list[tuple[int, int]]:
    stack: list[int] = []
    pairs: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        if ch == "(":
            stack.append(i)
        elif ch == ")":
            if not stack:
                raise ValueError(f"unbalanced parentheses in policy expression: {text!r}")
            pairs.append((stack.pop(), i))
    if stack:
        raise ValueError(f"unbalanced parentheses in policy expression: {text!r}")
    return pairs


def unwrapped_calls(expression: str | None) -> list[str]:
    """Calls to auth.*, current_setting or private.* that are not inside a scalar
    `( SELECT …)` without FROM, i.e. that Postgres would evaluate per row.

    `( SELECT auth.uid() AS uid)` and `( SELECT (auth.jwt() ->> 'x'))` are
    wrapped; `EXISTS ( SELECT 1 FROM t WHERE t.user_id = auth.uid())` is not:
    that call runs for every row the subquery reads.
    """
    if not expression:
        return []
    text = _blank_string_literals(expression)
    pairs = _paren_pairs(text)
    close_of = dict(pairs)

    def scalar_select(start: int, end: int) -> bool:
        if not _SELECT_GROUP.match(text, start):
            return False
        inner = list(text[start + 1:end])
        for s, e in pairs:  # blank nested groups: only this level's FROM counts
            if start < s and e < end:
                inner[s - start - 1:e - start] = " " * (e - s + 1)
        return not _FROM.search("".join(inner))

    wrappers = [(s, e) for s, e in pairs if scalar_select(s, e)]
    found = []
    for match in WRAPPED_CALL.finditer(text):
        if any(s < match.start() < e for s, e in wrappers):
            continue
        found.append(expression[match.start():close_of[match.end() - 1] + 1])
    return found


def _policy_calls_unwrapped(conn: psycopg.Connection, params: dict) -> list[str]:
    offenders = []
    for table, policy, qual, with_check in conn.execute(POLICY_EXPRESSIONS, params).fetchall():
        for clause, expression in (("USING", qual), ("WITH CHECK", with_check)):
            for call in unwrapped_calls(expression):
                offenders.append(f"{table}: policy {policy} {clause} calls {call} unwrapped")
    return offenders


def _policy_uses_user_metadata(conn: psycopg.Connection, params: dict) -> list[str]:
    offenders = []
    for table, policy, qual, with_check in conn.execute(POLICY_EXPRESSIONS, params).fetchall():
        for clause, expression in (("USING", qual), ("WITH CHECK", with_check)):
            if expression and USER_METADATA.search(expression):
                offenders.append(f"{table}: policy {policy} {clause} reads user metadata: {expression}")
    return offenders


# ---------------------------------------------------------------------------
# The registry: one entry per rule, one test per entry.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    key: str
    title: str
    query: str | None = None
    check: Callable[[psycopg.Connection, dict], list[str]] | None = None

    def offenders(self, conn: psycopg.Connection, params: dict) -> list[str]:
        if self.check is not None:
            return self.check(conn, params)
        return [row[0] for row in conn.execute(self.query, params).fetchall()]


RULES: dict[str, Rule] = {rule.key: rule for rule in [
    Rule("rls_disabled", "(a) tables in an exposed schema without row-level security", RLS_DISABLED),
    Rule("rls_enabled_no_policy", "tables in an exposed schema no API role may reach (RLS on, no policy)",
         RLS_ENABLED_NO_POLICY),
    Rule("policy_unwrapped_call",
         "(b) policies calling auth.*(), current_setting() or private.*() outside a `(select …)`",
         check=_policy_calls_unwrapped),
    Rule("fk_without_index", "(c) foreign keys without a covering index", FK_WITHOUT_INDEX),
    Rule("multiple_permissive_policies", "(d) more than one permissive policy per table, role and command",
         MULTIPLE_PERMISSIVE_POLICIES),
    Rule("definer_mutable_search_path", "(e) SECURITY DEFINER functions without a fixed search_path",
         DEFINER_MUTABLE_SEARCH_PATH),
    Rule("definer_executable_by_anon", "(e) SECURITY DEFINER functions in an exposed schema executable by anon",
         DEFINER_EXECUTABLE_BY_ANON),
    Rule("extension_in_exposed_schema", "(f) extensions installed in an exposed schema",
         EXTENSION_IN_EXPOSED_SCHEMA),
    Rule("view_without_security_invoker", "(g) views in an exposed schema without security_invoker=true",
         VIEW_WITHOUT_SECURITY_INVOKER),
    Rule("materialized_view_exposed",
         "(h) materialized views in an exposed schema or selectable by anon/authenticated",
         MATERIALIZED_VIEW_EXPOSED),
    Rule("function_mutable_search_path", "functions (any security) without a fixed search_path (DESIGN.md)",
         FUNCTION_MUTABLE_SEARCH_PATH),
    Rule("policy_uses_user_metadata", "policies reading user-editable user_metadata (DESIGN.md)",
         check=_policy_uses_user_metadata),
    Rule("definer_executable_by_public",
         "SECURITY DEFINER functions executable by PUBLIC, i.e. every role (DESIGN.md: granted only where needed)",
         DEFINER_EXECUTABLE_BY_PUBLIC),
]}


def run_rule(conn: psycopg.Connection, rule: Rule | str, exposed: Sequence[str] | None = None) -> list[str]:
    """The rule's offenders, read with search_path = '' in a rolled-back (sub)transaction."""
    rule = RULES[rule] if isinstance(rule, str) else rule
    params = {"exposed": list(exposed) if exposed is not None else exposed_schemas(),
              "managed": list(MANAGED_SCHEMAS)}
    with conn.transaction(force_rollback=True):
        conn.execute("set local search_path = ''")
        return rule.offenders(conn, params)


def lint(database_url: str) -> dict[str, list[str]]:
    """Every rule's offenders in one database (for other suites and ad-hoc use)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return {key: run_rule(conn, rule) for key, rule in RULES.items()}


# ---------------------------------------------------------------------------
# The build gate: the migrated schema passes every rule.
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lint_conn(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_schema_passes(lint_conn: psycopg.Connection, rule: Rule) -> None:
    offenders = run_rule(lint_conn, rule)
    assert offenders == [], f"{rule.title}: {len(offenders)} offender(s)\n  " + "\n  ".join(offenders)


def test_the_lint_sees_the_migrated_schema(lint_conn: psycopg.Connection) -> None:
    """Guards against a lint that passes because it looks at nothing."""
    params = {"exposed": exposed_schemas(), "managed": list(MANAGED_SCHEMAS)}
    with lint_conn.transaction(force_rollback=True):
        lint_conn.execute("set local search_path = ''")
        policies = lint_conn.execute(POLICY_EXPRESSIONS, params).fetchall()
        tables = lint_conn.execute(
            "select count(*) from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'p') and n.nspname = any (%(exposed)s)", params).fetchone()[0]
        fks = lint_conn.execute(
            "select count(*) from pg_catalog.pg_constraint fk join pg_catalog.pg_class c on c.oid = fk.conrelid"
            f" join pg_catalog.pg_namespace n on n.oid = c.relnamespace where fk.contype = 'f' and {_PROJECT_SCHEMA}",
            params).fetchone()[0]
    assert {p[0] for p in policies} >= {"public.profiles", "public.memberships"}
    assert tables >= 5 and fks >= 5


# ---------------------------------------------------------------------------
# Each rule can fail: one offending object per case, in a rolled-back
# transaction on a throwaway clone; compliant twins must not be reported.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    setup: str
    offender: str = ""  # the reported line starts with this; "" = compliant, nothing new reported
    superuser: str = ""  # why planting it needs a superuser (skipped on the Supabase-shaped database)

    def param(self):
        return pytest.param(self, id=f"{self.rule}-{self.id}")


LINT_B = """
create table public.lint_b (id uuid primary key, owner_id uuid, org_id uuid);
alter table public.lint_b enable row level security;
"""
LINT_PARENT = "create table public.lint_parent (id int primary key, a int, b int, unique (a, b));"
LINT_D = "create table public.lint_d (id int primary key); alter table public.lint_d enable row level security;"
DEFINER = "returns int language sql security definer"

OFFENDING = [
    # (a)
    Case("table", "rls_disabled", "create table public.lint_no_rls (id int primary key);", "public.lint_no_rls"),
    Case("partitioned", "rls_disabled", "create table public.lint_parted (id int) partition by range (id);",
         "public.lint_parted"),
    Case("rls_turned_off", "rls_disabled", "alter table public.memberships disable row level security;",
         "public.memberships"),
    Case("no_policy", "rls_enabled_no_policy", """
        create table public.lint_np (id int primary key); alter table public.lint_np enable row level security;""",
         "public.lint_np"),
    Case("policies_dropped", "rls_enabled_no_policy", """
        do $$ declare p record; begin
          for p in select policyname from pg_policies where schemaname = 'public' and tablename = 'venues' loop
            execute format('drop policy %I on public.venues', p.policyname);
          end loop; end $$;""", "public.venues"),
    # (b)
    Case("uid_in_using", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b for select to authenticated using (owner_id = auth.uid());""",
         "public.lint_b: policy lint_b_p USING calls auth.uid()"),
    Case("jwt_in_with_check", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b for insert to authenticated
          with check ((auth.jwt() ->> 'email') is not null);""",
         "public.lint_b: policy lint_b_p WITH CHECK calls auth.jwt()"),
    Case("current_setting", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b for select to authenticated
          using (owner_id::text = current_setting('request.jwt.claim.sub', true));""",
         "public.lint_b: policy lint_b_p USING calls current_setting("),
    Case("private_helper", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b for select to authenticated
          using (org_id = any (private.org_ids_with_role()));""",
         "public.lint_b: policy lint_b_p USING calls private.org_ids_with_role()"),
    Case("private_helper_on_column", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b for delete to authenticated
          using (private.has_org_role(org_id, '{owner}'));""",
         "public.lint_b: policy lint_b_p USING calls private.has_org_role("),
    Case("one_wrapped_one_not", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b for select to authenticated
          using (owner_id = (select auth.uid()) or org_id = any (private.org_ids_with_role()));""",
         "public.lint_b: policy lint_b_p USING calls private.org_ids_with_role()"),
    Case("inside_exists_subquery", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b for select to authenticated
          using (exists (select 1 from public.memberships m
                         where m.org_id = lint_b.org_id and m.user_id = auth.uid()));""",
         "public.lint_b: policy lint_b_p USING calls auth.uid()"),
    Case("restrictive_policy", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b as restrictive for all to authenticated
          using (auth.role() = 'authenticated');""",
         "public.lint_b: policy lint_b_p USING calls auth.role()"),
    # (c)
    Case("single_column", "fk_without_index", LINT_PARENT + """
        create table public.lint_child (id int primary key, parent_id int references public.lint_parent (id));""",
         "public.lint_child: lint_child_parent_id_fkey (parent_id)"),
    Case("not_leading", "fk_without_index", LINT_PARENT + """
        create table public.lint_child (id int primary key, a int, b int, c int,
          constraint lint_child_ab_fkey foreign key (a, b) references public.lint_parent (a, b));
        create index on public.lint_child (c, a, b);""",
         "public.lint_child: lint_child_ab_fkey (a, b)"),
    Case("half_covered", "fk_without_index", LINT_PARENT + """
        create table public.lint_child (id int primary key, a int, b int,
          constraint lint_child_ab_fkey foreign key (a, b) references public.lint_parent (a, b));
        create index on public.lint_child (a);""",
         "public.lint_child: lint_child_ab_fkey (a, b)"),
    Case("partial_index", "fk_without_index", LINT_PARENT + """
        create table public.lint_child (id int primary key, parent_id int references public.lint_parent (id));
        create index on public.lint_child (parent_id) where parent_id > 0;""",
         "public.lint_child: lint_child_parent_id_fkey (parent_id)"),
    Case("not_null_of_another_column", "fk_without_index", LINT_PARENT + """
        create table public.lint_child (id int primary key, parent_id int references public.lint_parent (id), c int);
        create index on public.lint_child (parent_id) where c is not null;""",
         "public.lint_child: lint_child_parent_id_fkey (parent_id)"),
    Case("private_schema", "fk_without_index", """
        create table private.lint_child (id int primary key, org_id uuid references public.organizations (id));""",
         "private.lint_child: lint_child_org_id_fkey (org_id)"),
    # (d)
    Case("same_command", "multiple_permissive_policies", LINT_D + """
        create policy d1 on public.lint_d for select to authenticated using (true);
        create policy d2 on public.lint_d for select to authenticated using (id > 0);""",
         "public.lint_d: role authenticated, SELECT: d1, d2"),
    Case("all_expands", "multiple_permissive_policies", LINT_D + """
        create policy d1 on public.lint_d for all to authenticated using (true);
        create policy d2 on public.lint_d for update to authenticated using (id > 0);""",
         "public.lint_d: role authenticated, UPDATE: d1, d2"),
    Case("public_expands", "multiple_permissive_policies", LINT_D + """
        create policy d1 on public.lint_d for select using (true);
        create policy d2 on public.lint_d for select to anon using (id > 0);""",
         "public.lint_d: role anon, SELECT: d1, d2"),
    # (e)
    Case("private", "definer_mutable_search_path",
         f"create function private.lint_definer() {DEFINER} as $$ select 1 $$;", "private.lint_definer()"),
    Case("auth_schema", "definer_mutable_search_path",
         f"create function auth.lint_definer() {DEFINER} as $$ select 1 $$;", "auth.lint_definer()",
         superuser="on Supabase only supabase_auth_admin creates in schema auth"),
    Case("granted_to_public", "definer_executable_by_anon", f"""
        create function public.lint_definer() {DEFINER} set search_path = '' as $$ select 1 $$;
        grant execute on function public.lint_definer() to public;""", "public.lint_definer()"),
    Case("granted", "definer_executable_by_anon", f"""
        create function public.lint_definer() {DEFINER} set search_path = '' as $$ select 1 $$;
        revoke execute on function public.lint_definer() from public;
        grant execute on function public.lint_definer() to anon;""", "public.lint_definer()"),
    # (f)
    Case("citext", "extension_in_exposed_schema", "create extension citext schema public;", "citext in schema public"),
    # (g)
    Case("default", "view_without_security_invoker", "create view public.lint_v as select 1 as x;", "public.lint_v"),
    Case("invoker_false", "view_without_security_invoker",
         "create view public.lint_v with (security_invoker = false) as select 1 as x;", "public.lint_v"),
    # (h)
    Case("in_public", "materialized_view_exposed",
         "create materialized view public.lint_mv as select 1 as x;", "public.lint_mv"),
    Case("granted_elsewhere", "materialized_view_exposed", """
        create materialized view private.lint_mv as select 1 as x;
        grant select on private.lint_mv to authenticated;""", "private.lint_mv"),
    # extras from DESIGN.md
    Case("invoker", "function_mutable_search_path",
         "create function public.lint_mutable() returns int language sql as $$ select 1 $$;",
         "public.lint_mutable()"),
    Case("jwt", "policy_uses_user_metadata", LINT_B + """
        create policy lint_b_p on public.lint_b for select to authenticated
          using ((select auth.jwt() -> 'user_metadata' ->> 'role') = 'admin');""",
         "public.lint_b: policy lint_b_p USING reads user metadata"),
    Case("granted_to_public", "definer_executable_by_public", f"""
        create function private.lint_definer() {DEFINER} set search_path = '' as $$ select 1 $$;
        grant execute on function private.lint_definer() to public;""", "private.lint_definer()"),
    Case("no_acl", "definer_executable_by_public", f"""
        create function private.lint_definer() {DEFINER} set search_path = '' as $$ select 1 $$;
        update pg_catalog.pg_proc set proacl = null where oid = 'private.lint_definer()'::regprocedure;""",
         "private.lint_definer()", superuser="writes pg_catalog.pg_proc"),
]

COMPLIANT = [
    Case("rls_on", "rls_disabled",
         "create table public.lint_ok (id int primary key); alter table public.lint_ok enable row level security;"),
    Case("private_table", "rls_disabled", "create table private.lint_ok (id int primary key);"),
    Case("rls_with_a_policy", "rls_enabled_no_policy", """
        create table public.lint_np (id int primary key); alter table public.lint_np enable row level security;
        create policy lint_np_p on public.lint_np for select to authenticated using (true);"""),
    Case("private_without_policy", "rls_enabled_no_policy", """
        create table private.lint_np (id int primary key); alter table private.lint_np enable row level security;"""),
    Case("uid_wrapped", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b for update to authenticated
          using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));"""),
    Case("helper_wrapped_with_args", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b for select to authenticated
          using (org_id = any ((select private.org_ids_with_role('{owner,admin}'))::uuid[]));"""),
    Case("expression_wrapped", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b for insert to authenticated
          with check ((select auth.jwt() ->> 'email') is not null
                      and owner_id::text = (select current_setting('request.jwt.claim.sub', true)));"""),
    Case("wrapped_inside_exists", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b for select to authenticated
          using (exists (select 1 from public.memberships m
                         where m.org_id = lint_b.org_id and m.user_id = (select auth.uid())));"""),
    Case("name_in_a_string", "policy_unwrapped_call", LINT_B + """
        create policy lint_b_p on public.lint_b for select to authenticated
          using (owner_id is not null and 'auth.uid() private.x( (' <> '');"""),
    Case("any_order", "fk_without_index", LINT_PARENT + """
        create table public.lint_child (id int primary key, a int, b int, c int,
          constraint lint_child_ab_fkey foreign key (a, b) references public.lint_parent (a, b));
        create index on public.lint_child (b, a, c);"""),
    Case("leading", "fk_without_index", LINT_PARENT + """
        create table public.lint_child (id int primary key, parent_id int references public.lint_parent (id));
        create index on public.lint_child (parent_id, id);"""),
    Case("without_nulls", "fk_without_index", LINT_PARENT + """
        create table public.lint_child (id int primary key, parent_id int references public.lint_parent (id));
        create index on public.lint_child (parent_id) where parent_id is not null;"""),
    Case("restrictive_twin", "multiple_permissive_policies", LINT_D + """
        create policy d1 on public.lint_d for select to authenticated using (true);
        create policy d2 on public.lint_d as restrictive for select to authenticated using (id > 0);"""),
    Case("different_roles", "multiple_permissive_policies", LINT_D + """
        create policy d1 on public.lint_d for select to authenticated using (true);
        create policy d2 on public.lint_d for select to anon using (id > 0);
        create policy d3 on public.lint_d for all to service_role using (true);
        create policy d4 on public.lint_d for select to service_role using (true);"""),
    Case("pinned", "definer_mutable_search_path",
         f"create function private.lint_definer() {DEFINER} set search_path = pg_catalog as $$ select 1 $$;"),
    Case("revoked", "definer_executable_by_anon", f"""
        create function public.lint_definer() {DEFINER} set search_path = '' as $$ select 1 $$;
        revoke execute on function public.lint_definer() from public, anon;
        grant execute on function public.lint_definer() to authenticated;"""),
    Case("in_extensions", "extension_in_exposed_schema", "create extension citext schema extensions;"),
    Case("invoker_true", "view_without_security_invoker",
         "create view public.lint_v with (security_invoker = true) as select 1 as x;"),
    Case("invoker_on", "view_without_security_invoker",
         "create view public.lint_v with (security_invoker = on) as select 1 as x;"),
    Case("private_ungranted", "materialized_view_exposed",
         "create materialized view private.lint_mv as select 1 as x;"),
    Case("pinned", "function_mutable_search_path",
         "create function public.lint_pinned() returns int language sql set search_path = '' as $$ select 1 $$;"),
    Case("role_from_app_metadata", "policy_uses_user_metadata", LINT_B + """
        create policy lint_b_p on public.lint_b for select to authenticated
          using ((select auth.jwt() -> 'app_metadata' ->> 'role') = 'admin');"""),
    Case("revoked", "definer_executable_by_public", f"""
        create function private.lint_definer() {DEFINER} set search_path = '' as $$ select 1 $$;
        revoke execute on function private.lint_definer() from public;
        grant execute on function private.lint_definer() to service_role;"""),
    Case("trigger_function", "definer_executable_by_public", """
        create function private.lint_trigger() returns trigger language plpgsql security definer
          set search_path = '' as $$ begin return new; end $$;"""),
]


@pytest.fixture(scope="module")
def scratch_url(pg_server_url: str, template_url: str) -> Iterator[str]:
    url = clone_database(pg_server_url, template_url, "schema_lint_scratch")
    try:
        yield url
    finally:
        drop_database(pg_server_url, url)


@pytest.fixture
def scratch(scratch_url: str) -> Iterator[psycopg.Connection]:
    """A connection whose one transaction is rolled back after the test."""
    conn = psycopg.connect(scratch_url)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


@pytest.mark.parametrize("case", [c.param() for c in OFFENDING])
def test_rule_reports_offender(scratch: psycopg.Connection, case: Case) -> None:
    if case.superuser and not scratch.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]:
        pytest.skip(f"planting this offender needs a superuser: {case.superuser}")
    before = run_rule(scratch, case.rule)
    assert not [o for o in before if o.startswith(case.offender)], f"already reported before setup: {before}"
    scratch.execute(case.setup)
    after = run_rule(scratch, case.rule)
    assert [o for o in after if o.startswith(case.offender)], (
        f"{case.rule} did not report {case.offender!r}; it reported: {after}")


@pytest.mark.parametrize("case", [c.param() for c in COMPLIANT])
def test_rule_ignores_compliant_object(scratch: psycopg.Connection, case: Case) -> None:
    before = set(run_rule(scratch, case.rule))
    scratch.execute(case.setup)
    after = set(run_rule(scratch, case.rule))
    assert after - before == set(), f"{case.rule} reported a compliant object: {sorted(after - before)}"


def test_every_rule_is_proven_to_fail() -> None:
    assert set(RULES) - {c.rule for c in OFFENDING} == set()


def test_exposed_schemas_are_configurable(scratch: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    """A schema added to EXPOSED_SCHEMAS gets the exposed-schema rules."""
    scratch.execute("""
        create schema lint_api;
        create table lint_api.t (id int primary key);
        create view lint_api.v as select 1 as x;
        create extension citext schema lint_api;
    """)
    expected = {"rls_disabled": "lint_api.t", "view_without_security_invoker": "lint_api.v",
                "extension_in_exposed_schema": "citext in schema lint_api"}
    for rule, offender in expected.items():
        assert offender not in run_rule(scratch, rule), f"{rule} treats lint_api as exposed by default"
    monkeypatch.setattr(sys.modules[__name__], "EXPOSED_SCHEMAS", ("lint_api",))
    for rule, offender in expected.items():
        assert offender in run_rule(scratch, rule), f"{rule} ignores EXPOSED_SCHEMAS"


@pytest.mark.parametrize(("expression", "expected"), [
    ("(id = ( SELECT auth.uid() AS uid))", []),
    ("(id = auth.uid())", ["auth.uid()"]),
    ("((( SELECT (auth.jwt() ->> 'email'::text)) IS NOT NULL) AND (auth.role() = 'x'::text))", ["auth.role()"]),
    ("(org_id = ANY (( SELECT private.org_ids_with_role('{owner}'::public.org_role[]) AS o)::uuid[]))", []),
    ("private.has_org_role(org_id, '{owner,admin}'::public.org_role[])",
     ["private.has_org_role(org_id, '{owner,admin}'::public.org_role[])"]),
    ("(EXISTS ( SELECT 1\n   FROM public.m m\n  WHERE (m.user_id = auth.uid())))", ["auth.uid()"]),
    ("(EXISTS ( SELECT 1\n   FROM public.m m\n  WHERE (m.user_id = ( SELECT auth.uid() AS uid))))", []),
    ("('it''s auth.uid() (' <> current_setting('a)'::text, true))", ["current_setting('a)'::text, true)"]),
    ("(( SELECT EXTRACT(epoch FROM now()) AS e) > auth.uid())", ["auth.uid()"]),
    (None, []),
])
def test_unwrapped_calls_parser(expression: str | None, expected: list[str]) -> None:
    assert unwrapped_calls(expression) == expected
