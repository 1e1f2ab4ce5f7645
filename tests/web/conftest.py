"""Fixtures for the web app: TestClients in real mode (fake WHOOP in-process) and demo mode, fake Ollama."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.web.fake_ollama import FakeOllama, ServerThread, free_port
from whoopkit.config import Settings
from whoopkit.web.app import create_app

if TYPE_CHECKING:
    from whoopkit.fake_whoop import FakeWhoop

BASE_URL = "http://localhost:3000"
REDIRECT_URI = f"{BASE_URL}/callback"


@pytest.fixture(scope="session")
def fake_ollama() -> Iterator[FakeOllama]:
    """A fake Ollama HTTP server on a free loopback port (shared; tests reset its state)."""
    state = FakeOllama()
    with ServerThread(state.app()) as server:
        state.url = server.url
        yield state


@pytest.fixture
def ollama(fake_ollama: FakeOllama) -> FakeOllama:
    """The fake Ollama, reset to its default model and answer."""
    fake_ollama.reset()
    return fake_ollama


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (Ollama down)."""
    return free_port()


@pytest.fixture
def web_settings(tmp_path: Path, clean_env: None, ollama: FakeOllama) -> Settings:
    """Settings for the web app: the fake WHOOP, a tmp token cache and store, the fake Ollama.

    The background sync is off (WHOOP_SYNC_INTERVAL=0) so that upstream request counts are the
    pages' own; the tests of the background sync turn it on.
    """
    return make_settings(
        tmp_path,
        WHOOP_REDIRECT_URI=REDIRECT_URI,
        OLLAMA_HOST=ollama.url,
        OLLAMA_TIMEOUT=10,
        WHOOP_SYNC_INTERVAL=0,
    )


class Clock:
    """A settable "now" for the app (the service's clock): pinned until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move "now" forward."""
        self.now += timedelta(seconds=seconds)


def make_client(
    settings: Settings, fake: FakeWhoop, now: datetime | Callable[[], datetime], *, demo: bool = False
) -> TestClient:
    """A TestClient on the app (its lifespan starts on enter); ``now`` is a fixed time or a clock."""
    clock = now if callable(now) else Clock(now)
    app = create_app(settings, demo=demo, fake=fake, clock=clock)
    return TestClient(app, base_url=BASE_URL, follow_redirects=False)


@pytest.fixture
def client(web_settings: Settings, fake: FakeWhoop, fake_now: datetime) -> Iterator[TestClient]:
    """The app in real mode, talking to the in-process fake WHOOP, not logged in."""
    with make_client(web_settings, fake, fake_now) as c:
        yield c


@pytest.fixture
def authed(client: TestClient, fake: FakeWhoop, web_settings: Settings) -> TestClient:
    """The app with a valid token cache (saved by H-auth's TokenStore)."""
    import time

    from whoopkit.tokens import Token, TokenStore

    TokenStore(web_settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    return client


def text_of(html: str) -> str:
    """Visible-ish text of a page: tags removed, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def form_token(client: TestClient) -> str:
    """The CSRF token this client's pages put in their forms (read off a page, as a browser has it).

    A page shows the logout form only when logged in; otherwise the token is derived the way the app
    derives it, from the session cookie the first response set.
    """
    page = client.get("/no-such-page")
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    if match:
        return match.group(1)
    from whoopkit.web.security import SESSION_COOKIE, csrf_token

    return csrf_token({"state": {SESSION_COOKIE: client.cookies[SESSION_COOKIE]}})


def post_form(client: TestClient, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """POST a form the way the app's own page does: with its CSRF token."""
    return client.post(path, data={"csrf_token": form_token(client), **(data or {})}, **kwargs)
