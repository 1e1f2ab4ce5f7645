"""Pages over the local store: 365-day views, CSV downloads, "updated HH:MM", the stale banner, logout.

Every app here runs against the in-process fake WHOOP on a settable clock (``Clock``), so "fresh"
and "stale" are decided by moving time, never by waiting.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import Clock, make_client, post_form, text_of
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.tokens import Token, TokenStore

RANGE_PAGES = ["/cycles-view", "/workouts-view", "/sleep-view", "/recovery-view"]
ALL_PAGES = ["/dashboard", *RANGE_PAGES, "/ai-insights-view?wait=1"]
DEADLINE = 1.0  # WHOOP_REQUEST_DEADLINE here: how long a page may try WHOOP before using the store


def log_in(settings: Settings, fake: FakeWhoop) -> None:
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))


@pytest.fixture
def clock(fake_now: datetime) -> Clock:
    """The app's "now", starting at the fake's."""
    return Clock(fake_now)


@pytest.fixture
def app_client(web_settings: Settings, fake: FakeWhoop, clock: Clock) -> Iterator[TestClient]:
    """The app, logged in, on the settable clock."""
    log_in(web_settings, fake)
    with make_client(web_settings, fake, clock) as c:
        yield c


def impatient(settings: Settings) -> Settings:
    """``settings`` trying WHOOP for at most ``DEADLINE`` seconds per page."""
    return settings.model_copy(update={"whoop_request_deadline": DEADLINE})


def service_of(client: TestClient) -> Any:
    return client.app.state.web.service  # type: ignore[attr-defined]


def stored_rows(client: TestClient) -> int:
    return sum(c.rows for c in service_of(client).store_status().collections.values())


def body_rows(html: str) -> int:
    tbody = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return tbody.count("<tr")


def user_clock(fake: FakeWhoop, when: datetime) -> str:
    """``when`` as HH:MM in the fake user's own zone (their latest cycle's offset)."""
    zone = datetime.fromisoformat("2026-01-01T00:00:00" + fake.data.cycles[0]["timezone_offset"]).tzinfo
    return when.astimezone(zone).strftime("%H:%M")


@pytest.mark.parametrize("path", RANGE_PAGES)
def test_a_365_day_view_renders_from_the_store_without_asking_whoop_again(
    app_client: TestClient, fake: FakeWhoop, path: str
) -> None:
    first = app_client.get(f"{path}?days=365")
    assert first.status_code == 200
    fake.stats.reset()
    fake.set_down(True)  # anything that still asked WHOOP would now get a 503
    again = app_client.get(f"{path}?days=365")
    assert again.status_code == 200
    assert fake.stats.requests == 0
    assert f'href="{path}?days=365" class="active"' in again.text
    assert body_rows(again.text) == body_rows(first.text) >= 20
    assert "WHOOP is not answering" not in again.text


def test_the_365_day_recovery_view_covers_the_whole_stored_history(
    app_client: TestClient, fake: FakeWhoop
) -> None:
    html = app_client.get("/recovery-view?days=365").text
    assert body_rows(html) >= len(fake.data.recoveries) - 2  # the oldest may fall before its cycle
    assert html.count('class="dot ') > 150


@pytest.mark.parametrize("path", RANGE_PAGES)
@pytest.mark.parametrize("days", [7, 90])
def test_each_view_downloads_the_table_it_shows_as_csv(app_client: TestClient, path: str, days: int) -> None:
    page = app_client.get(f"{path}?days={days}")
    assert f'href="{path}?days={days}&amp;format=csv"' in page.text
    response = app_client.get(f"{path}?days={days}&format=csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and f"-{days}d-" in disposition and '.csv"' in disposition
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == body_rows(page.text) > 0
    header = response.text.splitlines()[0].split(",")
    assert any(re.search(r"_(bpm|ms|pct|minutes|kcal|km|c)$", name) for name in header), header


def test_the_recovery_csv_carries_the_numbers_with_units_in_the_column_names(
    app_client: TestClient, fake: FakeWhoop
) -> None:
    rows = list(csv.DictReader(io.StringIO(app_client.get("/recovery-view?days=7&format=csv").text)))
    assert list(rows[0]) == [
        "day",
        "score_state",
        "recovery_pct",
        "recovery_zone",
        "hrv_ms",
        "resting_hr_bpm",
        "spo2_pct",
        "skin_temp_c",
    ]
    newest = fake.data.recoveries[0]
    assert rows[0]["score_state"] == newest["score_state"] == "SCORED"
    assert float(rows[0]["recovery_pct"]) == round(newest["score"]["recovery_score"], 1)
    assert float(rows[0]["hrv_ms"]) == round(newest["score"]["hrv_rmssd_milli"], 1)
    assert [r["day"] for r in rows] == sorted((r["day"] for r in rows), reverse=True)


def test_a_pending_score_is_an_empty_cell_in_the_csv_not_a_zero(
    web_settings: Settings, fake: FakeWhoop, clock: Clock
) -> None:
    rec = fake.data.recoveries[0]
    rec["score_state"] = "PENDING_SCORE"
    rec.pop("score", None)
    log_in(web_settings, fake)
    with make_client(web_settings, fake, clock) as c:
        rows = list(csv.DictReader(io.StringIO(c.get("/recovery-view?days=7&format=csv").text)))
    assert rows[0]["score_state"] == "PENDING_SCORE"
    assert rows[0]["recovery_pct"] == ""


@pytest.mark.parametrize("bad", ["pdf", "CSV;", "", "html&x"])
def test_a_bad_format_is_a_400_page(app_client: TestClient, bad: str) -> None:
    response = app_client.get("/sleep-view", params={"days": "7", "format": bad})
    if bad == "":
        assert response.status_code == 200  # an empty format is the page itself
        return
    assert response.status_code == 400
    assert "The format must be html or csv" in text_of(response.text)
    assert "Traceback" not in response.text


@pytest.mark.parametrize("path", ALL_PAGES)
def test_every_page_says_when_its_data_was_updated_in_the_users_zone(
    app_client: TestClient, fake: FakeWhoop, fake_now: datetime, path: str
) -> None:
    # The user's zone comes from their latest stored cycle (until then it is the machine's).
    assert app_client.get("/dashboard").status_code == 200
    html = app_client.get(path).text
    assert 'updated <time datetime="' in html
    assert f'data-testid="updated">{user_clock(fake, fake_now)}</time>' in html
    assert 'class="banner stale"' not in html


def test_the_insights_page_shows_when_the_store_was_updated_without_syncing(
    app_client: TestClient, fake: FakeWhoop, fake_now: datetime
) -> None:
    assert "not synced yet" in app_client.get("/ai-insights-view").text
    assert app_client.get("/dashboard").status_code == 200  # a page read syncs what it shows
    app_client.get("/ai-insights-view/data")
    before = fake.stats.requests
    html = app_client.get("/ai-insights-view").text
    assert f'data-testid="updated">{user_clock(fake, fake_now)}</time>' in html
    assert fake.stats.requests == before
    fresh = app_client.get("/ai-insights-view/data").json()["freshness"]
    assert fresh["updated"] == user_clock(fake, fake_now) and fresh["stale"] is False


@pytest.mark.parametrize("trouble", ["down", "hanging"])
def test_with_whoop_down_after_a_sync_every_page_answers_from_the_store_with_a_banner(
    app_client: TestClient,
    fake: FakeWhoop,
    fake_now: datetime,
    clock: Clock,
    web_settings: Settings,
    trouble: str,
) -> None:
    for path in ALL_PAGES:
        assert app_client.get(path).status_code == 200
    if trouble == "down":
        fake.set_down(True)
    else:
        fake.faults.latency = 30.0  # accepts every request and answers far too late
    clock.advance(web_settings.whoop_fresh_seconds + 60)  # everything is due for a refresh now
    stored_at = user_clock(fake, fake_now)
    with make_client(impatient(web_settings), fake, clock) as c:
        for path in ALL_PAGES:
            started = time.monotonic()
            response = c.get(path)
            elapsed = time.monotonic() - started
            assert response.status_code == 200, path
            assert elapsed < DEADLINE + 2, (path, elapsed)
            text = text_of(response.text)
            assert 'class="banner stale"' in response.text
            assert f"WHOOP is not answering; showing data stored at {stored_at}." in text
            assert "stored data" in text  # the service's reason, e.g. "WHOOP is not answering in time"
            assert f'data-testid="updated">{stored_at}</time>' in response.text
        data = c.get("/ai-insights-view/data").json()
    assert data["freshness"]["stale"] is True
    assert data["freshness"]["banner"].startswith("WHOOP is not answering")


def test_the_stale_banner_goes_once_whoop_answers_again(
    app_client: TestClient, fake: FakeWhoop, clock: Clock, web_settings: Settings
) -> None:
    assert app_client.get("/recovery-view?days=7").status_code == 200
    fake.set_down(True)
    clock.advance(web_settings.whoop_fresh_seconds + 60)
    with make_client(impatient(web_settings), fake, clock) as c:
        assert 'class="banner stale"' in c.get("/recovery-view?days=7").text
    fake.set_down(False)
    with make_client(impatient(web_settings), fake, clock) as c:
        html = c.get("/recovery-view?days=7").text
    assert 'class="banner stale"' not in html
    assert f'data-testid="updated">{user_clock(fake, clock.now)}</time>' in html


def test_logout_keeps_the_local_history_by_default(
    app_client: TestClient, fake: FakeWhoop, web_settings: Settings
) -> None:
    assert 'name="delete_data"' in app_client.get("/dashboard").text
    kept = stored_rows(app_client)
    assert kept > 0
    response = post_form(app_client, "/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/?logged_out=1"
    assert not web_settings.whoop_token_cache.exists()
    assert stored_rows(app_client) == kept
    assert "stays on this computer" in app_client.get("/?logged_out=1").text


@pytest.mark.parametrize("value", ["1", "on"])
def test_logout_with_delete_data_ticked_deletes_the_local_history(
    app_client: TestClient, web_settings: Settings, value: str
) -> None:
    assert app_client.get("/dashboard").status_code == 200
    assert stored_rows(app_client) > 0
    response = post_form(app_client, "/logout", {"delete_data": value})
    assert response.status_code == 303
    assert not web_settings.whoop_token_cache.exists()
    assert stored_rows(app_client) == 0
    assert "was deleted" in app_client.get(response.headers["location"]).text


def test_an_unticked_delete_data_value_keeps_the_history(app_client: TestClient) -> None:
    assert app_client.get("/dashboard").status_code == 200
    kept = stored_rows(app_client)
    assert post_form(app_client, "/logout", {"delete_data": ""}).status_code == 303
    assert stored_rows(app_client) == kept


def test_after_logout_with_history_kept_pages_ask_for_a_login(app_client: TestClient) -> None:
    assert app_client.get("/recovery-view?days=30").status_code == 200
    post_form(app_client, "/logout")
    response = app_client.get("/recovery-view?days=30")
    assert response.status_code == 401
    assert 'class="banner warn"' in response.text


def test_a_database_from_a_newer_whoopkit_is_a_clear_503_page_not_a_crash(
    web_settings: Settings, fake: FakeWhoop, clock: Clock
) -> None:
    import sqlite3

    db = web_settings.whoop_data_dir / "whoop.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
    log_in(web_settings, fake)
    with make_client(web_settings, fake, clock) as c:
        health = c.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "error"
        for path in ("/", "/dashboard", "/recovery-view?days=7"):
            response = c.get(path)
            assert response.status_code == 503, path
            assert "local history cannot be used" in response.text
            assert "Traceback" not in response.text
    assert fake.stats.requests == 0


def test_text_from_whoop_cannot_become_a_spreadsheet_formula_in_the_csv(
    web_settings: Settings, fake: FakeWhoop, clock: Clock
) -> None:
    fake.data.workouts[0]["sport_name"] = "=cmd|calc"
    log_in(web_settings, fake)
    with make_client(web_settings, fake, clock) as c:
        rows = list(csv.DictReader(io.StringIO(c.get("/workouts-view?days=7&format=csv").text)))
    assert rows[0]["sport"] == "'=Cmd|Calc"
