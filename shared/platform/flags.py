"""Feature flags, asked of Postgres so functions and SQL agree (routines/platform/feature_flags.sql).

    if not flags.enabled(cur, "paypal", org_id): ...
    flags.require(cur, "ai_wizard", org_id)     # 403 feature_disabled
"""

from __future__ import annotations

import psycopg


def enabled(cur: psycopg.Cursor, flag: str, org_id: str | None = None) -> bool:
    cur.execute("select private.feature_enabled(%s, %s) as on", (flag, org_id))
    return bool(cur.fetchone()["on"])


def require(cur: psycopg.Cursor, flag: str, org_id: str | None = None) -> None:
    """403 feature_disabled when the flag is off for the organization (or the platform)."""
    cur.execute("select private.require_feature(%s, %s)", (flag, org_id))
