"""The outbox worker: claim due notifications, render, send, mark.

Rows are claimed with `for update skip locked` under a lease, so any number
of workers (the function after a payment, cron, another instance) share the
queue without sending a row twice; the outbox id is the provider's
idempotency key, so even a worker that dies after sending and before marking
cannot cause a second delivery. Failures come back with backoff.

Areas register a renderer per template name in RENDERERS.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from shared import db, log
from shared.mail import Email, Mailer

Renderer = Callable[[psycopg.Cursor, dict], Email]
RENDERERS: dict[str, Renderer] = {}
# Modules whose @renderer functions are loaded before the first send.
AREA_MODULES = ("shared.ticketing",)


def renderer(template: str) -> Callable[[Renderer], Renderer]:
    def register(fn: Renderer) -> Renderer:
        RENDERERS[template] = fn
        return fn

    return register


def send_due(mailer: Mailer, *, limit: int = 25, templates: list[str] | None = None) -> dict:
    """Send up to `limit` due emails. Returns counts of sent and failed."""
    import importlib

    for module in AREA_MODULES:
        importlib.import_module(module)
    with db.as_service() as cur:
        cur.execute("select * from private.claim_notifications(%s, interval '2 minutes', %s)",
                    (limit, templates))
        claimed = cur.fetchall()
    sent = failed = 0
    for row in claimed:
        try:
            if row["channel"] != "email":
                raise NotImplementedError(f"no sender for channel {row['channel']}")
            render = RENDERERS.get(row["template"])
            if render is None:
                raise LookupError(f"no renderer for template {row['template']!r}")
            with db.as_service() as cur:
                email = render(cur, row)
            message_id = mailer.send(email, idempotency_key=str(row["id"]))
        except Exception as exc:  # any failure is retried later with backoff
            failed += 1
            log.event("notification_failed", notification_id=str(row["id"]), template=row["template"],
                      error=f"{type(exc).__name__}: {exc}"[:500])
            with db.as_service() as cur:
                cur.execute("select private.mark_notification_failed(%s, %s)",
                            (row["id"], f"{type(exc).__name__}: {exc}"))
            continue
        with db.as_service() as cur:
            cur.execute("select private.mark_notification_sent(%s, %s)", (row["id"], message_id))
        sent += 1
    return {"claimed": len(claimed), "sent": sent, "failed": failed}
