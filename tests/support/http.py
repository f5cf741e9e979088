"""Calling the functions over real HTTP as a frontend would."""

from __future__ import annotations

import uuid

import httpx

from shared.platform import auth
from shared.platform.config import settings

ORIGIN = "http://localhost:3000"


def anon_headers() -> dict[str, str]:
    return {"authorization": f"Bearer {auth.api_keys(settings())['anon']}"}


def service_headers() -> dict[str, str]:
    return {"authorization": f"Bearer {auth.mint(settings(), role='service_role')}"}


def checkout_body(event: dict, items: list[tuple[dict, int]], **extra) -> dict:
    body = {
        "event_id": str(event["id"]),
        "items": [{"tier_id": str(t["id"]), "quantity": q} for t, q in items],
        "buyer_email": "guest@example.com",
        "buyer_name": "Gemma Guest",
        "success_url": f"{ORIGIN}/thanks?session={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{ORIGIN}/cancelled",
    }
    body.update(extra)
    return body


def buy(functions_url: str, body: dict, headers: dict | None = None, key: str | None = None) -> httpx.Response:
    headers = dict(headers or anon_headers())
    headers["idempotency-key"] = key or f"test-{uuid.uuid4()}"
    return httpx.post(f"{functions_url}/create-checkout-session", json=body, headers=headers, timeout=30)
