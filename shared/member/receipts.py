"""Receipt images for a member's expenses, through the storage interface (shared/platform/storage.py):
local files in dev and tests, Supabase Storage in production. The expense must be the caller's own (RLS
decides: anyone else's is not found); the bytes must really be a JPEG, PNG or WebP image. The object path
is <member>/<expense>/<random>.<ext>; a new receipt replaces the old one, whose object is then deleted."""

from __future__ import annotations

import uuid

import psycopg

from shared.platform import errors
from shared.platform.storage import ObjectNotFound, Storage, image_type

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def _expense(cur: psycopg.Cursor, expense_id: str) -> dict:
    found = cur.execute("select id, user_id, receipt_path from public.expenses where id = %s for update",
                        (expense_id,)).fetchone()
    if found is None:
        raise errors.not_found("expense_not_found", "No such expense")
    return found


def attach(cur: psycopg.Cursor, store: Storage, expense_id: str, data: bytes, declared: str | None) -> dict:
    """Store the image and record its path, in the caller's transaction (a failed upload writes nothing).
    Returns {expense_id, content_type, bytes, replaced} where replaced is the old object's path, to delete
    after the commit."""
    content_type = image_type(data, declared, what="Receipts")
    expense = _expense(cur, expense_id)
    path = f"{expense['user_id']}/{expense_id}/{uuid.uuid4().hex}.{EXTENSIONS[content_type]}"
    store.put(path, data, content_type)
    cur.execute("update public.expenses set receipt_path = %s where id = %s", (path, expense_id))
    return {"expense_id": expense_id, "content_type": content_type, "bytes": len(data),
            "replaced": expense["receipt_path"]}


def read(cur: psycopg.Cursor, store: Storage, expense_id: str) -> tuple[bytes, str]:
    expense = _expense(cur, expense_id)
    if not expense["receipt_path"]:
        raise errors.not_found("receipt_not_found", "This expense has no receipt")
    try:
        data = store.get(expense["receipt_path"])
    except ObjectNotFound:
        raise errors.not_found("receipt_not_found", "This expense has no receipt") from None
    return data, next(t for t, ext in EXTENSIONS.items() if expense["receipt_path"].endswith("." + ext))


def remove(cur: psycopg.Cursor, expense_id: str) -> str | None:
    """Forget the receipt; returns the object path to delete after the commit."""
    expense = _expense(cur, expense_id)
    cur.execute("update public.expenses set receipt_path = null where id = %s", (expense_id,))
    return expense["receipt_path"]
