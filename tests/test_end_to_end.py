"""The product's core promise, end to end: the web app and the MCP server share one token file.

Three real processes on loopback: the fake WHOOP (``python -m whoopkit.fake_whoop``), the web app
(in this process, through FastAPI's TestClient, talking to the fake over real HTTP) and the MCP
server (``whoop_mcp_server.py`` over stdio, driven by the official MCP client). The user logs in
through the web app; the MCP server then reads that login, refreshes it once when WHOOP kills the
access token, the web app follows the rotated token without a second refresh, and a logout in the
web app logs the MCP server out too.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio.from_thread
import httpx
import pytest
from fastapi.testclient import TestClient
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

from tests.conftest import make_settings
from tests.helpers.fake_server import FakeServer, running_fake_whoop
from tests.web.conftest import post_form
from whoopkit.config import Settings
from whoopkit.tokens import TokenStore
from whoopkit.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
MCP_SERVER = ROOT / "whoop_mcp_server.py"
WEB_BASE_URL = "http://localhost:3000"
REDIRECT_URI = f"{WEB_BASE_URL}/callback"
READY_TIMEOUT = 30.0
MCP_TIMEOUT = 60.0
HTTP_TIMEOUT = 10.0

pytestmark = pytest.mark.slow


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """The fake WHOOP in its own process, auto-approving logins."""
    with running_fake_whoop("--auto-approve", "--access-token-ttl", "3600") as server:
        yield server


@pytest.fixture
def e2e_settings(tmp_path: Path, clean_env: None, fake_server: FakeServer) -> Settings:
    """Real-mode settings pointing at the fake server process, with the token file in tmp_path."""
    return make_settings(
        tmp_path,
        WHOOP_API_BASE_URL=f"{fake_server.url}/developer",
        WHOOP_OAUTH_BASE_URL=f"{fake_server.url}/oauth/oauth2",
        WHOOP_REDIRECT_URI=REDIRECT_URI,
        # Nothing listens there: the pages used here never ask Ollama anything.
        OLLAMA_HOST="http://127.0.0.1:9",
        # Every read refreshes from WHOOP, so each step below really sends the shared token upstream.
        WHOOP_FRESH_SECONDS=0,
        WHOOP_SYNC_INTERVAL=0,
    )


def mcp_env(settings: Settings) -> dict[str, str]:
    """The MCP server's environment: the same WHOOP settings as the web app, nothing from the developer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHOOP_", "OLLAMA_"))}
    env.update(
        WHOOP_CLIENT_ID="demo-client",
        WHOOP_CLIENT_SECRET="demo-secret",
        WHOOP_API_BASE_URL=settings.whoop_api_base_url,
        WHOOP_OAUTH_BASE_URL=settings.whoop_oauth_base_url,
        WHOOP_REDIRECT_URI=settings.whoop_redirect_uri,
        WHOOP_TOKEN_CACHE=str(settings.whoop_token_cache),
        WHOOP_DATA_DIR=str(settings.whoop_data_dir),
        WHOOP_DEMO="0",
        WHOOP_FRESH_SECONDS="0",
        PYTHONUNBUFFERED="1",
    )
    return env


class McpSession:
    """A stdio session with ``whoop_mcp_server.py``, driven from sync code through a blocking portal."""

    def __init__(self, settings: Settings, log: Path) -> None:
        params = StdioServerParameters(
            command=sys.executable,
            args=[str(MCP_SERVER), "--log-level", "INFO"],
            env=mcp_env(settings),
            cwd=str(log.parent),
        )
        self._log_path = log
        self._log = log.open("w", encoding="utf-8")
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        client = Client(stdio_client(params, errlog=self._log), read_timeout_seconds=MCP_TIMEOUT)
        self._client_cm: AbstractContextManager[Client] = self._portal.wrap_async_context_manager(client)
        self._client = self._client_cm.__enter__()

    def call(self, tool: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        """Call ``tool`` and return its result (errors come back as ``is_error``)."""
        client = self._client

        async def call() -> CallToolResult:
            with anyio.fail_after(MCP_TIMEOUT):
                return await client.call_tool(tool, arguments or {})

        return self._portal.call(call)

    def text(self, result: CallToolResult) -> str:
        """All text blocks of a result."""
        return " ".join(block.text for block in result.content if block.type == "text")

    def log(self) -> str:
        """What the server wrote to stderr so far (for failure messages)."""
        self._log.flush()
        return self._log_path.read_text(encoding="utf-8")

    def close(self) -> None:
        """End the session (closing stdin stops the server) and the portal."""
        try:
            self._client_cm.__exit__(None, None, None)
        finally:
            self._portal_cm.__exit__(None, None, None)
            self._log.close()


@pytest.fixture
def mcp(e2e_settings: Settings, tmp_path: Path) -> Iterator[McpSession]:
    """The MCP server process, started with the web app's settings (before anyone has logged in)."""
    session = McpSession(e2e_settings, tmp_path / "mcp_server.log")
    try:
        yield session
    finally:
        session.close()


def login_through_the_web_app(web: TestClient) -> None:
    """/login → the fake's /auth over real HTTP (auto-approve) → /callback → /dashboard."""
    start = web.get("/login")
    assert start.status_code == 303, start.text
    authorize_url = start.headers["location"]
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]

    approved = httpx.get(authorize_url, follow_redirects=False, timeout=HTTP_TIMEOUT)
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI
    query = parse_qs(back.query)
    assert query["state"] == [state] and query["code"][0]

    done = web.get(f"{back.path}?{back.query}")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/dashboard"


def dashboard_recovery(html: str) -> str:
    """The recovery percentage the dashboard shows."""
    match = re.search(r'data-testid="recovery">([^<]*)<', html)
    assert match is not None, "the dashboard shows no recovery"
    return match.group(1).strip()


def test_the_web_app_and_the_mcp_server_share_one_token_file_through_login_refresh_and_logout(
    fake_server: FakeServer, e2e_settings: Settings, mcp: McpSession
) -> None:
    cache = e2e_settings.whoop_token_cache
    app = create_app(e2e_settings, demo=False)
    with TestClient(app, base_url=WEB_BASE_URL, follow_redirects=False) as web:
        assert app.state.web.require_service().demo is False

        # 1. The user logs in through the web app; the token lands in the shared file, 0600.
        login_through_the_web_app(web)
        assert cache.is_file()
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600
        written = TokenStore(cache).load()
        assert written.refresh_token and "offline" in written.scopes
        page = web.get("/dashboard")
        assert page.status_code == 200, page.text
        shown = dashboard_recovery(page.text)
        assert re.fullmatch(r"\d{1,3}%|pending|unscorable", shown), shown
        assert re.search(r'data-testid="weight">[^<]*\d', page.text), "the dashboard shows no body data"
        stats = fake_server.stats()
        assert stats["token_grants"] == {"authorization_code": 1}
        assert stats["authorizations"] == 1

        # 2. The MCP server, a second process, answers with real data using the web app's token.
        result = mcp.call("get_recovery_score")
        assert not result.is_error, mcp.text(result) + mcp.log()
        data = result.structured_content
        assert data is not None
        assert data["data_source"] == "WHOOP API"
        assert "Demo mode" not in mcp.text(result)
        assert as_dashboard_shows(data["latest"]) == shown  # the same account the dashboard shows
        stats = fake_server.stats()
        assert stats["token_grants"] == {"authorization_code": 1}  # it minted nothing of its own
        assert stats["unauthorized"] == 0  # and the token it sent was the web app's
        assert stats["requests_by_path"].get("/developer/v2/recovery", 0) >= 2
        assert TokenStore(cache).load() == written

        # 3. WHOOP kills every access token: the MCP server refreshes exactly once and rotates the file.
        expired = httpx.post(f"{fake_server.url}/_fake/expire", timeout=HTTP_TIMEOUT)
        assert expired.status_code == 200 and expired.json()["expired"] >= 1
        result = mcp.call("get_recent_cycles")  # WHOOP_FRESH_SECONDS=0: it must reach WHOOP
        assert not result.is_error, mcp.text(result) + mcp.log()
        assert result.structured_content is not None
        assert result.structured_content["data_source"] == "WHOOP API"
        stats = fake_server.stats()
        assert stats["token_grants"] == {"authorization_code": 1, "refresh_token": 1}
        assert stats["invalid_grants"] == 0
        assert stats["unauthorized"] >= 1
        rotated = TokenStore(cache).load()
        assert rotated.access_token != written.access_token
        assert rotated.refresh_token and rotated.refresh_token != written.refresh_token
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600

        # 4. The web app still holds the old token in memory; it follows the rotated file instead of
        #    refreshing with the dead refresh token (which would be invalid_grant and log everyone out).
        unauthorized_before = stats["unauthorized"]
        requests_before = stats["requests"]
        page = web.get("/dashboard")
        assert page.status_code == 200, page.text
        assert dashboard_recovery(page.text) == shown
        stats = fake_server.stats()
        assert stats["requests"] > requests_before  # the page really went to WHOOP again
        assert stats["token_grants"] == {"authorization_code": 1, "refresh_token": 1}
        assert stats["invalid_grants"] == 0
        assert stats["unauthorized"] == unauthorized_before  # it sent the rotated token straight away
        assert TokenStore(cache).load() == rotated

        # 5. Logging out in the web app revokes access and removes the file; the MCP server is logged out.
        bye = post_form(web, "/logout", headers={"Sec-Fetch-Site": "same-origin"})
        assert bye.status_code == 303, bye.text
        assert not cache.exists()
        stats = fake_server.stats()
        assert stats["revocations"] == 1
        assert stats["token_grants"] == {"authorization_code": 1, "refresh_token": 1}
        assert stats["invalid_grants"] == 0
        # The same question as in step 2, whose answer the MCP server has in its store.
        result = mcp.call("get_recovery_score")
        assert result.is_error, mcp.text(result)
        assert "http://localhost:3000/login" in mcp.text(result)
        assert not cache.exists()  # nothing recreated the login behind the user's back
        after = web.get("/dashboard")
        assert dashboard_recovery_or_none(after.text) is None


def as_dashboard_shows(recovery: dict[str, Any]) -> str:
    """How the dashboard's recovery tile words an MCP ``RecoverySummary``."""
    if recovery["state"] == "SCORED":
        return f"{recovery['recovery_pct']:.0f}%"
    return {"PENDING_SCORE": "pending", "UNSCORABLE": "unscorable"}[recovery["state"]]


def dashboard_recovery_or_none(html: str) -> str | None:
    """The recovery percentage on the page, or None when the page shows no data."""
    match = re.search(r'data-testid="recovery">([^<]*)<', html)
    return match.group(1).strip() if match else None
