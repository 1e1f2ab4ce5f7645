"""OAuth endpoints (authorize URL, code exchange, refresh, revoke), error mapping and login state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import make_settings
from tests.helpers.mini_oauth import MiniOAuth, form_of
from whoopkit import USER_AGENT
from whoopkit.config import OAUTH_SCOPES, Settings
from whoopkit.errors import (
    ConfigError,
    OAuthError,
    TokenRefreshError,
    WhoopAPIError,
    WhoopUnavailableError,
)
from whoopkit.oauth import OAuthClient, StateStore, new_state

NOW = 1_800_000_000.0
pytestmark = pytest.mark.anyio


@pytest.fixture
def server() -> MiniOAuth:
    return MiniOAuth()


@pytest.fixture
async def oauth(settings: Settings, server: MiniOAuth) -> AsyncIterator[OAuthClient]:
    async with httpx.AsyncClient(transport=server.transport()) as http:
        yield OAuthClient(http, settings, clock=lambda: NOW)


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# ---------------------------------------------------------------- authorize URL and state


def test_new_state_is_long_random_and_url_safe() -> None:
    states = {new_state() for _ in range(100)}
    assert len(states) == 100
    for state in states:
        assert len(state) >= 32
        assert state.replace("-", "").replace("_", "").isalnum()


async def test_the_authorize_url_asks_for_every_scope_including_offline_with_percent_20(
    oauth: OAuthClient,
) -> None:
    state = new_state()
    url = oauth.authorize_url(state)
    assert url.startswith("http://fake-whoop.local/oauth/oauth2/auth?")
    raw_query = urlsplit(url).query
    assert "+" not in raw_query
    assert "scope=" + "%20".join(s.replace(":", "%3A") for s in OAUTH_SCOPES) in raw_query
    query = query_of(url)
    assert query["scope"] == [" ".join(OAUTH_SCOPES)]
    assert "offline" in query["scope"][0].split()
    assert query["response_type"] == ["code"]
    assert query["client_id"] == ["demo-client"]
    assert query["redirect_uri"] == ["http://localhost:3000/callback"]
    assert query["state"] == [state]
    assert "demo-secret" not in url


@pytest.mark.parametrize("state", ["", "short", "1234567"])
async def test_a_state_shorter_than_8_characters_is_refused(oauth: OAuthClient, state: str) -> None:
    with pytest.raises(ValueError, match="at least 8"):
        oauth.authorize_url(state)


async def test_a_state_of_exactly_8_characters_is_accepted(oauth: OAuthClient) -> None:
    assert query_of(oauth.authorize_url("12345678"))["state"] == ["12345678"]


async def test_without_a_client_id_the_authorize_url_names_the_missing_setting(
    tmp_path: Path, clean_env: None
) -> None:
    settings = make_settings(tmp_path, WHOOP_CLIENT_ID="", WHOOP_CLIENT_SECRET="")
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigError, match="WHOOP_CLIENT_ID"):
            OAuthClient(http, settings).authorize_url(new_state())


def test_state_store_states_are_single_use() -> None:
    states = StateStore()
    state = states.issue()
    assert len(state) >= 8
    assert states.consume(state)
    assert not states.consume(state)


@pytest.mark.parametrize("state", ["never-issued-state", "", None])
def test_state_store_rejects_unknown_or_missing_states(state: str | None) -> None:
    states = StateStore()
    states.issue()
    assert not states.consume(state)


def test_state_store_states_expire_after_ten_minutes() -> None:
    now = [1000.0]
    states = StateStore(clock=lambda: now[0])
    fresh, stale = states.issue(), states.issue()
    now[0] += 599
    assert states.consume(fresh)
    now[0] += 2
    assert not states.consume(stale)


def test_state_store_is_bounded_and_forgets_the_oldest_first() -> None:
    states = StateStore(max_size=3)
    issued = [states.issue() for _ in range(5)]
    assert len(states) == 3
    assert not states.consume(issued[0])
    assert not states.consume(issued[1])
    assert all(states.consume(s) for s in issued[2:])


def test_state_store_purges_expired_states_when_issuing() -> None:
    now = [0.0]
    states = StateStore(clock=lambda: now[0])
    for _ in range(10):
        states.issue()
    now[0] += 601
    states.issue()
    assert len(states) == 1


# ---------------------------------------------------------------- token endpoint, recorded requests


async def test_exchange_code_posts_the_documented_form_and_stamps_expires_at(
    oauth: OAuthClient, server: MiniOAuth
) -> None:
    code = server.issue_code()
    token = await oauth.exchange_code(code)
    request = server.requests[-1]
    assert request.method == "POST"
    assert str(request.url) == "http://fake-whoop.local/oauth/oauth2/token"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["user-agent"] == USER_AGENT
    assert form_of(request) == {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://localhost:3000/callback",
        "client_id": "demo-client",
        "client_secret": "demo-secret",
    }
    assert token.expires_at == NOW + 3600
    assert token.refresh_token
    assert "offline" in token.scopes


async def test_refresh_posts_grant_type_refresh_token_with_scope_offline(
    oauth: OAuthClient, server: MiniOAuth
) -> None:
    refresh_token = str(server.mint()["refresh_token"])
    token = await oauth.refresh(refresh_token)
    assert form_of(server.requests[-1]) == {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": "demo-client",
        "client_secret": "demo-secret",
        "scope": "offline",
    }
    assert server.requests[-1].headers["user-agent"] == USER_AGENT
    assert token.refresh_token != refresh_token
    assert token.expires_at == NOW + 3600


async def test_revoke_sends_delete_user_access_with_the_bearer_token(
    oauth: OAuthClient, server: MiniOAuth
) -> None:
    access = str(server.mint()["access_token"])
    await oauth.revoke(access)
    request = server.requests[-1]
    assert (request.method, str(request.url)) == (
        "DELETE",
        "http://fake-whoop.local/developer/v2/user/access",
    )
    assert request.headers["authorization"] == f"Bearer {access}"
    await oauth.revoke(access)  # already revoked: 401, which is fine


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (httpx.Response(500), WhoopUnavailableError),
        (httpx.ConnectError("refused"), WhoopUnavailableError),
        (httpx.Response(403, json={"error": "forbidden"}), WhoopAPIError),
    ],
)
async def test_revoke_failures_map_to_whoopkit_errors(
    oauth: OAuthClient, server: MiniOAuth, fault: httpx.Response | Exception, error: type[Exception]
) -> None:
    server.fail_next(fault)
    with pytest.raises(error):
        await oauth.revoke("at-whatever")


# ---------------------------------------------------------------- error mapping

SECRETS = ("demo-secret", "rt-secret-123", "code-secret-123")

ERROR_CASES = [
    # (status, body, kind, error class, phrase in message)
    (
        400,
        {"error": "invalid_grant"},
        "exchange",
        OAuthError,
        "authorization code (it expired or was already used)",
    ),
    (400, {"error": "invalid_grant"}, "refresh", TokenRefreshError, "revoked or used elsewhere"),
    (
        401,
        {"error": "invalid_client"},
        "exchange",
        OAuthError,
        "check WHOOP_CLIENT_ID and WHOOP_CLIENT_SECRET",
    ),
    (
        401,
        {"error": "invalid_client"},
        "refresh",
        TokenRefreshError,
        "check WHOOP_CLIENT_ID and WHOOP_CLIENT_SECRET",
    ),
    (400, {"error": "invalid_client"}, "exchange", OAuthError, "WHOOP_CLIENT_ID"),
    (401, None, "exchange", OAuthError, "WHOOP_CLIENT_ID"),
    (
        400,
        {"error": "invalid_grant", "error_description": "redirect_uri does not match code-secret-123"},
        "exchange",
        OAuthError,
        "must match the one registered in WHOOP's developer dashboard",
    ),
    (400, {"error": "invalid_request"}, "exchange", OAuthError, "(400 invalid_request)"),
    (400, {"error": "<script>"}, "refresh", TokenRefreshError, "(400)"),
    (500, {"error": "server_error"}, "exchange", WhoopUnavailableError, "answered 500"),
    (502, None, "refresh", WhoopUnavailableError, "answered 502"),
    (503, None, "exchange", WhoopUnavailableError, "try again later"),
    (200, ["not", "a", "token"], "exchange", OAuthError, "unusable token"),
    (200, {"access_token": "x"}, "refresh", TokenRefreshError, "unusable token"),
]


@pytest.mark.parametrize(("status", "body", "kind", "error", "phrase"), ERROR_CASES)
async def test_token_endpoint_failures_map_to_actionable_errors_without_secrets(
    oauth: OAuthClient,
    server: MiniOAuth,
    status: int,
    body: object,
    kind: str,
    error: type[Exception],
    phrase: str,
) -> None:
    server.fail_next(httpx.Response(status, json=body) if body is not None else httpx.Response(status))
    with pytest.raises(error) as info:
        if kind == "exchange":
            await oauth.exchange_code("code-secret-123")
        else:
            await oauth.refresh("rt-secret-123")
    message = str(info.value)
    assert phrase in message
    assert message.endswith(".")
    for secret in SECRETS:
        assert secret not in message


@pytest.mark.parametrize(
    "exc", [httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow"), httpx.ConnectError("refused")]
)
@pytest.mark.parametrize("kind", ["exchange", "refresh"])
async def test_timeouts_and_connection_errors_are_unavailable(
    oauth: OAuthClient, server: MiniOAuth, exc: Exception, kind: str
) -> None:
    server.fail_next(exc)
    with pytest.raises(WhoopUnavailableError, match=type(exc).__name__):
        if kind == "exchange":
            await oauth.exchange_code("code-secret-123")
        else:
            await oauth.refresh("rt-secret-123")


# ---------------------------------------------------------------- against the fake WHOOP


async def test_the_full_login_round_trip_against_the_fake(
    settings: Settings, fake_http: httpx.AsyncClient
) -> None:
    oauth = OAuthClient(fake_http, settings)
    state = new_state()
    response = await fake_http.get(oauth.authorize_url(state))
    assert response.is_redirect
    location = response.headers["location"]
    assert location.startswith("http://localhost:3000/callback?")
    query = query_of(location)
    assert query["state"] == [state]
    token = await oauth.exchange_code(query["code"][0])
    assert token.scopes >= set(OAUTH_SCOPES)
    assert token.refresh_token
    profile = await fake_http.get(
        "/developer/v2/user/profile/basic", headers={"Authorization": f"Bearer {token.access_token}"}
    )
    assert profile.status_code == 200
    with pytest.raises(OAuthError, match="already used"):
        await oauth.exchange_code(query["code"][0])


async def test_refresh_against_the_fake_rotates_and_the_old_refresh_token_is_then_rejected(
    settings: Settings, fake_http: httpx.AsyncClient, fake: object
) -> None:
    from whoopkit.fake_whoop import FakeWhoop

    assert isinstance(fake, FakeWhoop)
    oauth = OAuthClient(fake_http, settings)
    issued = fake.issue_token()
    first = await oauth.refresh(issued["refresh_token"])
    assert first.access_token != issued["access_token"]
    assert first.refresh_token != issued["refresh_token"]
    with pytest.raises(TokenRefreshError, match="revoked or used elsewhere"):
        await oauth.refresh(issued["refresh_token"])
    old = await fake_http.get(
        "/developer/v2/user/profile/basic", headers={"Authorization": f"Bearer {issued['access_token']}"}
    )
    assert old.status_code == 401
    assert fake.stats.token_grants["refresh_token"] == 1  # successful grants only
    assert fake.stats.invalid_grants == 1


async def test_wrong_client_credentials_are_reported_against_the_fake(
    settings: Settings, fake_http: httpx.AsyncClient, fake: object
) -> None:
    from whoopkit.fake_whoop import FakeWhoop

    assert isinstance(fake, FakeWhoop)
    wrong = settings.model_copy(update={"whoop_client_id": "someone-else"})
    with pytest.raises(TokenRefreshError, match="WHOOP_CLIENT_ID"):
        await OAuthClient(fake_http, wrong).refresh(fake.issue_token()["refresh_token"])


async def test_revoke_against_the_fake_kills_the_access_token(
    settings: Settings, fake_http: httpx.AsyncClient, fake: object
) -> None:
    from whoopkit.fake_whoop import FakeWhoop

    assert isinstance(fake, FakeWhoop)
    oauth = OAuthClient(fake_http, settings)
    issued = fake.issue_token()
    await oauth.revoke(issued["access_token"])
    after = await fake_http.get(
        "/developer/v2/user/profile/basic", headers={"Authorization": f"Bearer {issued['access_token']}"}
    )
    assert after.status_code == 401


async def test_a_fake_outage_on_the_token_endpoint_is_unavailable(
    settings: Settings, fake_http: httpx.AsyncClient, fake: object
) -> None:
    from whoopkit.fake_whoop import FakeWhoop

    assert isinstance(fake, FakeWhoop)
    issued = fake.issue_token()
    fake.faults.fail_next(503, target="token")
    with pytest.raises(WhoopUnavailableError):
        await OAuthClient(fake_http, settings).refresh(issued["refresh_token"])
    # the refresh token survived the outage
    assert (await OAuthClient(fake_http, settings).refresh(issued["refresh_token"])).access_token


async def test_a_redirect_uri_mismatch_at_the_fake_says_it_must_match_the_registered_one(
    settings: Settings, fake_http: httpx.AsyncClient
) -> None:
    state = new_state()
    response = await fake_http.get(OAuthClient(fake_http, settings).authorize_url(state))
    code = query_of(response.headers["location"])["code"][0]
    other = settings.model_copy(update={"whoop_redirect_uri": "http://localhost:3999/callback"})
    with pytest.raises(OAuthError, match="must match the one registered in WHOOP's developer dashboard"):
        await OAuthClient(fake_http, other).exchange_code(code)
