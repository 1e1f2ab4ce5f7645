"""``whoopkit serve``: the web app from the command line (its pages are tested through the web tests)."""

from __future__ import annotations

import socket
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import make_settings
from whoopkit.cli import CliDeps, create_app


def test_serve_on_a_port_that_is_taken_says_so_in_one_sentence(tmp_path: Path, clean_env: None) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        settings = make_settings(tmp_path)
        app = create_app(CliDeps(settings=lambda: settings, env_file=tmp_path / ".env"))
        result = CliRunner().invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output


def test_serve_help_lists_the_hosted_switch_host_and_port() -> None:
    result = CliRunner().invoke(create_app(), ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--hosted", "--host", "--port"):
        assert option in result.output


def test_serve_runs_the_demo_web_app_until_stopped(tmp_path: Path, clean_env: None) -> None:
    import os
    import subprocess
    import sys

    import httpx

    from tests.helpers.hosted import wait_for
    from tests.helpers.servers import free_port
    from whoopkit.config import PROJECT_ROOT

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHOOP_", "OLLAMA_"))}
    env.update(
        {
            "WHOOP_DATA_DIR": str(tmp_path / "data"),
            "WHOOP_TOKEN_CACHE": str(tmp_path / "token.json"),
            "WHOOP_DEMO": "1",
            "WHOOP_SYNC_INTERVAL": "0",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "whoopkit", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def healthy() -> dict[str, object] | None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except httpx.TransportError:
            return None
        body: dict[str, object] = answer.json()
        return body

    try:
        body = wait_for(
            healthy,
            60,
            "whoopkit serve answering /healthz",
            alive=lambda: None if process.poll() is None else "exited",
        )
        assert body["status"] == "ok" and body["demo"] is True
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert "demo mode" in output.decode("utf-8", "replace")
