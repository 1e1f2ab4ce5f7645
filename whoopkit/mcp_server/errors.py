"""The one place where whoopkit errors become messages a language model can act on."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from whoopkit.errors import (
    LOGIN_URL,
    AuthError,
    ConfigError,
    NotFoundError,
    OAuthError,
    RateLimitedError,
    WhoopAPIError,
    WhoopkitError,
    WhoopUnavailableError,
)

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

PENDING_SCORE_EXPLANATION = (
    "PENDING_SCORE means WHOOP has recorded this but not scored it yet; scores usually appear a few "
    "minutes after the strap syncs (open the WHOOP app to sync), so ask again later."
)
UNSCORABLE_EXPLANATION = (
    "UNSCORABLE means WHOOP could not compute a score (for example the strap was off or the data too sparse)."
)


def explain(exc: BaseException) -> str:
    """A one-paragraph message saying what went wrong and what the user should do."""
    if isinstance(exc, AuthError):
        login = getattr(exc, "login_url", LOGIN_URL) or LOGIN_URL
        return (
            f"{exc} To connect WHOOP, start the web app (python whoop_simple.py) and open {login} "
            "in a browser, then ask again."
        )
    if isinstance(exc, RateLimitedError):
        wait = max(1, math.ceil(exc.retry_after))
        return (
            f"WHOOP's rate limit (100 requests a minute) was reached: retry after {wait} s "
            f"(Retry-After: {wait}). Recent results are cached, so asking for the same data again is free."
        )
    if isinstance(exc, WhoopUnavailableError):
        return f"WHOOP is unavailable right now ({exc}). This is usually temporary: try again in a minute."
    if isinstance(exc, NotFoundError):
        return f"{exc} It may have been deleted in the WHOOP app."
    if isinstance(exc, WhoopAPIError):
        return f"WHOOP answered HTTP {exc.status}: {exc}"
    if isinstance(exc, ConfigError):
        return f"{exc} Fix the setting in .env (next to whoop_mcp_server.py) and restart Claude Desktop."
    if isinstance(exc, OAuthError):
        return f"{exc} Log in again at {LOGIN_URL}."
    if isinstance(exc, WhoopkitError):
        return str(exc)
    return (
        f"Unexpected internal error ({type(exc).__name__}) in the WHOOP MCP server; the details are in "
        "the server log (Claude Desktop: mcp-server-whoop.log)."
    )


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn every exception of a tool into a ``ToolError`` whose message the model can act on.

    Raises:
        ToolError: (from the returned wrapper) whatever the tool raised, explained.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ToolError:
            raise
        except WhoopkitError as exc:
            logger.info("tool %s failed: %s", fn.__name__, type(exc).__name__)
            raise ToolError(explain(exc)) from exc
        except Exception as exc:
            logger.exception("tool %s crashed", fn.__name__)
            raise ToolError(explain(exc)) from exc

    return wrapper


def resource_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Like :func:`tool_errors`, for resources (which report ``ResourceError``).

    Raises:
        ResourceError: (from the returned wrapper) whatever the resource raised, explained.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ResourceError:
            raise
        except ToolError as exc:
            raise ResourceError(str(exc)) from exc
        except WhoopkitError as exc:
            raise ResourceError(explain(exc)) from exc
        except Exception as exc:
            logger.exception("resource %s crashed", fn.__name__)
            raise ResourceError(explain(exc)) from exc

    return wrapper
