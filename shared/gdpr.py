"""GDPR: export and erase a customer's data (migrations/*_gdpr.sql does the work).

Every call acts as the caller, so Postgres decides who may: owners and admins
of the organization for export_customer_data / erase_customer, any signed-in
person for their own export_my_data.

Error codes (from the database): not_authenticated (401), not_org_admin (403),
invalid_email, invalid_org (422).
"""

from __future__ import annotations

from shared import db


def export_customer(caller: db.Caller, *, org_id: str, email: str) -> dict:
    """Everything the org holds about the person with this email, as one document."""
    with db.transaction(caller) as cur:
        cur.execute("select public.export_customer_data(%s, %s) as doc", (org_id, email))
        return cur.fetchone()["doc"]


def export_mine(caller: db.Caller) -> dict:
    """The caller's account and everything every org holds about them."""
    with db.transaction(caller) as cur:
        cur.execute("select public.export_my_data() as doc")
        return cur.fetchone()["doc"]


def erase_customer(caller: db.Caller, *, org_id: str, email: str) -> dict:
    """Erase the person from one org (idempotent); returns the row counts."""
    return db.run(caller, lambda cur: _erase(cur, org_id, email))


def _erase(cur, org_id: str, email: str) -> dict:
    cur.execute("select public.erase_customer(%s, %s) as result", (org_id, email))
    return cur.fetchone()["result"]
