"""The web app's background sync: at start-up and every WHOOP_SYNC_INTERVAL, never crashing the app.

Tests wait for the sync with ``SyncStatus.wait_for`` (a condition with a timeout), never by sleeping.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import Clock, make_client
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.tokens import Token, TokenStore

WAIT = 60.0  # generous upper bound for an in-process sync; the tests normally take well under a second


def with_interval(settings: Settings, seconds: float) -> Settings:
    return settings.model_copy(update={"whoop_sync_interval": seconds})


def log_in(settings: Settings, fake: FakeWhoop) -> None:
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))


def web_of(client: Any) -> Any:
    return client.app.state.web


def test_the_app_syncs_the_history_when_it_starts_and_pages_then_cost_no_request(
    web_settings: Settings, fake: FakeWhoop, fake_now: datetime
) -> None:
    settings = with_interval(web_settings, 3600)
    log_in(settings, fake)
    with make_client(settings, fake, Clock(fake_now)) as c:
        web = web_of(c)
        assert web.sync.wait_for(1, timeout=WAIT)
        assert web.sync.last_error is None
        assert c.get("/healthz").json()["last_sync"] == fake_now.isoformat(timespec="seconds")
        status = web.service.store_status()
        assert status.collections["cycles"].rows >= len(fake.data.cycles) - 1
        assert all(col.complete for col in status.collections.values())
        before = fake.stats.requests
        for path in ("/dashboard", "/recovery-view?days=365", "/sleep-view?days=365"):
            assert c.get(path).status_code == 200
        assert fake.stats.requests == before


def test_the_background_sync_repeats_every_interval(
    web_settings: Settings, fake: FakeWhoop, fake_now: datetime
) -> None:
    settings = with_interval(web_settings, 0.05)
    log_in(settings, fake)
    with make_client(settings, fake, Clock(fake_now)) as c:
        assert web_of(c).sync.wait_for(3, timeout=WAIT)
        assert web_of(c).sync.last_error is None


def test_the_background_sync_skips_while_nobody_is_logged_in(
    web_settings: Settings, fake: FakeWhoop, fake_now: datetime
) -> None:
    with make_client(with_interval(web_settings, 3600), fake, Clock(fake_now)) as c:
        assert web_of(c).sync.wait_for(1, timeout=WAIT)
        assert web_of(c).sync.last_error == "not logged in"
        assert web_of(c).sync.last_success is None
        assert fake.stats.requests == 0
        assert c.get("/healthz").json()["last_sync"] is None


def test_a_failing_background_sync_is_logged_and_the_app_keeps_serving(
    web_settings: Settings, fake: FakeWhoop, fake_now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    settings = with_interval(web_settings, 3600)
    log_in(settings, fake)
    fake.set_down(True)
    with make_client(settings, fake, Clock(fake_now)) as c:
        web_of(c).service.whoop.client.max_retries = 0
        assert web_of(c).sync.wait_for(1, timeout=WAIT)
        assert web_of(c).sync.last_error
        assert c.get("/healthz").status_code == 200
        assert c.get("/dashboard").status_code == 503  # nothing stored yet, and WHOOP is down
    assert "background sync failed" in caplog.text
    assert "Traceback" not in caplog.text


def test_shutdown_cancels_a_sync_in_flight_promptly(
    web_settings: Settings, fake: FakeWhoop, fake_now: datetime
) -> None:
    settings = with_interval(web_settings, 3600)
    log_in(settings, fake)
    fake.faults.latency = 30.0  # the start-up sync is stuck waiting on WHOOP
    started = time.monotonic()
    with make_client(settings, fake, Clock(fake_now)) as c:
        assert c.get("/healthz").status_code == 200  # pages do not wait for the sync
    assert time.monotonic() - started < 10


def test_a_login_starts_a_background_sync_at_once(
    web_settings: Settings, fake: FakeWhoop, fake_now: datetime
) -> None:
    with make_client(with_interval(web_settings, 3600), fake, Clock(fake_now)) as c:
        web = web_of(c)
        assert web.sync.wait_for(1, timeout=WAIT)  # skipped: nobody logged in yet
        authorize = urlsplit(c.get("/login").headers["location"])
        with TestClient(fake, base_url="http://fake-whoop.local", follow_redirects=False) as browser:
            back = urlsplit(browser.get(f"{authorize.path}?{authorize.query}").headers["location"])
        assert c.get(f"{back.path}?{back.query}").status_code == 303
        assert web.sync.wait_for(2, timeout=WAIT)
        assert web.sync.last_success is not None
