"""Bad data from WHOOP never crashes a page or a tool (issue 9.3), end to end through the fake.

The fake's ``corrupt`` mutation gives its newest records a ``timezone_offset`` of ``+ab:cd`` or
``+99:00``, an infinite recovery score, a NaN strain, an unknown ``score_state`` and a lone
surrogate in a sport name. Every page of
the web app must still answer 200 and every MCP tool a non-error result, without showing ``inf``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from tests.conftest import make_settings
from tests.mcp_server.conftest import text_of
from tests.web.fake_ollama import free_port
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.tokens import Token, TokenStore
from whoopkit.web.app import create_app

# Every GET page of the app except the login flow's.
PAGES = (
    "/",
    "/dashboard",
    "/healthz",
    "/cycles-view",
    "/workouts-view",
    "/sleep-view",
    "/recovery-view",
    "/ai-insights-view",
    "/ai-insights-view/data",
)
INFINITE = re.compile(r"\binf\b|\bnan\b|Infinity|NaN", re.IGNORECASE)


def _newest(records: list[dict[str, Any]], n: int = 0) -> dict[str, Any]:
    return sorted(records, key=lambda r: r.get("start", r["created_at"]), reverse=True)[n]


def corrupt_newest(fake: FakeWhoop) -> None:
    """Break the newest records in every way WHOOP has been seen to (and a few more)."""
    fake.corrupt("cycle", _newest(fake.data.cycles)["id"], {"timezone_offset": "+ab:cd"})
    fake.corrupt("cycle", _newest(fake.data.cycles, 1)["id"], {"score.strain": math.nan})
    fake.corrupt("sleep", _newest(fake.data.sleeps)["id"], {"timezone_offset": "+99:00"})
    fake.corrupt("workout", _newest(fake.data.workouts)["id"], {"timezone_offset": "+ab:cd"})
    fake.corrupt("workout", _newest(fake.data.workouts, 1)["id"], {"score_state": "NOT_A_STATE"})
    fake.corrupt("workout", _newest(fake.data.workouts, 2)["id"], {"sport_name": "run\ud800ning"})
    recovery = _newest(fake.data.recoveries)
    fake.corrupt("recovery", recovery["cycle_id"], {"score.recovery_score": math.inf})


@pytest.fixture
def web(tmp_path: Path, clean_env: None, fake: FakeWhoop, fake_now: datetime) -> Iterator[TestClient]:
    """The web app on the corrupted fake, logged in; Ollama is down, so insights come from the rules."""
    settings = make_settings(
        tmp_path,
        WHOOP_REDIRECT_URI="http://localhost:3000/callback",
        OLLAMA_HOST=f"http://127.0.0.1:{free_port()}",
        OLLAMA_TIMEOUT=5,
        WHOOP_SYNC_INTERVAL=0,
    )
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    corrupt_newest(fake)
    app = create_app(settings, demo=False, fake=fake, clock=lambda: fake_now)
    with TestClient(app, base_url="http://localhost:3000", raise_server_exceptions=False) as client:
        yield client


def test_every_page_renders_when_whoop_sends_bad_offsets_and_non_finite_scores(web: TestClient) -> None:
    """No 500 on any page (the insights' data included), and no ``inf%`` anywhere."""
    for path in PAGES:
        for query in ("", "?format=csv") if path.endswith("-view") else ("",):
            response = web.get(path + query, follow_redirects=True)
            assert response.status_code == 200, f"{path}{query}: {response.status_code} {response.text[:300]}"
            shown = (
                re.sub(r"<[^>]+>", " ", response.text) if "html" in response.headers["content-type"] else ""
            )
            assert not INFINITE.search(shown), f"{path}{query}: {INFINITE.search(shown)}"
            assert "inf%" not in response.text


@pytest.mark.anyio
async def test_every_tool_answers_when_whoop_sends_bad_offsets_and_non_finite_scores(
    fake: FakeWhoop, settings: Settings, service: Any
) -> None:
    """No "Unexpected internal error (ValueError)", and the numbers that are left are finite."""
    from whoopkit.mcp_server import create_server

    corrupt_newest(fake)
    async with Client(create_server(settings, service)) as client:
        tools = (await client.list_tools()).tools
        assert len(tools) >= 8
        for tool in tools:
            result = await client.call_tool(tool.name, {})
            assert not result.is_error, f"{tool.name}: {text_of(result)}"
            assert not INFINITE.search(result.content[0].text), f"{tool.name}: {result.content[0].text}"
