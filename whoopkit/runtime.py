"""Wires settings, HTTP, OAuth, the token cache and the API client together for one process.

Demo mode runs against an in-process fake WHOOP (no network, no WHOOP account) and keeps its
own token file under ``WHOOP_DATA_DIR``, so it can never read, overwrite or delete a real login.
The web app and the MCP server each embed their own fake but share that token file and the demo
store, so every demo fake (:func:`create_demo_fake`) signs its tokens with the demo secret and
accepts the other's, and anchors its data to the same wall-clock step: both processes then share
one login and see the very same records, as they would with the real WHOOP.
This module must stay free of fastapi/jinja2/ollama: the MCP server imports it at startup.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import SecretStr

from whoopkit import USER_AGENT
from whoopkit.client import WhoopClient, finish_pending
from whoopkit.config import Settings
from whoopkit.errors import AuthError, ConfigError, OAuthError
from whoopkit.oauth import OAuthClient, new_state
from whoopkit.ratelimit import SharedRateLimiter
from whoopkit.tokens import TokenAccess, TokenManager, TokenStore

if TYPE_CHECKING:
    from whoopkit.fake_whoop import FakeWhoop

logger = logging.getLogger(__name__)

DEMO_HOST = "http://fake-whoop.local"
DEMO_API_BASE_URL = f"{DEMO_HOST}/developer"
DEMO_OAUTH_BASE_URL = f"{DEMO_HOST}/oauth/oauth2"
DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"  # noqa: S105 - the fake's public demo credentials
DEMO_TOKEN_FILE = "demo_token.json"  # noqa: S105 - a file name
DEMO_DIR = "demo"
# The demo data ends at the clock floored to this step: a sleep that just ended shows up within
# 15 minutes (WHOOP itself takes minutes to score one), and regenerating (~80 ms) stays rare.
DEMO_DATA_STEP = 900.0


@dataclass
class Whoop:
    """Everything a process needs to talk to WHOOP (or to the demo fake)."""

    settings: Settings
    http: httpx.AsyncClient
    oauth: OAuthClient
    tokens: TokenAccess  # the token file here (TokenManager); a per-user row in hosted mode
    client: WhoopClient
    demo: bool
    fake: FakeWhoop | None = None

    @property
    def store(self) -> TokenStore:
        """The token cache file this process uses (the demo one in demo mode).

        Raises:
            ConfigError: the login is not kept in a token file (hosted mode keeps one row per user).
        """
        if isinstance(self.tokens, TokenManager):
            return self.tokens.store
        raise ConfigError("This process keeps its WHOOP logins in the database, not in a token file.")

    async def aclose(self) -> None:
        """Let an unfinished token refresh end, then close the HTTP client."""
        await finish_pending()
        await self.http.aclose()


def state_dir(settings: Settings, demo: bool) -> Path:
    """Where a mode keeps its local state (locks, rate budget): the demo has its own folder."""
    base = Path(settings.whoop_data_dir)
    return base / DEMO_DIR if demo else base


def database_url(settings: Settings, demo: bool) -> str:
    """The history store of a mode: the demo's own SQLite file, never the real store."""
    if demo:
        return f"sqlite:///{state_dir(settings, True) / 'whoop.db'}"
    return settings.database_url


def is_demo(settings: Settings) -> bool:
    """Whether to run in demo mode: WHOOP_DEMO=1 or no credentials, unless a real login exists.

    An existing real token cache always wins, so a user who logged in is never shown fake data;
    without credentials, an unusable (corrupt) one does not: the demo runs and the pages offer to
    move the file aside.
    """
    cache = settings.whoop_token_cache
    if cache.is_file() and (settings.has_credentials or TokenStore(cache).problem() is None):
        return False
    return settings.whoop_demo or not settings.has_credentials


def demo_settings(settings: Settings) -> Settings:
    """``settings`` pointed at the embedded fake, with the demo credentials and the demo token file."""
    return settings.model_copy(
        update={
            "whoop_api_base_url": DEMO_API_BASE_URL,
            "whoop_oauth_base_url": DEMO_OAUTH_BASE_URL,
            "whoop_client_id": DEMO_CLIENT_ID,
            "whoop_client_secret": SecretStr(DEMO_CLIENT_SECRET),
            "whoop_token_cache": Path(settings.whoop_data_dir) / DEMO_TOKEN_FILE,
            "whoop_demo": True,
        }
    )


def create_demo_fake(*, auto_approve: bool = True, control_endpoints: bool = True) -> FakeWhoop:
    """A demo fake WHOOP that shares its login and its records with every other demo fake."""
    from whoopkit.fake_whoop import PlantedEffects, create_fake_whoop

    return create_fake_whoop(
        # A realistic week (weekend nights and all) plus one journal habit with a known cost, so the
        # demo's "what affects your recovery" has something true to find once its export is imported.
        effects=PlantedEffects(weekday_effects=True, alcohol_probability=0.3),
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        auto_approve=auto_approve,
        control_endpoints=control_endpoints,
        token_secret=DEMO_CLIENT_SECRET,
        data_step=DEMO_DATA_STEP,
    )


def build_whoop(
    settings: Settings,
    *,
    demo: bool | None = None,
    fake: FakeWhoop | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Whoop:
    """Build the process's WHOOP stack; ``demo=None`` decides with :func:`is_demo`.

    In demo mode HTTP goes to ``fake`` (a new auto-approving fake when None) through an ASGI
    transport. In real mode ``transport`` (or an ASGI transport on ``fake``) replaces the network,
    which tests use; otherwise the real WHOOP URLs from ``settings`` are used.
    """
    if demo is None:
        demo = is_demo(settings)
    if demo:
        if fake is None:
            fake = create_demo_fake()
        settings = demo_settings(settings)
        settings.whoop_data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if transport is None and fake is not None:
        transport = httpx.ASGITransport(app=fake)
    http = httpx.AsyncClient(
        transport=transport,
        timeout=settings.whoop_http_timeout,
        headers={"User-Agent": USER_AGENT},
    )
    oauth = OAuthClient(http, settings)
    store = TokenStore(settings.whoop_token_cache)
    tokens = TokenManager(store, oauth)
    client = WhoopClient(
        http,
        tokens,
        api_base_url=settings.whoop_api_base_url,
        limiter=SharedRateLimiter(state_dir(settings, demo) / "ratelimit.json"),
        deadline=settings.whoop_request_deadline,
    )
    logger.info("WHOOP runtime ready (%s mode)", "demo" if demo else "real")
    return Whoop(
        settings=settings, http=http, oauth=oauth, tokens=tokens, client=client, demo=demo, fake=fake
    )


async def _demo_token_works(whoop: Whoop) -> bool:
    # The saved demo login may come from the other process (any demo fake accepts it) or from an older
    # whoopkit whose fake signed nothing; the client refreshes it like a real login if it must.
    if not whoop.store.exists():
        return False
    try:
        await whoop.client.get_profile()
    except AuthError as exc:
        logger.info("the saved demo login does not work (%s); logging in again", type(exc).__name__)
        return False
    return True


async def demo_login(whoop: Whoop) -> None:
    """Log in to the demo fake (authorize with auto-approve → code → exchange) and save the token.

    Does nothing when the stored demo token still works.

    Raises:
        ConfigError: ``whoop`` is not in demo mode.
        OAuthError: the fake did not hand out a code.
    """
    if not whoop.demo:
        raise ConfigError("demo_login only works in demo mode (WHOOP_DEMO=1 or no WHOOP credentials).")
    if await _demo_token_works(whoop):
        return
    state = new_state()
    response = await whoop.http.get(whoop.oauth.authorize_url(state), follow_redirects=False)
    location = response.headers.get("location", "")
    query = parse_qs(urlsplit(location).query)
    code = query.get("code", [""])[0]
    if not response.is_redirect or not code or query.get("state", [""])[0] != state:
        raise OAuthError(
            f"The demo login did not return an authorization code (HTTP {response.status_code})."
        )
    token = await whoop.oauth.exchange_code(code)
    whoop.store.save(token)
    logger.info("demo login complete")
