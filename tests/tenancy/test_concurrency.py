"""Two owners acting at the same moment never leave an organization ownerless.

Every membership mutation locks the organization row (`for update`) before it
counts owners. These tests fire real concurrent calls from threads, each on
its own connection, released together by a barrier, many rounds over.

The first test is the canary (pretix's habit): the same check-then-delete with
the lock left out, interleaved on purpose, does lose every owner. It shows the
harness can see the race, so the passing tests below mean something.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from shared.platform.db import act_as
from tests.support import factories
from tests.support.pg import ArrangingDb

pytestmark = pytest.mark.slow

ROUNDS = 20
TIMEOUT = 10  # seconds: a barrier or lock wait longer than this is a hang, not a race


@pytest.fixture(scope="module")
def db(database_url):
    """The shared `db`, arranging over one reused superuser connection (faster)."""
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


def two_owner_org(db) -> tuple[dict, object, object]:
    """An organization with exactly two owners (and a staff member, so it is not empty)."""
    organization = factories.org(db)
    second = factories.member(db, organization, role="owner")
    factories.member(db, organization, role="staff")
    return organization, organization["owner"], second


def owner_count(db, organization: dict) -> int:
    return db.value("select count(*) from public.memberships where org_id = %s and role = 'owner'",
                    (organization["id"],))


def race(db, steps: list[Callable[[psycopg.Cursor, threading.Barrier], object]]) -> list[object]:
    """Run each step in its own thread on its own, already open connection.

    A step receives its cursor and the shared barrier and decides where to
    wait on it; it returns a value, or the psycopg error it raised is returned.
    Connections are opened before any thread starts so the barrier releases
    the statements, not the connection handshakes.
    """
    barrier = threading.Barrier(len(steps), timeout=TIMEOUT)
    connections = [db.connect() for _ in steps]

    def run(step, conn):
        try:
            with conn.transaction():
                return step(conn.cursor(), barrier)
        except psycopg.Error as exc:
            return exc

    try:
        with ThreadPoolExecutor(len(steps)) as pool:
            futures = [pool.submit(run, step, conn) for step, conn in zip(steps, connections)]
            return [f.result(timeout=TIMEOUT * 2) for f in futures]
    finally:
        for conn in connections:
            conn.close()


def as_user_calling(user, statement: str, params) -> Callable:
    """A step that becomes `user` (as PostgREST does), waits for the others, then calls."""
    def step(cur, barrier):
        act_as(cur, user.caller)
        cur.execute("set local lock_timeout = '5s'")
        barrier.wait()
        cur.execute(statement, params)
        return "ok"
    return step


def detail(result) -> str:
    if result == "ok":
        return "ok"
    assert isinstance(result, psycopg.Error), result
    return f"{result.sqlstate}:{result.diag.message_detail}"


# ---------------------------------------------------------------------------
# Canary: the check-then-delete without the org-row lock loses both owners.
# ---------------------------------------------------------------------------
def test_canary_without_the_org_lock_two_leaving_owners_leave_no_owner(db):
    """The body of private.leave_organization minus `for update`, as plain SQL.

    The barrier sits between the check and the delete, so both transactions
    count two owners before either deletes: the interleaving that the lock
    exists to prevent, forced every time (no luck involved). Both deletes then
    succeed, because they touch different rows and nothing else serialises them.
    """
    organization, first, second = two_owner_org(db)

    def leave_unlocked(user):
        def step(cur, barrier):
            cur.execute("select count(*) as n from public.memberships where org_id = %s and role = 'owner'",
                        (organization["id"],))
            owners_seen = cur.fetchone()["n"]
            barrier.wait()
            if owners_seen > 1:
                cur.execute("delete from public.memberships where org_id = %s and user_id = %s",
                            (organization["id"], user.id))
                return "ok"
            return "refused"
        return step

    results = race(db, [leave_unlocked(first), leave_unlocked(second)])
    assert results == ["ok", "ok"]
    assert owner_count(db, organization) == 0, "the canary should show the race; the harness is broken"


def test_with_the_org_lock_the_second_leaver_waits_and_then_sees_one_owner(db):
    """The same two leavers through the real RPC, with a deterministic order.

    The first holds its transaction open after leaving; the second must block
    on the organization row (seen in pg_stat_activity), and once the first
    commits it counts one owner and is refused.
    """
    organization, first, second = two_owner_org(db)
    first_conn, second_conn = db.connect(), db.connect()
    try:
        first_conn.execute("begin")
        act_as(first_conn.cursor(), first.caller)
        first_conn.execute("select public.leave_organization(%s)", (organization["id"],))

        second_pid = second_conn.info.backend_pid
        outcome: dict = {}

        def second_leaves():
            try:
                with second_conn.transaction():
                    act_as(second_conn.cursor(), second.caller)
                    second_conn.execute("select public.leave_organization(%s)", (organization["id"],))
                outcome["result"] = "ok"
            except psycopg.Error as exc:
                outcome["result"] = exc

        thread = threading.Thread(target=second_leaves)
        thread.start()
        deadline = time.monotonic() + TIMEOUT
        while db.value("select wait_event_type from pg_stat_activity where pid = %s", (second_pid,)) != "Lock":
            assert thread.is_alive(), f"the second leaver did not wait for the lock: {outcome}"
            assert time.monotonic() < deadline, "the second leaver never blocked"
            time.sleep(0.01)
        first_conn.execute("commit")
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    finally:
        first_conn.close()
        second_conn.close()

    assert detail(outcome["result"]) == "PT409:last_owner"
    assert owner_count(db, organization) == 1


# ---------------------------------------------------------------------------
# The real thing: both owners at once, many rounds.
# ---------------------------------------------------------------------------
def _rounds(db, make_steps, allowed_losers: set[str]):
    outcomes = []
    for _ in range(ROUNDS):
        organization, first, second = two_owner_org(db)
        results = [detail(r) for r in race(db, make_steps(organization, first, second))]
        outcomes.append(tuple(sorted(results)))
        assert owner_count(db, organization) >= 1, f"no owner left after {results}"
        assert results.count("ok") == 1, f"exactly one call should win: {results}"
        loser = next(r for r in results if r != "ok")
        assert loser in allowed_losers, f"unexpected refusal {loser}"
    return outcomes


def test_two_owners_leaving_at_once_always_leave_one_owner(db):
    def steps(org, first, second):
        return [as_user_calling(user, "select public.leave_organization(%s)", (org["id"],))
                for user in (first, second)]

    _rounds(db, steps, {"PT409:last_owner"})


def test_two_owners_demoting_each_other_at_once_always_leave_one_owner(db):
    def steps(org, first, second):
        return [
            as_user_calling(first, "select public.change_member_role(%s, %s, 'admin')", (org["id"], second.id)),
            as_user_calling(second, "select public.change_member_role(%s, %s, 'admin')", (org["id"], first.id)),
        ]

    # The loser has just become an admin, and admins cannot demote owners.
    _rounds(db, steps, {"PT403:owner_only"})


def test_two_owners_removing_each_other_at_once_always_leave_one_owner(db):
    def steps(org, first, second):
        return [
            as_user_calling(first, "select public.remove_member(%s, %s)", (org["id"], second.id)),
            as_user_calling(second, "select public.remove_member(%s, %s)", (org["id"], first.id)),
        ]

    # The loser is no longer a member at all.
    _rounds(db, steps, {"PT403:not_a_manager"})


def test_two_owners_each_demoting_themselves_at_once_always_leave_one_owner(db):
    def steps(org, first, second):
        return [as_user_calling(user, "select public.change_member_role(%s, %s, 'staff')", (org["id"], user.id))
                for user in (first, second)]

    _rounds(db, steps, {"PT409:last_owner"})


# ---------------------------------------------------------------------------
# Lock order: every membership mutation takes the organization row first.
# ---------------------------------------------------------------------------
def test_accepting_while_the_same_address_is_re_invited_does_not_deadlock(db):
    """Re-inviting an address replaces its open invitation (org lock, then the
    invitation row); accepting must take its locks in the same order, or the
    two wait on each other. Forced interleaving: an admin's transaction holds
    the org lock (it has just invited someone else) while the invitee accepts;
    then the admin re-invites the invitee's address."""
    organization = factories.org(db)
    owner, admin = organization["owner"], factories.member(db, organization, role="admin")
    email = f"racer-{time.monotonic_ns()}@example.com"
    invited = db.attempt(owner.caller, "select public.invite_member(%s, %s, 'staff') as r",
                         (organization["id"], email))
    token = invited[0]["r"]["token"]
    invitee = db.user(email)

    admin_conn, invitee_conn = db.connect(), db.connect()
    outcome: dict = {}
    try:
        admin_conn.execute("begin")
        act_as(admin_conn.cursor(), admin.caller)
        admin_conn.execute("set local lock_timeout = '5s'")
        admin_conn.execute("select public.invite_member(%s, 'someone-else@example.com', 'driver')",
                           (organization["id"],))

        def accept():
            try:
                with invitee_conn.transaction():
                    act_as(invitee_conn.cursor(), invitee.caller)
                    invitee_conn.execute("set local lock_timeout = '5s'")
                    invitee_conn.execute("select public.accept_invitation(%s)", (token,))
                outcome["accept"] = "ok"
            except psycopg.Error as exc:
                outcome["accept"] = exc

        thread = threading.Thread(target=accept)
        thread.start()
        pid = invitee_conn.info.backend_pid
        deadline = time.monotonic() + TIMEOUT
        while db.value("select wait_event_type from pg_stat_activity where pid = %s", (pid,)) != "Lock":
            assert thread.is_alive(), f"the accept should wait for the admin's org lock: {outcome}"
            assert time.monotonic() < deadline, "the accept never blocked"
            time.sleep(0.01)
        try:
            admin_conn.execute("select public.invite_member(%s, %s, 'admin')", (organization["id"], email))
            admin_conn.execute("commit")
            outcome["reinvite"] = "ok"
        except psycopg.Error as exc:
            admin_conn.execute("rollback")
            outcome["reinvite"] = exc
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    finally:
        admin_conn.close()
        invitee_conn.close()

    # The re-invite wins (it came first at the org lock); the old token is then void.
    assert outcome["reinvite"] == "ok", f"re-invite failed: {detail(outcome['reinvite'])} {outcome['reinvite']}"
    assert detail(outcome["accept"]) == "PT404:invitation_invalid", outcome["accept"]
    assert db.value("select count(*) from public.memberships where org_id = %s and user_id = %s",
                    (organization["id"], invitee.id)) == 0


def test_an_invitation_accepted_twice_at_once_makes_one_membership(db):
    for round_ in range(ROUNDS // 2):
        organization = factories.org(db)
        email = f"twice-{round_}-{time.monotonic_ns()}@example.com"
        invited = db.attempt(organization["owner"].caller, "select public.invite_member(%s, %s, 'staff') as r",
                             (organization["id"], email))
        invitee = db.user(email)
        statement = "select public.accept_invitation(%s)"
        results = [detail(r) for r in race(db, [as_user_calling(invitee, statement, (invited[0]["r"]["token"],))
                                                 for _ in range(2)])]
        assert sorted(results) == ["PT404:invitation_invalid", "ok"], results
        assert db.value("select count(*) from public.memberships where org_id = %s and user_id = %s",
                        (organization["id"], invitee.id)) == 1
