"""The client's seams for hosted mode: any ``Budget`` books requests; ``on_response`` hears each answer."""

from __future__ import annotations

import pytest

from whoopkit.client import WhoopClient
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.ratelimit import RateLimiter
from whoopkit.runtime import Whoop

pytestmark = pytest.mark.anyio


async def _no_pause(_seconds: float) -> None:
    return None


async def test_on_response_hears_every_upstream_answer_including_the_retried_5xx_and_429(
    fake: FakeWhoop, whoop: Whoop
) -> None:
    heard: list[tuple[str, int]] = []
    client = WhoopClient(
        whoop.http,
        whoop.tokens,
        api_base_url=whoop.settings.whoop_api_base_url,
        limiter=RateLimiter(),
        sleep=_no_pause,
        on_response=lambda method, status: heard.append((method, status)),
    )
    fake.faults.fail_next(503)
    fake.faults.fail_next(429, retry_after=1)
    profile = await client.get_profile()
    assert profile.user_id > 0
    assert heard == [("GET", 503), ("GET", 429), ("GET", 200)]


async def test_a_client_without_a_hook_or_limiter_still_answers(fake: FakeWhoop, whoop: Whoop) -> None:
    client = WhoopClient(whoop.http, whoop.tokens, api_base_url=whoop.settings.whoop_api_base_url)
    assert (await client.get_profile()).user_id > 0
