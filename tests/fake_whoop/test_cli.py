"""``python -m whoopkit.fake_whoop`` serves the fake over real HTTP on loopback."""

from __future__ import annotations

import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest

PROJECT = Path(__file__).resolve().parents[2]


def _start(*args: str) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "whoopkit.fake_whoop", "--port", "0", *args],
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + 30
    output = b""
    while time.monotonic() < deadline:
        if not selector.select(timeout=deadline - time.monotonic()):
            break
        chunk = proc.stderr.readline()
        if not chunk:
            break
        output += chunk
        match = re.search(rb"listening on (http://\S+)", chunk)
        if match:
            return proc, match.group(1).decode()
    proc.kill()
    proc.wait(10)
    pytest.fail(f"the fake did not start: {output.decode(errors='replace')}")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    proc, base = _start("--auto-approve", "--client-id", "cli-app", "--client-secret", "cli-secret")
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.slow
def test_the_cli_serves_oauth_and_the_api_with_the_given_client(server: str) -> None:
    query = urlencode(
        {
            "client_id": "cli-app",
            "response_type": "code",
            "redirect_uri": "http://127.0.0.1:9/cb",
            "scope": "read:cycles offline",
            "state": "state-for-cli",
        },
        quote_via=quote,
    )
    with httpx.Client(base_url=server, timeout=10) as http:
        redirect = http.get(f"/oauth/oauth2/auth?{query}")
        assert redirect.status_code == 302
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        token = http.post(
            "/oauth/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "http://127.0.0.1:9/cb",
                "client_id": "cli-app",
                "client_secret": "cli-secret",
            },
        )
        assert token.status_code == 200
        cycles = http.get(
            "/developer/v2/cycle", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )
        assert cycles.status_code == 200
        assert len(cycles.json()["records"]) == 10
        assert cycles.headers["x-ratelimit-limit"].startswith("100, ")
        stats = http.get("/_fake/stats").json()
        assert stats["requests"] == 1 and stats["token_grants"] == {"authorization_code": 1}


@pytest.mark.slow
def test_the_cli_rejects_a_bad_port() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "whoopkit.fake_whoop", "--port", "70000"],
        cwd=PROJECT,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert b"--port" in done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.slow
def test_the_cli_reports_a_port_in_use_without_a_traceback() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "whoopkit.fake_whoop", "--port", str(port)],
            cwd=PROJECT,
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 1
    assert b"Cannot listen" in done.stderr
    assert b"Traceback" not in done.stderr
