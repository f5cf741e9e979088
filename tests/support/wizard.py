"""The AI wizard's test harness: the stack pointed at the local model stand-in, a team that manages
events with two venues, and a chat turn over HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import override_env
from tests.support import factories


@pytest.fixture(scope="module")
def ai(stack):
    """The stack with AI_* pointing at the local model stand-in."""
    with override_env(AI_BASE_URL=f"{stack.base_url}/llm/v1", AI_MODEL="bookwell-local", AI_API_KEY="local",
                      AI_TIMEOUT_SECONDS="3", AI_REQUESTS_PER_MINUTE="1000", AI_DAILY_TOKENS="10000000"):
        yield stack


@pytest.fixture
def team(db):
    organization = factories.org(db)
    manager = factories.member(db, organization, role="manager")
    hall = db.one("insert into public.venues (org_id, name, city, capacity, address) values"
                  " (%s, 'Riverside Hall', 'London', 150, '1 River St') returning *", (organization["id"],))
    small = db.one("insert into public.venues (org_id, name, city, capacity) values"
                   " (%s, 'Back Room', 'London', 40) returning *", (organization["id"],))
    return {"org": organization, "manager": manager, "hall": hall, "small": small}


def chat(ai, user, message: str, **body) -> httpx.Response:
    return httpx.post(f"{ai.functions_url}/ai-wizard", json={"message": message, **body},
                      headers=user.headers, timeout=30)
