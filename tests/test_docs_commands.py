"""The command blocks of README.md ("Start here") and MCP_README.md ("Setup"), run as a new user would.

Each README runs on its own fresh copy of the checkout (no ``.venv``, ``.whoopkit``, ``.env``, token file or
caches) with a fresh venv, from PyPI (pip's cache makes the second run fast). A command that serves until
stopped (the web app) is started, waited for, checked (``GET /`` answers 200 in demo mode) and stopped at
the end of its block; the others must exit 0. The only change to the commands as written: the web app gets
a free ``PORT``, so that the test does not need 3000 free. README's second command installs and runs the
whole suite, this test included, so it is not run here: it must be ``./scripts/test`` and ``.ci/run`` must
run exactly that.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Commands that serve until stopped; everything else must finish.
SERVERS = ("whoop_simple.py",)
SERVER_START_TIMEOUT = 90.0
COMMAND_TIMEOUT = 600.0
# What a fresh clone does not have.
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".whoopkit",
    ".env",
    ".token_cache.json*",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "artifacts",
    "*.egg-info",
    "build",
    "node_modules",
)


def _section(markdown: str, heading: str) -> str:
    """The text under the ``## heading …`` line, up to the next second-level heading."""
    match = re.search(rf"^## {re.escape(heading)}\b[^\n]*$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, re.M | re.S)


def _commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comments dropped, ``&&`` chains split."""
    joined = re.sub(r"\\\n\s*", " ", block)
    commands: list[str] = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        commands.extend(part.strip() for part in line.split(" && ") if part.strip())
    return commands


def _readme_blocks() -> list[list[str]]:
    return [_commands(block) for block in _bash_blocks(_section(_read("README.md"), "Start here"))]


def _read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _new_user_env(port: int) -> dict[str, str]:
    """This machine's environment without this checkout's venv or any whoopkit settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WHOOP_", "OLLAMA_", "PYTEST", "COV_"))
        and key not in {"VIRTUAL_ENV", "PYTHONPATH", "HOST", "PORT", "PYTHONHOME"}
    }
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", "").split(os.pathsep) if not part.rstrip("/").endswith(".venv/bin")
    )
    env["PORT"] = str(port)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _fresh_checkout(tmp_path: Path) -> Path:
    checkout = tmp_path / "whoopkit"
    shutil.copytree(ROOT, checkout, ignore=NOT_IN_A_CLONE, symlinks=True)
    return checkout


class Server:
    """A command that serves until stopped, with its output collected as it comes."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str], port: int) -> None:
        self.command, self.port = command, port
        self.process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def _drain(self, wait: float) -> None:
        try:
            self.output.append(self.lines.get(timeout=wait))
            while True:
                self.output.append(self.lines.get_nowait())
        except queue.Empty:
            return

    def home_page(self, follow_redirects: bool = False) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}/", timeout=10, follow_redirects=follow_redirects)

    def wait_until_up(self) -> httpx.Response:
        """``GET /`` once the server answers, waiting for its output between tries (with a deadline)."""
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"`{self.command}` exited early:\n{self.text()}"
            try:
                return self.home_page()
            except httpx.TransportError:
                self._drain(wait=0.5)
        raise AssertionError(f"`{self.command}` not up within {SERVER_START_TIMEOUT} s:\n{self.text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.reader.join(timeout=10)  # the pipe reaches EOF once the process is gone
        assert self.process.stdout is not None
        self.process.stdout.close()
        self._drain(wait=0.1)
        return self.process.returncode

    def text(self) -> str:
        self._drain(wait=0.1)
        return "".join(self.output)


@contextmanager
def _running_block(commands: list[str], cwd: Path, env: dict[str, str]) -> Iterator[list[Server]]:
    """Run ``commands`` in order as written; servers keep running until the block is done."""
    servers: list[Server] = []
    try:
        for command in commands:
            if any(script in command for script in SERVERS):
                server = Server(command, cwd, env, int(env["PORT"]))
                servers.append(server)
                page = server.wait_until_up()
                assert page.status_code == 200, f"`{command}`: GET / answered {page.status_code}"
                assert "demo" in page.text.lower(), f"`{command}` is not in demo mode"
                continue
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                encoding="utf-8",
                timeout=COMMAND_TIMEOUT,
            )
            assert done.returncode == 0, f"`{command}` exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
            if "test_mcp_server.py" in command:
                assert re.search(r"\b0 failed\b", done.stdout), done.stdout
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_the_readme_starts_with_a_demo_command_and_the_test_command_ci_runs() -> None:
    demo, tests = _readme_blocks()
    assert demo[:2] == ["python3 -m venv .venv", ".venv/bin/pip install -r requirements.txt"]
    assert any("whoop_simple.py" in command for command in demo)
    assert tests == ["./scripts/test"]
    ci = [
        line.strip()
        for line in _read(".ci/run").splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci == tests


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_readme_demo_command_installs_and_serves_the_demo_on_a_fresh_checkout(tmp_path: Path) -> None:
    demo, _ = _readme_blocks()
    checkout, env = _fresh_checkout(tmp_path), _new_user_env(_free_port())
    with _running_block(demo, checkout, env) as servers:
        assert len(servers) == 1
    assert (checkout / ".venv" / "bin" / "python").exists()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_mcp_readme_setup_block_works_as_written_on_a_fresh_checkout(tmp_path: Path) -> None:
    (setup,) = _bash_blocks(_section(_read("MCP_README.md"), "Setup"))
    commands = _commands(setup)
    assert any("whoop_simple.py" in command for command in commands)
    assert any("test_mcp_server.py" in command for command in commands)
    checkout, env = _fresh_checkout(tmp_path), _new_user_env(_free_port())
    with _running_block(commands, checkout, env) as servers:
        # The web app still serves its pages after test_mcp_server.py used the same (demo) login.
        assert servers and servers[0].home_page(follow_redirects=True).status_code == 200
