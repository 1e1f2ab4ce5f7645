"""The rate budget shared by every whoopkit process through one file (``SharedRateLimiter``)."""

from __future__ import annotations

import bisect
import json
from pathlib import Path

import pytest

from tests.helpers.clock import FakeClock
from whoopkit.errors import RateLimitedError
from whoopkit.ratelimit import SharedRateLimiter

pytestmark = pytest.mark.anyio

START = 1_795_000_000.0  # a fixed wall-clock second, well inside one UTC day


def most_in_any_window(sends: list[float], period: float) -> int:
    ordered = sorted(sends)
    # A send at t and one at t + period are not in the same window (the window is half open).
    return max(i + 1 - bisect.bisect_right(ordered, t - period) for i, t in enumerate(ordered))


async def test_two_limiters_on_one_file_never_exceed_the_per_minute_budget_together(tmp_path: Path) -> None:
    clock = FakeClock(START)
    path = tmp_path / "ratelimit.json"
    web = SharedRateLimiter(path, clock=clock, sleep=clock.sleep)
    mcp = SharedRateLimiter(path, clock=clock, sleep=clock.sleep)
    sends: list[float] = []
    for i in range(330):
        await (web if i % 3 else mcp).acquire()
        sends.append(clock.now)
        clock.now += 0.05
    assert most_in_any_window(sends, 60.0) <= 100
    # Pacing, not starving: 330 requests fit in a little over three minutes.
    assert sends[-1] - sends[0] < 3 * 60 + 5
    assert web.usage()["today"] == mcp.usage()["today"] == 330


async def test_a_429_seen_by_one_process_holds_the_other_back(tmp_path: Path) -> None:
    clock = FakeClock(START)
    path = tmp_path / "ratelimit.json"
    first = SharedRateLimiter(path, clock=clock, sleep=clock.sleep)
    second = SharedRateLimiter(path, clock=clock, sleep=clock.sleep)
    first.block_for(30.0)
    await second.acquire()
    assert clock.now - START == pytest.approx(30.0)


async def test_the_daily_limit_is_shared_and_refuses_with_the_wait_until_the_next_utc_day(
    tmp_path: Path,
) -> None:
    clock = FakeClock(START)
    path = tmp_path / "ratelimit.json"
    first = SharedRateLimiter(path, max_per_day=5, clock=clock, sleep=clock.sleep)
    second = SharedRateLimiter(path, max_per_day=5, clock=clock, sleep=clock.sleep)
    for limiter in (first, second, first, second, first):
        await limiter.acquire()
    with pytest.raises(RateLimitedError) as refused:
        await second.acquire()
    assert 0 < refused.value.retry_after <= 86_400
    assert "daily limit" in str(refused.value)
    clock.now += refused.value.retry_after + 1
    await second.acquire()
    assert second.usage()["today"] == 1


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2, 3]", '"text"', "null"])
async def test_an_unreadable_budget_file_starts_the_count_afresh(tmp_path: Path, content: str) -> None:
    clock = FakeClock(START)
    path = tmp_path / "ratelimit.json"
    path.write_text(content, encoding="utf-8")
    limiter = SharedRateLimiter(path, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    assert json.loads(path.read_text(encoding="utf-8"))["day_count"] == 1


@pytest.mark.parametrize(
    "content",
    [
        '{"sent": null}',
        '{"sent": ["soon"]}',
        '{"blocked_until": null}',
        '{"day": "2026-11-20", "day_count": "many"}',
    ],
)
async def test_a_budget_file_with_damaged_fields_starts_the_count_afresh(
    tmp_path: Path, content: str
) -> None:
    clock = FakeClock(START)
    path = tmp_path / "ratelimit.json"
    path.write_text(content, encoding="utf-8")
    limiter = SharedRateLimiter(path, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    assert limiter.usage()["last_minute"] == 1


async def test_the_servers_no_requests_remain_header_holds_every_process_back(tmp_path: Path) -> None:
    clock = FakeClock(START)
    path = tmp_path / "ratelimit.json"
    web = SharedRateLimiter(path, clock=clock, sleep=clock.sleep)
    mcp = SharedRateLimiter(path, clock=clock, sleep=clock.sleep)
    await web.acquire()
    web.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"})
    await mcp.acquire()
    assert clock.now - START == pytest.approx(30.0)
