"""Benchmark of the WHOOP MCP server against the fake WHOOP with a simulated network latency.

Not a test: it prints figures (and PASS/MISS per target) for MCP_README.md.

    .venv/bin/python bench/mcp_bench.py [--latency-ms 300] [--runs 5]

1. Starts ``python -m whoopkit.fake_whoop --port N --latency-ms L`` as a real loopback server and mints
   a token into a temporary token cache (POST /_fake/token).
2. Measures one round trip (RT): a single upstream request at that latency.
3. For every tool, spawns the REAL ``whoop_mcp_server.py`` over stdio with the official client (a fresh
   process, so its cache is empty; one ``get_auth_status`` call, which sends nothing upstream, warms the
   imports), calls the tool twice and reports wall time in RT and upstream requests per call (from
   /_fake/stats deltas): cold (empty cache), then repeated within the cache TTL.
4. Cold start: spawn → initialize → list_tools, median of ``--runs``, against a bare one-tool MCPServer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcp import Client, StdioServerParameters  # noqa: E402

from whoopkit.tokens import Token, TokenStore  # noqa: E402

SERVER = ROOT / "whoop_mcp_server.py"
FORBIDDEN = ("fastapi", "jinja2", "ollama")
BARE_SERVER = textwrap.dedent(
    """
    from mcp.server import MCPServer

    server = MCPServer("bare")


    @server.tool()
    def ping() -> str:
        \"\"\"Answer pong.\"\"\"
        return "pong"


    if __name__ == "__main__":
        server.run("stdio")
    """
)
EXTRA_CALLS: list[tuple[str, dict[str, Any]]] = [("get_trends", {"days": 90})]


@dataclass
class Row:
    """One benchmarked call."""

    label: str
    cold_ms: float
    cold_requests: int
    warm_ms: float
    warm_requests: int
    ok: bool


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not come up")
        time.sleep(0.05)  # polling a subprocess that has no readiness signal


async def _requests(http: httpx.AsyncClient) -> int:
    return int((await http.get("/_fake/stats")).json()["requests"])


class Pacer:
    """Keeps the whole benchmark under WHOOP's 100 requests a minute (fresh processes share the app)."""

    def __init__(self, http: httpx.AsyncClient, budget: int = 95, window: float = 60.0) -> None:
        self.http, self.budget, self.window = http, budget, window
        self.samples: list[tuple[float, int]] = [(time.monotonic(), 0)]
        self.waited = 0.0

    async def before(self, expected: int) -> None:
        """Wait until ``expected`` more requests fit in the sliding minute."""
        while True:
            total = await _requests(self.http)
            now = time.monotonic()
            self.samples.append((now, total))
            # Conservative: everything counted since the newest sample older than the window.
            aged = [count for stamp, count in self.samples if stamp <= now - self.window]
            if total - (aged[-1] if aged else 0) + expected <= self.budget:
                return
            next_to_age = next(stamp for stamp, _ in self.samples if stamp > now - self.window)
            wait = next_to_age + self.window - now + 0.1
            self.waited += wait
            await asyncio.sleep(wait)


def _server_env(base: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHOOP_", "OLLAMA_"))}
    env.update(
        {
            "WHOOP_API_BASE_URL": f"{base}/developer",
            "WHOOP_OAUTH_BASE_URL": f"{base}/oauth/oauth2",
            "WHOOP_TOKEN_CACHE": str(workdir / "token_cache.json"),
            "WHOOP_CLIENT_ID": "demo-client",
            "WHOOP_CLIENT_SECRET": "demo-secret",
            "WHOOP_DATA_DIR": str(workdir / "data"),
            "WHOOP_DEMO": "0",
        }
    )
    return env


def _params(script: Path, env: dict[str, str]) -> StdioServerParameters:
    args = [str(script), "--log-level", "WARNING"] if script == SERVER else [str(script)]
    return StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(ROOT))


async def _bench_tool(http: httpx.AsyncClient, env: dict[str, str], name: str, args: dict[str, Any]) -> Row:
    async with Client(_params(SERVER, env), read_timeout_seconds=120) as client:
        # Process warm-up without WHOOP traffic (imports the HTTP stack, reads the token file), so that
        # "cold" measures an empty cache rather than Python importing modules; start-up is measured below.
        await client.call_tool("get_auth_status", {})
        timings: list[tuple[float, int, bool]] = []
        for _ in range(2):
            before = await _requests(http)
            t0 = time.perf_counter()
            result = await client.call_tool(name, args)
            elapsed = (time.perf_counter() - t0) * 1000
            timings.append((elapsed, await _requests(http) - before, not result.is_error))
    label = name + ("(" + ", ".join(f"{k}={v}" for k, v in args.items()) + ")" if args else "")
    (cold_ms, cold_req, ok1), (warm_ms, warm_req, ok2) = timings
    return Row(label, cold_ms, cold_req, warm_ms, warm_req, ok1 and ok2)


async def _start_to_tools(params: StdioServerParameters) -> float:
    t0 = time.perf_counter()
    async with Client(params, mode="legacy") as client:  # the initialize handshake, as Claude Desktop does
        await client.list_tools()
        return (time.perf_counter() - t0) * 1000


async def _measure(
    base: str, env: dict[str, str], bare_script: Path, runs: int
) -> tuple[list[Row], list[float], list[float], int, float]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        pacer = Pacer(http)
        async with Client(_params(SERVER, env)) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
        rows = []
        for name, args in [(n, {}) for n in names] + EXTRA_CALLS:
            await pacer.before(expected=40)
            rows.append(await _bench_tool(http, env, name, args))
        ours: list[float] = []
        bare: list[float] = []
        for _ in range(runs):  # interleaved, so that a burst of machine load hits both alike
            ours.append(await _start_to_tools(_params(SERVER, env)))
            bare.append(await _start_to_tools(_params(bare_script, env)))
        return rows, ours, bare, await _requests(http), pacer.waited


def _forbidden_imports(env: dict[str, str]) -> list[str]:
    code = (
        "import sys; from whoopkit.mcp_server import create_server; create_server(); "
        f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    return [m for m in out.stdout.strip().split(",") if m]


def run(latency_ms: int, runs: int) -> int:
    """Run every measurement and print the report; returns the number of missed targets."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    fake = subprocess.Popen(
        [sys.executable, "-m", "whoopkit.fake_whoop", "--port", str(port), "--latency-ms", str(latency_ms)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_up(f"{base}/_fake/stats")
        with tempfile.TemporaryDirectory(prefix="whoop-mcp-bench-") as tmp:
            workdir = Path(tmp)
            token = Token.from_response(httpx.post(f"{base}/_fake/token", timeout=10).json(), now=time.time())
            TokenStore(workdir / "token_cache.json").save(token)
            env = _server_env(base, workdir)

            # One round trip: a single upstream request at this latency (median of 3).
            rtts = []
            with httpx.Client(headers={"Authorization": f"Bearer {token.access_token}"}) as http:
                for _ in range(3):
                    t0 = time.perf_counter()
                    http.get(f"{base}/developer/v2/user/profile/basic").raise_for_status()
                    rtts.append((time.perf_counter() - t0) * 1000)
            rt = statistics.median(rtts)

            bare_script = workdir / "bare_server.py"
            bare_script.write_text(BARE_SERVER, encoding="utf-8")
            rows, ours, bare, total_requests, paced = asyncio.run(_measure(base, env, bare_script, runs))
            forbidden = _forbidden_imports(env)
    finally:
        fake.terminate()
        fake.wait(timeout=10)

    print(f"WHOOP MCP benchmark: fake WHOOP on loopback with {latency_ms} ms latency per request")
    print(
        f"1 RT (one upstream request, median of 3) = {rt:.0f} ms; each tool runs in a fresh server process "
        "(cold = empty cache)\n"
    )
    width = max(len(r.label) for r in rows)
    head = f"{'tool'.ljust(width)}  {'cold ms':>8} {'cold RT':>7} {'req':>4}"
    print(f"{head}   {'repeat ms':>9} {'rep RT':>6} {'req':>4}  ok")
    for r in rows:
        print(
            f"{r.label.ljust(width)}  {r.cold_ms:8.0f} {r.cold_ms / rt:7.2f} {r.cold_requests:4d}   "
            f"{r.warm_ms:9.0f} {r.warm_ms / rt:6.2f} {r.warm_requests:4d}  {'yes' if r.ok else 'NO'}"
        )
    ours_ms, bare_ms = statistics.median(ours), statistics.median(bare)
    print(
        f"\ncold start (spawn → initialize → list_tools, median of {runs}): "
        f"whoop {ours_ms:.0f} ms, bare one-tool MCPServer {bare_ms:.0f} ms, ratio {ours_ms / bare_ms:.2f}×"
    )
    print(f"modules {', '.join(FORBIDDEN)} imported by the MCP server: {', '.join(forbidden) or 'none'}")
    print(
        f"upstream requests in the whole run: {total_requests}; the benchmark paused {paced:.0f} s "
        "to stay under WHOOP's 100 requests/minute\n"
    )

    by_label = {r.label: r for r in rows}
    checks = [
        ("get_health_summary cold ≤ 1.2 RT", by_label["get_health_summary"].cold_ms / rt <= 1.2),
        ("get_trends(days=90) cold ≤ 1.5 RT", by_label["get_trends(days=90)"].cold_ms / rt <= 1.5),
        ("0 upstream requests on every repeat within the cache TTL", all(r.warm_requests == 0 for r in rows)),
        ("cold start ≤ 1.3× bare MCPServer", ours_ms / bare_ms <= 1.3),
        ("no fastapi/jinja2/ollama in the MCP process", not forbidden),
        ("every call succeeded", all(r.ok for r in rows)),
    ]
    for label, passed in checks:
        print(f"{'PASS' if passed else 'MISS'}  {label}")
    return sum(1 for _, passed in checks if not passed)


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5, help="cold-start repetitions (median)")
    args = parser.parse_args()
    sys.exit(1 if run(args.latency_ms, args.runs) else 0)


if __name__ == "__main__":
    main()
