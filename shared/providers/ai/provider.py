"""The OpenAI-compatible client, built once per process from settings."""

from __future__ import annotations

import functools

import openai

from shared.platform import errors
from shared.platform.config import Settings


def client(settings: Settings) -> openai.OpenAI:
    """The provider's client; 503 ai_not_configured when no provider is set."""
    if not (settings.ai.base_url or settings.ai.api_key) or not settings.ai.model:
        raise errors.DomainError(
            503, "ai_not_configured",
            "No AI provider is configured (set AI_BASE_URL / AI_API_KEY and AI_MODEL); "
            "the wizard's tools still work at /tools/<name>")
    return _client(settings.ai.base_url, settings.ai.api_key or "not-needed")


@functools.lru_cache(maxsize=4)
def _client(base_url: str | None, api_key: str) -> openai.OpenAI:
    # No SDK retries: a retry would double-spend tokens; the caller decides.
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
