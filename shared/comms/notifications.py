"""The outbox worker: claim due notifications, render, send, mark.

Rows are claimed with `for update skip locked` under a lease, so any number
of workers (the webhook right after a payment, cron, another instance) share
the queue without sending a row twice; the outbox id is the provider's
idempotency key, so even a worker that dies after sending and before marking
cannot cause a second delivery. Failures come back with backoff.

A batch costs three transactions (claim, render, mark), and sends run a few
at a time, since each is a network round trip.

Areas register a message kind per template name, with its variables and
default wording, which an org may change (shared/comms/templates.py; loaded by
importing shared.areas). An SMS recipient is the number as typed, normalised
to E.164 here. A kind that finds its notification no longer true (e.g. a
reminder for a cancelled appointment) raises Skip: the row is marked
`skipped` and never retried; so is a message to a suppressed address
(routines/comms/delivery.sql: promotions to a bounced or complaining email
address, any SMS to a number that sent STOP). SMS go through Twilio, which
takes no idempotency key: a worker dying between Twilio's answer and the mark
can resend one SMS after its lease (emails cannot double, Resend dedupes on
the outbox id).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg

from shared.comms import templates
from shared.platform import db, log
from shared.providers.mail import Email, Mailer
from shared.providers.sms import Sms, Texter, may_text, to_e164

SEND_CONCURRENCY = 4


class Skip(Exception):
    """Raised by a renderer: this notification must not be sent (reason stored, never retried)."""


def _unless_suppressed(cur: psycopg.Cursor, channel: str, address: str, row: dict) -> None:
    """Skip a promotion to a bounced or complaining address, and any SMS to a number that sent STOP."""
    cur.execute("select private.is_suppressed(%s, %s, %s) as suppressed", (channel, address, row["purpose"]))
    if cur.fetchone()["suppressed"]:
        raise Skip("suppressed")


def render(cur: psycopg.Cursor, row: dict, texter: Texter | None = None) -> Email | Sms:
    """One outbox row as the message it sends, from its kind's template (raises Skip when it must not
    be sent: the kind finds it no longer true, the address is suppressed, the number is not ours to text)."""
    row = {"channel": "email", "purpose": "transactional", "org_id": None, **row}
    kind = templates.KINDS.get(row["template"])
    if kind is None or row["channel"] not in kind.defaults:
        raise LookupError(f"no {row['channel']} template for {row['template']!r}")
    if row["channel"] == "sms":
        if texter is None:
            raise RuntimeError("no SMS sender configured for this worker")
        if not texter.settings.sms.enabled:
            raise Skip("sms_disabled")
        to = to_e164(row["recipient"], texter.settings.sms.default_region)
        if to is None:
            raise Skip("invalid_phone_number")
        if not may_text(to, texter.settings.sms.allowed_regions):
            raise Skip("country_not_allowed")
        _unless_suppressed(cur, "sms", to, row)
        with cur.connection.transaction():  # a failed render spoils only its own savepoint
            return Sms(to, templates.compose(cur, kind, row)["body"])
    _unless_suppressed(cur, "email", row["recipient"], row)
    with cur.connection.transaction():
        return templates.email(cur, kind, row)


def send_due(mailer: Mailer, *, texter: Texter | None = None, limit: int = 25,
             templates: list[str] | None = None, order_id: str | None = None) -> dict:
    """Send up to `limit` due notifications (only one order's, if given). Returns counts.

    SMS rows need a `texter`; a worker without one fails them, and they come
    back to a worker that has one.
    """
    with db.as_service() as cur:
        cur.execute("select * from private.claim_notifications(%s, interval '2 minutes', %s, %s)",
                    (limit, templates, order_id))
        claimed = cur.fetchall()
    if not claimed:
        return {"claimed": 0, "sent": 0, "failed": 0, "skipped": 0}

    outcomes: dict = {}
    messages: dict = {}
    with db.as_service() as cur:
        for row in claimed:
            try:
                messages[row["id"]] = render(cur, row, texter)
            except Exception as exc:  # Skip: marked skipped; anything else: retried later with backoff
                outcomes[row["id"]] = exc

    def send(row_id) -> tuple:
        message = messages[row_id]
        try:
            if isinstance(message, Sms):
                return row_id, texter.send(message, idempotency_key=str(row_id))
            return row_id, mailer.send(message, idempotency_key=str(row_id))
        except Exception as exc:
            return row_id, exc

    with ThreadPoolExecutor(max_workers=min(SEND_CONCURRENCY, max(1, len(messages)))) as pool:
        outcomes.update(dict(pool.map(send, list(messages))))

    sent = failed = skipped = 0
    with db.as_service() as cur:
        for row in claimed:
            result = outcomes[row["id"]]
            if isinstance(result, Skip):
                skipped += 1
                log.event("notification_skipped", notification_id=str(row["id"]), template=row["template"],
                          reason=str(result))
                cur.execute("select private.mark_notification_skipped(%s, %s)", (row["id"], str(result)))
            elif isinstance(result, Exception):
                failed += 1
                error = f"{type(result).__name__}: {result}"
                log.event("notification_failed", notification_id=str(row["id"]), template=row["template"],
                          error=error[:500])
                cur.execute("select private.mark_notification_failed(%s, %s)", (row["id"], error))
            else:
                sent += 1
                cur.execute("select private.mark_notification_sent(%s, %s)", (row["id"], result))
    return {"claimed": len(claimed), "sent": sent, "failed": failed, "skipped": skipped}


def backlog() -> dict:
    """What the outbox still owes, for health checks: messages waiting to go (pending or being sent) and the
    age of the oldest, in seconds (0 when none waits), so an uptime check can alert on a stuck worker."""
    with db.as_service() as cur:
        cur.execute("select count(*) as waiting,"
                    " coalesce(extract(epoch from now() - min(created_at)), 0)::bigint as oldest_seconds"
                    " from public.notification_outbox where status in ('pending', 'sending')")
        return cur.fetchone()
