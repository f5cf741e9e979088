"""A webhook endpoint for the Stripe stand-in's tests: it verifies every event with
stripe.Webhook.construct_event, exactly as the product's endpoint does, and records it."""

from __future__ import annotations

import json
import threading

import stripe
from werkzeug.wrappers import Request, Response

SECRET = "whsec_test_standin_secret"
API_KEY = "sk_test_standin_key"


class Receiver:
    """A webhook endpoint: verifies the signature, records the event, answers `status`."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.rejected: list[str] = []
        self.status = 200
        self.url = ""
        self._lock = threading.Lock()

    def wsgi(self, environ, start_response):
        request = Request(environ)
        payload = request.get_data()
        try:
            event = stripe.Webhook.construct_event(
                payload, request.headers.get("Stripe-Signature"), SECRET, tolerance=300)
        except (ValueError, stripe.SignatureVerificationError) as exc:
            with self._lock:
                self.rejected.append(str(exc))
            return Response("bad signature", status=400)(environ, start_response)
        assert event.type  # construct_event built a real stripe.Event
        with self._lock:
            self.events.append(json.loads(payload))
        return Response("ok", status=self.status)(environ, start_response)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def of_type(self, type_: str) -> list[dict]:
        return [e for e in self.events if e["type"] == type_]
