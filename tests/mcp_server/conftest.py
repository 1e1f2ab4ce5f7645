"""Fixtures of the MCP server tests: the server wired to the in-process fake, and a client on it.

The root conftest provides ``fake`` (clock pinned at ``fake_now``), ``settings`` and ``whoop`` (real
mode, logged in, HTTP through an ASGI transport to the fake). The server's own clock is pinned to
the fake's, so "the last 7 days" means the same days in every run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from whoopkit.config import Settings
from whoopkit.mcp_server import create_server

if TYPE_CHECKING:
    from whoopkit.runtime import Whoop


@pytest.fixture
def server(settings: Settings, whoop: Whoop, fake_now: datetime) -> MCPServer[Any]:
    """The WHOOP MCP server on the fake, logged in."""
    return create_server(settings, whoop, clock=lambda: fake_now)


@pytest.fixture
async def client(server: MCPServer[Any]) -> AsyncIterator[Client]:
    """An official MCP client connected in-process."""
    async with Client(server) as connected:
        yield connected


def text_of(result: Any) -> str:
    """All text blocks of a tool result, joined."""
    return "\n".join(block.text for block in result.content if block.type == "text")
