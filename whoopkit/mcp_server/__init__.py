"""The WHOOP MCP server (official MCP SDK 2.x): tools, resources and prompts for Claude Desktop."""

from whoopkit.mcp_server.server import create_server

__all__ = ["create_server"]
