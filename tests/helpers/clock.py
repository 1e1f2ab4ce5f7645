"""A fake monotonic clock for code that takes ``clock`` and ``sleep`` callables."""

from __future__ import annotations

import asyncio


class FakeClock:
    """Time that moves only when told to, or when the code under test sleeps (no real waiting)."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the sleep, advance the clock, and yield to the event loop once."""
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
