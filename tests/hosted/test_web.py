"""Hosted mode's web app in process, on the real PostgreSQL and Redis: sign-in, sessions, jobs, accounts.

The app runs under FastAPI's ``TestClient`` at ``https://testserver`` (the session cookie is Secure), and
talks to an in-process multi-user fake WHOOP; the browser's trip to the fake's consent page is a second
``TestClient`` on the fake. Sync jobs run in an in-process arq worker in burst mode on the same Redis.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.conftest import FAKE_NOW, make_settings
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop
from whoopkit.fake_whoop.data import USER_ID

USER_A = USER_ID
USER_B = USER_ID + 1
BACKFILL_DAYS = 30
REDIRECT = "https://testserver/callback"


def hosted_settings(
    tmp_path: Path, postgres_url: str, redis_url: str, token_key: str, **extra: object
) -> Settings:
    """Settings of a hosted app on the test's database and Redis, reached at https://testserver."""
    return make_settings(
        tmp_path,
        WHOOP_HOSTED=True,
        WHOOP_DATABASE_URL=postgres_url,
        WHOOP_REDIS_URL=redis_url,
        WHOOP_TOKEN_KEY=token_key,
        WHOOP_REDIRECT_URI="https://testserver/callback",
        WHOOP_SYNC_INTERVAL=0,
        **extra,
    )


@dataclass
class Hosted:
    """The hosted app, the fake behind it, and how to make browsers and run the queued jobs."""

    settings: Settings
    fake: FakeWhoop
    app_factory: Callable[[], TestClient]
    fake_browser: TestClient

    def browser(self) -> TestClient:
        """A new browser (its own cookies) on the app."""
        return self.app_factory()

    def sign_in(self, browser: TestClient) -> httpx.Response:
        """/login → the fake's consent page (auto-approve) → /callback; the callback's answer."""
        start = browser.get("/login", follow_redirects=False)
        assert start.status_code == 303, start.text
        consent = urlsplit(start.headers["location"])
        answer = self.fake_browser.get(f"{consent.path}?{consent.query}", follow_redirects=False)
        assert answer.status_code in (302, 303), answer.text
        back = urlsplit(answer.headers["location"])
        assert back.path == "/callback"
        return browser.get(f"/callback?{back.query}", follow_redirects=False)

    def run_jobs(self) -> None:
        """Run every queued job in an in-process arq worker (burst: it ends when the queue is empty)."""
        from whoopkit.hosted.jobs import WorkerOptions, build_worker

        async def run() -> None:
            worker = build_worker(
                self.settings,
                WorkerOptions(concurrency=4, job_timeout=120, backfill_days=BACKFILL_DAYS),
                transport=httpx.ASGITransport(app=self.fake),
                handle_signals=False,
                burst=True,
                clock=lambda: FAKE_NOW,
            )
            try:
                await asyncio.wait_for(worker.async_run(), timeout=120)
            finally:
                await worker.close()

        asyncio.run(run())


@pytest.fixture
def hosted(
    tmp_path: Path, postgres_url: str, redis_url: str, token_key: str, clean_env: None
) -> Iterator[Hosted]:
    """A hosted app for two simulated people (plus any browsers a test opens), closed at the end."""
    from whoopkit.web.app import create_app

    settings = hosted_settings(tmp_path, postgres_url, redis_url, token_key)
    fake = create_fake_whoop(auto_approve=True, now=FAKE_NOW, redirect_uris=[REDIRECT], people=2, days=60)
    clients: list[TestClient] = []

    def factory() -> TestClient:
        app = create_app(settings, fake=fake, clock=lambda: FAKE_NOW)
        client = TestClient(app, base_url="https://testserver")
        client.__enter__()
        clients.append(client)
        return client

    with TestClient(fake, base_url="http://fake-whoop.local") as fake_browser:
        try:
            yield Hosted(settings=settings, fake=fake, app_factory=factory, fake_browser=fake_browser)
        finally:
            for client in clients:
                client.__exit__(None, None, None)


def _session_cookie(response: httpx.Response) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith("whoopkit_sid=")]
    assert len(headers) == 1, response.headers
    return headers[0]


def _user_rows(database_url: str) -> dict[int, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT user_id, count(*) FROM cycles GROUP BY user_id")).all()
    finally:
        engine.dispose()
    return {int(user): int(count) for user, count in rows}


def test_signing_in_finds_the_user_by_whoop_id_and_sets_a_secure_httponly_lax_session_cookie(
    hosted: Hosted, postgres_url: str
) -> None:
    browser = hosted.browser()
    answer = hosted.sign_in(browser)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    cookie = _session_cookie(answer).lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    account = browser.get("/account")
    assert account.status_code == 200
    assert f'data-testid="user-id">{USER_A}<' in account.text
    from tests.helpers.hosted import user_ids

    assert user_ids(postgres_url) == [USER_A]


def test_a_new_users_sign_in_queues_a_backfill_that_a_worker_stores_under_their_id(
    hosted: Hosted, postgres_url: str
) -> None:
    browser = hosted.browser()
    hosted.sign_in(browser)
    assert _user_rows(postgres_url) == {}
    hosted.run_jobs()
    rows = _user_rows(postgres_url)
    assert set(rows) == {USER_A} and rows[USER_A] >= BACKFILL_DAYS - 1
    page = browser.get("/dashboard")
    assert page.status_code == 200 and "Recovery" in page.text


def _csv(browser: TestClient, path: str) -> str:
    response = browser.get(path, params={"days": "30", "format": "csv"})
    assert response.status_code == 200, (path, response.text[:300])
    return response.text


VIEWS = ("/recovery-view", "/sleep-view", "/cycles-view", "/workouts-view")


def test_two_users_see_only_their_own_data_on_every_route(hosted: Hosted, postgres_url: str) -> None:
    alice, bob = hosted.browser(), hosted.browser()
    hosted.sign_in(alice)
    hosted.sign_in(bob)
    hosted.run_jobs()
    assert set(_user_rows(postgres_url)) == {USER_A, USER_B}

    from whoopkit.web.routers import account, auth, dashboard, drivers, health, insights, views

    gets = sorted(
        {
            route.path
            for area in (account, auth, dashboard, drivers, health, insights, views)
            for route in area.router.routes
            if isinstance(route, APIRoute) and "GET" in route.methods and "{" not in route.path
        }
    )
    assert {"/dashboard", "/account", *VIEWS} <= set(gets)
    for path in gets:
        if path in ("/login", "/callback", "/healthz", "/readyz", "/metrics", "/"):
            continue
        mine, theirs = alice.get(path), bob.get(path)
        assert mine.status_code == theirs.status_code, path
        assert mine.status_code < 500, (path, mine.text[:300])
        if mine.status_code == 200:
            assert str(USER_B) not in mine.text, path
            assert str(USER_A) not in theirs.text, path
    for path in VIEWS:
        # Every record id in one user's table is absent from the other's: the rows differ entirely.
        ids_a = set(re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}|\b\d{6,}\b", _csv(alice, path)))
        ids_b = set(re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}|\b\d{6,}\b", _csv(bob, path)))
        assert _csv(alice, path) != _csv(bob, path), path
        assert not (ids_a & ids_b) - {str(USER_A), str(USER_B)}, path


def test_a_guessed_or_missing_session_cookie_sees_no_data_and_is_asked_to_sign_in(hosted: Hosted) -> None:
    alice = hosted.browser()
    hosted.sign_in(alice)
    hosted.run_jobs()
    stranger = hosted.browser()
    for cookie in (None, "x" * 43, "not-a-session"):
        if cookie is not None:
            stranger.cookies.clear()
        headers = {"cookie": f"whoopkit_sid={cookie}"} if cookie is not None else {}
        for path in ("/dashboard", "/account", "/recovery-view", "/ai-insights-view/data"):
            page = stranger.get(path, headers=headers)
            assert page.status_code == 401, (path, cookie)
            assert (str(USER_A) not in page.text and "Sign" in page.text) or "Log in" in page.text
    assert stranger.get("/").status_code == 200
    assert "Sign in with WHOOP" in stranger.get("/").text


def test_signing_out_ends_this_browsers_session_only(hosted: Hosted) -> None:
    first = hosted.browser()
    hosted.sign_in(first)
    # The same person signs in on a second browser (the fake's next turn is person 1: ask for person 0).
    second = hosted.browser()
    start = second.get("/login", follow_redirects=False)
    consent = urlsplit(start.headers["location"])
    answer = hosted.fake_browser.get(f"{consent.path}?{consent.query}&person=0", follow_redirects=False)
    second.get(urlsplit(answer.headers["location"]).path + "?" + urlsplit(answer.headers["location"]).query)
    assert second.get("/account").status_code == 200

    page = first.get("/account")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    out = first.post("/logout", data={"csrf_token": token.group(1)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/?signed_out=1"
    assert first.get("/account").status_code == 401
    assert second.get("/account").status_code == 200


def _form_token(browser: TestClient, path: str = "/account") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(path).text)
    assert match is not None
    return match.group(1)


def test_deleting_an_account_revokes_whoop_access_and_removes_rows_token_and_every_session(
    hosted: Hosted, postgres_url: str
) -> None:
    alice, bob = hosted.browser(), hosted.browser()
    hosted.sign_in(alice)
    hosted.sign_in(bob)
    hosted.run_jobs()
    before = hosted.fake.stats.revocations

    refused = alice.post("/account/delete", data={"csrf_token": "forged", "confirm": "yes"})
    assert refused.status_code == 403
    unconfirmed = alice.post("/account/delete", data={"csrf_token": _form_token(alice)})
    assert unconfirmed.status_code == 400 and "Nothing was deleted" in unconfirmed.text
    assert set(_user_rows(postgres_url)) == {USER_A, USER_B}

    done = alice.post(
        "/account/delete", data={"csrf_token": _form_token(alice), "confirm": "yes"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/?deleted=1"
    assert hosted.fake.stats.revocations == before + 1
    assert set(_user_rows(postgres_url)) == {USER_B}
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            tokens = {int(r[0]) for r in conn.execute(text("SELECT user_id FROM user_tokens"))}
            users = {int(r[0]) for r in conn.execute(text("SELECT user_id FROM users"))}
            left = sum(
                int(
                    conn.execute(text(f"SELECT count(*) FROM {t} WHERE user_id = :u"), {"u": USER_A}).scalar()
                    or 0
                )
                for t in (
                    "cycles",
                    "recoveries",
                    "sleeps",
                    "workouts",
                    "sync_state",
                    "profiles",
                    "score_versions",
                )
            )
    finally:
        engine.dispose()
    assert tokens == users == {USER_B}
    assert left == 0
    assert alice.get("/dashboard").status_code == 401
    assert bob.get("/dashboard").status_code == 200


def test_whoops_member_cap_is_a_clear_page_and_changes_nothing(
    tmp_path: Path, postgres_url: str, redis_url: str, token_key: str, clean_env: None
) -> None:
    from whoopkit.web.app import create_app

    settings = hosted_settings(tmp_path, postgres_url, redis_url, token_key)
    fake = create_fake_whoop(
        auto_approve=True, now=FAKE_NOW, redirect_uris=[REDIRECT], people=2, member_cap=1, days=30
    )
    with (
        TestClient(fake, base_url="http://fake-whoop.local") as fake_browser,
        TestClient(
            create_app(settings, fake=fake, clock=lambda: FAKE_NOW), base_url="https://testserver"
        ) as first,
        TestClient(
            create_app(settings, fake=fake, clock=lambda: FAKE_NOW), base_url="https://testserver"
        ) as second,
    ):
        hosted = Hosted(settings=settings, fake=fake, app_factory=lambda: first, fake_browser=fake_browser)
        assert hosted.sign_in(first).status_code == 303
        page = hosted.sign_in(second)
        assert page.status_code == 403
        assert "This WHOOP app is full for now" in page.text and "10 members" in page.text
        assert "whoopkit_sid=" not in page.headers.get("set-cookie", "")
        from tests.helpers.hosted import user_ids

        assert user_ids(postgres_url) == [USER_A]


def test_readyz_names_database_redis_and_queue_and_is_503_when_redis_is_unreachable(
    hosted: Hosted, tmp_path: Path, postgres_url: str, token_key: str, clean_env: None
) -> None:
    ready = hosted.browser().get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok", "queue": "ok"}}

    from tests.helpers.servers import free_port
    from whoopkit.web.app import create_app

    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = hosted_settings(tmp_path / "other", postgres_url, nowhere, token_key)
    with TestClient(create_app(settings, fake=hosted.fake), base_url="https://testserver") as client:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        body = answer.json()
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["redis"].startswith("unreachable")
        assert client.get("/healthz").status_code == 200  # alive, only not ready
        page = client.get("/dashboard", headers={"cookie": "whoopkit_sid=" + "y" * 43})
        assert page.status_code == 503 and "Traceback" not in page.text


def test_metrics_count_requests_upstream_calls_and_show_the_shared_budget(hosted: Hosted) -> None:
    browser = hosted.browser()
    hosted.sign_in(browser)
    browser.get("/dashboard")
    text = browser.get("/metrics").text
    assert 'whoopkit_http_requests_total{method="GET",route="/dashboard"' in text
    assert "whoopkit_upstream_requests_total" in text
    assert 'whoopkit_budget_left{window="minute"}' in text
    assert "whoopkit_queue_depth" in text
    assert "whoopkit_sid" not in text and str(USER_A) not in text


def test_the_local_app_has_no_accounts_or_metrics_and_is_ready(
    tmp_path: Path, fake: FakeWhoop, clean_env: None
) -> None:
    from whoopkit.web.app import create_app

    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, demo=False, fake=fake), base_url="http://127.0.0.1") as client:
        assert client.get("/account").status_code == 404
        assert client.get("/metrics").status_code == 404
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}


def test_while_a_users_backfill_is_queued_their_pages_wait_for_it_instead_of_fetching_twice(
    hosted: Hosted,
) -> None:
    browser = hosted.browser()
    hosted.sign_in(browser)
    before = dict(hosted.fake.stats.requests_by_path)
    page = browser.get("/dashboard")
    assert page.status_code == 200
    assert "being synced right now" in page.text
    after = dict(hosted.fake.stats.requests_by_path)
    assert {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)} == {}
    hosted.run_jobs()
    done = browser.get("/dashboard")
    assert done.status_code == 200 and "being synced right now" not in done.text
