"""JWT verification and minting, shaped like Supabase Auth.

Verification: HS256 with SUPABASE_JWT_SECRET, or RS256/ES256 against the
project's JWKS (the key set is cached for JWKS_LIFESPAN seconds, so a key
removed from it stops being trusted within that time). `alg=none`, an unknown
algorithm, a key of another type than the token's alg, a bad signature, an
expired token or the wrong audience are all refused (401); a JWKS that cannot
be fetched is our fault, not the token's (503). In production the Supabase
CLI's published local secret is never accepted.
Minting exists for local development and tests only (`bookwell token`).
"""

from __future__ import annotations

import functools
import time
import uuid
from typing import Any

import jwt

from shared.platform import errors
from shared.platform.config import Settings
from shared.platform.db import Caller

ASYMMETRIC = ("RS256", "ES256")
ROLES = ("anon", "authenticated", "service_role")
JWKS_LIFESPAN = 600  # seconds a fetched key set is trusted before it is fetched again
JWKS_TIMEOUT = 5  # seconds to wait for the JWKS endpoint


@functools.cache
def _jwks_client(url: str) -> jwt.PyJWKClient:
    # No per-kid cache (cache_keys): PyJWT's has no expiry, so a revoked key would
    # be trusted until the process restarts. The key-set cache expires; unknown
    # kids force at most one refetch per cooldown (PyJWT's default, 30 s).
    return jwt.PyJWKClient(url, lifespan=JWKS_LIFESPAN, timeout=JWKS_TIMEOUT)


def verify(token: str, settings: Settings) -> Caller:
    try:
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg == "HS256":
            if settings.runtime.is_production and settings.auth.uses_local_secret:
                # The published local secret signs nothing in production (e.g. a
                # JWKS-only project that never set SUPABASE_JWT_SECRET).
                raise errors.unauthorized("invalid_token", "Unsupported token algorithm")
            key: Any = settings.auth.jwt_secret
        elif alg in ASYMMETRIC and settings.auth.jwks_url:
            # The PyJWK itself, so PyJWT refuses a token whose alg is not the key's.
            key = _jwks_client(settings.auth.jwks_url).get_signing_key_from_jwt(token)
        else:
            raise errors.unauthorized("invalid_token", "Unsupported token algorithm")
        claims = jwt.decode(
            token, key, algorithms=[alg],
            options={"require": ["exp", "role"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise errors.unauthorized("token_expired", "The token has expired") from None
    except jwt.PyJWKClientConnectionError:
        raise errors.DomainError(
            503, "auth_unavailable", "The signing keys could not be fetched; please try again") from None
    except (jwt.PyJWTError, ValueError, TypeError):
        raise errors.unauthorized("invalid_token", "The token is not valid") from None

    role = claims.get("role")
    if role not in ROLES:
        raise errors.unauthorized("invalid_token", "The token names an unknown role")
    # User tokens must be meant for this project's users; API keys carry no aud.
    if role == "authenticated" and claims.get("aud") != settings.auth.jwt_audience:
        raise errors.unauthorized("invalid_token", "The token is for another audience")
    if role == "authenticated" and not claims.get("sub"):
        raise errors.unauthorized("invalid_token", "The token names no user")
    return Caller(role, claims)


def mint(settings: Settings, *, role: str, sub: str | None = None, email: str | None = None,
         ttl_seconds: int = 3600, **extra: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": "bookwell-local", "role": role, "iat": now, "exp": now + ttl_seconds}
    if role == "authenticated":
        claims |= {"aud": settings.auth.jwt_audience, "sub": sub, "email": email,
                   "session_id": str(uuid.uuid4()), "app_metadata": {"provider": "email"}}
    claims |= extra
    return jwt.encode(claims, settings.auth.jwt_secret, algorithm="HS256")


def api_keys(settings: Settings) -> dict[str, str]:
    """The anon and service-role keys, as Supabase issues them (10 years)."""
    ten_years = 10 * 365 * 24 * 3600
    return {
        "anon": mint(settings, role="anon", ttl_seconds=ten_years),
        "service_role": mint(settings, role="service_role", ttl_seconds=ten_years),
    }
