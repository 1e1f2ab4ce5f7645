"""Benchmark of the WHOOP MCP server over stdio against the fake WHOOP with 300 ms per request.

Not a test: it prints figures, ratios and PASS/FAIL lines for MCP_README.md (exit code 1 on a FAIL).

    .venv/bin/python bench/mcp_bench.py [--latency-ms 300] [--runs 5]

1. Starts ``python -m whoopkit.fake_whoop --port N --latency-ms L --days 365`` as a real loopback
   server and mints a token into a temporary token cache (POST /_fake/token).
2. Measures one round trip (RT): a single upstream request at that latency (median of 3).
3. After a sync (``service.sync(days=365)`` in its own process): ``get_trends(days=365)`` in a fresh
   MCP process, then every tool once in that process, with upstream requests from /_fake/stats deltas.
   Every figure is wall time at the client, after its one-time set-up (see ``_list_tools``).
4. Against an empty store, each in a fresh MCP process, 1.5 s after ``initialize`` (the pause while
   the person types, in which the server warms up): the first ``get_health_summary``, and
   ``get_trends(days=90)``.
5. Cold start: spawn → initialize → list_tools, median of ``--runs``, against a bare one-tool MCPServer.
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
import jsonschema  # noqa: F401 - the client validates results with it; imported before any timing

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcp import Client, StdioServerParameters  # noqa: E402

from whoopkit.tokens import Token, TokenStore  # noqa: E402

SERVER = ROOT / "whoop_mcp_server.py"
FORBIDDEN = ("fastapi", "jinja2", "ollama")
PAUSE_AFTER_INITIALIZE = 1.5
MAX_TOOLS_LIST_BYTES = 25_000  # issue 8: what every conversation pays in context, before any tool runs
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
SYNC_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from whoopkit.config import get_settings
    from whoopkit.service import build_service

    async def main() -> None:
        service = build_service(get_settings(), demo=False)
        try:
            report = await service.sync(days=365)
        finally:
            await service.aclose()
        sys.stdout.write(repr(report) + "\\n")

    asyncio.run(main())
    """
)


@dataclass
class Call:
    """One measured tool call."""

    label: str
    ms: float
    requests: int
    ok: bool
    stale: bool | None


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
            aged = [count for stamp, count in self.samples if stamp <= now - self.window]
            if total - (aged[-1] if aged else 0) + expected <= self.budget:
                return
            next_to_age = next(stamp for stamp, _ in self.samples if stamp > now - self.window)
            wait = next_to_age + self.window - now + 0.1
            self.waited += wait
            await asyncio.sleep(wait)


def _server_env(base: str, workdir: Path, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHOOP_", "OLLAMA_"))}
    env.update(
        {
            "WHOOP_API_BASE_URL": f"{base}/developer",
            "WHOOP_OAUTH_BASE_URL": f"{base}/oauth/oauth2",
            "WHOOP_TOKEN_CACHE": str(workdir / "token_cache.json"),
            "WHOOP_CLIENT_ID": "demo-client",
            "WHOOP_CLIENT_SECRET": "demo-secret",
            "WHOOP_DATA_DIR": str(data_dir),
            "WHOOP_DEMO": "0",
        }
    )
    return env


def _params(script: Path, env: dict[str, str]) -> StdioServerParameters:
    args = [str(script), "--log-level", "WARNING"] if script == SERVER else [str(script)]
    return StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(ROOT))


def _label(name: str, args: dict[str, Any]) -> str:
    return name + ("(" + ", ".join(f"{k}={v}" for k, v in args.items()) + ")" if args else "")


async def _list_tools(client: Client) -> list[str]:
    """List the tools, as Claude Desktop does first, and compile the client's output-schema validators.

    The Python client checks every result against the tool's output schema with ``jsonschema``; the
    first check of each tool imports it and compiles a validator (hundreds of ms here). That is the
    client's one-time cost, not the server's, so it is paid before anything is timed.
    """
    tools = (await client.list_tools()).tools
    for tool in tools:
        if tool.output_schema is not None:
            client.session._output_schema_validator(tool.name, tool.output_schema)
    return [tool.name for tool in tools]


async def _tools_list_size(client: Client) -> tuple[int, list[tuple[str, int]]]:
    """Bytes of ``tools/list`` as compact JSON, the way it reaches the client, and each tool's share."""
    listed = await client.list_tools()
    sizes = [
        (tool.name, len(tool.model_dump_json(by_alias=True, exclude_none=True))) for tool in listed.tools
    ]
    return len(listed.model_dump_json(by_alias=True, exclude_none=True)), sizes


async def _call(client: Client, http: httpx.AsyncClient, name: str, args: dict[str, Any]) -> Call:
    before = await _requests(http)
    t0 = time.perf_counter()
    result = await client.call_tool(name, args)
    ms = (time.perf_counter() - t0) * 1000
    out = result.structured_content if isinstance(result.structured_content, dict) else {}
    return Call(_label(name, args), ms, await _requests(http) - before, not result.is_error, out.get("stale"))


async def _fresh_process_call(
    http: httpx.AsyncClient, env: dict[str, str], name: str, args: dict[str, Any], pause: float
) -> Call:
    """One call in a fresh server process, ``pause`` seconds after its initialize handshake."""
    async with Client(_params(SERVER, env), mode="legacy", read_timeout_seconds=120) as client:
        initialized = time.perf_counter()
        await _list_tools(client)
        await asyncio.sleep(max(0.0, pause - (time.perf_counter() - initialized)))
        return await _call(client, http, name, args)


async def _after_sync(
    http: httpx.AsyncClient, env: dict[str, str]
) -> tuple[Call, list[Call], tuple[int, list[tuple[str, int]]]]:
    """get_trends(days=365) first in a fresh process over the synced store, then every tool once."""
    async with Client(_params(SERVER, env), mode="legacy", read_timeout_seconds=120) as client:
        initialized = time.perf_counter()
        tools = await _list_tools(client)
        await asyncio.sleep(max(0.0, PAUSE_AFTER_INITIALIZE - (time.perf_counter() - initialized)))
        trends = await _call(client, http, "get_trends", {"days": 365})
        rows = [await _call(client, http, name, {}) for name in tools]
        size = await _tools_list_size(client)
    return trends, rows, size


async def _start_to_tools(params: StdioServerParameters) -> float:
    t0 = time.perf_counter()
    async with Client(params, mode="legacy") as client:  # the initialize handshake, as Claude Desktop does
        await client.list_tools()
        return (time.perf_counter() - t0) * 1000


def _sync(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", SYNC_SCRIPT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the sync failed:\n{out.stderr}")
    return out.stdout.strip()


@dataclass
class Results:
    """Everything one run measured."""

    sync_ms: float
    sync_requests: int
    trends_365: Call
    after_sync: list[Call]
    tools_list: tuple[int, list[tuple[str, int]]]
    first_summary: Call
    first_trends_90: Call
    ours: list[float]
    bare: list[float]
    total_requests: int
    paced: float


async def _measure(base: str, workdir: Path, bare_script: Path, runs: int) -> Results:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        pacer = Pacer(http)
        synced = _server_env(base, workdir, workdir / "synced")
        await pacer.before(expected=80)
        before = await _requests(http)
        t0 = time.perf_counter()
        await asyncio.to_thread(_sync, synced)
        sync_ms = (time.perf_counter() - t0) * 1000
        sync_requests = await _requests(http) - before
        trends_365, after_sync, tools_list = await _after_sync(http, synced)

        await pacer.before(expected=15)
        first_summary = await _fresh_process_call(
            http,
            _server_env(base, workdir, workdir / "empty-1"),
            "get_health_summary",
            {},
            PAUSE_AFTER_INITIALIZE,
        )
        await pacer.before(expected=40)
        first_trends_90 = await _fresh_process_call(
            http,
            _server_env(base, workdir, workdir / "empty-2"),
            "get_trends",
            {"days": 90},
            PAUSE_AFTER_INITIALIZE,
        )

        ours: list[float] = []
        bare: list[float] = []
        cold_env = _server_env(base, workdir, workdir / "cold")
        for _ in range(runs):  # interleaved, so that a burst of machine load hits both alike
            ours.append(await _start_to_tools(_params(SERVER, cold_env)))
            bare.append(await _start_to_tools(_params(bare_script, cold_env)))
        return Results(
            sync_ms,
            sync_requests,
            trends_365,
            after_sync,
            tools_list,
            first_summary,
            first_trends_90,
            ours,
            bare,
            await _requests(http),
            pacer.waited,
        )


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


def _row(call: Call, rt: float) -> str:
    stale = "-" if call.stale is None else str(call.stale).lower()
    return (
        f"{call.ms:8.0f} ms {call.ms / rt:5.2f} RT {call.requests:4d} req  stale {stale:5}  "
        f"{'ok' if call.ok else 'ERROR'}"
    )


def run(latency_ms: int, runs: int) -> int:
    """Run every measurement and print the report; returns the number of failed targets."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "whoopkit.fake_whoop",
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
            "--days",
            "365",
        ],
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

            rtts = []
            with httpx.Client(headers={"Authorization": f"Bearer {token.access_token}"}) as http:
                for _ in range(3):
                    t0 = time.perf_counter()
                    http.get(f"{base}/developer/v2/user/profile/basic").raise_for_status()
                    rtts.append((time.perf_counter() - t0) * 1000)
            rt = statistics.median(rtts)

            bare_script = workdir / "bare_server.py"
            bare_script.write_text(BARE_SERVER, encoding="utf-8")
            res = asyncio.run(_measure(base, workdir, bare_script, runs))
            forbidden = _forbidden_imports(_server_env(base, workdir, workdir / "imports"))
    finally:
        fake.terminate()
        fake.wait(timeout=10)

    print(f"WHOOP MCP benchmark: fake WHOOP on loopback with {latency_ms} ms latency per request")
    print(f"1 RT (one upstream request, median of 3) = {rt:.0f} ms\n")
    print(
        f"sync of 365 days (its own process, before the MCP runs): {res.sync_ms:.0f} ms, "
        f"{res.sync_requests} requests"
    )
    print(f"after the sync, fresh MCP process, {PAUSE_AFTER_INITIALIZE} s after initialize:")
    print(f"  {res.trends_365.label:32} {_row(res.trends_365, rt)}")
    for call in res.after_sync:
        print(f"  {call.label:32} {_row(call, rt)}")
    print(f"\nempty store, fresh MCP process each, first call {PAUSE_AFTER_INITIALIZE} s after initialize:")
    for call in (res.first_summary, res.first_trends_90):
        print(f"  {call.label:32} {_row(call, rt)}")
    ours_ms, bare_ms = statistics.median(res.ours), statistics.median(res.bare)
    ratio = ours_ms / bare_ms
    print(
        f"\ncold start (spawn → initialize → list_tools, median of {runs}): "
        f"whoop {ours_ms:.0f} ms, bare one-tool MCPServer {bare_ms:.0f} ms, ratio {ratio:.2f}×"
    )
    list_bytes, per_tool = res.tools_list
    biggest = sorted(per_tool, key=lambda tool: -tool[1])[:3]
    largest = ", ".join(f"{name} {size / 1000:.1f}" for name, size in biggest)
    print(
        f"tools/list: {list_bytes / 1000:.1f} KB of compact JSON for {len(per_tool)} tools "
        f"(about {list_bytes // 4} tokens; largest, KB: {largest})"
    )
    print(f"modules {', '.join(FORBIDDEN)} imported by the MCP server: {', '.join(forbidden) or 'none'}")
    print(
        f"upstream requests in the whole run: {res.total_requests}; the benchmark paused {res.paced:.0f} s "
        "to stay under WHOOP's 100 requests/minute\n"
    )

    t365, summary, t90 = res.trends_365, res.first_summary, res.first_trends_90
    checks = [
        (
            f"get_trends(days=365) after a sync: 0 upstream requests ({t365.requests}) and well under "
            f"one RT (≤ 0.5 RT: {t365.ms / rt:.2f})",
            t365.ok and t365.requests == 0 and t365.ms / rt <= 0.5,
        ),
        (
            f"every tool after a sync, within WHOOP_FRESH_SECONDS: 0 upstream requests "
            f"({sum(c.requests for c in res.after_sync)})",
            all(c.ok and c.requests == 0 for c in res.after_sync),
        ),
        (
            f"first get_health_summary, empty store, 1.5 s after initialize ≤ 1.3 RT ({summary.ms / rt:.2f})",
            summary.ok and summary.ms / rt <= 1.3,
        ),
        (
            f"first get_trends(days=90), empty store, 1.5 s after initialize ≤ 1.6 RT ({t90.ms / rt:.2f})",
            t90.ok and t90.ms / rt <= 1.6,
        ),
        (f"cold start ≤ 1.3× bare MCPServer ({ratio:.2f}×)", ratio <= 1.3),
        (
            f"tools/list ≤ {MAX_TOOLS_LIST_BYTES / 1000:.0f} KB of compact JSON ({list_bytes / 1000:.1f} KB)",
            list_bytes <= MAX_TOOLS_LIST_BYTES,
        ),
        ("no fastapi/jinja2/ollama in the MCP process", not forbidden),
    ]
    for label, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {label}")
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
