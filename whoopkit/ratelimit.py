"""A client-side rate limiter that keeps one process under WHOOP's 100 requests a minute.

Two sources of truth are combined: our own sliding window of send times, and the server's
``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` headers (the server also counts requests of other
processes using the same app, so when it says 0 remain we wait for its reset).

Small questions come before long backfills: work marked :func:`bulk` (a long range, a full sync) may
book only ``max_requests - reserved`` of each window, so a "how am I today" request always finds a slot
while a year is being fetched. A caller can cap its wait (``acquire(max_wait=...)``): rather than
queue for longer, it is told at once when to retry.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import filelock

from whoopkit.errors import RateLimitedError, WhoopUnavailableError

logger = logging.getLogger(__name__)

_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)")

# A server reset larger than this is not a per-minute window; ignoring it avoids a process hanging for a day.
_MAX_SERVER_WAIT = 120.0
# Share of every window that bulk work leaves to small questions.
PRIORITY_SHARE = 0.2
# Longest wait for the shared budget file's lock when the caller sets no ``max_wait`` (or is bulk work).
_LOCK_TIMEOUT = 10.0
# Even a caller that may not queue for the budget waits this long for a lock held for a moment.
_LOCK_GRACE = 0.5
# Share of a caller's ``max_wait`` that may go on waiting for that lock.
_LOCK_SHARE = 0.8

_BULK: contextvars.ContextVar[bool] = contextvars.ContextVar("whoopkit_bulk_requests", default=False)


@contextmanager
def bulk() -> Iterator[None]:
    """Mark the requests made inside (and in tasks started inside) as a long backfill: served last."""
    token = _BULK.set(True)
    try:
        yield
    finally:
        _BULK.reset(token)


def is_bulk() -> bool:
    """Whether the current requests belong to a long backfill (see :func:`bulk`)."""
    return _BULK.get()


def _slot(sent: list[float], now: float, blocked: float, limit: int, period: float) -> float:
    """The earliest time from ``now`` (and ``blocked``) that keeps ``limit`` per window; ``sent`` sorted."""
    slot = max(now, blocked)
    recent = [t for t in sent if t > now - period]
    if len(recent) >= limit:
        slot = max(slot, recent[-limit] + period)
    return slot


def _first_number(value: str | None) -> float | None:
    """The leading number of a header such as ``98`` or ``100, 100;window=60``, if any."""
    if value is None:
        return None
    match = _NUMBER.match(value)
    return float(match.group(1)) if match else None


class Budget(Protocol):
    """What :class:`~whoopkit.client.WhoopClient` books its requests with, in one process or in many.

    :class:`RateLimiter` (one process), :class:`SharedRateLimiter` (every process of one machine, through a
    file) and :class:`~whoopkit.ratelimit_redis.RedisRateLimiter` (every process of a hosted deployment)
    implement it; nothing above the client knows which one runs.
    """

    @property
    def reserved(self) -> int:
        """Slots of each window that bulk work leaves to small questions."""
        ...

    async def acquire(self, max_wait: float | None = None) -> None:
        """Wait until one more request may be sent.

        Raises:
            RateLimitedError: the wait would be longer than ``max_wait`` seconds.
        """
        ...

    def expected_wait(self) -> float:
        """How long a request asked for now would wait (nothing is booked)."""
        ...

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from WHOOP's rate-limit headers on a response."""
        ...

    def block_for(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (WHOOP said 429)."""
        ...

    def usage(self) -> dict[str, int]:
        """Requests booked in the current window and today."""
        ...


class RateLimiter:
    """Sliding-window limiter: at most ``max_requests`` acquisitions in any ``period`` seconds.

    Bulk work (:func:`bulk`) gets at most ``max_requests - reserved`` of them.
    """

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
        self._sent: list[float] = []
        self._blocked_until = 0.0
        self.waited = 0.0  # total seconds callers were told to wait, for tests and benchmarks

    @property
    def reserved(self) -> int:
        """Slots of each window that bulk work leaves to small questions."""
        return min(self.max_requests - 1, max(1, round(self.max_requests * PRIORITY_SHARE)))

    def _limit(self, bulk_work: bool) -> int:
        return self.max_requests - self.reserved if bulk_work else self.max_requests

    def _reserve(self, max_wait: float | None = None) -> float:
        """Book the earliest slot that keeps every window within the limit; return the wait.

        Raises:
            RateLimitedError: the wait would exceed ``max_wait`` (nothing is booked).
        """
        now = self._clock()
        self._sent = [t for t in self._sent if t > now - self.period]
        slot = _slot(self._sent, now, self._blocked_until, self._limit(is_bulk()), self.period)
        _check_wait(slot - now, max_wait)
        bisect.insort(self._sent, slot)
        return slot - now

    def expected_wait(self) -> float:
        """How long a request asked for now would wait for its slot (nothing is booked)."""
        now = self._clock()
        return _slot(self._sent, now, self._blocked_until, self._limit(is_bulk()), self.period) - now

    async def acquire(self, max_wait: float | None = None) -> None:
        """Wait until one more request may be sent (first come, first served; bulk work after the rest).

        Raises:
            RateLimitedError: the wait would be longer than ``max_wait`` seconds; says when to retry.
        """
        # Booking synchronously (no lock) keeps the order fair and ties nothing to one event loop.
        delay = self._reserve(max_wait)
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

    def usage(self) -> dict[str, int]:
        """Requests used in the last minute, with the limit."""
        return {"last_minute": self.in_window, "per_minute": self.max_requests}


def _check_wait(wait: float, max_wait: float | None) -> None:
    if max_wait is not None and wait > max_wait:
        raise RateLimitedError(
            wait,
            f"WHOOP's request budget for this app is used up for the next {wait:.0f} s: "
            f"retry after {max(1, round(wait))} s.",
        )


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class SharedRateLimiter(RateLimiter):
    """The same limits, counted in a file that every whoopkit process of one WHOOP app shares.

    WHOOP counts 100 requests a minute and 10,000 a day per app, not per process, so the web app, the
    MCP server and the CLI book their slots in one JSON file under an inter-process lock. Times are
    wall-clock seconds (monotonic clocks differ between processes).
    """

    def __init__(
        self,
        path: Path,
        max_requests: int = 100,
        period: float = 60.0,
        *,
        max_per_day: int = 10_000,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """Share ``max_requests`` per ``period`` and ``max_per_day`` through the file at ``path``."""
        super().__init__(max_requests, period, clock=clock, sleep=sleep)
        self.path = path
        self.max_per_day = max_per_day
        self._lock = filelock.FileLock(str(path) + ".lock", thread_local=False)
        self._threads = threading.Lock()

    def _read(self) -> dict[str, Any]:
        """The shared state, with every field checked: a damaged file counts afresh, never crashes."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # Missing or damaged: start counting afresh (WHOOP's own 429 still protects the budget).
            return {}
        if not isinstance(data, dict):
            return {}
        sent = data.get("sent")
        clean: dict[str, Any] = {
            "sent": [float(t) for t in sent if _finite(t)] if isinstance(sent, list) else [],
            "blocked_until": float(data["blocked_until"]) if _finite(data.get("blocked_until")) else 0.0,
        }
        count = data.get("day_count")
        if (
            isinstance(data.get("day"), str)
            and isinstance(count, int)
            and not isinstance(count, bool)
            and count >= 0
        ):
            clean["day"], clean["day_count"] = data["day"], count
        return clean

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)

    @staticmethod
    def _day(now: float) -> str:
        return datetime.fromtimestamp(now, UTC).date().isoformat()

    async def acquire(self, max_wait: float | None = None) -> None:
        """Wait until one more request may be sent by any process of the app (bulk work after the rest).

        The file lock is waited for in a worker thread, never on the event loop, and for at most
        ``_LOCK_SHARE`` of ``max_wait`` (bulk work and callers without ``max_wait``: ``_LOCK_TIMEOUT``).

        Raises:
            RateLimitedError: the wait would be longer than ``max_wait`` seconds, or the app's daily
                limit is used up; says when to retry.
            WhoopUnavailableError: another process held the shared budget's lock all that time.
        """
        bulk_work = is_bulk()
        if max_wait is None or bulk_work:
            lock_wait = _LOCK_TIMEOUT
        else:
            # A lock had only as the caller's time runs out leaves none for the request itself: give up
            # a little earlier, so the caller hears why rather than that its deadline passed.
            lock_wait = min(_LOCK_TIMEOUT, max(max_wait * _LOCK_SHARE, _LOCK_GRACE))
        abandoned = threading.Event()
        try:
            delay = await asyncio.to_thread(self._book, max_wait, lock_wait, bulk_work, abandoned)
        except asyncio.CancelledError:
            # The caller's deadline passed: the thread gives up on its own, and books nothing once it
            # gets the lock, so a request nobody waits for does not spend the budget.
            abandoned.set()
            raise
        if delay > 0:
            logger.debug("rate limiter waiting %.2f s", delay)
            self.waited += delay
            await self._sleep(delay)

    def _reserve(self, max_wait: float | None = None) -> float:
        """Book a slot from the calling thread, blocking on the lock: for callers outside an event loop.

        Raises:
            RateLimitedError: as :meth:`acquire`.
            WhoopUnavailableError: as :meth:`acquire`.
        """
        return self._book(max_wait, _LOCK_TIMEOUT, is_bulk(), threading.Event())

    def _book(
        self, max_wait: float | None, lock_wait: float, bulk_work: bool, abandoned: threading.Event
    ) -> float:
        """Book the earliest slot under both locks (runs in a worker thread); return the wait.

        Raises:
            RateLimitedError: the slot is further off than ``max_wait`` less the time spent on the lock.
            WhoopUnavailableError: the locks could not be had within ``lock_wait`` seconds.
        """
        started = time.monotonic()
        # filelock's own count is shared by every thread (thread_local=False): this lock serialises them.
        if not self._threads.acquire(timeout=lock_wait):
            raise self._busy(lock_wait)
        try:
            try:
                self._lock.acquire(timeout=max(0.0, lock_wait - (time.monotonic() - started)))
            except filelock.Timeout:
                raise self._busy(lock_wait) from None
            try:
                if abandoned.is_set():
                    return 0.0
                # Time spent on the lock counts against the caller's wait, but a free slot is always
                # taken: "max_wait=0" means "do not queue for the budget", not "book nothing".
                left = None if max_wait is None else max(0.0, max_wait - (time.monotonic() - started))
                return self._book_locked(left, bulk_work)
            finally:
                self._lock.release()
        finally:
            self._threads.release()

    def _busy(self, waited: float) -> WhoopUnavailableError:
        logger.info("the shared rate budget's lock %s stayed busy for %.1f s", self._lock.lock_file, waited)
        name = Path(self._lock.lock_file).name
        return WhoopUnavailableError(
            f"Another whoopkit process has held the shared WHOOP request budget ({name}) for over "
            f"{waited:.1f} s, so no request could be sent."
        )

    def _window(self, data: Mapping[str, Any], now: float) -> tuple[list[float], float]:
        """Every process's bookings still in the window (sorted), and the hold on all of them."""
        sent = sorted(t for t in data.get("sent", []) if t > now - self.period)
        return sent, max(data.get("blocked_until", 0.0), self._blocked_until)

    def _book_locked(self, max_wait: float | None, bulk_work: bool) -> float:
        now = self._clock()
        data = self._read()
        sent, blocked = self._window(data, now)
        day, count = self._day(now), int(data.get("day_count", 0))
        if data.get("day") != day:
            count = 0
        if count >= self.max_per_day:
            midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            retry = (midnight.timestamp() + 86_400) - now
            raise RateLimitedError(
                retry,
                f"WHOOP's daily limit ({self.max_per_day} requests per app) is used up: "
                f"retry after {retry / 3600:.1f} h.",
                daily=True,
            )
        slot = _slot(sent, now, blocked, self._limit(bulk_work), self.period)
        _check_wait(slot - now, max_wait)
        bisect.insort(sent, slot)
        self._write({"sent": sent, "blocked_until": blocked, "day": day, "day_count": count + 1})
        return slot - now

    def expected_wait(self) -> float:
        """How long a request asked for now would wait, counting every process's bookings."""
        now = self._clock()
        sent, blocked = self._window(self._read(), now)
        return _slot(sent, now, blocked, self._limit(is_bulk()), self.period) - now

    def observe(self, headers: Mapping[str, str]) -> None:
        """WHOOP saying no requests remain (reset in N s) holds back every process of the app."""
        remaining = _first_number(headers.get("x-ratelimit-remaining"))
        reset = _first_number(headers.get("x-ratelimit-reset"))
        if remaining is None or reset is None or remaining > 0:
            return
        self.block_for(reset)

    def block_for(self, seconds: float) -> None:
        """Hold every process's acquisitions for ``seconds`` (after a 429 told us to back off)."""
        super().block_for(seconds)
        if not 0 < seconds <= _MAX_SERVER_WAIT:
            return
        # Called on the event loop, so it never waits for the lock: if another thread or process holds
        # it, the hold stays in ``_blocked_until`` and reaches the file with this process's next booking.
        if not self._threads.acquire(blocking=False):
            return
        try:
            try:
                self._lock.acquire(timeout=0)
            except filelock.Timeout:
                logger.debug(
                    "shared rate budget busy; the %.0f s hold is shared with the next booking", seconds
                )
                return
            try:
                data = self._read()
                data["blocked_until"] = max(float(data.get("blocked_until", 0.0)), self._blocked_until)
                self._write(data)
            finally:
                self._lock.release()
        finally:
            self._threads.release()

    @property
    def in_window(self) -> int:
        """Requests booked by every process in the last ``period`` seconds."""
        now = self._clock()
        return sum(1 for t in self._read().get("sent", []) if float(t) > now - self.period)

    def usage(self) -> dict[str, int]:
        """Requests used in the last minute and today, with the limits."""
        data = self._read()
        today = int(data.get("day_count", 0)) if data.get("day") == self._day(self._clock()) else 0
        return {
            "last_minute": self.in_window,
            "per_minute": self.max_requests,
            "today": today,
            "per_day": self.max_per_day,
        }
