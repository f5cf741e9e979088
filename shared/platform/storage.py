"""Where uploaded files' bytes live (job photos, receipts): local files in dev and tests, Supabase Storage in
production; and the check that an upload really is an image.

    store = storage.from_settings(settings())        # or LocalStorage(dir) / SupabaseStorage(...)
    store.put("org/appt/photo.jpg", data, "image/jpeg")
    store.get("org/appt/photo.jpg")                  # bytes; ObjectNotFound when missing
    store.signed_url("org/appt/photo.jpg", 600)      # a time-limited URL, or None (local: the
                                                     # function serves the bytes itself)
    store.delete("org/appt/photo.jpg")               # gone (missing is fine)

Object paths are made by the database (<org>/<appointment>/<id>.<ext>); both
backends still refuse anything but plain relative segments, so no path can
leave its root or bucket.

SupabaseStorage speaks Supabase Storage's REST API over httpx with the
service-role key (never sent to a browser):

    POST   {base}/object/{bucket}/{path}        upload (raw body, content-type, x-upsert: false)
    GET    {base}/object/authenticated/{bucket}/{path}
    POST   {base}/object/sign/{bucket}/{path}   {"expiresIn": n} -> {"signedURL": "/object/sign/...?token=..."}
    DELETE {base}/object/{bucket}               {"prefixes": [path]}

`base` is <SUPABASE_URL>/storage/v1. The bucket must exist and be private
(create it once in the dashboard or with `POST /bucket`). A local stand-in of
these endpoints is shared/devstack/standins/storage_standin.py.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

import httpx

from shared.platform import errors
from shared.platform.config import Settings

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
# Declared types that say nothing about the bytes: we sniff and decide.
NEUTRAL_TYPES = ("", "application/octet-stream")


def sniff_image(data: bytes) -> str | None:
    """The image type the bytes really are (magic numbers), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_type(data: bytes, declared: str | None, *, what: str = "Images") -> str:
    """The content type to store an uploaded image as: what the bytes are, if the declared type does not
    contradict it. 422 empty_body / content_type_mismatch, 415 unsupported_media_type."""
    if not data:
        raise errors.unprocessable("empty_body", "Send the image as the request body")
    actual = sniff_image(data)
    if actual is None:
        raise errors.DomainError(415, "unsupported_media_type", f"{what} must be JPEG, PNG or WebP images",
                                 {"accepted": list(IMAGE_TYPES)})
    declared = (declared or "").split(";")[0].strip().lower()
    if declared not in NEUTRAL_TYPES and declared != actual:
        raise errors.unprocessable("content_type_mismatch", f"The body is {actual}, not {declared}",
                                   {"detected": actual})
    return actual


class StorageError(Exception):
    """The storage backend refused or failed."""


class ObjectNotFound(StorageError):
    pass


class Storage(Protocol):
    def put(self, path: str, data: bytes, content_type: str) -> None: ...

    def get(self, path: str) -> bytes: ...

    def signed_url(self, path: str, expires_in: int) -> str | None: ...

    def delete(self, path: str) -> None: ...


def check_path(path: str) -> str:
    """A relative object path of plain segments ('a/b/c.jpg'); ValueError otherwise."""
    parts = path.split("/")
    if not path or len(path) > 512 or not all(_SEGMENT.match(p) and p not in (".", "..") for p in parts):
        raise ValueError(f"invalid object path: {path!r}")
    return path


class LocalStorage:
    """Files under `root`; the function serves them (signed_url is None)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def _file(self, path: str) -> Path:
        return self.root.joinpath(*check_path(path).split("/"))

    def put(self, path: str, data: bytes, content_type: str) -> None:
        target = self._file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise StorageError(f"object exists: {path}")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, path: str) -> bytes:
        try:
            return self._file(path).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(path) from None

    def signed_url(self, path: str, expires_in: int) -> str | None:
        check_path(path)
        return None

    def delete(self, path: str) -> None:
        self._file(path).unlink(missing_ok=True)


class SupabaseStorage:
    """Supabase Storage over HTTP (see the module docstring); `transport` for tests."""

    def __init__(self, base_url: str, bucket: str, service_key: str, *,
                 transport: httpx.BaseTransport | None = None, timeout: float = 30.0):
        self.base = base_url.rstrip("/")
        self.bucket = bucket
        self._client = httpx.Client(
            transport=transport, timeout=timeout,
            headers={"authorization": f"Bearer {service_key}", "apikey": service_key})

    def _url(self, *parts: str) -> str:
        return "/".join([self.base, *parts])

    def _check(self, response: httpx.Response, path: str) -> httpx.Response:
        if response.status_code == 404 or (response.status_code == 400 and "not_found" in response.text.lower()):
            raise ObjectNotFound(path)
        if response.is_error:
            raise StorageError(f"storage answered {response.status_code}: {response.text[:200]}")
        return response

    def put(self, path: str, data: bytes, content_type: str) -> None:
        self._check(self._client.post(
            self._url("object", self.bucket, check_path(path)), content=data,
            headers={"content-type": content_type, "x-upsert": "false", "cache-control": "max-age=3600"}), path)

    def get(self, path: str) -> bytes:
        return self._check(self._client.get(
            self._url("object", "authenticated", self.bucket, check_path(path))), path).content

    def signed_url(self, path: str, expires_in: int) -> str | None:
        answer = self._check(self._client.post(
            self._url("object", "sign", self.bucket, check_path(path)), json={"expiresIn": expires_in}), path)
        signed = answer.json().get("signedURL")
        if not signed:
            raise StorageError("storage returned no signedURL")
        return self.base + "/" + signed.lstrip("/")

    def delete(self, path: str) -> None:
        self._check(self._client.request(
            "DELETE", self._url("object", self.bucket), json={"prefixes": [check_path(path)]}), path)

    def close(self) -> None:
        self._client.close()


def from_settings(cfg: Settings, *, transport: httpx.BaseTransport | None = None) -> Storage:
    """The configured backend; RuntimeError when Supabase Storage is chosen without URL or key."""
    if cfg.storage.kind == "local":
        return LocalStorage(cfg.storage.local_root)
    if not cfg.storage.base or not cfg.auth.service_role_key:
        raise RuntimeError("Supabase Storage needs SUPABASE_URL (or SUPABASE_STORAGE_URL) and "
                           "SUPABASE_SERVICE_ROLE_KEY")
    return SupabaseStorage(cfg.storage.base, cfg.storage.bucket, cfg.auth.service_role_key, transport=transport)
