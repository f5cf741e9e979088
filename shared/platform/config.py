"""One validated settings object for every function, the CLI and the tests.

Values come from the environment (and an optional `.env`); `supabase.toml`
holds project settings that are not secrets (functions, cron, ports).
Services never read the environment themselves: they receive settings or
clients built from them.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field, field_validator
from typing import Annotated

from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Supabase CLI's well-known local secret: only ever used when no secret is set
# and the database is local (see Settings.jwt_secret_for_local()).
LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
LOCAL_STRIPE_KEY = "sk_test_bookwell_local"
LOCAL_STRIPE_WEBHOOK_SECRET = "whsec_bookwell_local"
LOCAL_RESEND_KEY = "re_bookwell_local"
LOCAL_TWILIO_ACCOUNT_SID = "AC" + "b0" * 16
LOCAL_TWILIO_AUTH_TOKEN = "bookwell_local_twilio_token"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    home: Path = Field(default=PROJECT_ROOT / ".bookwell", alias="BOOKWELL_HOME")
    # The local stack's port when not supabase.toml's [api] port (`bookwell dev --port N` sets it).
    api_port: int | None = Field(default=None, alias="BOOKWELL_API_PORT", ge=1, le=65535)
    env: str = Field(default="development", alias="BOOKWELL_ENV")

    jwt_secret: str = Field(default=LOCAL_JWT_SECRET, alias="SUPABASE_JWT_SECRET")
    jwks_url: str | None = Field(default=None, alias="SUPABASE_JWKS_URL")
    jwt_audience: str = Field(default="authenticated", alias="SUPABASE_JWT_AUDIENCE")
    supabase_url: str | None = Field(default=None, alias="SUPABASE_URL")
    service_role_key: str | None = Field(default=None, alias="SUPABASE_SERVICE_ROLE_KEY")

    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=["http://localhost:3000", "http://127.0.0.1:3000"], alias="CORS_ORIGINS"
    )
    max_body_bytes: int = Field(default=256 * 1024, alias="MAX_BODY_BYTES")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    pool_max_size: int = Field(default=10, alias="DB_POOL_MAX_SIZE")

    # Payments (Stripe). Without a real key, dev and tests use the local stand-in.
    stripe_secret_key: str = Field(default=LOCAL_STRIPE_KEY, alias="STRIPE_SECRET_KEY")
    stripe_webhook_secret: str = Field(default=LOCAL_STRIPE_WEBHOOK_SECRET, alias="STRIPE_WEBHOOK_SECRET")
    stripe_api_base: str | None = Field(default=None, alias="STRIPE_API_BASE")
    checkout_hold_minutes: int = Field(default=15, ge=1, le=120, alias="CHECKOUT_HOLD_MINUTES")
    checkout_return_origins: Annotated[list[str], NoDecode] = Field(
        default=[], alias="CHECKOUT_RETURN_ORIGINS")

    # Email (Resend). Without a real key, the local mailbox stand-in.
    resend_api_key: str = Field(default=LOCAL_RESEND_KEY, alias="RESEND_API_KEY")
    resend_api_base: str | None = Field(default=None, alias="RESEND_API_BASE")
    mail_from: str = Field(default="Bookwell <tickets@bookwell.local>", alias="MAIL_FROM")
    public_site_url: str = Field(default="http://localhost:3000", alias="PUBLIC_SITE_URL")

    # SMS (Twilio). Without real credentials, the local Twilio stand-in. SMS_ENABLED=false
    # turns the channel off (queued SMS are skipped) for deployments without Twilio.
    twilio_account_sid: str = Field(default=LOCAL_TWILIO_ACCOUNT_SID, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str = Field(default=LOCAL_TWILIO_AUTH_TOKEN, alias="TWILIO_AUTH_TOKEN")
    twilio_api_base: str | None = Field(default=None, alias="TWILIO_API_BASE")
    twilio_from: str = Field(default="+447700900000", alias="TWILIO_FROM")
    sms_enabled: bool = Field(default=True, alias="SMS_ENABLED")
    sms_region: str = Field(default="GB", pattern=r"^[A-Z]{2}$", alias="SMS_DEFAULT_REGION")
    # Countries we text (comma-separated ISO codes); empty: the default region only.
    sms_countries: str = Field(default="", pattern=r"^([A-Z]{2}(,[A-Z]{2})*)?$", alias="SMS_ALLOWED_COUNTRIES")

    # AI (any OpenAI-compatible chat completions endpoint). Unset: chat answers 503.
    ai_base_url: str | None = Field(default=None, alias="AI_BASE_URL")
    ai_api_key: str | None = Field(default=None, alias="AI_API_KEY")
    ai_model: str | None = Field(default=None, alias="AI_MODEL")
    ai_max_steps: int = Field(default=6, ge=1, le=20, alias="AI_MAX_STEPS")
    ai_max_tokens_per_turn: int = Field(default=12000, ge=100, alias="AI_MAX_TOKENS_PER_TURN")
    ai_timeout_seconds: float = Field(default=45.0, gt=0, alias="AI_TIMEOUT_SECONDS")
    ai_requests_per_minute: int = Field(default=20, ge=1, alias="AI_REQUESTS_PER_MINUTE")
    ai_daily_tokens: int = Field(default=200000, ge=1, alias="AI_DAILY_TOKENS")

    # Job photos (functions/staff-portal). STORAGE_BACKEND: "local" (files under
    # STORAGE_LOCAL_DIR, default <BOOKWELL_HOME>/storage) or "supabase" (Supabase
    # Storage at SUPABASE_STORAGE_URL, default <SUPABASE_URL>/storage/v1, with the
    # service-role key). Unset: supabase in production, local otherwise.
    storage_backend: str | None = Field(default=None, pattern="^(local|supabase)$", alias="STORAGE_BACKEND")
    storage_local_dir: Path | None = Field(default=None, alias="STORAGE_LOCAL_DIR")
    storage_url: str | None = Field(default=None, alias="SUPABASE_STORAGE_URL")
    storage_bucket: str = Field(default="job-photos", pattern="^[a-z0-9][a-z0-9._-]{1,62}$", alias="STORAGE_BUCKET")
    photo_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024, alias="PHOTO_MAX_BYTES")
    photo_url_seconds: int = Field(default=600, ge=10, le=7 * 24 * 3600, alias="PHOTO_URL_SECONDS")

    @field_validator("cors_origins", "checkout_return_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        return value

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def local_base(self, path: str) -> str:
        return f"http://127.0.0.1:{self.api_port or project().api_port}/{path}"

    @property
    def stripe_base(self) -> str | None:
        """Where the Stripe SDK points: the stand-in when no real key is set."""
        if self.stripe_api_base:
            return self.stripe_api_base.rstrip("/")
        return self.local_base("stripe") if self.stripe_secret_key == LOCAL_STRIPE_KEY else None

    @property
    def resend_base(self) -> str | None:
        if self.resend_api_base:
            return self.resend_api_base.rstrip("/")
        return self.local_base("resend") if self.resend_api_key == LOCAL_RESEND_KEY else None

    @property
    def sms_allowed_regions(self) -> frozenset[str]:
        return frozenset(self.sms_countries.split(",")) if self.sms_countries else frozenset({self.sms_region})

    @property
    def twilio_base(self) -> str | None:
        """Where the twilio SDK's requests go instead of https://api.twilio.com (None: Twilio itself)."""
        if self.twilio_api_base:
            return self.twilio_api_base.rstrip("/")
        return self.local_base("twilio") if self.twilio_auth_token == LOCAL_TWILIO_AUTH_TOKEN else None

    @property
    def storage_kind(self) -> str:
        return self.storage_backend or ("supabase" if self.is_production else "local")

    @property
    def storage_base(self) -> str | None:
        if self.storage_url:
            return self.storage_url.rstrip("/")
        return f"{self.supabase_url.rstrip('/')}/storage/v1" if self.supabase_url else None

    @property
    def return_origins(self) -> list[str]:
        """Origins a checkout may send the buyer back to (default: the CORS origins)."""
        return self.checkout_return_origins or self.cors_origins

    def check(self) -> None:
        """Refuse placeholder secrets outside development."""
        if not self.is_production:
            return
        if self.jwt_secret == LOCAL_JWT_SECRET and not self.jwks_url:
            raise RuntimeError("SUPABASE_JWT_SECRET (or SUPABASE_JWKS_URL) must be set in production")
        for name, value, local in (
            ("STRIPE_SECRET_KEY", self.stripe_secret_key, LOCAL_STRIPE_KEY),
            ("STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret, LOCAL_STRIPE_WEBHOOK_SECRET),
            ("RESEND_API_KEY", self.resend_api_key, LOCAL_RESEND_KEY),
        ):
            if value == local:
                raise RuntimeError(f"{name} must be set in production")
        if self.sms_enabled and LOCAL_TWILIO_AUTH_TOKEN == self.twilio_auth_token:
            raise RuntimeError("TWILIO_AUTH_TOKEN must be set in production (or SMS_ENABLED=false)")
        if self.sms_enabled and LOCAL_TWILIO_ACCOUNT_SID == self.twilio_account_sid:
            raise RuntimeError("TWILIO_ACCOUNT_SID must be set in production (or SMS_ENABLED=false)")


@functools.cache
def settings() -> Settings:
    s = Settings()
    s.check()
    return s


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    verify_jwt: bool = True


@dataclass(frozen=True)
class CronJob:
    name: str
    schedule: str
    function: str
    body: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Project:
    """What supabase.toml says: functions, cron schedules, local ports."""

    functions: dict[str, FunctionSpec]
    cron: dict[str, CronJob]
    api_port: int
    db_port: int

    def function(self, name: str) -> FunctionSpec:
        return self.functions.get(name, FunctionSpec(name))


@functools.cache
def project(path: Path = PROJECT_ROOT / "supabase.toml") -> Project:
    data = tomllib.loads(path.read_text())
    functions = {
        name: FunctionSpec(name, bool(spec.get("verify_jwt", True)))
        for name, spec in data.get("functions", {}).items()
    }
    cron = {
        name: CronJob(name, spec["schedule"], spec["function"], spec.get("body", {}))
        for name, spec in data.get("cron", {}).items()
    }
    return Project(
        functions=functions,
        cron=cron,
        api_port=int(data.get("api", {}).get("port", 54321)),
        db_port=int(data.get("db", {}).get("port", 54322)),
    )
