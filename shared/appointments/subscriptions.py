"""Recurring appointment subscriptions: the generator's server side.

The rules (recurrence in the org's timezone, idempotent claims, nearest free
slot of the same staff member, needs_attention) live in
migrations/*_appointments_subscriptions.sql; this module only runs the job as
the service role.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.platform import db

DEFAULT_HORIZON_WEEKS = 4


class GenerateRequest(BaseModel):
    """Body of POST generate-subscriptions: how many weeks ahead (1-26, default 4)."""

    model_config = ConfigDict(extra="forbid")
    horizon_weeks: int = Field(default=DEFAULT_HORIZON_WEEKS, ge=1, le=26)


def generate_subscription_appointments(*, horizon_weeks: int = DEFAULT_HORIZON_WEEKS,
                                       now: datetime | None = None) -> dict:
    """Generate every active subscription's visits from `now` (the database's clock when
    None) up to `horizon_weeks` ahead.

    One short transaction per subscription (one staff member's booking lock at a
    time, retried when busy), so the job never holds several staff members' locks
    against customers booking, and one bad subscription cannot roll back the rest.
    Returns {subscriptions, generated, moved, needs_attention, horizon_days}. Safe to
    run twice or concurrently: each occurrence is claimed once (unique in
    subscription_occurrences).
    """
    with db.as_service() as cur:
        clock = cur.execute("select coalesce(%s::timestamptz, now()) as now", (now,)).fetchone()["now"]
        ids = [row["id"] for row in cur.execute("select id from private.due_subscriptions(%s) id", (clock,))]
    totals = {"subscriptions": 0, "generated": 0, "moved": 0, "needs_attention": 0,
              "horizon_days": horizon_weeks * 7}
    for subscription_id in ids:
        one = db.run(db.Caller.service(), lambda cur, sid=subscription_id: cur.execute(
            "select private.generate_for_subscription(%s, make_interval(weeks => %s), %s) as counts",
            (sid, horizon_weeks, clock)).fetchone()["counts"])
        totals["subscriptions"] += 1
        for key in ("generated", "moved", "needs_attention"):
            totals[key] += int(one[key])
    return totals
