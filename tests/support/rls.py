"""Helpers for RLS matrix tests: a matrix read as a table, and a probe that runs
one statement as an actor and then proves its effect as superuser."""

from __future__ import annotations

import psycopg

from shared.platform.db import Caller, act_as

# Outcomes in a matrix: x = no grant (42501), p = refused by a policy's
# `with check`, 0 = no row matched (RLS hid it), 1 = allowed.
OUTCOMES = {"x", "p", "0", "1"}


def parse_matrix(matrix: str, actors: tuple[str, ...]) -> list[tuple[str, str, str, str]]:
    """Rows of `<table> <command> <outcome per actor>` into (table, command, actor, outcome) cases."""
    lines = [line.split() for line in matrix.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert tuple(header[2:]) == actors, "matrix header and actors disagree"
    cases = []
    for target, command, *outcomes in rows:
        assert len(outcomes) == len(actors), f"{target} {command}: {len(outcomes)} outcomes"
        assert set(outcomes) <= OUTCOMES, f"{target} {command}: unknown outcome"
        cases += [(target, command, actor, outcome) for actor, outcome in zip(actors, outcomes)]
    return cases


def probe(conn: psycopg.Connection, caller: Caller, statement: str, params, check: str | None = None):
    """Run `statement` as `caller`, then (as superuser, same transaction) `check`.

    Returns ("error", exc, effect) or ("ok", rows, effect); always rolls back.
    The check runs after an error too (the statement ran in a savepoint), so a
    refusal is also proven to have left nothing behind.
    """
    with conn.transaction(force_rollback=True):
        cur = conn.cursor()
        act_as(cur, caller)
        outcome: tuple
        try:
            with conn.transaction():
                cur.execute(statement, params)
                outcome = ("ok", cur.fetchall() if cur.description else [])
        except psycopg.Error as exc:
            outcome = ("error", exc)
        effect = None
        if check is not None:
            cur.execute("reset role")
            cur.execute("select set_config('request.jwt.claims', '', true)")
            cur.execute(check, params)
            effect = next(iter(cur.fetchone().values()))
        return (*outcome, effect)


def without_returning(statement: str) -> str:
    head, sep, _ = statement.rpartition(" returning ")
    assert sep, statement
    return head


def refusal(exc: psycopg.Error) -> str:
    """'x' for a missing grant, 'p' for a policy's `with check`, else the SQLSTATE."""
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return "p" if "row-level security" in str(exc) else "x"
    return f"{exc.sqlstate}: {exc}"


def assert_case(conn: psycopg.Connection, caller: Caller, statement: str, params, check: str | None,
                expected: str, label: str, classify=refusal) -> None:
    """One matrix cell: `statement` as `caller` has the `expected` outcome, proven by `check`.

    Writes run twice: first without `returning` (PostgREST's return=minimal), so a write
    the policy wrongly allows cannot hide behind a SELECT policy that refuses to hand the
    new row back; then with it."""
    if check is not None:
        status, result, effect = probe(conn, caller, without_returning(statement), params, check)
        if status == "error":
            assert classify(result) == expected, f"{label} (minimal): got {result!r}"
        else:
            assert expected in ("0", "1"), f"{label} (minimal): expected {expected}, ran"
        assert effect == (int(expected) if expected in ("0", "1") else 0), (
            f"{label} (minimal): {effect} row(s) really changed")
    status, result, effect = probe(conn, caller, statement, params, check)
    if status == "error":
        assert classify(result) == expected, f"{label}: expected {expected}, got {result!r}"
        if check is not None:
            assert effect == 0, f"{label} was refused but {effect} row(s) changed"
        return
    assert expected in ("0", "1"), f"{label}: expected {expected}, got {len(result)} row(s)"
    assert len(result) == int(expected), f"{label}: returned {len(result)} row(s)"
    if check is not None:
        assert effect == int(expected), f"{label}: {effect} row(s) really changed"
