"""Smoke-test the WHOOP MCP server end to end, the way Claude Desktop runs it.

Spawns ``whoop_mcp_server.py`` over stdio with the official MCP client, lists the tools, calls every
tool with its default arguments and prints one line per tool. Without WHOOP credentials or a token
cache the server runs in demo mode against its embedded fake; once you have logged in
(``python whoop_simple.py`` → http://localhost:3000/login) it reads your real account.

    .venv/bin/python test_mcp_server.py            # exit code 0 only if every tool passed
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

try:
    from mcp import Client, StdioServerParameters
except ModuleNotFoundError as exc:  # run with an interpreter that lacks the packages (not the venv)
    from whoopkit.firstrun import exit_for_missing_module

    exit_for_missing_module(exc, "test_mcp_server.py")
    raise

ROOT = Path(__file__).resolve().parent
SERVER = ROOT / "whoop_mcp_server.py"


def _one_line(text: str, width: int = 90) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


async def main() -> int:
    """Run the session and print the table; returns the number of failed tools."""
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(SERVER), "--log-level", "WARNING"],
        env=dict(os.environ),
        cwd=str(ROOT),
    )
    started = time.perf_counter()
    async with Client(params, read_timeout_seconds=60) as client:
        ready_ms = (time.perf_counter() - started) * 1000
        tools = (await client.list_tools()).tools
        print(
            f"server: {client.server_info.name if client.server_info else '?'} "
            f"(protocol {client.protocol_version}), {len(tools)} tools, ready in {ready_ms:.0f} ms"
        )
        rows: list[tuple[str, bool, float, str]] = []
        sources: set[str] = set()
        for tool in tools:
            t0 = time.perf_counter()
            try:
                result = await client.call_tool(tool.name, {})
                ok = not result.is_error and (
                    tool.output_schema is None or result.structured_content is not None
                )
                texts = [block.text for block in result.content if block.type == "text"]
                summary = texts[0] if texts else "(no text)"
                if isinstance(result.structured_content, dict) and "data_source" in result.structured_content:
                    sources.add(str(result.structured_content["data_source"]))
            except Exception as exc:  # a protocol failure is a failed row, not a crash of the report
                ok, summary = False, f"{type(exc).__name__}: {exc}"
            rows.append((tool.name, ok, (time.perf_counter() - t0) * 1000, _one_line(summary)))

    width = max(len(name) for name, *_ in rows)
    print(f"\n{'tool'.ljust(width)}  result     ms  output")
    print(f"{'-' * width}  ------  -----  {'-' * 40}")
    for name, ok, ms, summary in rows:
        print(f"{name.ljust(width)}  {'ok' if ok else 'FAIL':6}  {ms:5.0f}  {summary}")
    failed = sum(1 for _, ok, _, _ in rows if not ok)
    print(f"\ndata source: {', '.join(sorted(sources)) or 'unknown'}")
    print(f"{len(rows) - failed} passed, {failed} failed")
    return failed


if __name__ == "__main__":
    sys.exit(1 if asyncio.run(main()) else 0)
