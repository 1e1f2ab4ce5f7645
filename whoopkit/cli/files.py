"""Safe edits of the user's files: ``.env`` and Claude Desktop's config.

Both are written atomically (a temporary file in the same directory, fsynced, renamed over the
old one), so a crash leaves the old or the new file, never half of one; the previous content is
kept as ``<name>.bak`` first. ``.env`` and its backup hold the client secret, so they are created
0600 from the first byte.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from whoopkit.config import PROJECT_ROOT
from whoopkit.errors import ConfigError

MCP_SCRIPT = PROJECT_ROOT / "whoop_mcp_server.py"
SERVER_NAME = "whoop"
CLAUDE_CONFIG_ENV = "WHOOP_CLAUDE_CONFIG"

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.:/@+-]*")


def atomic_write(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically; a new file gets ``mode``.

    Raises:
        OSError: the directory is not writable or the disk is full (the old file is untouched).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_output(path: Path, *, mode: int = 0o600) -> Iterator[IO[str]]:
    """A text stream that replaces ``path`` when the block succeeds; on failure ``path`` is untouched.

    Raises:
        OSError: the directory is not writable or the disk is full.
    """
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def backup(path: Path) -> Path | None:
    """Copy ``path`` to ``<path>.bak`` (0600, atomically) before it is rewritten; None if it is missing.

    Raises:
        OSError: the file cannot be read or the backup cannot be written.
    """
    if not path.is_file():
        return None
    target = path.with_name(path.name + ".bak")
    atomic_write(target, path.read_text(encoding="utf-8"), mode=0o600)
    return target


# ---------------------------------------------------------------------------------------------- .env


def _quoted(value: str) -> str:
    if _PLAIN_VALUE.fullmatch(value):
        return value
    # Single quotes are literal for python-dotenv (no escapes), so only a quote itself needs care.
    if "'" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def merge_env(text: str, values: dict[str, str]) -> str:
    """``text`` (a ``.env``) with ``values`` set, every other line kept as it was.

    The first assignment of each name is replaced in place, later duplicates are dropped (they would
    win otherwise) and missing names are appended.
    """
    out: list[str] = []
    done: set[str] = set()
    for raw in text.splitlines():
        match = _ASSIGNMENT.match(raw)
        name = match.group(1) if match else None
        if name is None or name not in values:
            out.append(raw)
        elif name not in done:
            out.append(f"{name}={_quoted(values[name])}")
            done.add(name)
    missing = [name for name in values if name not in done]
    if missing and out and out[-1].strip():
        out.append("")
    out.extend(f"{name}={_quoted(values[name])}" for name in missing)
    return "\n".join(out) + "\n"


def write_env(path: Path, values: dict[str, str]) -> Path | None:
    """Set ``values`` in the ``.env`` at ``path`` (started from ``.env.example`` when missing).

    Returns the backup of the previous file, if there was one.

    Raises:
        OSError: the file cannot be read or written.
    """
    if path.is_file():
        base = path.read_text(encoding="utf-8")
    else:
        example = path.with_name(".env.example")
        base = example.read_text(encoding="utf-8") if example.is_file() else ""
    saved = backup(path)
    atomic_write(path, merge_env(base, values), mode=0o600)
    # os.replace keeps the temporary file's mode, but a umask may have narrowed the open() mode.
    os.chmod(path, 0o600)
    return saved


# ---------------------------------------------------------------------------------- Claude Desktop


def default_claude_config() -> Path:
    """Where Claude Desktop keeps its config on this OS."""
    name = "claude_desktop_config.json"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Claude" / name
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        base = Path(appdata) if appdata else Path.home() / "AppData" / "Roaming"
        return base / "Claude" / name
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "Claude" / name


def claude_config_path(override: Path | None) -> Path:
    """``override`` (``--claude-config`` or ``WHOOP_CLAUDE_CONFIG``), else the OS default."""
    return override.expanduser() if override is not None else default_claude_config()


def server_entry(token_cache: Path, script: Path = MCP_SCRIPT) -> dict[str, Any]:
    """The ``mcpServers.whoop`` entry that runs this checkout's MCP server with this interpreter."""
    return {
        "command": sys.executable,
        "args": [str(script.resolve())],
        "env": {"WHOOP_TOKEN_CACHE": str(Path(token_cache).resolve()), "PYTHONUNBUFFERED": "1"},
    }


def read_claude_config(path: Path) -> dict[str, Any]:
    """The parsed config at ``path`` ({} when the file is missing or empty).

    Raises:
        ConfigError: the file is not a JSON object (it is then left alone).
        OSError: the file cannot be read.
    """
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid JSON (line {exc.lineno}): fix it by hand, then run setup again."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a JSON object: fix it by hand, then run setup again.")
    servers = data.get("mcpServers")
    if servers is not None and not isinstance(servers, dict):
        raise ConfigError(f'"mcpServers" in {path} is not an object: fix it by hand, then run setup again.')
    return data


def merge_claude_config(data: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``mcpServers.whoop`` set to ``entry``; other servers and keys stay untouched.

    Environment variables the user added to an existing whoop entry are kept.
    """
    merged = dict(data)
    servers = dict(merged.get("mcpServers") or {})
    old = servers.get(SERVER_NAME)
    old_env = old.get("env") if isinstance(old, dict) else None
    new = dict(entry)
    if isinstance(old_env, dict):
        new["env"] = {**old_env, **entry.get("env", {})}
    servers[SERVER_NAME] = new
    merged["mcpServers"] = servers
    return merged


def install_claude_server(path: Path, token_cache: Path) -> tuple[bool, Path | None]:
    """Add or update the whoop server in Claude Desktop's config at ``path``.

    Returns whether the file changed and the backup of the previous file (None when there was none).

    Raises:
        ConfigError: the existing file is not a JSON object.
        OSError: the file cannot be read or written.
    """
    data = read_claude_config(path)
    merged = merge_claude_config(data, server_entry(token_cache))
    if path.is_file() and merged == data:
        return False, None
    saved = backup(path)
    mode = path.stat().st_mode & 0o777 if path.is_file() else 0o600
    atomic_write(path, json.dumps(merged, indent=2, ensure_ascii=False) + "\n", mode=mode)
    return True, saved


def references_checkout(server: Any, script: Path = MCP_SCRIPT) -> bool:
    """Whether an ``mcpServers`` entry runs ``script`` (this checkout's MCP server)."""
    if not isinstance(server, dict):
        return False
    args = server.get("args")
    candidates = [server.get("command"), *(args if isinstance(args, list) else [])]
    target = script.resolve()
    for value in candidates:
        if isinstance(value, str) and value.endswith(script.name):
            with contextlib.suppress(OSError, ValueError):
                if Path(value).expanduser().resolve() == target:
                    return True
    return False
