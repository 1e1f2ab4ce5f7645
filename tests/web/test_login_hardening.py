"""The login flow cannot be spoiled or forged, and odd local states of the token file get a clear page.

Issue 9 points 4 and 5, and issue 8's corrupt token file without credentials. Every test goes through
the app's own routes with a TestClient; the fake WHOOP runs in-process.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.web.conftest import BASE_URL, REDIRECT_URI, form_token, post_form, text_of
from tests.web.test_oauth_flow import callback_path, consent, start_login
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.web.app import create_app

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX symlinks and permission bits")


@pytest.fixture
def consenting(fake: FakeWhoop) -> FakeWhoop:
    """The fake showing its consent page instead of auto-approving."""
    fake.auto_approve = False
    return fake


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


# ---------------------------------------------------------------- 9.4 error callbacks and state flooding


def test_an_error_callback_without_the_state_changes_nothing_and_the_real_login_still_completes(
    client: TestClient, consenting: FakeWhoop, web_settings: Settings
) -> None:
    url, _ = start_login(client)
    spoiler = client.get("/callback?error=access_denied")
    assert spoiler.status_code == 400
    assert "whoopkit_oauth_state" not in spoiler.headers.get("set-cookie", "")
    forged = client.get("/callback?code=attacker-code&state=not-the-state")
    assert forged.status_code == 400
    assert "whoopkit_oauth_state" not in forged.headers.get("set-cookie", "")
    response = client.get(callback_path(consent(consenting, url, "approve")))
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    assert web_settings.whoop_token_cache.is_file()


def test_an_error_callback_with_the_matching_state_ends_the_login(
    client: TestClient, consenting: FakeWhoop
) -> None:
    url, _ = start_login(client)
    back = consent(consenting, url, "deny")
    response = client.get(callback_path(back))
    assert response.status_code == 403
    assert 'whoopkit_oauth_state=""' in response.headers["set-cookie"]
    assert client.get(callback_path(back)).status_code == 400  # the state was single-use


def test_a_thousand_cross_site_logins_cannot_evict_the_login_in_progress(
    client: TestClient, consenting: FakeWhoop, web_settings: Settings
) -> None:
    url, _ = start_login(client)
    flood = TestClient(client.app, base_url=BASE_URL, follow_redirects=False)
    for _ in range(1001):
        assert flood.get("/login", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 303
    response = client.get(callback_path(consent(consenting, url, "approve")))
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    assert web_settings.whoop_token_cache.is_file()


def test_a_state_from_another_browsers_login_is_refused(client: TestClient, consenting: FakeWhoop) -> None:
    other = TestClient(client.app, base_url=BASE_URL, follow_redirects=False)
    url, _ = start_login(other)
    start_login(client)
    assert client.get(callback_path(consent(consenting, url, "approve"))).status_code == 400


# ---------------------------------------------------------------- 9.4 logout CSRF


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "null"},
        {"Referer": f"{BASE_URL}/dashboard"},
        {},
        {"Sec-Fetch-Site": "same-origin"},
    ],
    ids=["origin-null", "referer-only", "no-headers", "same-origin-but-no-token"],
)
def test_a_logout_without_the_pages_form_token_is_refused(
    authed: TestClient, fake: FakeWhoop, web_settings: Settings, headers: dict[str, str]
) -> None:
    response = authed.post("/logout", headers=headers)
    assert response.status_code == 403
    assert web_settings.whoop_token_cache.is_file()
    assert fake.stats.revocations == 0


def test_a_logout_with_the_token_but_origin_null_is_refused(
    authed: TestClient, fake: FakeWhoop, web_settings: Settings
) -> None:
    response = post_form(authed, "/logout", headers={"Origin": "null"})
    assert response.status_code == 403
    assert web_settings.whoop_token_cache.is_file()


def test_another_browsers_form_token_does_not_log_this_one_out(
    authed: TestClient, fake: FakeWhoop, web_settings: Settings
) -> None:
    other = TestClient(authed.app, base_url=BASE_URL, follow_redirects=False)
    stolen = form_token(other)
    assert authed.post("/logout", data={"csrf_token": stolen}).status_code == 403
    assert web_settings.whoop_token_cache.is_file()


def test_the_logout_form_carries_the_token_and_logs_out(
    authed: TestClient, fake: FakeWhoop, web_settings: Settings
) -> None:
    page = authed.get("/no-such-page").text
    form = re.search(r'<form class="logout".*?</form>', page, re.S)
    assert form is not None and 'name="csrf_token"' in form.group(0)
    response = post_form(authed, "/logout")
    assert response.status_code == 303
    assert not web_settings.whoop_token_cache.exists()
    assert fake.stats.revocations == 1


# ---------------------------------------------------------------- 9.4 remote mode

ACCESS = "remote-access-token-0123456789"


@pytest.fixture
def remote(tmp_path: Path, clean_env: None, fake: FakeWhoop, fake_now: datetime) -> Iterator[TestClient]:
    fake.auto_approve = False
    fake.redirect_uris = frozenset({"http://dash.example:3000/callback"})
    settings = make_settings(
        tmp_path,
        HOST="0.0.0.0",
        WHOOP_WEB_ALLOW_REMOTE=True,
        WHOOP_WEB_ACCESS_TOKEN=ACCESS,
        WHOOP_REDIRECT_URI="http://dash.example:3000/callback",
        WHOOP_SYNC_INTERVAL=0,
    )
    app = create_app(settings, demo=False, fake=fake, clock=lambda: fake_now)
    with TestClient(
        app, base_url="http://dash.example:3000", client=("192.168.1.50", 40000), follow_redirects=False
    ) as c:
        yield c


def cookies_sent_cross_site(responses: list[httpx.Response], path: str) -> str:
    """The Cookie header a browser sends on a cross-site top-level GET to ``path``: no Strict cookie."""
    jar: dict[str, str] = {}
    for response in responses:
        for header in response.headers.get_list("set-cookie"):
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["samesite"].lower() == "strict" or not path.startswith(morsel["path"] or "/"):
                    continue
                jar[name] = morsel.value
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def test_in_remote_mode_the_return_from_whoop_carries_the_login(
    remote: TestClient, fake: FakeWhoop, tmp_path: Path
) -> None:
    entry = remote.get(f"/?access_token={ACCESS}")
    assert entry.status_code == 303
    login = remote.get("/login")
    assert login.status_code == 303
    back = consent(fake, login.headers["location"], "approve")
    parts = urlsplit(back)
    remote.cookies.clear()  # the browser, back from WHOOP, sends only what a cross-site GET may carry
    response = remote.get(
        f"{parts.path}?{parts.query}",
        headers={"Cookie": cookies_sent_cross_site([entry, login], "/callback")},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/dashboard"
    assert (tmp_path / ".token_cache.json").is_file()


def test_the_login_scoped_cookie_opens_the_callback_only(remote: TestClient) -> None:
    entry = remote.get(f"/?access_token={ACCESS}")
    login = remote.get("/login")
    cookie = cookies_sent_cross_site([entry, login], "/dashboard")
    remote.cookies.clear()
    assert remote.get("/dashboard", headers={"Cookie": cookie}).status_code == 401


@pytest.mark.parametrize("path", ["//evil.example/", "/\\evil.example/", "//evil.example/%0d%0aX-Evil:1"])
def test_the_access_token_redirect_stays_on_this_site(remote: TestClient, path: str) -> None:
    # An absolute URL: as a relative one, "//evil.example/" would be read as another host and never sent.
    response = remote.get(f"http://dash.example:3000{path}?access_token={ACCESS}&days=7")
    assert response.request.url.raw_path.startswith(path.encode()[:2])
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert urlsplit(location).netloc == ""
    assert "\r" not in location and "\n" not in location


# ---------------------------------------------------------------- 9.5 odd local states


def test_a_malformed_host_header_is_a_400_with_the_security_headers(client: TestClient) -> None:
    for host in ("[::1", "localhost:99999", "localhost:abc"):
        response = client.get("/", headers={"Host": host})
        assert response.status_code == 400, host
        assert_security_headers(response)


@posix_only
def test_a_symlink_at_the_lock_path_gives_a_clear_page_and_logout_revokes_nothing(
    authed: TestClient, fake: FakeWhoop, web_settings: Settings, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    cache = web_settings.whoop_token_cache
    before = cache.read_bytes()
    os.symlink(victim, cache.with_name(cache.name + ".lock"))
    response = post_form(authed, "/logout")
    assert response.status_code == 503
    assert "symbolic link" in text_of(response.text)
    assert_security_headers(response)
    assert cache.read_bytes() == before  # the login is still there, and still works at WHOOP
    assert fake.stats.revocations == 0
    assert victim.read_text(encoding="utf-8") == "precious"


@posix_only
def test_a_symlink_at_the_lock_path_makes_the_login_say_what_to_remove(
    client: TestClient, consenting: FakeWhoop, web_settings: Settings
) -> None:
    cache = web_settings.whoop_token_cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(cache.parent / "elsewhere", cache.with_name(cache.name + ".lock"))
    url, _ = start_login(client)
    response = client.get(callback_path(consent(consenting, url, "approve")))
    assert response.status_code == 503
    assert "symbolic link" in text_of(response.text) and "remove it" in text_of(response.text)


@posix_only
def test_a_symlink_at_the_lock_path_makes_a_refresh_say_what_to_remove(
    authed: TestClient, fake: FakeWhoop, web_settings: Settings
) -> None:
    cache = web_settings.whoop_token_cache
    os.symlink(cache.parent / "elsewhere", cache.with_name(cache.name + ".lock"))
    fake.expire_access_tokens()  # the next page needs a refresh, which needs the lock
    response = authed.get("/dashboard")
    assert response.status_code == 503
    assert "symbolic link" in text_of(response.text)


def test_a_directory_at_the_token_path_gives_a_clear_page_at_login(
    client: TestClient, consenting: FakeWhoop, web_settings: Settings
) -> None:
    web_settings.whoop_token_cache.mkdir(parents=True)
    assert client.get("/").status_code == 200
    url, _ = start_login(client)
    response = client.get(callback_path(consent(consenting, url, "approve")))
    assert response.status_code == 503
    assert "is a directory" in text_of(response.text)
    assert_security_headers(response)
    assert web_settings.whoop_token_cache.is_dir()


def test_a_huge_corrupt_token_file_is_not_read_on_every_request(
    client: TestClient, web_settings: Settings
) -> None:
    cache = web_settings.whoop_token_cache
    with cache.open("wb") as fh:
        fh.truncate(200 * 1024 * 1024)  # sparse: 200 MB of zeros that cost nothing to create
    started = time.perf_counter()
    for _ in range(20):
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["logged_in"] is False
    assert time.perf_counter() - started < 5.0  # was 1.6 s per request, reading the whole file
    assert "bytes, far more than a token" in text_of(client.get("/dashboard").text)


# ---------------------------------------------------------------- 8.2 corrupt token file, no credentials


@pytest.fixture
def corrupt_no_credentials(tmp_path: Path, clean_env: None, ollama: object) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        WHOOP_CLIENT_ID="",
        WHOOP_CLIENT_SECRET="",
        WHOOP_SYNC_INTERVAL=0,
        WHOOP_REDIRECT_URI=REDIRECT_URI,
    )
    settings.whoop_token_cache.write_bytes(b'{"access_token": "at-1", "expires_in": 36')
    with TestClient(create_app(settings), base_url=BASE_URL, follow_redirects=False) as c:
        yield c


def test_a_corrupt_token_file_without_credentials_is_explained_and_can_be_moved_aside(
    corrupt_no_credentials: TestClient, tmp_path: Path
) -> None:
    c = corrupt_no_credentials
    cache = tmp_path / ".token_cache.json"
    health = c.get("/healthz").json()
    assert health["logged_in"] is False
    assert health["demo"] is True  # no credentials: the demo runs instead of a dead real mode
    home = c.get("/")
    assert home.status_code == 200
    text = text_of(home.text)
    assert ".token_cache.json is corrupt" in text
    assert str(tmp_path) not in text  # no developer file path on the page
    form = re.search(r'<form[^>]*action="/token-file/move-aside".*?</form>', home.text, re.S)
    assert form is not None and 'name="csrf_token"' in form.group(0)
    assert c.get("/login").status_code == 303  # the demo's login works
    # The fix is one click, and never a silent delete: the file is kept under a new name.
    assert c.post("/token-file/move-aside").status_code == 403
    assert cache.is_file()
    moved = post_form(c, "/token-file/move-aside")
    assert moved.status_code == 303
    assert moved.headers["location"] == "/login"
    assert not cache.exists()
    kept = list(tmp_path.glob(".token_cache.json.corrupt-*"))
    assert len(kept) == 1
    assert kept[0].read_bytes() == b'{"access_token": "at-1", "expires_in": 36'
    assert "token-problem" not in c.get("/").text


def test_a_valid_token_file_is_never_moved_aside(
    authed: TestClient, web_settings: Settings, tmp_path: Path
) -> None:
    before = web_settings.whoop_token_cache.read_bytes()
    assert post_form(authed, "/token-file/move-aside").status_code == 303
    assert web_settings.whoop_token_cache.read_bytes() == before
    assert not list(tmp_path.glob("*.corrupt-*"))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_a_token_file_readable_by_others_is_tightened_to_0600_with_a_warning(
    authed: TestClient, web_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    cache = web_settings.whoop_token_cache
    cache.chmod(0o644)
    caplog.set_level(logging.WARNING, logger="whoopkit.tokens")
    assert authed.get("/healthz").json()["logged_in"] is True
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert "readable by other users" in caplog.text


def test_the_callback_state_is_bound_to_the_cookie_it_was_issued_with(client: TestClient) -> None:
    response = client.get("/login")
    state = parse_qs(urlsplit(response.headers["location"]).query)["state"][0]
    cookie = client.cookies["whoopkit_oauth_state"]
    assert cookie.startswith(f"{state}.") and cookie != state
    client.cookies.set("whoopkit_oauth_state", f"{state}.9999999999.{'0' * 64}")
    assert client.get(f"/callback?code=x&state={state}").status_code == 400
