"""Bad arguments and WHOOP failures come back as isError results the model can act on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from mcp import Client

from tests.mcp_server.conftest import text_of
from whoopkit.config import Settings
from whoopkit.mcp_server import create_server

pytestmark = pytest.mark.anyio

BAD_ARGUMENTS = [
    ("get_recent_cycles", {"limit": 0}, "limit"),
    ("get_recent_cycles", {"limit": -3}, "limit"),
    ("get_recent_workouts", {"limit": 26}, "limit"),
    ("get_recent_workouts", {"limit": 10**12}, "limit"),
    ("get_recent_cycles", {"limit": "many"}, "limit"),
    ("get_recent_cycles", {"limit": 2.5}, "limit"),
    ("get_history", {"days": 0}, "days"),
    ("get_history", {"days": 366}, "days"),
    ("get_history", {"kind": "steps"}, "kind"),
    ("get_history", {"start": "2026-13-01"}, "start"),
    ("get_history", {"start": "last tuesday"}, "start"),
    ("get_history", {"end": "2026-02-30"}, "end"),
    ("get_history", {"start": "2026-11-10", "end": "2026-11-01"}, "after end"),
    ("get_history", {"start": "2027-01-01"}, "future"),
    ("get_history", {"start": "2024-01-01", "end": "2026-01-01"}, "365 days"),
    ("get_history", {"max_records": 0}, "max_records"),
    ("get_trends", {"days": 3}, "days"),
    ("get_trends", {"days": 400}, "days"),
    ("compare_periods", {"first_start": "2026-10-01"}, "all four"),
    ("compare_periods", {"days": 0}, "days"),
    ("get_weekly_report", {"weeks_ago": -1}, "weeks_ago"),
    ("get_recent_cycles", {"limit": "5"}, "1 to 25"),
    ("get_recent_cycles", {"limit": 7.0}, "1 to 25"),
    ("get_recent_cycles", {"limit": True}, "1 to 25"),
    ("get_recent_cycles", {"limit": None}, "1 to 25"),
    ("get_recent_workouts", {"limit": 10**30}, "1 to 25"),
    ("get_history", {"days": "7"}, "1 to 365"),
    ("get_history", {"max_records": 501}, "1 to 500"),
    ("get_history", {"start": ""}, "YYYY-MM-DD"),
    ("get_history", {"start": "yesterday"}, "YYYY-MM-DD"),
    ("get_history", {"end": "2026-02-30"}, "no such day"),
    ("get_history", {"start": "2026-11-01T00:00:00+14:00"}, "YYYY-MM-DD"),
    ("get_history", {"start": 20261101}, "YYYY-MM-DD"),
    ("get_history", {"kind": None}, '"days", "cycles"'),
    ("get_trends", {"days": 6}, "7 to 365"),
    ("get_trends", {"include_points": "yes"}, "true or false"),
    ("get_weekly_report", {"weeks_ago": 53}, "0 to 52"),
    ("compare_periods", {"days": 183}, "1 to 182"),
    ("compare_periods", {"second_end": "2026-13-01"}, "second_end"),
    ("get_user_profile", {"user": "me"}, "not an argument"),
    ("get_history", {"days": 3, "sport": "running"}, "`sport` is not an argument"),
]


@pytest.mark.parametrize(("tool", "args", "mentions"), BAD_ARGUMENTS)
async def test_a_bad_argument_is_an_error_naming_the_problem_and_the_server_keeps_answering(
    client: Client, tool: str, args: dict[str, Any], mentions: str
) -> None:
    result = await client.call_tool(tool, args)
    assert result.is_error
    text = text_of(result)
    assert mentions in text
    assert "Traceback" not in text
    assert not (await client.call_tool("get_user_profile", {})).is_error


async def test_an_unknown_tool_is_an_error_not_a_crash(client: Client) -> None:
    result = await client.call_tool("get_steps", {})
    assert result.is_error and "get_steps" in text_of(result)


@pytest.fixture
async def logged_out_client(settings: Settings, fake: Any, fake_now: datetime) -> AsyncIterator[Client]:
    """A server whose token cache does not exist (real mode, credentials configured)."""
    from whoopkit.service import build_service

    service = build_service(settings, demo=False, fake=fake, clock=lambda: fake_now)
    try:
        async with Client(create_server(settings, service)) as client:
            yield client
    finally:
        await service.aclose()


@pytest.mark.parametrize("tool", ["get_recovery_score", "get_health_summary", "get_trends"])
async def test_without_a_login_tools_say_to_open_the_login_page(logged_out_client: Client, tool: str) -> None:
    result = await logged_out_client.call_tool(tool, {})
    assert result.is_error
    assert "http://localhost:3000/login" in text_of(result)
    assert "Traceback" not in text_of(result)


async def test_without_a_login_auth_status_says_not_connected_rather_than_failing(
    logged_out_client: Client,
) -> None:
    result = await logged_out_client.call_tool("get_auth_status", {})
    assert not result.is_error
    assert result.structured_content["logged_in"] is False
    assert "http://localhost:3000/login" in result.structured_content["summary"]


async def test_a_rate_limit_says_when_to_retry(client: Client, fake: Any) -> None:
    fake.faults.fail_next(429, 10, retry_after=30)
    result = await client.call_tool("get_recovery_score", {})
    assert result.is_error
    assert "retry after 30 s" in text_of(result)


async def test_whoop_being_down_with_nothing_stored_says_whoop_is_not_answering(
    client: Client, fake: Any, service: Any
) -> None:
    service.whoop.client.max_retries = 0  # the retries are the client's tests; skip their back-off
    fake.faults.fail_next(503, 20)
    result = await client.call_tool("get_body_measurements", {})
    assert result.is_error
    assert "WHOOP is not answering" in text_of(result) and "try again" in text_of(result)


async def test_a_recovery_not_scored_yet_is_explained_with_the_newest_scored_one(
    client: Client, fake: Any
) -> None:
    latest = fake.data.recoveries[0]
    latest["score_state"] = "PENDING_SCORE"
    latest.pop("score", None)
    result = await client.call_tool("get_recovery_score", {})
    assert not result.is_error
    text = text_of(result)
    assert "PENDING_SCORE" in text and "not scored it yet" in text
    out = result.structured_content
    assert out["latest"]["state"] == "PENDING_SCORE" and out["latest"]["recovery_pct"] is None
    assert out["latest_scored"]["state"] == "SCORED"


async def test_a_bad_argument_names_the_argument_its_range_and_the_value_sent(client: Client) -> None:
    result = await client.call_tool("get_recent_cycles", {"limit": -3})
    assert result.is_error
    assert text_of(result) == (
        "Invalid arguments for get_recent_cycles: "
        "`limit` must be a whole number from 1 to 25 (default 7); got -3."
    )


async def test_an_unknown_argument_lists_the_arguments_the_tool_takes(client: Client) -> None:
    result = await client.call_tool("get_trends", {"days": 30, "window": 7})
    assert result.is_error
    assert "`window` is not an argument" in text_of(result) and "days, include_points" in text_of(result)


async def test_a_tool_without_arguments_rejects_any_argument(client: Client) -> None:
    result = await client.call_tool("should_i_train_today", {"intensity": "hard"})
    assert result.is_error and "intensity" in text_of(result)
