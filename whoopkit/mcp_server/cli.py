"""Command-line plumbing of ``whoop_mcp_server.py``: arguments, logging, transports, Desktop config."""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import sys
from pathlib import Path
from typing import Any

from whoopkit import firstrun
from whoopkit.config import PROJECT_ROOT, Settings
from whoopkit.errors import ConfigError
from whoopkit.logs import install_log_redaction

logger = logging.getLogger(__name__)

SCRIPT = PROJECT_ROOT / "whoop_mcp_server.py"
HTTP_HOST = "127.0.0.1"
HTTP_PATH = "/mcp"
UNAUTHORIZED_BODY = b'{"error":"unauthorized","error_description":"send Authorization: Bearer <token>"}'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the server's command line."""
    parser = argparse.ArgumentParser(
        prog="whoop_mcp_server.py",
        description="WHOOP MCP server for Claude Desktop (stdio by default).",
    )
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    parser.add_argument(
        "--port", type=int, default=8765, help="streamable-http port on 127.0.0.1 (default 8765)"
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print a Claude Desktop config for this checkout (stdout) and the lines to merge into an "
        "existing one (stderr), then exit",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def configure_logging(level: str) -> None:
    """Log to stderr only: on stdio, stdout carries the protocol and nothing else."""
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    # httpx logs every request URL at INFO: noise in Claude Desktop's log, and nothing a user acts on.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def desktop_config(settings: Settings, script: Path = SCRIPT) -> dict[str, Any]:
    """A ready-to-paste ``mcpServers`` entry with absolute paths for this checkout."""
    return {
        "mcpServers": {
            "whoop": {
                "command": sys.executable,
                "args": [str(script.resolve())],
                "env": {
                    "WHOOP_TOKEN_CACHE": str(Path(settings.whoop_token_cache).resolve()),
                    "PYTHONUNBUFFERED": "1",
                },
            }
        }
    }


def desktop_config_text(settings: Settings) -> str:
    """:func:`desktop_config` as pretty JSON: a whole config file, for a machine that has none yet."""
    return json.dumps(desktop_config(settings), indent=2) + "\n"


def desktop_config_merge_text(settings: Settings) -> str:
    """How to add the ``"whoop"`` entry to an existing config, with the lines to paste."""
    whole = json.dumps(desktop_config(settings)["mcpServers"], indent=2).splitlines()
    entry = "\n".join(line.removeprefix("  ") for line in whole[1:-1])
    return (
        'Already have a claude_desktop_config.json? Paste these lines inside its "mcpServers": { … }\n'
        "(put a comma after the entry before them), then restart Claude Desktop:\n\n" + entry + "\n"
    )


def print_desktop_config(settings: Settings) -> None:
    """The whole config on stdout (valid JSON, for a redirect) and the lines to merge on stderr."""
    sys.stdout.write(desktop_config_text(settings))
    sys.stdout.flush()
    sys.stderr.write("\n" + desktop_config_merge_text(settings))


class BearerAuth:
    """ASGI middleware: every HTTP request needs ``Authorization: Bearer <token>``, else 401."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass authorised requests (and lifespan events) through; answer 401 to the rest."""
        if scope["type"] == "http":
            supplied = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(supplied, self._expected):
                body = UNAUTHORIZED_BODY
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="whoop-mcp"'),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def http_app(server: Any, settings: Settings) -> BearerAuth:
    """The streamable-HTTP app at ``/mcp`` behind the bearer check.

    Raises:
        ConfigError: ``WHOOP_MCP_HTTP_TOKEN`` is not set (the server refuses to start without it).
    """
    secret = settings.whoop_mcp_http_token.get_secret_value() if settings.whoop_mcp_http_token else ""
    if len(secret.strip()) < 16:
        raise ConfigError(
            "WHOOP_MCP_HTTP_TOKEN must be set (at least 16 characters) to serve MCP over HTTP; "
            'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return BearerAuth(server.streamable_http_app(streamable_http_path=HTTP_PATH, host=HTTP_HOST), secret)


def serve(server: Any, settings: Settings, transport: str, port: int, log_level: str = "INFO") -> None:
    """Run ``server`` on stdio or on streamable HTTP (127.0.0.1 only).

    Raises:
        ConfigError: HTTP without ``WHOOP_MCP_HTTP_TOKEN``.
    """
    if transport == "stdio":
        if sys.stdin.isatty():
            # A person typed the command: say why nothing happens instead of waiting silently.
            sys.stderr.write(firstrun.mcp_terminal_hint() + "\n")
            sys.stderr.flush()
        server.run("stdio")
        return
    import uvicorn

    app = http_app(server, settings)
    install_log_redaction()  # an access_token in a query string must not reach uvicorn's access log
    logger.info("serving MCP on http://%s:%d%s (bearer token required)", HTTP_HOST, port, HTTP_PATH)
    # At INFO uvicorn announces "Uvicorn running on …" once the port is bound (tests wait for it).
    uvicorn.run(app, host=HTTP_HOST, port=port, log_level=log_level.lower())
