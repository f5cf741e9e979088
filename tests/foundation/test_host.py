"""The function host (shared/platform/http.py + shared/platform/auth.py) over real HTTP.

Real functions (`health`, `me`) are served by the conftest `functions_url`
fixture; the host's error paths are driven through a test-only function,
tests/fixtures/functions/echo, served the same way (devserver.build_app).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from werkzeug.serving import make_server

from shared.devstack import devserver
from shared.platform import auth, config, errors, log
from shared.platform.config import LOCAL_JWT_SECRET
from shared.devstack.localdb import free_port
from tests.support.standalone import function_source, standalone

FIXTURE_FUNCTIONS = Path(__file__).resolve().parent.parent / "fixtures" / "functions"
ALLOWED_ORIGIN = "http://localhost:3000"
EVIL_ORIGIN = "https://evil.example"
ERROR_KEYS = {"code", "message", "details"}


# ---------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------


@contextmanager
def serve(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def echo_url(database_url: str) -> Iterator[str]:
    with serve(devserver.build_app(directory=FIXTURE_FUNCTIONS)) as base:
        yield f"{base}/functions/v1/echo"


@pytest.fixture
def env() -> Iterator:
    """`env(NAME=value, OTHER=None)`: set or unset variables for one test; settings re-read."""
    saved: dict[str, str | None] = {}

    def set_env(**values: str | None) -> None:
        for name, value in values.items():
            saved.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        config.settings.cache_clear()

    yield set_env
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    config.settings.cache_clear()


class Captured(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self.setFormatter(log.JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    def requests(self, request_id: str) -> list[dict]:
        entries = [json.loads(line) for line in self.lines]
        return [e for e in entries if e.get("message") == "request" and e.get("request_id") == request_id]


@pytest.fixture
def logs() -> Iterator[Captured]:
    """What the host writes to its JSON log (the 'bookwell' logger) during one test."""
    log.configure(config.settings().runtime.log_level)  # configure first: it replaces the handler list once
    handler = Captured()
    logger = logging.getLogger("bookwell")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def keys() -> dict[str, str]:
    return auth.api_keys(config.settings())


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def craft(header: dict, claims: dict, sign=None) -> str:
    """A JWT assembled by hand; `sign(signing_input) -> bytes`, or an empty signature."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64url(signature)}"


def user_claims(**overrides) -> dict:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "role": "authenticated", "aud": "authenticated",
              "email": "mallory@example.com", "iat": now, "exp": now + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def hs256(claims: dict, secret: str = LOCAL_JWT_SECRET, **headers) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers or None)


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == ERROR_KEYS, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


# ---------------------------------------------------------------------------
# JWT: HS256 with the project secret
# ---------------------------------------------------------------------------


def test_a_verify_jwt_function_without_a_token_is_401_missing_token(functions_url):
    assert_error(httpx.get(f"{functions_url}/me"), 401, "missing_token")


def test_an_expired_token_is_401_token_expired(functions_url, db):
    user = db.user()
    token = auth.mint(config.settings(), role="authenticated", sub=user.id, email=user.email, ttl_seconds=-5)
    assert_error(httpx.get(f"{functions_url}/me", headers=bearer(token)), 401, "token_expired")


def test_a_token_signed_with_another_secret_is_401(functions_url, db):
    user = db.user()
    token = hs256(user_claims(sub=user.id), secret="another-secret-that-is-at-least-32-characters")
    assert_error(httpx.get(f"{functions_url}/me", headers=bearer(token)), 401, "invalid_token")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_an_unsigned_alg_none_token_is_401(echo_url, alg):
    for claims in (user_claims(), {"role": "service_role", "exp": int(time.time()) + 600}):
        token = craft({"alg": alg, "typ": "JWT"}, claims)
        assert token.endswith(".")
        assert_error(httpx.post(echo_url, json={"message": "x"}, headers=bearer(token)), 401, "invalid_token")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_401_even_with_the_right_secret(echo_url, alg):
    token = jwt.encode({"role": "service_role", "exp": int(time.time()) + 600}, LOCAL_JWT_SECRET, algorithm=alg)
    assert_error(httpx.post(echo_url, json={"message": "x"}, headers=bearer(token)), 401, "invalid_token")


def test_an_unknown_algorithm_name_is_401(echo_url):
    token = craft({"alg": "XS999", "typ": "JWT"}, user_claims(),
                  sign=lambda data: hmac.new(LOCAL_JWT_SECRET.encode(), data, hashlib.sha256).digest())
    assert_error(httpx.post(echo_url, json={"message": "x"}, headers=bearer(token)), 401, "invalid_token")


@pytest.mark.parametrize("aud", ["another-project", "anon", None])
def test_an_authenticated_token_for_another_audience_is_401(functions_url, db, aud):
    user = db.user()
    token = hs256(user_claims(sub=user.id, aud=aud))
    assert_error(httpx.get(f"{functions_url}/me", headers=bearer(token)), 401, "invalid_token")


@pytest.mark.parametrize("role", ["postgres", "supabase_admin", "authenticator", "admin", "", None])
def test_a_token_naming_any_other_role_is_401(echo_url, role):
    claims = {"exp": int(time.time()) + 600, "sub": str(uuid.uuid4()), "aud": "authenticated"}
    if role is not None:
        claims["role"] = role
    assert_error(httpx.post(echo_url, json={"message": "x"}, headers=bearer(hs256(claims))), 401, "invalid_token")


def test_a_token_without_an_expiry_is_401(echo_url):
    token = hs256({"role": "service_role"})
    assert_error(httpx.post(echo_url, json={"message": "x"}, headers=bearer(token)), 401, "invalid_token")


def test_an_authenticated_token_without_a_subject_is_401(echo_url):
    token = hs256(user_claims(sub=None))
    assert_error(httpx.post(echo_url, json={"message": "x"}, headers=bearer(token)), 401, "invalid_token")


@pytest.mark.parametrize("header", [
    "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
    "Bearer",
    "Bearer  abc",
    "Token abc.def.ghi",
    "Bearer not-a-jwt",
    "Bearer a.b.c",
])
def test_a_malformed_authorization_header_is_401(functions_url, header):
    assert_error(httpx.get(f"{functions_url}/me", headers={"authorization": header}), 401, "invalid_token")


def test_a_presented_token_is_verified_even_where_verify_jwt_is_false(functions_url):
    # health does not require a token, but a forged one is still refused, not ignored.
    forged = hs256({"role": "service_role", "exp": int(time.time()) + 600}, secret="x" * 40)
    assert_error(httpx.get(f"{functions_url}/health", headers=bearer(forged)), 401, "invalid_token")
    assert httpx.get(f"{functions_url}/health").status_code == 200


def test_the_anon_key_passes_verify_jwt_but_is_no_user(functions_url, echo_url):
    anon = keys()["anon"]
    assert_error(httpx.get(f"{functions_url}/me", headers=bearer(anon)), 401, "not_authenticated")
    r = httpx.post(echo_url, json={"message": "hi"}, headers=bearer(anon))
    assert r.status_code == 200, r.text
    assert (r.json()["role"], r.json()["user_id"]) == ("anon", None)


def test_the_service_key_and_a_user_token_are_told_apart(echo_url, db):
    r = httpx.post(echo_url, json={"message": "hi"}, headers=bearer(keys()["service_role"]))
    assert (r.status_code, r.json()["role"], r.json()["user_id"]) == (200, "service_role", None)
    user = db.user()
    r = httpx.post(echo_url, json={"message": "hi"}, headers=user.headers)
    assert (r.status_code, r.json()["role"], r.json()["user_id"]) == (200, "authenticated", user.id)


def test_in_production_the_well_known_local_secret_is_never_trusted():
    # Production configured with a JWKS only: SUPABASE_JWT_SECRET falls back to the
    # Supabase CLI's published local secret, which anyone can sign with. (Settings
    # are built directly: a full production environment needs every provider's keys.)
    jwks_only = config.Settings(BOOKWELL_ENV="production", SUPABASE_JWT_SECRET=LOCAL_JWT_SECRET,
                                SUPABASE_JWKS_URL=f"http://127.0.0.1:{free_port()}/jwks.json")
    forged = hs256({"role": "service_role", "exp": int(time.time()) + 600})
    with pytest.raises(errors.DomainError) as refused:
        auth.verify(forged, jwks_only)
    assert (refused.value.status, refused.value.code) == (401, "invalid_token")
    # A real project secret is still honoured in production (Supabase's legacy HS256 keys),
    # and the local secret still works in development.
    real = "a-real-project-secret-with-more-than-32-characters"
    with_secret = config.Settings(BOOKWELL_ENV="production", SUPABASE_JWT_SECRET=real)
    token = hs256({"role": "service_role", "exp": int(time.time()) + 600}, secret=real)
    assert auth.verify(token, with_secret).role == "service_role"
    development = config.Settings(BOOKWELL_ENV="development", SUPABASE_JWT_SECRET=LOCAL_JWT_SECRET)
    assert auth.verify(forged, development).role == "service_role"


# ---------------------------------------------------------------------------
# JWT: RS256 / ES256 through the project's JWKS
# ---------------------------------------------------------------------------

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _jwk(public_key, kid: str, alg: str) -> dict:
    algorithm = RSAAlgorithm if alg == "RS256" else ECAlgorithm
    return {**algorithm.to_jwk(public_key, as_dict=True), "kid": kid, "alg": alg, "use": "sig"}


class JwksServer:
    """Serves a JWKS per path and counts the fetches of each path."""

    def __init__(self):
        self.documents: dict[str, dict] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with outer.lock:
                    outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                    document = outer.documents.get(self.path)
                body = json.dumps(document).encode() if document is not None else b"{}"
                self.send_response(200 if document is not None else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def publish(self, keys: list[dict]) -> tuple[str, str]:
        """A fresh URL (so a fresh client and cache in the host) serving `keys`."""
        path = f"/{uuid.uuid4().hex}/auth/v1/.well-known/jwks.json"
        self.documents[path] = {"keys": keys}
        return path, f"http://127.0.0.1:{self.server.server_port}{path}"


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def jwks(jwks_server, env):
    """This project's JWKS (one RSA and one EC key) at a fresh URL, set as SUPABASE_JWKS_URL."""
    path, url = jwks_server.publish([
        _jwk(RSA_KEY.public_key(), "rsa-1", "RS256"),
        _jwk(EC_KEY.public_key(), "ec-1", "ES256"),
    ])
    env(SUPABASE_JWKS_URL=url)
    jwks_server.path = path
    return jwks_server


def rs256(claims: dict, key=RSA_KEY, kid: str = "rsa-1") -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def es256(claims: dict, key=EC_KEY, kid: str = "ec-1") -> str:
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


def test_an_rs256_user_token_from_the_jwks_is_accepted_and_acts_as_that_user(functions_url, db, jwks):
    user = db.user(full_name="Rita Rsa")
    r = httpx.get(f"{functions_url}/me", headers=bearer(rs256(user_claims(sub=user.id, email=user.email))))
    assert r.status_code == 200, r.text
    assert r.json()["profile"]["email"] == user.email


def test_an_es256_token_from_the_jwks_is_accepted(echo_url, jwks):
    claims = user_claims()
    r = httpx.post(echo_url, json={"message": "hi"}, headers=bearer(es256(claims)))
    assert r.status_code == 200, r.text
    assert (r.json()["role"], r.json()["user_id"]) == ("authenticated", claims["sub"])


def test_an_rs256_token_signed_with_another_key_is_401(echo_url, jwks):
    forged = rs256(user_claims(), key=OTHER_RSA_KEY, kid="rsa-1")
    assert_error(httpx.post(echo_url, json={"message": "x"}, headers=bearer(forged)), 401, "invalid_token")


def test_an_expired_rs256_token_is_401_token_expired(echo_url, jwks):
    token = rs256(user_claims(exp=int(time.time()) - 5))
    assert_error(httpx.post(echo_url, json={"message": "x"}, headers=bearer(token)), 401, "token_expired")


def test_a_token_naming_a_kid_the_jwks_does_not_have_is_401(echo_url, jwks):
    stranger = rs256(user_claims(), key=OTHER_RSA_KEY, kid="rsa-unknown")
    assert_error(httpx.post(echo_url, json={"message": "x"}, headers=bearer(stranger)), 401, "invalid_token")


def test_algorithm_confusion_with_the_jwks_keys_is_401(echo_url, jwks):
    # HS256 "signed" with the RSA public key as the HMAC secret.
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    confused = craft({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, user_claims(),
                     sign=lambda data: hmac.new(pem, data, hashlib.sha256).digest())
    # An RS256 header pointing at the EC key, and an ES256 header pointing at the RSA key.
    rs_on_ec = craft({"alg": "RS256", "kid": "ec-1"}, user_claims(), sign=lambda data: b"\x00" * 256)
    es_on_rsa = craft({"alg": "ES256", "kid": "rsa-1"}, user_claims(), sign=lambda data: b"\x00" * 64)
    for token in (confused, rs_on_ec, es_on_rsa):
        assert_error(httpx.post(echo_url, json={"message": "x"}, headers=bearer(token)), 401, "invalid_token")


def test_asymmetric_tokens_are_refused_when_no_jwks_is_configured(echo_url, env):
    env(SUPABASE_JWKS_URL=None)
    token = rs256(user_claims())
    assert_error(httpx.post(echo_url, json={"message": "x"}, headers=bearer(token)), 401, "invalid_token")


def test_the_jwks_is_fetched_once_and_cached(echo_url, jwks):
    for _ in range(3):
        for token in (rs256(user_claims()), es256(user_claims())):
            assert httpx.post(echo_url, json={"message": "hi"}, headers=bearer(token)).status_code == 200
    forged = rs256(user_claims(), key=OTHER_RSA_KEY)
    assert httpx.post(echo_url, json={"message": "x"}, headers=bearer(forged)).status_code == 401
    assert jwks.hits[jwks.path] == 1


def test_tokens_with_made_up_kids_do_not_each_cost_a_jwks_fetch(echo_url, jwks):
    assert httpx.post(echo_url, json={"message": "hi"}, headers=bearer(rs256(user_claims()))).status_code == 200
    for _ in range(5):
        token = rs256(user_claims(), key=OTHER_RSA_KEY, kid=uuid.uuid4().hex)
        assert httpx.post(echo_url, json={"message": "x"}, headers=bearer(token)).status_code == 401
    # One fetch, plus at most one forced refresh for an unknown kid (then a cooldown).
    assert jwks.hits[jwks.path] <= 2


def test_a_key_removed_from_the_jwks_is_refused_once_the_cached_set_expires(echo_url, jwks):
    token = rs256(user_claims())
    assert httpx.post(echo_url, json={"message": "hi"}, headers=bearer(token)).status_code == 200
    # The project rotates: rsa-1 is revoked, only the EC key remains.
    jwks.documents[jwks.path] = {"keys": [_jwk(EC_KEY.public_key(), "ec-1", "ES256")]}
    # Stand-in for the cache lifespan passing: drop the cached key set.
    auth._jwks_client(config.settings().auth.jwks_url).jwk_set_cache.put(None)
    assert_error(httpx.post(echo_url, json={"message": "x"}, headers=bearer(token)), 401, "invalid_token")
    assert httpx.post(echo_url, json={"message": "hi"}, headers=bearer(es256(user_claims()))).status_code == 200


def test_an_unreachable_jwks_is_503_not_a_401_that_blames_the_token(echo_url, env):
    env(SUPABASE_JWKS_URL=f"http://127.0.0.1:{free_port()}/auth/v1/.well-known/jwks.json")
    r = httpx.post(echo_url, json={"message": "x"}, headers=bearer(rs256(user_claims())))
    assert_error(r, 503, "auth_unavailable")
    assert r.headers["retry-after"] == "1"
    # HS256 keys (the anon key) still work while the JWKS is down.
    assert httpx.post(echo_url, json={"message": "hi"}, headers=bearer(keys()["anon"])).status_code == 200


# ---------------------------------------------------------------------------
# CORS
# ---------------------------------------------------------------------------


def preflight(url: str, origin: str | None, method: str = "POST") -> httpx.Response:
    headers = {"access-control-request-method": method,
               "access-control-request-headers": "authorization, content-type"}
    if origin is not None:
        headers["origin"] = origin
    return httpx.options(url, headers=headers)


def test_a_preflight_from_an_allowed_origin_is_204_without_a_token(functions_url):
    r = preflight(f"{functions_url}/me", ALLOWED_ORIGIN, "GET")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    methods = {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "apikey", "x-client-info"} <= allowed
    assert "origin" in r.headers["vary"].lower()


@pytest.mark.parametrize("origin", [
    EVIL_ORIGIN,
    "http://localhost:3000.evil.example",
    "http://localhost:30000",
    "https://localhost:3000",
    "null",
])
def test_a_preflight_from_another_origin_is_403_and_grants_nothing(functions_url, origin):
    r = preflight(f"{functions_url}/me", origin)
    assert_error(r, 403, "cors_origin_denied")
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-allow-methods" not in r.headers


def test_a_preflight_without_an_origin_is_403(functions_url):
    assert_error(preflight(f"{functions_url}/health", None, "GET"), 403, "cors_origin_denied")


def test_a_request_from_another_origin_gets_no_allow_origin_header(functions_url):
    r = httpx.get(f"{functions_url}/health", headers={"origin": EVIL_ORIGIN})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    r = httpx.get(f"{functions_url}/health", headers={"origin": ALLOWED_ORIGIN})
    assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "x-request-id" in r.headers["access-control-expose-headers"].lower()


def test_error_answers_carry_cors_headers_so_the_browser_can_read_them(functions_url):
    r = httpx.get(f"{functions_url}/me", headers={"origin": ALLOWED_ORIGIN})
    assert_error(r, 401, "missing_token")
    assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


def test_cors_origins_is_a_comma_separated_list(functions_url, env):
    env(CORS_ORIGINS=" https://app.example.com , https://admin.example.com/ ,,")
    assert config.settings().http.cors_origins == ["https://app.example.com", "https://admin.example.com"]
    r = preflight(f"{functions_url}/me", "https://admin.example.com")
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://admin.example.com"
    # The default origins are replaced, not extended.
    assert_error(preflight(f"{functions_url}/me", ALLOWED_ORIGIN), 403, "cors_origin_denied")


# ---------------------------------------------------------------------------
# Errors, limits, request ids and logs
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def anon_headers() -> dict[str, str]:
    return bearer(keys()["anon"])


def test_every_error_has_exactly_code_message_details(functions_url, echo_url, anon_headers):
    base = functions_url.rsplit("/", 1)[0]
    answers = [
        httpx.get(f"{functions_url}/me"),                                           # 401
        preflight(f"{functions_url}/me", EVIL_ORIGIN),                              # 403
        httpx.get(f"{base}/v1/nothing-here"),                                       # 404 (devserver)
        httpx.get(echo_url, headers=anon_headers),                                  # 405
        httpx.post(echo_url, content=b"{", headers=anon_headers),                   # 400
        httpx.post(echo_url, json={"message": ""}, headers=anon_headers),           # 422
        httpx.post(echo_url, content=b"x" * (256 * 1024 + 1), headers=anon_headers),  # 413
        httpx.post(f"{echo_url}/boom", json={"message": "x"}, headers=anon_headers),  # 500
    ]
    assert [r.status_code for r in answers] == [401, 403, 404, 405, 400, 422, 413, 500]
    for r in answers:
        assert_error(r, r.status_code)


def test_a_bad_body_is_422_with_field_level_details(echo_url, anon_headers):
    r = httpx.post(echo_url, json={"message": "", "count": "lots", "extra": "ignored"}, headers=anon_headers)
    error = assert_error(r, 422, "invalid_request")
    by_field = {d["field"]: d for d in error["details"]}
    assert set(by_field) == {"message", "count"}
    assert by_field["message"]["type"] == "string_too_short"
    assert by_field["count"]["type"] == "int_parsing"
    assert all(set(d) == {"field", "message", "type"} for d in error["details"])
    assert "lots" not in r.text  # the rejected input is not echoed back


def test_a_missing_field_and_a_body_that_is_not_an_object_are_422(echo_url, anon_headers):
    error = assert_error(httpx.post(echo_url, json={"count": 2}, headers=anon_headers), 422, "invalid_request")
    assert [(d["field"], d["type"]) for d in error["details"]] == [("message", "missing")]
    assert_error(httpx.post(echo_url, json=[1, 2], headers=anon_headers), 422, "invalid_request")
    assert_error(httpx.post(echo_url, headers=anon_headers), 422, "invalid_request")  # empty body = {}


@pytest.mark.parametrize("body", [
    b"not json",
    b'{"message": "unterminated',
    b"\xff\xfe\x00garbage",
    b"[" * 100_000,                               # nesting deep enough to exhaust Python's recursion
    b'{"a":' * 40_000 + b"1" + b"}" * 40_000,       # the same with objects, still under the size limit
])
def test_a_body_that_is_not_json_is_400_invalid_json(echo_url, anon_headers, body):
    r = httpx.post(echo_url, content=body, headers={**anon_headers, "content-type": "application/json"})
    assert_error(r, 400, "invalid_json")


def test_a_body_at_the_limit_is_read_whole_with_or_without_content_length(echo_url, anon_headers):
    limit = config.settings().http.max_body_bytes
    prefix = b'{"message": "m", "padding": "'
    body = prefix + b"p" * (limit - len(prefix) - 2) + b'"}'
    assert len(body) == limit
    r = httpx.post(echo_url, content=body, headers=anon_headers)
    assert (r.status_code, r.json().get("bytes")) == (200, limit), r.text
    chunked = httpx.post(echo_url, content=iter([body[i:i + 1000] for i in range(0, limit, 1000)]),
                         headers=anon_headers)
    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert (chunked.status_code, chunked.json().get("bytes")) == (200, limit), chunked.text


def test_a_body_over_the_limit_is_413_with_content_length(echo_url, anon_headers):
    limit = config.settings().http.max_body_bytes
    r = httpx.post(echo_url, content=b"x" * (limit + 1), headers=anon_headers)
    assert r.request.headers["content-length"] == str(limit + 1)
    assert_error(r, 413, "body_too_large")


def test_a_body_over_the_limit_is_413_with_chunked_transfer(echo_url, anon_headers):
    limit = config.settings().http.max_body_bytes
    r = httpx.post(echo_url, content=iter([b"x" * 4096] * (limit // 4096 + 1)), headers=anon_headers)
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in r.request.headers
    assert_error(r, 413, "body_too_large")


def test_max_body_bytes_comes_from_the_environment(echo_url, anon_headers, env):
    env(MAX_BODY_BYTES="100")
    assert_error(httpx.post(echo_url, json={"message": "m" * 100}, headers=anon_headers), 413, "body_too_large")
    assert httpx.post(echo_url, json={"message": "m"}, headers=anon_headers).status_code == 200


@pytest.mark.parametrize("transfer", ["content-length", "chunked"])
def test_an_oversized_body_is_refused_without_being_held_in_memory(echo_url, anon_headers, transfer):
    size = 48 * 1024 * 1024
    chunk = b"x" * 65536
    headers = dict(anon_headers)
    if transfer == "content-length":
        headers["content-length"] = str(size)
    # The client exists before tracing starts (a new httpx client allocates ~10 MB
    # loading CA certificates); the server runs in this process, so its
    # allocations are traced.
    with httpx.Client(timeout=60) as client:
        tracemalloc.start()
        try:
            r = client.post(echo_url, content=(chunk for _ in range(size // len(chunk))), headers=headers)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert_error(r, 413, "body_too_large")
    # Holding the body costs at least `size` (it was ~2x before the fix). What remains
    # is small, plus werkzeug's dev server's own after-response drain, which reads
    # into a 10 MB buffer when the socket is still readable.
    assert peak < size // 3, f"{peak} bytes allocated while refusing a {size}-byte body"


def test_a_wrong_method_is_405_and_names_the_allowed_ones(functions_url, echo_url, anon_headers):
    r = httpx.get(echo_url, headers=anon_headers)
    assert_error(r, 405, "method_not_allowed")
    assert "POST" in r.headers["allow"]
    r = httpx.post(f"{functions_url}/health", json={})
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["allow"]
    assert_error(httpx.delete(f"{functions_url}/me"), 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/ai-wizard/tools/a%0Ab", "/me/x%0Ay", "/health/robots.txt", "/calendar/favicon.ico"])
def test_a_path_the_host_itself_refuses_is_the_one_error_shape_not_an_html_page(functions_url, path):
    """functions-framework's own router refuses a path its `/<path:path>` rule cannot match (one holding a
    newline) and /robots.txt and /favicon.ico before any handler runs; that was Flask's HTML 404 (found by
    the schemathesis run, tests/foundation/test_fuzz.py)."""
    sent = f"req-{uuid.uuid4().hex}"
    r = httpx.get(f"{functions_url}{path}", headers={"x-request-id": sent})
    assert assert_error(r, 404, "not_found")["message"] == "Not Found"
    assert r.headers["x-request-id"] == sent
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/boom", "/db-boom"])
def test_an_unexpected_exception_is_a_generic_500_with_the_request_id(echo_url, anon_headers, logs, path):
    r = httpx.post(f"{echo_url}{path}", json={"message": "x"}, headers=anon_headers)
    error = assert_error(r, 500, "internal")
    assert error["message"] == "Something went wrong on our side"
    assert error["details"] == {"request_id": r.headers["x-request-id"]}
    assert "secret-detail" not in r.text
    assert "Traceback" not in r.text and "vault" not in r.text
    # The operator still gets the exception, tied to the same request id.
    crashes = [rec for rec in logs.records if rec.exc_info and r.headers["x-request-id"] in rec.getMessage()]
    assert len(crashes) == 1
    assert "secret-detail" in logs.format(crashes[0])


def test_the_request_id_is_echoed_when_sent_and_generated_when_not(functions_url, echo_url, anon_headers):
    sent = f"req-{uuid.uuid4().hex}"
    assert httpx.get(f"{functions_url}/health", headers={"x-request-id": sent}).headers["x-request-id"] == sent
    # Also on errors, and the handler sees the same id.
    assert httpx.get(f"{functions_url}/me", headers={"x-request-id": sent}).headers["x-request-id"] == sent
    r = httpx.post(echo_url, json={"message": "x"}, headers={**anon_headers, "x-request-id": sent})
    assert r.json()["request_id"] == sent
    first = httpx.get(f"{functions_url}/health").headers["x-request-id"]
    second = httpx.get(f"{functions_url}/health").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and re.fullmatch(r"[0-9a-f]{32}", second)
    assert first != second


def test_each_request_writes_one_structured_json_log_line(functions_url, echo_url, db, logs):
    user = db.user()
    ok_id, refused_id = uuid.uuid4().hex, uuid.uuid4().hex
    httpx.get(f"{functions_url}/me", headers={**user.headers, "x-request-id": ok_id})
    httpx.post(echo_url, json={"message": "x"}, headers={"x-request-id": refused_id})
    [ok] = logs.requests(ok_id)
    assert ok["level"] == "info" and ok["logger"] == "bookwell"
    assert (ok["function"], ok["method"], ok["path"], ok["status"], ok["user"]) == ("me", "GET", "/", 200, user.id)
    assert isinstance(ok["ms"], (int, float)) and ok["ts"].endswith("Z")
    [refused] = logs.requests(refused_id)
    assert (refused["function"], refused["status"], refused["user"]) == ("echo", 401, None)
    assert "authorization" not in json.dumps(ok).lower()  # tokens never reach the log


# ---------------------------------------------------------------------------
# health
# ---------------------------------------------------------------------------


def test_health_reports_the_latest_applied_migration(functions_url, db):
    r = httpx.get(f"{functions_url}/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["database"]) == ("ok", "ok")
    assert body["schema_version"] == db.value("select max(version) from supabase_migrations.schema_migrations")


def test_health_without_a_database_is_503_database_unavailable(database_url):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres?connect_timeout=1"
    with standalone(function_source("health"), {"DATABASE_URL": dead}) as server:
        r = httpx.get(server.url, timeout=30)
        assert_error(r, 503, "database_unavailable")
        assert r.headers["retry-after"] == "1"
        assert "Traceback" not in r.text


def test_secret_looking_path_segments_never_reach_the_log():
    from shared.platform.http import loggable_path

    token = "9f" * 48
    assert token not in loggable_path(f"/feeds/{token}.ics")
    assert loggable_path("/sessions/3f1c2b7e-1111-2222-3333-444455556666/abandon") == (
        "/sessions/3f1c2b7e-1111-2222-3333-444455556666/abandon")
