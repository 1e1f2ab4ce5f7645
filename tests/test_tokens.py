"""The token cache file and the refresh logic (TokenStore, Token, TokenManager)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.conftest import make_settings
from tests.helpers.fake_server import running_fake_whoop
from tests.helpers.mini_oauth import MiniOAuth
from whoopkit.errors import NotLoggedInError, TokenFileError, TokenRefreshError, WhoopUnavailableError
from whoopkit.oauth import OAuthClient
from whoopkit.tokens import Token, TokenManager, TokenStore

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def a_token(**changes: object) -> Token:
    values: dict[str, object] = {
        "access_token": "at-secret-0001",
        "token_type": "bearer",
        "expires_in": 3600,
        "scope": "read:profile offline",
        "refresh_token": "rt-secret-0001",
        "expires_at": NOW + 3600,
    }
    values.update(changes)
    return Token.model_validate(values)


class Clock:
    """A settable epoch clock."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / ".token_cache.json")


@pytest.fixture
def server() -> MiniOAuth:
    return MiniOAuth()


@pytest.fixture
async def oauth(tmp_path: Path, server: MiniOAuth, clean_env: None) -> AsyncIterator[OAuthClient]:
    async with httpx.AsyncClient(transport=server.transport()) as http:
        yield OAuthClient(http, make_settings(tmp_path), clock=time.time)


def save_minted(store: TokenStore, server: MiniOAuth, *, expires_at: float, ttl: int = 3600) -> Token:
    token = Token.from_response(server.mint(ttl=ttl), now=expires_at - ttl)
    store.save(token)
    return token


# ---------------------------------------------------------------- Token


def test_repr_and_str_never_show_the_secrets() -> None:
    token = a_token()
    for text in (repr(token), str(token), f"{token}", repr([token])):
        assert "at-secret-0001" not in text
        assert "rt-secret-0001" not in text
    assert "***" in repr(token)


def test_a_token_response_expires_expires_in_seconds_after_it_was_received() -> None:
    token = Token.from_response(
        {"access_token": "a", "expires_in": 3600, "scope": "offline", "refresh_token": "r"}, now=NOW
    )
    assert token.expires_at == NOW + 3600
    assert token.scopes == frozenset({"offline"})


def test_the_refresh_margin_is_ten_percent_of_the_lifetime_capped_at_five_minutes() -> None:
    assert a_token(expires_in=60).refresh_margin == pytest.approx(6.0)
    assert a_token(expires_in=3600).refresh_margin == 300.0
    assert a_token(expires_in=86400).refresh_margin == 300.0


# ---------------------------------------------------------------- TokenStore.save


@posix_only
def test_save_writes_a_0600_file_that_loads_back_and_leaves_no_temp_files(store: TokenStore) -> None:
    old_umask = os.umask(0)
    try:
        store.save(a_token())
    finally:
        os.umask(old_umask)
    assert mode_of(store.path) == 0o600
    assert store.load() == a_token()
    assert sorted(p.name for p in store.path.parent.iterdir()) == [store.path.name]


@posix_only
def test_save_creates_the_temp_file_0600_in_the_same_directory_before_renaming(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[Path, int, bytes]] = []
    real_replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append((Path(src).parent, mode_of(Path(src)), Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    old_umask = os.umask(0)
    try:
        store.save(a_token())
    finally:
        os.umask(old_umask)
    assert len(seen) == 1
    parent, mode, content = seen[0]
    assert parent == store.path.parent
    assert mode == 0o600
    assert json.loads(content)["expires_at"] == NOW + 3600


@posix_only
def test_save_over_a_0644_file_leaves_it_0600(store: TokenStore) -> None:
    store.path.write_text("{}", encoding="utf-8")
    store.path.chmod(0o644)
    store.save(a_token())
    assert mode_of(store.path) == 0o600
    assert store.load().access_token == "at-secret-0001"


def test_a_failed_save_keeps_the_old_file_and_removes_the_temp_file(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(a_token())
    before = store.path.read_bytes()

    def broken_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(TokenFileError, match="disk full"):
        store.save(a_token(access_token="at-new"))
    assert store.path.read_bytes() == before
    assert sorted(p.name for p in store.path.parent.iterdir()) == [store.path.name]


def test_delete_removes_the_file_and_tolerates_a_missing_one(store: TokenStore) -> None:
    store.save(a_token())
    assert store.exists()
    store.delete()
    assert not store.exists()
    store.delete()


# ---------------------------------------------------------------- TokenStore.load


def test_a_missing_cache_means_not_logged_in(store: TokenStore) -> None:
    with pytest.raises(NotLoggedInError, match=r"log in\.$"):
        store.load()
    assert not store.path.exists()


CORRUPT = {
    "empty": b"",
    "whitespace": b"  \n",
    "truncated JSON": b'{"access_token": "at-secret-0001", "expires_in": 36',
    "a list instead of an object": b'["at-secret-0001"]',
    "a string": b'"at-secret-0001"',
    "wrong types": b'{"access_token": 12345, "expires_in": "soon", "refresh_token": "rt-secret-0001"}',
    "missing access_token": b'{"expires_in": 3600, "refresh_token": "rt-secret-0001", "expires_at": 1}',
    "empty access_token": b'{"access_token": "", "expires_in": 3600, "expires_at": 1}',
    "not UTF-8": b"\xff\xfe\x00at-secret-0001",
}


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_cache_raises_one_sentence_and_is_left_untouched(store: TokenStore, content: bytes) -> None:
    store.path.write_bytes(content)
    mtime = store.path.stat().st_mtime_ns
    with pytest.raises(NotLoggedInError) as info:
        store.load()
    message = str(info.value)
    assert message.startswith(f"The token cache {store.path} is corrupt (")
    assert message.endswith("log in again.")
    assert "\n" not in message
    assert message.count(". ") == 0
    assert "secret" not in message
    assert store.path.read_bytes() == content
    assert store.path.stat().st_mtime_ns == mtime


def test_a_file_without_expires_at_expires_expires_in_after_its_mtime(store: TokenStore) -> None:
    store.path.write_text(
        json.dumps({"access_token": "a", "expires_in": 3600, "scope": "offline", "refresh_token": "r"}),
        encoding="utf-8",
    )
    os.utime(store.path, (NOW, NOW))
    assert store.load().expires_at == pytest.approx(NOW + 3600)


def test_unknown_extra_fields_in_the_file_are_ignored(store: TokenStore) -> None:
    store.path.write_text(json.dumps({**a_token().model_dump(), "id_token": "x"}), encoding="utf-8")
    assert store.load() == a_token()


# ---------------------------------------------------------------- TokenStore.lock


def test_the_file_lock_excludes_a_second_holder_and_times_out_with_a_clear_error(store: TokenStore) -> None:
    with store.lock(timeout=1):
        other = TokenStore(store.path)
        with pytest.raises(WhoopUnavailableError, match="token lock"), other.lock(timeout=0.05):
            pass
    with TokenStore(store.path).lock(timeout=1):
        pass


# ---------------------------------------------------------------- TokenManager


async def test_a_fresh_token_is_returned_without_refreshing(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient
) -> None:
    token = save_minted(store, server, expires_at=NOW + 3000)
    manager = TokenManager(store, oauth, clock=Clock())
    assert await manager.access_token() == token.access_token
    assert server.grants["refresh_token"] == 0


@pytest.mark.parametrize(
    ("ttl", "seconds_left", "refreshes"),
    [(60, 50, 0), (60, 7, 0), (60, 5, 1), (60, -10, 1), (3600, 301, 0), (3600, 299, 1), (3600, 10, 1)],
)
async def test_refresh_happens_only_within_the_margin_before_expiry(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient, ttl: int, seconds_left: float, refreshes: int
) -> None:
    token = save_minted(store, server, expires_at=NOW + seconds_left, ttl=ttl)
    manager = TokenManager(store, oauth, clock=Clock())
    got = await manager.access_token()
    assert server.grants["refresh_token"] == refreshes
    assert (got != token.access_token) == bool(refreshes)
    assert store.load().access_token == got


async def test_a_refresh_sends_the_refresh_token_and_saves_the_rotated_token(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient
) -> None:
    old = save_minted(store, server, expires_at=time.time() - 1)
    manager = TokenManager(store, oauth)
    new_access = await manager.access_token()
    saved = store.load()
    assert saved.access_token == new_access != old.access_token
    assert saved.refresh_token not in (None, old.refresh_token)
    assert saved.expires_at == pytest.approx(time.time() + 3600, abs=5)
    assert manager.refreshes == 1


async def test_concurrent_callers_in_one_process_share_one_refresh(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient
) -> None:
    save_minted(store, server, expires_at=time.time() - 1)
    managers = [TokenManager(store, oauth), TokenManager(TokenStore(store.path), oauth)]
    results: list[str] = []

    async def call(manager: TokenManager) -> None:
        results.append(await manager.access_token())

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(call, managers[i % 2])
    assert server.grants["refresh_token"] == 1
    assert server.invalid_grants == 0
    assert len(set(results)) == 1
    assert results[0] == store.load().access_token


async def test_a_token_rotated_by_another_process_while_waiting_for_the_lock_is_used_as_is(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient
) -> None:
    save_minted(store, server, expires_at=time.time() + 1)
    manager = TokenManager(store, oauth)
    asked_for_lock = anyio.Event()
    real_file_lock = store.file_lock

    def spying_file_lock(timeout: float = 30.0):  # type: ignore[no-untyped-def]
        asked_for_lock.set()
        return real_file_lock(timeout)

    other_process = TokenStore(store.path)
    held = other_process.file_lock(5)
    held.acquire()
    store.file_lock = spying_file_lock  # type: ignore[method-assign]
    try:
        async with anyio.create_task_group() as tg:
            result: list[str] = []

            async def call() -> None:
                result.append(await manager.access_token())

            tg.start_soon(call)
            with anyio.fail_after(5):
                await asked_for_lock.wait()
            # The "other process" refreshes while our manager waits for the lock.
            rotated = Token.from_response(server.mint(), now=time.time())
            other_process.save(rotated)
            held.release()
    finally:
        if held.is_locked:
            held.release()
    assert result == [rotated.access_token]
    assert server.grants["refresh_token"] == 0


async def test_after_a_401_a_token_already_rotated_elsewhere_is_used_without_refreshing(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient
) -> None:
    rotated = save_minted(store, server, expires_at=time.time() + 3000)
    manager = TokenManager(store, oauth)
    assert await manager.refresh_after_unauthorized("at-the-old-one") == rotated.access_token
    assert server.grants["refresh_token"] == 0


async def test_after_a_401_for_the_stored_token_it_is_refreshed(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient
) -> None:
    current = save_minted(store, server, expires_at=time.time() + 3000)
    manager = TokenManager(store, oauth)
    new = await manager.refresh_after_unauthorized(current.access_token)
    assert new != current.access_token
    assert server.grants["refresh_token"] == 1
    assert store.load().access_token == new


async def test_invalid_grant_raises_token_refresh_error_and_keeps_the_file(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient
) -> None:
    save_minted(store, server, expires_at=time.time() - 1)
    server.refresh_tokens.clear()  # revoked, or rotated by someone we do not know about
    before = store.path.read_bytes()
    manager = TokenManager(store, oauth)
    with pytest.raises(TokenRefreshError) as info:
        await manager.access_token()
    assert str(info.value) == (
        "WHOOP rejected the saved login (it was revoked or used elsewhere): log in again."
    )
    assert store.path.read_bytes() == before


@pytest.mark.parametrize(
    "fault",
    [httpx.Response(503, text="upstream down"), httpx.Response(500), httpx.ConnectError("refused")],
    ids=["503", "500", "connect error"],
)
async def test_an_outage_during_refresh_raises_unavailable_and_keeps_the_token(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient, fault: httpx.Response | Exception
) -> None:
    old = save_minted(store, server, expires_at=time.time() - 1)
    before = store.path.read_bytes()
    server.fail_next(fault)
    manager = TokenManager(store, oauth)
    with pytest.raises(WhoopUnavailableError):
        await manager.access_token()
    assert store.path.read_bytes() == before
    # The old refresh token still works once WHOOP is back.
    assert await manager.access_token() != old.access_token


async def test_an_expired_token_without_a_refresh_token_asks_to_log_in_again_with_offline(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient
) -> None:
    store.save(Token.from_response(server.mint(refresh=False, scope="read:profile"), now=NOW - 4000))
    manager = TokenManager(store, oauth, clock=Clock())
    with pytest.raises(TokenRefreshError, match="offline scope") as info:
        await manager.access_token()
    assert "log in again" in str(info.value)
    assert store.exists()


async def test_a_token_without_refresh_token_is_used_until_it_actually_expires(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient
) -> None:
    token = Token.from_response(server.mint(refresh=False), now=NOW - 3500)
    store.save(token)
    manager = TokenManager(store, oauth, clock=Clock())
    assert await manager.access_token() == token.access_token


async def test_access_token_without_a_cache_raises_not_logged_in(
    store: TokenStore, oauth: OAuthClient
) -> None:
    with pytest.raises(NotLoggedInError):
        await TokenManager(store, oauth).access_token()


async def test_a_held_lock_makes_refresh_fail_with_unavailable_after_the_timeout(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient
) -> None:
    save_minted(store, server, expires_at=time.time() - 1)
    manager = TokenManager(store, oauth, lock_timeout=0.1)
    with TokenStore(store.path).lock(timeout=1), pytest.raises(WhoopUnavailableError, match="token lock"):
        await manager.access_token()
    assert server.grants["refresh_token"] == 0


async def test_tokens_never_appear_in_logs(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    old = save_minted(store, server, expires_at=time.time() - 1)
    manager = TokenManager(store, oauth)
    new = await manager.access_token()
    server.refresh_tokens.clear()
    with pytest.raises(TokenRefreshError):
        await manager.refresh_after_unauthorized(new)  # invalid_grant
    assert "refreshed" in caplog.text
    assert "invalid_grant" in caplog.text
    for secret in (old.access_token, old.refresh_token, new, store.load().refresh_token, "demo-secret"):
        assert secret
        assert secret not in caplog.text


async def test_tokens_never_appear_in_logs_on_failure(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    old = save_minted(store, server, expires_at=time.time() - 1)
    server.refresh_tokens.clear()
    with pytest.raises(TokenRefreshError) as info:
        await TokenManager(store, oauth).access_token()
    for text in (caplog.text, str(info.value)):
        assert old.access_token not in text
        assert str(old.refresh_token) not in text
        assert "demo-secret" not in text


async def test_status_reports_expiry_scopes_and_missing_scopes_without_secrets(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient
) -> None:
    store.save(a_token(expires_at=NOW + 1200, scope="read:profile read:cycles offline"))
    status = TokenManager(store, oauth, clock=Clock()).status()
    assert status.logged_in
    assert status.seconds_left == 1200
    assert status.expires_at is not None and status.expires_at.timestamp() == NOW + 1200
    assert status.has_offline_scope
    assert "read:recovery" in status.missing_scopes
    assert "read:profile" not in status.missing_scopes
    assert status.path == store.path
    assert "secret" not in status.model_dump_json()


async def test_status_of_a_corrupt_cache_is_logged_out_with_the_reason(
    store: TokenStore, oauth: OAuthClient
) -> None:
    store.path.write_text("{", encoding="utf-8")
    status = TokenManager(store, oauth).status()
    assert not status.logged_in
    assert status.error is not None and "corrupt" in status.error


async def test_status_of_an_expired_token_without_refresh_token_is_logged_out(
    store: TokenStore, oauth: OAuthClient
) -> None:
    store.save(a_token(refresh_token=None, expires_at=NOW - 1, scope="read:profile"))
    status = TokenManager(store, oauth, clock=Clock()).status()
    assert not status.logged_in
    assert status.expired
    assert not status.has_offline_scope


def test_a_lock_held_by_a_thread_blocks_another_thread_until_released(store: TokenStore) -> None:
    order: list[str] = []
    entered = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with store.lock(timeout=5):
            order.append("holder in")
            entered.set()
            release.wait(5)
            order.append("holder out")

    thread = threading.Thread(target=holder)
    thread.start()
    assert entered.wait(5)
    waiter_done = threading.Event()

    def waiter(after: Callable[[], None]) -> None:
        with TokenStore(store.path).lock(timeout=5):
            order.append("waiter in")
        after()

    second = threading.Thread(target=waiter, args=(waiter_done.set,))
    second.start()
    release.set()
    thread.join(5)
    assert waiter_done.wait(5)
    second.join(5)
    assert order == ["holder in", "holder out", "waiter in"]


# ---------------------------------------------------------------- two OS processes, one refresh

WORKER = Path(__file__).resolve().parent / "helpers" / "refresh_worker.py"
PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fake_server() -> Iterator[str]:
    """The fake WHOOP as a real HTTP server in its own process; yields its base URL."""
    with running_fake_whoop("--host", "127.0.0.1") as server:
        yield server.url


@pytest.mark.slow
def test_two_processes_needing_a_refresh_at_the_same_moment_cause_exactly_one_refresh(
    fake_server: str, tmp_path: Path
) -> None:
    assert httpx.post(f"{fake_server}/_fake/reset", timeout=5).status_code in (200, 204)
    minted = httpx.post(f"{fake_server}/_fake/token", json={}, timeout=5).json()
    # Issued 3590 s ago: inside the 300 s margin, so both workers want to refresh.
    store = TokenStore(tmp_path / ".token_cache.json")
    store.save(Token.from_response(minted, now=time.time() - 3590))
    args = [str(store.path), f"{fake_server}/oauth/oauth2", f"{fake_server}/developer"]
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:  # the barrier: release both at once
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=60) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert all(r["ok"] for r in results), results
    stats = httpx.get(f"{fake_server}/_fake/stats", timeout=5).json()
    assert stats["token_grants"].get("refresh_token", 0) == 1
    assert stats["invalid_grants"] == 0
    assert sorted(r["refreshed"] for r in results) == [0, 1]
    final = store.load()
    assert final.access_token != minted["access_token"]
    digest = hashlib.sha256(final.access_token.encode("utf-8")).hexdigest()
    assert [r["sha256"] for r in results] == [digest, digest]
    profile = httpx.get(
        f"{fake_server}/developer/v2/user/profile/basic",
        headers={"Authorization": f"Bearer {final.access_token}"},
        timeout=5,
    )
    assert profile.status_code == 200
    if sys.platform != "win32":
        assert mode_of(store.path) == 0o600


async def test_a_rejected_token_without_a_refresh_token_asks_to_log_in_again(
    store: TokenStore, server: MiniOAuth, oauth: OAuthClient
) -> None:
    token = Token.from_response(server.mint(refresh=False), now=NOW)
    store.save(token)
    manager = TokenManager(store, oauth, clock=Clock())
    with pytest.raises(TokenRefreshError, match=r"rejected by WHOOP.*no refresh token"):
        await manager.refresh_after_unauthorized(token.access_token)
    assert store.load() == token


def test_delete_waits_for_a_refresh_in_progress_elsewhere_then_removes_the_new_token(
    store: TokenStore,
) -> None:
    store.save(a_token())
    other = TokenStore(store.path)
    lock = other.file_lock(5)
    lock.acquire()
    deleted = threading.Event()
    thread = threading.Thread(target=lambda: (store.delete(), deleted.set()))
    thread.start()
    try:
        assert not deleted.wait(0.2)  # blocked by the "refreshing" process
        other.save(a_token(access_token="at-rotated"))
    finally:
        lock.release()
    assert deleted.wait(5)
    thread.join(5)
    assert not store.exists()


def test_delete_still_removes_the_file_when_the_lock_is_stuck(store: TokenStore) -> None:
    store.save(a_token())
    with TokenStore(store.path).lock(timeout=1):
        store.delete(lock_timeout=0.05)
    assert not store.exists()
