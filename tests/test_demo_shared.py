"""The demo's one shared login: the web app and the MCP server each embed a simulated WHOOP, and
running either one never logs the other out; both serve the very same records.

The last test runs the real thing: ``whoop_simple.py`` under uvicorn and ``whoop_mcp_server.py`` over
stdio, on one ``WHOOP_DATA_DIR``, with a login in the browser's way and refreshes on both sides.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from mcp import Client, StdioServerParameters

from tests.conftest import make_settings
from whoopkit.config import PROJECT_ROOT, Settings
from whoopkit.errors import TokenRefreshError
from whoopkit.fake_whoop import create_fake_whoop
from whoopkit.mcp_server import create_server
from whoopkit.runtime import DEMO_TOKEN_FILE, build_whoop, demo_login
from whoopkit.service import build_service
from whoopkit.tokens import TokenStore
from whoopkit.web.app import create_app
from whoopkit.web.formatting import state_label

READY_TIMEOUT = 60.0

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("clean_env")]


def _demo_settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        WHOOP_DEMO=True,
        WHOOP_CLIENT_ID="",
        WHOOP_CLIENT_SECRET="",
        WHOOP_SYNC_INTERVAL=0,
        WHOOP_API_BASE_URL="https://api.prod.whoop.com/developer",
        WHOOP_OAUTH_BASE_URL="https://api.prod.whoop.com/oauth/oauth2",
    )


def _age_saved_login(settings: Settings) -> str:
    """Make the saved demo login look an hour old (expired), as if time had passed; returns its token."""
    store = TokenStore(settings.whoop_data_dir / DEMO_TOKEN_FILE)
    token = store.load()
    store.save(token.model_copy(update={"expires_at": time.time() - 5}))
    return token.access_token


def _web_login(c: httpx.Client | TestClient) -> None:
    """Log in on the web demo the way a browser does: /login → consent page → approve → /callback."""
    authorize = c.get("/login")
    assert authorize.status_code == 303, authorize.text
    page = c.get(authorize.headers["location"])
    assert page.status_code == 200, page.text
    request_id = re.search(r"name='request_id' value='([^']+)'", page.text)
    assert request_id is not None
    form = {"request_id": request_id.group(1), "decision": "approve"}
    csrf = re.search(r"name=['\"]csrf_token['\"] value=['\"]([^'\"]+)", page.text)
    if csrf:
        form["csrf_token"] = csrf.group(1)
    answer = c.post(str(page.url.copy_with(query=None)), data=form)
    assert answer.status_code == 303, answer.text
    done = c.get(answer.headers["location"])
    assert done.status_code == 303 and done.headers["location"] == "/dashboard", done.text


def _revoke_at_whoop(fake: Any, settings: Settings) -> None:
    """The user revoked the app's access at WHOOP (DELETE /v2/user/access with the saved token)."""
    token = TokenStore(settings.whoop_data_dir / DEMO_TOKEN_FILE).load()
    with TestClient(fake, base_url="http://fake-whoop.local") as whoop:
        answer = whoop.delete(
            "/developer/v2/user/access", headers={"Authorization": f"Bearer {token.access_token}"}
        )
    assert answer.status_code == 204


def _testid(page: str, name: str) -> str:
    found = re.search(rf'data-testid="{name}">([^<]*)<', page)
    assert found is not None, f"no {name} on the page"
    return found.group(1).strip()


# ---------------------------------------------------------------------------------------- in process


async def test_a_demo_login_of_one_process_survives_refreshes_in_the_other(tmp_path: Path) -> None:
    settings = _demo_settings(tmp_path)
    web_side = build_whoop(settings, demo=True)  # each process embeds its own fake
    mcp_side = build_whoop(settings, demo=True)
    try:
        await demo_login(web_side)
        first = web_side.store.load()
        _age_saved_login(settings)
        await mcp_side.client.get_profile()  # the other fake refreshes a token it never issued
        second = mcp_side.store.load()
        assert second.refresh_token != first.refresh_token
        assert (await web_side.client.get_profile()).user_id  # ... and the first accepts its result
        _age_saved_login(settings)
        await web_side.client.get_profile()
        assert (await mcp_side.client.get_profile()).user_id
        assert web_side.tokens.status().logged_in and mcp_side.tokens.status().logged_in
        assert web_side.tokens.refreshes == 1 and mcp_side.tokens.refreshes == 1
        assert web_side.fake is not None and mcp_side.fake is not None
        assert web_side.fake.stats.invalid_grants == 0 and mcp_side.fake.stats.invalid_grants == 0
    finally:
        await web_side.aclose()
        await mcp_side.aclose()


async def test_each_demo_fake_still_rejects_a_refresh_token_it_rotated_itself(tmp_path: Path) -> None:
    settings = _demo_settings(tmp_path)
    one = build_whoop(settings, demo=True)
    try:
        await demo_login(one)
        old = one.store.load()
        assert old.refresh_token is not None
        await one.tokens.force_refresh()
        reused = await one.http.post(
            f"{one.settings.whoop_oauth_base_url}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": old.refresh_token,
                "client_id": one.settings.whoop_client_id,
                "client_secret": one.settings.client_secret,
            },
        )
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    finally:
        await one.aclose()


def test_a_forged_or_foreign_token_is_not_accepted_by_a_demo_fake() -> None:
    ours = create_fake_whoop(auto_approve=True, token_secret="demo-secret")
    other_secret = create_fake_whoop(auto_approve=True, token_secret="another-secret")
    unsigned = create_fake_whoop(auto_approve=True)
    token = other_secret.issue_token()["access_token"]
    assert not ours.access_token_is_valid(token)
    assert not ours.access_token_is_valid(unsigned.issue_token()["access_token"])
    head, payload, _ = ours.issue_token()["access_token"].split(".")
    assert not ours.access_token_is_valid(f"{head}.{payload}.AAAA")
    assert create_fake_whoop(token_secret="demo-secret").access_token_is_valid(
        ours.issue_token()["access_token"]
    )


def test_the_web_app_and_the_mcp_server_fakes_generate_the_very_same_records(tmp_path: Path) -> None:
    settings = _demo_settings(tmp_path)
    web_fake = create_app(settings).state.web.fake
    mcp_whoop = build_whoop(settings, demo=True)
    assert web_fake is not None and mcp_whoop.fake is not None
    web_data = web_fake.data  # generated now ...
    mcp_data = mcp_whoop.fake.data  # ... and a moment later, as a second process would
    for kind in ("cycles", "sleeps", "recoveries", "workouts"):
        assert getattr(web_data, kind) == getattr(mcp_data, kind), kind


def test_demo_data_moves_on_in_steps_and_keeps_its_ids_within_a_day() -> None:
    # Mid-afternoon at the fake's home offset: a step across the athlete's midnight starts a new day
    # (and new ids), which is not what this test is about.
    now = [datetime(2026, 11, 20, 15, 0, tzinfo=UTC).timestamp()]
    fake = create_fake_whoop(data_step=900, clock=lambda: now[0])
    first = fake.data
    assert fake.data is first  # no regeneration within a step
    now[0] += 900
    later = fake.data
    assert later is not first
    same_day = {c["id"] for c in first.cycles} & {c["id"] for c in later.cycles}
    assert len(same_day) >= len(first.cycles) - 1


async def test_health_and_auth_status_say_logged_out_once_whoop_rejected_the_login(
    tmp_path: Path,
) -> None:
    settings = _demo_settings(tmp_path)
    fake = create_fake_whoop(auto_approve=False, token_secret="demo-secret", control_endpoints=False)
    app = create_app(settings, demo=True, fake=fake)
    with TestClient(app, base_url="http://localhost:3000", follow_redirects=False) as c:
        _web_login(c)
        assert c.get("/healthz").json()["logged_in"] is True
        _revoke_at_whoop(fake, settings)
        _age_saved_login(settings)
        assert c.get("/dashboard").status_code == 401
        assert c.get("/healthz").json()["logged_in"] is False


async def test_demo_auth_status_is_not_connected_to_whoop_and_logs_in_again_when_rejected(
    tmp_path: Path,
) -> None:
    settings = _demo_settings(tmp_path)
    service = build_service(settings, demo=True)
    try:
        await service.demo_login()
        _revoke_at_whoop(service.whoop.fake, settings)
        _age_saved_login(settings)
        with pytest.raises(TokenRefreshError):
            await service.whoop.client.get_profile()
        assert service.auth_status().logged_in is False
        async with Client(create_server(settings, service)) as client:
            status = (await client.call_tool("get_auth_status", {})).structured_content
        assert status is not None
        assert status["logged_in"] is True, status["summary"]  # the automatic demo login was redone
        assert "Connected to WHOOP" not in status["summary"]
        assert status["summary"].startswith("Demo mode")
    finally:
        await service.aclose()


# ---------------------------------------------------------------------------------------- two processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHOOP_", "OLLAMA_", "PORT", "HOST"))}
    env.update(
        WHOOP_DEMO="1",
        WHOOP_CLIENT_ID="",
        WHOOP_CLIENT_SECRET="",
        WHOOP_TOKEN_CACHE=str(tmp_path / "no_real_login.json"),
        WHOOP_DATA_DIR=str(tmp_path / "data"),
        WHOOP_SYNC_INTERVAL="0",
        WHOOP_FRESH_SECONDS="0",  # every page asks WHOOP, as it does once the stored data is 5 min old
        OLLAMA_HOST="http://127.0.0.1:9",
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class WebProcess:
    """A running ``whoop_simple.py``."""

    url: str
    log: list[str]


@contextmanager
def running_web_app(tmp_path: Path, port: int) -> Iterator[WebProcess]:
    """Start ``whoop_simple.py --port port``; ready once it logs "whoopkit web ready"; stopped on exit."""
    proc = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "whoop_simple.py"), "--port", str(port)],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    lines: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "whoopkit web ready" in line or "Uvicorn running on" in line:
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not ready.wait(READY_TIMEOUT) or proc.poll() is not None:
            pytest.fail(f"the web app did not start: {''.join(lines)}")
        yield WebProcess(url=f"http://localhost:{port}", log=lines)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


async def _mcp_session(tmp_path: Path) -> dict[str, Any]:
    """One stdio session with ``whoop_mcp_server.py``, as Claude Desktop opens it; returns tool results."""
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(PROJECT_ROOT / "whoop_mcp_server.py"), "--log-level", "WARNING"],
        env=_env(tmp_path),
        cwd=str(tmp_path),
    )
    results: dict[str, Any] = {}
    async with Client(params, read_timeout_seconds=60) as client:
        for name in ("get_recovery_score", "get_auth_status"):
            result = await client.call_tool(name, {})
            assert not result.is_error, result.content
            results[name] = result.structured_content
    return results


@pytest.mark.slow
def test_two_real_processes_share_one_demo_login_and_show_the_same_numbers(tmp_path: Path) -> None:
    settings = _demo_settings(tmp_path).model_copy(update={"whoop_data_dir": tmp_path / "data"})
    port = _free_port()
    with running_web_app(tmp_path, port) as web, httpx.Client(base_url=web.url, timeout=60) as browser:
        _web_login(browser)
        before = browser.get("/dashboard")
        assert before.status_code == 200, before.text

        # An hour later the MCP server starts (test_mcp_server.py / Claude Desktop) and refreshes.
        web_token = _age_saved_login(settings)
        mcp = anyio.run(_mcp_session, tmp_path)
        mcp_token = TokenStore(settings.whoop_data_dir / DEMO_TOKEN_FILE).load()
        assert mcp_token.access_token != web_token  # the MCP server's fake renewed the web's login

        after = browser.get("/dashboard")
        assert after.status_code == 200, after.text
        health = browser.get("/healthz").json()
        assert health["logged_in"] is True and health["demo"] is True

        # And the other way round: the web app refreshes the MCP server's token, the MCP server goes on.
        _age_saved_login(settings)
        assert browser.get("/dashboard").status_code == 200
        again = anyio.run(_mcp_session, tmp_path)

    assert not any("invalid_grant" in line for line in web.log), "".join(web.log)
    status = again["get_auth_status"]
    assert status["logged_in"] is True and "Connected to WHOOP" not in status["summary"]
    latest = mcp["get_recovery_score"]["latest"]
    if latest["state"] == "SCORED":
        assert _testid(after.text, "recovery") == f"{latest['recovery_pct']:.0f}%"
        assert _testid(after.text, "hrv").startswith(f"{latest['hrv_ms']:.0f}")
        assert _testid(after.text, "rhr").startswith(f"{latest['resting_hr_bpm']:.0f}")
    else:
        # The demo runs on the wall clock, and for 90 minutes after each simulated wake-up the newest
        # recovery is still being scored: then both faces must say so, and neither may show a number.
        assert latest["recovery_pct"] is None
        assert _testid(after.text, "recovery") == state_label(latest["state"])
    assert again["get_recovery_score"]["latest"] == latest
    assert mcp["get_auth_status"]["demo"] is True
