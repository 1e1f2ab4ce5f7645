"""One login URL everywhere: the web's error pages, its ``/login`` host redirect and the MCP server's
advice all name ``settings.login_url``, whichever loopback name the redirect URI uses."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from tests.conftest import make_settings
from whoopkit.mcp_server import create_server
from whoopkit.service import build_service
from whoopkit.web.app import create_app

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("clean_env")]


@pytest.mark.parametrize(
    ("redirect_uri", "opened", "expected"),
    [
        ("http://localhost:3000/callback", "http://127.0.0.1:3000", "http://localhost:3000/login"),
        ("http://127.0.0.1:3000/callback", "http://localhost:3000", "http://127.0.0.1:3000/login"),
        ("http://localhost:3005/callback", "http://127.0.0.1:3005", "http://localhost:3005/login"),
    ],
)
async def test_every_face_names_the_same_login_url_as_the_login_redirect(
    redirect_uri: str, opened: str, expected: str, tmp_path: Path, fake: Any, fake_now: datetime
) -> None:
    port = int(opened.rsplit(":", 1)[1])
    settings = make_settings(tmp_path, WHOOP_REDIRECT_URI=redirect_uri, PORT=port, WHOOP_SYNC_INTERVAL=0)
    assert settings.login_url == expected

    app = create_app(settings, demo=False, fake=fake, clock=lambda: fake_now)
    with TestClient(app, base_url=opened, follow_redirects=False) as web:
        redirect = web.get("/login")
        page = web.get("/dashboard")
    assert redirect.status_code == 303 and redirect.headers["location"] == expected
    assert page.status_code == 401 and expected in page.text

    service = build_service(settings, demo=False, fake=fake, clock=lambda: fake_now)
    try:
        async with Client(create_server(settings, service)) as client:
            failed = await client.call_tool("get_recovery_score", {})
            status = (await client.call_tool("get_auth_status", {})).structured_content
    finally:
        await service.aclose()
    assert failed.is_error
    texts = [block.text for block in failed.content if block.type == "text"]
    assert expected in texts[0]
    assert status is not None and status["login_url"] == expected and expected in status["summary"]
    for text in (texts[0], status["summary"], page.text):
        other = "127.0.0.1" if "localhost" in expected else "localhost"
        assert f"{other}:{port}/login" not in text
