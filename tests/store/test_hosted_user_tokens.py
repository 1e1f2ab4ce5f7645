"""A hosted user's login as a ``TokenAccess``: one encrypted PostgreSQL row, refreshed only when it must."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from whoopkit.client import WhoopClient
from whoopkit.config import Settings
from whoopkit.errors import NotLoggedInError
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.hosted_tokens import HostedTokenStore, HostedUserTokens, oauth_refresh
from whoopkit.oauth import OAuthClient
from whoopkit.store import Store
from whoopkit.token_crypto import TokenCipher, generate_key
from whoopkit.tokens import Token

pytestmark = pytest.mark.anyio

USER = 10_130


@pytest.fixture
def store(postgres_url: str) -> Iterator[HostedTokenStore]:
    """A token store on a migrated, empty PostgreSQL database (its connections closed afterwards)."""
    Store.open(postgres_url).close()
    tokens = HostedTokenStore(postgres_url, TokenCipher(generate_key()))
    yield tokens
    tokens.engine.dispose()


def _token(fake: FakeWhoop, *, age: float = 0.0, person: int = 0) -> Token:
    return Token.from_response(fake.issue_token(person=person), now=time.time() - age)


async def test_an_expired_row_is_refreshed_once_and_the_rotated_token_is_saved(
    store: HostedTokenStore, fake: FakeWhoop, fake_http: httpx.AsyncClient, settings: Settings
) -> None:
    tokens = HostedUserTokens(store, USER, oauth_refresh(OAuthClient(fake_http, settings)))
    old = _token(fake, age=7200)
    tokens.save_login(old)
    first = await tokens.access_token()
    second = await tokens.access_token()
    assert first != old.access_token and second == first
    assert fake.stats.token_grants["refresh_token"] == 1
    assert store.version(USER) == 2
    assert tokens.current().access_token == first


async def test_a_401_forces_one_refresh_but_a_token_another_process_replaced_is_simply_used(
    store: HostedTokenStore, fake: FakeWhoop, fake_http: httpx.AsyncClient, settings: Settings
) -> None:
    tokens = HostedUserTokens(store, USER, oauth_refresh(OAuthClient(fake_http, settings)))
    valid = _token(fake)
    tokens.save_login(valid)
    renewed = await tokens.refresh_after_unauthorized(valid.access_token)
    assert renewed != valid.access_token
    assert await tokens.refresh_after_unauthorized(valid.access_token) == renewed
    assert fake.stats.token_grants["refresh_token"] == 1


async def test_status_exists_and_delete_describe_the_row_without_a_file_or_a_secret(
    store: HostedTokenStore, fake: FakeWhoop, fake_http: httpx.AsyncClient, settings: Settings
) -> None:
    tokens = HostedUserTokens(store, USER, oauth_refresh(OAuthClient(fake_http, settings)))
    assert not tokens.exists()
    assert tokens.status().logged_in is False and tokens.status().path is None
    with pytest.raises(NotLoggedInError, match=f"User {USER} has no WHOOP login"):
        tokens.current()
    token = _token(fake)
    tokens.save_login(token)
    status = tokens.status()
    assert tokens.exists() and status.logged_in and status.can_refresh and status.has_offline_scope
    assert status.path is None and token.access_token not in status.model_dump_json()
    tokens.delete()
    assert not tokens.exists()


async def test_a_client_on_a_hosted_login_reads_that_persons_own_profile(
    store: HostedTokenStore, settings: Settings
) -> None:
    from whoopkit.fake_whoop import create_fake_whoop

    fake = create_fake_whoop(client_id="demo-client", client_secret="demo-secret", people=2)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake), base_url="http://fake-whoop.local"
    ) as http:
        oauth = oauth_refresh(OAuthClient(http, settings))
        second = HostedUserTokens(store, 10_130, oauth)
        second.save_login(_token(fake, person=1))
        client = WhoopClient(http, second, api_base_url=settings.whoop_api_base_url)
        profile = await client.get_profile()
    assert profile.user_id == 10_130
    assert fake.stats.requests_by_person[1] == 1
