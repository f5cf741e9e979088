"""Who may read and write AI wizard sessions (policies/ticketing.sql) and who may touch
the AI budget (private.ai_usage, migrations/*_ticketing_ai_wizard.sql).

A wizard session is private to the user who opened it: only its owner reads,
continues or deletes it; nobody else in the organization (not even another
manager or the owner of the organization), no other tenant and not anon sees
it. A user opens a session only in their own name (`with check`), and only in
an organization they manage events for (the trigger, PT403 not_an_event_manager).
Token budgets live in private.ai_usage, out of every API role's reach.

Each probe runs as PostgREST would (`set local role` + `request.jwt.claims`)
in a transaction that is always rolled back. Writes are judged by what
`returning` gave back and by what a superuser then sees in the same
transaction; each write also runs once without `returning` (return=minimal),
so a write hole cannot hide behind the SELECT policy.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared.platform import errors
from shared.platform.db import Caller, act_as
from tests.support import factories, ticketing
from tests.support.rls import OUTCOMES, assert_case, parse_matrix, probe, refusal
from tests.support.pg import ArrangingDb

ACTORS = ("anon", "outsider", "owner", "other_manager", "admin", "manager", "staff", "dispatcher", "driver",
          "affiliate", "rival_owner", "service_role")

# Legend: x = refused for want of a grant (42501 "permission denied");
#         p = refused by the policy's `with check` (42501 "row-level security");
#         t = refused by the trigger: PT403 not_an_event_manager (this file's addition);
#         0 = silently matches no row;  1 = reads / writes the one target row.
#
# The target session was opened by the organization's owner (`owner`).
# `other_manager` is a second manager of the same organization with a session of
# their own; `manager`, `admin` manage events too but opened nothing.
#
# insert           : a session in the organization with owner_id = the actor
#                    (anon and service_role, who have no uid, name the owner);
# insert_for_owner : a session in the organization with owner_id = the target
#                    session's owner, i.e. in somebody else's name (the owner
#                    is a manager, so the trigger passes and the policy decides).
MATRIX = """
table            command          anon outsider owner other_manager admin manager staff dispatcher driver affiliate rival_owner service_role
wizard_sessions  select           x    0        1     0             0     0       0     0          0      0         0           1
wizard_sessions  insert           x    t        1     1             1     1       t     t          t      t         t           1
wizard_sessions  insert_for_owner x    p        1     p             p     p       p     p          p      p         p           1
wizard_sessions  update           x    0        1     0             0     0       0     0          0      0         0           1
wizard_sessions  delete           x    0        1     0             0     0       0     0          0      0         0           1
"""
# service_role is BYPASSRLS with every grant (Supabase's contract for the server key);
# the trigger still holds it to sessions owned by an event manager of the organization.

TRIGGER = "t"


def parse_ai_matrix(matrix: str) -> list[tuple[str, str, str, str]]:
    """parse_matrix, plus this file's `t` (the trigger's PT403) in the legend."""
    masked = "\n".join(
        " ".join(token if i < 2 or token != TRIGGER else "p" for i, token in enumerate(line.split()))
        for line in matrix.strip().splitlines())
    cases = parse_matrix(masked, ACTORS)
    rows = [line.split() for line in matrix.strip().splitlines()[1:]]
    truth = {(r[0], r[1], actor): outcome for r in rows for actor, outcome in zip(ACTORS, r[2:])}
    assert set(truth.values()) <= OUTCOMES | {TRIGGER}
    return [(t, c, a, truth[(t, c, a)]) for t, c, a, _ in cases]


CASES = parse_ai_matrix(MATRIX)
TABLE = "wizard_sessions"
COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE")


def outcome_of(exc: psycopg.Error) -> str:
    if exc.sqlstate == "PT403" and exc.diag.message_detail == "not_an_event_manager":
        return TRIGGER
    return refusal(exc)


INSERT_COLUMNS = "org_id, owner_id, title, messages, draft, event_id"
INSERT_VALUES = "%(org_id)s, {owner}, %(marker)s, '[]'::jsonb, '{{}}'::jsonb, %(event_id)s"


def statement_for(command: str) -> tuple[str, str | None]:
    """The probe for `command` on wizard_sessions, and the superuser count that shows its effect."""
    if command == "select":
        return "select id from public.wizard_sessions where id = %(session_id)s", None
    if command in ("insert", "insert_for_owner"):
        owner = "%(me)s" if command == "insert" else "%(owner_id)s"
        return (f"insert into public.wizard_sessions ({INSERT_COLUMNS})"
                f" values ({INSERT_VALUES.format(owner=owner)}) returning id",
                "select count(*) from public.wizard_sessions where title = %(marker)s")
    if command == "update":
        return ("update public.wizard_sessions set title = %(marker)s where id = %(session_id)s returning id",
                "select count(*) from public.wizard_sessions where id = %(session_id)s and title = %(marker)s")
    return ("delete from public.wizard_sessions where id = %(session_id)s returning id",
            "select 1 - count(*) from public.wizard_sessions where id = %(session_id)s")


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def prober(database_url):
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def open_session(db, org_id, owner_id, *, title: str, event_id=None) -> dict:
    return db.one("insert into public.wizard_sessions (org_id, owner_id, title, messages, event_id)"
                  " values (%s, %s, %s, %s, %s) returning *",
                  (org_id, owner_id, title, Jsonb([{"role": "user", "content": f"Plan {title}"}]), event_id))


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    org, rival = team["org"], team["rival"]
    people = dict(team["people"])
    people["other_manager"] = factories.member(db, org, role="manager")
    event = ticketing.event(db, org, status="draft")
    rival_event = ticketing.event(db, rival, status="draft")
    target = open_session(db, org["id"], people["owner"].id, title="Owner's gala", event_id=event["id"])
    colleague = open_session(db, org["id"], people["other_manager"].id, title="Manager's gala")
    theirs = open_session(db, rival["id"], people["rival_owner"].id, title="Rival gala",
                          event_id=rival_event["id"])
    callers = {role: user.caller for role, user in people.items()}
    callers["anon"] = Caller.anon()
    callers["service_role"] = Caller.service()
    return {
        "team": team,
        "people": people,
        "callers": callers,
        "sessions": {"owner": target["id"], "other_manager": colleague["id"], "rival_owner": theirs["id"]},
        "params": {"session_id": target["id"], "org_id": org["id"], "owner_id": people["owner"].id,
                   "event_id": event["id"], "rival_org_id": rival["id"], "rival_event_id": rival_event["id"],
                   "rival_session_id": theirs["id"], "marker": f"probe-{uuid.uuid4().hex[:8]}"},
    }


def params_for(world: dict, actor: str, **extra) -> dict:
    me = world["people"][actor].id if actor in world["people"] else world["params"]["owner_id"]
    return {**world["params"], "me": me, **extra}


@pytest.mark.parametrize(("table", "command", "actor", "expected"), CASES,
                         ids=[f"{t}-{c}-{a}" for t, c, a, _ in CASES])
def test_rls_matrix(prober, world, table, command, actor, expected):
    statement, check = statement_for(command)
    assert_case(prober, world["callers"][actor], statement, params_for(world, actor), check, expected,
                f"{actor} {command} on {table}", classify=outcome_of)


def test_wizard_sessions_have_rls_on_and_one_permissive_policy_per_command(db):
    row = db.one("select relrowsecurity from pg_class where oid = 'public.wizard_sessions'::regclass")
    assert row["relrowsecurity"] is True
    policies = db.sql("select cmd, roles, permissive from pg_policies where schemaname = 'public'"
                      " and tablename = %s", (TABLE,))
    assert sorted(p["cmd"] for p in policies) == sorted(COMMANDS), policies
    assert all(p["roles"] == ["authenticated"] for p in policies), policies
    assert all(p["permissive"] == "PERMISSIVE" for p in policies), policies


def test_anon_has_no_privilege_at_all_on_wizard_sessions(db):
    for privilege in ("select", "insert", "update", "delete", "truncate", "references", "trigger"):
        assert db.value("select has_table_privilege('anon', 'public.wizard_sessions', %s)", (privilege,)) is False, \
            f"anon has {privilege} on wizard_sessions"
    for privilege in ("select", "insert", "update", "references"):
        assert db.value("select has_any_column_privilege('anon', 'public.wizard_sessions', %s)",
                        (privilege,)) is False, f"anon has {privilege} on a column of wizard_sessions"


def test_authenticated_cannot_truncate_or_hold_references_on_wizard_sessions(db):
    for privilege in ("truncate", "references", "trigger"):
        assert db.value("select has_table_privilege('authenticated', 'public.wizard_sessions', %s)",
                        (privilege,)) is False, f"authenticated has {privilege} on wizard_sessions"


@pytest.mark.parametrize("actor", ["owner", "other_manager", "admin", "manager", "staff", "outsider",
                                   "rival_owner"])
def test_each_user_lists_exactly_their_own_sessions(prober, world, actor):
    status, got, _ = probe(prober, world["callers"][actor], "select id from public.wizard_sessions", {})
    assert status == "ok", got
    expected = {world["sessions"][actor]} if actor in world["sessions"] else set()
    assert {r["id"] for r in got} == expected, actor


# ---------------------------------------------------------------------------
# Column grants: what a user may set.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("column", "value"), [
    ("prompt_tokens", "0"),
    ("completion_tokens", "0"),
    ("status", "'completed'"),
    ("id", "gen_random_uuid()"),
    ("created_at", "now()"),
    ("updated_at", "now()"),
])
def test_an_owner_may_not_set_ungranted_columns_on_insert(prober, world, column, value):
    statement = (f"insert into public.wizard_sessions ({INSERT_COLUMNS}, {column})"
                 f" values ({INSERT_VALUES.format(owner='%(me)s')}, {value}) returning id")
    status, exc, effect = probe(prober, world["callers"]["owner"], statement, params_for(world, "owner"),
                                "select count(*) from public.wizard_sessions where title = %(marker)s")
    assert status == "error" and refusal(exc) == "x", f"{column} on insert: {exc!r}"
    assert effect == 0


def test_the_same_insert_without_the_ungranted_column_is_allowed(prober, world):
    # The control for the test above: the refusal is the column, not the row.
    statement = (f"insert into public.wizard_sessions ({INSERT_COLUMNS})"
                 f" values ({INSERT_VALUES.format(owner='%(me)s')}) returning id, prompt_tokens")
    status, rows, effect = probe(prober, world["callers"]["owner"], statement, params_for(world, "owner"),
                                 "select count(*) from public.wizard_sessions where title = %(marker)s")
    assert status == "ok" and len(rows) == 1 and rows[0]["prompt_tokens"] == 0, rows
    assert effect == 1


@pytest.mark.parametrize(("assignment", "check"), [
    ("owner_id = %(other_manager_id)s",
     "select count(*) from public.wizard_sessions where id = %(session_id)s and owner_id = %(other_manager_id)s"),
    ("org_id = %(rival_org_id)s",
     "select count(*) from public.wizard_sessions where id = %(session_id)s and org_id = %(rival_org_id)s"),
    ("id = gen_random_uuid()",
     "select 1 - count(*) from public.wizard_sessions where id = %(session_id)s"),
    ("created_at = now() - interval '1 year'",
     "select count(*) from public.wizard_sessions where id = %(session_id)s and created_at < now() - interval '1 day'"),
])
def test_an_owner_cannot_give_away_move_or_rewrite_the_identity_of_their_session(prober, world, assignment,
                                                                                  check):
    statement = f"update public.wizard_sessions set {assignment} where id = %(session_id)s returning id"
    params = params_for(world, "owner", other_manager_id=world["people"]["other_manager"].id)
    status, exc, effect = probe(prober, world["callers"]["owner"], statement, params, check)
    assert status == "error" and refusal(exc) == "x", f"{assignment}: {exc!r}"
    assert effect == 0


def test_an_owner_continues_their_session_with_the_granted_columns(prober, world):
    statement = ("update public.wizard_sessions set title = %(marker)s, status = 'completed',"
                 " messages = '[{\"role\": \"user\", \"content\": \"hi\"}]'::jsonb,"
                 " draft = '{\"title\": \"x\"}'::jsonb,"
                 " event_id = %(event_id)s, prompt_tokens = prompt_tokens + 10,"
                 " completion_tokens = completion_tokens + 5 where id = %(session_id)s returning id")
    status, rows, effect = probe(prober, world["callers"]["owner"], statement, params_for(world, "owner"),
                                 "select count(*) from public.wizard_sessions where id = %(session_id)s"
                                 " and title = %(marker)s and status = 'completed' and prompt_tokens = 10")
    assert status == "ok" and len(rows) == 1, rows
    assert effect == 1


# ---------------------------------------------------------------------------
# The trigger: event managers of the session's organization, events of that organization.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("actor", "org_key"), [
    ("manager", "rival_org_id"),
    ("owner", "rival_org_id"),
    ("rival_owner", "org_id"),
    ("outsider", "org_id"),
    ("staff", "org_id"),
])
def test_a_session_is_only_opened_in_an_organization_the_user_manages_events_for(prober, world, actor, org_key):
    statement = (f"insert into public.wizard_sessions (org_id, owner_id, title)"
                 f" values (%({org_key})s, %(me)s, %(marker)s) returning id")
    status, exc, effect = probe(prober, world["callers"][actor], statement, params_for(world, actor),
                                "select count(*) from public.wizard_sessions where title = %(marker)s")
    assert status == "error", f"{actor} opened a session in {org_key}"
    assert exc.sqlstate == "PT403" and exc.diag.message_detail == "not_an_event_manager", exc
    assert effect == 0


def test_service_role_cannot_open_a_session_for_a_member_who_does_not_manage_events(prober, world):
    statement = ("insert into public.wizard_sessions (org_id, owner_id, title)"
                 " values (%(org_id)s, %(staff_id)s, %(marker)s) returning id")
    status, exc, effect = probe(prober, world["callers"]["service_role"], statement,
                                params_for(world, "service_role", staff_id=world["people"]["staff"].id),
                                "select count(*) from public.wizard_sessions where title = %(marker)s")
    assert status == "error" and exc.sqlstate == "PT403", exc
    assert effect == 0


def test_a_manager_cannot_open_a_session_in_a_colleagues_name(prober, world):
    # The colleague manages events too, so the trigger passes: the policy refuses.
    statement = ("insert into public.wizard_sessions (org_id, owner_id, title)"
                 " values (%(org_id)s, %(other_manager_id)s, %(marker)s)")
    status, exc, effect = probe(prober, world["callers"]["owner"], statement,
                                params_for(world, "owner", other_manager_id=world["people"]["other_manager"].id),
                                "select count(*) from public.wizard_sessions where title = %(marker)s")
    assert status == "error" and refusal(exc) == "p", exc
    assert effect == 0


@pytest.mark.parametrize(("statement", "check"), [
    (f"insert into public.wizard_sessions ({INSERT_COLUMNS})"
     " values (%(org_id)s, %(me)s, %(marker)s, '[]'::jsonb, '{}'::jsonb, %(rival_event_id)s) returning id",
     "select count(*) from public.wizard_sessions where title = %(marker)s"),
    ("update public.wizard_sessions set event_id = %(rival_event_id)s where id = %(session_id)s returning id",
     "select count(*) from public.wizard_sessions where id = %(session_id)s and event_id = %(rival_event_id)s"),
])
def test_a_session_cannot_point_at_another_organizations_event(prober, world, statement, check):
    status, exc, effect = probe(prober, world["callers"]["owner"], statement, params_for(world, "owner"), check)
    assert status == "error", "a session now points at the rival's event"
    assert exc.sqlstate == "PT422" and exc.diag.message_detail == "foreign_event", exc
    assert effect == 0


@pytest.mark.parametrize(("statement", "sqlstate", "detail"), [
    ("insert into public.wizard_sessions (org_id, owner_id, title) values (%(unknown)s, %(me)s, %(marker)s)",
     "PT403", "not_an_event_manager"),
    ("insert into public.wizard_sessions (org_id, owner_id, title, event_id)"
     " values (%(org_id)s, %(me)s, %(marker)s, %(unknown)s)", "PT422", "foreign_event"),
    ("update public.wizard_sessions set event_id = %(unknown)s where id = %(session_id)s",
     "PT422", "foreign_event"),
])
def test_an_unknown_id_is_refused_exactly_like_another_tenants(prober, world, statement, sqlstate, detail):
    # The trigger runs as definer and sees every tenant: were a missing id refused
    # differently (say by the foreign key), the error would tell a user which
    # organizations and events exist.
    status, exc, _ = probe(prober, world["callers"]["owner"], statement,
                           params_for(world, "owner", unknown=str(uuid.uuid4())))
    assert status == "error", statement
    assert (exc.sqlstate, exc.diag.message_detail) == (sqlstate, detail), exc


def test_nobody_but_the_owner_can_touch_the_rival_session(prober, world):
    for actor in ("owner", "manager", "outsider"):
        for statement in ("select id from public.wizard_sessions where id = %(rival_session_id)s",
                          "update public.wizard_sessions set title = %(marker)s where id = %(rival_session_id)s"
                          " returning id",
                          "delete from public.wizard_sessions where id = %(rival_session_id)s returning id"):
            status, got, effect = probe(prober, world["callers"][actor], statement, params_for(world, actor),
                                        "select count(*) from public.wizard_sessions where id = %(rival_session_id)s"
                                        " and title = 'Rival gala'")
            assert status == "ok" and got == [], f"{actor}: {statement}: {got!r}"
            assert effect == 1, f"{actor} changed the rival's session: {statement}"


# ---------------------------------------------------------------------------
# The AI budget: private.ai_usage and the functions that keep it.
# ---------------------------------------------------------------------------
AI_USAGE_STATEMENTS = {
    "select": "select * from private.ai_usage",
    "insert": "insert into private.ai_usage (user_id, day) values (%(me)s, current_date)",
    "update": "update private.ai_usage set tokens = 0, requests = 0 where user_id = %(me)s",
    "delete": "delete from private.ai_usage where user_id = %(me)s",
}


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_no_api_role_holds_a_privilege_on_ai_usage(db, role):
    for privilege in ("select", "insert", "update", "delete", "truncate", "references", "trigger"):
        assert db.value("select has_table_privilege(%s, 'private.ai_usage', %s)", (role, privilege)) is False, \
            f"{role} has {privilege} on private.ai_usage"
    for privilege in ("select", "insert", "update", "references"):
        assert db.value("select has_any_column_privilege(%s, 'private.ai_usage', %s)",
                        (role, privilege)) is False, f"{role} has {privilege} on a column of private.ai_usage"


@pytest.mark.parametrize("actor", ["anon", "owner", "staff"])
@pytest.mark.parametrize("command", sorted(AI_USAGE_STATEMENTS))
def test_ai_usage_is_unreachable_from_the_api(prober, world, actor, command):
    status, exc, _ = probe(prober, world["callers"][actor], AI_USAGE_STATEMENTS[command],
                           params_for(world, actor))
    assert status == "error", f"{actor} could {command} private.ai_usage"
    assert isinstance(exc, psycopg.errors.InsufficientPrivilege) and refusal(exc) == "x", exc


def reserve(cur, caller: Caller, per_minute: int, daily_tokens: int):
    """Call private.ai_reserve as `caller` in a savepoint; its result or the error. Ends as superuser."""
    try:
        with cur.connection.transaction():
            act_as(cur, caller)
            cur.execute("select private.ai_reserve(%s, %s) as allowance", (per_minute, daily_tokens))
            result = cur.fetchone()["allowance"]
    except psycopg.Error as exc:
        result = exc
    cur.execute("reset role")
    cur.execute("select set_config('request.jwt.claims', '', true)")
    return result


def as_caller(cur, caller: Caller, statement: str, params=None):
    try:
        with cur.connection.transaction():
            act_as(cur, caller)
            cur.execute(statement, params)
            result = cur.fetchall() if cur.description else []
    except psycopg.Error as exc:
        result = exc
    cur.execute("reset role")
    cur.execute("select set_config('request.jwt.claims', '', true)")
    return result


def usage_of(cur, user_id) -> dict | None:
    cur.execute("select requests, tokens from private.ai_usage where user_id = %s", (user_id,))
    return cur.fetchone()


def test_a_user_cannot_reset_their_own_spent_budget(prober, db):
    user = db.user()
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        assert isinstance(reserve(cur, user.caller, 10, 1000), dict)
        assert as_caller(cur, user.caller, "select private.ai_record_tokens(1000)") == [{"ai_record_tokens": None}]
        spent = reserve(cur, user.caller, 10, 1000)
        assert isinstance(spent, psycopg.Error) and spent.sqlstate == "PT429", spent
        assert spent.diag.message_detail == "token_budget_exhausted"
        for statement in (AI_USAGE_STATEMENTS["update"], AI_USAGE_STATEMENTS["delete"],
                          "select private.ai_record_tokens(-1000)"):
            as_caller(cur, user.caller, statement, {"me": user.id})
        assert usage_of(cur, user.id) == {"requests": 1, "tokens": 1000}
        still = reserve(cur, user.caller, 10, 1000)
        assert isinstance(still, psycopg.Error) and still.diag.message_detail == "token_budget_exhausted", (
            f"a user reset their own budget: {still!r}")


@pytest.mark.parametrize("call", ["select private.ai_reserve(1000, 1000000)", "select private.ai_record_tokens(1)"])
def test_anon_cannot_call_the_budget_functions(prober, world, db, call):
    name = call.split("(")[0].removeprefix("select ")
    signature = {"private.ai_reserve": "private.ai_reserve(integer, integer)",
                 "private.ai_record_tokens": "private.ai_record_tokens(integer)"}[name]
    assert db.value("select has_function_privilege('anon', %s, 'execute')", (signature,)) is False
    status, exc, effect = probe(prober, Caller.anon(), call, {}, "select count(*) from private.ai_usage")
    assert status == "error", f"anon called {name}: {exc!r}"
    assert refusal(exc) == "x", exc
    assert effect == db.value("select count(*) from private.ai_usage")


def test_ai_reserve_counts_per_user_and_users_do_not_share_a_window(prober, db):
    first, second = db.user(), db.user()
    with prober.transaction(force_rollback=True):
        cur = prober.cursor()
        # now() is fixed for the transaction: every call lands in the same minute.
        assert reserve(cur, first.caller, 2, 1000) == {"tokens_left": 1000, "requests_left_this_minute": 1}
        assert reserve(cur, first.caller, 2, 1000) == {"tokens_left": 1000, "requests_left_this_minute": 0}
        limited = reserve(cur, first.caller, 2, 1000)
        assert isinstance(limited, psycopg.Error) and limited.sqlstate == "PGRST", limited
        assert errors.from_database(limited).code == "rate_limited"
        # The first user's full window is theirs alone.
        assert reserve(cur, second.caller, 2, 1000) == {"tokens_left": 1000, "requests_left_this_minute": 1}
        assert as_caller(cur, first.caller, "select private.ai_record_tokens(700)") == [{"ai_record_tokens": None}]
        assert reserve(cur, second.caller, 2, 1000) == {"tokens_left": 1000, "requests_left_this_minute": 0}
        assert usage_of(cur, first.id) == {"requests": 2, "tokens": 700}
        assert usage_of(cur, second.id) == {"requests": 2, "tokens": 0}
        cur.execute("select count(*) as n from private.ai_usage where user_id = any(%s)", ([first.id, second.id],))
        assert cur.fetchone()["n"] == 2
