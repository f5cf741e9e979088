"""All functions in one process, at Supabase's local URL scheme.

    http://127.0.0.1:54321/functions/v1/<name>[/sub/path]

Each function is loaded exactly as functions-framework loads it alone
(`create_app(target="main", source=functions/<name>/main.py)`) and mounted
under its prefix, so what runs here is what runs on Cloud Run. Local
stand-ins (Stripe, PayPal, the mailbox, Twilio, the LLM) are mounted beside them by later
areas through `EXTRA_MOUNTS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import functions_framework
from werkzeug.datastructures import Headers
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request, Response

from shared.devstack import wizard_demo
from shared.platform.config import PROJECT_ROOT, Settings
from shared.platform.http import secure_headers
from shared.devstack.standins import LlmStandin, PaypalStandin, ResendStandin, StripeStandin, TwilioStandin

FUNCTIONS_DIR = PROJECT_ROOT / "functions"
PREFIX = "/functions/v1"


@dataclass
class Standins:
    """The local providers one process serves; tests keep this handle to inspect them."""

    stripe: StripeStandin | None = None
    resend: ResendStandin | None = None
    llm: LlmStandin | None = None
    twilio: TwilioStandin | None = None
    paypal: PaypalStandin | None = None

    @classmethod
    def for_settings(cls, settings: Settings, *, webhook_url: str | None = None,
                     keep_in: Path | None = None) -> "Standins":
        """Stand-ins for whichever providers have no real key configured. With `keep_in` (dev mode:
        .bookwell/), the mailbox and the SMS list are kept there across restarts."""
        stripe = resend = None
        if settings.stripe.base and settings.stripe.base.startswith("http://127.0.0.1"):
            stripe = StripeStandin(
                webhook_url or settings.runtime.local_base("functions/v1/stripe-webhook"),
                settings.stripe.webhook_secret, api_key=settings.stripe.secret_key)
        if settings.mail.resend_base and settings.mail.resend_base.startswith("http://127.0.0.1"):
            resend = ResendStandin(api_key=settings.mail.resend_api_key,
                                   journal=keep_in / "mailbox.jsonl" if keep_in else None)
            resend.subscribe(settings.runtime.local_base("functions/v1/resend-webhook"),
                             settings.mail.resend_webhook_secret)
        # Always served, never the default: AI_BASE_URL=http://127.0.0.1:54321/llm/v1 opts in.
        twilio = None
        if settings.sms.twilio_base and settings.sms.twilio_base.startswith("http://127.0.0.1"):
            twilio = TwilioStandin(settings.sms.twilio_account_sid, settings.sms.twilio_auth_token,
                                   journal=keep_in / "sms.jsonl" if keep_in else None)
            if settings.sms.webhook_base:
                twilio.subscribe_inbound(f"{settings.sms.webhook_base}/inbound")
        paypal = None
        if settings.paypal.base and settings.paypal.base.startswith("http://127.0.0.1"):
            paypal = PaypalStandin(settings.runtime.local_base("functions/v1/paypal-webhook"),
                                   settings.paypal.client_id, settings.paypal.client_secret, settings.paypal.webhook_id)
        if keep_in:  # dev mode: delivery events arrive on their own, about a second after a send
            for owed in (resend, twilio, paypal):
                if owed is not None:
                    owed.webhooks.deliver_every(1.0)
        # Unscripted, the local model drafts events through the wizard's real tools (shared/devstack/wizard_demo.py).
        llm = LlmStandin(model=settings.ai.model or "bookwell-local", improvise=wizard_demo.improvise)
        return cls(stripe, resend, llm, twilio, paypal)

    def mounts(self) -> dict[str, Callable]:
        found = {"/stripe": self.stripe.wsgi if self.stripe else None,
                 "/resend": self.resend.wsgi if self.resend else None,
                 "/llm": self.llm.wsgi if self.llm else None,
                 "/twilio": self.twilio.wsgi if self.twilio else None,
                 "/paypal": self.paypal.wsgi if self.paypal else None}
        return {prefix: app for prefix, app in found.items() if app is not None}


def function_names(directory: Path = FUNCTIONS_DIR) -> list[str]:
    return sorted(p.parent.name for p in directory.glob("*/main.py"))


def load_function(name: str, directory: Path = FUNCTIONS_DIR):
    app = functions_framework.create_app(target="main", source=str(directory / name / "main.py"))

    def mounted(environ, start_response):
        # /functions/v1/<name> arrives with an empty PATH_INFO; the function sees "/".
        environ["PATH_INFO"] = environ.get("PATH_INFO") or "/"
        return app(environ, start_response)

    return mounted


@Request.application
def _not_found(request: Request) -> Response:
    body = {"error": {"code": "not_found", "message": f"No function at {request.path}", "details": None}}
    return Response(json.dumps(body), status=404, content_type="application/json")


def build_app(directory: Path = FUNCTIONS_DIR, standins: Standins | None = None):
    mounts = {f"{PREFIX}/{name}": load_function(name, directory) for name in function_names(directory)}
    if f"{PREFIX}/openapi" in mounts:  # the contract where clients look for it (a gateway rewrite in production)
        mounts[f"{PREFIX}/openapi.json"] = mounts[f"{PREFIX}/openapi"]
    if standins:
        mounts |= {prefix: with_secure_headers(app) for prefix, app in standins.mounts().items()}
    return DispatcherMiddleware(_not_found, mounts)


def with_secure_headers(app):
    """The stand-ins' answers get the functions' headers too; their pay and approve pages post
    to themselves and then send the browser on to the checkout's own return URL."""

    def wrapped(environ, start_response):
        def start(status, headers, exc_info=None):
            found = Headers(headers)
            secure_headers(found, found.get("content-type", "").split(";")[0].strip() or None, production=False,
                           form_targets="'self' http: https:")
            return start_response(status, found.to_wsgi_list(), exc_info)

        return app(environ, start)

    return wrapped
