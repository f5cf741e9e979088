"""Tenancy and identity: reads the host needs; writes are RPCs in Postgres."""

from __future__ import annotations

import time

import psycopg

from shared.platform import db, errors, migrate


def health() -> dict:
    """A real round trip: fails loudly (503) if the database does not answer."""
    started = time.perf_counter()
    try:
        with db.pool().connection(timeout=5) as conn:
            version = migrate.schema_version(conn)
    except (psycopg.Error, TimeoutError, OSError) as exc:
        raise errors.DomainError(503, "database_unavailable", "The database did not answer") from exc
    return {
        "status": "ok",
        "database": "ok",
        "schema_version": version,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def describe_caller(cur: psycopg.Cursor) -> dict:
    """The caller's profile and memberships, as RLS lets them see."""
    cur.execute(
        "select id, email, full_name, phone, avatar_url, created_at from public.profiles"
        " where id = (select auth.uid())"
    )
    profile = cur.fetchone()
    cur.execute(
        """
        select m.org_id, o.name as org_name, o.slug as org_slug, m.role, m.scope
        from public.memberships m
        join public.organizations o on o.id = m.org_id
        where m.user_id = (select auth.uid())
        order by o.name
        """
    )
    return {"profile": profile, "memberships": cur.fetchall()}
