"""Fixtures for the fake WHOOP's own tests: a fake with a fixed clock and data ending at a fixed instant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import httpx
import pytest

from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop

# 14:30 local (-05:00): the last night is scored, the current cycle is open, and the 180 days
# straddle 2025-09-01 so that records both with and without v1_id / sport_id exist.
NOW = datetime(2025, 10, 1, 19, 30, tzinfo=UTC)
REDIRECT_URI = "http://localhost:3000/callback"
SCOPES = "read:recovery read:cycles read:workout read:sleep read:profile read:body_measurement offline"


class Clock:
    """A settable clock for token expiry and rate-limit windows."""

    def __init__(self, now: float = 1_759_347_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeWhoop:
    return create_fake_whoop(now=NOW, clock=clock)


@pytest.fixture
async def client(fake: FakeWhoop) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as c:
        yield c


@pytest.fixture
def auth(fake: FakeWhoop) -> dict[str, str]:
    """Authorization header for a token holding every scope."""
    return {"Authorization": f"Bearer {fake.issue_token()['access_token']}"}


def authorize_url(**overrides: str) -> str:
    """An authorize URL encoded like WHOOP wants it (spaces as %20)."""
    params = {
        "client_id": "demo-client",
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPES,
        "state": "state-12345",
    }
    params.update(overrides)
    return "/oauth/oauth2/auth?" + urlencode(
        {k: v for k, v in params.items() if v is not None}, quote_via=quote
    )
