"""``whoopkit doctor``: one ✓/✗ line per check with what to do, exit 1 when anything fails."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.cli.conftest import Cli, ollama_transport
from whoopkit.cli import files
from whoopkit.config import Settings
from whoopkit.tokens import Token, TokenStore

if TYPE_CHECKING:
    from typer.testing import Result

    from whoopkit.fake_whoop import FakeWhoop


def install_claude(cli: Cli) -> None:
    files.install_claude_server(cli.claude_config, cli.settings.whoop_token_cache)


def line(result: Result, text: str) -> str:
    """The one output line containing ``text`` (and the advice line under it, if any)."""
    lines = result.stdout.splitlines()
    for i, row in enumerate(lines):
        if text in row:
            advice = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("    →") else ""
            return f"{row}\n{advice}".strip()
    raise AssertionError(f"no line with {text!r} in:\n{result.stdout}")


@pytest.fixture
def healthy(cli: Cli, logged_in: Token) -> Cli:
    """A complete setup: .env, a 0600 login with offline, a synced store, Ollama, Claude Desktop."""
    cli.deps.env_file.write_text("WHOOP_CLIENT_ID=demo-client\n", encoding="utf-8")
    install_claude(cli)
    assert cli("sync", "--days", "7").exit_code == 0
    return cli


def test_a_healthy_setup_passes_every_check_with_exit_code_0(healthy: Cli) -> None:
    result = healthy("doctor")

    assert result.exit_code == 0, result.stdout
    checks = [row for row in result.stdout.splitlines() if row[:1] in "✓✗"]
    assert len(checks) == 9 and all(row.startswith("✓ ") for row in checks)
    assert "✓ database" in result.stdout and "passes the integrity check" in result.stdout
    assert "schema is at revision" in result.stdout
    assert result.stdout.strip().endswith("All 9 checks passed.")


def test_a_fresh_checkout_fails_with_advice_for_each_missing_piece(cli: Cli) -> None:
    bare = cli.settings.model_copy(update={"whoop_client_id": None, "whoop_client_secret": None})
    result = dataclasses.replace(cli, deps=dataclasses.replace(cli.deps, settings=lambda: bare))("doctor")

    assert result.exit_code == 1
    assert "run `whoopkit setup` to create it" in line(result, "✗ no .env at")
    assert "developer.whoop.com" in line(result, "✗ WHOOP_CLIENT_ID and WHOOP_CLIENT_SECRET not set")
    assert "run `whoopkit setup`" in line(result, "no WHOOP login")
    assert "run `whoopkit setup`" in line(result, "no Claude Desktop config")
    assert "Traceback" not in result.stdout + result.stderr


def test_a_token_file_readable_by_others_fails_with_the_chmod_to_run(healthy: Cli) -> None:
    os.chmod(healthy.settings.whoop_token_cache, 0o644)

    result = healthy("doctor")

    assert result.exit_code == 1
    assert f"✗ token file {healthy.settings.whoop_token_cache} is mode 0644" in result.stdout
    assert f"run `chmod 600 {healthy.settings.whoop_token_cache}`" in result.stdout


def test_a_login_without_the_offline_scope_fails(healthy: Cli, fake: FakeWhoop) -> None:
    token = Token.from_response(fake.issue_token(scopes=["read:cycles", "read:profile"]), now=time.time())
    TokenStore(healthy.settings.whoop_token_cache).save(token)

    result = healthy("doctor")

    assert result.exit_code == 1
    assert "grant every scope, offline included" in line(result, "lacks the offline scope")


def test_missing_credentials_are_named(healthy: Cli) -> None:
    bare = healthy.settings.model_copy(update={"whoop_client_secret": None})
    result = dataclasses.replace(healthy, deps=dataclasses.replace(healthy.deps, settings=lambda: bare))(
        "doctor"
    )

    assert result.exit_code == 1
    assert line(result, "WHOOP_CLIENT_SECRET not set").startswith("✗")


@pytest.mark.parametrize(
    ("redirect", "ok"),
    [
        ("http://localhost:{port}/callback", True),
        ("http://127.0.0.1:{port}/callback", True),
        ("http://localhost:{port}/oauth/callback", False),
        ("http://localhost:9/callback", False),
        ("https://example.com/callback", False),
    ],
)
def test_the_redirect_uri_must_be_the_web_apps_callback_with_localhost_and_127_0_0_1_equal(
    healthy: Cli, redirect: str, ok: bool
) -> None:
    settings = healthy.settings.model_copy(
        update={"whoop_redirect_uri": redirect.format(port=healthy.settings.port)}
    )
    cli = dataclasses.replace(healthy, deps=dataclasses.replace(healthy.deps, settings=lambda: settings))

    result = cli("doctor")

    row = line(result, "redirect URI")
    assert row.startswith("✓" if ok else "✗"), row
    assert result.exit_code == (0 if ok else 1)
    if not ok:
        assert f"WHOOP_REDIRECT_URI={settings.web_origin}/callback" in row


def test_ollama_down_or_without_the_model_fails_with_what_to_run(healthy: Cli) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = dataclasses.replace(
        healthy, deps=dataclasses.replace(healthy.deps, ollama_transport=httpx.MockTransport(refuse))
    )
    result = down("doctor")
    assert result.exit_code == 1
    assert "`ollama serve`" in line(result, "Ollama is not reachable at http://127.0.0.1:11434")

    other = ollama_transport(["mistral:latest", "llama3.2:1b"])
    missing = dataclasses.replace(healthy, deps=dataclasses.replace(healthy.deps, ollama_transport=other))
    result = missing("doctor")
    assert result.exit_code == 1
    assert "run `ollama pull llama3.2`" in line(result, "does not have the model llama3.2")


def test_a_claude_config_for_another_checkout_fails_and_one_that_kept_other_servers_passes(
    healthy: Cli,
) -> None:
    other = {"command": "/usr/bin/python3", "args": ["/elsewhere/whoop_mcp_server.py"]}
    healthy.claude_config.write_text(json.dumps({"mcpServers": {"whoop": other}}), encoding="utf-8")
    result = healthy("doctor")
    assert result.exit_code == 1
    assert "run `whoopkit setup` to point it here" in line(result, "does not run this checkout")

    install_claude(healthy)
    data = json.loads(healthy.claude_config.read_text(encoding="utf-8"))
    data["mcpServers"]["notes"] = {"command": "notes-mcp"}
    healthy.claude_config.write_text(json.dumps(data), encoding="utf-8")
    assert line(healthy("doctor"), "Claude Desktop config").startswith("✓")


def test_the_claude_config_location_comes_from_the_flag_or_the_environment(
    healthy: Cli, tmp_path: Path
) -> None:
    result = healthy("doctor", "--claude-config", str(tmp_path / "nowhere.json"))

    assert result.exit_code == 1
    assert f"no Claude Desktop config at {tmp_path / 'nowhere.json'}" in result.stdout
    assert "WHOOP_CLAUDE_CONFIG" in " ".join(healthy("doctor", "--help").stdout.split())


def test_a_corrupt_database_fails_and_says_it_was_moved_aside(healthy: Cli) -> None:
    db = healthy.settings.whoop_data_dir / "whoop.db"
    for leftover in db.parent.glob("whoop.db-*"):
        leftover.unlink()
    db.write_bytes(b"this is not a database" * 100)

    result = healthy("doctor")

    assert result.exit_code == 1
    row = line(result, "was unreadable and has been moved to")
    assert row.startswith("✗") and "`whoopkit sync`" in row


def test_a_database_from_newer_code_fails_in_one_sentence(healthy: Cli) -> None:
    db = healthy.settings.whoop_data_dir / "whoop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()

    result = healthy("doctor")

    assert result.exit_code == 1
    assert line(result, "the database cannot be opened").startswith("✗")
    assert "Traceback" not in result.stdout + result.stderr


def test_unreadable_settings_are_one_failed_check(healthy: Cli, settings: Settings) -> None:
    from whoopkit.errors import ConfigError

    def broken() -> Settings:
        raise ConfigError("Invalid configuration: PORT input should be a valid integer (got 'x').")

    result = dataclasses.replace(healthy, deps=dataclasses.replace(healthy.deps, settings=broken))("doctor")

    assert result.exit_code == 1
    assert "PORT input should be a valid integer" in result.stdout
