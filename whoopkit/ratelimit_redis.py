"""One WHOOP request budget for every process of a hosted deployment, kept in Redis.

WHOOP counts 100 requests a minute and 10,000 a day per app, so every web and worker process books its
requests through one Lua script that runs atomically in Redis, on Redis's own clock (``TIME``), so all
processes agree on "now". The script's rule, in order:

1. Entries older than ``period`` leave the window (a sorted set of every booking, scored in ms).
2. The day's count (a key per UTC day, expiring after it) is below ``max_per_day``, else refuse until
   midnight UTC.
3. No pause is set (a key a 429 sets with ``PX`` = Retry-After), else wait for its ``PTTL``.
4. Small questions may fill the whole window (``max_requests``); bulk work (:func:`~whoopkit.ratelimit.
   bulk`: backfills) only while the window holds fewer than ``max_requests - reserved`` (80 of 100), so
   a "how am I today" always finds a slot.
5. Fair share among bulk users: a user counts as an active bulk user for ``period`` after their last bulk
   request (booked or refused); each may hold at most ``ceil(bulk_limit / active bulk users)`` bulk
   bookings in the window, so two saturating backfills get 40 each and a lone backfill gets all 80.
6. Then the request is booked (``ZADD`` with a unique member, ``INCR`` of the day) and 0 returned, or
   the milliseconds until the blocking rule could let it through are returned.

The user is taken from :func:`acting_for` (a context variable, like :func:`~whoopkit.ratelimit.bulk`),
so the client's ``acquire(max_wait=...)`` call stays the same. ``redis`` is imported only when a limiter
connects, so this module imports without it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from whoopkit.errors import RateLimitedError, WhoopUnavailableError
from whoopkit.ratelimit import _MAX_SERVER_WAIT, PRIORITY_SHARE, _first_number, is_bulk

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    from redis.commands.core import AsyncScript, Script

logger = logging.getLogger(__name__)

# Every key shares one hash tag, so the script's keys (including the per-day key it derives) land in
# one slot of a Redis Cluster.
DEFAULT_PREFIX = "{whoopkit}:ratelimit"

_PEEK, _BOOK, _USAGE = 0, 1, 2
_BOOKED, _WAIT, _DAY_USED_UP = 0, 1, 2

# KEYS: 1 window (all bookings), 2 bulk bookings (member = 32-hex id ":" user), 3 active bulk users
# (user -> last bulk request, ms), 4 pause. ARGV: 1 max_requests, 2 bulk limit, 3 period ms,
# 4 max per day, 5 day-key prefix, 6 mode, 7 bulk (0/1), 8 user, 9 member id, 10 hold ms to set first.
# Returns {code, wait ms, now ms (string), in window, today, active bulk users}.
_SCRIPT = """
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec * 1000 + tonumber(t[2]) / 1000
local limit, bulk_limit, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local per_day, mode, bulk, user = tonumber(ARGV[4]), tonumber(ARGV[6]), ARGV[7] == '1', ARGV[8]
local member, hold = ARGV[9], tonumber(ARGV[10])
local since = now - period
-- the window is half open: a booking exactly one period old no longer counts
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', since)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', since)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', since)
if hold > 0 and redis.call('PTTL', KEYS[4]) < hold then
  -- a shorter Retry-After never shortens a pause already in force
  redis.call('SET', KEYS[4], '1', 'PX', hold)
end
local day = math.floor(sec / 86400)
local day_key = ARGV[5] .. day
local today = tonumber(redis.call('GET', day_key) or '0')
local total = redis.call('ZCARD', KEYS[1])
local stamp = string.format('%.3f', now)
if mode == 2 then
  return {0, 0, stamp, total, today, redis.call('ZCARD', KEYS[3])}
end
if today >= per_day then
  return {2, math.ceil((day + 1) * 86400000 - now), stamp, total, today, 0}
end
local wait = 0
local paused = redis.call('PTTL', KEYS[4])
if paused > 0 then wait = paused end
local cap = limit
if bulk then cap = bulk_limit end
if total >= cap then
  local oldest = redis.call('ZRANGE', KEYS[1], total - cap, total - cap, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + period - now)
end
local active = 0
if bulk then
  -- asking is demand: a refused backfill still claims its share, so the others make room for it
  if mode == 1 then redis.call('ZADD', KEYS[3], now, user) end
  active = redis.call('ZCARD', KEYS[3])
  if mode == 0 and not redis.call('ZSCORE', KEYS[3], user) then active = active + 1 end
  local share = math.ceil(bulk_limit / math.max(active, 1))
  local mine = {}
  local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    if string.sub(entries[i], 34) == user then mine[#mine + 1] = tonumber(entries[i + 1]) end
  end
  if #mine >= share then
    wait = math.max(wait, mine[#mine - share + 1] + period - now)
  end
end
if wait > 0 then
  return {1, math.ceil(wait), stamp, total, today, active}
end
if mode == 0 then
  return {0, 0, stamp, total, today, active}
end
redis.call('ZADD', KEYS[1], now, member)
if bulk then redis.call('ZADD', KEYS[2], now, member .. ':' .. user) end
redis.call('INCR', day_key)
redis.call('EXPIREAT', day_key, (day + 2) * 86400)
return {0, 0, stamp, total + 1, today + 1, active}
"""

_USER: contextvars.ContextVar[str] = contextvars.ContextVar("whoopkit_rate_user", default="")


@contextmanager
def acting_for(user_id: str | int) -> Iterator[None]:
    """Count the requests made inside (and in tasks started inside) against ``user_id``'s fair share."""
    token = _USER.set(str(user_id))
    try:
        yield
    finally:
        _USER.reset(token)


def current_user() -> str:
    """The user the current requests are counted for ("" when none was set)."""
    return _USER.get()


@dataclass(frozen=True)
class Verdict:
    """One answer of the script: booked, or how long to wait, with the counts it saw."""

    code: int
    wait: float  # seconds
    now: float  # Redis's clock, seconds since the epoch
    in_window: int
    today: int
    bulk_users: int

    @property
    def booked(self) -> bool:
        """Whether the request was booked (or, for a peek, could be booked now)."""
        return self.code == _BOOKED

    @property
    def daily(self) -> bool:
        """Whether the day's budget is used up."""
        return self.code == _DAY_USED_UP


def _verdict(raw: Sequence[Any]) -> Verdict:
    return Verdict(
        code=int(raw[0]),
        wait=int(raw[1]) / 1000,
        now=float(raw[2]) / 1000,
        in_window=int(raw[3]),
        today=int(raw[4]),
        bulk_users=int(raw[5]),
    )


class RedisRateLimiter:
    """At most ``max_requests`` per ``period`` and ``max_per_day`` for every process sharing one Redis.

    Drop-in for :class:`~whoopkit.ratelimit.SharedRateLimiter` (``acquire``, ``expected_wait``,
    ``usage``, ``observe``, ``block_for``). Use one instance per event loop: its asyncio connection
    pool belongs to the loop that first used it. ``expected_wait``/``usage`` are synchronous like the
    local limiter's, so they use a small blocking client with a short timeout.
    """

    def __init__(
        self,
        url: str,
        max_requests: int = 100,
        period: float = 60.0,
        *,
        max_per_day: int = 10_000,
        prefix: str = DEFAULT_PREFIX,
        socket_timeout: float = 2.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """Share the budget through the Redis at ``url`` under keys starting with ``prefix``."""
        if max_requests < 1 or period <= 0 or max_per_day < 1:
            raise ValueError("max_requests and max_per_day must be >= 1 and period > 0")
        self.url = url
        self.max_requests = max_requests
        self.period = period
        self.max_per_day = max_per_day
        self.prefix = prefix
        self._socket_timeout = socket_timeout
        self._sleep = sleep
        self._keys = [f"{prefix}:window", f"{prefix}:bulk", f"{prefix}:bulk_users", f"{prefix}:pause"]
        self._async: redis.asyncio.Redis | None = None
        self._async_script: AsyncScript | None = None
        self._sync: redis.Redis | None = None
        self._sync_script: Script | None = None
        # A 429's hold not yet written to Redis travels with this process's next script call.
        self._held_until = 0.0
        self._pauses: set[asyncio.Task[None]] = set()
        self.waited = 0.0  # total seconds callers were told to wait, for tests and benchmarks
        self.last_booking: float | None = None  # Redis time of this instance's latest booking

    @property
    def reserved(self) -> int:
        """Slots of each window that bulk work leaves to small questions."""
        return min(self.max_requests - 1, max(1, round(self.max_requests * PRIORITY_SHARE)))

    @property
    def bulk_limit(self) -> int:
        """The most bookings a window may hold for bulk work to book one more."""
        return self.max_requests - self.reserved

    # ----------------------------------------------------------------------------------- the script

    def _args(self, mode: int, bulk_work: bool, user: str) -> list[str | int | float]:
        hold = max(0.0, self._held_until - time.monotonic())
        if hold == 0:
            self._held_until = 0.0
        return [
            self.max_requests,
            self.bulk_limit,
            self.period * 1000,
            self.max_per_day,
            f"{self.prefix}:day:",
            mode,
            int(bulk_work),
            user,
            uuid.uuid4().hex,
            math.ceil(hold * 1000),
        ]

    async def _run(self, mode: int, bulk_work: bool, user: str) -> Verdict:
        """Run the script on the asyncio client.

        Raises:
            WhoopUnavailableError: Redis could not be reached or answered with an error.
        """
        import redis.asyncio
        from redis.exceptions import RedisError

        if self._async_script is None:
            self._async = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=self._socket_timeout, socket_connect_timeout=self._socket_timeout
            )
            self._async_script = self._async.register_script(_SCRIPT)
        try:
            raw = await self._async_script(keys=self._keys, args=self._args(mode, bulk_work, user))
        except (RedisError, OSError) as exc:
            raise _unreachable(exc) from None
        return _verdict(raw)

    def _run_sync(self, mode: int, bulk_work: bool, user: str) -> Verdict:
        """Run the script on the blocking client (for the synchronous readers).

        Raises:
            WhoopUnavailableError: Redis could not be reached or answered with an error.
        """
        import redis
        from redis.exceptions import RedisError

        if self._sync_script is None:
            self._sync = redis.Redis.from_url(
                self.url, socket_timeout=self._socket_timeout, socket_connect_timeout=self._socket_timeout
            )
            self._sync_script = self._sync.register_script(_SCRIPT)
        try:
            raw = self._sync_script(keys=self._keys, args=self._args(mode, bulk_work, user))
        except (RedisError, OSError) as exc:
            raise _unreachable(exc) from None
        return _verdict(raw)

    # --------------------------------------------------------------------------------- the interface

    async def try_acquire(self) -> Verdict:
        """Book one request now if the budget allows (the verdict says whether, or how long to wait).

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        verdict = await self._run(_BOOK, is_bulk(), current_user())
        if verdict.booked:
            self.last_booking = verdict.now
        return verdict

    async def acquire(self, max_wait: float | None = None) -> None:
        """Wait until one more request may be sent by any process (small questions before backfills).

        Raises:
            RateLimitedError: the wait would be longer than ``max_wait`` seconds, or the app's daily
                limit is used up; says when to retry.
            WhoopUnavailableError: Redis could not be reached.
        """
        started = time.monotonic()
        while True:
            verdict = await self.try_acquire()
            if verdict.booked:
                return
            if verdict.daily:
                raise _daily(verdict.wait, self.max_per_day)
            # Nothing is booked ahead: after the wait the script is asked again, since another
            # process may have taken the slot that freed up.
            left = None if max_wait is None else max_wait - (time.monotonic() - started)
            if left is not None and verdict.wait > left:
                raise _too_long(verdict.wait)
            logger.debug("redis rate limiter waiting %.2f s", verdict.wait)
            self.waited += verdict.wait
            await self._sleep(verdict.wait)

    def expected_wait(self) -> float:
        """How long a request asked for now would wait, counting every process (nothing is booked).

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        return self._run_sync(_PEEK, is_bulk(), current_user()).wait

    async def expected_wait_async(self) -> float:
        """:meth:`expected_wait` without blocking the event loop.

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        return (await self._run(_PEEK, is_bulk(), current_user())).wait

    def usage(self) -> dict[str, int]:
        """Requests used in the last period and today by every process, with the limits.

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        return self._usage(self._run_sync(_USAGE, False, ""))

    async def usage_async(self) -> dict[str, int]:
        """:meth:`usage` without blocking the event loop.

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        return self._usage(await self._run(_USAGE, False, ""))

    def _usage(self, verdict: Verdict) -> dict[str, int]:
        return {
            "last_minute": verdict.in_window,
            "per_minute": self.max_requests,
            "today": verdict.today,
            "per_day": self.max_per_day,
            "bulk_users": verdict.bulk_users,
        }

    async def pause(self, seconds: float) -> None:
        """Hold every process's requests for ``seconds`` (a 429's Retry-After); never shortens a hold.

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        if not 0 < seconds <= _MAX_SERVER_WAIT:
            return
        self._held_until = max(self._held_until, time.monotonic() + seconds)
        await self._run(_USAGE, False, "")

    def block_for(self, seconds: float) -> None:
        """Hold every process's requests for ``seconds`` (the client's synchronous 429 hook)."""
        if not 0 < seconds <= _MAX_SERVER_WAIT:
            return
        # Kept locally first, so this process's next script call carries the hold even if the task
        # below has not run (or failed) by then.
        self._held_until = max(self._held_until, time.monotonic() + seconds)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._send_hold())
        self._pauses.add(task)
        task.add_done_callback(self._pauses.discard)

    async def _send_hold(self) -> None:
        try:
            await self._run(_USAGE, False, "")
        except WhoopUnavailableError as exc:
            logger.info("could not share a 429's pause through Redis: %s", exc)

    async def drain(self) -> None:
        """Wait until every hold from :meth:`block_for` has reached Redis."""
        while self._pauses:
            await asyncio.gather(*self._pauses)

    def observe(self, headers: Mapping[str, str]) -> None:
        """WHOOP saying no requests remain (reset in N s) holds back every process of the app."""
        remaining = _first_number(headers.get("x-ratelimit-remaining"))
        reset = _first_number(headers.get("x-ratelimit-reset"))
        if remaining is None or reset is None or remaining > 0:
            return
        self.block_for(reset)

    async def aclose(self) -> None:
        """Close both connection pools."""
        await self.drain()
        if self._async is not None:
            await self._async.aclose()
            self._async, self._async_script = None, None
        if self._sync is not None:
            self._sync.close()
            self._sync, self._sync_script = None, None


def _unreachable(exc: BaseException) -> WhoopUnavailableError:
    logger.info("the shared rate budget in Redis is unreachable: %s", type(exc).__name__)
    return WhoopUnavailableError(
        f"The shared WHOOP request budget (Redis) could not be reached ({type(exc).__name__}), "
        "so no request could be sent."
    )


def _too_long(wait: float) -> RateLimitedError:
    return RateLimitedError(
        wait,
        f"WHOOP's request budget for this app is used up for the next {wait:.0f} s: "
        f"retry after {max(1, round(wait))} s.",
    )


def _daily(wait: float, per_day: int) -> RateLimitedError:
    return RateLimitedError(
        wait,
        f"WHOOP's daily limit ({per_day} requests per app) is used up: retry after {wait / 3600:.1f} h.",
        daily=True,
    )


if TYPE_CHECKING:
    from whoopkit.ratelimit import Budget

    def _is_a_budget(limiter: RedisRateLimiter) -> Budget:
        # mypy checks here that the hosted limiter stays a drop-in for the client's Budget.
        return limiter
