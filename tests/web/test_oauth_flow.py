"""OAuth login through the fake WHOOP's consent page, and every way it can fail (never touching the cache)."""

from __future__ import annotations

import re
import stat
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.web.conftest import BASE_URL, REDIRECT_URI, make_client, post_form
from whoopkit.config import OAUTH_SCOPES, Settings
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.tokens import Token, TokenStore


def start_login(client: TestClient) -> tuple[str, str]:
    """GET /login; returns (authorize URL, state)."""
    response = client.get("/login")
    assert response.status_code == 303
    location = response.headers["location"]
    state = parse_qs(urlsplit(location).query)["state"][0]
    return location, state


def consent(fake: FakeWhoop, authorize_url: str, decision: str) -> str:
    """Open the fake's consent page and press Approve/Deny; returns the redirect back to the app."""
    parts = urlsplit(authorize_url)
    with TestClient(fake, base_url="http://fake-whoop.local", follow_redirects=False) as browser:
        page = browser.get(f"{parts.path}?{parts.query}")
        assert page.status_code == 200, page.text
        request_id = re.search(r"name='request_id' value='([^']+)'", page.text)
        assert request_id is not None
        answer = browser.post(parts.path, data={"request_id": request_id.group(1), "decision": decision})
        assert answer.status_code == 303
        return answer.headers["location"]


def callback_path(location: str) -> str:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT_URI
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def consenting(fake: FakeWhoop) -> FakeWhoop:
    """The fake showing its consent page instead of auto-approving."""
    fake.auto_approve = False
    return fake


@pytest.fixture
def existing_cache(web_settings: Settings, fake: FakeWhoop) -> bytes:
    """A token cache that exists before the login attempt; returns its bytes."""
    TokenStore(web_settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    return web_settings.whoop_token_cache.read_bytes()


def test_login_redirects_to_whoop_with_every_scope_and_a_state_bound_to_a_cookie(
    client: TestClient, web_settings: Settings
) -> None:
    response = client.get("/login")
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{web_settings.whoop_oauth_base_url}/auth?")
    assert "%20" in location and "+" not in location
    query = parse_qs(urlsplit(location).query)
    assert query["scope"] == [" ".join(OAUTH_SCOPES)]
    assert "offline" in query["scope"][0].split()
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["response_type"] == ["code"]
    state = query["state"][0]
    assert len(state) >= 8
    cookie = response.headers["set-cookie"]
    assert f"whoopkit_oauth_state={state}" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()


def test_each_login_gets_a_new_random_state(client: TestClient) -> None:
    assert start_login(client)[1] != start_login(client)[1]


def test_login_on_another_loopback_name_first_moves_to_the_redirect_uris_host(
    web_settings: Settings, fake: FakeWhoop, fake_now: datetime
) -> None:
    app = make_client(web_settings, fake, fake_now).app
    with TestClient(app, base_url="http://127.0.0.1:3000", follow_redirects=False) as c:
        response = c.get("/login")
        assert response.status_code == 303
        assert response.headers["location"] == f"{BASE_URL}/login"


def test_login_on_another_port_than_the_redirect_uri_explains_the_mismatch(
    web_settings: Settings, fake: FakeWhoop, fake_now: datetime
) -> None:
    app = make_client(web_settings, fake, fake_now).app
    with TestClient(app, base_url="http://localhost:8000", follow_redirects=False) as c:
        response = c.get("/login")
        assert response.status_code == 503
        assert "WHOOP_REDIRECT_URI=http://localhost:8000/callback" in response.text


def test_the_login_completes_through_the_consent_page_and_writes_a_0600_token_cache(
    client: TestClient, consenting: FakeWhoop, web_settings: Settings
) -> None:
    url, _ = start_login(client)
    back = consent(consenting, url, "approve")
    response = client.get(callback_path(back))
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    cache = web_settings.whoop_token_cache
    assert cache.is_file()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    token = TokenStore(cache).load()
    assert "offline" in token.scopes and token.refresh_token
    dashboard = client.get("/dashboard")
    assert dashboard.status_code == 200
    assert token.access_token not in dashboard.text


def test_access_denied_is_a_403_page_and_leaves_the_cache_alone(
    client: TestClient, consenting: FakeWhoop, web_settings: Settings, existing_cache: bytes
) -> None:
    url, _ = start_login(client)
    back = consent(consenting, url, "deny")
    assert "error=access_denied" in back
    response = client.get(callback_path(back))
    assert response.status_code == 403
    assert "denied" in response.text
    assert 'href="/login"' in response.text
    assert web_settings.whoop_token_cache.read_bytes() == existing_cache


def test_access_denied_without_a_cache_creates_none(
    client: TestClient, consenting: FakeWhoop, web_settings: Settings
) -> None:
    url, _ = start_login(client)
    response = client.get(callback_path(consent(consenting, url, "deny")))
    assert response.status_code == 403
    assert not web_settings.whoop_token_cache.exists()


def test_a_callback_without_a_code_is_a_400_page(
    client: TestClient, web_settings: Settings, existing_cache: bytes
) -> None:
    _, state = start_login(client)
    response = client.get("/callback", params={"state": state})
    assert response.status_code == 400
    assert "authorization code" in response.text
    assert web_settings.whoop_token_cache.read_bytes() == existing_cache


def test_a_callback_with_a_wrong_state_is_a_400_page(
    client: TestClient, fake: FakeWhoop, web_settings: Settings, existing_cache: bytes
) -> None:
    start_login(client)  # a state cookie is set, but the callback carries another state
    response = client.get("/callback", params={"code": "whatever", "state": "X" * 43})
    assert response.status_code == 400
    assert "state did not match" in response.text
    assert "redirect URI" in response.text
    assert web_settings.whoop_token_cache.read_bytes() == existing_cache


def test_a_reused_state_is_rejected_the_second_time(
    client: TestClient, consenting: FakeWhoop, web_settings: Settings
) -> None:
    url, _ = start_login(client)
    back = callback_path(consent(consenting, url, "approve"))
    assert client.get(back).status_code == 303
    first = web_settings.whoop_token_cache.read_bytes()
    # The browser replays the callback (with the state cookie restored by hand).
    client.cookies.set("whoopkit_oauth_state", parse_qs(urlsplit(back).query)["state"][0])
    replay = client.get(back)
    assert replay.status_code == 400
    assert web_settings.whoop_token_cache.read_bytes() == first


def test_a_state_without_its_cookie_is_rejected(
    client: TestClient, consenting: FakeWhoop, web_settings: Settings
) -> None:
    url, _ = start_login(client)
    back = callback_path(consent(consenting, url, "approve"))
    client.cookies.clear()
    response = client.get(back)
    assert response.status_code == 400
    assert not web_settings.whoop_token_cache.exists()


def test_a_failed_token_exchange_is_a_4xx_page_and_leaves_the_cache_alone(
    client: TestClient, consenting: FakeWhoop, web_settings: Settings, existing_cache: bytes
) -> None:
    url, _ = start_login(client)
    back = callback_path(consent(consenting, url, "approve"))
    consenting.faults.fail_next(500, target="token")
    response = client.get(back)
    assert 400 <= response.status_code < 500
    assert "The WHOOP login did not complete" in response.text
    assert "Traceback" not in response.text
    assert web_settings.whoop_token_cache.read_bytes() == existing_cache


def test_a_wrong_client_secret_is_a_4xx_page_naming_the_credentials(
    tmp_path: Path, clean_env: None, consenting: FakeWhoop, fake_now: datetime
) -> None:
    settings = make_settings(tmp_path, WHOOP_REDIRECT_URI=REDIRECT_URI, WHOOP_CLIENT_SECRET="wrong-secret")
    with make_client(settings, consenting, fake_now) as c:
        url, _ = start_login(c)
        response = c.get(callback_path(consent(consenting, url, "approve")))
        assert response.status_code == 400
        assert "WHOOP_CLIENT_SECRET" in response.text
        assert "wrong-secret" not in response.text
        assert not settings.whoop_token_cache.exists()


def test_an_unknown_code_is_a_400_page(client: TestClient, consenting: FakeWhoop) -> None:
    _, state = start_login(client)
    response = client.get("/callback", params={"code": "not-a-code", "state": state})
    assert response.status_code == 400
    assert "authorization code" in response.text


def test_logout_revokes_access_and_removes_the_token_cache(
    authed: TestClient, fake: FakeWhoop, web_settings: Settings
) -> None:
    response = post_form(authed, "/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/?logged_out=1"
    assert not web_settings.whoop_token_cache.exists()
    assert fake.stats.requests_by_path.get("/developer/v2/user/access", 0) == 1
    assert "logged out" in authed.get("/?logged_out=1").text


def test_logout_still_removes_the_cache_when_whoop_is_down(
    authed: TestClient, fake: FakeWhoop, web_settings: Settings
) -> None:
    fake.faults.fail_next(503, count=20)
    assert post_form(authed, "/logout").status_code == 303
    assert not web_settings.whoop_token_cache.exists()


def test_a_cross_site_logout_is_refused(authed: TestClient, web_settings: Settings) -> None:
    response = authed.post("/logout", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert web_settings.whoop_token_cache.exists()


def test_a_logout_the_browser_marks_cross_site_is_refused(authed: TestClient, web_settings: Settings) -> None:
    response = authed.post("/logout", headers={"Sec-Fetch-Site": "cross-site", "Origin": "null"})
    assert response.status_code == 403
    assert web_settings.whoop_token_cache.exists()


def test_logout_is_post_only(authed: TestClient, web_settings: Settings) -> None:
    assert authed.get("/logout").status_code == 405
    assert web_settings.whoop_token_cache.exists()
