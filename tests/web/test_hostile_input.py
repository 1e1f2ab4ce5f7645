"""A hostile user: odd queries, methods, callbacks, corrupt token caches, WHOOP and Ollama misbehaving."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import make_settings
from tests.web.conftest import BASE_URL, REDIRECT_URI, text_of
from tests.web.fake_ollama import FakeOllama, ServerThread
from tests.web.test_oauth_flow import start_login
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.tokens import Token, TokenStore
from whoopkit.web.app import create_app

RANGE_PAGES = ["/cycles-view", "/workouts-view", "/sleep-view", "/recovery-view"]
GET_PAGES = ["/", "/healthz", "/dashboard", *RANGE_PAGES, "/ai-insights-view"]


def assert_error_page(response: object, status: int) -> str:
    """The status, the layout's security headers, no traceback; returns the visible text."""
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    headers = response.headers  # type: ignore[attr-defined]
    assert "content-security-policy" in headers
    assert headers["x-content-type-options"] == "nosniff"
    html: str = response.text  # type: ignore[attr-defined]
    assert "Traceback" not in html
    return text_of(html)


@pytest.mark.parametrize("path", RANGE_PAGES)
def test_a_days_value_given_twice_with_different_values_is_a_400_page(authed: TestClient, path: str) -> None:
    text = assert_error_page(authed.get(f"{path}?days=7&days=30"), 400)
    assert "give ?days= once" in text


def test_a_days_value_repeated_identically_is_accepted(authed: TestClient) -> None:
    assert authed.get("/sleep-view?days=7&days=7").status_code == 200


@pytest.mark.parametrize("bad", ["7.5", "", "\u2713", "1e2", "+7", " 7"])
def test_odd_days_values_never_give_a_500(authed: TestClient, bad: str) -> None:
    response = authed.get("/cycles-view", params={"days": bad})
    assert response.status_code in (200, 400)
    assert "Traceback" not in response.text


def test_unknown_query_parameters_are_ignored(authed: TestClient) -> None:
    assert authed.get("/recovery-view?days=7&foo=bar&%FF=%FE&x").status_code == 200


@pytest.mark.parametrize("path", GET_PAGES)
def test_head_is_answered_wherever_get_is(authed: TestClient, path: str) -> None:
    response = authed.head(path)
    assert response.status_code in (200, 303)
    assert response.content == b""


def test_a_wrong_method_is_a_405_page_with_an_allow_header(authed: TestClient) -> None:
    response = authed.delete("/dashboard")
    text = assert_error_page(response, 405)
    assert "GET" in response.headers["allow"]
    assert "/dashboard does not accept DELETE requests" in text


def test_logout_by_get_is_a_405_page_pointing_at_the_button_and_keeps_the_login(
    authed: TestClient, web_settings: Settings
) -> None:
    before = web_settings.whoop_token_cache.read_bytes()
    response = authed.get("/logout")
    text = assert_error_page(response, 405)
    assert response.headers["allow"] == "POST"
    assert "Log out button" in text
    assert web_settings.whoop_token_cache.read_bytes() == before


def test_a_script_in_the_callbacks_error_is_neither_reflected_nor_a_500(client: TestClient) -> None:
    response = client.get(
        "/callback", params={"error": "<script>alert(1)</script>", "error_description": "<b>"}
    )
    text = assert_error_page(response, 400)
    assert "<script>alert" not in response.text
    # Without the matching state the error is not WHOOP's word: it is refused like any forged callback.
    assert "This login link is not valid" in text


def test_a_huge_code_with_a_valid_state_is_a_4xx_page_and_keeps_the_cache(
    client: TestClient, fake: FakeWhoop, web_settings: Settings
) -> None:
    TokenStore(web_settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    before = web_settings.whoop_token_cache.read_bytes()
    _, state = start_login(client)
    response = client.get("/callback", params={"code": "A" * 6000, "state": state})
    assert 400 <= response.status_code < 500
    assert "Traceback" not in response.text
    assert web_settings.whoop_token_cache.read_bytes() == before


def test_path_traversal_under_static_is_a_404_page(client: TestClient) -> None:
    for path in ("/static/../whoopkit/tokens.py", "/static/..%2f..%2fconfig.py", "/static/%2e%2e/app.py"):
        assert_error_page(client.get(path), 404)


def _write_corrupt(path: Path, kind: str) -> None:
    if kind == "directory":
        path.mkdir()
        return
    contents = {
        "empty": b"",
        "open brace": b"{",
        "a list": b"[]",
        "a number for the access token": b'{"access_token": 5}',
        "binary garbage": bytes(range(256)) * 3,
        "infinite expiry": b'{"access_token": "a", "expires_in": 3600, "expires_at": 1e400}',
        "NaN expiry": b'{"access_token": "a", "expires_in": 3600, "expires_at": NaN}',
        "a byte-order mark": b'\xef\xbb\xbf{"access_token": "a", "expires_in": 3600}',
    }[kind]
    path.write_bytes(contents)


def _fingerprint(path: Path) -> tuple[bool, bytes | None, int]:
    # Only the owner's bits may change: a token file readable by others is tightened to 0600 on read.
    if path.is_dir():
        return True, None, len(os.listdir(path))
    return False, path.read_bytes(), path.stat().st_mode & 0o700


@pytest.mark.parametrize(
    "kind",
    [
        "empty",
        "open brace",
        "a list",
        "a number for the access token",
        "binary garbage",
        "infinite expiry",
        "NaN expiry",
        "a byte-order mark",
        "directory",
    ],
)
@pytest.mark.parametrize("path", ["/dashboard", "/recovery-view", "/ai-insights-view/data"])
def test_a_corrupt_token_cache_is_a_login_page_and_its_bytes_are_unchanged(
    client: TestClient, fake: FakeWhoop, web_settings: Settings, kind: str, path: str
) -> None:
    cache = web_settings.whoop_token_cache
    _write_corrupt(cache, kind)
    before = _fingerprint(cache)
    response = client.get(path)
    assert response.status_code == 401
    assert "Traceback" not in response.text
    if path.endswith("/data"):
        assert response.json()["login"] is True
        message = response.json()["message"]
    else:
        assert 'class="banner warn"' in response.text
        message = text_of(response.text)
    assert "token cache" in message
    assert "log in again" in message
    assert fake.stats.requests == 0
    assert _fingerprint(cache) == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads a 0000 file anyway")
def test_an_unreadable_token_cache_is_a_login_page_that_names_the_permissions(
    client: TestClient, web_settings: Settings
) -> None:
    cache = web_settings.whoop_token_cache
    cache.write_bytes(b'{"access_token": "a", "expires_in": 3600}')
    cache.chmod(0)
    try:
        response = client.get("/dashboard")
        assert response.status_code == 401
        assert "permissions" in text_of(response.text)
    finally:
        cache.chmod(0o600)


def test_whoop_rate_limiting_is_a_429_page_with_retry_after_and_keeps_the_login(
    authed: TestClient, fake: FakeWhoop, web_settings: Settings
) -> None:
    before = web_settings.whoop_token_cache.read_bytes()
    fake.faults.fail_next(429, count=50, retry_after=120)
    response = authed.get("/cycles-view?days=7")
    text = assert_error_page(response, 429)
    assert response.headers["retry-after"] == "120"
    assert "WHOOP asked us to slow down" in text
    assert web_settings.whoop_token_cache.read_bytes() == before


def test_whoop_rate_limiting_on_the_data_endpoint_is_json(authed: TestClient, fake: FakeWhoop) -> None:
    fake.faults.fail_next(429, count=50, retry_after=120)
    response = authed.get("/ai-insights-view/data")
    assert response.status_code == 429
    assert response.json()["error"] == "WHOOP asked us to slow down"


def test_something_else_on_the_ollama_port_falls_back_to_rules(
    authed: TestClient, ollama: FakeOllama
) -> None:
    ollama.raw = b"<html>not ollama</html>"
    response = authed.get("/ai-insights-view/data")
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "rules"
    assert "OLLAMA_HOST" in body["notice"]


@pytest.fixture
def hanging_whoop() -> Iterator[str]:
    """A loopback 'WHOOP' that accepts requests and never answers in time; yields its API base URL."""
    release = threading.Event()

    async def hang(request: Request) -> Response:
        await anyio.to_thread.run_sync(release.wait, 10)
        return JSONResponse({})

    app = Starlette(routes=[Route("/{path:path}", hang)])
    with ServerThread(app) as server:
        try:
            yield f"{server.url}/developer"
        finally:
            release.set()


def test_a_whoop_timeout_is_a_clear_503_page_and_keeps_the_login(
    tmp_path: Path, clean_env: None, fake_now: datetime, hanging_whoop: str
) -> None:
    settings = make_settings(
        tmp_path,
        WHOOP_REDIRECT_URI=REDIRECT_URI,
        WHOOP_API_BASE_URL=hanging_whoop,
        WHOOP_HTTP_TIMEOUT=0.3,
        WHOOP_SYNC_INTERVAL=0,
    )
    answer = {"access_token": "valid", "expires_in": 3600, "scope": "offline", "refresh_token": "r"}
    TokenStore(settings.whoop_token_cache).save(Token.from_response(answer, now=time.time()))
    before = settings.whoop_token_cache.read_bytes()
    app = create_app(settings, demo=False, clock=lambda: fake_now)
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as c:
        app.state.web.service.whoop.client.max_retries = 0  # one timed-out attempt is enough to show the page
        response = c.get("/sleep-view?days=7")
    text = assert_error_page(response, 503)
    assert "WHOOP is not answering" in text
    assert "timed out" in text
    assert settings.whoop_token_cache.read_bytes() == before
