"""whoopkit: your own WHOOP data in a local web dashboard and in MCP clients such as Claude Desktop."""

__version__ = "0.1.0"

USER_AGENT = f"whoopkit/{__version__} (local WHOOP toolkit)"
