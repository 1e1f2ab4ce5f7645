"""whoopkit: your own WHOOP data in a local web dashboard and in MCP clients such as Claude Desktop."""

__version__ = "0.1.0"
