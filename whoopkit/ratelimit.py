"""A client-side rate limiter that keeps one process under WHOOP's 100 requests a minute.

Two sources of truth are combined: our own sliding window of send times, and the server's
``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` headers (the server also counts requests of other
processes using the same app, so when it says 0 remain we wait for its reset).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

logger = logging.getLogger(__name__)

_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)")

# A server reset larger than this is not a per-minute window; ignoring it avoids a process hanging for a day.
_MAX_SERVER_WAIT = 120.0


def _first_number(value: str | None) -> float | None:
    """The leading number of a header such as ``98`` or ``100, 100;window=60``, if any."""
    if value is None:
        return None
    match = _NUMBER.match(value)
    return float(match.group(1)) if match else None


class RateLimiter:
    """Sliding-window limiter: at most ``max_requests`` acquisitions in any ``period`` seconds."""

    def __init__(
        self,
        max_requests: int = 100,
        period: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """Allow ``max_requests`` per ``period`` seconds; ``clock``/``sleep`` are injectable for tests."""
        if max_requests < 1 or period <= 0:
            raise ValueError("max_requests must be >= 1 and period > 0")
        self.max_requests = max_requests
        self.period = period
        self._clock = clock
        self._sleep = sleep
        # Send times, ascending; entries may lie in the future: slots reserved by waiting callers.
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self.waited = 0.0  # total seconds callers were told to wait, for tests and benchmarks

    def _reserve(self) -> float:
        """Book the earliest slot that keeps every window within the limit; return the wait."""
        now = self._clock()
        while self._sent and self._sent[0] <= now - self.period:
            self._sent.popleft()
        slot = max(now, self._blocked_until)
        if len(self._sent) >= self.max_requests:
            slot = max(slot, self._sent[-self.max_requests] + self.period)
        self._sent.append(slot)
        return slot - now

    async def acquire(self) -> None:
        """Wait until one more request may be sent (callers are served first come, first served)."""
        # Booking synchronously (no lock) keeps the order fair and ties nothing to one event loop.
        delay = self._reserve()
        if delay > 0:
            logger.debug("rate limiter waiting %.2f s", delay)
            self.waited += delay
            await self._sleep(delay)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take the server's ``X-RateLimit-Remaining``/``X-RateLimit-Reset`` headers into account."""
        remaining = _first_number(headers.get("x-ratelimit-remaining"))
        reset = _first_number(headers.get("x-ratelimit-reset"))
        if remaining is None or reset is None or remaining > 0:
            return
        if reset > _MAX_SERVER_WAIT:
            logger.debug("ignoring server rate-limit reset of %.0f s", reset)
            return
        self._blocked_until = max(self._blocked_until, self._clock() + reset)

    def block_for(self, seconds: float) -> None:
        """Hold every acquisition for ``seconds`` (after a 429 told us to back off)."""
        if 0 < seconds <= _MAX_SERVER_WAIT:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    @property
    def in_window(self) -> int:
        """How many acquisitions fall in the last ``period`` seconds (or are booked ahead)."""
        now = self._clock()
        return sum(1 for t in self._sent if t > now - self.period)
