"""A local Supabase Auth (GoTrue) admin API, for tests of the path that creates users on a hosted project.

Against a hosted project, `bookwell seed` and `bookwell token` create users
through the Auth admin API with the real `supabase` SDK (shared/platform/users.py).
This stand-in answers that SDK exactly as GoTrue does, so the path is tested
without a network:

    POST /auth/v1/admin/users        {email, email_confirm, user_metadata, app_metadata?}
    GET  /auth/v1/admin/users/{id}

Like GoTrue: the caller must send `apikey` and `Authorization: Bearer <jwt>`
whose role is service_role (signed with the project's JWT secret), else 401 /
403; a taken email is 422 `email_exists`; the user is written to `auth.users`
and `auth.identities` as GoTrue writes them (shared/platform/users.py, the same SQL)
and answered as GoTrue's user JSON. Errors have GoTrue's shape
`{"code", "error_code", "msg"}`. `calls` lists what was asked, for tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

import jwt
import psycopg
from psycopg.rows import dict_row
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shared.platform import users

_USER = """
select u.id::text, u.aud, u.role, u.email, u.phone, u.email_confirmed_at, u.phone_confirmed_at, u.confirmed_at,
       u.last_sign_in_at, u.raw_app_meta_data, u.raw_user_meta_data, u.created_at, u.updated_at, u.is_anonymous,
       u.is_sso_user,
       (select coalesce(jsonb_agg(jsonb_build_object(
          'identity_id', i.id, 'id', i.provider_id, 'user_id', i.user_id, 'identity_data', i.identity_data,
          'provider', i.provider, 'last_sign_in_at', i.last_sign_in_at, 'created_at', i.created_at,
          'updated_at', i.updated_at, 'email', i.email)), '[]'::jsonb)
        from auth.identities i where i.user_id = u.id) as identities
from auth.users u where u.id = %s
"""


class AuthStandin:
    def __init__(self, database_url: str, jwt_secret: str):
        self.database_url = database_url
        self.jwt_secret = jwt_secret
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        self._routes = Map([
            Rule("/auth/v1/admin/users", endpoint="create", methods=["POST"]),
            Rule("/auth/v1/admin/users/<user_id>", endpoint="get", methods=["GET"]),
        ], strict_slashes=False)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return self.wsgi(environ, start_response)

    def wsgi(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = self._routes.bind_to_environ(environ).match()
            self._authorize(request)
            status, body = getattr(self, f"_{endpoint}")(request, **args)
        except _AuthError as exc:
            status, body = exc.status, {"code": exc.status, "error_code": exc.code, "msg": exc.message}
        except NotFound:
            status, body = 404, {"code": 404, "error_code": "not_found", "msg": "Not found"}
        except HTTPException as exc:
            status, body = exc.code or 400, {"code": exc.code, "error_code": "bad_request", "msg": exc.description}
        return Response(json.dumps(body, default=_iso), status=status, content_type="application/json")(
            environ, start_response)

    def _authorize(self, request: Request) -> None:
        bearer = request.headers.get("Authorization", "")
        if not request.headers.get("apikey") or not bearer.startswith("Bearer "):
            raise _AuthError(401, "no_authorization", "This endpoint requires a Bearer token")
        try:
            claims = jwt.decode(bearer[7:], self.jwt_secret, algorithms=["HS256"], options={"verify_aud": False})
        except jwt.PyJWTError:
            raise _AuthError(401, "bad_jwt", "invalid JWT: unable to parse or verify signature") from None
        if claims.get("role") not in ("service_role", "supabase_admin"):
            raise _AuthError(403, "not_admin", "User not allowed")

    def _create(self, request: Request) -> tuple[int, dict]:
        body = request.get_json(silent=True) or {}
        with self._lock:
            self.calls.append({"method": "POST", "path": request.path, "body": body})
        email = body.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise _AuthError(400, "validation_failed", "Unable to validate email address: invalid format")
        metadata = body.get("user_metadata") or {}
        with psycopg.connect(self.database_url, autocommit=True, row_factory=dict_row) as conn:
            if users.find(conn, email):
                raise _AuthError(422, "email_exists", "A user with this email address has already been registered")
            with conn.transaction():
                user_id = users.create_in_database(conn, email, full_name=metadata.get("full_name"),
                                                   confirmed=bool(body.get("email_confirm")))
            return 200, self._user(conn, user_id)

    def _get(self, request: Request, user_id: str) -> tuple[int, dict]:
        with psycopg.connect(self.database_url, autocommit=True, row_factory=dict_row) as conn:
            try:
                return 200, self._user(conn, user_id)
            except (LookupError, psycopg.DataError):
                raise _AuthError(404, "user_not_found", "User not found") from None

    @staticmethod
    def _user(conn: psycopg.Connection, user_id: str) -> dict:
        row = conn.execute(_USER, (user_id,)).fetchone()
        if row is None:
            raise LookupError(user_id)
        return {
            "id": row["id"], "aud": row["aud"], "role": row["role"], "email": row["email"],
            "phone": row["phone"] or "", "email_confirmed_at": row["email_confirmed_at"],
            "phone_confirmed_at": row["phone_confirmed_at"], "confirmed_at": row["confirmed_at"],
            "last_sign_in_at": row["last_sign_in_at"], "app_metadata": row["raw_app_meta_data"] or {},
            "user_metadata": row["raw_user_meta_data"] or {}, "identities": row["identities"],
            "created_at": row["created_at"], "updated_at": row["updated_at"],
            "is_anonymous": row["is_anonymous"], "is_sso_user": row["is_sso_user"],
        }


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


class _AuthError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
