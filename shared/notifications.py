"""The outbox worker: claim due notifications, render, send, mark.

Rows are claimed with `for update skip locked` under a lease, so any number
of workers (the webhook right after a payment, cron, another instance) share
the queue without sending a row twice; the outbox id is the provider's
idempotency key, so even a worker that dies after sending and before marking
cannot cause a second delivery. Failures come back with backoff.

A batch costs three transactions (claim, render, mark), and sends run a few
at a time, since each is a network round trip.

Areas register a renderer per template name with @renderer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg

from shared import db, log
from shared.mail import Email, Mailer

Renderer = Callable[[psycopg.Cursor, dict], Email]
RENDERERS: dict[str, Renderer] = {}
# Modules whose @renderer functions are loaded before the first send.
AREA_MODULES = ("shared.ticketing", "shared.appointment_mail")
SEND_CONCURRENCY = 4


def renderer(template: str) -> Callable[[Renderer], Renderer]:
    def register(fn: Renderer) -> Renderer:
        RENDERERS[template] = fn
        return fn

    return register


def _render(cur: psycopg.Cursor, row: dict) -> Email:
    if row["channel"] != "email":
        raise NotImplementedError(f"no sender for channel {row['channel']}")
    render = RENDERERS.get(row["template"])
    if render is None:
        raise LookupError(f"no renderer for template {row['template']!r}")
    with cur.connection.transaction():  # a failed render spoils only its own savepoint
        return render(cur, row)


def send_due(mailer: Mailer, *, limit: int = 25, templates: list[str] | None = None,
             order_id: str | None = None) -> dict:
    """Send up to `limit` due emails (only one order's, if given). Returns counts."""
    for module in AREA_MODULES:
        importlib.import_module(module)
    with db.as_service() as cur:
        cur.execute("select * from private.claim_notifications(%s, interval '2 minutes', %s, %s)",
                    (limit, templates, order_id))
        claimed = cur.fetchall()
    if not claimed:
        return {"claimed": 0, "sent": 0, "failed": 0}

    outcomes: dict = {}
    emails: dict = {}
    with db.as_service() as cur:
        for row in claimed:
            try:
                emails[row["id"]] = _render(cur, row)
            except Exception as exc:  # retried later with backoff
                outcomes[row["id"]] = exc

    def send(row_id) -> tuple:
        try:
            return row_id, mailer.send(emails[row_id], idempotency_key=str(row_id))
        except Exception as exc:
            return row_id, exc

    with ThreadPoolExecutor(max_workers=min(SEND_CONCURRENCY, max(1, len(emails)))) as pool:
        outcomes.update(dict(pool.map(send, list(emails))))

    sent = failed = 0
    with db.as_service() as cur:
        for row in claimed:
            result = outcomes[row["id"]]
            if isinstance(result, Exception):
                failed += 1
                error = f"{type(result).__name__}: {result}"
                log.event("notification_failed", notification_id=str(row["id"]), template=row["template"],
                          error=error[:500])
                cur.execute("select private.mark_notification_failed(%s, %s)", (row["id"], error))
            else:
                sent += 1
                cur.execute("select private.mark_notification_sent(%s, %s)", (row["id"], result))
    return {"claimed": len(claimed), "sent": sent, "failed": failed}
