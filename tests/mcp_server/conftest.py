"""Fixtures of the MCP server tests: the server over the service on the in-process fake, and a client.

The root conftest provides ``fake`` (clock pinned at ``fake_now``), ``settings``, ``logged_in`` and
``service``: a ``WhoopService`` in real mode on the fake, logged in, with an empty store in ``tmp_path``
and its clock pinned to the fake's, so "the last 7 days" means the same days in every run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
from mcp import Client

from whoopkit.config import Settings
from whoopkit.mcp_server import create_server
from whoopkit.mcp_server.server import WhoopMCPServer

if TYPE_CHECKING:
    from whoopkit.service import WhoopService


@pytest.fixture
def server(settings: Settings, service: WhoopService) -> WhoopMCPServer:
    """The WHOOP MCP server over ``service``."""
    return create_server(settings, service)


@pytest.fixture
async def client(server: WhoopMCPServer) -> AsyncIterator[Client]:
    """An official MCP client connected in-process."""
    async with Client(server) as connected:
        yield connected


def text_of(result: Any) -> str:
    """All text blocks of a tool result, joined."""
    return "\n".join(block.text for block in result.content if block.type == "text")
