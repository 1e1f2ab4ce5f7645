"""Browser test of "What affects your recovery": Playwright drives Debian's Chromium through the demo.

The app runs with uvicorn on a free loopback port in a thread, in demo mode, over 400 days of the
fake's data, so the year calendar is full. Screenshots go to a temporary directory (their paths are
printed with ``-s``).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.web.conftest import Clock
from tests.web.fake_ollama import FakeOllama, ServerThread, free_port
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop
from whoopkit.runtime import DEMO_TOKEN_FILE
from whoopkit.service import build_service
from whoopkit.tokens import Token, TokenStore
from whoopkit.web.app import create_app

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PAGE = "/what-affects-my-recovery?days=365&outcome=recovery"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
OVERFLOW = "() => [document.documentElement.scrollWidth, window.innerWidth]"

if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
    # CI installs chromium (scripts/test), so there a missing browser is a failure, not a skip.
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: scripts/test should have installed Debian's chromium")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_ollama: FakeOllama) -> Iterator[dict[str, Any]]:
    """The demo app on a free loopback port over 400 days of data, its fake WHOOP pinned to a fixed "now"."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("WHOOP_", "OLLAMA_"))}
    port = free_port()
    tmp = tmp_path_factory.mktemp("browser-drivers")
    settings = make_settings(
        tmp,
        WHOOP_CLIENT_ID="",
        WHOOP_CLIENT_SECRET=None,
        WHOOP_DEMO=True,
        WHOOP_REDIRECT_URI=f"http://127.0.0.1:{port}/callback",
        OLLAMA_HOST=fake_ollama.url,
        PORT=port,
        WHOOP_SYNC_INTERVAL=0,
    )
    now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    fake = create_fake_whoop(auto_approve=False, control_endpoints=False, now=now, days=400)
    # Synced beforehand, as `whoopkit sync` would: a year's first sync takes most of a minute's budget
    # of the bulk share, and the page is about reading a synced store.
    TokenStore(settings.whoop_data_dir / DEMO_TOKEN_FILE).save(
        Token.from_response(fake.issue_token(), now=time.time())
    )
    asyncio.run(_sync_a_year(settings, fake, now))
    app = create_app(settings, fake=fake, clock=Clock(now))
    try:
        with ServerThread(app, port=port) as thread:
            yield {"url": thread.url, "fake": fake}
    finally:
        os.environ.update(saved)


async def _sync_a_year(settings: Settings, fake: FakeWhoop, now: datetime) -> None:
    service = build_service(settings, demo=True, fake=fake, clock=lambda: now)
    try:
        await service.sync(days=365)
    finally:
        await service.aclose()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this module's screenshots go."""
    return tmp_path_factory.mktemp("drivers-screenshots")


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


def shot(page: Any, where: Path, name: str, *, full_page: bool = True) -> Path:
    path = where / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}")  # the paths to look at, shown with -s
    return path


def demo_login(page: Any, url: str) -> None:
    page.goto(f"{url}/login")
    page.wait_for_url(re.compile(r".*/_fake_whoop/oauth/oauth2/auth.*"))
    page.click("button:has-text('Approve')")
    page.wait_for_url(re.compile(r".*/dashboard$"), timeout=60_000)


def test_the_page_is_in_the_nav_and_shows_the_forest_plot_and_a_year_calendar_with_tooltips(
    server: dict[str, Any], browser: Any, shots: Path
) -> None:
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    console = Console(page)
    demo_login(page, server["url"])
    page.click("nav.nav a:has-text('What affects recovery')")
    page.wait_for_url(re.compile(r".*/what-affects-my-recovery$"))
    assert page.title().startswith("What affects your recovery")
    page.goto(server["url"] + PAGE)
    assert page.locator("#stale-banner").count() == 0
    forest = page.locator("svg.forest")
    assert forest.is_visible()
    assert page.locator("svg.forest g.factor").count() >= 10
    assert page.locator("svg.forest g.factor.sig").count() >= 1
    assert forest.bounding_box()["height"] > 300
    assert page.locator("table.factors tbody tr").count() == page.locator("svg.forest g.factor").count()
    assert page.locator("#scatter svg.chart circle.pt").count() > 100
    calendar = page.locator("svg.calendar")
    calendar.scroll_into_view_if_needed()
    assert calendar.is_visible()
    cells = page.locator("svg.calendar rect.day")
    assert cells.count() == 365
    assert page.locator("svg.calendar rect.day.green").count() > 30
    assert page.locator("svg.calendar text.month").count() >= 11
    cell = page.locator("svg.calendar rect.day.green").last
    cell.hover()
    assert cell.evaluate("(c) => getComputedStyle(c).strokeWidth") == "2px"  # the hovered cell is outlined
    tooltip = cell.locator("title").text_content() or ""
    assert re.match(r"\w{3} \d{1,2} \w{3} 20\d\d: recovery \d{1,3}% \(green\)", tooltip), tooltip
    shot(page, shots, "drivers-desktop")
    shot(page, shots, "drivers-desktop-calendar-hover", full_page=False)
    for part in ("forest", "scatter", "records", "calendar"):
        page.locator(f"#{part}").screenshot(path=str(shots / f"drivers-desktop-{part}.png"))
    page.click("#outcome-switch a:has-text('HRV')")
    page.wait_for_url(re.compile(r".*outcome=hrv.*"))
    assert page.locator("#outcome-switch a.active").inner_text() == "HRV"
    assert page.locator("#days-switch a.active").inner_text() == "365 days"
    assert "ms of HRV" in (page.locator("table.factors thead").text_content() or "")
    assert console.errors == []
    context.close()


def test_the_page_fits_a_phone_and_its_calendar_scrolls_inside_its_card_from_the_newest_week(
    server: dict[str, Any], browser: Any, shots: Path
) -> None:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    console = Console(page)
    demo_login(page, server["url"])
    page.goto(server["url"] + PAGE)
    scroll_width, inner = page.evaluate(OVERFLOW)
    assert scroll_width <= inner, f"the page is {scroll_width} px wide on a {inner} px phone"
    sizes = page.eval_on_selector_all(
        "svg.forest text, svg.calendar text",
        "(ts) => ts.filter((t) => getComputedStyle(t).display !== 'none')"
        ".map((t) => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)",
    )
    assert sizes and min(sizes) >= 11, f"chart text down to {min(sizes):.1f} px"
    wrap = page.locator(".calendar-wrap")
    wrap.scroll_into_view_if_needed()
    content, visible = wrap.evaluate("(w) => [w.scrollWidth, w.clientWidth]")
    assert content > visible  # a year does not fit 390 px: the calendar scrolls, the page does not
    newest = page.locator("svg.calendar rect.day").last
    box, frame = newest.bounding_box(), wrap.bounding_box()
    assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
    newest.hover()
    assert (newest.locator("title").text_content() or "").startswith("Fri 20 Nov 2026")
    shot(page, shots, "drivers-phone")
    shot(page, shots, "drivers-phone-calendar", full_page=False)
    for part in ("forest", "records"):
        page.locator(f"#{part}").screenshot(path=str(shots / f"drivers-phone-{part}.png"))
    assert console.errors == []
    context.close()
