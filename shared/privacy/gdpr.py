"""GDPR: export and erase a customer's data (migrations/*_privacy_gdpr.sql does the work).

Every call acts as the caller, so Postgres decides who may: owners and admins
of the organization for export_customer_data / erase_customer, any signed-in
person for their own export_my_data.

Error codes (from the database): not_authenticated (401), not_org_admin (403),
invalid_email, invalid_org (422).
"""

from __future__ import annotations

import logging

from shared.platform import db, log
from shared.platform.storage import ObjectNotFound, Storage, StorageError


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


def erase_customer(caller: db.Caller, *, org_id: str, email: str, store: Storage) -> dict:
    """Erase the person from one org (idempotent); returns the row counts.

    The database deletes the rows of their job photos and returns the object paths;
    the stored files go after the commit (a failed delete is logged and counted, the
    rows are already gone, and the paths hold no personal data to re-identify)."""
    result = db.run(caller, lambda cur: _erase(cur, org_id, email))
    failed = 0
    for path in result.get("deleted_photos", []):
        try:
            store.delete(path)
        except ObjectNotFound:
            pass
        except StorageError as exc:
            failed += 1
            log.event("gdpr.photo_delete_failed", logging.WARNING, path=path, error=str(exc))
    return {**result, "photo_deletes_failed": failed}


def _erase(cur, org_id: str, email: str) -> dict:
    cur.execute("select public.erase_customer(%s, %s) as result", (org_id, email))
    return cur.fetchone()["result"]
