"""Tool allowlist, resources, prompts, demo mode and the HTTP bearer gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr

from tests.conftest import make_settings
from tests.mcp_server.conftest import text_of
from whoopkit.config import Settings
from whoopkit.errors import ConfigError
from whoopkit.mcp_server import create_server
from whoopkit.mcp_server.cli import desktop_config, http_app

pytestmark = pytest.mark.anyio


async def test_the_tool_allowlist_registers_only_the_named_tools(settings: Settings, service: Any) -> None:
    trimmed = settings.model_copy(update={"whoop_mcp_tools": "get_health_summary, get_trends"})
    async with Client(create_server(trimmed, service)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {"get_health_summary", "get_trends"}
        result = await client.call_tool("get_user_profile", {})
        assert result.is_error


def test_an_unknown_name_in_the_allowlist_stops_startup_listing_the_valid_names(settings: Settings) -> None:
    bad = settings.model_copy(update={"whoop_mcp_tools": "get_health_summary,get_steps"})
    with pytest.raises(ConfigError) as caught:
        create_server(bad)
    message = str(caught.value)
    assert "get_steps" in message and "WHOOP_MCP_TOOLS" in message
    assert "get_health_summary" in message and "get_recovery_score" in message


async def test_resources_expose_profile_today_and_status_as_json(client: Client) -> None:
    uris = {str(r.uri) for r in (await client.list_resources()).resources}
    assert {"whoop://profile", "whoop://today", "whoop://status"} <= uris
    today = json.loads((await client.read_resource("whoop://today")).contents[0].text)
    assert today["recovery"]["recovery_pct"] is not None and today["data_source"] == "WHOOP API"
    profile = json.loads((await client.read_resource("whoop://profile")).contents[0].text)
    assert profile["first_name"]
    status = json.loads((await client.read_resource("whoop://status")).contents[0].text)
    assert status["logged_in"] is True


async def test_prompts_cover_the_morning_check_the_weekly_review_and_workout_comparison(
    client: Client,
) -> None:
    names = {p.name for p in (await client.list_prompts()).prompts}
    assert {"morning_check", "weekly_review", "compare_recent_workouts"} <= names
    morning = await client.get_prompt("morning_check")
    assert "should_i_train_today" in morning.messages[0].content.text
    weekly = await client.get_prompt("weekly_review", {"weeks_ago": "1"})
    assert "weeks_ago=1" in weekly.messages[0].content.text
    workouts = await client.get_prompt("compare_recent_workouts", {"count": "4", "sport": "running"})
    assert "limit=4" in workouts.messages[0].content.text and "running" in workouts.messages[0].content.text


async def test_in_demo_mode_every_result_says_the_data_is_simulated(tmp_path: Path, clean_env: None) -> None:
    demo = make_settings(tmp_path, WHOOP_DEMO=True, WHOOP_CLIENT_ID="", WHOOP_CLIENT_SECRET="")
    async with Client(create_server(demo)) as client:
        for name in ("get_health_summary", "get_auth_status", "get_recent_workouts"):
            result = await client.call_tool(name, {})
            assert not result.is_error, text_of(result)
            assert result.structured_content["data_source"] == "demo (simulated)"
            assert "Demo mode: simulated data" in text_of(result)
        status = (await client.call_tool("get_auth_status", {})).structured_content
        assert status["demo"] is True
        assert status["token_file"] == str(tmp_path / "data" / "demo_token.json")
    assert not (tmp_path / ".token_cache.json").exists()


async def test_a_real_token_cache_wins_over_demo_mode(settings: Settings, logged_in: Any) -> None:
    forced_demo = settings.model_copy(update={"whoop_demo": True})
    async with Client(create_server(forced_demo)) as client:
        status = (await client.call_tool("get_auth_status", {})).structured_content
    assert status["demo"] is False and status["data_source"] == "WHOOP API"
    assert status["token_file"] == str(settings.whoop_token_cache)


def test_the_desktop_config_uses_absolute_paths_of_this_checkout(settings: Settings) -> None:
    entry = desktop_config(settings)["mcpServers"]["whoop"]
    assert Path(entry["command"]).is_absolute()
    assert entry["args"][0].endswith("whoop_mcp_server.py") and Path(entry["args"][0]).is_file()
    assert entry["env"]["WHOOP_TOKEN_CACHE"] == str(settings.whoop_token_cache)


def test_http_transport_refuses_to_start_without_a_bearer_token(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="WHOOP_MCP_HTTP_TOKEN"):
        http_app(create_server(settings), settings)


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-wrong-token", "Basic abc"])
async def test_http_transport_answers_401_to_a_missing_or_wrong_bearer(
    server: MCPServer[Any], settings: Settings, authorization: str | None
) -> None:
    guarded = settings.model_copy(
        update={"whoop_mcp_http_token": SecretStr("s3cret-token-of-32-characters-xx")}
    )
    app = http_app(server, guarded)
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        response = await http.post(
            "/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
