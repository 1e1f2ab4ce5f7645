"""Benchmark of the web dashboard against a slow fake WHOOP (a script, not a test; loopback only).

    .venv/bin/python bench/web_bench.py [--latency-ms 300] [--days 400] [--concurrency 8] [--seconds 2]
                                        [--rounds 3]

1. Starts the fake WHOOP as a real loopback server with injected latency
   (``python -m whoopkit.fake_whoop --port 0 --latency-ms 300 --days 400``) and mints a token
   through /_fake/token.
2. Starts the app (``whoop_simple.py``) with uvicorn on a free loopback port, pointed at the fake, with
   an empty store and the background sync off (WHOOP_SYNC_INTERVAL=0), and prints: one upstream round
   trip; the cold dashboard as a multiple of it (target <= 1.3: the page syncs only its 7 days, all
   collections at once); upstream requests of a repeat within WHOOP_FRESH_SECONDS (target 0, from
   /_fake/stats deltas); and the throughput of the stored dashboard as a ratio to /healthz under
   concurrent load (a bounded loop: fixed concurrency and duration).
3. Restarts the app on the same store with the background sync on, waits for its start-up sync
   (``/healthz`` ``last_sync``), and prints ``/recovery-view?days=365`` after that sync: upstream
   requests (target 0) and time as a multiple of one round trip (target: well under 1).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from whoopkit.tokens import Token, TokenStore  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fake(latency_ms: float, days: int) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "whoopkit.fake_whoop", "--port", "0", "--latency-ms", str(latency_ms)]
    proc = subprocess.Popen(
        [*command, "--days", str(days)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # the fake logs its URL once the socket accepts connections
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the fake WHOOP did not start: {line!r}")
    return proc, match.group(0)


def wait_for(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not come up within {timeout:.0f} s")


def start_app(
    fake_url: str, token_cache: Path, data_dir: Path, port: int, *, sync_interval: float
) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "WHOOP_CLIENT_ID": "demo-client",
        "WHOOP_CLIENT_SECRET": "demo-secret",
        "WHOOP_API_BASE_URL": f"{fake_url}/developer",
        "WHOOP_OAUTH_BASE_URL": f"{fake_url}/oauth/oauth2",
        "WHOOP_TOKEN_CACHE": str(token_cache),
        "WHOOP_DATA_DIR": str(data_dir),
        "WHOOP_SYNC_INTERVAL": str(sync_interval),
        "WHOOP_DEMO": "0",
        "OLLAMA_HOST": "http://127.0.0.1:9",
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "whoop_simple.py"), "--host", "127.0.0.1", "--port", str(port)],
        cwd=data_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def wait_for_sync(app_url: str, timeout: float = 300.0) -> float:
    """Seconds until the app's background sync reports its first success on /healthz."""
    start = time.perf_counter()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        if httpx.get(f"{app_url}/healthz", timeout=5.0).json().get("last_sync"):
            return time.perf_counter() - start
        time.sleep(0.1)
    raise SystemExit(f"the background sync did not finish within {timeout:.0f} s")


def timed_get(url: str, fake_url: str) -> tuple[float, int, httpx.Response]:
    """One fresh-client GET: seconds, upstream requests it caused, the response."""
    before = upstream_requests(fake_url)
    start = time.perf_counter()
    response = httpx.get(url, timeout=120.0)
    elapsed = time.perf_counter() - start
    return elapsed, upstream_requests(fake_url) - before, response


def upstream_requests(fake_url: str) -> int:
    return int(httpx.get(f"{fake_url}/_fake/stats").json()["requests"])


def round_trip(fake_url: str, access_token: str, samples: int = 5) -> float:
    """Median time of one upstream API request over a fresh connection each time (like a cold page)."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        r = httpx.get(
            f"{fake_url}/developer/v2/user/profile/basic",
            headers={"Authorization": f"Bearer {access_token}"},
        )
        times.append(time.perf_counter() - start)
        r.raise_for_status()
    return statistics.median(times)


async def load(url: str, concurrency: int, seconds: float) -> tuple[float, int, int]:
    """Requests per second for ``url`` with ``concurrency`` workers for ``seconds`` (bounded loop)."""
    done = 0
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                r = await client.get(url)
                if r.status_code == 200:
                    done += 1
                else:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return done / elapsed, done, errors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--days", type=int, default=400, help="days of history in the fake")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0, help="per round and endpoint")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    fake, fake_url = start_fake(args.latency_ms, args.days)
    app: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="whoopkit-bench-") as tmp:
            tmp_path = Path(tmp)
            token_data = httpx.post(f"{fake_url}/_fake/token", json={}).json()
            token = Token.from_response(token_data, now=time.time())
            cache = tmp_path / ".token_cache.json"
            TokenStore(cache).save(token)
            port = free_port()
            app_url = f"http://127.0.0.1:{port}"
            app = start_app(fake_url, cache, tmp_path, port, sync_interval=0)
            wait_for(f"{app_url}/healthz")

            rtt = round_trip(fake_url, token.access_token)
            # Fresh client, like a browser opening the page; the store is empty.
            cold, cold_requests, r = timed_get(f"{app_url}/dashboard", fake_url)
            assert r.status_code == 200, r.status_code
            warm, repeat_requests, r = timed_get(f"{app_url}/dashboard", fake_url)
            assert r.status_code == 200

            # Alternate the two endpoints over a few rounds and take medians: the machine may be busy.
            before = upstream_requests(fake_url)
            health: list[tuple[float, int, int]] = []
            dash: list[tuple[float, int, int]] = []
            for _ in range(args.rounds):
                health.append(asyncio.run(load(f"{app_url}/healthz", args.concurrency, args.seconds)))
                dash.append(asyncio.run(load(f"{app_url}/dashboard", args.concurrency, args.seconds)))
            health_rps = statistics.median(h[0] for h in health)
            dash_rps = statistics.median(d[0] for d in dash)
            health_n, health_err = sum(h[1] for h in health), sum(h[2] for h in health)
            dash_n, dash_err = sum(d[1] for d in dash), sum(d[2] for d in dash)
            load_requests = upstream_requests(fake_url) - before

            # A new app process on the same store, background sync on: its start-up sync fills the store.
            stop(app)
            app = None
            before = upstream_requests(fake_url)
            app = start_app(fake_url, cache, tmp_path, port, sync_interval=900)
            wait_for(f"{app_url}/healthz")
            sync_seconds = wait_for_sync(app_url)
            sync_requests = upstream_requests(fake_url) - before
            year, year_requests, r = timed_get(f"{app_url}/recovery-view?days=365", fake_url)
            assert r.status_code == 200, r.status_code
            rows = r.text.split("<tbody>", 1)[-1].count("<tr")
            csv_time, csv_requests, r = timed_get(f"{app_url}/recovery-view?days=365&format=csv", fake_url)
            assert r.status_code == 200, r.status_code

            print(
                f"whoopkit web bench: fake WHOOP latency {args.latency_ms:.0f} ms, {args.days} days, loopback"
            )
            print(f"  one upstream round trip (median of 5):  {rtt * 1000:7.1f} ms")
            print(
                f"  cold /dashboard, empty store:           {cold * 1000:7.1f} ms = {cold / rtt:.2f}x "
                f"one round trip (target <= 1.3; {cold_requests} upstream requests, run concurrently)"
            )
            print(
                f"  repeat /dashboard within fresh seconds: {warm * 1000:7.1f} ms, "
                f"{repeat_requests} upstream requests (target 0)"
            )
            print(
                f"  throughput, {args.concurrency} concurrent clients, {args.rounds} rounds of "
                f"{args.seconds:.0f} s (median): /healthz {health_rps:.0f} req/s ({health_n} ok, "
                f"{health_err} errors), stored /dashboard {dash_rps:.0f} req/s ({dash_n} ok, "
                f"{dash_err} errors)"
            )
            print(
                f"  stored dashboard / healthz throughput:  {dash_rps / health_rps:.2f} "
                f"({load_requests} upstream requests during the load)"
            )
            print(
                f"  background start-up sync (new process): {sync_seconds:7.1f} s, {sync_requests} upstream "
                "requests (the whole history, while pages stay served)"
            )
            print(
                f"  /recovery-view?days=365 after the sync: {year * 1000:7.1f} ms = {year / rtt:.2f}x "
                f"one round trip (target well under 1), {year_requests} upstream requests (target 0), "
                f"{rows} table rows"
            )
            print(
                f"  its CSV download (?format=csv):         {csv_time * 1000:7.1f} ms, "
                f"{csv_requests} upstream requests"
            )
    finally:
        if app is not None:
            stop(app)
        fake.terminate()
        fake.wait(timeout=10)


if __name__ == "__main__":
    main()
