"""Settings (shared/platform/config.py): one group per concern, each field read from the
environment variable the README names. No database."""

from __future__ import annotations

import re

from shared.platform.config import PROJECT_ROOT, Settings


def variables_by_field() -> dict[str, str]:
    """'STRIPE_SECRET_KEY' -> 'stripe.secret_key', for every field of every group."""
    return {field.alias: f"{group}.{name}"
            for group, info in Settings.model_fields.items()
            for name, field in info.annotation.model_fields.items()}


def readme_variables() -> set[str]:
    section = (PROJECT_ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return {name for row in re.findall(r"^\| (`[A-Z_]+`(?:, `[A-Z_]+`)*) \|", section, re.M)
            for name in re.findall(r"`([A-Z_]+)`", row)} - {"TEST_DATABASE_URL"}


def test_every_variable_in_the_readme_is_read_by_one_field():
    fields = [info.annotation.model_fields for info in Settings.model_fields.values()]
    aliases = [field.alias for group in fields for field in group.values()]
    assert len(aliases) == len(set(aliases))
    assert readme_variables() - set(variables_by_field()) == set()


def test_a_variable_given_to_settings_reaches_its_group():
    given = Settings(STRIPE_SECRET_KEY="sk_live_x", SMS_DEFAULT_REGION="US", AI_MODEL="m", BOOKWELL_ENV="production")
    assert (given.stripe.secret_key, given.sms.default_region, given.ai.model) == ("sk_live_x", "US", "m")
    assert given.runtime.is_production and given.storage.kind == "supabase"
    assert given.stripe.base is None and Settings().stripe.base.endswith("/stripe")


def test_variables_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("SMS_ALLOWED_COUNTRIES", "GB,US")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example/, https://b.example")
    read = Settings()
    assert read.sms.allowed_regions == frozenset({"GB", "US"})
    assert read.checkout.return_origins == read.http.cors_origins == ["https://a.example", "https://b.example"]
