"""Freshness, offline answers, the user's "today", login advice and the background warm-up."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.conftest import make_settings
from tests.mcp_server.conftest import text_of
from whoopkit.config import Settings
from whoopkit.mcp_server import create_server

pytestmark = pytest.mark.anyio

# Outside the fresh window on every read, so every tool call would refresh from WHOOP if it could.
ALWAYS_REFRESH = {"whoop_fresh_seconds": 0.0}
# Auth status reads nothing from WHOOP; profile and body are refreshed at most daily, so not yet due.
NOT_DUE = {"get_auth_status", "get_user_profile", "get_body_measurements"}


@pytest.fixture
async def eager_service(
    settings: Settings, fake: Any, fake_now: datetime, logged_in: Any
) -> AsyncIterator[Any]:
    """A service that wants to refresh on every read (WHOOP_FRESH_SECONDS=0), without client retries."""
    from whoopkit.service import build_service

    service = build_service(
        settings.model_copy(update=ALWAYS_REFRESH), demo=False, fake=fake, clock=lambda: fake_now
    )
    service.whoop.client.max_retries = 0  # the retries themselves are the client's tests
    try:
        yield service
    finally:
        await service.aclose()


async def test_with_whoop_down_after_a_sync_every_tool_answers_from_the_store_saying_how_old(
    settings: Settings, eager_service: Any, fake: Any, fake_now: datetime
) -> None:
    await eager_service.sync(days=60)
    fake.set_down(True)
    async with Client(create_server(settings, eager_service)) as client:
        for tool in (await client.list_tools()).tools:
            with anyio.fail_after(10):
                result = await client.call_tool(tool.name, {})
            assert not result.is_error, f"{tool.name}: {text_of(result)}"
            out = result.structured_content
            assert out["as_of"] == fake_now.isoformat(timespec="seconds"), tool.name
            if tool.name in NOT_DUE:
                assert out["stale"] is False, tool.name
                continue
            assert out["stale"] is True, tool.name
            assert "stored data last synced 0 s ago" in out["summary"], tool.name
            assert "WHOOP is unreachable right now" in out["summary"], tool.name


async def test_a_stale_answer_arrives_within_the_request_deadline_even_while_the_client_retries(
    settings: Settings, fake: Any, fake_now: datetime, logged_in: Any
) -> None:
    from whoopkit.service import build_service

    bounded = settings.model_copy(update={**ALWAYS_REFRESH, "whoop_request_deadline": 1.0})
    service = build_service(bounded, demo=False, fake=fake, clock=lambda: fake_now)
    try:
        await service.sync(days=14)
        fake.set_down(True)
        async with Client(create_server(bounded, service)) as client:
            started = time.perf_counter()
            result = await client.call_tool("get_health_summary", {})
            elapsed = time.perf_counter() - started
        assert not result.is_error and result.structured_content["stale"] is True
        assert elapsed < 3.0
    finally:
        await service.aclose()


async def test_every_answer_carries_as_of_the_last_sync_and_stale_false_when_fresh(
    client: Client, fake_now: datetime
) -> None:
    for name in ("get_health_summary", "get_trends", "get_history", "get_recovery_score"):
        out = (await client.call_tool(name, {})).structured_content
        assert out["as_of"] == fake_now.isoformat(timespec="seconds"), name
        assert out["stale"] is False, name
        assert "stored data" not in out["summary"], name


@pytest.mark.parametrize("tool", ["get_health_summary", "get_trends", "get_recent_cycles"])
async def test_with_whoop_down_and_an_empty_store_a_tool_says_whoop_is_not_answering(
    client: Client, fake: Any, service: Any, tool: str
) -> None:
    service.whoop.client.max_retries = 0
    fake.set_down(True)
    result = await client.call_tool(tool, {})
    assert result.is_error
    assert "WHOOP is not answering" in text_of(result) and "Traceback" not in text_of(result)


async def test_today_is_the_users_local_date_not_the_utc_one(settings: Settings, logged_in: Any) -> None:
    from whoopkit.fake_whoop import create_fake_whoop
    from whoopkit.service import build_service
    from whoopkit.tokens import Token, TokenStore

    # 02:30 UTC on the 21st is 21:30 on the 20th for this member (the fake's home zone is UTC-5).
    evening = datetime(2026, 11, 21, 2, 30, tzinfo=UTC)
    fake = create_fake_whoop(client_id="demo-client", client_secret="demo-secret", now=evening)
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    service = build_service(settings, demo=False, fake=fake, clock=lambda: evening)
    try:
        async with Client(create_server(settings, service)) as client:
            weekly = (await client.call_tool("get_weekly_report", {})).structured_content
            history = (await client.call_tool("get_history", {"days": 1})).structured_content
            ready = (await client.call_tool("should_i_train_today", {})).structured_content
    finally:
        await service.aclose()
    assert weekly["report"]["week_end"] == "2026-11-20"
    assert history["start"] == history["end"] == "2026-11-20"
    assert [row["date"] for row in history["days"]] == ["2026-11-20"]
    assert ready["today"]["date"] == "2026-11-20"


async def test_login_advice_uses_the_configured_port_and_a_web_app_command_that_works(
    tmp_path: Path, clean_env: None, fake: Any, fake_now: datetime
) -> None:
    from whoopkit.service import build_service

    elsewhere = make_settings(tmp_path, PORT=8123)
    service = build_service(elsewhere, demo=False, fake=fake, clock=lambda: fake_now)
    try:
        async with Client(create_server(elsewhere, service)) as client:
            failed = await client.call_tool("get_health_summary", {})
            status = (await client.call_tool("get_auth_status", {})).structured_content
    finally:
        await service.aclose()
    assert failed.is_error
    for text in (text_of(failed), status["summary"]):
        assert "http://localhost:8123/login" in text and "localhost:3000" not in text
        assert f"{sys.executable} whoop_simple.py" in text
    assert status["login_url"] == "http://localhost:8123/login"
    assert status["start_web_app"].endswith(f"{sys.executable} whoop_simple.py")


async def test_in_demo_mode_auth_status_names_the_simulated_whoop_not_a_real_connection(
    tmp_path: Path, clean_env: None
) -> None:
    demo = make_settings(tmp_path, WHOOP_DEMO=True, WHOOP_CLIENT_ID="", WHOOP_CLIENT_SECRET="")
    async with Client(create_server(demo)) as client:
        status = (await client.call_tool("get_auth_status", {})).structured_content
    assert "Connected to WHOOP" not in status["summary"]
    assert "simulated demo WHOOP" in status["summary"] and status["demo"] is True


async def test_the_service_is_built_in_the_background_right_after_initialize(
    tmp_path: Path, clean_env: None
) -> None:
    demo = make_settings(tmp_path, WHOOP_DEMO=True, WHOOP_CLIENT_ID="", WHOOP_CLIENT_SECRET="")
    server = create_server(demo)
    assert server.state.built is None and not server.state.building
    async with Client(server, mode="legacy") as client:
        # No tool call yet: initialize alone started the build.
        assert server.state.building or server.state.built is not None
        await client.list_tools()
        with anyio.fail_after(30):
            service = await server.state.service()
        assert server.state.built is service
        # The warm-up also learnt who the user is, so the first tool call pays only its own records.
        assert service.store.local_user_id() is not None
    assert server.state.built is None  # closed with the server


async def test_a_repeat_a_minute_later_within_the_fresh_window_sends_no_upstream_request(
    settings: Settings, fake: Any, fake_now: datetime, logged_in: Any
) -> None:
    from datetime import timedelta

    from whoopkit.service import build_service

    now = [fake_now]
    service = build_service(settings, demo=False, fake=fake, clock=lambda: now[0])
    try:
        async with Client(create_server(settings, service)) as client:
            await client.call_tool("get_health_summary", {})
            now[0] += timedelta(minutes=1)
            fake.reset_stats()
            again = await client.call_tool("get_health_summary", {})
    finally:
        await service.aclose()
    assert not again.is_error and again.structured_content["stale"] is False
    assert fake.stats.requests == 0
