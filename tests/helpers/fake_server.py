"""The fake WHOOP as a real HTTP server in its own process, for tests that need several processes."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from whoopkit.config import PROJECT_ROOT

READY_TIMEOUT = 30.0


@dataclass
class FakeServer:
    """A running ``python -m whoopkit.fake_whoop``."""

    url: str
    stderr_lines: list[str] = field(default_factory=list)

    def stats(self) -> dict[str, Any]:
        """The fake's counters (GET /_fake/stats)."""
        response = httpx.get(f"{self.url}/_fake/stats", timeout=10)
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats


@contextmanager
def running_fake_whoop(*args: str) -> Iterator[FakeServer]:
    """Start the fake on a free loopback port with ``args``; ready once it logs its URL, stopped on exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "whoopkit.fake_whoop", "--port", "0", *args],
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    lines: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        # Keeps reading after start-up too, so a chatty server can never block on a full pipe.
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            match = re.search(r"listening on (http://\S+)", line)
            if match and not ready.is_set():
                found.append(match.group(1))
                ready.set()
        ready.set()  # EOF: the server died; the check below reports it

    reader = threading.Thread(target=drain, name="fake-whoop-stderr", daemon=True)
    reader.start()
    try:
        if not ready.wait(READY_TIMEOUT) or not found:
            pytest.fail(f"the fake WHOOP did not start within {READY_TIMEOUT:.0f} s: {''.join(lines)}")
        yield FakeServer(url=found[0], stderr_lines=lines)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
