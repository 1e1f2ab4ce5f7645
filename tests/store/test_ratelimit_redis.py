"""The WHOOP budget shared through Redis (``RedisRateLimiter``), on a real throwaway Redis.

Time is driven by booking until refused and by the waits the script returns; the sliding-window case
uses a short window so processes run for about a second.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from whoopkit.errors import RateLimitedError
from whoopkit.ratelimit import bulk
from whoopkit.ratelimit_redis import DEFAULT_PREFIX, RedisRateLimiter, acting_for

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
WINDOW = f"{DEFAULT_PREFIX}:window"


@pytest.fixture
async def make(redis_url: str) -> AsyncIterator[Callable[..., RedisRateLimiter]]:
    """Build limiters on the test's Redis, closed after the test."""
    made: list[RedisRateLimiter] = []

    def build(**kwargs: object) -> RedisRateLimiter:
        limiter = RedisRateLimiter(redis_url, **kwargs)  # type: ignore[arg-type]
        made.append(limiter)
        return limiter

    yield build
    for limiter in made:
        await limiter.aclose()


def window_size(redis_url: str) -> int:
    import redis

    with redis.Redis.from_url(redis_url) as client:
        return int(client.zcard(WINDOW))


async def book_until_refused(limiter: RedisRateLimiter, user: str, *, bulk_work: bool) -> int:
    booked = 0
    with acting_for(user):
        while True:
            try:
                if bulk_work:
                    with bulk():
                        await limiter.acquire(max_wait=0)
                else:
                    await limiter.acquire(max_wait=0)
            except RateLimitedError:
                return booked
            booked += 1


def most_in_any_window(sends: list[float], period: float) -> int:
    ordered = sorted(sends)
    return max(i + 1 - bisect.bisect_right(ordered, t - period) for i, t in enumerate(ordered))


async def test_the_minute_limit_holds_across_several_limiter_instances(
    make: Callable[..., RedisRateLimiter], redis_url: str
) -> None:
    limiters = [make() for _ in range(4)]
    booked, refused = 0, 0
    for i in range(130):
        try:
            await limiters[i % 4].acquire(max_wait=0)
            booked += 1
        except RateLimitedError as exc:
            refused += 1
            # The oldest booking leaves the window a minute after it was made.
            assert 55 < exc.retry_after <= 60
    assert (booked, refused) == (100, 30)
    assert window_size(redis_url) == 100
    assert 55 < limiters[0].expected_wait() <= 60
    assert limiters[1].usage()["last_minute"] == limiters[2].usage()["today"] == 100


_WORKER = """
import asyncio, json, sys, time
from whoopkit.errors import RateLimitedError
from whoopkit.ratelimit_redis import RedisRateLimiter

async def main(url, limit, period, seconds, patient):
    limiter = RedisRateLimiter(url, limit, period)
    await limiter.usage_async()  # connected before the race
    print("ready", flush=True)
    sys.stdin.readline()  # the go signal: all processes start together
    end = time.monotonic() + seconds
    booked = []
    while time.monotonic() < end:
        try:
            await limiter.acquire(max_wait=None if patient else 0)
            booked.append(limiter.last_booking)
        except RateLimitedError:
            if not patient:
                break
    await limiter.aclose()
    print(json.dumps(booked))

url, limit, period, seconds, patient = sys.argv[1:]
asyncio.run(main(url, int(limit), float(period), float(seconds), patient == "1"))
"""


def run_workers(redis_url: str, limit: int, period: float, seconds: float, *, patient: bool) -> list[float]:
    """Three OS processes booking as fast as they can; the Redis times of all their bookings."""
    argv = [redis_url, str(limit), str(period), str(seconds), "1" if patient else "0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            text=True,
        )
        for _ in range(3)
    ]
    sends: list[float] = []
    try:
        for proc in procs:  # imports can be slow on a busy machine: wait until each is ready
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0
            mine = json.loads(out)
            assert mine, "every process got some of the budget"
            sends += mine
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return sends


def test_three_processes_racing_for_one_minute_never_book_more_than_the_limit(redis_url: str) -> None:
    sends = run_workers(redis_url, 100, 60.0, 2.0, patient=False)
    assert len(sends) == 100
    assert window_size(redis_url) == 100


def test_three_processes_over_several_short_windows_never_exceed_the_limit_in_any_window(
    redis_url: str,
) -> None:
    sends = run_workers(redis_url, 10, 0.25, 1.0, patient=True)
    assert most_in_any_window(sends, 0.25) <= 10
    # Pacing, not starving: four windows hold 40; at least 30 went through (room for a busy CI).
    assert len(sends) >= 30


async def test_the_day_limit_is_shared_and_refuses_until_the_next_utc_day(
    make: Callable[..., RedisRateLimiter], redis_url: str
) -> None:
    first, second = make(max_per_day=5), make(max_per_day=5)
    for limiter in (first, second, first, second, first):
        await limiter.acquire(max_wait=0)
    with pytest.raises(RateLimitedError) as refused:
        await second.acquire()  # no max_wait: the day's end is never waited for
    assert refused.value.daily
    assert 0 < refused.value.retry_after <= 86_400
    assert "daily limit" in str(refused.value)
    assert second.usage()["today"] == 5
    import redis

    with redis.Redis.from_url(redis_url) as client:
        (day_key,) = client.keys(f"{DEFAULT_PREFIX}:day:*")
        assert 86_400 < client.ttl(day_key) <= 2 * 86_400  # cleaned up after the day is over


async def test_a_429_seen_by_one_instance_pauses_every_instance_for_retry_after(
    make: Callable[..., RedisRateLimiter],
) -> None:
    web, worker = make(), make()
    web.block_for(30.0)
    await web.drain()
    web.block_for(5.0)  # a shorter Retry-After does not shorten the pause
    await web.drain()
    for limiter, bulk_work in ((worker, False), (worker, True), (web, False)):
        with pytest.raises(RateLimitedError) as refused:
            if bulk_work:
                with bulk():
                    await limiter.acquire(max_wait=1.0)
            else:
                await limiter.acquire(max_wait=1.0)
        assert 29 < refused.value.retry_after <= 30
    assert 29 < worker.expected_wait() <= 30
    assert worker.usage()["last_minute"] == 0


async def test_the_no_requests_remain_header_pauses_others_and_the_pause_ends(
    make: Callable[..., RedisRateLimiter],
) -> None:
    web, worker = make(), make()
    web.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0.2"})
    await web.drain()
    started = time.monotonic()
    await worker.acquire(max_wait=2.0)
    assert 0.15 < time.monotonic() - started < 2.0
    assert 0 < worker.waited <= 0.2


async def test_a_backfill_cannot_take_the_reserve_of_small_questions(
    make: Callable[..., RedisRateLimiter],
) -> None:
    limiter = make()
    assert await book_until_refused(limiter, "backfiller", bulk_work=True) == 80
    with acting_for("backfiller"), bulk():
        assert 55 < limiter.expected_wait() <= 60
    # The other 20 slots stay for "how am I today", even from the backfilling user.
    assert await book_until_refused(limiter, "someone", bulk_work=False) == 20
    assert limiter.usage()["last_minute"] == 100


async def test_two_backfills_split_the_bulk_share_even_when_one_asks_three_times_as_often(
    make: Callable[..., RedisRateLimiter],
) -> None:
    eager, steady = make(), make()
    counts = {"eager": 0, "steady": 0}
    refused = {"eager": False, "steady": False}
    turn = 0
    while not all(refused.values()):
        user, limiter = ("steady", steady) if turn % 4 == 3 else ("eager", eager)
        turn += 1
        with acting_for(user), bulk():
            try:
                await limiter.acquire(max_wait=0)
                counts[user] += 1
                refused[user] = False
            except RateLimitedError:
                refused[user] = True
    total = sum(counts.values())
    assert total == 80
    # Without the fair share the eager one would take 60 of the 80.
    assert max(counts.values()) <= 0.6 * total
    assert counts == {"eager": 40, "steady": 40}
    assert eager.usage()["bulk_users"] == 2


async def test_a_lone_backfill_uses_the_whole_bulk_share(make: Callable[..., RedisRateLimiter]) -> None:
    limiter = make()
    assert await book_until_refused(limiter, "alone", bulk_work=True) == 80
    assert limiter.usage()["bulk_users"] == 1


async def test_a_small_question_gets_through_while_two_backfills_saturate(
    make: Callable[..., RedisRateLimiter],
) -> None:
    first, second, web = make(), make(), make()
    booked = {"a": 0, "b": 0}
    for _ in range(60):  # more than either may book: both end up refused
        for user, limiter in (("a", first), ("b", second)):
            with acting_for(user), bulk(), contextlib.suppress(RateLimitedError):
                await limiter.acquire(max_wait=0)
                booked[user] += 1
    assert booked == {"a": 40, "b": 40}
    with acting_for("c"):
        assert web.expected_wait() == 0
        await web.acquire(max_wait=0)  # "how am I today" books at once
    assert web.usage()["last_minute"] == 81


async def test_an_unreachable_redis_is_reported_as_whoop_unavailable() -> None:
    from tests.helpers.servers import free_port
    from whoopkit.errors import WhoopUnavailableError

    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5)
    with pytest.raises(WhoopUnavailableError, match="Redis"):
        await limiter.acquire(max_wait=0)
    await limiter.aclose()
