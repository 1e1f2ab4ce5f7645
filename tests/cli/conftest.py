"""Fixtures of the CLI tests: the Typer app built on the in-process fake WHOOP, with tmp files.

``cli`` runs a command in-process through Typer's ``CliRunner``: the app's service factory builds a
real-mode ``WhoopService`` on the root ``fake`` (ASGI transport, clock pinned to ``fake_now``), its
``.env`` is ``tmp_path/.env``, Ollama answers through an ``httpx.MockTransport`` with one model, and
the "browser" of ``setup`` is ``browser`` (it follows the fake's auto-approve redirect back to the
CLI's callback listener). Claude Desktop's config is ``tmp_path/claude/claude_desktop_config.json``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from typer.testing import CliRunner, Result

from whoopkit.cli import CliDeps, create_app
from whoopkit.config import Settings
from whoopkit.tokens import Token, TokenStore

if TYPE_CHECKING:
    from whoopkit.fake_whoop import FakeWhoop
    from whoopkit.service import WhoopService


def free_port() -> int:
    """A TCP port nobody listens on (127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ollama_transport(models: list[str]) -> httpx.MockTransport:
    """An Ollama that lists ``models`` at /api/tags."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/tags":
            return httpx.Response(200, json={"models": [{"name": m, "model": m} for m in models]})
        return httpx.Response(404, json={"error": "not found"})

    return httpx.MockTransport(handler)


@dataclass
class Browser:
    """Stands in for the user's browser: opens the authorize URL on the fake and follows its redirect."""

    fake: FakeWhoop
    opened: list[str] = field(default_factory=list)
    #: approve: follow WHOOP's answer; tamper: change its state; deny: answer access_denied; ignore: nothing;
    #: webapp: log in through the web app, which saves a token into ``token_cache``.
    mode: str = "approve"
    token_cache: Path | None = None

    async def __call__(self, url: str) -> None:
        """Open ``url`` the way the user's browser would."""
        self.opened.append(url)
        if self.mode == "ignore":
            return
        if self.mode == "webapp":
            assert self.token_cache is not None
            TokenStore(self.token_cache).save(Token.from_response(self.fake.issue_token(), now=time.time()))
            return
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.fake)) as http:
            answer = await http.get(url, follow_redirects=False)
        location = answer.headers["location"]
        if self.mode == "tamper":
            location = location.replace("state=", "state=x")
        elif self.mode == "deny":
            location = location.split("?")[0] + "?error=access_denied&state=whatever"
        # The CLI's listener is a real socket on loopback, in another thread.
        async with httpx.AsyncClient(timeout=10) as http:
            await http.get(location)


@dataclass
class Cli:
    """Runs ``whoopkit`` commands in-process on the fake."""

    deps: CliDeps
    settings: Settings
    tmp_path: Path
    claude_config: Path
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, input: str | None = None) -> Result:
        """Run ``whoopkit ARGS`` with ``input`` on stdin; stdout and stderr are kept apart."""
        return self.runner.invoke(
            create_app(self.deps),
            list(args),
            input=input,
            env={"WHOOP_CLAUDE_CONFIG": str(self.claude_config), "WHOOPKIT_DEBUG": None},
            catch_exceptions=True,
        )


@pytest.fixture
def browser(fake: FakeWhoop) -> Browser:
    """The fake browser ``setup`` opens."""
    return Browser(fake)


@pytest.fixture
def cli_settings(settings: Settings) -> Settings:
    """The root ``settings`` with the web app (and so the redirect URI) on a free loopback port."""
    port = free_port()
    return settings.model_copy(
        update={"whoop_redirect_uri": f"http://localhost:{port}/callback", "port": port}
    )


@pytest.fixture
def service_factory(fake: FakeWhoop, fake_now: datetime) -> Callable[[Settings, bool | None], WhoopService]:
    """Builds the service on the in-process fake, in real mode, on the fake's clock."""
    from whoopkit.service import build_service

    def build(settings: Settings, demo: bool | None) -> WhoopService:
        return build_service(settings, demo=False, fake=fake, clock=lambda: fake_now)

    return build


@pytest.fixture
def cli(
    cli_settings: Settings,
    service_factory: Callable[[Settings, bool | None], WhoopService],
    browser: Browser,
    tmp_path: Path,
) -> Cli:
    """The CLI on the fake (not logged in: add the root ``logged_in`` fixture)."""
    deps = CliDeps(
        settings=lambda: cli_settings,
        service=service_factory,
        env_file=tmp_path / ".env",
        ollama_transport=ollama_transport(["llama3.2:latest"]),
        open_browser=browser,
    )
    return Cli(deps, cli_settings, tmp_path, tmp_path / "claude" / "claude_desktop_config.json")
