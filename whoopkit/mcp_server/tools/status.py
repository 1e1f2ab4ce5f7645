"""``get_auth_status``: whether the server can read WHOOP, with which token, and how to log in.

No ``from __future__ import annotations`` here: the SDK evaluates the tool signatures at registration.
"""

import contextlib
from datetime import UTC
from typing import TYPE_CHECKING, Annotated

from mcp.types import CallToolResult

from whoopkit.errors import WhoopkitError
from whoopkit.mcp_server.common import Ctx, ToolFn, content, envelope, note
from whoopkit.mcp_server.errors import web_app_command
from whoopkit.mcp_server.schemas import AuthStatusOut
from whoopkit.mcp_server.state import service_of

if TYPE_CHECKING:
    from whoopkit.service import WhoopService


async def get_auth_status(ctx: Ctx) -> Annotated[CallToolResult, AuthStatusOut]:
    """Is the server connected to WHOOP? Token expiry, scopes (offline?), demo or real, token file."""
    return await auth_status_result(await service_of(ctx))


async def auth_status_result(service: "WhoopService") -> CallToolResult:
    """``get_auth_status``'s result (also the ``whoop://status`` resource)."""
    status = service.auth_status()
    if service.demo and not status.logged_in:
        # The demo login is automatic and in-process: redo it rather than report a fixable state.
        with contextlib.suppress(WhoopkitError):
            await service.demo_login()
        status = service.auth_status()
    login_url, command = service.login_url, web_app_command()
    own_data = (
        "To read your own data, set WHOOP_CLIENT_ID and WHOOP_CLIENT_SECRET in .env and log in at "
        f"{login_url}."
    )
    if service.demo and status.logged_in:
        text = (
            "Demo mode: reading the simulated demo WHOOP (generated data, not your WHOOP account); "
            f"its demo login is automatic and shared with the web app. {own_data}"
        )
    elif service.demo:
        problem = f" ({status.error.rstrip('.')})" if status.error else ""
        text = (
            f"Demo mode: not logged in to the simulated demo WHOOP{problem}; ask again to retry the "
            f"automatic demo login, or log in at {login_url} with the web app running ({command}). {own_data}"
        )
    elif status.logged_in:
        expires = f"{status.expires_at:%Y-%m-%d %H:%M} UTC" if status.expires_at else "at an unknown time"
        text = f"Connected to WHOOP; the access token expires {expires}"
        text += " and is refreshed automatically." if status.can_refresh else " and cannot be refreshed."
        if not status.has_offline_scope:
            text += f" The `offline` scope is missing: you will have to log in again hourly at {login_url}."
    else:
        text = f"Not connected to WHOOP: start the web app ({command}) and open {login_url}."
    # Nothing here is read from WHOOP, so it is never stale; as_of is the store's newest sync.
    fields = envelope(service, None)
    fields["as_of"] = _last_sync_iso(service)
    return content(
        AuthStatusOut(
            **fields,
            summary=text + note(service, None),
            logged_in=status.logged_in,
            demo=service.demo,
            token_file=str(status.path) if status.path is not None else "",
            expires_at=status.expires_at.isoformat() if status.expires_at else None,
            seconds_left=status.seconds_left,
            expired=status.expired,
            can_refresh=status.can_refresh,
            scopes=status.scopes,
            has_offline_scope=status.has_offline_scope,
            missing_scopes=status.missing_scopes,
            problem=status.error,
            login_url=login_url,
            start_web_app=command,
        )
    )


def _last_sync_iso(service: "WhoopService") -> str | None:
    synced = [c.last_sync for c in service.store_status().collections.values() if c.last_sync is not None]
    return max(synced).astimezone(UTC).isoformat(timespec="seconds") if synced else None


TOOLS: list[tuple[ToolFn, str]] = [(get_auth_status, "Connection status")]
