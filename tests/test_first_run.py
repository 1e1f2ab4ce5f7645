"""The common first-run mistakes get one or two sentences and the exact fixing command, never a traceback:
the system python instead of the venv, a busy port, half the WHOOP credentials, the MCP server started
in a terminal; and the web app says at start-up what it runs and where.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from whoopkit import firstrun
from whoopkit.config import PROJECT_ROOT
from whoopkit.web.app import create_app

pytestmark = pytest.mark.usefixtures("clean_env")

SCRIPTS = ("whoop_simple.py", "whoop_mcp_server.py", "test_mcp_server.py")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHOOP_", "OLLAMA_", "PORT", "HOST"))}
    env.update(
        WHOOP_DEMO="1",
        WHOOP_CLIENT_ID="",
        WHOOP_CLIENT_SECRET="",
        WHOOP_TOKEN_CACHE=str(tmp_path / "no_real_login.json"),
        WHOOP_DATA_DIR=str(tmp_path / "data"),
        **extra,
    )
    return env


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh venv without whoopkit's packages, like a system ``python3``."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    return venv / "bin" / "python"


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_a_script_run_without_the_venv_names_the_interpreter_to_use_instead_of_a_traceback(
    script: str, bare_python: Path, tmp_path: Path
) -> None:
    out = subprocess.run(
        [str(bare_python), script],
        cwd=PROJECT_ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and "ModuleNotFoundError" not in out.stderr
    assert f"Run it with the project's virtual environment: .venv/bin/python {script}" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_without_a_venv_the_message_says_how_to_create_one(tmp_path: Path) -> None:
    text = firstrun.missing_dependency_message("whoop_simple.py", "uvicorn", root=tmp_path)
    assert "lacks the package 'uvicorn'" in text
    assert "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt" in text
    assert text.endswith(f"then run: {tmp_path}/.venv/bin/python {tmp_path}/whoop_simple.py")


def test_run_with_the_venv_that_lacks_a_package_the_message_says_how_to_install_into_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = firstrun.venv_python(tmp_path)
    venv.parent.mkdir(parents=True)
    venv.write_text("", encoding="utf-8")
    monkeypatch.setattr(sys, "executable", str(venv))
    text = firstrun.missing_dependency_message("whoop_simple.py", "fastapi", root=tmp_path)
    assert "Run it with the project's virtual environment" not in text
    assert f"install -r {tmp_path / 'requirements.txt'}" in text


@pytest.mark.slow
def test_the_mcp_advice_to_start_the_web_app_names_a_command_that_works(
    bare_python: Path, tmp_path: Path
) -> None:
    # The advice as an MCP server without the web packages (system python, requirements_mcp.txt) gives it.
    code = f"import sys; sys.path.insert(0, {str(PROJECT_ROOT)!r}); from whoopkit import firstrun; "
    code += "print(firstrun.web_app_command())"
    advice = subprocess.run(
        [str(bare_python), "-c", code], capture_output=True, text=True, encoding="utf-8", timeout=60
    )
    assert advice.returncode == 0, advice.stderr
    command = advice.stdout.strip()
    assert command.endswith(f"{PROJECT_ROOT / '.venv' / 'bin' / 'python'} whoop_simple.py")
    # Run exactly that (with --help, so that it stops at once): it must work.
    ran = subprocess.run(
        ["/bin/sh", "-c", f"{command} --help"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert "usage:" in ran.stdout
    assert shlex.split(command)[0] == "cd"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.slow
def test_a_busy_port_says_another_whoopkit_may_run_and_how_to_pick_another(
    busy_port: int, tmp_path: Path
) -> None:
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "whoop_simple.py"), "--port", str(busy_port)],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and "Errno" not in out.stderr
    assert f"Port {busy_port} on 127.0.0.1 is already in use: another whoopkit web app" in out.stderr
    assert f"--port {busy_port + 1}" in out.stderr and f"PORT={busy_port + 1}" in out.stderr


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"WHOOP_CLIENT_ID": "my-app", "WHOOP_CLIENT_SECRET": ""}, "WHOOP_CLIENT_SECRET"),
        ({"WHOOP_CLIENT_ID": "", "WHOOP_CLIENT_SECRET": "s3cret"}, "WHOOP_CLIENT_ID"),
    ],
)
def test_half_the_credentials_is_said_at_startup_and_on_the_home_page(
    given: dict[str, str], missing: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, WHOOP_SYNC_INTERVAL=0, **given)
    assert settings.credentials_problem is not None
    with (
        caplog.at_level(logging.INFO, logger="whoopkit"),
        TestClient(create_app(settings), base_url="http://localhost:3000") as c,
    ):
        home = c.get("/")
    assert home.status_code == 200
    assert f"but {missing} is not" in home.text
    assert 'data-testid="credentials-problem"' in home.text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"but {missing} is not" in message for message in warnings)
    # And the start-up line says what runs where: the demo, since the credentials are unusable.
    assert f"whoopkit web ready in demo mode (simulated WHOOP data) at {settings.web_origin}" in caplog.text


def test_complete_or_no_credentials_are_no_problem(tmp_path: Path) -> None:
    assert make_settings(tmp_path).credentials_problem is None
    assert make_settings(tmp_path, WHOOP_CLIENT_ID="", WHOOP_CLIENT_SECRET="").credentials_problem is None


def test_the_startup_line_names_real_mode_and_the_url(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, WHOOP_SYNC_INTERVAL=0, PORT=3456)
    with caplog.at_level(logging.INFO, logger="whoopkit"), TestClient(create_app(settings, demo=False)):
        pass
    assert "whoopkit web ready in real mode (your WHOOP account) at http://localhost:3456" in caplog.text


@pytest.mark.slow
def test_the_mcp_server_started_in_a_terminal_says_it_waits_for_an_mcp_client(tmp_path: Path) -> None:
    controller, terminal = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "whoop_mcp_server.py")],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdin=terminal,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(terminal)
    try:
        assert proc.stderr is not None
        seen = b""
        deadline = time.monotonic() + 60
        while b"\n" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], deadline - time.monotonic())
            if not ready:
                break
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
        first = seen.decode("utf-8").splitlines()[0] if seen else ""
        assert "waiting for an MCP client" in first
        assert ".venv/bin/python" in first and "test_mcp_server.py" in first
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        os.close(controller)
        if proc.stderr is not None:
            proc.stderr.close()
