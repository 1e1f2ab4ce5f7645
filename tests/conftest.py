"""Shared fixtures for the whole suite.

- ``anyio_backend``: async tests (``@pytest.mark.anyio``) run on asyncio only.
- ``fake_now``: the fixed "now" of the fake WHOOP, 2026-11-20T15:00Z (deterministic data).
- ``fake``: an in-process ``FakeWhoop`` (ASGI app) with ``now=fake_now``, client ``demo-client`` /
  ``demo-secret`` and ``auto_approve=True`` (its /auth redirects straight back with a code).
  Tests tweak ``fake.faults`` and read ``fake.stats``.
- ``settings``: ``load_settings`` isolated from the developer's environment and ``.env``: token cache
  ``tmp_path/".token_cache.json"`` (not created), data dir ``tmp_path/"data"``, API base
  ``http://fake-whoop.local/developer``, OAuth base ``http://fake-whoop.local/oauth/oauth2``,
  demo-client credentials, WHOOP_DEMO off. Extend with ``settings.model_copy(update=...)``.
- ``fake_http``: an ``httpx.AsyncClient`` on ``ASGITransport(app=fake)`` with base URL
  ``http://fake-whoop.local`` (closed at teardown).
- ``logged_in``: a ``Token`` from ``fake.issue_token()`` (all scopes, refresh token, 3600 s) saved
  into ``settings.whoop_token_cache``; returns the Token.
- ``whoop``: a ``runtime.Whoop`` in real (non-demo) mode wired to ``fake`` through an ASGI transport,
  using the ``logged_in`` token cache; ``aclose()``d at teardown.
- ``service``: a ``WhoopService`` in real mode on ``fake`` (logged in), its clock pinned at ``fake_now``,
  with an empty SQLite store in ``tmp_path/"data"``; closed at teardown.
- ``postgres_server`` / ``redis_server`` (session): one throwaway real server each (``tests/helpers/
  servers.py``), on loopback in a temp dir, started on first use and stopped at the end of the session.
- ``postgres_url``: a fresh, empty database for one test (``postgresql+psycopg://…``), dropped after.
- ``redis_url``: ``redis://127.0.0.1:<port>/0``, emptied before the test.
  Without the server binaries these skip with the reason; ``scripts/test`` installs them, so CI runs them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.helpers.servers import (
    PostgresServer,
    RedisServer,
    missing_postgres,
    missing_redis,
    running_postgres,
    running_redis,
)
from whoopkit.config import Settings, load_settings

if TYPE_CHECKING:
    from whoopkit.fake_whoop import FakeWhoop
    from whoopkit.runtime import Whoop
    from whoopkit.service import WhoopService
    from whoopkit.tokens import Token

FAKE_HOST = "http://fake-whoop.local"
FAKE_NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
_ENV_NAMES = [field.alias for field in Settings.model_fields.values() if field.alias]


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio only."""
    return "asyncio"


@pytest.fixture
def fake_now() -> datetime:
    """The fake's fixed clock."""
    return FAKE_NOW


@pytest.fixture
def fake(fake_now: datetime) -> FakeWhoop:
    """An in-process fake WHOOP with deterministic data and auto-approving login."""
    from whoopkit.fake_whoop import create_fake_whoop

    return create_fake_whoop(
        client_id="demo-client", client_secret="demo-secret", auto_approve=True, now=fake_now
    )


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Remove every whoopkit environment variable for the test."""
    for name in _ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    yield


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for tests: tmp token cache and data dir, fake URLs, no .env (overrides use env names)."""
    values: dict[str, object] = {
        "_env_file": None,
        "WHOOP_CLIENT_ID": "demo-client",
        "WHOOP_CLIENT_SECRET": "demo-secret",
        "WHOOP_API_BASE_URL": f"{FAKE_HOST}/developer",
        "WHOOP_OAUTH_BASE_URL": f"{FAKE_HOST}/oauth/oauth2",
        "WHOOP_TOKEN_CACHE": tmp_path / ".token_cache.json",
        "WHOOP_DATA_DIR": tmp_path / "data",
        "WHOOP_DEMO": False,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(tmp_path: Path, clean_env: None) -> Settings:
    """Settings pointing at the fake, with a tmp token cache; independent of env and .env."""
    return make_settings(tmp_path)


@pytest.fixture
async def fake_http(fake: FakeWhoop) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests go to the in-process fake."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url=FAKE_HOST) as http:
        yield http


@pytest.fixture
def logged_in(fake: FakeWhoop, settings: Settings) -> Token:
    """A fresh token from the fake, saved into the settings' token cache."""
    from whoopkit.tokens import Token, TokenStore

    token = Token.from_response(fake.issue_token(), now=time.time())
    TokenStore(settings.whoop_token_cache).save(token)
    return token


@pytest.fixture
async def whoop(fake: FakeWhoop, settings: Settings, logged_in: Token) -> AsyncIterator[Whoop]:
    """The runtime wired to the fake (real mode), logged in."""
    from whoopkit.runtime import build_whoop

    runtime = build_whoop(settings, demo=False, fake=fake)
    try:
        yield runtime
    finally:
        await runtime.aclose()


@pytest.fixture
async def service(
    fake: FakeWhoop, settings: Settings, logged_in: Token, fake_now: datetime
) -> AsyncIterator[WhoopService]:
    """The data service on the fake (real mode, logged in, empty store), clock pinned at ``fake_now``."""
    from whoopkit.service import build_service

    svc = build_service(settings, demo=False, fake=fake, clock=lambda: fake_now)
    try:
        yield svc
    finally:
        await svc.aclose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster for the whole session."""
    if reason := missing_postgres():
        pytest.skip(reason)
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new empty PostgreSQL database, dropped after the test."""
    with postgres_server.fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A throwaway Redis (no persistence) for the whole session."""
    if reason := missing_redis():
        pytest.skip(reason)
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of the session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url
