"""AI insights: the REAL ollama client against a fake Ollama server (up, down, model missing, bad output)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from html import unescape
from pathlib import Path

import ollama as ollama_lib
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.web.conftest import REDIRECT_URI, make_client, text_of
from tests.web.fake_ollama import DEFAULT_REPLY, FakeOllama
from whoopkit import insights
from whoopkit.analytics import Insights
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.models import Cycle, Recovery, Sleep, Workout
from whoopkit.tokens import Token, TokenStore


@pytest.fixture
def ollama_down(
    tmp_path: Path, clean_env: None, fake: FakeWhoop, fake_now: datetime, closed_port: int
) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        WHOOP_REDIRECT_URI=REDIRECT_URI,
        OLLAMA_HOST=f"http://127.0.0.1:{closed_port}",
        WHOOP_SYNC_INTERVAL=0,
    )
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    with make_client(settings, fake, fake_now) as c:
        yield c


def insight_input(fake: FakeWhoop, now: datetime) -> insights.InsightInput:
    data = fake.data
    return insights.InsightInput(
        cycles=[Cycle.model_validate(r) for r in data.cycles[:35]],
        recoveries=[Recovery.model_validate(r) for r in data.recoveries[:35]],
        sleeps=[Sleep.model_validate(r) for r in data.sleeps[:45]],
        workouts=[Workout.model_validate(r) for r in data.workouts[:30]],
        body=None,
        now=now,
    )


def test_the_insights_page_appears_at_once_with_a_thinking_card_and_a_fallback_link(
    authed: TestClient, ollama: FakeOllama
) -> None:
    response = authed.get("/ai-insights-view")
    assert response.status_code == 200
    html = response.text
    assert 'data-state="thinking"' in html
    assert "Thinking…" in html
    assert '<script src="/static/insights.js" defer></script>' in html
    assert 'href="/ai-insights-view?wait=1"' in html
    assert ollama.requests == []  # the model is asked by the data endpoint, not by the page


def test_with_ollama_up_the_data_endpoint_returns_the_models_validated_insights(
    authed: TestClient, ollama: FakeOllama, fake: FakeWhoop
) -> None:
    response = authed.get("/ai-insights-view/data")
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "ollama"
    assert body["model"] == "llama3.2"
    assert body["insights"]["summary"] == DEFAULT_REPLY["summary"]
    assert body["notice"] is None
    (request,) = ollama.requests
    assert request["model"] == "llama3.2"
    assert request["stream"] is False
    assert request["format"] == Insights.model_json_schema()
    prompt = request["messages"][-1]["content"]
    recovery = fake.data.recoveries[0]["score"]
    assert f"Recovery {recovery['recovery_score']:.0f}%" in prompt
    assert f"HRV {recovery['hrv_rmssd_milli']:.1f} ms" in prompt
    assert "Means of the last 7 / 30 days" in prompt
    assert "Last night's sleep" in prompt
    assert "Recent workouts" in prompt


def test_a_reload_reuses_the_models_answer_for_the_same_numbers(
    authed: TestClient, ollama: FakeOllama
) -> None:
    first = authed.get("/ai-insights-view/data").json()
    second = authed.get("/ai-insights-view/data").json()
    assert first == second
    assert len(ollama.requests) == 1


def test_the_no_js_fallback_renders_the_insight_server_side(authed: TestClient, ollama: FakeOllama) -> None:
    html = authed.get("/ai-insights-view?wait=1").text
    assert 'data-state="done"' in html
    assert DEFAULT_REPLY["summary"] in html
    assert "Keep today" in html
    assert "insights.js" not in html


def test_with_ollama_down_rule_based_insights_and_how_to_enable_it_are_shown(ollama_down: TestClient) -> None:
    body = ollama_down.get("/ai-insights-view/data").json()
    assert body["source"] == "rules"
    assert body["insights"]["summary"]
    assert "ollama serve" in body["notice"]
    assert "ollama pull llama3.2" in body["notice"]
    html = ollama_down.get("/ai-insights-view?wait=1").text
    assert "Rule-based" in html
    assert "ollama serve" in html


DAY = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b"
)


def card_text(html: str) -> str:
    """The visible text of the insights page's main part (the layout's nav and footer left out)."""
    main = html[html.index("<main") : html.index("</main>")]
    return unescape(text_of(main))


def test_with_ollama_down_the_header_does_not_say_a_model_wrote_the_rules(ollama_down: TestClient) -> None:
    html = ollama_down.get("/ai-insights-view?wait=1").text
    text = card_text(html)
    assert "From a local Ollama model" not in text
    assert "built-in rules" in text and "Rule-based" in text
    body = ollama_down.get("/ai-insights-view/data").json()
    assert "From a local Ollama model" not in body["origin"] and "built-in rules" in body["origin"]
    # before the answer arrives, the header claims neither
    waiting = card_text(ollama_down.get("/ai-insights-view").text)
    assert "From a local Ollama model" not in waiting and "built-in rules" not in waiting


def test_with_ollama_up_the_header_names_the_model(authed: TestClient, ollama: FakeOllama) -> None:
    assert "From a local Ollama model (llama3.2)" in card_text(authed.get("/ai-insights-view?wait=1").text)
    assert (
        authed.get("/ai-insights-view/data")
        .json()["origin"]
        .startswith("From a local Ollama model (llama3.2)")
    )


def test_the_recommendations_never_repeat_the_summary(ollama_down: TestClient) -> None:
    insight = ollama_down.get("/ai-insights-view/data").json()["insights"]
    assert insight["recommendations"]
    for rec in insight["recommendations"]:
        assert rec.rstrip(".") not in insight["summary"], rec


def test_a_model_that_repeats_its_summary_as_a_recommendation_is_not_shown_twice(
    authed: TestClient, ollama: FakeOllama
) -> None:
    ollama.reply = json.dumps(
        {
            "summary": "Recovery is 59%. Keep today's strain moderate.",
            "recommendations": ["Keep today's strain moderate.", "Go to bed by 22:30."],
            "flags": [],
        }
    )
    body = authed.get("/ai-insights-view/data").json()
    assert body["source"] == "ollama"
    assert body["insights"]["recommendations"] == ["Go to bed by 22:30."]


def test_the_insights_page_shows_no_literal_backticks(ollama_down: TestClient) -> None:
    html = ollama_down.get("/ai-insights-view?wait=1").text
    assert "`" not in card_text(html)
    assert "<code>ollama serve</code>" in html and "<code>ollama pull llama3.2</code>" in html
    body = ollama_down.get("/ai-insights-view/data").json()
    assert "`" not in body["notice"]
    assert {"text": "ollama serve", "code": True} in body["notice_parts"]


def test_markdown_marks_in_the_models_answer_are_dropped(authed: TestClient, ollama: FakeOllama) -> None:
    ollama.reply = json.dumps(
        {
            "summary": "Your **recovery** is `59%`.",
            "recommendations": ["Run `easy` today."],
            "flags": [{"level": "info", "message": "HRV is **stable**."}],
        }
    )
    insight = authed.get("/ai-insights-view/data").json()["insights"]
    assert insight["summary"] == "Your recovery is 59%."
    assert insight["recommendations"] == ["Run easy today."]
    assert insight["flags"][0]["message"] == "HRV is stable."


def test_the_insights_write_dates_and_durations_as_the_other_pages_do(ollama_down: TestClient) -> None:
    body = ollama_down.get("/ai-insights-view/data").json()
    summary = body["insights"]["summary"]
    assert DAY.match(summary), summary  # "Fri 20 Nov", as the dashboard and tables write a day
    assert re.search(r"\b\d{1,2} h \d\d min of sleep\b", summary), summary  # "7 h 55 min", not "7.9 h"
    text = card_text(ollama_down.get("/ai-insights-view?wait=1").text)
    assert not re.search(r"\d{4}-\d\d-\d\d", text), text
    assert not re.search(r"\d\.\d h\b", text), text
    facts = dict(body["facts"])
    assert re.fullmatch(r"\d{1,2} h \d\d min", facts["Sleep"])


def test_the_insights_explain_training_load_without_jargon(ollama_down: TestClient) -> None:
    text = card_text(ollama_down.get("/ai-insights-view?wait=1").text)
    assert "Training load is steady" in text  # the demo's load is steady, so the flag is there to read
    assert "acute" not in text.lower() and "chronic" not in text.lower()
    assert "4-week average" in text


def test_the_prompt_asks_for_plain_words_and_the_pages_formats(
    authed: TestClient, ollama: FakeOllama
) -> None:
    authed.get("/ai-insights-view/data")
    (request,) = ollama.requests
    system, prompt = request["messages"][0]["content"], request["messages"][-1]["content"]
    assert "acute:chronic strain ratio" not in prompt
    assert "Tue 1 Dec" in system and "6 h 43 min" in system and "no Markdown or backticks" in system
    assert DAY.match(prompt.removeprefix("Today ("))


def test_a_missing_model_says_to_pull_it(authed: TestClient, ollama: FakeOllama) -> None:
    ollama.models = {"some-other-model"}
    body = authed.get("/ai-insights-view/data").json()
    assert body["source"] == "rules"
    assert "ollama pull llama3.2" in body["notice"]
    assert "not installed" in body["notice"]


def test_model_output_that_is_not_the_schema_falls_back_to_rules(
    authed: TestClient, ollama: FakeOllama
) -> None:
    ollama.reply = "Sure! Here are some insights: sleep more."
    body = authed.get("/ai-insights-view/data").json()
    assert body["source"] == "rules"
    assert "expected format" in body["notice"]


def test_model_output_is_length_capped_and_escaped(authed: TestClient, ollama: FakeOllama) -> None:
    evil = "<img src=x onerror=alert(1)>"
    ollama.reply = json.dumps(
        {
            "summary": evil + "A" * 5000,
            "recommendations": [evil] * 50,
            "flags": [{"level": "alert", "message": "\u202eevil\x00" + evil}],
        }
    )
    body = authed.get("/ai-insights-view/data").json()
    assert body["source"] == "ollama"
    assert len(body["insights"]["summary"]) <= insights.MAX_SUMMARY_CHARS
    assert len(body["insights"]["recommendations"]) <= insights.MAX_ITEMS
    assert "\u202e" not in body["insights"]["flags"][0]["message"]
    assert "\x00" not in body["insights"]["flags"][0]["message"]
    html = authed.get("/ai-insights-view?wait=1").text
    assert evil not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_slow_model_times_out_into_the_rules(
    tmp_path: Path, clean_env: None, fake: FakeWhoop, fake_now: datetime, ollama: FakeOllama
) -> None:
    ollama.delay = 2.0
    settings = make_settings(
        tmp_path,
        WHOOP_REDIRECT_URI=REDIRECT_URI,
        OLLAMA_HOST=ollama.url,
        OLLAMA_TIMEOUT=0.3,
        WHOOP_SYNC_INTERVAL=0,
    )
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    with make_client(settings, fake, fake_now) as c:
        started = time.monotonic()
        body = c.get("/ai-insights-view/data").json()
        assert time.monotonic() - started < 1.9
    assert body["source"] == "rules"
    assert "OLLAMA_TIMEOUT" in body["notice"]


def test_the_data_endpoint_answers_json_when_logged_out(client: TestClient) -> None:
    response = client.get("/ai-insights-view/data")
    assert response.status_code == 401
    assert response.json()["login"] is True


@pytest.mark.anyio
async def test_generate_insights_uses_the_real_client_against_the_fake(
    ollama: FakeOllama, fake: FakeWhoop, fake_now: datetime, web_settings: Settings
) -> None:
    result = await insights.generate_insights(insight_input(fake, fake_now), web_settings)
    assert result.source == "ollama"
    assert result.insights.recommendations == DEFAULT_REPLY["recommendations"]


@pytest.mark.anyio
async def test_generate_insights_without_ollama_returns_rules(
    fake: FakeWhoop, fake_now: datetime, web_settings: Settings, closed_port: int
) -> None:
    settings = web_settings.model_copy(update={"ollama_host": f"http://127.0.0.1:{closed_port}"})
    result = await insights.generate_insights(insight_input(fake, fake_now), settings)
    assert result.source == "rules"
    assert result.model is None
    assert result.insights.flags


@pytest.mark.anyio
async def test_the_fake_ollama_streams_ndjson_and_lists_its_models(ollama: FakeOllama) -> None:
    client = ollama_lib.AsyncClient(host=ollama.url, timeout=5)
    try:
        parts = [
            part.message.content
            async for part in await client.chat(
                model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        ]
        assert len(parts) > 2
        assert json.loads("".join(parts)) == DEFAULT_REPLY
        listed = await client.list()
        assert [m.model for m in listed.models] == ["llama3.2:latest"]
        with pytest.raises(ollama_lib.ResponseError) as info:
            await client.chat(model="missing", messages=[{"role": "user", "content": "hi"}])
        assert info.value.status_code == 404
        assert "not found" in str(info.value)
    finally:
        await client.close()
