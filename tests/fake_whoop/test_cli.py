"""``python -m whoopkit.fake_whoop`` serves the fake over real HTTP on loopback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest

from tests.helpers.fake_server import running_fake_whoop

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_fake_whoop(
        "--auto-approve", "--client-id", "cli-app", "--client-secret", "cli-secret"
    ) as fake:
        yield fake.url


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


@pytest.mark.slow
def test_the_cli_serves_the_requested_days_of_history_with_the_requested_latency() -> None:
    with (
        running_fake_whoop("--days", "365", "--latency-ms", "5") as fake,
        httpx.Client(base_url=fake.url, timeout=10) as http,
    ):
        assert http.get("/_fake/faults").json()["latency_ms"] == 5.0
        token = http.post("/_fake/token", json={}).json()["access_token"]
        answer = http.get("/developer/v2/cycle", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        # The real clock drives the served fake: while its athlete is still asleep on the last night,
        # that night's cycle has not begun yet.
        assert fake.stats()["records"]["cycle"]["total"] in (364, 365)


def test_the_cli_refuses_zero_days_with_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from whoopkit.fake_whoop.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0", "--days", "0"])
    assert exit_info.value.code == 2
    assert "--days must be at least 1" in capsys.readouterr().err
