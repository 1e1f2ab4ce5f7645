"""Every page through FastAPI's TestClient against the in-process fake WHOOP (real mode)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import make_client, text_of
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.tokens import Token, TokenStore

RANGE_PAGES = ["/cycles-view", "/workouts-view", "/sleep-view", "/recovery-view"]
ALL_PAGES = ["/dashboard", *RANGE_PAGES, "/ai-insights-view"]


def newest_scored(records: list[dict]) -> dict:
    return next(r for r in records if r["score_state"] == "SCORED")


def test_home_offers_the_login_when_logged_out(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert 'href="/login"' in response.text


def test_home_goes_to_the_dashboard_when_logged_in(authed: TestClient) -> None:
    response = authed.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"


def test_healthz_answers_without_calling_whoop(client: TestClient, fake: FakeWhoop) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "demo": False, "logged_in": False, "last_sync": None}
    assert fake.stats.requests == 0


def test_the_dashboard_shows_todays_recovery_hrv_rhr_strain_sleep_and_body(
    authed: TestClient, fake: FakeWhoop
) -> None:
    data = fake.data
    recovery = data.recoveries[0]
    assert recovery["score_state"] == "SCORED"
    score = recovery["score"]
    response = authed.get("/dashboard")
    assert response.status_code == 200
    html = response.text
    assert f'data-testid="recovery">{score["recovery_score"]:.0f}%<' in html
    assert f'data-testid="hrv">{score["hrv_rmssd_milli"]:.0f} ms<' in html
    assert f'data-testid="rhr">{score["resting_heart_rate"]:.0f} bpm<' in html
    zone = (
        "green" if score["recovery_score"] >= 66.5 else "yellow" if score["recovery_score"] >= 33.5 else "red"
    )
    assert f"recovery-tile zone-{zone}" in html
    cycle = data.cycles[0]
    if cycle["score_state"] == "SCORED":
        assert f'data-testid="strain">{cycle["score"]["strain"]:.1f}<' in html
    main = next(s for s in data.sleeps if not s["nap"])
    if main["score_state"] == "SCORED":
        perf = main["score"]["sleep_performance_percentage"]
        assert f'data-testid="sleep-performance">{perf:.0f}%<' in html
    assert f"{data.body['weight_kilogram']:.1f} kg" in html
    assert f"{data.body['max_heart_rate']} bpm" in html
    assert html.count('class="spark ') >= 4  # 7-day sparklines
    assert "<polyline" in html
    assert f"Hi {data.profile['first_name']}" in html


@pytest.mark.parametrize("path", RANGE_PAGES)
@pytest.mark.parametrize("days", ["7", "30", "90"])
def test_every_range_page_has_a_chart_and_a_table(authed: TestClient, path: str, days: str) -> None:
    response = authed.get(f"{path}?days={days}")
    assert response.status_code == 200
    html = response.text
    assert '<svg class="chart' in html
    assert re.search(r"<(path|rect) class=\"(line|bar)", html)
    assert "<table>" in html and "<tbody>" in html
    assert f'href="{path}?days={days}" class="active"' in html


def test_the_recovery_view_lists_each_recovery_with_its_zone(authed: TestClient, fake: FakeWhoop) -> None:
    html = authed.get("/recovery-view?days=7").text
    rec = newest_scored(fake.data.recoveries)
    value = rec["score"]["recovery_score"]
    zone = "green" if value >= 66.5 else "yellow" if value >= 33.5 else "red"
    assert f'<td class="{zone}">{value:.0f}%</td>' in html
    assert f"{rec['score']['hrv_rmssd_milli']:.0f} ms" in html
    assert 'class="band green"' in html and 'class="dot ' in html


def test_the_sleep_view_shows_stages_and_human_durations(authed: TestClient, fake: FakeWhoop) -> None:
    html = authed.get("/sleep-view?days=7").text
    main = newest_scored([s for s in fake.data.sleeps if not s["nap"]])
    stages = main["score"]["stage_summary"]
    asleep_min = round(
        (
            stages["total_light_sleep_time_milli"]
            + stages["total_slow_wave_sleep_time_milli"]
            + stages["total_rem_sleep_time_milli"]
        )
        / 60_000
    )
    assert f"{asleep_min // 60} h {asleep_min % 60:02d} min" in html
    assert 'class="bar deep"' in html and 'class="bar rem"' in html


def test_the_workouts_view_names_the_sport_and_its_strain(authed: TestClient, fake: FakeWhoop) -> None:
    html = authed.get("/workouts-view?days=30").text
    workout = newest_scored(fake.data.workouts)
    assert f"{workout['score']['strain']:.1f}" in html
    assert "Strain per workout" in html


def test_the_cycles_view_shows_day_strain_and_energy_in_kcal(authed: TestClient, fake: FakeWhoop) -> None:
    html = authed.get("/cycles-view?days=7").text
    cycle = newest_scored(fake.data.cycles)
    assert f"{cycle['score']['strain']:.1f}" in html
    assert f"{cycle['score']['kilojoule'] / 4.184:,.0f} kcal" in html


@pytest.mark.parametrize("bad", ["-5", "abc", "0", "366", "99999999999999999999", "1.5", "7;drop", "%00"])
@pytest.mark.parametrize("path", RANGE_PAGES)
def test_a_bad_days_value_is_a_400_page_not_a_500(authed: TestClient, path: str, bad: str) -> None:
    response = authed.get(path, params={"days": bad})
    assert response.status_code == 400
    assert "7, 30, 90" in response.text
    assert "Traceback" not in response.text


def test_any_days_from_1_to_365_is_accepted(authed: TestClient) -> None:
    assert authed.get("/cycles-view?days=1").status_code == 200
    assert authed.get("/cycles-view?days=365").status_code == 200


def test_a_pending_score_is_shown_as_pending_not_zero(
    web_settings: Settings, fake: FakeWhoop, fake_now: datetime
) -> None:
    rec = fake.data.recoveries[0]
    rec["score_state"] = "PENDING_SCORE"
    rec.pop("score", None)
    TokenStore(web_settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    with make_client(web_settings, fake, fake_now) as c:
        dash = c.get("/dashboard").text
        assert 'data-testid="recovery">pending<' in dash
        view = c.get("/recovery-view?days=7").text
        assert '<td class="pending">pending</td>' in view
        assert re.search(r"<td[^>]*>0%</td>", view) is None


def test_a_range_without_data_shows_an_empty_state(
    web_settings: Settings, fake: FakeWhoop, fake_now: datetime
) -> None:
    TokenStore(web_settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    with make_client(web_settings, fake, fake_now + timedelta(days=400)) as c:
        for path, message in [
            ("/cycles-view", "No cycles in the last 30 days."),
            ("/workouts-view", "No workouts in the last 30 days."),
            ("/sleep-view", "No sleep recorded in the last 30 days."),
            ("/recovery-view", "No recoveries in the last 30 days."),
        ]:
            response = c.get(path)
            assert response.status_code == 200
            assert message in response.text
        dash = c.get("/dashboard")
        assert dash.status_code == 200
        assert "No data in the last 7 days." in dash.text


@pytest.mark.parametrize("path", ALL_PAGES)
def test_a_page_asked_for_while_logged_out_shows_the_login_banner(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert 'class="banner warn"' in response.text
    assert 'href="/login"' in response.text


def test_a_page_after_the_refresh_failed_shows_the_login_banner(
    client: TestClient, fake: FakeWhoop, web_settings: Settings
) -> None:
    expired = Token.from_response(fake.issue_token(), now=time.time() - 7200)
    expired = expired.model_copy(update={"refresh_token": "revoked-or-rotated"})
    store = TokenStore(web_settings.whoop_token_cache)
    store.save(expired)
    before = web_settings.whoop_token_cache.read_bytes()
    response = client.get("/dashboard")
    assert response.status_code == 401
    assert "Log in with WHOOP again" in response.text
    assert web_settings.whoop_token_cache.read_bytes() == before


def test_a_corrupt_token_cache_shows_the_login_banner_and_is_left_alone(
    client: TestClient, web_settings: Settings
) -> None:
    web_settings.whoop_token_cache.write_text("{not json", encoding="utf-8")
    response = client.get("/recovery-view")
    assert response.status_code == 401
    assert 'class="banner warn"' in response.text
    assert web_settings.whoop_token_cache.read_text(encoding="utf-8") == "{not json"


def test_whoop_being_down_with_nothing_stored_is_a_clear_503_page(
    authed: TestClient, fake: FakeWhoop
) -> None:
    fake.set_down(True)
    # One attempt per request: the client's retry policy is tested in tests/test_client.py.
    authed.app.state.web.service.whoop.client.max_retries = 0  # type: ignore[attr-defined]
    for path in ALL_PAGES:
        response = authed.get(path if path != "/ai-insights-view" else f"{path}?wait=1")
        assert response.status_code == 503, path
        assert "WHOOP is not answering" in response.text
        assert "Traceback" not in response.text


def test_an_unknown_path_is_a_404_page_in_the_layout(client: TestClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert 'href="/dashboard"' in response.text


def test_the_stylesheet_and_script_are_served_by_the_app(client: TestClient) -> None:
    css = client.get("/static/style.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    js = client.get("/static/insights.js")
    assert js.status_code == 200
    assert "innerHTML" not in js.text
    assert "textContent" in js.text


def test_pages_are_phone_friendly_and_use_one_stylesheet(authed: TestClient) -> None:
    html = authed.get("/dashboard").text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert html.count('rel="stylesheet"') == 1
    assert "http://" not in re.sub(r'href="http://localhost:3000[^"]*"', "", html.split("<body>")[0])


@pytest.mark.parametrize("path", ["/dashboard", *[f"{p}?days=30" for p in RANGE_PAGES]])
def test_a_repeat_within_the_fresh_seconds_sends_no_upstream_request(
    authed: TestClient, fake: FakeWhoop, path: str
) -> None:
    assert authed.get(path).status_code == 200
    before = fake.stats.requests
    assert before >= 1
    assert authed.get(path).status_code == 200
    assert fake.stats.requests == before


def test_profile_text_from_whoop_is_escaped(authed: TestClient, fake: FakeWhoop) -> None:
    fake.data.profile["first_name"] = "<script>alert(1)</script>"
    html = authed.get("/dashboard").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_dashboard_text_reads_like_a_summary(authed: TestClient) -> None:
    text = text_of(authed.get("/dashboard").text)
    for word in ("Recovery", "HRV", "Resting HR", "Strain", "Sleep", "Last 7 days", "Body"):
        assert word in text
