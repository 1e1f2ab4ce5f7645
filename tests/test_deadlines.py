"""No request may hang (issue 9.1): every WHOOP call and every page or tool has a total deadline.

The fake WHOOP and the fake Ollama run as loopback servers here: httpx's ASGI transport buffers a whole
body and has no timeouts, so only a real socket shows what a server that trickles its answer does to a
client whose timeout applies per read. Deadlines are short (``WHOOP_REQUEST_DEADLINE=2``) and every
answer is awaited with a bound, so a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from mcp import Client

from tests.conftest import make_settings
from tests.web.conftest import BASE_URL, REDIRECT_URI, Clock, text_of
from tests.web.fake_ollama import FakeOllama, ServerThread
from whoopkit import insights
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop
from whoopkit.mcp_server import create_server
from whoopkit.service import build_service
from whoopkit.tokens import Token, TokenStore
from whoopkit.web.app import create_app

DEADLINE = 2.0
# An answer due after DEADLINE may take this long in all (start-up of a page, a slow CI machine).
BOUND = 5.0
TRICKLE = 0.1  # seconds per byte: a profile takes ~10 s, a page of records many minutes


@pytest.fixture
def loopback_fake(fake_now: datetime) -> Iterator[tuple[FakeWhoop, str]]:
    """The fake WHOOP served over a real loopback socket; yields it and its base URL."""
    fake = create_fake_whoop(
        client_id="demo-client", client_secret="demo-secret", auto_approve=True, now=fake_now
    )
    fake.data  # noqa: B018 - generate the data now, not within the first request's deadline
    with ServerThread(fake) as server:
        yield fake, server.url


def _settings(tmp_path: Path, base: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "WHOOP_API_BASE_URL": f"{base}/developer",
        "WHOOP_OAUTH_BASE_URL": f"{base}/oauth/oauth2",
        "WHOOP_REDIRECT_URI": REDIRECT_URI,
        "WHOOP_REQUEST_DEADLINE": DEADLINE,
        "WHOOP_SYNC_INTERVAL": 0,
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


def _log_in(fake: FakeWhoop, settings: Settings) -> None:
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))


def _timed_get(client: TestClient, pool: ThreadPoolExecutor, url: str) -> tuple[httpx.Response, float]:
    """GET ``url``, failing the test (instead of hanging) when no answer comes within ``BOUND``."""
    started = time.perf_counter()
    response = pool.submit(client.get, url).result(timeout=BOUND)
    return response, time.perf_counter() - started


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    """Threads for requests that must answer within a bound."""
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def test_a_page_says_whoop_is_not_answering_within_the_deadline_when_whoop_trickles(
    tmp_path: Path, clean_env: None, loopback_fake: tuple[FakeWhoop, str], fake_now: datetime, pool: Any
) -> None:
    fake, base = loopback_fake
    settings = _settings(tmp_path, base)
    _log_in(fake, settings)
    fake.faults.trickle = TRICKLE
    with TestClient(create_app(settings, demo=False, clock=Clock(fake_now)), base_url=BASE_URL) as client:
        response, took = _timed_get(client, pool, "/cycles-view?days=7")
        fake.faults.trickle = 0.0
    assert response.status_code == 503
    assert "WHOOP is not answering" in text_of(response.text)
    assert took < DEADLINE + 1.0


def test_a_stuck_request_does_not_hold_later_ones_once_whoop_recovers(
    tmp_path: Path, clean_env: None, loopback_fake: tuple[FakeWhoop, str], fake_now: datetime, pool: Any
) -> None:
    fake, base = loopback_fake
    settings = _settings(tmp_path, base)
    _log_in(fake, settings)
    clock = Clock(fake_now)
    with TestClient(create_app(settings, demo=False, clock=clock), base_url=BASE_URL) as client:
        first = client.get("/cycles-view?days=7")
        assert first.status_code == 200, text_of(first.text)
        clock.advance(settings.whoop_fresh_seconds + 60)  # due for a refresh
        fake.faults.trickle = TRICKLE  # WHOOP starts answering a byte at a time
        stuck, took = _timed_get(client, pool, "/cycles-view?days=7")
        assert stuck.status_code == 200 and took < DEADLINE + 1.0
        assert "stored data" in text_of(stuck.text)  # answered from the store, saying so
        joined, took = _timed_get(client, pool, "/cycles-view?days=7")  # the same requests as the stuck one
        assert joined.status_code == 200 and took < DEADLINE + 1.0
        fake.faults.trickle = 0.0  # WHOOP recovers; the trickling responses in flight stay slow
        recovered, took = _timed_get(client, pool, "/cycles-view?days=7")
    assert recovered.status_code == 200
    assert "stored data" not in text_of(recovered.text)  # fresh again, not caught by the stuck request


@pytest.mark.anyio
async def test_get_user_profile_answers_within_the_deadline_when_whoop_trickles(
    tmp_path: Path, clean_env: None, loopback_fake: tuple[FakeWhoop, str], fake_now: datetime
) -> None:
    fake, base = loopback_fake
    settings = _settings(tmp_path, base)
    _log_in(fake, settings)
    service = build_service(settings, demo=False, clock=lambda: fake_now)
    fake.faults.trickle = TRICKLE
    try:
        async with Client(create_server(settings, service)) as client:
            started = time.perf_counter()
            with anyio.fail_after(BOUND):
                result = await client.call_tool("get_user_profile", {})
            took = time.perf_counter() - started
    finally:
        fake.faults.trickle = 0.0
        await service.aclose()
    assert result.is_error
    assert "not answering" in result.content[0].text  # type: ignore[union-attr]
    assert took < DEADLINE + 1.0


@pytest.mark.anyio
async def test_a_slow_whoop_gives_a_clear_answer_within_the_deadline_not_after_every_retry(
    tmp_path: Path, clean_env: None, loopback_fake: tuple[FakeWhoop, str], fake_now: datetime
) -> None:
    # Each attempt times out (1 s per read) and is retried with backoff: 6-7.5 s before the fix.
    fake, base = loopback_fake
    settings = _settings(tmp_path, base, WHOOP_HTTP_TIMEOUT=1)
    _log_in(fake, settings)
    service = build_service(settings, demo=False, clock=lambda: fake_now)
    fake.faults.latency = 5.0
    try:
        async with Client(create_server(settings, service)) as client:
            started = time.perf_counter()
            with anyio.fail_after(BOUND):
                result = await client.call_tool("get_user_profile", {})
            took = time.perf_counter() - started
    finally:
        fake.faults.latency = 0.0
        await service.aclose()
    assert result.is_error
    assert took < DEADLINE + 1.0


@pytest.mark.anyio
async def test_a_trickling_ollama_falls_back_to_rules_within_ollama_timeout(
    tmp_path: Path, clean_env: None
) -> None:
    fake_ollama = FakeOllama()
    with ServerThread(fake_ollama.app()) as server:
        fake_ollama.url = server.url
        fake_ollama.trickle = TRICKLE  # the answer (~300 bytes) would take about 30 s
        settings = make_settings(tmp_path, OLLAMA_HOST=server.url, OLLAMA_TIMEOUT=1)
        data = insights.InsightInput(
            cycles=[], recoveries=[], sleeps=[], workouts=[], body=None, now=datetime.now().astimezone()
        )
        started = time.perf_counter()
        try:
            with anyio.fail_after(BOUND):
                result = await insights.generate_insights(data, settings)
        finally:
            fake_ollama.trickle = 0.0
        took = time.perf_counter() - started
    assert result.source == "rules"
    assert "OLLAMA_TIMEOUT" in (result.notice or "")
    assert took < 1.0 + 2.0  # OLLAMA_TIMEOUT plus the rule-based insights on a busy machine
