"""Waiting for WHOOP's rate budget is bounded, and small questions go before long backfills (issue 9.2)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.conftest import make_settings
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.mcp_server import create_server
from whoopkit.service import WhoopService, build_service
from whoopkit.tokens import Token

pytestmark = pytest.mark.anyio


def _text(result: object) -> str:
    return "\n".join(b.text for b in result.content if b.type == "text")  # type: ignore[attr-defined]


async def test_after_a_429_with_a_long_retry_after_the_next_tool_says_when_to_retry_at_once(
    service: WhoopService, fake: FakeWhoop
) -> None:
    fake.faults.fail_next(429, retry_after=110)
    async with Client(create_server(service.settings, service)) as client:
        first = await client.call_tool("get_user_profile", {})
        assert first.is_error and "110" in _text(first)
        started = time.perf_counter()
        with anyio.fail_after(5):
            second = await client.call_tool("get_recovery_score", {})
        took = time.perf_counter() - started
    assert second.is_error
    assert "retry" in _text(second).lower()
    assert took < 2.0


async def test_a_today_question_is_served_ahead_of_three_year_long_history_calls(
    tmp_path: Path, clean_env: None, fake: FakeWhoop, logged_in: Token, fake_now: datetime
) -> None:
    settings = make_settings(tmp_path, WHOOP_REQUEST_DEADLINE=8)
    svc = build_service(settings, demo=False, fake=fake, clock=lambda: fake_now)
    limiter = svc.whoop.client.limiter
    assert limiter is not None
    limiter.max_requests = 20  # a small budget, so three year-long calls exceed it at once
    fake.faults.latency = 0.05
    await svc.user_id()
    today = fake_now.date()
    try:
        async with Client(create_server(settings, svc)) as client, anyio.create_task_group() as tg:
            for years in range(3):
                end = today - timedelta(days=365 * years)
                start = end - timedelta(days=364)
                args = {
                    "kind": "days",
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "max_records": 365,
                }
                tg.start_soon(client.call_tool, "get_history", args)
            # The shared budget is a file other processes write too, so it has no event to wait on: poll,
            # bounded by fail_after.
            with anyio.fail_after(5):
                while limiter.in_window < limiter.max_requests - limiter.reserved:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            started = time.perf_counter()
            with anyio.fail_after(6):
                small = await client.call_tool("get_recovery_score", {})
            took = time.perf_counter() - started
    finally:
        await svc.aclose()
    assert not small.is_error, _text(small)
    assert small.structured_content is not None and not small.structured_content["stale"]
    assert took < 3.0
