"""What the commands build on, injectable so tests run them on the fake WHOOP and tmp files."""

from __future__ import annotations

import webbrowser
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread
import httpx

from whoopkit.config import PROJECT_ROOT, Settings, get_settings

if TYPE_CHECKING:
    from whoopkit.service import WhoopService

#: Builds the service for ``settings``; ``demo`` as in ``build_service`` (None: decide from settings).
ServiceFactory = Callable[[Settings, "bool | None"], "WhoopService"]


def build_default_service(settings: Settings, demo: bool | None) -> WhoopService:
    """``service.build_service`` (imported late: ``--help`` must not pay for SQLAlchemy).

    Raises:
        ConfigError: the settings cannot build a client.
        StoreError: the database cannot be opened.
    """
    from whoopkit.service import build_service

    return build_service(settings, demo=demo)


async def open_in_browser(url: str) -> None:
    """Open ``url`` in the user's browser, if there is one (the URL is printed anyway)."""
    await anyio.to_thread.run_sync(webbrowser.open, url)


@dataclass
class CliDeps:
    """The CLI's seams: settings, the service, the ``.env`` path, Ollama's transport and the browser."""

    settings: Callable[[], Settings] = field(default=get_settings)
    service: ServiceFactory = field(default=build_default_service)
    env_file: Path = field(default=PROJECT_ROOT / ".env")
    ollama_transport: httpx.BaseTransport | None = None
    open_browser: Callable[[str], Awaitable[None]] = field(default=open_in_browser)
