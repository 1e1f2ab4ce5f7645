"""The words for a first run gone wrong: the wrong interpreter, a busy port, half the credentials.

Standard library only: the entry points import this when whoopkit's own dependencies are missing.
"""

from __future__ import annotations

import os
import sys
from importlib.util import find_spec
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = "requirements.txt"
WEB_MODULES = ("fastapi", "uvicorn", "jinja2")


def venv_python(root: Path = PROJECT_ROOT) -> Path:
    """Where the project's virtual environment keeps its interpreter (``.venv/bin/python``)."""
    return root / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def venv_pip(root: Path = PROJECT_ROOT) -> Path:
    """Where the project's virtual environment keeps its pip."""
    return root / ".venv" / ("Scripts/pip.exe" if os.name == "nt" else "bin/pip")


def _shown(path: Path, cwd: Path) -> str:
    # Relative when the user stands in the project, so the command is short and copy-pasteable.
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)


def install_command(root: Path = PROJECT_ROOT, cwd: Path | None = None) -> str:
    """The commands that create the project's venv with every dependency."""
    here = Path.cwd() if cwd is None else cwd
    pip = venv_pip(root)
    base = "python" if os.name == "nt" else "python3"
    steps = f"{base} -m venv .venv && {_shown(pip, root)} install -r {REQUIREMENTS}"
    return steps if here == root else f"cd {root} && {steps}"


def run_command(script: str, *args: str, root: Path = PROJECT_ROOT, cwd: Path | None = None) -> str:
    """``script`` run with the project's venv interpreter, as the user would type it from ``cwd``."""
    here = Path.cwd() if cwd is None else cwd
    parts = [_shown(venv_python(root), here), _shown(root / script, here), *args]
    return " ".join(parts)


def _same_file(a: Path, b: Path) -> bool:
    # A venv's python is often a symlink to the system one, so compare the paths, not the targets.
    return os.path.abspath(a) == os.path.abspath(b)


def missing_dependency_message(script: str, missing: str, *, root: Path = PROJECT_ROOT) -> str:
    """Two sentences for ``ModuleNotFoundError``: which interpreter lacks what, and the fixing command."""
    python = sys.executable or "python"
    what = f"{script}: this Python ({python}) lacks the package {missing!r} that whoopkit needs."
    venv = venv_python(root)
    if venv.is_file() and _same_file(Path(python), venv):
        pip = venv_pip(root)
        wanted = root / REQUIREMENTS
        return f"{what} Install the packages into it: {_shown(pip, Path.cwd())} install -r {wanted}"
    if venv.is_file():
        return f"{what} Run it with the project's virtual environment: {run_command(script, root=root)}"
    return (
        f"{what} Install whoopkit's packages into a virtual environment first: {install_command(root)}, "
        f"then run: {run_command(script, root=root)}"
    )


def exit_for_missing_module(exc: ModuleNotFoundError, script: str) -> None:
    """Exit with :func:`missing_dependency_message` for a third-party package; re-raise our own bugs."""
    name = (exc.name or "").split(".")[0]
    if not name or name == "whoopkit":
        raise exc
    sys.exit(missing_dependency_message(script, name))


def web_app_command(root: Path = PROJECT_ROOT) -> str:
    """A command that starts the web app: this interpreter if it has the web packages, else the venv's."""
    python = sys.executable or "python3"
    if not all(find_spec(name) is not None for name in WEB_MODULES):
        if not venv_python(root).is_file():
            return f"{install_command(root, cwd=Path('/'))} && {venv_python(root)} whoop_simple.py"
        python = str(venv_python(root))
    return f"cd {root} && {python} whoop_simple.py"


def port_in_use_message(host: str, port: int, origin: str, *, demo: bool) -> str:
    """Port busy: probably another whoopkit; how to start this one elsewhere."""
    other = port + 1 if port < 65535 else 3001
    text = (
        f"Port {port} on {host} is already in use: another whoopkit web app (or another program) is "
        f"running there. If it is whoopkit, open {origin}; otherwise start this one on another port: "
        f"{run_command('whoop_simple.py', '--port', str(other))} (or set PORT={other})."
    )
    if not demo:
        text += (
            f" With your WHOOP app, also set WHOOP_REDIRECT_URI=http://localhost:{other}/callback and "
            "register it in the WHOOP developer dashboard."
        )
    return text


def mcp_terminal_hint() -> str:
    """The line ``whoop_mcp_server.py`` prints when someone starts it in a terminal."""
    return (
        "whoop_mcp_server.py is waiting for an MCP client on stdin (Claude Desktop starts it for you); "
        f"to try it from a terminal, run: {run_command('test_mcp_server.py')}  (Ctrl-C to stop)"
    )
