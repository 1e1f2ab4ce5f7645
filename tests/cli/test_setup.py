"""``whoopkit setup``: registration, ``.env`` (0600, merged, backed up), a proven login, Claude Desktop."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli.conftest import Browser, Cli

if TYPE_CHECKING:
    from whoopkit.fake_whoop import FakeWhoop

SECRET = "demo-secret"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_user_runs_setup_then_sync_status_export_and_doctor(
    cli: Cli, browser: Browser, fake: FakeWhoop
) -> None:
    result = cli("setup", input=f"demo-client\n{SECRET}\ny\n")

    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    assert "developer.whoop.com" in out
    assert cli.settings.whoop_redirect_uri in out
    assert (
        "read:recovery, read:cycles, read:workout, read:sleep, read:profile, read:body_measurement, offline"
        in out
    )
    assert SECRET not in out  # typed hidden, never echoed
    env = cli.deps.env_file.read_text(encoding="utf-8")
    assert "WHOOP_CLIENT_ID=demo-client\n" in env and f"WHOOP_CLIENT_SECRET={SECRET}\n" in env
    assert mode(cli.deps.env_file) == 0o600
    assert browser.opened and browser.opened[0].startswith("http://fake-whoop.local/oauth/oauth2/auth?")
    profile = fake.data.profile
    assert f"Logged in as {profile['first_name']} {profile['last_name']}" in out
    assert mode(cli.settings.whoop_token_cache) == 0o600
    assert fake.stats.requests_by_path  # the live call reached WHOOP
    server = json.loads(cli.claude_config.read_text(encoding="utf-8"))["mcpServers"]["whoop"]
    assert server["args"][0].endswith("whoop_mcp_server.py")

    assert cli("sync", "--days", "14").exit_code == 0
    assert json.loads(cli("status", "--json").stdout)["login"]["has_offline_scope"] is True
    exported = cli("export", "--kind", "days", "--format", "csv", "--since", "2026-11-14")
    assert exported.exit_code == 0 and len(exported.stdout.splitlines()) == 1 + 7
    doctor = cli("doctor")
    assert doctor.exit_code == 0, doctor.stdout
    assert "All 9 checks passed." in doctor.stdout


def test_setup_merges_credentials_into_an_existing_env_and_keeps_a_backup(cli: Cli) -> None:
    old = "# my settings\nPORT=3000\nWHOOP_CLIENT_ID=old-id\nOLLAMA_MODEL=mistral\nWHOOP_CLIENT_ID=dupe\n"
    cli.deps.env_file.write_text(old, encoding="utf-8")
    os.chmod(cli.deps.env_file, 0o644)

    result = cli("setup", "--client-id", "new-id", "--client-secret", "s3cr3t", "--no-login", "--no-claude")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert cli.deps.env_file.read_text(encoding="utf-8") == (
        "# my settings\nPORT=3000\nWHOOP_CLIENT_ID=new-id\nOLLAMA_MODEL=mistral\n"
        "\nWHOOP_CLIENT_SECRET=s3cr3t\n"
    )
    assert mode(cli.deps.env_file) == 0o600
    backup = cli.deps.env_file.with_name(".env.bak")
    assert backup.read_text(encoding="utf-8") == old and mode(backup) == 0o600
    assert "Skipped (--no-login)" in result.stdout and not cli.claude_config.exists()


def test_a_first_env_starts_from_env_example_with_the_credentials_filled_in(cli: Cli) -> None:
    example = "# From https://developer.whoop.com\nWHOOP_CLIENT_ID=\nWHOOP_CLIENT_SECRET=\n#PORT=3000\n"
    cli.deps.env_file.with_name(".env.example").write_text(example, encoding="utf-8")

    result = cli("setup", "--client-id", "id-1", "--client-secret", "s-1", "--no-login", "--no-claude")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert cli.deps.env_file.read_text(encoding="utf-8") == (
        "# From https://developer.whoop.com\nWHOOP_CLIENT_ID=id-1\nWHOOP_CLIENT_SECRET=s-1\n#PORT=3000\n"
    )
    assert not cli.deps.env_file.with_name(".env.bak").exists()


def test_setup_without_flags_keeps_the_configured_secret_when_enter_is_pressed(cli: Cli) -> None:
    result = cli("setup", "--no-login", "--no-claude", input="\n\n")

    assert result.exit_code == 0, result.stdout + result.stderr
    env = cli.deps.env_file.read_text(encoding="utf-8")
    assert "WHOOP_CLIENT_ID=demo-client" in env and f"WHOOP_CLIENT_SECRET={SECRET}" in env


def test_setup_adds_the_server_to_claude_desktop_keeping_other_servers_and_a_backup(cli: Cli) -> None:
    cli.claude_config.parent.mkdir(parents=True)
    original: dict[str, Any] = {
        "globalShortcut": "Ctrl+Space",
        "mcpServers": {
            "notes": {"command": "notes-mcp", "args": []},
            "whoop": {
                "command": "/old/python",
                "args": ["/old/whoop_mcp_server.py"],
                "env": {"WHOOP_MCP_TOOLS": "x"},
            },
        },
    }
    cli.claude_config.write_text(json.dumps(original), encoding="utf-8")

    result = cli("setup", "--client-id", "demo-client", "--client-secret", SECRET, "--no-login", "--yes")

    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(cli.claude_config.read_text(encoding="utf-8"))
    assert data["globalShortcut"] == "Ctrl+Space"
    assert data["mcpServers"]["notes"] == original["mcpServers"]["notes"]
    whoop = data["mcpServers"]["whoop"]
    assert Path(whoop["args"][0]) == (Path(__file__).resolve().parents[2] / "whoop_mcp_server.py")
    assert whoop["env"]["WHOOP_MCP_TOOLS"] == "x"
    assert whoop["env"]["WHOOP_TOKEN_CACHE"] == str(cli.settings.whoop_token_cache.resolve())
    backup = cli.claude_config.with_name("claude_desktop_config.json.bak")
    assert json.loads(backup.read_text(encoding="utf-8")) == original
    assert not list(cli.claude_config.parent.glob(".*.tmp"))

    again = cli("setup", "--client-id", "demo-client", "--client-secret", SECRET, "--no-login", "--yes")
    assert "already runs this checkout's MCP server" in again.stdout


def test_setup_leaves_a_claude_config_that_is_not_json_untouched_and_fails(cli: Cli) -> None:
    cli.claude_config.parent.mkdir(parents=True)
    cli.claude_config.write_text("{ not json", encoding="utf-8")

    result = cli("setup", "--client-id", "demo-client", "--client-secret", SECRET, "--no-login", "--yes")

    assert result.exit_code == 1
    assert "is not valid JSON" in result.stderr and "Traceback" not in result.stderr
    assert cli.claude_config.read_text(encoding="utf-8") == "{ not json"


def test_declining_claude_desktop_writes_nothing_there(cli: Cli) -> None:
    result = cli("setup", "--client-id", "demo-client", "--client-secret", SECRET, "--no-login", input="n\n")

    assert result.exit_code == 0
    assert not cli.claude_config.exists()


@pytest.mark.parametrize(
    ("browser_mode", "message"),
    [
        ("tamper", "did not belong to this setup run (state mismatch)"),
        ("deny", "WHOOP did not grant access (access_denied)"),
    ],
)
def test_a_login_that_fails_exits_1_with_one_sentence_and_saves_no_token(
    cli: Cli, browser: Browser, browser_mode: str, message: str
) -> None:
    browser.mode = browser_mode

    result = cli("setup", "--client-id", "demo-client", "--client-secret", SECRET, "--no-claude")

    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not cli.settings.whoop_token_cache.exists()


def test_a_login_nobody_completes_times_out(cli: Cli, browser: Browser) -> None:
    browser.mode = "ignore"

    result = cli(
        "setup",
        "--client-id",
        "demo-client",
        "--client-secret",
        SECRET,
        "--no-claude",
        "--login-timeout",
        "1",
    )

    assert result.exit_code == 1
    assert "No answer from WHOOP within 1 s" in result.stderr


def test_when_the_web_app_serves_the_redirect_uri_setup_logs_in_through_it(
    cli: Cli, browser: Browser, fake: FakeWhoop
) -> None:
    class WebApp(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", cli.settings.port), WebApp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    browser.mode, browser.token_cache = "webapp", cli.settings.whoop_token_cache
    try:
        result = cli("setup", "--client-id", "demo-client", "--client-secret", SECRET, "--no-claude")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"The web app is running at http://localhost:{cli.settings.port}" in result.stdout
    assert browser.opened == [cli.settings.login_url]
    assert f"Logged in as {fake.data.profile['first_name']}" in result.stdout


def test_a_redirect_port_taken_by_something_else_is_explained(cli: Cli) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", cli.settings.port))
        taken.listen(1)
        result = cli("setup", "--client-id", "demo-client", "--client-secret", SECRET, "--no-claude")

    assert result.exit_code == 1
    assert f"Cannot listen on {cli.settings.whoop_redirect_uri}" in result.stderr


@pytest.mark.parametrize(
    "args", [["--client-secret", "two words"], ["--client-id", " "], ["--login-timeout", "0"]]
)
def test_malformed_setup_arguments_are_usage_errors(cli: Cli, args: list[str]) -> None:
    base = {"--client-id": "demo-client", "--client-secret": SECRET}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [item for pair in base.items() for item in pair]

    result = cli("setup", *argv, "--no-login", "--no-claude")

    assert result.exit_code == 2
    assert not cli.deps.env_file.exists()
