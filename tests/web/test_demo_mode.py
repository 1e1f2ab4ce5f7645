"""Demo mode: the fake WHOOP mounted in-process, the whole login → consent → dashboard path, a banner."""

from __future__ import annotations

import re
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.web.conftest import BASE_URL, REDIRECT_URI, post_form
from tests.web.fake_ollama import FakeOllama
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.tokens import Token, TokenStore
from whoopkit.web.app import create_app


def demo_settings(tmp_path: Path, ollama_url: str) -> Settings:
    return make_settings(
        tmp_path,
        WHOOP_CLIENT_ID="",
        WHOOP_CLIENT_SECRET=None,
        WHOOP_REDIRECT_URI=REDIRECT_URI,
        WHOOP_API_BASE_URL="https://api.prod.whoop.com/developer",
        WHOOP_OAUTH_BASE_URL="https://api.prod.whoop.com/oauth/oauth2",
        OLLAMA_HOST=ollama_url,
    )


def login_through_consent(c: TestClient) -> None:
    login = c.get("/login")
    assert login.status_code == 303
    authorize = login.headers["location"]
    assert authorize.startswith(f"{BASE_URL}/_fake_whoop/oauth/oauth2/auth?")
    page = c.get(authorize)
    assert page.status_code == 200
    assert "Approve" in page.text
    request_id = re.search(r"name='request_id' value='([^']+)'", page.text)
    assert request_id is not None
    answer = c.post(
        "/_fake_whoop/oauth/oauth2/auth", data={"request_id": request_id.group(1), "decision": "approve"}
    )
    assert answer.status_code == 303
    back = answer.headers["location"]
    assert back.startswith(REDIRECT_URI)
    done = c.get(back)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/dashboard"


def test_without_credentials_the_app_runs_the_demo_end_to_end(
    tmp_path: Path, clean_env: None, ollama: FakeOllama
) -> None:
    settings = demo_settings(tmp_path, ollama.url)
    app = create_app(settings)
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as c:
        assert c.get("/healthz").json()["demo"] is True
        home = c.get("/")
        assert "Demo data" in home.text
        login_through_consent(c)
        dashboard = c.get("/dashboard")
        assert dashboard.status_code == 200
        assert "Demo data" in dashboard.text
        assert 'data-testid="recovery">' in dashboard.text
        for path in ["/cycles-view", "/workouts-view", "/sleep-view", "/recovery-view"]:
            assert c.get(path).status_code == 200
        data = c.get("/ai-insights-view/data").json()
        assert data["source"] == "ollama"
    # Demo tokens live apart from a real user's cache.
    assert not settings.whoop_token_cache.exists()
    assert (settings.whoop_data_dir / "demo_token.json").is_file()


def test_the_demo_never_overwrites_a_real_token_cache(
    tmp_path: Path, clean_env: None, ollama: FakeOllama, fake: FakeWhoop
) -> None:
    settings = demo_settings(tmp_path, ollama.url)
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    real = settings.whoop_token_cache.read_bytes()
    app = create_app(settings, demo=True)
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as c:
        login_through_consent(c)
        assert c.get("/dashboard").status_code == 200
        assert post_form(c, "/logout").status_code == 303
    assert settings.whoop_token_cache.read_bytes() == real


def test_the_demo_fake_exposes_no_control_endpoints(
    tmp_path: Path, clean_env: None, ollama: FakeOllama
) -> None:
    app = create_app(demo_settings(tmp_path, ollama.url))
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as c:
        assert c.post("/_fake_whoop/_fake/token").status_code == 404
        assert c.get("/_fake_whoop/_fake/stats").status_code == 404
