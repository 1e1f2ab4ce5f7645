"""Browser tests: Playwright drives Debian's Chromium through the demo (login → consent → every page).

The app runs with uvicorn on a free loopback port in a thread, in demo mode; a fake Ollama answers
the insights. Screenshots go to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
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
    assert page.locator("#insight-origin").inner_text().startswith("From a local Ollama model (llama3.2)")
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
        assert page.locator("#insight-notice code").all_inner_texts()[:2] == [
            "ollama serve",
            "ollama pull llama3.2",
        ]
        origin = page.locator("#insight-origin").inner_text()
        assert "built-in rules" in origin and "From a local Ollama model" not in origin
        assert "`" not in page.locator("main").inner_text()
        summary = page.locator("#insight-summary").inner_text()
        for rec in page.locator("#insight-recommendations li").all_inner_texts():
            assert rec.rstrip(".") not in summary
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


RANGE_VIEWS = ("/recovery-view", "/sleep-view", "/cycles-view", "/workouts-view")
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
# Every page a user can reach, by state: logged out, logged in, and the error pages.
LOGGED_OUT_PAGES = ["/", "/?logged_out=1", "/dashboard", "/recovery-view?days=30", "/no-such-page"]
LOGGED_IN_PAGES = [
    "/dashboard",
    *(f"{view}?days={n}" for view in RANGE_VIEWS for n in (7, 30, 90, 365)),
    "/ai-insights-view",
    "/ai-insights-view?wait=1",
    "/recovery-view?days=abc",
]
# The rendered size of each visible axis label in CSS px: its font size times the scale of the SVG's
# drawing (a viewBox shrinks text along with the chart on a phone).
AXIS_LABELS = """() => [...document.querySelectorAll("svg.chart text.axis")]
  .filter((t) => getComputedStyle(t).display !== "none")
  .map((t) => ({
    size: parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a,
    x: t.getBoundingClientRect().left + t.getBoundingClientRect().width / 2,
    axis: t.classList.contains("y") ? "y" : "x",
    chart: t.closest("svg.chart").getAttribute("aria-label"),
  }))"""
OVERFLOW = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def _labels_by_chart(page: Any) -> dict[str, list[dict[str, Any]]]:
    charts: dict[str, list[dict[str, Any]]] = {}
    for label in page.evaluate(AXIS_LABELS):
        charts.setdefault(label["chart"], []).append(label)
    return charts


def _check_phone_page(page: Any, path: str, figures: dict[str, Any]) -> None:
    scroll_width, inner = page.evaluate(OVERFLOW)
    figures[path] = scroll_width
    assert scroll_width <= inner, f"{path} is {scroll_width} px wide on a {inner} px phone"
    charts = _labels_by_chart(page)
    if path.split("?")[0] in RANGE_VIEWS and "abc" not in path:
        assert charts, f"{path} shows no chart"
    for chart, labels in charts.items():
        smallest = min(label["size"] for label in labels)
        assert smallest >= 11, f"{path}: axis labels of {chart!r} are {smallest:.1f} px"
        x_labels = [label for label in labels if label["axis"] == "x"]
        assert 1 <= len(x_labels) <= 5, f"{path}: {len(x_labels)} x labels on {chart!r}"


def test_every_page_fits_a_phone_and_its_axis_labels_are_at_least_11px(
    server: dict[str, Any], browser: Any
) -> None:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    console = Console(page)
    widths: dict[str, int] = {}
    demo_login(page, server["url"])
    for path in LOGGED_IN_PAGES:
        page.goto(server["url"] + path)
        if path == "/ai-insights-view":
            page.wait_for_selector("#insight[data-state=done]", timeout=15_000)
        _check_phone_page(page, path, widths)
    page.goto(server["url"] + "/sleep-view?days=30")
    assert page.locator("svg.chart text.axis").count() > 0
    shot(page, "13-phone-sleep-30", full_page=False)
    page.goto(server["url"] + "/workouts-view?days=30")
    shot(page, "14-phone-workouts-30")
    with page.expect_navigation():
        page.click("button:has-text('Log out')")
    page.wait_for_url(re.compile(r".*/\?logged_out=1$"))
    for path in LOGGED_OUT_PAGES:
        page.goto(server["url"] + path)
        _check_phone_page(page, "logged out " + path, widths)
        assert "token" not in page.locator("main").inner_text(), f"{path} shows the token file"
    page.goto(server["url"] + "/dashboard")
    shot(page, "15-phone-logged-out")
    # The demo's simulated WHOOP consent page is part of the first run too.
    page.goto(server["url"] + "/login")
    page.wait_for_url(re.compile(r".*/_fake_whoop/oauth/oauth2/auth.*"))
    _check_phone_page(page, "consent", widths)
    # The error pages' own statuses are the only console lines (Chromium logs every 4xx document).
    expected = re.compile(r"Failed to load resource: the server responded with a status of 40[014]\b")
    assert [e for e in console.errors if not expected.match(e)] == []
    context.close()


def test_wide_tables_scroll_sideways_inside_their_card_on_a_phone(
    server: dict[str, Any], browser: Any
) -> None:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    demo_login(page, server["url"])
    for view in ("/sleep-view", "/workouts-view", "/recovery-view", "/cycles-view"):
        page.goto(f"{server['url']}{view}?days=30")
        wrap = page.locator(".table-wrap").first
        assert wrap.evaluate("(w) => getComputedStyle(w).overflowX") == "auto"
        table_width, wrap_width = wrap.evaluate("(w) => [w.scrollWidth, w.clientWidth]")
        if view == "/sleep-view":  # nine columns never fit 390 px: the table must scroll, the page not
            assert table_width > wrap_width
        if table_width > wrap_width:
            wrap.evaluate("(w) => { w.scrollLeft = 100; }")
            assert wrap.evaluate("(w) => w.scrollLeft") > 0
        assert page.evaluate(OVERFLOW)[0] <= 390
    page.goto(f"{server['url']}/sleep-view?days=30")
    page.locator(".table-wrap").first.evaluate("(w) => { w.scrollLeft = 200; }")
    page.locator(".table-wrap").first.scroll_into_view_if_needed()
    shot(page, "16-phone-sleep-table-scrolled", full_page=False)
    context.close()


def test_axis_text_is_no_larger_than_the_chart_titles_on_a_desktop(
    server: dict[str, Any], browser: Any
) -> None:
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    demo_login(page, server["url"])
    for view in PAGES:
        if view == "/dashboard":
            continue
        page.goto(server["url"] + view)
        title = page.evaluate(
            "() => parseFloat(getComputedStyle(document.querySelector('.chart-card h2')).fontSize)"
        )
        for chart, labels in _labels_by_chart(page).items():
            largest = max(label["size"] for label in labels)
            assert 11 <= largest <= title, f"{view}: {chart!r} axis text {largest:.1f} px, title {title} px"
    page.goto(server["url"] + "/workouts-view?days=30")
    shot(page, "17-desktop-workouts-30")
    context.close()


def _axis_day(label: str) -> date:
    day, month = (int(part) for part in label.split("/"))
    return date(2026 if month <= 11 else 2025, month, day)  # the fake's "now" is 20 Nov 2026


def test_the_workouts_chart_has_an_evenly_spaced_date_axis(server: dict[str, Any], browser: Any) -> None:
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    demo_login(page, server["url"])
    page.goto(server["url"] + "/workouts-view?days=30")
    (labels,) = _labels_by_chart(page).values()
    texts = page.eval_on_selector_all(
        "svg.chart text.axis.x",
        "(ts) => ts.filter((t) => getComputedStyle(t).display !== 'none').map((t) => t.textContent)",
    )
    xs = [label["x"] for label in labels if label["axis"] == "x"]
    assert len(xs) == len(texts) >= 4
    days = [_axis_day(text) for text in texts]
    # A time axis: the distance between two labels is proportional to the days between them.
    per_day = [
        (b - a) / (db - da).days for (a, da), (b, db) in itertools.pairwise(zip(xs, days, strict=True))
    ]
    assert max(per_day) - min(per_day) < 1, f"labels {texts} at {xs}: not a time axis"
    context.close()


def test_the_sleep_stage_bar_is_labelled_as_a_mix_not_a_timeline(
    server: dict[str, Any], browser: Any
) -> None:
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    demo_login(page, server["url"])
    card = page.locator("section", has=page.locator("svg.stagebar"))
    heading = card.locator("h2").inner_text()
    assert "mix" in heading.lower()
    assert not re.search(r"\d\d:\d\d", heading)  # a clock range above the bar reads as a timeline
    assert "not their order" in card.inner_text()
    shot(page, "18-desktop-dashboard-stage-mix")
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
