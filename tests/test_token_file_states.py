"""Odd states of the token file on disk (issue 9 point 5) and a kill -9 during a refresh (point 8).

The kill -9 test runs the refresh in a real separate process (tests/helpers/refresh_worker.py)
against the fake WHOOP served over loopback, which rotates the token and then holds its answer back
(``Faults.hold_after_rotation``), so the process dies in the worst possible moment.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers.fake_server import FakeServer, running_fake_whoop
from tests.web.conftest import text_of
from tests.web.fake_ollama import ServerThread
from whoopkit.errors import NotLoggedInError, TokenFileError, TokenRefreshError
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop
from whoopkit.oauth import OAuthClient
from whoopkit.tokens import INTERRUPTED_REFRESH, Token, TokenManager, TokenStore
from whoopkit.web.app import create_app

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX symlinks, FIFOs and permission bits")
WORKER = Path(__file__).resolve().parent / "helpers" / "refresh_worker.py"
NOW = 1_800_000_000.0


def a_token(**changes: object) -> Token:
    values: dict[str, object] = {
        "access_token": "at-secret-0001",
        "expires_in": 3600,
        "scope": "read:profile offline",
        "refresh_token": "rt-secret-0001",
        "expires_at": NOW + 3600,
    }
    values.update(changes)
    return Token.model_validate(values)


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / ".token_cache.json")


# ---------------------------------------------------------------- 9.5 at the store


@posix_only
def test_a_symlink_at_the_lock_path_is_refused_with_what_to_remove_and_nothing_is_touched(
    store: TokenStore, tmp_path: Path
) -> None:
    store.save(a_token())
    before = store.path.read_bytes()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    os.symlink(victim, store.lock_path)
    with pytest.raises(TokenFileError, match=r"lock file .* symbolic link.*remove it"):
        store.delete()
    assert store.path.read_bytes() == before
    assert victim.read_text(encoding="utf-8") == "precious"


def test_a_directory_at_the_token_path_is_explained_on_read_and_on_save(store: TokenStore) -> None:
    store.path.mkdir()
    with pytest.raises(NotLoggedInError, match="is a directory"):
        store.load()
    with pytest.raises(TokenFileError, match="is a directory"):
        store.save(a_token())
    assert store.path.is_dir()


@posix_only
def test_a_fifo_at_the_token_path_does_not_hang_the_read(store: TokenStore) -> None:
    os.mkfifo(store.path)
    with pytest.raises(NotLoggedInError, match="not a regular file"):
        store.load()


def test_a_huge_token_file_is_refused_without_being_read(store: TokenStore) -> None:
    with store.path.open("wb") as fh:
        fh.truncate(200 * 1024 * 1024)
    started = time.perf_counter()
    with pytest.raises(NotLoggedInError, match=r"209,715,200 bytes, far more than a token"):
        store.load()
    assert time.perf_counter() - started < 0.5
    assert store.problem() is not None


def test_a_corrupt_file_is_read_once_until_it_changes(store: TokenStore) -> None:
    store.path.write_text("{" + " " * 500, encoding="utf-8")
    with pytest.raises(NotLoggedInError, match="not valid JSON"):
        store.load()
    st = store.path.stat()
    # Same size, same inode, same mtime: the stat fingerprint says "unchanged", so no re-read.
    payload = json.dumps(a_token().model_dump(mode="json")).encode("utf-8")
    with store.path.open("r+b") as fh:
        fh.write(payload.ljust(st.st_size))
    os.utime(store.path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(NotLoggedInError, match="not valid JSON"):
        store.load()
    os.utime(store.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert store.load() == a_token()


@posix_only
def test_a_token_file_readable_by_others_is_made_0600_on_read_with_a_warning(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.save(a_token())
    store.path.chmod(0o644)
    caplog.set_level(logging.WARNING, logger="whoopkit.tokens")
    assert store.load() == a_token()
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert "readable by other users" in caplog.text
    assert "at-secret" not in caplog.text


def test_move_aside_renames_a_corrupt_file_and_refuses_a_good_one(store: TokenStore) -> None:
    store.path.write_bytes(b"not json")
    moved = store.move_aside(now=NOW)
    assert moved.name.startswith(".token_cache.json.corrupt-2027")
    assert moved.read_bytes() == b"not json"
    assert not store.path.exists()
    store.save(a_token())
    with pytest.raises(TokenFileError, match="not corrupt"):
        store.move_aside()
    assert store.load() == a_token()


# ---------------------------------------------------------------- 9.8 kill -9 during a refresh


@pytest.fixture
def holding_fake() -> Iterator[tuple[FakeWhoop, str]]:
    """The fake WHOOP on a loopback port, in this process (the test waits on its rotation event)."""
    fake = create_fake_whoop(client_id="demo-client", client_secret="demo-secret", auto_approve=True)
    with ServerThread(fake) as server:
        yield fake, server.url


def start_worker(cache: Path, url: str, cwd: Path) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), str(cache), f"{url}/oauth/oauth2", f"{url}/developer"],
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert worker.stdout is not None and worker.stdin is not None
    assert worker.stdout.readline().strip() == "ready"
    worker.stdin.write("go\n")
    worker.stdin.flush()
    return worker


@pytest.fixture
def holding_fake_process() -> Iterator[FakeServer]:
    """The fake WHOOP in its own process: a connection it holds open can never leak into this one."""
    with running_fake_whoop("--auto-approve") as server:
        yield server


def wait_for_held_rotation(server: FakeServer, timeout: float = 30.0) -> None:
    """Block until the fake has rotated a token and is holding its answer back."""
    deadline = time.monotonic() + timeout
    while server.stats()["held_rotations"] < 1:
        assert time.monotonic() < deadline, "the worker never sent its refresh"
        time.sleep(0.05)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_kill_9_after_whoop_rotated_the_token_is_named_at_the_next_start_with_a_login_link(
    holding_fake_process: FakeServer, tmp_path: Path, clean_env: None
) -> None:
    url = holding_fake_process.url
    store = TokenStore(tmp_path / ".token_cache.json")
    minted = httpx.post(f"{url}/_fake/token", json={}, timeout=10).json()
    # Issued 3590 s ago: inside the refresh margin, so the worker refreshes at once.
    store.save(Token.from_response(minted, now=time.time() - 3590))
    before = store.path.read_bytes()
    httpx.post(f"{url}/_fake/faults", json={"hold_after_rotation": 1}, timeout=10).raise_for_status()

    worker = start_worker(store.path, url, tmp_path)
    try:
        wait_for_held_rotation(holding_fake_process)
        # WHOOP has rotated; the answer is still on its way. The marker says a refresh is in flight.
        assert store.marker_path.is_file()
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
        for pipe in (worker.stdin, worker.stdout, worker.stderr):
            if pipe is not None:
                pipe.close()
    assert worker.returncode == -signal.SIGKILL
    assert store.path.read_bytes() == before  # the rotated token never reached the disk: the login is lost
    assert holding_fake_process.stats()["held_rotations"] == 1

    # The next start (another process) says exactly what happened.
    again = start_worker(store.path, url, tmp_path)
    out, _ = again.communicate(timeout=60)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"] is False
    assert result["error"] == "TokenRefreshError"
    assert result["message"] == INTERRUPTED_REFRESH

    # The web app started on that file says it too, offers the login, and does not claim a login.
    settings = make_settings(
        tmp_path,
        WHOOP_API_BASE_URL=f"{url}/developer",
        WHOOP_OAUTH_BASE_URL=f"{url}/oauth/oauth2",
        WHOOP_SYNC_INTERVAL=0,
        WHOOP_REDIRECT_URI="http://localhost:3000/callback",
    )
    with TestClient(create_app(settings, demo=False), base_url="http://localhost:3000") as web:
        assert web.get("/healthz").json()["logged_in"] is False
        page = web.get("/dashboard", follow_redirects=False)
        assert page.status_code == 401
        assert "refresh of the WHOOP login was interrupted" in text_of(page.text)
        assert 'href="/login"' in page.text


@pytest.mark.anyio
async def test_a_refresh_that_completes_leaves_no_marker_and_writes_the_token_first(
    holding_fake: tuple[FakeWhoop, str], tmp_path: Path, clean_env: None
) -> None:
    fake, url = holding_fake
    settings = make_settings(
        tmp_path, WHOOP_API_BASE_URL=f"{url}/developer", WHOOP_OAUTH_BASE_URL=f"{url}/oauth/oauth2"
    )
    store = TokenStore(settings.whoop_token_cache)
    store.save(Token.from_response(fake.issue_token(), now=time.time() - 3590))
    async with httpx.AsyncClient(timeout=10) as http:
        manager = TokenManager(store, OAuthClient(http, settings))
        token = await manager.access_token()
    assert store.load() == manager.current()
    assert token == store.load().access_token
    assert not store.marker_path.exists()
    assert manager.status().logged_in


@pytest.mark.anyio
async def test_an_ordinary_rejected_refresh_is_not_called_interrupted(
    holding_fake: tuple[FakeWhoop, str], tmp_path: Path, clean_env: None
) -> None:
    _, url = holding_fake
    settings = make_settings(
        tmp_path, WHOOP_API_BASE_URL=f"{url}/developer", WHOOP_OAUTH_BASE_URL=f"{url}/oauth/oauth2"
    )
    store = TokenStore(settings.whoop_token_cache)
    store.save(a_token(expires_at=time.time() - 10))  # a refresh token the fake never issued
    async with httpx.AsyncClient(timeout=10) as http:
        manager = TokenManager(store, OAuthClient(http, settings))
        with pytest.raises(TokenRefreshError) as info:
            await manager.access_token()
    assert str(info.value) != INTERRUPTED_REFRESH
    assert not store.marker_path.exists()
