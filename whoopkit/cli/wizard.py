"""``whoopkit setup``: register the app, write ``.env``, log in with one live call, add Claude Desktop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import typer
from pydantic import SecretStr

from whoopkit.cli import files, output
from whoopkit.cli.callback import CallbackListener, CallbackResult, web_app_answers
from whoopkit.cli.deps import CliDeps
from whoopkit.config import OAUTH_SCOPES, Settings
from whoopkit.errors import OAuthError
from whoopkit.oauth import new_state
from whoopkit.tokens import TokenStore

WEB_APP_POLL = 0.5


def show_registration(settings: Settings) -> None:
    """Step 1: how to register a WHOOP app, with the redirect URI to paste."""
    output.heading("Step 1 of 4: register a WHOOP app")
    output.line("  1. Open https://developer.whoop.com and sign in with your WHOOP account.")
    output.line('  2. Open the Developer Dashboard (create a team if it asks) and choose "Create App".')
    output.line('  3. Give it a name (for example "whoopkit") and tick these scopes:')
    output.line("       " + ", ".join(OAUTH_SCOPES))
    output.line("     (offline lets the login renew itself; without it you log in again every hour).")
    output.line("  4. Under Redirect URIs, paste exactly:")
    output.line(f"       {settings.whoop_redirect_uri}", style="bold")
    output.line("  5. Save. The app's page shows its Client ID and Client Secret.")
    output.line()


def _clean(value: str, what: str) -> str:
    value = value.strip()
    if not value or any(ch.isspace() for ch in value):
        raise typer.BadParameter(f"the {what} must be one word without spaces (copy it from the app's page).")
    return value


def ask_credentials(settings: Settings, client_id: str | None, client_secret: str | None) -> tuple[str, str]:
    """Step 2: the client id and secret, from the flags or asked for (the secret hidden).

    An empty answer keeps the value already configured.

    Raises:
        typer.BadParameter: a value has spaces or is empty.
    """
    output.heading("Step 2 of 4: the app's credentials")
    if client_id is None:
        client_id = typer.prompt("Client ID", default=settings.whoop_client_id or None)
    if client_secret is None:
        current = settings.client_secret
        label = "Client secret (hidden; Enter keeps the current one)" if current else "Client secret (hidden)"
        client_secret = typer.prompt(label, hide_input=True, default=current or None, show_default=False)
    return _clean(client_id, "client id"), _clean(client_secret, "client secret")


def save_credentials(env_file: Path, client_id: str, client_secret: str) -> None:
    """Write the credentials into ``.env`` (merged, 0600, atomically, the old file kept as ``.env.bak``).

    Raises:
        OSError: the file cannot be written.
    """
    values = {"WHOOP_CLIENT_ID": client_id, "WHOOP_CLIENT_SECRET": client_secret}
    if env_file.is_file():
        current = env_file.read_text(encoding="utf-8")
        if files.merge_env(current, values) == current:
            output.line(f"{env_file} already holds these credentials.")
            return
    saved = files.write_env(env_file, values)
    kept = f"; the previous version is in {saved}" if saved else ""
    output.line(f"Wrote {env_file} (mode 0600{kept}).")


def with_credentials(settings: Settings, client_id: str, client_secret: str) -> Settings:
    """``settings`` with the new credentials (the process read ``.env`` before setup wrote it)."""
    return settings.model_copy(
        update={
            "whoop_client_id": client_id,
            "whoop_client_secret": SecretStr(client_secret),
            "whoop_demo": False,
        }
    )


async def login(deps: CliDeps, settings: Settings, *, wait_seconds: float, browser: bool) -> None:
    """Step 3: log in through the browser, then prove it with one live call (the profile).

    Raises:
        OAuthError: WHOOP refused, the answer did not match, or none came within ``wait_seconds``.
        WhoopkitError: the exchange or the live call failed.
    """
    output.heading("Step 3 of 4: log in to WHOOP")
    service = deps.service(settings, False)
    try:
        redirect = urlsplit(settings.whoop_redirect_uri)
        origin = f"{redirect.scheme}://{redirect.netloc}"
        if await anyio.to_thread.run_sync(web_app_answers, origin):
            await _login_through_web_app(deps, settings, origin, wait_seconds=wait_seconds, browser=browser)
        else:
            state = new_state()
            result = await _wait_for_callback(
                deps, service.authorize_url(state), settings, wait_seconds, browser
            )
            if result.error or not result.code:
                raise OAuthError(
                    f"WHOOP did not grant access ({result.error or 'no code'}): "
                    "run `whoopkit setup` again and choose Allow."
                )
            if result.state != state:
                raise OAuthError(
                    "The login answer did not belong to this setup run (state mismatch): "
                    "run `whoopkit setup` again."
                )
            await service.login_with_code(result.code)
        profile = (await service.profile()).data
        output.line(
            f"{output.OK_MARK} Logged in as {profile.first_name} {profile.last_name} ({profile.email})."
        )
    finally:
        await service.aclose()


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    loop.call_soon_threadsafe(callback)


async def _wait_for_callback(
    deps: CliDeps, url: str, settings: Settings, wait_seconds: float, browser: bool
) -> CallbackResult:
    redirect = urlsplit(settings.whoop_redirect_uri)
    loop = asyncio.get_running_loop()
    arrived = asyncio.Event()
    listener = CallbackListener(
        redirect.hostname or "localhost",
        redirect.port or 80,
        redirect.path or "/",
        notify=lambda: _call_soon(loop, arrived.set),
    )
    try:
        listener.start()
    except OSError as exc:
        raise OAuthError(
            f"Cannot listen on {settings.whoop_redirect_uri} for WHOOP's answer ({exc.strerror or exc}): "
            "free that port or start the web app there, then run setup again."
        ) from None
    try:
        output.line("Open this address, log in and choose Allow:")
        output.line(f"  {url}", style="bold")
        if browser:
            await deps.open_browser(url)
        try:
            await asyncio.wait_for(arrived.wait(), wait_seconds)
        except TimeoutError:
            raise OAuthError(
                f"No answer from WHOOP within {wait_seconds:.0f} s: run `whoopkit setup` again "
                "(`--login-timeout` gives more time)."
            ) from None
    finally:
        await anyio.to_thread.run_sync(listener.close)
    assert listener.result is not None
    return listener.result


async def _login_through_web_app(
    deps: CliDeps, settings: Settings, origin: str, *, wait_seconds: float, browser: bool
) -> None:
    # The web app owns the redirect URI's port, so it receives WHOOP's answer and saves the token.
    store = TokenStore(settings.whoop_token_cache)
    before = store.stat_key()
    output.line(f"The web app is running at {origin}; it receives the login. Open this address:")
    output.line(f"  {settings.login_url}", style="bold")
    output.line("(If the web app was started before this setup wrote .env, restart it first.)")
    if browser:
        await deps.open_browser(settings.login_url)
    deadline = time.monotonic() + wait_seconds
    while store.stat_key() in (before, None):
        if time.monotonic() > deadline:
            raise OAuthError(f"No login arrived within {wait_seconds:.0f} s: run `whoopkit setup` again.")
        await anyio.sleep(WEB_APP_POLL)


def offer_claude(path: Path, settings: Settings, *, assume_yes: bool) -> None:
    """Step 4: add (or update) the whoop server in Claude Desktop's config, if the user agrees.

    Raises:
        ConfigError: the existing config is not a JSON object (it is left alone).
        OSError: the file cannot be written.
    """
    output.heading("Step 4 of 4: Claude Desktop")
    if not assume_yes and not typer.confirm(f"Add the whoop server to {path}?", default=True):
        output.line("Skipped; `whoopkit doctor` checks it later.")
        return
    changed, saved = files.install_claude_server(path, settings.whoop_token_cache)
    if not changed:
        output.line(f"{path} already runs this checkout's MCP server.")
        return
    kept = f"; the previous version is in {saved}" if saved else ""
    output.line(
        f"{output.OK_MARK} Added the whoop server to {path}{kept}. Restart Claude Desktop to load it."
    )
