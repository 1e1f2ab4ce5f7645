"""WHOOP's re-scores on the range pages: the sentence under the value, in the row of the day it concerns."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import Clock, make_client
from whoopkit import analytics
from whoopkit.analytics.units import day_text
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.models import Cycle
from whoopkit.tokens import Token, TokenStore
from whoopkit.web import pages

NOTE = re.compile(r'<small class="note rescored">([^<]*)</small>')


@pytest.fixture
def clock(fake_now: datetime) -> Clock:
    return Clock(fake_now)


@pytest.fixture
def app_client(web_settings: Settings, fake: FakeWhoop, clock: Clock) -> Iterator[TestClient]:
    TokenStore(web_settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    with make_client(web_settings, fake, clock) as c:
        yield c


def row_of(page: str, day: str) -> str:
    """The table row whose first cell is ``day``."""
    rows = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("</tr>")
    [row] = [r for r in rows if f"<td>{day}</td>" in r]
    return row


def rescore_a_recovery(fake: FakeWhoop) -> tuple[Any, float, float, int]:
    recovery = next(r for r in fake.data.recoveries[2:] if r["score_state"] == "SCORED")
    before = recovery["score"]["recovery_score"]
    after = before - 20.0 if before >= 50 else before + 20.0
    fake.rescore("recovery", recovery["cycle_id"], recovery_score=after)
    [cycle] = [c for c in fake.data.cycles if c["id"] == recovery["cycle_id"]]
    return analytics.whoop_day(Cycle.model_validate(cycle)), before, after, recovery["cycle_id"]


def test_a_re_scored_recovery_shows_its_sentence_under_the_value_in_its_days_row(
    app_client: TestClient, fake: FakeWhoop, clock: Clock, web_settings: Settings
) -> None:
    first = app_client.get("/recovery-view?days=30")
    assert first.status_code == 200 and not NOTE.search(first.text)
    day, before, after, _ = rescore_a_recovery(fake)
    clock.advance(web_settings.whoop_fresh_seconds + 1)  # the next page re-lists the recent days

    page = app_client.get("/recovery-view?days=30")
    assert page.status_code == 200
    row = row_of(page.text, day_text(day))
    sentence = f"WHOOP changed {day_text(day)} recovery from {before:.0f}% to {after:.0f}%"
    assert NOTE.findall(row) == [sentence]
    assert f"{after:.0f}%<br>" in row  # under the new value
    assert NOTE.findall(page.text) == [sentence]  # and on no other row


def test_a_note_is_escaped_like_every_other_text_on_the_page(app_client: TestClient) -> None:
    now = datetime(2026, 11, 3, 12, tzinfo=UTC)
    day = analytics.DaySummary(
        date=now.date(), weekday="Tue", cycle_id=7, recovery_state="SCORED", recovery_pct=61.0
    )
    change = analytics.ScoreChange(
        date=day.date,
        kind="recoveries",
        record_key="7",
        metric="recovery",
        before=54.0,
        after=61.0,
        unit="%",
        changed_at=now,
        sentence="<script>alert(1)</script> & more",
    )
    context = pages.recovery_view([day], days=7, today=day.date, changes={day.date: [change]})
    context.pop("export")
    env = app_client.app.state.web.templates.env  # type: ignore[attr-defined]
    rendered = env.get_template("records.html").render(nav=[], days=7, range_choices=[7], **context)
    assert "<script>alert(1)</script>" not in rendered
    assert NOTE.findall(rendered) == [html.escape("<script>alert(1)</script> & more", quote=False)]


def test_a_page_of_days_with_no_re_scores_shows_no_notes_and_costs_no_upstream_request(
    app_client: TestClient, fake: FakeWhoop
) -> None:
    for path in ("/cycles-view", "/sleep-view", "/workouts-view", "/recovery-view"):
        assert not NOTE.search(app_client.get(f"{path}?days=30").text), path
    fake.stats.reset()
    fake.set_down(True)
    assert app_client.get("/recovery-view?days=30").status_code == 200
    assert fake.stats.requests == 0


def test_a_re_scored_sleep_and_day_strain_are_noted_on_the_sleep_and_strain_pages(
    app_client: TestClient, fake: FakeWhoop, clock: Clock, web_settings: Settings
) -> None:
    app_client.get("/sleep-view?days=30")
    app_client.get("/cycles-view?days=30")
    sleep = next(s for s in fake.data.sleeps[2:] if not s["nap"] and s["score_state"] == "SCORED")
    perf = sleep["score"]["sleep_performance_percentage"]
    fake.rescore("sleep", sleep["id"], sleep_performance_percentage=perf - 30 if perf > 50 else perf + 30)
    cycle = next(c for c in fake.data.cycles[2:] if c["score_state"] == "SCORED")
    fake.rescore("cycle", cycle["id"], strain=cycle["score"]["strain"] / 2)
    clock.advance(web_settings.whoop_fresh_seconds + 1)

    [sleep_note] = NOTE.findall(app_client.get("/sleep-view?days=30").text)
    [strain_note] = NOTE.findall(app_client.get("/cycles-view?days=30").text)
    assert " sleep performance from " in html.unescape(sleep_note)
    assert html.unescape(strain_note).startswith(
        f"WHOOP changed {day_text(analytics.whoop_day(Cycle.model_validate(cycle)))} day strain from "
    )
