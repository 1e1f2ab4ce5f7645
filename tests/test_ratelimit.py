"""RateLimiter: a sliding window under WHOOP's 100 requests a minute, plus the server's own headers."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.clock import FakeClock
from whoopkit.ratelimit import RateLimiter

pytestmark = pytest.mark.anyio


def _limiter(clock: FakeClock, max_requests: int = 100, period: float = 60.0) -> RateLimiter:
    return RateLimiter(max_requests, period, clock=clock, sleep=clock.sleep)


async def test_a_hundred_requests_a_minute_pass_without_waiting() -> None:
    clock = FakeClock(start=500.0)
    limiter = _limiter(clock)
    for _ in range(100):
        await limiter.acquire()
    assert clock.sleeps == []
    assert limiter.in_window == 100


async def test_the_hundred_and_first_request_waits_until_the_oldest_leaves_the_window() -> None:
    clock = FakeClock(start=500.0)
    limiter = _limiter(clock)
    for i in range(100):
        clock.now = 500.0 + i * 0.1
        await limiter.acquire()
    await limiter.acquire()
    assert clock.sleeps == [pytest.approx(60.0 - 9.9)]
    assert clock.now == pytest.approx(560.0)


async def test_no_sixty_second_span_ever_holds_more_than_the_limit() -> None:
    clock = FakeClock(start=500.0)
    limiter = _limiter(clock, max_requests=5, period=10.0)
    sent: list[float] = []
    for i in range(23):
        clock.now += 0.7 if i % 3 else 0.0
        await limiter.acquire()
        sent.append(clock.now)
    for t in sent:
        assert sum(1 for s in sent if t <= s < t + 10.0) <= 5


async def test_concurrent_waiters_are_booked_in_order_into_successive_windows() -> None:
    clock = FakeClock(start=500.0)
    delays: list[float] = []

    async def record_only(seconds: float) -> None:
        # Concurrent sleepers overlap in real time, so this clock does not advance while they wait.
        delays.append(seconds)
        await asyncio.sleep(0)

    limiter = RateLimiter(2, 1.0, clock=clock, sleep=record_only)
    order: list[int] = []

    async def worker(n: int) -> None:
        await limiter.acquire()
        order.append(n)

    await asyncio.gather(*(worker(n) for n in range(6)))
    assert order == list(range(6))
    assert delays == [1.0, 1.0, 2.0, 2.0]
    assert limiter.in_window == 6  # two sent, four booked ahead


async def test_a_server_saying_zero_remaining_holds_requests_until_its_reset() -> None:
    clock = FakeClock(start=500.0)
    limiter = _limiter(clock)
    await limiter.acquire()
    limiter.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "7"})
    await limiter.acquire()
    assert clock.sleeps == [7.0]


async def test_server_headers_with_requests_left_or_absurd_resets_do_not_block() -> None:
    clock = FakeClock(start=500.0)
    limiter = _limiter(clock)
    limiter.observe({"x-ratelimit-remaining": "12", "x-ratelimit-reset": "30"})
    limiter.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "86400"})  # the daily window
    limiter.observe({"x-ratelimit-remaining": "garbage"})
    limiter.observe({})
    await limiter.acquire()
    assert clock.sleeps == []


async def test_list_style_rate_limit_headers_are_read_by_their_first_number() -> None:
    clock = FakeClock(start=500.0)
    limiter = _limiter(clock)
    limiter.observe({"x-ratelimit-remaining": "0, 9000;window=86400", "x-ratelimit-reset": "3.5"})
    await limiter.acquire()
    assert clock.sleeps == [3.5]


async def test_block_for_holds_the_next_acquisition() -> None:
    clock = FakeClock(start=500.0)
    limiter = _limiter(clock)
    limiter.block_for(4.0)
    await limiter.acquire()
    assert clock.sleeps == [4.0]
    assert limiter.waited == 4.0


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_requests"):
        RateLimiter(0, 60.0)
    with pytest.raises(ValueError, match="period"):
        RateLimiter(10, 0)
