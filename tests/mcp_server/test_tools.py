"""Every tool, called through the official MCP client against the fake WHOOP."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from mcp import Client

from tests.mcp_server.conftest import text_of

pytestmark = pytest.mark.anyio

BRIEF_TOOLS = {
    "get_user_profile",
    "get_recovery_score",
    "get_current_strain",
    "get_recent_cycles",
    "get_latest_sleep",
    "get_recent_workouts",
    "get_body_measurements",
    "get_health_summary",
}


async def _call(client: Client, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    result = await client.call_tool(name, args or {})
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def test_the_server_offers_the_eight_brief_tools_and_no_more_than_sixteen(client: Client) -> None:
    names = {tool.name for tool in (await client.list_tools()).tools}
    assert names >= BRIEF_TOOLS
    assert len(names) <= 16


async def test_every_tool_is_read_only_idempotent_and_open_world(client: Client) -> None:
    for tool in (await client.list_tools()).tools:
        assert tool.annotations is not None, tool.name
        assert tool.annotations.read_only_hint is True, tool.name
        assert tool.annotations.idempotent_hint is True, tool.name
        assert tool.annotations.open_world_hint is True, tool.name
        assert tool.output_schema is not None, tool.name
        assert tool.description, tool.name


async def test_every_tool_answers_its_defaults_with_text_and_structured_content_matching_its_schema(
    client: Client,
) -> None:
    for tool in (await client.list_tools()).tools:
        result = await client.call_tool(tool.name, {})
        assert not result.is_error, f"{tool.name}: {text_of(result)}"
        assert result.content[0].type == "text" and result.content[0].text.strip(), tool.name
        jsonschema.validate(result.structured_content, tool.output_schema)
        assert result.structured_content["data_source"] == "WHOOP API", tool.name
        assert "Demo mode" not in result.structured_content["summary"], tool.name


async def test_sleep_is_reported_in_hours_and_minutes_not_milliseconds(client: Client, fake: Any) -> None:
    sleep = (await _call(client, "get_latest_sleep"))["sleep"]
    raw = next(s for s in fake.data.sleeps if not s["nap"] and s["id"] == sleep["sleep_id"])
    stages = raw["score"]["stage_summary"]
    asleep_ms = (
        stages["total_light_sleep_time_milli"]
        + stages["total_slow_wave_sleep_time_milli"]
        + stages["total_rem_sleep_time_milli"]
    )
    assert sleep["asleep_hours"] == pytest.approx(asleep_ms / 3_600_000, abs=0.01)
    assert sleep["rem_minutes"] == pytest.approx(stages["total_rem_sleep_time_milli"] / 60_000, abs=0.1)
    assert 0 < sleep["asleep_hours"] < 24


async def test_strain_energy_comes_in_kilojoules_and_kilocalories(client: Client) -> None:
    cycle = (await _call(client, "get_current_strain"))["cycle"]
    assert 0 <= cycle["strain"] <= 21
    assert cycle["energy_kcal"] == pytest.approx(cycle["energy_kj"] / 4.184, abs=1)
    assert cycle["open"] is True


async def test_recovery_reports_percent_zone_hrv_and_resting_heart_rate_dated_by_its_cycle(
    client: Client,
) -> None:
    latest = (await _call(client, "get_recovery_score"))["latest"]
    assert latest["state"] == "SCORED"
    assert 0 <= latest["recovery_pct"] <= 100
    assert latest["zone"] in {"green", "yellow", "red"}
    assert latest["hrv_ms"] > 0 and 30 <= latest["resting_hr_bpm"] <= 120
    assert latest["day"] is not None


async def test_body_measurements_are_converted_to_centimetres_kilograms_and_bmi(
    client: Client, fake: Any
) -> None:
    body = await _call(client, "get_body_measurements")
    assert body["height_cm"] == pytest.approx(fake.data.body["height_meter"] * 100, abs=0.1)
    assert body["bmi"] == pytest.approx(body["weight_kg"] / (body["height_cm"] / 100) ** 2, abs=0.1)


async def test_recent_tools_honour_their_limit(client: Client) -> None:
    assert (await _call(client, "get_recent_cycles", {"limit": 3}))["count"] == 3
    workouts = await _call(client, "get_recent_workouts", {"limit": 2})
    assert workouts["count"] == 2 and len(workouts["workouts"]) == 2


async def test_the_health_summary_on_an_empty_store_asks_for_each_collection_once(
    client: Client, fake: Any, service: Any
) -> None:
    await service.warm_up()  # what the server's warm-up does right after initialize
    assert fake.data.cycles  # the fake generates its records lazily: not part of the measurement
    fake.reset_stats()
    summary = await _call(client, "get_health_summary")
    assert summary["recovery"] and summary["strain"] and summary["sleep"] and summary["body"]
    assert summary["problems"] == [] and summary["stale"] is False
    # Four collections plus body (and the profile, if the service refreshes it), each asked once; that
    # they go out at once is measured by bench/mcp_bench.py, not timed here.
    assert 5 <= fake.stats.requests <= 6
    assert max(fake.stats.requests_by_path.values()) == 1


async def test_a_repeated_call_within_the_fresh_window_sends_no_upstream_request(
    client: Client, fake: Any
) -> None:
    await _call(client, "get_health_summary")
    await _call(client, "get_trends", {"days": 30})
    await _call(client, "compare_periods", {"days": 14})
    before = fake.stats.requests
    for name, args in [
        ("get_health_summary", {}),
        ("get_trends", {"days": 30}),
        ("compare_periods", {"days": 14}),
        ("get_latest_sleep", {}),
        ("get_recovery_score", {}),
        ("get_recent_workouts", {"limit": 3}),
        ("get_weekly_report", {}),
        ("should_i_train_today", {}),
        ("get_history", {"kind": "recoveries", "days": 14}),
    ]:
        await _call(client, name, args)
    assert fake.stats.requests == before


async def test_history_of_explicit_dates_holds_only_days_in_that_range(client: Client) -> None:
    out = await _call(client, "get_history", {"kind": "days", "start": "2026-10-01", "end": "2026-10-10"})
    dates = {row["date"] for row in out["days"]}
    assert dates and min(dates) >= "2026-10-01" and max(dates) <= "2026-10-10"
    assert out["count"] == len(out["days"]) == 10
    assert out["truncated"] is False


async def test_history_over_many_windows_is_capped_with_an_honest_truncated_flag(client: Client) -> None:
    everything = await _call(client, "get_history", {"kind": "workouts", "days": 90, "max_records": 500})
    capped = await _call(client, "get_history", {"kind": "workouts", "days": 90, "max_records": 5})
    assert everything["truncated"] is False and everything["count"] > 5
    assert capped["truncated"] is True and capped["count"] == 5
    assert [w["workout_id"] for w in capped["workouts"]] == [
        w["workout_id"] for w in everything["workouts"][:5]
    ]
    assert "truncated" in capped["summary"]


@pytest.mark.parametrize("kind", ["cycles", "recoveries", "sleeps"])
async def test_history_returns_each_record_kind(client: Client, kind: str) -> None:
    out = await _call(client, "get_history", {"kind": kind, "days": 14})
    assert out["kind"] == kind and out["count"] == len(out[kind]) > 0


async def test_trends_give_mean_baseline_slope_direction_and_outliers_per_metric(client: Client) -> None:
    report = (await _call(client, "get_trends", {"days": 90}))["trends"]
    assert report["window_days"] == 90 and report["days_in_window"] >= 85
    for name in ("recovery", "hrv", "resting_hr", "sleep_hours", "strain"):
        metric = report[name]
        assert metric["mean"] is not None and metric["baseline"] is not None, name
        assert metric["slope_per_week"] is not None, name
        assert metric["direction"] in {"improving", "declining", "stable", "rising", "falling"}, name
        assert isinstance(metric["outliers"], list) and metric["points"] == [], name
    with_points = (await _call(client, "get_trends", {"days": 7, "include_points": True}))["trends"]
    assert len(with_points["recovery"]["points"]) >= 6


async def test_compare_periods_compares_the_last_days_with_the_days_before(client: Client) -> None:
    out = (await _call(client, "compare_periods", {"days": 14}))["comparison"]
    assert out["days_a"] >= 13 and out["days_b"] >= 13
    assert out["end_a"] < out["start_b"]
    assert {m["metric"] for m in out["metrics"]} >= {"recovery_pct", "hrv_ms", "sleep_hours", "strain"}


async def test_compare_periods_accepts_two_explicit_ranges(client: Client) -> None:
    out = await _call(
        client,
        "compare_periods",
        {
            "first_start": "2026-09-01",
            "first_end": "2026-09-07",
            "second_start": "2026-10-01",
            "second_end": "2026-10-07",
        },
    )
    comparison = out["comparison"]
    assert (comparison["start_a"], comparison["end_b"]) == ("2026-09-01", "2026-10-07")
    assert comparison["days_a"] == comparison["days_b"] == 7


async def test_the_weekly_report_covers_seven_days_and_the_week_before(client: Client) -> None:
    report = (await _call(client, "get_weekly_report"))["report"]
    assert report["week_end"] == "2026-11-20" and report["week_start"] == "2026-11-14"
    assert report["vs_previous_week"] is not None and report["highlights"]
    older = (await _call(client, "get_weekly_report", {"weeks_ago": 2}))["report"]
    assert older["week_end"] == "2026-11-06"


async def test_should_i_train_today_recommends_a_level_with_reasons(client: Client) -> None:
    out = await _call(client, "should_i_train_today")
    assert out["readiness"]["level"] in {"push", "maintain", "recover"}
    assert out["readiness"]["rationale"] and out["readiness"]["recommendation"] in out["summary"]
    assert out["today"]["date"] == out["readiness"]["date"]


async def test_auth_status_reports_the_login_scopes_and_token_file(client: Client, settings: Any) -> None:
    out = await _call(client, "get_auth_status")
    assert out["logged_in"] is True and out["demo"] is False
    assert out["has_offline_scope"] is True and out["missing_scopes"] == []
    assert out["token_file"] == str(settings.whoop_token_cache)
    assert out["seconds_left"] > 3000


async def test_a_workout_not_scored_yet_reads_pending_score_not_n_a(client: Client, fake: Any) -> None:
    newest = fake.data.workouts[0]
    newest["score_state"] = "PENDING_SCORE"
    newest.pop("score", None)
    result = await client.call_tool("get_recent_workouts", {"limit": 3})
    assert not result.is_error
    first = result.content[0].text.split(";")[0]
    assert "strain pending score" in first and "n/a" not in first
    assert result.structured_content["workouts"][0]["strain"] is None
    summary = await client.call_tool("get_health_summary", {})
    assert "strain pending score" in summary.content[0].text


async def test_a_cycle_not_scored_yet_reads_pending_score_in_the_health_summary(
    client: Client, fake: Any
) -> None:
    current = fake.data.cycles[0]
    current["score_state"] = "PENDING_SCORE"
    current.pop("score", None)
    text = (await client.call_tool("get_health_summary", {})).content[0].text
    assert "Day strain so far: pending score." in text and "n/a/21" not in text
    cycles = (await client.call_tool("get_recent_cycles", {"limit": 3})).content[0].text
    assert "1 pending score" in cycles


async def test_history_of_a_year_of_days_fetches_only_the_days_it_can_return(
    client: Client, fake: Any
) -> None:
    fake.reset_stats()
    out = await _call(client, "get_history", {"kind": "days", "days": 365, "max_records": 7})
    assert out["count"] <= 7 and out["truncated"] is True
    # One small window per collection; the whole year would take dozens of requests.
    assert fake.stats.requests <= 8


async def test_comparing_far_apart_periods_again_is_served_from_the_store(client: Client, fake: Any) -> None:
    args = {
        "first_start": "2026-06-01",
        "first_end": "2026-06-07",
        "second_start": "2026-11-01",
        "second_end": "2026-11-07",
    }
    first = await _call(client, "compare_periods", args)
    fake.reset_stats()
    again = await _call(client, "compare_periods", args)
    assert again["comparison"] == first["comparison"]
    assert fake.stats.requests == 0


async def test_every_tool_schema_is_closed_and_every_description_reads_without_stray_indentation(
    client: Client,
) -> None:
    for tool in (await client.list_tools()).tools:
        assert tool.input_schema.get("additionalProperties") is False, tool.name
        assert tool.description and tool.description == tool.description.strip(), tool.name
        assert "\n        " not in tool.description, tool.name
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
