"""Builders for orders and what hangs off them, made the way production makes them.

An order is placed through the checkout RPC (`public.place_ticket_order`) as a
guest (anon) or as a signed-in buyer, and paid through
`private.record_payment` as service_role, so the area triggers issue the
tickets and queue the ticket email. Refunds go through
`private.request_refund`, scans through `public.check_in_ticket`. Each
builder commits; read the results back as superuser.
"""

from __future__ import annotations

import uuid

from psycopg.types.json import Jsonb

from shared.platform.db import Caller
from tests.support.pg import Db, User


def place(db: Db, ev: dict, items: list[tuple[dict, int]], *, buyer: User | None = None,
          email: str | None = None, name: str | None = None, promo_code: str | None = None) -> dict:
    """Hold tickets: `items` is [(tier, quantity)]. A guest (no `buyer`) needs `email` and `name`.

    Returns the RPC's summary (order_id, number, status, total_minor, tracking_token, …)."""
    caller = buyer.caller if buyer is not None else Caller.anon()
    lines = [{"tier_id": str(t["id"]), "quantity": q} for t, q in items]
    with db.acting(caller) as cur:
        cur.execute("select public.place_ticket_order(%s, %s, %s, %s, %s) as summary",
                    (ev["id"], Jsonb(lines), email, name, promo_code))
        return cur.fetchone()["summary"]


def pay(db: Db, order_id, *, provider: str = "stripe", provider_payment_id: str | None = None) -> str:
    """The provider says the order's total arrived (as the webhook would). Returns the outcome."""
    order = db.one("select total_minor, currency from public.orders where id = %s", (order_id,))
    with db.acting(Caller.service()) as cur:
        cur.execute("select private.record_payment(%s, %s, %s, %s, %s) as outcome",
                    (order_id, provider, provider_payment_id or f"pi_{uuid.uuid4().hex[:16]}",
                     order["total_minor"], order["currency"]))
        return cur.fetchone()["outcome"]


def paid(db: Db, ev: dict, items: list[tuple[dict, int]], **kw) -> dict:
    """Placed and paid: returns the order row (superuser view) plus `summary`."""
    summary = place(db, ev, items, **kw)
    outcome = pay(db, summary["order_id"])
    assert outcome == "fulfilled", outcome
    order = db.one("select * from public.orders where id = %s", (summary["order_id"],))
    order["summary"] = summary
    return order


def refund(db: Db, order_id, amount_minor: int | None = None, *, reason: str = "test refund",
           caller: Caller | None = None) -> dict:
    """Queue a refund (full when `amount_minor` is None) as service_role or `caller`."""
    with db.acting(caller or Caller.service()) as cur:
        cur.execute("select * from private.request_refund(%s, %s, %s)", (order_id, amount_minor, reason))
        return cur.fetchone()


def check_in(db: Db, scanner: User, event_id, secret: str, gate: str | None = None) -> dict:
    """A scan at the door by `scanner` (staff or above)."""
    with db.acting(scanner.caller) as cur:
        cur.execute("select public.check_in_ticket(%s, %s, %s) as result", (event_id, secret, gate))
        return cur.fetchone()["result"]


def tickets(db: Db, order_id) -> list[dict]:
    """An order's tickets, secrets included (superuser)."""
    return db.sql("select * from public.tickets where order_id = %s order by created_at, id", (order_id,))


def webhook_event(db: Db, *, event_id: str | None = None, type_: str = "checkout.session.completed") -> str:
    """A provider event recorded as the webhook records it (service_role)."""
    event_id = event_id or f"evt_{uuid.uuid4().hex[:16]}"
    with db.acting(Caller.service()) as cur:
        cur.execute("select private.record_webhook_event(%s, 'stripe', %s, %s) as fresh",
                    (event_id, type_, Jsonb({"id": event_id, "type": type_})))
        assert cur.fetchone()["fresh"] is True
    return event_id
