"""Security headers, no inline script/style, loopback-only by default, the remote access token."""

from __future__ import annotations

import base64
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.web.conftest import BASE_URL, REDIRECT_URI, post_form
from whoopkit.config import PROJECT_ROOT, Settings
from whoopkit.errors import ConfigError
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.web.app import create_app
from whoopkit.web.security import check_bind

EXPECTED_HEADERS = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}
TOKEN = "a-long-random-access-token-0123456789"


def assert_security_headers(response: Any) -> None:  # TestClient answers with httpx2 responses
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, name
    csp = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self' http://fake-whoop.local",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/login"),
        ("GET", "/dashboard"),
        ("GET", "/cycles-view?days=abc"),
        ("GET", "/callback"),
        ("GET", "/static/style.css"),
        ("GET", "/nope"),
        ("POST", "/logout"),
        ("GET", "/ai-insights-view/data"),
    ],
)
def test_every_response_carries_the_security_headers(client: TestClient, method: str, path: str) -> None:
    assert_security_headers(client.request(method, path))


@pytest.mark.parametrize(
    "path",
    ["/dashboard", "/cycles-view", "/workouts-view", "/sleep-view", "/recovery-view", "/ai-insights-view"],
)
def test_pages_have_no_inline_script_no_style_attribute_and_no_external_resource(
    authed: TestClient, path: str
) -> None:
    html = authed.get(path).text
    assert re.search(r"<script(?![^>]*\bsrc=\"/static/)[^>]*>", html) is None
    assert " style=" not in html
    assert "<style" not in html
    assert re.search(r"\son[a-z]+=", html) is None  # no inline event handlers
    assert re.search(r"(src|href)=\"(https?:)?//", html) is None  # nothing from a CDN


def test_no_token_or_secret_appears_in_pages_or_logs(
    authed: TestClient, web_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from whoopkit.tokens import TokenStore

    token = TokenStore(web_settings.whoop_token_cache).load()
    caplog.set_level(logging.DEBUG)
    bodies = [authed.get(p).text for p in ["/dashboard", "/recovery-view", "/healthz", "/ai-insights-view"]]
    post_form(authed, "/logout")
    secrets = [token.access_token, token.refresh_token or "", web_settings.client_secret]
    for secret in secrets:
        assert secret
        assert all(secret not in body for body in bodies)
        assert secret not in caplog.text


def test_a_non_loopback_host_is_refused_without_remote_opt_in(tmp_path: Path, clean_env: None) -> None:
    with pytest.raises(ConfigError, match="WHOOP_WEB_ALLOW_REMOTE"):
        check_bind(make_settings(tmp_path, HOST="0.0.0.0"))
    with pytest.raises(ConfigError, match="WHOOP_WEB_ACCESS_TOKEN"):
        check_bind(make_settings(tmp_path, HOST="0.0.0.0", WHOOP_WEB_ALLOW_REMOTE=True))
    with pytest.raises(ConfigError):
        check_bind(make_settings(tmp_path, HOST="192.168.1.10", WHOOP_WEB_ACCESS_TOKEN=TOKEN))
    with pytest.raises(ConfigError):
        create_app(make_settings(tmp_path, HOST="0.0.0.0"), demo=False)
    check_bind(
        make_settings(tmp_path, HOST="0.0.0.0", WHOOP_WEB_ALLOW_REMOTE=True, WHOOP_WEB_ACCESS_TOKEN=TOKEN)
    )
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_bind(make_settings(tmp_path, HOST=host))


def test_a_short_access_token_is_refused(tmp_path: Path, clean_env: None) -> None:
    with pytest.raises(ConfigError, match="16"):
        check_bind(
            make_settings(
                tmp_path, HOST="0.0.0.0", WHOOP_WEB_ALLOW_REMOTE=True, WHOOP_WEB_ACCESS_TOKEN="short"
            )
        )


def test_whoop_simple_refuses_to_start_on_a_public_address(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "WHOOP_TOKEN_CACHE": str(tmp_path / "t.json"),
        "WHOOP_DATA_DIR": str(tmp_path / "d"),
    }
    proc = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "whoop_simple.py"), "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert "Refusing to listen on 0.0.0.0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_request_from_another_machine_is_refused(web_settings: Settings, fake: FakeWhoop) -> None:
    app = create_app(web_settings, demo=False, fake=fake)
    with TestClient(app, base_url=BASE_URL, client=("192.168.1.50", 40000)) as c:
        response = c.get("/healthz")
        assert response.status_code == 403
        assert_security_headers(response)


def test_a_foreign_host_header_is_refused_against_dns_rebinding(client: TestClient) -> None:
    response = client.get("/healthz", headers={"Host": "evil.example:3000"})
    assert response.status_code == 421


@pytest.fixture
def remote(tmp_path: Path, clean_env: None, fake: FakeWhoop, fake_now: datetime) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        HOST="0.0.0.0",
        WHOOP_WEB_ALLOW_REMOTE=True,
        WHOOP_WEB_ACCESS_TOKEN=TOKEN,
        WHOOP_REDIRECT_URI="http://dash.example:3000/callback",
    )
    app = create_app(settings, demo=False, fake=fake, clock=lambda: fake_now)
    with TestClient(
        app, base_url="http://dash.example:3000", client=("192.168.1.50", 40000), follow_redirects=False
    ) as c:
        yield c


def test_remote_mode_requires_the_access_token(remote: TestClient) -> None:
    response = remote.get("/")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert TOKEN not in response.text
    assert remote.get("/?access_token=wrong-token").status_code == 401


def test_remote_mode_moves_the_access_token_into_a_strict_cookie(remote: TestClient) -> None:
    response = remote.get(f"/cycles-view?days=7&access_token={TOKEN}")
    assert response.status_code == 303
    assert response.headers["location"] == "/cycles-view?days=7"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert TOKEN not in cookie  # the cookie holds a digest
    assert remote.get("/").status_code == 200


def test_remote_mode_accepts_basic_auth_with_the_token_as_password(remote: TestClient) -> None:
    auth = base64.b64encode(f"me:{TOKEN}".encode()).decode()
    assert remote.get("/", headers={"Authorization": f"Basic {auth}"}).status_code == 200
    bad = base64.b64encode(b"me:nope").decode()
    assert remote.get("/", headers={"Authorization": f"Basic {bad}"}).status_code == 401


def test_remote_mode_keeps_healthz_open(remote: TestClient) -> None:
    assert remote.get("/healthz").status_code == 200


def test_the_demo_consent_page_may_style_itself_but_not_run_scripts(tmp_path: Path, clean_env: None) -> None:
    settings = make_settings(tmp_path, WHOOP_CLIENT_ID="", WHOOP_REDIRECT_URI=REDIRECT_URI)
    with TestClient(create_app(settings, demo=True), base_url=BASE_URL, follow_redirects=False) as c:
        consent = c.get(c.get("/login").headers["location"])
        assert consent.status_code == 200
        csp = consent.headers["content-security-policy"]
        assert "script-src" not in csp and "default-src 'none'" in csp
        assert consent.headers["x-frame-options"] == "DENY"


def test_uvicorn_access_log_lines_never_carry_codes_states_or_the_access_token() -> None:
    import logging as logging_mod

    from whoopkit.web.security import RedactSecretsFilter

    record = logging_mod.LogRecord(
        "uvicorn.access",
        logging_mod.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/callback?code=c0de&state=st4te&access_token={TOKEN}", "1.1", 303),
        None,
    )
    assert RedactSecretsFilter().filter(record)
    line = record.getMessage()
    assert "c0de" not in line and "st4te" not in line and TOKEN not in line
    assert "/callback?code=REDACTED&state=REDACTED" in line
