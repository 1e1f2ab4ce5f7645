"""``python -m whoopkit`` as real processes, against the fake WHOOP served on loopback.

A new user's path: log in (the OAuth round trip, done here the way a browser would), then ``sync``,
``status``, ``export`` and ``doctor`` as separate processes sharing the token file and the store.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest

from tests.cli.conftest import free_port
from tests.helpers.fake_server import FakeServer, running_fake_whoop
from tests.web.fake_ollama import FakeOllama, ServerThread
from whoopkit.cli import files
from whoopkit.config import PROJECT_ROOT, load_settings
from whoopkit.oauth import OAuthClient, new_state
from whoopkit.tokens import TokenStore

pytestmark = pytest.mark.slow

TIMEOUT = 120


@pytest.fixture(scope="module")
def whoop_server() -> Iterator[FakeServer]:
    """The fake WHOOP as a process on a free loopback port, auto-approving logins."""
    with running_fake_whoop("--auto-approve", "--days", "60") as server:
        yield server


@pytest.fixture(scope="module")
def ollama_server() -> Iterator[str]:
    """A fake Ollama with llama3.2 on loopback."""
    state = FakeOllama()
    with ServerThread(state.app()) as server:
        yield server.url


@pytest.fixture
def env(tmp_path: Path, whoop_server: FakeServer, ollama_server: str) -> dict[str, str]:
    """The environment of a new user whose WHOOP is the fake (tmp token cache, store and Claude config)."""
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WHOOP_", "OLLAMA_", "WHOOPKIT_"))}
    base.update(
        WHOOP_API_BASE_URL=f"{whoop_server.url}/developer",
        WHOOP_OAUTH_BASE_URL=f"{whoop_server.url}/oauth/oauth2",
        WHOOP_CLIENT_ID="demo-client",
        WHOOP_CLIENT_SECRET="demo-secret",
        WHOOP_REDIRECT_URI=f"http://localhost:{port}/callback",
        PORT=str(port),
        HOST="127.0.0.1",
        WHOOP_TOKEN_CACHE=str(tmp_path / "token.json"),
        WHOOP_DATA_DIR=str(tmp_path / "data"),
        WHOOP_DATABASE_URL="",
        WHOOP_DEMO="0",
        OLLAMA_HOST=ollama_server,
        OLLAMA_MODEL="llama3.2",
        WHOOP_CLAUDE_CONFIG=str(tmp_path / "claude" / "claude_desktop_config.json"),
        COLUMNS="120",
    )
    return base


def whoopkit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m whoopkit ARGS`` from the checkout, without installing it."""
    return subprocess.run(
        [sys.executable, "-m", "whoopkit", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=False,
    )


def log_in(env: dict[str, str]) -> None:
    """The browser's part of the login: WHOOP's consent (auto-approved) hands back a code; exchange it."""
    settings = load_settings(
        _env_file=None, **{k: v for k, v in env.items() if k.startswith(("WHOOP_", "PORT"))}
    )

    async def run() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            oauth = OAuthClient(http, settings)
            state = new_state()
            answer = await http.get(oauth.authorize_url(state), follow_redirects=False)
            query = parse_qs(urlsplit(answer.headers["location"]).query)
            assert query["state"] == [state]
            token = await oauth.exchange_code(query["code"][0])
        TokenStore(settings.whoop_token_cache).save(token)

    anyio.run(run)


def test_python_m_whoopkit_shows_help_and_usage_errors_exit_2(env: dict[str, str]) -> None:
    shown = whoopkit(env, "--help")
    assert shown.returncode == 0, shown.stderr
    for command in ("sync", "status", "doctor", "setup", "export"):
        assert command in shown.stdout

    unknown = whoopkit(env, "frobnicate")
    assert unknown.returncode == 2 and "No such command" in unknown.stderr

    bad_date = whoopkit(env, "export", "--kind", "days", "--format", "csv", "--since", "2026-02-30")
    assert bad_date.returncode == 2
    assert "'2026-02-30' is not a date like 2026-11-20" in bad_date.stderr


def test_failures_exit_1_with_one_sentence_and_no_traceback(env: dict[str, str]) -> None:
    not_logged_in = whoopkit(env, "sync")
    assert not_logged_in.returncode == 1
    assert not_logged_in.stderr.startswith("whoopkit: Not logged in to WHOOP")
    assert f"log in at http://localhost:{env['PORT']}/login" in not_logged_in.stderr.replace("\n", " ")
    assert "Traceback" not in not_logged_in.stderr
    assert len(not_logged_in.stderr.strip().splitlines()) <= 2

    empty = whoopkit(env, "export", "--kind", "days", "--format", "csv")
    assert empty.returncode == 1
    assert empty.stderr.strip() == "whoopkit: nothing synced yet: run `whoopkit sync` first."

    broken = whoopkit({**env, "PORT": "eighty"}, "status")
    assert broken.returncode == 1
    assert "PORT" in broken.stderr and "Traceback" not in broken.stderr


def test_a_new_user_syncs_then_checks_status_exports_and_runs_doctor(
    env: dict[str, str], tmp_path: Path
) -> None:
    log_in(env)

    sync = whoopkit(env, "sync", "--days", "20")
    assert sync.returncode == 0, sync.stderr
    assert "Synced in" in sync.stdout and "requests used." in sync.stdout
    for name in ("cycles", "recoveries", "sleeps", "workouts"):
        assert name in sync.stderr  # its progress bar

    status = whoopkit(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["login"]["has_offline_scope"] is True
    assert all(c["rows"] > 0 for c in data["store"]["collections"].values())
    assert data["rate_budget"]["last_minute"] > 0
    assert whoopkit(env, "status").returncode == 0

    days = whoopkit(env, "export", "--kind", "days", "--format", "csv")
    assert days.returncode == 0, days.stderr
    table = list(csv.DictReader(io.StringIO(days.stdout)))
    assert len(table) >= 19 and {"strain", "recovery_pct", "hrv_ms", "sleep_hours"} <= set(table[0])

    target = tmp_path / "sleeps.jsonl"
    sleeps = whoopkit(env, "export", "--kind", "sleeps", "--format", "jsonl", "-o", str(target))
    assert sleeps.returncode == 0, sleeps.stderr
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert records and all("score_state" in r and "start" in r for r in records)

    files.install_claude_server(Path(env["WHOOP_CLAUDE_CONFIG"]), Path(env["WHOOP_TOKEN_CACHE"]))
    doctor = whoopkit(env, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert doctor.stdout.count("✓ ") == 9 and "✗" not in doctor.stdout
