"""WHOOP MCP server for Claude Desktop: ``python whoop_mcp_server.py`` (stdio).

Or ``--transport streamable-http --port N`` (needs WHOOP_MCP_HTTP_TOKEN), or ``--print-config``.

Logs go to stderr; on stdio, stdout carries only the protocol.
"""

import sys

try:
    from whoopkit.config import get_settings
    from whoopkit.errors import ConfigError
    from whoopkit.mcp_server import create_server
    from whoopkit.mcp_server.cli import configure_logging, parse_args, print_desktop_config, serve
except ModuleNotFoundError as exc:  # run with an interpreter that lacks the packages (not the venv)
    from whoopkit.firstrun import exit_for_missing_module

    exit_for_missing_module(exc, "whoop_mcp_server.py")
    raise

if __name__ == "__main__":
    args = parse_args()
    configure_logging(args.log_level)
    try:
        settings = get_settings()
        if args.print_config:
            print_desktop_config(settings)
            sys.exit(0)
        serve(create_server(settings), settings, args.transport, args.port, args.log_level)
    except ConfigError as exc:
        sys.stderr.write(f"whoop_mcp_server: {exc}\n")
        sys.exit(2)
