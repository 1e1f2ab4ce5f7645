"""Every page, every tool and the insights give the same numbers for the same days (issue 8, point 4).

One fake WHOOP, one pinned clock; the web app (``TestClient``) and the MCP server (``mcp.Client``) each
start from an empty store, as two processes on a fresh clone would. For the last 7 and 30 days every
source is read the way a user reads it (the page's table as CSV and its summary, each tool's structured
output, the insights page's data) and compared: the days covered, the days with data, the recovery
zones, the average recovery, the average strain and the HRV baseline.

Two clocks: mid-morning for the user, and 22:00 the evening before (03:00 UTC), when the user's date is
a day behind UTC's and behind the machine's (the first page of a fresh store must not use the latter).
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from tests.conftest import FAKE_NOW, make_settings
from tests.web.conftest import REDIRECT_URI, make_client
from tests.web.fake_ollama import free_port
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop
from whoopkit.mcp_server import create_server
from whoopkit.service import WhoopService, build_service
from whoopkit.tokens import Token, TokenStore

pytestmark = pytest.mark.anyio

MORNING = FAKE_NOW  # 10:00 in the fake user's -05:00
EVENING_BEFORE = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 22:00 on the 19th for the user


@pytest.fixture(params=[MORNING, EVENING_BEFORE], ids=["morning", "evening-before"])
def now(request: pytest.FixtureRequest) -> datetime:
    """The pinned "now" of the fake WHOOP, the web app and the MCP server."""
    value: datetime = request.param
    return value


@pytest.fixture
def same_fake(now: datetime) -> FakeWhoop:
    """One fake WHOOP both faces read (its data ends at ``now``)."""
    return create_fake_whoop(client_id="demo-client", client_secret="demo-secret", auto_approve=True, now=now)


def _logged_in_settings(root: Path, fake: FakeWhoop, **extra: object) -> Any:
    settings = make_settings(root, **extra)
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    return settings


@pytest.fixture
def web(tmp_path: Path, clean_env: None, same_fake: FakeWhoop, now: datetime) -> Iterator[TestClient]:
    """The web app on its own empty store, logged in, Ollama down (so the insights are rule-based)."""
    settings = _logged_in_settings(
        tmp_path / "web",
        same_fake,
        WHOOP_REDIRECT_URI=REDIRECT_URI,
        WHOOP_SYNC_INTERVAL=0,
        OLLAMA_HOST=f"http://127.0.0.1:{free_port()}",
        OLLAMA_TIMEOUT=5,
    )
    with make_client(settings, same_fake, now) as client:
        yield client


@pytest.fixture
async def mcp_service(
    tmp_path: Path, clean_env: None, same_fake: FakeWhoop, now: datetime
) -> AsyncIterator[WhoopService]:
    """The MCP server's service, on its own empty store, logged in."""
    settings = _logged_in_settings(tmp_path / "mcp", same_fake)
    svc = build_service(settings, demo=False, fake=same_fake, clock=lambda: now)
    try:
        yield svc
    finally:
        await svc.aclose()


@pytest.fixture
async def tools(mcp_service: WhoopService) -> AsyncIterator[Client]:
    """An MCP client on the server over ``mcp_service``."""
    async with Client(create_server(mcp_service.settings, mcp_service)) as client:
        yield client


def user_today(now: datetime) -> date:
    """The fake user's date at ``now`` (every fake record carries -05:00)."""
    return (now - timedelta(hours=5)).date()


# ------------------------------------------------------------------------------------------------ reading


def _csv(web: TestClient, view: str, days: int) -> list[dict[str, str]]:
    response = web.get(f"/{view}-view", params={"days": days, "format": "csv"})
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def _page_number(web: TestClient, view: str, days: int, label: str) -> str | None:
    """The number after ``label`` in the page's summary (None when the page shows none)."""
    response = web.get(f"/{view}-view", params={"days": days})
    assert response.status_code == 200, response.text
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))
    found = re.search(rf"{label}[^0-9<]*?(\d+(?:\.\d+)?)", text)
    return found.group(1) if found else None


async def _tool(tools: Client, name: str, **arguments: Any) -> dict[str, Any]:
    result = await tools.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def _zones(rows: list[dict[str, Any]], zone_key: str, score_key: str) -> tuple[int, int, int]:
    scored = [r[zone_key] for r in rows if r.get(score_key) not in (None, "")]
    return scored.count("green"), scored.count("yellow"), scored.count("red")


def _one_decimal(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


def _whole(value: float | None) -> str | None:
    return None if value is None else f"{value:.0f}"


async def numbers(web: TestClient, tools: Client, days: int) -> dict[str, dict[str, object]]:
    """Each compared number as every source gives it: {number: {source: value}}."""
    out: dict[str, dict[str, object]] = {
        "window": {},
        "days with data": {},
        "zones (green, yellow, red)": {},
        "average recovery %": {},
        "average recovery % (whole, as pages show it)": {},
        "average strain": {},
        "HRV baseline ms": {},
    }

    # ---- pages: the tables as CSV, the summaries as shown
    cycles = _csv(web, "cycles", days)
    recovery = _csv(web, "recovery", days)
    for view, key in (
        ("cycles", "day"),
        ("recovery", "day"),
        ("sleep", "night"),
        ("workouts", "start_local"),
    ):
        listed = sorted({row[key][:10] for row in _csv(web, view, days)})
        out.setdefault(f"{view} page lists at most {days} days", {})["web"] = len(listed) <= days
        if listed:
            out["window"][f"web {view} (days listed within)"] = (listed[0], listed[-1])
    out["days with data"]["web strain page"] = len({row["day"] for row in cycles})
    out["zones (green, yellow, red)"]["web recovery page table"] = _zones(
        recovery, "recovery_zone", "recovery_pct"
    )
    out["zones (green, yellow, red)"]["web recovery page summary"] = tuple(
        int(_page_number(web, "recovery", days, f"{zone} days") or 0) for zone in ("Green", "Yellow", "Red")
    )
    out["average recovery % (whole, as pages show it)"]["web recovery page"] = _page_number(
        web, "recovery", days, "Average recovery"
    )
    out["average strain"]["web strain page"] = _page_number(web, "cycles", days, "Average strain")

    # ---- tools
    history = await _tool(tools, "get_history", kind="days", days=days, max_records=days)
    out["window"]["get_history"] = (history["start"], history["end"])
    out["days with data"]["get_history"] = history["count"]
    out["zones (green, yellow, red)"]["get_history"] = _zones(
        history["days"], "recovery_zone", "recovery_pct"
    )

    trends = (await _tool(tools, "get_trends", days=max(days, 7)))["trends"]
    out["window"]["get_trends"] = (trends["start_date"], trends["end_date"])
    out["days with data"]["get_trends"] = trends["days_in_window"]
    out["average recovery %"]["get_trends"] = _one_decimal(trends["recovery"]["mean"])
    out["average strain"]["get_trends"] = _one_decimal(trends["strain"]["mean"])
    out["HRV baseline ms"]["get_trends"] = _one_decimal(trends["hrv"]["baseline"])

    compared = (await _tool(tools, "compare_periods", days=days))["comparison"]
    means = {m["metric"]: m for m in compared["metrics"]}
    out["days with data"]["compare_periods"] = compared["days_b"]
    out["average recovery %"]["compare_periods"] = _one_decimal(means["recovery_pct"]["mean_b"])
    out["average strain"]["compare_periods"] = _one_decimal(means["strain"]["mean_b"])

    if days == 7:
        week = (await _tool(tools, "get_weekly_report"))["report"]
        out["window"]["get_weekly_report"] = (week["week_start"], week["week_end"])
        out["days with data"]["get_weekly_report"] = week["days_with_data"]
        out["zones (green, yellow, red)"]["get_weekly_report"] = (
            week["green_days"],
            week["yellow_days"],
            week["red_days"],
        )
        out["average recovery %"]["get_weekly_report"] = _one_decimal(week["avg_recovery_pct"])
        out["average strain"]["get_weekly_report"] = _one_decimal(week["avg_strain"])

    readiness = (await _tool(tools, "should_i_train_today"))["readiness"]
    out["HRV baseline ms"]["should_i_train_today"] = _one_decimal(readiness.get("hrv_baseline_ms"))
    if days == 7:
        out["average strain"]["should_i_train_today (7-day load)"] = _one_decimal(
            readiness["acute_strain_7d"]
        )

    # ---- the insights page's data (rule-based: Ollama is down)
    response = web.get("/ai-insights-view/data")
    assert response.status_code == 200, response.text
    base = response.json().get("baselines") or {}
    suffix = "7d" if days == 7 else "30d"
    out["days with data"]["insights"] = base.get(f"days_{suffix}")
    out["average recovery %"]["insights"] = _one_decimal(base.get(f"recovery_pct_{suffix}"))
    out["average strain"]["insights"] = _one_decimal(base.get(f"strain_{suffix}"))
    out["HRV baseline ms"]["insights"] = _one_decimal(base.get("hrv_baseline_ms"))

    # The pages show whole percentages: every tool's average, shown the same way, must read the same.
    whole = out["average recovery % (whole, as pages show it)"]
    for source, value in out["average recovery %"].items():
        whole[source] = _whole(float(value)) if isinstance(value, str) else None
    return out


def _disagreements(found: dict[str, dict[str, object]], expected_window: tuple[str, str]) -> list[str]:
    problems = []
    for name, by_source in found.items():
        if name == "window":
            for source, (first, last) in by_source.items():
                ok = (
                    (first, last) == expected_window
                    if "within" not in source
                    else (expected_window[0] <= first and last <= expected_window[1])
                )
                if not ok:
                    problems.append(f"window: {source} covers {first}..{last}, not {expected_window}")
            continue
        if "lists at most" in name:
            if not all(v is True for v in by_source.values()):
                problems.append(f"{name}: no")
            continue
        if len(set(map(repr, by_source.values()))) != 1 or None in by_source.values():
            problems.append(f"{name}: " + ", ".join(f"{s}={v!r}" for s, v in by_source.items()))
    return problems


@pytest.mark.parametrize("days", [7, 30])
async def test_every_page_and_tool_gives_the_same_numbers_for_the_last_n_days(
    web: TestClient, tools: Client, now: datetime, days: int
) -> None:
    today = user_today(now)
    window = ((today - timedelta(days=days - 1)).isoformat(), today.isoformat())
    found = await numbers(web, tools, days)
    problems = _disagreements(found, window)
    assert not problems, "\n".join(problems)
