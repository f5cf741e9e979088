"""The staff portal (issue 5, item 10): a staff member's day, check-in/out, status, job photos.

The database decides who may do what (migrations/*_appointments_staff_portal.sql: the
RPCs my_jobs, check_in_job, check_out_job, set_job_status; the transition
trigger on appointments; RLS on job_photos). This module adds what SQL should
not do: the route order (shared/appointments/routing.py) and the photo bytes
(shared/platform/storage.py), checked by their magic bytes, never by the header.

Errors (beside the database's PT codes, see the migration):
    415 unsupported_media_type   the bytes are not a JPEG, PNG or WebP image
    422 content_type_mismatch    the declared image type is not what the bytes are
    422 empty_body               no bytes
    404 job_not_found / photo_not_found
    413 body_too_large           (the function's body limit: PHOTO_MAX_BYTES)
"""

from __future__ import annotations

import datetime as dt

import psycopg

from shared.appointments import routing
from shared.platform import errors
from shared.platform.storage import ObjectNotFound, Storage, image_type

# ---------------------------------------------------------------------------
# The day
# ---------------------------------------------------------------------------
def day_plan(cur: psycopg.Cursor, *, day: dt.date | None, staff_id: str | None) -> list[dict]:
    """public.my_jobs as the caller, each staff member's day with its route (routing.plan_day)."""
    cur.execute("select public.my_jobs(%s, %s) as days", (day, staff_id))
    return [routing.plan_day(d) for d in cur.fetchone()["days"]]


def check_in(cur: psycopg.Cursor, job_id: str) -> dict:
    return cur.execute("select public.check_in_job(%s) as job", (job_id,)).fetchone()["job"]


def check_out(cur: psycopg.Cursor, job_id: str, note: str | None) -> dict:
    return cur.execute("select public.check_out_job(%s, %s) as job", (job_id, note)).fetchone()["job"]


def set_status(cur: psycopg.Cursor, job_id: str, status: str, note: str | None) -> dict:
    return cur.execute("select public.set_job_status(%s, %s, %s) as job", (job_id, status, note)).fetchone()["job"]


# ---------------------------------------------------------------------------
# Photos
# ---------------------------------------------------------------------------
def _visible_job(cur: psycopg.Cursor, job_id: str) -> None:
    if not cur.execute("select 1 from public.appointments where id = %s", (job_id,)).fetchone():
        raise errors.not_found("job_not_found", "Job not found")


def add_photo(cur: psycopg.Cursor, store: Storage, job_id: str, data: bytes, declared: str | None) -> dict:
    """Record and store one photo, in the caller's transaction: a refused row stores nothing, and a
    failed upload rolls the row back. Returns the row (without the object path)."""
    content_type = image_type(data, declared, what="Photos")
    _visible_job(cur, job_id)
    row = cur.execute(
        "insert into public.job_photos (appointment_id, content_type, bytes) values (%s, %s, %s)"
        " returning id, appointment_id, uploaded_by, object_path, content_type, bytes, created_at",
        (job_id, content_type, len(data))).fetchone()
    store.put(row["object_path"], data, content_type)
    return row


def list_photos(cur: psycopg.Cursor, store: Storage, job_id: str, *, served_base: str,
                expires_in: int) -> list[dict]:
    """The job's photos the caller may see, each with a URL: the storage's signed URL, or
    `served_base/<photo id>` (this function serves the bytes to a signed-in caller)."""
    _visible_job(cur, job_id)
    rows = cur.execute(
        "select id, appointment_id, uploaded_by, object_path, content_type, bytes, created_at"
        " from public.job_photos where appointment_id = %s order by created_at, id", (job_id,)).fetchall()
    out = []
    for row in rows:
        path = row.pop("object_path")
        url = store.signed_url(path, expires_in)
        out.append({**row, "url": url or f"{served_base}/{row['id']}", "signed": url is not None})
    return out


def photo_bytes(cur: psycopg.Cursor, store: Storage, job_id: str, photo_id: str) -> tuple[bytes, str]:
    row = cur.execute("select object_path, content_type from public.job_photos where id = %s"
                      " and appointment_id = %s", (photo_id, job_id)).fetchone()
    if row is None:
        raise errors.not_found("photo_not_found", "Photo not found")
    try:
        return store.get(row["object_path"]), row["content_type"]
    except ObjectNotFound:
        raise errors.not_found("photo_not_found", "Photo not found") from None
