"""Benchmark of "what affects my recovery" over a synced year (a script, not a test; in-process fake only).

    .venv/bin/python bench/drivers_bench.py [--latency-ms 300] [--days 400] [--runs 7]

1. Builds an in-process fake WHOOP (``FakeWhoop(days=400)``) with ``--latency-ms`` of injected latency per
   request, mints a token into a temporary token cache and syncs a year (``service.sync(days=365)``,
   exactly as ``whoopkit sync --days 365`` does) into a temporary SQLite store.
2. Times, with ``time.perf_counter`` over ``--runs`` repetitions after one first call (median and max):
   ``service.drivers(365, "recovery")``; the MCP tool ``what_affects_my_recovery`` through
   ``mcp.Client(server)``; ``GET /what-affects-my-recovery`` through FastAPI's TestClient on the same
   store; and the pure ``analytics.drivers_report`` on the year's rows. Upstream requests during those
   calls come from ``fake.stats`` (target 0); the time target is 0.5 s each (issue 10, point 7).
3. Prints the cold-start cost of ``import scipy.stats`` in a fresh interpreter, and whether creating the
   MCP server imports it (it must not: the MCP cold start is measured against a bare server).

A row whose code does not exist yet (the tool, the page, the service method) is skipped with a note.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcp import Client  # noqa: E402

from whoopkit import analytics  # noqa: E402
from whoopkit.config import Settings, load_settings  # noqa: E402
from whoopkit.fake_whoop import FakeWhoop  # noqa: E402
from whoopkit.service import WhoopService, build_service  # noqa: E402
from whoopkit.tokens import Token, TokenStore  # noqa: E402

FAKE_HOST = "http://fake-whoop.local"
APP_URL = "http://localhost:3000"
PAGE = "/what-affects-my-recovery?days=365&outcome=recovery"
TOOL = "what_affects_my_recovery"
TARGET_S = 0.5


@dataclass
class Row:
    """One measured call: the first run, then ``runs`` repetitions, and the upstream requests of all."""

    label: str
    first: float = 0.0
    times: list[float] = field(default_factory=list)
    requests: int = 0
    note: str = ""  # why the row was skipped or failed; empty when measured
    detail: str = ""  # what the call answered (n, factors), to show it did real work

    @property
    def measured(self) -> bool:
        """Whether the row has figures (not skipped, not failed)."""
        return not self.note and bool(self.times)


class Skip(Exception):
    """The code a row measures does not exist yet."""


def make_settings(tmp: Path) -> Settings:
    return load_settings(
        _env_file=None,
        WHOOP_CLIENT_ID="demo-client",
        WHOOP_CLIENT_SECRET="demo-secret",
        WHOOP_API_BASE_URL=f"{FAKE_HOST}/developer",
        WHOOP_OAUTH_BASE_URL=f"{FAKE_HOST}/oauth/oauth2",
        WHOOP_TOKEN_CACHE=tmp / ".token_cache.json",
        WHOOP_DATA_DIR=tmp / "data",
        WHOOP_DEMO=False,
        WHOOP_SYNC_INTERVAL=0,  # the page's figures must be its own, not a background sync's
        OLLAMA_HOST="http://127.0.0.1:9",
    )


async def measure(row: Row, fake: FakeWhoop, runs: int, call: Callable[[], Awaitable[str]]) -> Row:
    """Time ``call`` once (first) and ``runs`` more times; count upstream requests over all of them."""
    before = fake.stats.requests
    try:
        t0 = time.perf_counter()
        row.detail = await call()
        row.first = time.perf_counter() - t0
        for _ in range(runs):
            t0 = time.perf_counter()
            await call()
            row.times.append(time.perf_counter() - t0)
    except Skip as exc:
        row.note = str(exc)
    except Exception as exc:  # a benchmark reports a broken row and goes on with the others
        row.note = f"FAILED: {type(exc).__name__}: {exc}"[:160]
    row.requests = fake.stats.requests - before
    return row


def _report_detail(report: Any) -> str:
    factors = getattr(report, "factors", None)
    n_days = getattr(report, "n_days", None) or getattr(report, "n", None)
    parts = []
    if n_days is not None:
        parts.append(f"n={n_days}")
    if isinstance(factors, list):
        significant = sum(1 for f in factors if getattr(f, "significant", False))
        parts.append(f"{len(factors)} factors, {significant} significant")
    return ", ".join(parts)


async def bench_service(service: WhoopService, fake: FakeWhoop, runs: int) -> Row:
    row = Row('service.drivers(365, "recovery")')
    if not hasattr(service, "drivers"):
        row.note = "skipped: WhoopService.drivers does not exist yet (STATS)"
        return row

    async def call() -> str:
        answer = await service.drivers(365, "recovery")
        return _report_detail(answer.data)

    return await measure(row, fake, runs, call)


async def bench_pure(service: WhoopService, runs: int) -> tuple[Row, int]:
    row = Row("analytics.drivers_report (pure)")
    report_fn = getattr(analytics, "drivers_report", None)
    if report_fn is None:
        row.note = "skipped: analytics.drivers_report does not exist yet (STATS)"
        return row, 0
    end = service.today()
    start = end - timedelta(days=364)
    history = getattr(service, "history_days", None)
    days = history(start, end) if history is not None else service.stored_days(start, end)
    journal_fn = getattr(service, "journal_days", None)
    journal = journal_fn(start, end) if journal_fn is not None else {}
    try:
        t0 = time.perf_counter()
        report = report_fn(days, journal, outcome="recovery", today=end, window_days=365)
        row.first = time.perf_counter() - t0
        row.detail = _report_detail(report)
        for _ in range(runs):
            t0 = time.perf_counter()
            report_fn(days, journal, outcome="recovery", today=end, window_days=365)
            row.times.append(time.perf_counter() - t0)
    except Exception as exc:  # a benchmark reports a broken row and goes on with the others
        row.note = f"FAILED: {type(exc).__name__}: {exc}"[:160]
    return row, len(days)


async def bench_mcp(settings: Settings, service: WhoopService, fake: FakeWhoop, runs: int) -> Row:
    from whoopkit.mcp_server import create_server

    row = Row(f"MCP {TOOL}(days=365)")
    server = create_server(settings, service)
    async with Client(server) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        if TOOL not in names:
            row.note = f"skipped: the MCP tool {TOOL} is not registered yet (MCP)"
            return row

        async def call() -> str:
            result = await client.call_tool(TOOL, {"days": 365, "outcome": "recovery"})
            if result.is_error:
                text = " ".join(getattr(block, "text", "") for block in result.content)
                raise RuntimeError(f"the tool answered an error: {text[:100]}")
            out = result.structured_content if isinstance(result.structured_content, dict) else {}
            factors = out.get("factors")
            return f"{len(factors)} factors" if isinstance(factors, list) else ""

        return await measure(row, fake, runs, call)


def bench_web(settings: Settings, fake: FakeWhoop, runs: int) -> Row:
    """The page through a TestClient (its own service on the same store), run in a worker thread."""
    from fastapi.testclient import TestClient

    from whoopkit.web.app import create_app

    row = Row("GET /what-affects-my-recovery?days=365")
    app = create_app(settings, demo=False, fake=fake)
    with TestClient(app, base_url=APP_URL, follow_redirects=False) as client:

        async def call() -> str:
            response = client.get(PAGE)
            if response.status_code == 404:
                raise Skip(f"skipped: the page {PAGE.split('?')[0]} does not exist yet (WEB)")
            if response.status_code != 200:
                raise RuntimeError(f"status {response.status_code}")
            return f"{len(response.content) // 1024} KB of HTML"

        return asyncio.run(measure(row, fake, runs, call))


def scipy_import_cost(samples: int = 3) -> float:
    """Median seconds a fresh interpreter spends in ``import scipy.stats`` (numpy included)."""
    code = (
        "import sys, time; t = time.perf_counter(); import scipy.stats; "
        "sys.stdout.write(str(time.perf_counter() - t))"
    )
    times = []
    for _ in range(samples):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", check=True
        )
        times.append(float(out.stdout))
    return statistics.median(times)


def mcp_imports_scipy() -> bool:
    code = (
        "import sys; from whoopkit.mcp_server import create_server; create_server(); "
        "sys.stdout.write(str('scipy' in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, encoding="utf-8", check=True
    )
    return out.stdout.strip() == "True"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def print_table(rows: list[Row], runs: int) -> bool:
    print(f"\n  {'call':42} {'first ms':>9} {'median ms':>9} {'max ms':>9} {'upstream':>8}  <= {TARGET_S} s")
    ok = True
    for row in rows:
        if not row.measured:
            print(f"  {row.label:42} {row.note}")
            ok = ok and row.note.startswith("skipped")
            continue
        median, worst = statistics.median(row.times), max(row.times)
        passed = median <= TARGET_S and worst <= TARGET_S and row.requests == 0
        ok = ok and passed
        print(
            f"  {row.label:42} {_ms(row.first):>9} {_ms(median):>9} {_ms(worst):>9} {row.requests:8d}  "
            f"{'yes' if passed else 'NO'}" + (f"   ({row.detail})" if row.detail else "")
        )
    print(f"  (first: the first call; median and max of the {runs} calls after it; upstream: all of them.")
    print(
        "   The first row's first call pays this process's `import scipy.stats`; later rows find it loaded.)"
    )
    return ok


async def run(latency_ms: float, days: int, runs: int, tmp: Path) -> tuple[list[Row], dict[str, Any]]:
    fake = FakeWhoop(client_id="demo-client", client_secret="demo-secret", days=days)
    settings = make_settings(tmp)
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    fake.faults.latency = latency_ms / 1000
    info: dict[str, Any] = {}
    service = build_service(settings, demo=False, fake=fake)
    try:
        t0 = time.perf_counter()
        report = await service.sync(days=365)
        info["sync_s"] = time.perf_counter() - t0
        info["sync_requests"] = fake.stats.requests
        info["sync_new"] = report.new
        fake.reset_stats()
        rows = [await bench_service(service, fake, runs)]
        rows.append(await bench_mcp(settings, service, fake, runs))
        # The TestClient runs the app on its own event loop, in its own thread.
        rows.append(await asyncio.to_thread(bench_web, settings, fake, runs))
        pure, info["rows"] = await bench_pure(service, runs)
        rows.append(pure)
    finally:
        await service.aclose()
    return rows, info


def main() -> None:
    """Parse arguments, run the benchmark and print the report (exit 1 when a measured row misses)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=float, default=300.0, help="injected per upstream request")
    parser.add_argument("--days", type=int, default=400, help="days of history in the fake")
    parser.add_argument("--runs", type=int, default=7, help="repetitions after the first call")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the app's and the SDK's INFO lines would bury the table
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="whoopkit-drivers-bench-") as tmp:
        rows, info = asyncio.run(run(args.latency_ms, args.days, args.runs, Path(tmp)))
    scipy_s = scipy_import_cost()
    scipy_in_mcp = mcp_imports_scipy()

    print(
        f"whoopkit drivers bench: in-process fake WHOOP, {args.latency_ms:.0f} ms injected latency, "
        f"{args.days} days of history"
    )
    print(
        f"  sync of 365 days: {info['sync_s']:.1f} s, {info['sync_requests']} upstream requests, "
        f"{info['sync_new']} records; day rows of the year: {info.get('rows', 0)}"
    )
    ok = print_table(rows, args.runs)
    print(f"\n  cold `import scipy.stats` in a fresh interpreter (median of 3): {scipy_s * 1000:.0f} ms")
    print(f"  scipy imported by create_server() (MCP cold start): {'YES' if scipy_in_mcp else 'no'}")
    print(f"  whole benchmark: {time.perf_counter() - started:.1f} s")
    measured = [r for r in rows if r.measured]
    print(
        f"{'PASS' if ok and measured else 'FAIL' if not ok else 'SKIP'}  "
        f"each measured call <= {TARGET_S} s (median and max) with 0 upstream requests "
        f"({len(measured)} of {len(rows)} rows measured)"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
