"""The checks of ``whoopkit doctor``: each says what it found and, on failure, what to do."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from whoopkit.cli import files
from whoopkit.config import Settings
from whoopkit.errors import NotLoggedInError, WhoopkitError
from whoopkit.tokens import TokenStore

if TYPE_CHECKING:
    from whoopkit.service import WhoopService

OLLAMA_TIMEOUT = 2.0
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``label`` says what was found, ``fix`` what to do when ``ok`` is false."""

    ok: bool
    label: str
    fix: str | None = None


def check_env(env_file: Path, settings: Settings) -> list[Check]:
    """``.env`` exists and the WHOOP app's credentials are set (from it or from the environment)."""
    checks: list[Check] = []
    if env_file.is_file():
        checks.append(Check(True, f".env found at {env_file}"))
    elif settings.has_credentials:
        checks.append(Check(True, f"no .env at {env_file}; the credentials come from the environment"))
    else:
        checks.append(Check(False, f"no .env at {env_file}", "run `whoopkit setup` to create it"))
    if settings.has_credentials:
        checks.append(Check(True, f"WHOOP credentials set (client id {settings.whoop_client_id})"))
    else:
        missing = [
            name
            for name, value in (
                ("WHOOP_CLIENT_ID", settings.whoop_client_id),
                ("WHOOP_CLIENT_SECRET", settings.client_secret),
            )
            if not value
        ]
        checks.append(
            Check(
                False,
                f"{' and '.join(missing)} not set",
                "run `whoopkit setup` (it shows how to register an app at developer.whoop.com)",
            )
        )
    return checks


def _host_port(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in _LOOPBACK_NAMES:
        host = "loopback"
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, host, port, parts.path or "/"


def check_redirect(settings: Settings) -> Check:
    """WHOOP_REDIRECT_URI is the ``/callback`` the web app serves (localhost and 127.0.0.1 are one)."""
    expected = settings.web_origin + "/callback"
    configured = settings.whoop_redirect_uri
    try:
        same = _host_port(configured) == _host_port(expected)
    except ValueError:
        same = False
    if same:
        return Check(True, f"redirect URI {configured} is the web app's /callback")
    return Check(
        False,
        f"redirect URI {configured} is not what the web app serves ({expected})",
        f"set WHOOP_REDIRECT_URI={expected} in .env (or HOST/PORT to match it), and register the same "
        "URI in your app at developer.whoop.com",
    )


def check_token(path: Path) -> list[Check]:
    """The token file exists, is mode 0600, and its login granted the ``offline`` scope."""
    store = TokenStore(path)
    if not store.exists():
        return [
            Check(False, f"no WHOOP login (no token file at {path})", "run `whoopkit setup` to log in"),
        ]
    checks: list[Check] = []
    if sys.platform == "win32":
        checks.append(Check(True, f"token file {path} (permissions are not checked on Windows)"))
    else:
        mode = path.stat().st_mode & 0o777
        if mode == 0o600:
            checks.append(Check(True, f"token file {path} is mode 0600"))
        else:
            checks.append(
                Check(
                    False,
                    f"token file {path} is mode {mode:04o}, readable by others",
                    f"run `chmod 600 {path}`",
                )
            )
    try:
        token = store.load()
    except NotLoggedInError as exc:
        checks.append(Check(False, "the token file cannot be used", f"{exc} Or run `whoopkit setup`."))
        return checks
    if "offline" in token.scopes and token.refresh_token:
        checks.append(Check(True, "the login granted the offline scope (it renews itself)"))
    else:
        checks.append(
            Check(
                False,
                "the login lacks the offline scope, so it stops working within the hour",
                "run `whoopkit setup` again and grant every scope, offline included",
            )
        )
    return checks


def check_database(service: WhoopService) -> list[Check]:
    """The store passes ``PRAGMA integrity_check`` and its schema is the one this code expects."""
    store = service.store
    where = store.location
    checks: list[Check] = []
    if store.recovered_from:
        checks.append(
            Check(
                False,
                f"database {where} was unreadable and has been moved to {store.recovered_from}",
                "run `whoopkit sync` to rebuild the history from WHOOP",
            )
        )
    try:
        problem = store.integrity_check()
    except WhoopkitError as exc:
        problem = str(exc)
    if problem is None:
        checks.append(Check(True, f"database {where} passes the integrity check"))
    else:
        checks.append(
            Check(
                False,
                f"database {where} is damaged: {problem}",
                "move the file aside; the next `whoopkit sync` rebuilds it from WHOOP",
            )
        )
    try:
        current, head = store.schema_revision(), type(store).head_revision()
    except WhoopkitError as exc:
        checks.append(Check(False, f"database schema unknown: {exc}", "run `whoopkit sync` to create it"))
        return checks
    if current == head:
        checks.append(Check(True, f"database schema is at revision {head}"))
    elif current is None:
        checks.append(Check(False, "database has no schema yet", "run `whoopkit sync` to create it"))
    else:
        checks.append(
            Check(
                False,
                f"database schema is at revision {current}, this code expects {head}",
                "update whoopkit (`git pull`) if the database is newer, else run `whoopkit sync` to migrate",
            )
        )
    return checks


def _model_names(payload: object) -> set[str]:
    if not isinstance(payload, dict):
        return set()
    models = payload.get("models")
    if not isinstance(models, list):
        return set()
    names: set[str] = set()
    for model in models:
        if isinstance(model, dict):
            names.update(str(model[key]) for key in ("name", "model") if isinstance(model.get(key), str))
    return names


def check_ollama(settings: Settings, transport: httpx.BaseTransport | None = None) -> Check:
    """Ollama answers at OLLAMA_HOST and has OLLAMA_MODEL (``llama3.2`` matches ``llama3.2:latest``)."""
    host, model = settings.ollama_host, settings.ollama_model
    try:
        with httpx.Client(transport=transport, timeout=OLLAMA_TIMEOUT) as http:
            response = http.get(f"{host}/api/tags")
        response.raise_for_status()
        names = _model_names(response.json())
    except (httpx.HTTPError, ValueError):
        return Check(
            False,
            f"Ollama is not reachable at {host} (only the AI insights need it)",
            "install it from https://ollama.com and run `ollama serve`, or set OLLAMA_HOST",
        )
    wanted = {model} if ":" in model else {model, f"{model}:latest"}
    if names & wanted:
        return Check(True, f"Ollama at {host} has the model {model}")
    return Check(False, f"Ollama at {host} does not have the model {model}", f"run `ollama pull {model}`")


def check_claude(path: Path, script: Path = files.MCP_SCRIPT) -> Check:
    """Claude Desktop's config exists and its whoop server runs this checkout's MCP server."""
    fix = "run `whoopkit setup` to add the whoop server to it"
    if not path.is_file():
        return Check(False, f"no Claude Desktop config at {path}", fix)
    try:
        data = files.read_claude_config(path)
    except (WhoopkitError, OSError) as exc:
        return Check(False, f"Claude Desktop config {path} cannot be read", str(exc))
    servers = data.get("mcpServers") or {}
    named = servers.get(files.SERVER_NAME)
    if files.references_checkout(named, script):
        command = named.get("command") if isinstance(named, dict) else None
        if isinstance(command, str) and os.path.isabs(command) and not Path(command).exists():
            return Check(False, f"the whoop server in {path} runs {command}, which does not exist", fix)
        return Check(True, f"Claude Desktop config {path} runs this checkout's MCP server")
    others = [name for name, server in servers.items() if files.references_checkout(server, script)]
    if others:
        return Check(True, f"Claude Desktop config {path} runs this checkout as server {others[0]!r}")
    if named is not None:
        return Check(
            False,
            f"the whoop server in {path} does not run this checkout ({script})",
            "run `whoopkit setup` to point it here",
        )
    return Check(False, f"Claude Desktop config {path} has no whoop server", fix)
