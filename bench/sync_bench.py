"""Benchmark of the history sync against a slow fake WHOOP (a script, not a test; loopback only).

    .venv/bin/python bench/sync_bench.py [--latency-ms 300] [--days 365]

1. Starts the fake WHOOP as a real loopback server with injected latency and ``--days`` of history, and
   mints a token through /_fake/token.
2. Runs a first sync of ``--days`` days into an empty store (through ``whoopkit.service``, exactly as
   ``whoopkit sync --days N`` does) and prints the upstream requests against the minimum number of pages
   of 25 (target: at most 1.3x) and the wall time in round trips.
3. Runs the same sync again with nothing changed and prints its requests (target: one per collection).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from whoopkit.config import load_settings  # noqa: E402
from whoopkit.service import build_service  # noqa: E402
from whoopkit.tokens import Token, TokenStore  # noqa: E402

COLLECTIONS = ("cycles", "recoveries", "sleeps", "workouts")
FAKE_KIND = {"cycles": "cycle", "recoveries": "recovery", "sleeps": "sleep", "workouts": "workout"}


def start_fake(latency_ms: float, days: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "whoopkit.fake_whoop",
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
            "--days",
            str(days),
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "listening on " in line:
            return proc, line.split("listening on ", 1)[1].split()[0]
    raise SystemExit("the fake WHOOP did not start")


def upstream_requests(url: str) -> int:
    return int(httpx.get(f"{url}/_fake/stats", timeout=10).json()["requests"])


async def round_trip(url: str, token: str) -> float:
    times = []
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(5):
            started = time.perf_counter()
            response = await http.get(
                f"{url}/developer/v2/user/profile/basic", headers={"Authorization": f"Bearer {token}"}
            )
            response.raise_for_status()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


async def main(latency_ms: float, days: int) -> int:
    proc, url = start_fake(latency_ms, days)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            token = await asyncio.to_thread(
                lambda: httpx.post(f"{url}/_fake/token", json={}, timeout=10).json()
            )
            cache = Path(tmp) / "token.json"
            TokenStore(cache).save(Token.from_response(token, now=time.time()))
            rt = await round_trip(url, token["access_token"])
            stats = (await asyncio.to_thread(lambda: httpx.get(f"{url}/_fake/stats", timeout=10).json()))[
                "records"
            ]
            counts = {kind: int(stats[FAKE_KIND[kind]]["total"]) for kind in COLLECTIONS}
            minimum = sum(math.ceil(n / 25) for n in counts.values())
            settings = load_settings(
                _env_file=None,
                WHOOP_CLIENT_ID="demo-client",
                WHOOP_CLIENT_SECRET="demo-secret",
                WHOOP_API_BASE_URL=f"{url}/developer",
                WHOOP_OAUTH_BASE_URL=f"{url}/oauth/oauth2",
                WHOOP_TOKEN_CACHE=cache,
                WHOOP_DATA_DIR=Path(tmp) / "data",
                WHOOP_DEMO=False,
            )
            service = build_service(settings, demo=False)
            try:
                before = upstream_requests(url)
                started = time.perf_counter()
                first = await service.sync(days=days)
                first_s = time.perf_counter() - started
                first_upstream = upstream_requests(url) - before
                before = upstream_requests(url)
                again = await service.sync(days=days)
                again_upstream = upstream_requests(url) - before
            finally:
                await service.aclose()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    pages = first.requests
    ratio = pages / minimum
    print(f"whoopkit sync bench: fake WHOOP on loopback, {latency_ms:.0f} ms latency, {days} days of history")
    print(f"  one upstream round trip (median of 5):  {rt * 1000:.0f} ms")
    print("  records upstream: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    print(
        f"  first sync of {days} days:  {pages} page requests (+{first_upstream - pages} profile/body) "
        f"vs a minimum of {minimum} pages of 25 = {ratio:.2f}x (target <= 1.3)"
    )
    print(f"  first sync wall time:     {first_s:.2f} s = {first_s / rt:.1f} round trips")
    print(
        f"  repeat sync, nothing changed: {again.requests} page requests ({again_upstream} upstream in all) "
        f"for {len(COLLECTIONS)} collections (target: about one each); "
        f"{again.new} new, {again.updated} updated, {again.deleted} deleted"
    )
    ok = ratio <= 1.3 and again.requests <= len(COLLECTIONS) + 1
    print(f"{'PASS' if ratio <= 1.3 else 'FAIL'}  first sync <= 1.3x the minimum pages")
    repeat_ok = again.requests <= len(COLLECTIONS) + 1
    print(f"{'PASS' if repeat_ok else 'FAIL'}  repeat sync about one request per collection")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.latency_ms, args.days)))
