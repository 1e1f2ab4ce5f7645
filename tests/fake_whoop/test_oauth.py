"""OAuth behaviour of the fake: consent, auto-approve, code exchange, refresh rotation, revocation."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fake_whoop.conftest import NOW, REDIRECT_URI, SCOPES, Clock, authorize_url
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop

pytestmark = pytest.mark.anyio

CLIENT = {"client_id": "demo-client", "client_secret": "demo-secret"}


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def _approve(client: httpx.AsyncClient, **overrides: str) -> dict[str, str]:
    page = await client.get(authorize_url(**overrides))
    assert page.status_code == 200
    request_id = re.search(r"name='request_id' value='([^']+)'", page.text)
    assert request_id is not None
    answer = await client.post(
        "/oauth/oauth2/auth", data={"request_id": request_id.group(1), "decision": "approve"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(REDIRECT_URI + "?")
    return _query(answer.headers["location"])


async def _exchange(client: httpx.AsyncClient, code: str, redirect_uri: str = REDIRECT_URI) -> httpx.Response:
    return await client.post(
        "/oauth/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, **CLIENT},
    )


async def _refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(
        "/oauth/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, "scope": "offline", **CLIENT},
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_consent_page_is_a_simulated_whoop_page_without_scripts(client: httpx.AsyncClient) -> None:
    page = await client.get(authorize_url())
    assert page.status_code == 200
    assert "Simulated WHOOP (demo)" in page.text
    assert "<script" not in page.text.lower()
    assert " style=" not in page.text  # only a <style> block, so a strict CSP works
    assert "action='auth'" in page.text  # relative: works under any mount prefix
    assert "Approve" in page.text and "Deny" in page.text
    csp = page.headers["content-security-policy"]
    assert "style-src 'unsafe-inline'" in csp and "script-src" not in csp
    assert "http://localhost:3000" in csp  # the form's redirect target is allowed


async def test_approving_consent_redirects_back_with_a_code_and_the_state(client: httpx.AsyncClient) -> None:
    query = await _approve(client)
    assert query["state"] == "state-12345"
    assert len(query["code"]) >= 20
    token = await _exchange(client, query["code"])
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == SCOPES
    assert body["refresh_token"] and body["access_token"]
    assert token.headers["cache-control"] == "no-store"


async def test_denying_consent_redirects_with_access_denied(client: httpx.AsyncClient) -> None:
    page = await client.get(authorize_url())
    request_id = re.search(r"name='request_id' value='([^']+)'", page.text)
    assert request_id is not None
    answer = await client.post(
        "/oauth/oauth2/auth", data={"request_id": request_id.group(1), "decision": "deny"}
    )
    assert answer.status_code == 303
    query = _query(answer.headers["location"])
    assert query["error"] == "access_denied"
    assert query["state"] == "state-12345"
    assert "code" not in query


async def test_a_consent_form_can_be_answered_only_once(client: httpx.AsyncClient) -> None:
    page = await client.get(authorize_url())
    request_id = re.search(r"name='request_id' value='([^']+)'", page.text)
    assert request_id is not None
    data = {"request_id": request_id.group(1), "decision": "approve"}
    assert (await client.post("/oauth/oauth2/auth", data=data)).status_code == 303
    again = await client.post("/oauth/oauth2/auth", data=data)
    assert again.status_code == 400
    assert "Simulated WHOOP (demo)" in again.text


async def test_the_consent_page_works_under_a_mount_prefix(fake: FakeWhoop) -> None:
    from starlette.routing import Mount, Router

    outer = Router(routes=[Mount("/_fake_whoop", app=fake)])
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://web") as client:
        page = await client.get("/_fake_whoop" + authorize_url())
        assert page.status_code == 200
        request_id = re.search(r"name='request_id' value='([^']+)'", page.text)
        assert request_id is not None
        # The browser resolves action='auth' against the page URL.
        action = httpx.URL(str(page.url)).join("auth")
        assert action.path == "/_fake_whoop/oauth/oauth2/auth"
        answer = await client.post(action, data={"request_id": request_id.group(1), "decision": "approve"})
        assert answer.status_code == 303
        code = _query(answer.headers["location"])["code"]
        token = await client.post(
            "/_fake_whoop/oauth/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **CLIENT},
        )
        assert token.status_code == 200
        cycles = await client.get(
            "/_fake_whoop/developer/v2/cycle", headers=_bearer(token.json()["access_token"])
        )
        assert cycles.status_code == 200
    assert fake.stats.requests_by_path["/developer/v2/cycle"] == 1


@pytest.mark.parametrize(
    "redirect_uri", ["http://localhost:3000/callback", "http://127.0.0.1:8123/cb", "http://[::1]:9000/x"]
)
async def test_auto_approve_redirects_straight_back_to_any_loopback_uri(
    clock: Clock, redirect_uri: str
) -> None:
    fake = create_fake_whoop(auto_approve=True, now=NOW, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        answer = await client.get(authorize_url(redirect_uri=redirect_uri))
        assert answer.status_code == 302
        location = answer.headers["location"]
        assert location.startswith(redirect_uri + "?")
        query = _query(location)
        assert query["state"] == "state-12345"
        assert (await _exchange(client, query["code"], redirect_uri)).status_code == 200


@pytest.mark.parametrize("state", ["", "short", "1234567"])
async def test_a_missing_or_short_state_gets_a_400_page(client: httpx.AsyncClient, state: str) -> None:
    answer = await client.get(authorize_url(state=state))
    assert answer.status_code == 400
    assert "state" in answer.text
    assert "location" not in answer.headers


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example.com/callback",
        "http://example.com/callback",
        "http://localhost.evil.com/cb",
        "javascript:alert(1)",
        "http://localhost:3000/cb#frag",
        "",
    ],
)
async def test_a_non_loopback_redirect_uri_is_refused_without_redirecting(
    client: httpx.AsyncClient, redirect_uri: str
) -> None:
    answer = await client.get(authorize_url(redirect_uri=redirect_uri))
    assert answer.status_code == 400
    assert "location" not in answer.headers


async def test_a_registered_non_loopback_redirect_uri_is_accepted(clock: Clock) -> None:
    fake = create_fake_whoop(auto_approve=True, redirect_uris=["https://app.example/cb"], clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        answer = await client.get(authorize_url(redirect_uri="https://app.example/cb"))
        assert answer.status_code == 302


async def test_an_unknown_client_id_gets_a_400_page(client: httpx.AsyncClient) -> None:
    answer = await client.get(authorize_url(client_id="someone-else"))
    assert answer.status_code == 400
    assert "client_id" in answer.text


async def test_an_unknown_scope_is_reported_back_to_the_app(client: httpx.AsyncClient) -> None:
    answer = await client.get(authorize_url(scope="read:cycles write:everything"))
    assert answer.status_code == 302
    query = _query(answer.headers["location"])
    assert query["error"] == "invalid_scope"
    assert query["state"] == "state-12345"


async def test_scopes_joined_with_plus_are_rejected_like_whoop_does(client: httpx.AsyncClient) -> None:
    answer = await client.get(authorize_url().replace("%20", "+"))
    assert answer.status_code == 302
    assert _query(answer.headers["location"])["error"] == "invalid_scope"


async def test_a_wrong_response_type_is_reported_back_to_the_app(client: httpx.AsyncClient) -> None:
    answer = await client.get(authorize_url(response_type="token"))
    assert answer.status_code == 302
    assert _query(answer.headers["location"])["error"] == "unsupported_response_type"


async def test_an_authorization_code_works_only_once(client: httpx.AsyncClient, fake: FakeWhoop) -> None:
    code = (await _approve(client))["code"]
    assert (await _exchange(client, code)).status_code == 200
    again = await _exchange(client, code)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert fake.stats.invalid_grants == 1
    assert fake.stats.token_grants["authorization_code"] == 1


async def test_a_code_exchange_with_another_redirect_uri_is_rejected(client: httpx.AsyncClient) -> None:
    code = (await _approve(client))["code"]
    answer = await _exchange(client, code, "http://localhost:3000/other")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


async def test_an_expired_code_is_rejected(client: httpx.AsyncClient, clock: Clock) -> None:
    code = (await _approve(client))["code"]
    clock.advance(601)
    assert (await _exchange(client, code)).json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "credentials",
    [
        {"client_id": "demo-client", "client_secret": "wrong"},
        {"client_id": "other", "client_secret": "demo-secret"},
        {"client_id": "demo-client"},
        {},
    ],
)
async def test_wrong_client_credentials_get_invalid_client(
    client: httpx.AsyncClient, credentials: dict[str, str]
) -> None:
    code = (await _approve(client))["code"]
    answer = await client.post(
        "/oauth/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **credentials},
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


async def test_http_basic_client_authentication_is_accepted(client: httpx.AsyncClient) -> None:
    code = (await _approve(client))["code"]
    basic = base64.b64encode(b"demo-client:demo-secret").decode()
    answer = await client.post(
        "/oauth/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert answer.status_code == 200


async def test_a_json_token_request_is_rejected(client: httpx.AsyncClient) -> None:
    answer = await client.post("/oauth/oauth2/token", json={"grant_type": "refresh_token", **CLIENT})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


async def test_an_unknown_grant_type_is_rejected(client: httpx.AsyncClient) -> None:
    answer = await client.post("/oauth/oauth2/token", data={"grant_type": "password", **CLIENT})
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


async def test_without_offline_scope_no_refresh_token_is_issued(client: httpx.AsyncClient) -> None:
    code = (await _approve(client, scope="read:cycles read:sleep"))["code"]
    body = (await _exchange(client, code)).json()
    assert "refresh_token" not in body
    assert body["scope"] == "read:cycles read:sleep"


async def test_a_refresh_rotates_the_refresh_token(client: httpx.AsyncClient, fake: FakeWhoop) -> None:
    first = (await _exchange(client, (await _approve(client))["code"])).json()
    second = await _refresh(client, first["refresh_token"])
    assert second.status_code == 200
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert body["scope"] == SCOPES
    assert fake.stats.token_grants["refresh_token"] == 1
    third = await _refresh(client, body["refresh_token"])
    assert third.status_code == 200


async def test_a_second_refresh_with_a_rotated_token_is_rejected(
    client: httpx.AsyncClient, fake: FakeWhoop
) -> None:
    first = (await _exchange(client, (await _approve(client))["code"])).json()
    assert (await _refresh(client, first["refresh_token"])).status_code == 200
    reuse = await _refresh(client, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert fake.stats.invalid_grants == 1


async def test_the_old_access_token_stops_working_after_a_refresh(client: httpx.AsyncClient) -> None:
    first = (await _exchange(client, (await _approve(client))["code"])).json()
    assert (
        await client.get("/developer/v2/cycle", headers=_bearer(first["access_token"]))
    ).status_code == 200
    second = (await _refresh(client, first["refresh_token"])).json()
    old = await client.get("/developer/v2/cycle", headers=_bearer(first["access_token"]))
    assert old.status_code == 401
    new = await client.get("/developer/v2/cycle", headers=_bearer(second["access_token"]))
    assert new.status_code == 200


async def test_a_rejected_reuse_does_not_revoke_the_rotated_tokens(client: httpx.AsyncClient) -> None:
    first = (await _exchange(client, (await _approve(client))["code"])).json()
    second = (await _refresh(client, first["refresh_token"])).json()
    assert (await _refresh(client, first["refresh_token"])).status_code == 400
    assert (
        await client.get("/developer/v2/cycle", headers=_bearer(second["access_token"]))
    ).status_code == 200
    assert (await _refresh(client, second["refresh_token"])).status_code == 200


async def test_an_access_token_expires_after_its_ttl(clock: Clock) -> None:
    fake = create_fake_whoop(access_token_ttl=60, now=NOW, clock=clock)
    token = fake.issue_token()
    assert token["expires_in"] == 60
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        assert (
            await client.get("/developer/v2/cycle", headers=_bearer(token["access_token"]))
        ).status_code == 200
        clock.advance(60)
        expired = await client.get("/developer/v2/cycle", headers=_bearer(token["access_token"]))
        assert expired.status_code == 401
        assert expired.json()["error"] == "invalid_token"
        # the refresh token still works after the access token expired
        assert (await _refresh(client, token["refresh_token"])).status_code == 200


async def test_expire_access_tokens_makes_the_api_answer_401(
    client: httpx.AsyncClient, fake: FakeWhoop
) -> None:
    token = fake.issue_token()
    assert fake.expire_access_tokens() == 1
    assert (
        await client.get("/developer/v2/cycle", headers=_bearer(token["access_token"]))
    ).status_code == 401


async def test_revoking_access_invalidates_every_token_of_the_grant(
    client: httpx.AsyncClient, fake: FakeWhoop
) -> None:
    first = (await _exchange(client, (await _approve(client))["code"])).json()
    second = (await _refresh(client, first["refresh_token"])).json()
    other = fake.issue_token()
    revoke = await client.delete("/developer/v2/user/access", headers=_bearer(second["access_token"]))
    assert revoke.status_code == 204
    assert revoke.content == b""
    assert (
        await client.get("/developer/v2/cycle", headers=_bearer(second["access_token"]))
    ).status_code == 401
    assert (await _refresh(client, second["refresh_token"])).json()["error"] == "invalid_grant"
    # another grant is unaffected
    assert (
        await client.get("/developer/v2/cycle", headers=_bearer(other["access_token"]))
    ).status_code == 200


async def test_the_control_token_endpoint_mints_tokens_with_chosen_scopes(client: httpx.AsyncClient) -> None:
    minted = await client.post("/_fake/token", json={"scope": "read:sleep", "ttl": 30})
    assert minted.status_code == 200
    body = minted.json()
    assert body["scope"] == "read:sleep" and body["expires_in"] == 30
    assert "refresh_token" not in body
    bad = await client.post("/_fake/token", json={"scopes": ["read:nothing"]})
    assert bad.status_code == 400
