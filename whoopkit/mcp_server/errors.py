"""The one place where whoopkit errors become messages a language model can act on."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from whoopkit import firstrun
from whoopkit.config import PROJECT_ROOT, Settings
from whoopkit.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    OAuthError,
    RateLimitedError,
    WhoopAPIError,
    WhoopkitError,
    WhoopUnavailableError,
)
from whoopkit.service import one_answer

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


@dataclass(frozen=True)
class Advice:
    """Where the user logs in and how they start the web app, from the settings of this checkout."""

    login_url: str
    web_command: str

    @classmethod
    def for_settings(cls, settings: Settings) -> Advice:
        """The login URL from ``settings`` and a web-app command that works from this checkout."""
        return cls(login_url=settings.login_url, web_command=web_app_command())


def web_app_command() -> str:
    """How to start the web app: this interpreter if it has the web packages, else the project's venv."""
    return firstrun.web_app_command(PROJECT_ROOT)


def explain(exc: BaseException, advice: Advice) -> str:
    """A one-paragraph message saying what went wrong and what the user should do."""
    message = str(exc)
    if isinstance(exc, AuthError):
        return (
            f"{message} To connect WHOOP, start the web app ({advice.web_command}) and open "
            f"{advice.login_url} in a browser, then ask again."
        )
    if isinstance(exc, RateLimitedError):
        wait = max(1, math.ceil(exc.retry_after))
        return (
            f"WHOOP's rate limit (100 requests a minute) was reached: retry after {wait} s "
            f"(Retry-After: {wait}). Data already synced is kept locally, so asking for it again is free."
        )
    if isinstance(exc, WhoopUnavailableError) and "not answering" in message.lower():
        # Already a whole sentence with its advice (the deadline's); say it once.
        if "nothing is stored" in message.lower():
            return message
        return f"{message} Nothing is stored locally to answer from yet."
    if isinstance(exc, WhoopUnavailableError):
        return (
            f"WHOOP is unavailable right now: WHOOP is not answering ({message.rstrip('.')}), and nothing "
            "is stored locally to answer from yet. This is usually temporary: try again in a minute."
        )
    if isinstance(exc, NotFoundError):
        return f"{message} It may have been deleted in the WHOOP app."
    if isinstance(exc, WhoopAPIError):
        return f"WHOOP answered HTTP {exc.status}: {message}"
    if isinstance(exc, ConfigError):
        return f"{message} Fix the setting in .env (next to whoop_mcp_server.py) and restart Claude Desktop."
    if isinstance(exc, OAuthError):
        return f"{message} Log in again at {advice.login_url}."
    if isinstance(exc, WhoopkitError):
        return message
    return (
        f"Unexpected internal error ({type(exc).__name__}) in the WHOOP MCP server; the details are in "
        "the server log (Claude Desktop: mcp-server-whoop.log)."
    )


def tool_errors(fn: Callable[P, Awaitable[R]], advice: Advice) -> Callable[P, Awaitable[R]]:
    """Turn every exception of a tool into a ``ToolError`` whose message the model can act on.

    Raises:
        ToolError: (from the returned wrapper) whatever the tool raised, explained.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with one_answer():  # every WHOOP wait of this call shares WHOOP_REQUEST_DEADLINE
                return await fn(*args, **kwargs)
        except ToolError:
            raise
        except WhoopkitError as exc:
            logger.info("tool %s failed: %s", fn.__name__, type(exc).__name__)
            raise ToolError(explain(exc, advice)) from exc
        except Exception as exc:
            logger.exception("tool %s crashed", fn.__name__)
            raise ToolError(explain(exc, advice)) from exc

    return wrapper


def resource_errors(fn: Callable[P, Awaitable[R]], advice: Advice) -> Callable[P, Awaitable[R]]:
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
            raise ResourceError(explain(exc, advice)) from exc
        except Exception as exc:
            logger.exception("resource %s crashed", fn.__name__)
            raise ResourceError(explain(exc, advice)) from exc

    return wrapper
