"""The MCP tools, one module per area; ``ALL_TOOLS`` lists them in the order clients see them."""

from whoopkit.mcp_server.common import ToolFn
from whoopkit.mcp_server.tools import analysis, drivers, history, status, today

ALL_TOOLS: list[tuple[ToolFn, str]] = [
    *today.TOOLS,
    *history.TOOLS,
    *analysis.TOOLS,
    *drivers.TOOLS,
    *status.TOOLS,
]

__all__ = ["ALL_TOOLS", "ToolFn"]
