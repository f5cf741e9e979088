"""The staff portal: a staff member's day, check-in/out, status, job photos. JWT required.

    GET  /jobs?day=YYYY-MM-DD[&staff_id=…]   the day (default today in the org's timezone): for each
                                             staff profile, the jobs by time, `time_order` legs with
                                             travel estimates, the suggested `route` and the totals
                                             (shared/appointments/routing.py); staff_id: a manager's team member
    POST /jobs/<id>/check-in                 booked -> in_progress (server time)
    POST /jobs/<id>/check-out                {"note"?} in_progress -> completed (server time)
    POST /jobs/<id>/status                   {"status": in_progress|completed|no_show, "note"?}
    POST /jobs/<id>/photos                   the photo as the raw body (JPEG, PNG or WebP, checked by
                                             its bytes; at most PHOTO_MAX_BYTES, 20 per job) -> 201
    GET  /jobs/<id>/photos                   the photos, each with a URL: a signed Supabase Storage URL
                                             (PHOTO_URL_SECONDS), or locally the path below
    GET  /jobs/<id>/photos/<photo id>        the bytes (signed-in callers who may see the job)

Who may do what is decided in Postgres (the staff_portal migration and
policies/appointments.sql); this function acts as the caller.
"""

import datetime as dt
import re

import functions_framework
import pydantic

from shared.appointments import staff_portal
from shared.platform import contract, db, errors, http, storage

JOB_ACTION = re.compile(r"^/jobs/(?P<id>[^/]+)/(?P<action>check-in|check-out|status|photos)$")
PHOTO = re.compile(r"^/jobs/(?P<id>[^/]+)/photos/(?P<photo>[^/]+)$")


class DayQuery(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    day: dt.date | None = None
    staff_id: pydantic.UUID4 | None = None


class CheckOut(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    note: str | None = pydantic.Field(default=None, max_length=2000)


class StatusChange(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    status: str = pydantic.Field(max_length=20)
    note: str | None = pydantic.Field(default=None, max_length=2000)


class Days(pydantic.BaseModel):
    days: list[dict] = pydantic.Field(description="per staff profile: the jobs by time, legs, route and totals")


class Photos(pydantic.BaseModel):
    photos: list[dict]


JOB = "/jobs/{job_id}"


@functions_framework.http
@http.function(methods=("GET", "POST"), max_body_bytes=lambda cfg: cfg.storage.photo_max_bytes, operations=[
    contract.Operation("GET", "/jobs", summary="The day's jobs with travel estimates and a suggested route",
                       query=DayQuery, answer=Days, auth="user"),
    contract.Operation("POST", f"{JOB}/check-in", summary="booked -> in_progress", auth="user"),
    contract.Operation("POST", f"{JOB}/check-out", summary="in_progress -> completed", body=CheckOut,
                       body_required=False, auth="user"),
    contract.Operation("POST", f"{JOB}/status", summary="in_progress, completed or no_show", body=StatusChange,
                       auth="user"),
    contract.Operation("POST", f"{JOB}/photos", summary="Add a photo (JPEG, PNG or WebP bytes)",
                       body_media=contract.IMAGES, status=201, auth="user"),
    contract.Operation("GET", f"{JOB}/photos", summary="The job's photos, each with a URL", answer=Photos,
                       auth="user"),
    contract.Operation("GET", f"{JOB}/photos/{{photo_id}}", summary="A photo's bytes", media=contract.IMAGES,
                       auth="user"),
])
def main(call: http.Call):
    call.require_user()
    path, method = call.path.rstrip("/") or "/", call.method
    found = JOB_ACTION.match(path)
    if not (found and found["action"] == "photos" and method == "POST"):
        call.limit_body()  # only photo uploads get the larger limit
    if path == "/jobs" and method == "GET":
        query = call.query(DayQuery)
        with db.transaction(call.caller) as cur:
            days = staff_portal.day_plan(cur, day=query.day, staff_id=str(query.staff_id) if query.staff_id else None)
        return {"days": days}
    if found and method == "POST":
        job_id, action = http.path_uuid(found["id"], "job"), found["action"]
        if action == "photos":
            return _upload(call, job_id)
        if action == "check-in":
            with db.transaction(call.caller) as cur:
                return staff_portal.check_in(cur, job_id)
        if action == "check-out":
            body = call.json(CheckOut)
            with db.transaction(call.caller) as cur:
                return staff_portal.check_out(cur, job_id, body.note)
        body = call.json(StatusChange)
        with db.transaction(call.caller) as cur:
            return staff_portal.set_status(cur, job_id, body.status, body.note)
    if found and found["action"] == "photos" and method == "GET":
        job_id = http.path_uuid(found["id"], "job")
        store = http.storage_or_503(call.settings)
        served = f"/functions/v1/{call.function}/jobs/{job_id}/photos"
        with db.transaction(call.caller) as cur:
            photos = staff_portal.list_photos(cur, store, job_id, served_base=served,
                                              expires_in=call.settings.storage.photo_url_seconds)
        return {"photos": photos}
    if (photo := PHOTO.match(path)) and method == "GET":
        job_id, photo_id = http.path_uuid(photo["id"], "job"), http.path_uuid(photo["photo"], "photo")
        store = http.storage_or_503(call.settings)
        with db.transaction(call.caller) as cur:
            data, content_type = staff_portal.photo_bytes(cur, store, job_id, photo_id)
        return http.Response(data, content_type=content_type,
                             headers={"cache-control": "private, max-age=300", "x-content-type-options": "nosniff"})
    raise errors.not_found("no_route", f"No {method} {path} in staff-portal")


def _upload(call: http.Call, job_id: str):
    store = http.storage_or_503(call.settings)
    stored: str | None = None
    try:
        with db.transaction(call.caller) as cur:
            row = staff_portal.add_photo(cur, store, job_id, call.raw_body, call.request.headers.get("content-type"))
            stored = row.pop("object_path")
    except BaseException:
        # The row was refused or the commit failed after the upload: leave no orphan object.
        if stored is not None:
            try:
                store.delete(stored)
            except storage.StorageError:
                pass
        raise
    return http.Response(row, status=201)
