"""Hosted tokens on real PostgreSQL: one refresh grant per expiry across processes, encrypted at rest.

The race test runs the fake WHOOP as its own process and six OS processes (4 "workers", 2 "web") of
``tests/helpers/hosted_refresh_worker.py`` released together on one expired user.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import make_url, text

from tests.helpers.fake_server import FakeServer, running_fake_whoop
from tests.helpers.servers import postgres_bin_dir
from whoopkit.errors import TokenRefreshError, WhoopUnavailableError
from whoopkit.hosted_tokens import HostedTokenStore
from whoopkit.store import Store
from whoopkit.token_crypto import TokenCipher, generate_key
from whoopkit.tokens import Token

WORKER = Path(__file__).resolve().parents[1] / "helpers" / "hosted_refresh_worker.py"
ROOT = Path(__file__).resolve().parents[2]
USER = 10_042
ROLES = ("worker", "worker", "worker", "worker", "web", "web")
KEY = generate_key()


def sha(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@pytest.fixture
def migrated(postgres_url: str) -> str:
    """A PostgreSQL database at the head revision (so ``user_tokens`` exists)."""
    Store.open(postgres_url).close()
    return postgres_url


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    """The fake WHOOP in its own process; each token request takes 300 ms, so the racers overlap."""
    with running_fake_whoop("--latency-ms", "300") as server:
        yield server


def expired_token(fake: FakeServer) -> Token:
    """A real token and refresh token from the fake, stored as if it expired a second ago."""
    answer = httpx.post(f"{fake.url}/_fake/token", json={}, timeout=10)
    answer.raise_for_status()
    token = Token.from_response(answer.json(), now=time.time())
    assert token.refresh_token
    return token.model_copy(update={"expires_at": time.time() - 1})


def raw_rows(url: str) -> list[bytes]:
    store = HostedTokenStore(url, TokenCipher(KEY))
    try:
        with store.engine.connect() as conn:
            return [bytes(r[0]) for r in conn.execute(text("SELECT blob FROM user_tokens"))]
    finally:
        store.engine.dispose()


def test_six_processes_meet_one_expired_user_and_send_exactly_one_refresh_grant(
    migrated: str, fake: FakeServer, tmp_path: Path
) -> None:
    cipher = TokenCipher(KEY)
    store = HostedTokenStore(migrated, cipher)
    old = expired_token(fake)
    store.save(USER, old)
    assert store.version(USER) == 1
    before = fake.stats()

    env = {**os.environ, "WHOOP_TOKEN_KEY": KEY}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), migrated, f"{fake.url}/oauth/oauth2", str(USER), role],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ROLES
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line == "ready", (line, proc.stderr.read() if proc.stderr else "")
        for proc in procs:  # the start signal, to all six as close together as the OS allows
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    results = [json.loads(out.strip().splitlines()[-1]) for out, _err in outputs]
    assert all(r["ok"] for r in results), results
    after = fake.stats()
    grants = after["token_grants"].get("refresh_token", 0) - before["token_grants"].get("refresh_token", 0)
    assert grants == 1
    assert after["invalid_grants"] - before["invalid_grants"] == 0
    assert sum(r["refreshed"] for r in results) == 1

    new = store.load(USER)
    assert new is not None
    assert new.access_token != old.access_token and new.refresh_token != old.refresh_token
    assert {r["sha256"] for r in results} == {sha(new.access_token)}
    assert store.version(USER) == 2

    secrets = [old.access_token, old.refresh_token, new.access_token, new.refresh_token]
    for blob in raw_rows(migrated):
        for secret in secrets:
            assert secret is not None and secret.encode() not in blob
    bin_dir = postgres_bin_dir()
    if bin_dir is not None and (bin_dir / "pg_dump").exists():
        url = make_url(migrated)
        dump = subprocess.run(
            [
                *(
                    str(bin_dir / "pg_dump"),
                    "-h",
                    str(url.host),
                    "-p",
                    str(url.port),
                    "-U",
                    str(url.username),
                ),
                *("--data-only", "-t", "user_tokens", str(url.database)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert f"{USER}\t" in dump  # the row is in the dump, only its secrets are not
        for secret in secrets:
            assert secret is not None and secret not in dump
    store.engine.dispose()


class Refresher:
    """A stand-in for the refresh grant: counts calls, can refuse, can hang."""

    def __init__(self, *, refuse: bool = False, hang: bool = False) -> None:
        self.calls = 0
        self.refuse = refuse
        self.hang = hang

    async def __call__(self, token: Token) -> Token:
        self.calls += 1
        await anyio.sleep(0.2)
        if self.refuse:
            raise TokenRefreshError("refused", code="invalid_grant")
        if self.hang:
            await anyio.sleep(3600)
        return Token(
            access_token=f"new-access-{self.calls}",
            expires_in=3600,
            refresh_token=f"new-refresh-{self.calls}",
            expires_at=time.time() + 3600,
        )


def stale() -> Token:
    return Token(
        access_token="old-access", expires_in=3600, refresh_token="old-refresh", expires_at=time.time() - 1
    )


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_concurrent_callers_with_separate_engines_refresh_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "postgres":
        url = request.getfixturevalue("migrated")
    else:
        url = f"sqlite:///{tmp_path / 'h.db'}"
        Store.open(url).close()
    stores = [HostedTokenStore(url, TokenCipher(KEY)) for _ in range(4)]
    stores[0].save(USER, stale())
    refresh = Refresher()
    got: list[str] = []

    async def one(store: HostedTokenStore) -> None:
        got.append((await store.fresh_token(USER, refresh)).access_token)

    async def race() -> None:
        async with anyio.create_task_group() as tg:
            for store in stores:
                tg.start_soon(one, store)

    anyio.run(race)
    assert refresh.calls == 1
    assert got == ["new-access-1"] * 4
    assert stores[0].version(USER) == 2
    for store in stores:
        store.engine.dispose()


def test_a_refused_refresh_keeps_the_row_and_raises(migrated: str) -> None:
    store = HostedTokenStore(migrated, TokenCipher(KEY))
    store.save(USER, stale())
    with pytest.raises(TokenRefreshError) as caught:
        anyio.run(store.fresh_token, USER, Refresher(refuse=True))
    assert caught.value.code == "invalid_grant"
    kept = store.load(USER)
    assert kept is not None and kept.refresh_token == "old-refresh"
    assert store.version(USER) == 1
    store.engine.dispose()


def test_a_hung_refresh_times_out_and_a_cancelled_one_releases_the_lock(migrated: str) -> None:
    store = HostedTokenStore(migrated, TokenCipher(KEY), refresh_timeout=0.5, lock_timeout=2)
    store.save(USER, stale())
    with pytest.raises(WhoopUnavailableError):
        anyio.run(store.fresh_token, USER, Refresher(hang=True))

    async def cancelled() -> None:
        with anyio.move_on_after(0.1):
            await store.fresh_token(USER, Refresher(hang=True))

    store.refresh_timeout = 30
    anyio.run(cancelled)
    # Both left the lock free: a new caller gets it at once and refreshes.
    refresh = Refresher()
    assert anyio.run(store.fresh_token, USER, refresh).access_token == "new-access-1"
    assert refresh.calls == 1 and store.version(USER) == 2
    store.engine.dispose()
