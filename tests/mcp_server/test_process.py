"""The real server process: what it imports, and a stdio session the way Claude Desktop opens one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import ByteReceiveStream

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "whoop_mcp_server.py"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHOOP_", "OLLAMA_"))}
    env.update(
        WHOOP_DEMO="1",
        WHOOP_TOKEN_CACHE=str(tmp_path / "no_real_login.json"),
        WHOOP_DATA_DIR=str(tmp_path / "data"),
        WHOOP_CLIENT_ID="",
        WHOOP_CLIENT_SECRET="",
        **extra,
    )
    return env


def _run_python(tmp_path: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ``args`` in the demo environment; cwd defaults to ``tmp_path``."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd or tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


@pytest.mark.slow
def test_the_mcp_process_never_imports_fastapi_jinja2_or_ollama(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from whoopkit.mcp_server import create_server\n"
        "from whoopkit import runtime, client, tokens, oauth, analytics, fake_whoop\n"
        "create_server()\n"
        "print(sorted(m for m in ('fastapi', 'jinja2', 'ollama') if m in sys.modules))\n"
    )
    out = _run_python(tmp_path, "-c", code, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


async def _read_message(stdout: ByteReceiveStream, buffer: bytearray) -> dict[str, Any]:
    while b"\n" not in buffer:
        buffer.extend(await stdout.receive())
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    message: dict[str, Any] = json.loads(line)
    return message


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_stdio_session_at_protocol_2025_06_18_initializes_and_calls_a_tool(tmp_path: Path) -> None:
    async with await anyio.open_process(
        [sys.executable, str(SERVER)], cwd=tmp_path, env=_env(tmp_path), stderr=subprocess.DEVNULL
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        buffer = bytearray()

        async def send(message: dict[str, Any]) -> None:
            assert proc.stdin is not None
            await proc.stdin.send(json.dumps(message).encode() + b"\n")

        with anyio.fail_after(60):
            await send(
                {
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-06-18",
                        "capabilities": {},
                        "clientInfo": {"name": "claude-ai", "version": "0.1.0"},
                    },
                }
            )
            init = await _read_message(proc.stdout, buffer)
            assert init["id"] == 0
            assert init["result"]["protocolVersion"] == "2025-06-18"
            assert init["result"]["serverInfo"]["name"] == "whoop"
            await send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            await send({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            listed = await _read_message(proc.stdout, buffer)
            assert "get_health_summary" in {tool["name"] for tool in listed["result"]["tools"]}
            await send(
                {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_recovery_score"}}
            )
            called = await _read_message(proc.stdout, buffer)
        await proc.stdin.aclose()
        with anyio.fail_after(20):
            await proc.wait()

    result = called["result"]
    assert called["id"] == 2 and result["isError"] is False
    assert result["structuredContent"]["data_source"] == "demo (simulated)"
    assert "Demo mode" in result["content"][0]["text"]
    # Demo mode must never create or touch the real token cache.
    assert not (tmp_path / "no_real_login.json").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.anyio
async def test_streamable_http_serves_mcp_on_loopback_only_to_the_bearer_token(tmp_path: Path) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    token = "test-token-0123456789-abcdefghij"
    port = _free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    env = _env(tmp_path, WHOOP_MCP_HTTP_TOKEN=token)
    async with await anyio.open_process(
        [sys.executable, str(SERVER), "--transport", "streamable-http", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
    ) as proc:
        try:
            assert proc.stderr is not None
            log = bytearray()
            with anyio.fail_after(60):
                while b"Uvicorn running on" not in log:
                    log.extend(await proc.stderr.receive())
            async with httpx2.AsyncClient() as http:
                for headers in ({}, {"Authorization": "Bearer not-the-token"}):
                    response = await http.post(
                        url, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}
                    )
                    assert response.status_code == 401
            authed = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
            with anyio.fail_after(60):
                async with authed, Client(streamable_http_client(url, http_client=authed)) as client:
                    result = await client.call_tool("get_user_profile", {})
            assert not result.is_error
            assert result.structured_content["data_source"] == "demo (simulated)"
        finally:
            proc.terminate()
            with anyio.fail_after(20):
                await proc.wait()


def test_streamable_http_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    out = _run_python(tmp_path, str(SERVER), "--transport", "streamable-http", "--port", str(_free_port()))
    assert out.returncode == 2
    assert "WHOOP_MCP_HTTP_TOKEN must be set" in out.stderr
    assert out.stdout == ""


def test_print_config_prints_a_desktop_entry_with_absolute_paths(tmp_path: Path) -> None:
    out = _run_python(tmp_path, str(SERVER), "--print-config")
    assert out.returncode == 0, out.stderr
    entry = json.loads(out.stdout)["mcpServers"]["whoop"]
    assert entry["command"] == sys.executable
    assert entry["args"] == [str(SERVER)]
    assert entry["env"]["WHOOP_TOKEN_CACHE"] == str(tmp_path / "no_real_login.json")


def test_print_config_also_gives_the_lines_to_merge_into_an_existing_config_on_stderr(tmp_path: Path) -> None:
    out = _run_python(tmp_path, str(SERVER), "--print-config")
    assert out.returncode == 0, out.stderr
    whole = json.loads(out.stdout)  # stdout stays one JSON document, for `--print-config > file`
    entry_lines = out.stderr[out.stderr.index('"whoop": {') :]
    existing = '{"mcpServers": {"other": {"command": "x"},\n' + entry_lines + "}}"
    merged = json.loads(existing)["mcpServers"]
    assert merged["whoop"] == whole["mcpServers"]["whoop"]
    assert merged["other"] == {"command": "x"}
    assert '"mcpServers"' in out.stderr.split('"whoop": {')[0]
