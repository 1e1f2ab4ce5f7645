"""Browser tests: Playwright drives Debian's Chromium through the demo (login → consent → every page).

The app runs with uvicorn on a free loopback port in a thread, in demo mode; a fake Ollama answers
the insights. Screenshots go to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.web.conftest import Clock
from tests.web.fake_ollama import FakeOllama, ServerThread, free_port
from whoopkit.config import PROJECT_ROOT
from whoopkit.fake_whoop import create_fake_whoop
from whoopkit.web.app import create_app

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PAGES = {
    "/dashboard": "Recovery",
    "/recovery-view?days=30": "Recovery",
    "/sleep-view?days=30": "Sleep",
    "/cycles-view?days=30": "Strain",
    "/workouts-view?days=30": "Workouts",
}

if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
    # CI installs chromium (scripts/test), so there a missing browser is a failure, not a skip.
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: scripts/test should have installed Debian's chromium")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_ollama: FakeOllama) -> Iterator[dict[str, Any]]:
    """The demo app on a free loopback port, its fake WHOOP pinned to a fixed "now"."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("WHOOP_", "OLLAMA_"))}
    port = free_port()
    tmp = tmp_path_factory.mktemp("browser")
    settings = make_settings(
        tmp,
        WHOOP_CLIENT_ID="",
        WHOOP_CLIENT_SECRET=None,
        WHOOP_DEMO=True,
        WHOOP_REDIRECT_URI=f"http://127.0.0.1:{port}/callback",
        OLLAMA_HOST=fake_ollama.url,
        PORT=port,
    )
    # A fixed clock: on the real one, whether today's recovery is scored yet depends on the hour CI runs.
    now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    clock = Clock(now)
    fake = create_fake_whoop(auto_approve=False, control_endpoints=False, now=now)
    app = create_app(settings, fake=fake, clock=clock)
    try:
        with ServerThread(app, port=port) as thread:
            yield {"url": thread.url, "app": app, "settings": settings, "fake": fake, "clock": clock}
    finally:
        os.environ.update(saved)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Console:
    """Collects console errors, page errors and CSP violations of a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


def shot(page: Any, name: str, *, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def demo_login(page: Any, url: str, *, from_home: bool = False) -> None:
    if from_home:  # logged out: the home page offers the login
        page.goto(f"{url}/")
        shot(page, "00-home")
        page.click("text=Log in with WHOOP")
    else:
        page.goto(f"{url}/login")
    page.wait_for_url(re.compile(r".*/_fake_whoop/oauth/oauth2/auth.*"))
    shot(page, "01-consent")
    page.click("button:has-text('Approve')")
    page.wait_for_url(re.compile(r".*/dashboard$"))


def test_the_demo_login_flow_and_every_page_render_with_charts(
    server: dict[str, Any], browser: Any, fake_ollama: FakeOllama
) -> None:
    fake_ollama.reset()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = Console(page)
    demo_login(page, server["url"], from_home=True)
    assert page.locator(".banner.demo").is_visible()
    assert re.fullmatch(r"\d{1,3}%", page.locator("[data-testid=recovery]").inner_text())
    assert page.locator("[data-testid=hrv]").inner_text().endswith("ms")
    assert page.locator("svg.spark polyline").count() >= 4
    shot(page, "02-dashboard")
    for path, heading in PAGES.items():
        page.goto(server["url"] + path)
        assert page.locator("h1").first.inner_text().startswith(heading) or heading in page.content()
        if path != "/dashboard":
            assert page.locator("svg.chart path, svg.chart rect.bar").count() > 0
            assert page.locator("table tbody tr").count() > 0
            shot(page, "03-" + path.strip("/").split("?")[0])
    page.goto(server["url"] + "/recovery-view?days=90")
    assert page.locator("svg.chart circle.dot").count() > 30
    assert console.errors == []
    context.close()


def test_the_insights_card_fills_in_from_the_fake_ollama(
    server: dict[str, Any], browser: Any, fake_ollama: FakeOllama
) -> None:
    fake_ollama.reset()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = Console(page)
    demo_login(page, server["url"])
    page.goto(server["url"] + "/ai-insights-view")
    page.wait_for_selector("#insight[data-state=done]", timeout=15_000)
    assert "Recovery is solid" in page.locator("#insight-summary").inner_text()
    assert page.locator("#insight-recommendations li").count() == 2
    assert page.locator("#insight-source").inner_text().startswith("AI")
    assert page.locator("#insight-notice").is_hidden()
    assert page.locator("#insight-facts dt").count() >= 5
    assert page.locator("#insight-facts-card").is_visible()
    shot(page, "04-insights-ollama")
    assert console.errors == []
    context.close()


def test_the_rule_based_fallback_shows_when_ollama_is_down(server: dict[str, Any], browser: Any) -> None:
    web = server["app"].state.web
    original = web.settings
    web.settings = original.model_copy(update={"ollama_host": f"http://127.0.0.1:{free_port()}"})
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        console = Console(page)
        demo_login(page, server["url"])
        page.goto(server["url"] + "/ai-insights-view")
        page.wait_for_selector("#insight[data-state=done]", timeout=15_000)
        assert page.locator("#insight-source").inner_text() == "Rule-based"
        notice = page.locator("#insight-notice").inner_text()
        assert "ollama serve" in notice and "ollama pull" in notice
        shot(page, "05-insights-fallback")
        assert console.errors == []
        context.close()
    finally:
        web.settings = original


def test_pages_are_readable_on_a_phone(server: dict[str, Any], browser: Any) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    console = Console(page)
    demo_login(page, server["url"])
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling of the page (wide tables scroll inside their card)
    shot(page, "06-phone-dashboard")
    page.goto(server["url"] + "/sleep-view?days=7")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "07-phone-sleep")
    assert console.errors == []
    context.close()


def test_the_logged_out_banner_links_to_the_login(server: dict[str, Any], browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    demo_login(page, server["url"])
    with page.expect_navigation():
        page.click("button:has-text('Log out')")
    page.wait_for_url(re.compile(r".*/\?logged_out=1$"))
    page.goto(server["url"] + "/dashboard")
    banner = page.locator(".banner.warn")
    assert banner.is_visible()
    assert banner.locator("a").get_attribute("href") == "/login"
    shot(page, "08-logged-out")
    context.close()


def test_every_page_says_when_it_was_updated_and_a_stale_one_says_so(
    server: dict[str, Any], browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = Console(page)
    demo_login(page, server["url"])
    updated = page.locator("#freshness")
    assert re.fullmatch(r"updated \d\d:\d\d", updated.inner_text())
    assert updated.is_visible()
    assert page.locator(".banner.stale").count() == 0
    shot(page, "09-dashboard-updated")
    page.goto(server["url"] + "/recovery-view?days=365")
    assert page.locator("a.active", has_text="365 days").is_visible()
    assert page.locator(".banner.stale").count() == 0
    assert page.locator("table tbody tr").count() > 150
    assert page.locator("a", has_text="Download this table (CSV)").is_visible()
    assert re.fullmatch(r"updated \d\d:\d\d", page.locator("#freshness").inner_text())
    shot(page, "10-recovery-365")
    shot(page, "10-recovery-365-top", full_page=False)
    fake, clock = server["fake"], server["clock"]
    fake.set_down(True)
    clock.advance(server["settings"].whoop_fresh_seconds + 60)
    try:
        page.goto(server["url"] + "/recovery-view?days=365")
        banner = page.locator(".banner.stale")
        assert banner.is_visible()
        assert banner.inner_text().startswith("WHOOP is not answering; showing data stored at ")
        assert page.locator("table tbody tr").count() > 150
        shot(page, "11-recovery-365-stale")
        shot(page, "11-recovery-365-stale-top", full_page=False)
        page.goto(server["url"] + "/dashboard")
        assert page.locator(".banner.stale").is_visible()
        shot(page, "12-dashboard-stale")
    finally:
        fake.set_down(False)
    assert console.errors == []
    context.close()
