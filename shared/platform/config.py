"""One validated settings object for every function, the CLI and the tests.

Values come from the environment (and an optional `.env`), grouped by concern:
`settings.stripe.secret_key` is STRIPE_SECRET_KEY, `settings.sms.default_region`
is SMS_DEFAULT_REGION; each field names its variable (`alias`), and the README
lists them all. `supabase.toml` holds project settings that are not secrets
(functions, cron, ports). Services never read the environment themselves:
they receive settings or clients built from them.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Supabase CLI's well-known local secret: only ever used when no secret is set;
# production refuses it (Settings.check(), auth.verify()).
LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
LOCAL_STRIPE_KEY = "sk_test_bookwell_local"
LOCAL_STRIPE_WEBHOOK_SECRET = "whsec_bookwell_local"
LOCAL_RESEND_KEY = "re_bookwell_local"
LOCAL_RESEND_WEBHOOK_SECRET = "whsec_Ym9va3dlbGwtbG9jYWwtcmVzZW5kLXdlYmhvb2tz"  # base64 of a fixed local string
LOCAL_TWILIO_ACCOUNT_SID = "AC" + "b0" * 16
LOCAL_TWILIO_AUTH_TOKEN = "bookwell_local_twilio_token"
LOCAL_PAYPAL_CLIENT_ID = "bookwell-local-paypal-client"
LOCAL_PAYPAL_CLIENT_SECRET = "bookwell-local-paypal-secret"
LOCAL_PAYPAL_WEBHOOK_ID = "1BOOKWELLLOCALWEBHOOK"


def _split_origins(value: object) -> object:
    if isinstance(value, str):
        return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
    return value


# A comma-separated list of origins in the environment ("https://a.example, https://b.example/").
Origins = Annotated[list[str], NoDecode, BeforeValidator(_split_origins)]


class _FromEnv(BaseSettings):
    """A group of settings, each field read from the environment variable its alias names."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")


class RuntimeSettings(_FromEnv):
    """Where and how this process runs."""

    env: str = Field(default="development", alias="BOOKWELL_ENV")
    home: Path = Field(default=PROJECT_ROOT / ".bookwell", alias="BOOKWELL_HOME")
    # The local stack's port when not supabase.toml's [api] port (`bookwell dev --port N` sets it).
    api_port: int | None = Field(default=None, alias="BOOKWELL_API_PORT", ge=1, le=65535)
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    # The longest any call to Stripe, PayPal, Resend or Twilio may take before it counts as failed
    # (the SDKs' own defaults run to 80 s: a slow provider would hold every worker thread).
    provider_timeout_seconds: float = Field(default=15, gt=0, le=120, alias="PROVIDER_TIMEOUT_SECONDS")
    # Processes serving the functions in `bookwell dev` / `bookwell serve` (more than one: gunicorn).
    workers: str | None = Field(default=None, alias="BOOKWELL_WORKERS")

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def local_base(self, path: str) -> str:
        return f"http://127.0.0.1:{self.api_port or project().api_port}/{path}"


class DatabaseSettings(_FromEnv):
    url: str | None = Field(default=None, alias="DATABASE_URL")
    pool_max_size: int = Field(default=10, alias="DB_POOL_MAX_SIZE")
    # How long a request waits for a connection before answering 503 database_unavailable.
    pool_timeout_seconds: float = Field(default=10, gt=0, le=120, alias="DB_POOL_TIMEOUT_SECONDS")


class AuthSettings(_FromEnv):
    """JWT verification, and the Supabase project's URL and service-role key (Auth admin API, Storage)."""

    jwt_secret: str = Field(default=LOCAL_JWT_SECRET, alias="SUPABASE_JWT_SECRET")
    jwks_url: str | None = Field(default=None, alias="SUPABASE_JWKS_URL")
    jwt_audience: str = Field(default="authenticated", alias="SUPABASE_JWT_AUDIENCE")
    supabase_url: str | None = Field(default=None, alias="SUPABASE_URL")
    service_role_key: str | None = Field(default=None, alias="SUPABASE_SERVICE_ROLE_KEY")

    @property
    def uses_local_secret(self) -> bool:
        return self.jwt_secret == LOCAL_JWT_SECRET

    def refuse_placeholders(self) -> None:
        if self.uses_local_secret and not self.jwks_url:
            raise RuntimeError("SUPABASE_JWT_SECRET (or SUPABASE_JWKS_URL) must be set in production")


class HttpSettings(_FromEnv):
    """The function host: which browsers may call, how large a body may be."""

    cors_origins: Origins = Field(default=["http://localhost:3000", "http://127.0.0.1:3000"], alias="CORS_ORIGINS")
    max_body_bytes: int = Field(default=256 * 1024, alias="MAX_BODY_BYTES")
    # How many proxies in front of the functions append to X-Forwarded-For (Cloud Run: 1); 0 trusts the peer.
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5, alias="TRUSTED_PROXY_HOPS")


def _refuse_placeholder(variable: str, value: str, placeholder: str, hint: str = "") -> None:
    if value == placeholder:
        raise RuntimeError(f"{variable} must be set in production{hint}")


class _Linked(_FromEnv):
    """A group whose derived values need the runtime group; Settings links them when it is built."""

    _runtime: RuntimeSettings = PrivateAttr()

    def _api_base(self, override: str | None, standin: str, placeholder_in_use: bool) -> str | None:
        """Where a provider's SDK points: the override, else the local stand-in while the
        placeholder credential is in use, else None (the provider itself)."""
        if override:
            return override.rstrip("/")
        return self._runtime.local_base(standin) if placeholder_in_use else None


class StripeSettings(_Linked):
    """Payments. Without a real key, dev and tests use the local stand-in."""

    secret_key: str = Field(default=LOCAL_STRIPE_KEY, alias="STRIPE_SECRET_KEY")
    webhook_secret: str = Field(default=LOCAL_STRIPE_WEBHOOK_SECRET, alias="STRIPE_WEBHOOK_SECRET")
    api_base: str | None = Field(default=None, alias="STRIPE_API_BASE")

    @property
    def base(self) -> str | None:
        return self._api_base(self.api_base, "stripe", self.secret_key == LOCAL_STRIPE_KEY)

    def refuse_placeholders(self) -> None:
        _refuse_placeholder("STRIPE_SECRET_KEY", self.secret_key, LOCAL_STRIPE_KEY)
        _refuse_placeholder("STRIPE_WEBHOOK_SECRET", self.webhook_secret, LOCAL_STRIPE_WEBHOOK_SECRET)


class PaypalSettings(_Linked):
    """PayPal Checkout (Orders v2) and refunds. Without real credentials, dev and tests use the local
    stand-in; PAYPAL_API_BASE=https://api-m.sandbox.paypal.com is PayPal's sandbox, unset the live API.
    PAYPAL_ENABLED=false lets production run without a PayPal account."""

    client_id: str = Field(default=LOCAL_PAYPAL_CLIENT_ID, alias="PAYPAL_CLIENT_ID")
    client_secret: str = Field(default=LOCAL_PAYPAL_CLIENT_SECRET, alias="PAYPAL_CLIENT_SECRET")
    api_base: str | None = Field(default=None, pattern=r"^https?://", alias="PAYPAL_API_BASE")
    # The id PayPal gave the webhook endpoint (developer dashboard); its signatures are verified against it.
    webhook_id: str = Field(default=LOCAL_PAYPAL_WEBHOOK_ID, pattern=r"^[A-Za-z0-9]{1,50}$", alias="PAYPAL_WEBHOOK_ID")
    enabled: bool = Field(default=True, alias="PAYPAL_ENABLED")
    # The public URL of functions/paypal-return, where PayPal sends the buyer after approving.
    return_url: str | None = Field(default=None, pattern=r"^https?://", alias="PAYPAL_RETURN_URL")

    @property
    def base(self) -> str | None:
        """Where the SDK sends requests: the override, the stand-in with the local secret, else None (live PayPal)."""
        return self._api_base(self.api_base, "paypal", self.client_secret == LOCAL_PAYPAL_CLIENT_SECRET)

    @property
    def return_base(self) -> str:
        return (self.return_url or self._runtime.local_base("functions/v1/paypal-return")).rstrip("/")

    def refuse_placeholders(self) -> None:
        if self.enabled:
            for variable, value, placeholder in (
                    ("PAYPAL_CLIENT_ID", self.client_id, LOCAL_PAYPAL_CLIENT_ID),
                    ("PAYPAL_CLIENT_SECRET", self.client_secret, LOCAL_PAYPAL_CLIENT_SECRET),
                    ("PAYPAL_WEBHOOK_ID", self.webhook_id, LOCAL_PAYPAL_WEBHOOK_ID)):
                _refuse_placeholder(variable, value, placeholder, " (or PAYPAL_ENABLED=false)")
            if not self.return_url:
                raise RuntimeError("PAYPAL_RETURN_URL (the public URL of functions/paypal-return) must be set in "
                                   "production (or PAYPAL_ENABLED=false)")


class CheckoutSettings(_FromEnv):
    hold_minutes: int = Field(default=15, ge=1, le=120, alias="CHECKOUT_HOLD_MINUTES")
    listed_return_origins: Origins = Field(default=[], alias="CHECKOUT_RETURN_ORIGINS")
    _http: HttpSettings = PrivateAttr()

    @property
    def return_origins(self) -> list[str]:
        """Origins a checkout may send the buyer back to (default: the CORS origins)."""
        return self.listed_return_origins or self._http.cors_origins


class MailSettings(_Linked):
    """Email through Resend. Without a real key, the local mailbox stand-in."""

    resend_api_key: str = Field(default=LOCAL_RESEND_KEY, alias="RESEND_API_KEY")
    resend_api_base: str | None = Field(default=None, alias="RESEND_API_BASE")
    # Signing secret of the webhook endpoint (Resend's standard-webhooks scheme, "whsec_<base64>").
    resend_webhook_secret: str = Field(default=LOCAL_RESEND_WEBHOOK_SECRET, pattern=r"^whsec_[A-Za-z0-9+/=]+$",
                                       alias="RESEND_WEBHOOK_SECRET")
    sender: str = Field(default="Bookwell <tickets@bookwell.local>", alias="MAIL_FROM")
    public_site_url: str = Field(default="http://localhost:3000", alias="PUBLIC_SITE_URL")
    # The public URL of functions/unsubscribe, put in every promotion (List-Unsubscribe and its link).
    unsubscribe_url: str | None = Field(default=None, pattern=r"^https?://", alias="UNSUBSCRIBE_URL")

    @property
    def resend_base(self) -> str | None:
        return self._api_base(self.resend_api_base, "resend", self.resend_api_key == LOCAL_RESEND_KEY)

    @property
    def unsubscribe_base(self) -> str:
        return (self.unsubscribe_url or self._runtime.local_base("functions/v1/unsubscribe")).rstrip("/")

    def refuse_placeholders(self) -> None:
        _refuse_placeholder("RESEND_API_KEY", self.resend_api_key, LOCAL_RESEND_KEY)
        _refuse_placeholder("RESEND_WEBHOOK_SECRET", self.resend_webhook_secret, LOCAL_RESEND_WEBHOOK_SECRET)


class SmsSettings(_Linked):
    """SMS through Twilio. Without real credentials, the local Twilio stand-in. SMS_ENABLED=false
    turns the channel off (queued SMS are skipped) for deployments without Twilio."""

    twilio_account_sid: str = Field(default=LOCAL_TWILIO_ACCOUNT_SID, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str = Field(default=LOCAL_TWILIO_AUTH_TOKEN, alias="TWILIO_AUTH_TOKEN")
    twilio_api_base: str | None = Field(default=None, alias="TWILIO_API_BASE")
    twilio_from: str = Field(default="+447700900000", alias="TWILIO_FROM")
    # The public URL of functions/twilio-webhook exactly as Twilio calls it (its signatures cover the URL).
    twilio_webhook_url: str | None = Field(default=None, pattern=r"^https?://", alias="TWILIO_WEBHOOK_URL")
    enabled: bool = Field(default=True, alias="SMS_ENABLED")
    default_region: str = Field(default="GB", pattern=r"^[A-Z]{2}$", alias="SMS_DEFAULT_REGION")
    # Countries we text (comma-separated ISO codes); empty: the default region only.
    allowed_countries: str = Field(default="", pattern=r"^([A-Z]{2}(,[A-Z]{2})*)?$", alias="SMS_ALLOWED_COUNTRIES")

    @property
    def allowed_regions(self) -> frozenset[str]:
        if self.allowed_countries:
            return frozenset(self.allowed_countries.split(","))
        return frozenset({self.default_region})

    @property
    def twilio_base(self) -> str | None:
        """Where the twilio SDK's requests go instead of https://api.twilio.com."""
        return self._api_base(self.twilio_api_base, "twilio", self.twilio_auth_token == LOCAL_TWILIO_AUTH_TOKEN)

    @property
    def webhook_base(self) -> str | None:
        """functions/twilio-webhook as Twilio reaches it: the configured URL, or the local stack's with the
        stand-in's credentials; None: status callbacks are not asked for and the webhook answers 503."""
        if self.twilio_webhook_url:
            return self.twilio_webhook_url.rstrip("/")
        if self.twilio_auth_token == LOCAL_TWILIO_AUTH_TOKEN:
            return self._runtime.local_base("functions/v1/twilio-webhook")
        return None

    def refuse_placeholders(self) -> None:
        if self.enabled:
            _refuse_placeholder("TWILIO_AUTH_TOKEN", self.twilio_auth_token, LOCAL_TWILIO_AUTH_TOKEN,
                                " (or SMS_ENABLED=false)")
            _refuse_placeholder("TWILIO_ACCOUNT_SID", self.twilio_account_sid, LOCAL_TWILIO_ACCOUNT_SID,
                                " (or SMS_ENABLED=false)")


class AiSettings(_FromEnv):
    """Any OpenAI-compatible chat completions endpoint. Unset: chat answers 503."""

    base_url: str | None = Field(default=None, alias="AI_BASE_URL")
    api_key: str | None = Field(default=None, alias="AI_API_KEY")
    model: str | None = Field(default=None, alias="AI_MODEL")
    max_steps: int = Field(default=6, ge=1, le=20, alias="AI_MAX_STEPS")
    max_tokens_per_turn: int = Field(default=12000, ge=100, alias="AI_MAX_TOKENS_PER_TURN")
    timeout_seconds: float = Field(default=45.0, gt=0, alias="AI_TIMEOUT_SECONDS")
    requests_per_minute: int = Field(default=20, ge=1, alias="AI_REQUESTS_PER_MINUTE")
    daily_tokens: int = Field(default=200000, ge=1, alias="AI_DAILY_TOKENS")


class StorageSettings(_Linked):
    """Job photos (functions/staff-portal). STORAGE_BACKEND: "local" (files under STORAGE_LOCAL_DIR,
    default <BOOKWELL_HOME>/storage) or "supabase" (Supabase Storage at SUPABASE_STORAGE_URL, default
    <SUPABASE_URL>/storage/v1, with the service-role key). Unset: supabase in production, local otherwise."""

    backend: str | None = Field(default=None, pattern="^(local|supabase)$", alias="STORAGE_BACKEND")
    local_dir: Path | None = Field(default=None, alias="STORAGE_LOCAL_DIR")
    url: str | None = Field(default=None, alias="SUPABASE_STORAGE_URL")
    bucket: str = Field(default="job-photos", pattern="^[a-z0-9][a-z0-9._-]{1,62}$", alias="STORAGE_BUCKET")
    photo_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024, alias="PHOTO_MAX_BYTES")
    photo_url_seconds: int = Field(default=600, ge=10, le=7 * 24 * 3600, alias="PHOTO_URL_SECONDS")
    _auth: AuthSettings = PrivateAttr()

    @property
    def kind(self) -> str:
        return self.backend or ("supabase" if self._runtime.is_production else "local")

    @property
    def local_root(self) -> Path:
        return self.local_dir or self._runtime.home / "storage"

    @property
    def base(self) -> str | None:
        if self.url:
            return self.url.rstrip("/")
        supabase_url = self._auth.supabase_url
        return f"{supabase_url.rstrip('/')}/storage/v1" if supabase_url else None


class Settings(BaseModel):
    """Every setting, one group per concern; each group reads its own variables.

    `Settings(STRIPE_SECRET_KEY="sk_…", BOOKWELL_ENV="production")` is the
    settings as if those variables were set (each goes to its group).
    """

    # A plain model, not a BaseSettings: only the groups read the environment (here a variable
    # named after a group, HTTP or STORAGE, would be parsed as that group's JSON).
    model_config = ConfigDict(extra="ignore")

    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    paypal: PaypalSettings = Field(default_factory=PaypalSettings)
    checkout: CheckoutSettings = Field(default_factory=CheckoutSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    ai: AiSettings = Field(default_factory=AiSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)

    @model_validator(mode="before")
    @classmethod
    def _variables_to_groups(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, group in cls.model_fields.items():
            names = {f.alias for f in group.annotation.model_fields.values()}
            given = {variable: data.pop(variable) for variable in names & data.keys()}
            if given and name not in data:
                data[name] = group.annotation(**given)
        return data

    @model_validator(mode="after")
    def _link_groups(self) -> Settings:
        for group in (self.stripe, self.paypal, self.mail, self.sms, self.storage):
            group._runtime = self.runtime
        self.storage._auth = self.auth
        self.checkout._http = self.http
        return self

    def check(self) -> None:
        """Refuse placeholder secrets outside development."""
        if not self.runtime.is_production:
            return
        for group in (self.auth, self.stripe, self.paypal, self.mail, self.sms):
            group.refuse_placeholders()


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
