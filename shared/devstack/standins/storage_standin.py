"""A local Supabase Storage for dev mode and tests: the endpoints shared/platform/storage.py uses.

Served relative to the mount (Supabase serves them under /storage/v1):

    POST   /object/{bucket}/{path}                 upload the raw body; x-upsert: true to replace,
                                                   else 409 Duplicate when the object exists
    GET    /object/authenticated/{bucket}/{path}   the bytes (service key)
    POST   /object/sign/{bucket}/{path}            {"expiresIn": n} -> {"signedURL": "/object/sign/..?token=.."}
    GET    /object/sign/{bucket}/{path}?token=…    the bytes, no key: the token is the credential
    DELETE /object/{bucket}                        {"prefixes": [path, …]} -> the objects removed

Every call but the signed GET needs `Authorization: Bearer <service key>`
(401 otherwise). Unknown buckets and objects answer 404 with Supabase's
error shape {"statusCode", "error", "message"}. Tokens are HMAC-signed with a
per-instance secret and expire. Objects live in memory; `objects` is the
handle tests inspect.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    created_at: float


class StorageStandin:
    def __init__(self, service_key: str, buckets: tuple[str, ...] = ("job-photos",)):
        self.service_key = service_key
        self.buckets = set(buckets)
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._urls = Map([
            Rule("/object/authenticated/<bucket>/<path:path>", endpoint="read", methods=["GET"]),
            Rule("/object/sign/<bucket>/<path:path>", endpoint="sign", methods=["POST"]),
            Rule("/object/sign/<bucket>/<path:path>", endpoint="signed_read", methods=["GET"]),
            Rule("/object/<bucket>/<path:path>", endpoint="upload", methods=["POST"]),
            Rule("/object/<bucket>", endpoint="remove", methods=["DELETE"]),
        ])

    # -- WSGI ---------------------------------------------------------------
    def served_at(self, prefix: str = "/storage/v1"):
        """The app with Supabase's path prefix (the dev server mounts `wsgi` at /storage/v1 itself)."""
        from werkzeug.middleware.dispatcher import DispatcherMiddleware

        return DispatcherMiddleware(lambda environ, start_response: _error(404, "Not found", "not_found")(
            environ, start_response), {prefix: self.wsgi})

    def wsgi(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, args = self._urls.bind_to_environ(environ).match()
            if endpoint != "signed_read":
                self._authorize(request)
            if args["bucket"] not in self.buckets:
                raise _Error(404, "Bucket not found", "not_found")
            response = getattr(self, f"_{endpoint}")(request, **args)
        except _Error as exc:
            response = _error(exc.status, exc.message, exc.code)
        except MethodNotAllowed:
            response = _error(405, "Method not allowed", "method_not_allowed")
        except NotFound:
            response = _error(404, "Not found", "not_found")
        except HTTPException as exc:
            response = _error(exc.code or 400, exc.description or "Bad request", "invalid_request")
        return response(environ, start_response)

    def _authorize(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), self.service_key):
            raise _Error(401, "Invalid JWT", "Unauthorized")

    # -- endpoints --------------------------------------------------------------
    def _upload(self, request: Request, bucket: str, path: str) -> Response:
        upsert = request.headers.get("x-upsert", "false").lower() == "true"
        data = request.get_data()
        with self._lock:
            if (bucket, path) in self.objects and not upsert:
                raise _Error(409, "The resource already exists", "Duplicate")
            self.objects[(bucket, path)] = StoredObject(
                data, request.headers.get("content-type", "application/octet-stream"), time.time())
        return _json({"Key": f"{bucket}/{path}", "Id": str(uuid.uuid4())})

    def _read(self, request: Request, bucket: str, path: str) -> Response:
        found = self._object(bucket, path)
        return Response(found.data, content_type=found.content_type)

    def _sign(self, request: Request, bucket: str, path: str) -> Response:
        self._object(bucket, path)
        try:
            expires_in = int((request.get_json(silent=True) or {}).get("expiresIn"))
        except (TypeError, ValueError):
            raise _Error(400, "expiresIn is required", "invalid_request") from None
        if expires_in < 1:
            raise _Error(400, "expiresIn must be positive", "invalid_request")
        token = self._token(bucket, path, int(time.time()) + expires_in)
        return _json({"signedURL": f"/object/sign/{bucket}/{path}?token={token}"})

    def _signed_read(self, request: Request, bucket: str, path: str) -> Response:
        token = request.args.get("token", "")
        expires, _, signature = token.partition(".")
        if not expires.isdigit() or not hmac.compare_digest(token, self._token(bucket, path, int(expires))):
            raise _Error(400, "Invalid signature", "InvalidSignature")
        if int(expires) < time.time():
            raise _Error(400, "The signed URL has expired", "InvalidJWT")
        found = self._object(bucket, path)
        return Response(found.data, content_type=found.content_type)

    def _remove(self, request: Request, bucket: str) -> Response:
        prefixes = (request.get_json(silent=True) or {}).get("prefixes")
        if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
            raise _Error(400, "prefixes must be a list of paths", "invalid_request")
        removed = []
        with self._lock:
            for path in prefixes:
                if self.objects.pop((bucket, path), None) is not None:
                    removed.append({"name": path, "bucket_id": bucket})
        return _json(removed)

    # -- helpers ----------------------------------------------------------------
    def _object(self, bucket: str, path: str) -> StoredObject:
        with self._lock:
            found = self.objects.get((bucket, path))
        if found is None:
            raise _Error(404, "Object not found", "not_found")
        return found

    def _token(self, bucket: str, path: str, expires: int) -> str:
        mac = hmac.new(self._secret, f"{bucket}/{path}:{expires}".encode(), hashlib.sha256).digest()
        return f"{expires}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


class _Error(Exception):
    def __init__(self, status: int, message: str, code: str):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _json(body) -> Response:
    return Response(json.dumps(body), content_type="application/json")


def _error(status: int, message: str, code: str) -> Response:
    return Response(json.dumps({"statusCode": str(status), "error": code, "message": message}),
                    status=status, content_type="application/json")
