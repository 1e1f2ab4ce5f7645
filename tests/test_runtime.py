"""runtime: demo/real decision, wiring, and the demo login against the embedded fake."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from whoopkit.config import PROJECT_ROOT, Settings
from whoopkit.errors import ConfigError
from whoopkit.runtime import (
    DEMO_API_BASE_URL,
    DEMO_OAUTH_BASE_URL,
    Whoop,
    build_whoop,
    demo_login,
    is_demo,
)
from whoopkit.tokens import Token, TokenStore

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("clean_env")]

SENTINEL = b'{"access_token": "the-real-users-token", "expires_in": 3600, "expires_at": 4000000000}'


@pytest.fixture
async def demo_whoop(settings: Settings) -> AsyncIterator[Whoop]:
    runtime = build_whoop(settings, demo=True)
    try:
        yield runtime
    finally:
        await runtime.aclose()


# ---------------------------------------------------------------- is_demo


async def test_without_credentials_it_is_demo(tmp_path: Path) -> None:
    assert is_demo(make_settings(tmp_path, WHOOP_CLIENT_ID="", WHOOP_CLIENT_SECRET=""))


async def test_with_credentials_it_is_real(tmp_path: Path) -> None:
    assert not is_demo(make_settings(tmp_path))


async def test_whoop_demo_1_makes_it_demo_even_with_credentials(tmp_path: Path) -> None:
    assert is_demo(make_settings(tmp_path, WHOOP_DEMO="1"))


@pytest.mark.parametrize(
    "overrides", [{"WHOOP_DEMO": "1"}, {"WHOOP_CLIENT_ID": "", "WHOOP_CLIENT_SECRET": ""}]
)
async def test_an_existing_real_token_cache_always_wins(tmp_path: Path, overrides: dict[str, str]) -> None:
    settings = make_settings(tmp_path, **overrides)
    settings.whoop_token_cache.write_bytes(SENTINEL)
    assert not is_demo(settings)


# ---------------------------------------------------------------- demo wiring


async def test_demo_mode_points_at_the_fake_with_demo_credentials_and_its_own_token_file(
    demo_whoop: Whoop, settings: Settings
) -> None:
    assert demo_whoop.demo
    assert demo_whoop.fake is not None
    assert demo_whoop.settings.whoop_api_base_url == DEMO_API_BASE_URL
    assert demo_whoop.settings.whoop_oauth_base_url == DEMO_OAUTH_BASE_URL
    assert demo_whoop.settings.whoop_client_id == "demo-client"
    assert demo_whoop.settings.client_secret == "demo-secret"
    demo_file = settings.whoop_data_dir / "demo_token.json"
    assert demo_whoop.store.path == demo_file
    assert demo_whoop.settings.whoop_token_cache == demo_file
    assert demo_whoop.store.path != settings.whoop_token_cache
    assert settings.whoop_data_dir.is_dir()
    if sys.platform != "win32":
        assert stat.S_IMODE(settings.whoop_data_dir.stat().st_mode) == 0o700


async def test_demo_login_logs_in_end_to_end_and_the_client_reads_data(demo_whoop: Whoop) -> None:
    assert not demo_whoop.store.exists()
    await demo_login(demo_whoop)
    token = demo_whoop.store.load()
    assert token.refresh_token
    assert "offline" in token.scopes
    profile = await demo_whoop.client.get_profile()
    assert profile.user_id
    assert demo_whoop.tokens.status().logged_in
    assert demo_whoop.fake is not None
    assert demo_whoop.fake.stats.token_grants["authorization_code"] == 1


async def test_demo_login_is_skipped_while_the_stored_demo_token_works(demo_whoop: Whoop) -> None:
    await demo_login(demo_whoop)
    saved = demo_whoop.store.path.read_bytes()
    await demo_login(demo_whoop)
    assert demo_whoop.store.path.read_bytes() == saved
    assert demo_whoop.fake is not None
    assert demo_whoop.fake.stats.token_grants["authorization_code"] == 1


async def test_a_demo_token_from_another_process_keeps_working_without_a_new_login(
    settings: Settings,
) -> None:
    first = build_whoop(settings, demo=True)
    try:
        await demo_login(first)
        old = first.store.load()
    finally:
        await first.aclose()
    second = build_whoop(settings, demo=True)  # a new process: a new fake that never saw that token
    try:
        await demo_login(second)
        assert second.store.load() == old
        assert (await second.client.get_profile()).user_id
        assert second.fake is not None
        assert second.fake.stats.token_grants["authorization_code"] == 0
    finally:
        await second.aclose()


async def test_an_unsigned_demo_token_of_an_older_whoopkit_is_replaced_by_a_new_login(
    settings: Settings,
) -> None:
    from whoopkit.fake_whoop import create_fake_whoop

    old_fake = create_fake_whoop(auto_approve=True)  # an older whoopkit: its fake signed nothing
    first = build_whoop(settings, demo=True, fake=old_fake)
    try:
        await demo_login(first)
        old = first.store.load()
    finally:
        await first.aclose()
    second = build_whoop(settings, demo=True)
    try:
        await demo_login(second)
        assert second.store.load().access_token != old.access_token
        assert (await second.client.get_profile()).user_id
        assert second.tokens.status().logged_in
    finally:
        await second.aclose()


async def test_the_demo_never_reads_or_writes_the_real_token_cache(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    touched: list[Path] = []
    for name in ("load", "save", "delete", "exists", "file_lock"):
        original = getattr(TokenStore, name)

        def spy(self: TokenStore, *args: object, _original: Any = original, **kwargs: object) -> Any:
            touched.append(self.path)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(TokenStore, name, spy)
    real = settings.whoop_token_cache
    real.write_bytes(SENTINEL)
    real.chmod(0o600)
    before = (real.read_bytes(), real.stat().st_mtime_ns)
    whoop = build_whoop(settings, demo=True)
    try:
        await demo_login(whoop)
        await whoop.client.get_profile()
        await whoop.tokens.force_refresh()
        await whoop.client.get_profile()
        whoop.store.delete()
    finally:
        await whoop.aclose()
    assert (real.read_bytes(), real.stat().st_mtime_ns) == before
    assert not real.with_name(real.name + ".lock").exists()
    assert touched
    assert real not in touched


async def test_the_demo_does_not_create_a_real_token_cache(settings: Settings) -> None:
    whoop = build_whoop(settings, demo=True)
    try:
        await demo_login(whoop)
        await whoop.tokens.force_refresh()
    finally:
        await whoop.aclose()
    assert not settings.whoop_token_cache.exists()
    assert sorted(p.name for p in settings.whoop_token_cache.parent.iterdir()) == ["data"]


async def test_demo_login_refuses_to_run_in_real_mode(whoop: Whoop) -> None:
    with pytest.raises(ConfigError, match="demo mode"):
        await demo_login(whoop)


# ---------------------------------------------------------------- real wiring


async def test_real_mode_uses_the_settings_urls_and_the_real_token_cache(
    whoop: Whoop, settings: Settings
) -> None:
    assert not whoop.demo
    assert whoop.settings == settings
    assert whoop.store.path == settings.whoop_token_cache
    assert (await whoop.client.get_profile()).user_id


async def test_real_mode_sends_our_user_agent_to_the_settings_base_url(
    settings: Settings, logged_in: Token
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"user_id": 1, "email": "a@example.com", "first_name": "A", "last_name": "B"}
        )

    whoop = build_whoop(settings, demo=False, transport=httpx.MockTransport(handler))
    try:
        await whoop.client.get_profile()
    finally:
        await whoop.aclose()
    assert str(seen[0].url) == "http://fake-whoop.local/developer/v2/user/profile/basic"
    assert seen[0].headers["user-agent"].startswith("whoopkit/0.1")
    assert seen[0].headers["authorization"] == f"Bearer {logged_in.access_token}"
    assert whoop.http.timeout.read == settings.whoop_http_timeout


async def test_a_rotated_token_is_refreshed_transparently_by_the_client(
    whoop: Whoop, logged_in: Token
) -> None:
    assert whoop.fake is not None
    whoop.fake.issue_token()
    # Make the saved token look almost expired: the next call refreshes it first.
    whoop.store.save(logged_in.model_copy(update={"expires_at": logged_in.expires_at - 3590}))
    await whoop.client.get_profile()
    assert whoop.fake.stats.token_grants["refresh_token"] == 1
    assert whoop.store.load().access_token != logged_in.access_token


def test_importing_the_runtime_pulls_in_no_web_or_llm_or_fake_modules() -> None:
    code = (
        "import json, sys, whoopkit.runtime; "
        "print(json.dumps([m for m in ('fastapi', 'jinja2', 'ollama', 'whoopkit.fake_whoop', 'uvicorn') "
        "if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == []
