"""The routes: OAuth login/callback/logout, the dashboard, the range views, AI insights, health."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from whoopkit import insights as insights_mod
from whoopkit import runtime
from whoopkit.client import Collected, WhoopClient
from whoopkit.errors import ConfigError, NotFoundError, WhoopkitError
from whoopkit.models import Cycle, Recovery, Sleep, UserBasicProfile, UserBodyMeasurement
from whoopkit.tokens import Token
from whoopkit.web import pages
from whoopkit.web.errors import BadRequestError, error_page, oauth_hints, render, with_local_login
from whoopkit.web.security import FAKE_PREFIX, LOOPBACK_NAMES

logger = logging.getLogger(__name__)

router = APIRouter()

STATE_COOKIE = "whoopkit_oauth_state"
RANGE_CHOICES = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 365
_DAYS_RE = re.compile(r"[0-9]{1,3}")


def _web(request: Request) -> Any:
    return request.app.state.web


def _whoop(request: Request) -> runtime.Whoop:
    whoop: runtime.Whoop = _web(request).require_whoop()
    return whoop


def parse_days(raw: str | list[str] | None) -> int:
    """``?days=``: one of 7/30/90 or any whole number 1..365; anything else is a 400.

    A list is every ``days`` value in the query: conflicting repeats are refused rather than one
    silently winning.

    Raises:
        BadRequestError: not a whole number in range, or given twice with different values.
    """
    if isinstance(raw, list):
        if len(set(raw)) > 1:
            raise BadRequestError(
                f"The range was given {len(raw)} times with different values; give ?days= once."
            )
        raw = raw[0] if raw else None
    if raw is None or raw == "":
        return DEFAULT_DAYS
    if not _DAYS_RE.fullmatch(raw) or not 1 <= int(raw) <= MAX_DAYS:
        raise BadRequestError(
            f"The range must be 7, 30, 90 or a whole number of days from 1 to {MAX_DAYS}; got {raw[:20]!r}."
        )
    return int(raw)


def range_start(days: int, now: datetime | None = None) -> datetime:
    """Midnight UTC ``days`` days ago.

    Day-aligned so that every view of a page within a day asks WHOOP identical questions, which the
    WhoopClient's TTL cache can then answer (a start computed from "now" would miss it every time).
    """
    now = now or datetime.now(UTC)
    d = (now.astimezone(UTC) - timedelta(days=days)).date()
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _ensure_logged_in(whoop: runtime.Whoop) -> None:
    # A cheap local check (a stat + a small read) so pages fail fast with the login banner.
    whoop.tokens.current()


async def _optional(coro: Any) -> Any:
    # Profile and body measurements are nice to have: a missing record must not break the dashboard.
    try:
        return await coro
    except NotFoundError:
        return None


# --------------------------------------------------------------------------- home, health


@router.get("/")
async def home(request: Request) -> Response:
    """Log in, or go to the dashboard when already logged in."""
    whoop = _whoop(request)
    if whoop.store.exists() and "logged_out" not in request.query_params:
        return RedirectResponse("/dashboard", status_code=303)
    note = "You are logged out." if "logged_out" in request.query_params else None
    return render(
        request,
        "home.html",
        title="Welcome",
        redirect_uri=_web(request).settings.whoop_redirect_uri,
        notice=note,
    )


@router.get("/healthz")
async def healthz(request: Request) -> Response:
    """Liveness: no upstream call, no secrets."""
    whoop = _whoop(request)
    return JSONResponse(
        {"status": "ok", "demo": _web(request).demo, "logged_in": whoop.store.exists()},
        headers={"cache-control": "no-store"},
    )


# --------------------------------------------------------------------------- OAuth


def _port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)


def _canonical_login(request: Request) -> str | None:
    """The login URL on the redirect URI's host, when the user opened a different loopback name.

    The state cookie is bound to the host it was set on; if the user opened 127.0.0.1 but WHOOP
    redirects back to localhost, the cookie would be missing at /callback.

    Raises:
        ConfigError: the redirect URI points at another port on this machine, so WHOOP would send
            the browser back to a different program.
    """
    target = urlsplit(_web(request).settings.whoop_redirect_uri)
    here = request.url
    if (
        not target.hostname
        or target.hostname not in LOOPBACK_NAMES
        or (here.hostname or "") not in LOOPBACK_NAMES
    ):
        return None
    if _port(target.scheme, target.port) != _port(here.scheme, here.port):
        raise ConfigError(
            f"WHOOP_REDIRECT_URI is {_web(request).settings.whoop_redirect_uri}, but the dashboard runs on "
            f"port {_port(here.scheme, here.port)}: set WHOOP_REDIRECT_URI=http://localhost:"
            f"{_port(here.scheme, here.port)}/callback (and register exactly that URI in the WHOOP developer "
            "dashboard), or run the dashboard on the redirect URI's port."
        )
    if target.hostname == here.hostname:
        return None
    return f"{target.scheme}://{target.netloc}/login"


@router.get("/login")
async def login(request: Request) -> Response:
    """Redirect to WHOOP's consent page with every scope and a fresh single-use state."""
    canonical = _canonical_login(request)
    if canonical is not None:
        return RedirectResponse(canonical, status_code=303)
    web = _web(request)
    whoop = _whoop(request)
    state = web.states.issue()
    url = whoop.oauth.authorize_url(state)
    if whoop.demo:
        # The runtime talks to the fake in-process; the browser reaches it under /_fake_whoop.
        origin = f"{request.url.scheme}://{request.url.netloc}"
        url = url.replace(runtime.DEMO_HOST, origin + FAKE_PREFIX, 1)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.headers["cache-control"] = "no-store"
    return response


def _callback_error(request: Request, status: int, heading: str, message: str) -> Response:
    hints = oauth_hints(request, check_credentials=False)
    response = error_page(request, status, heading, message, hints=hints, show_login=True)
    response.delete_cookie(STATE_COOKIE, path="/")
    return response


@router.get("/callback")
async def callback(request: Request) -> Response:
    """Check the state (once), exchange the code, save the token, go to the dashboard."""
    web = _web(request)
    whoop = _whoop(request)
    params = request.query_params
    state = params.get("state")
    cookie_state = request.cookies.get(STATE_COOKIE)
    # Consume first, whatever else is wrong, so a state can never be replayed.
    state_ok = web.states.consume(state) and bool(state) and cookie_state == state
    error = params.get("error")
    if error:
        if error == "access_denied":
            return _callback_error(
                request,
                403,
                "You did not allow access",
                "WHOOP says access was denied, so whoopkit cannot read your data. Log in again and "
                "press Allow/Approve to connect.",
            )
        code_text = re.sub(r"[^a-z_]", "", error.lower())[:40] or "unknown"
        return _callback_error(
            request, 400, "WHOOP reported a login error", f"WHOOP returned the error {code_text!r}."
        )
    if not state_ok:
        return _callback_error(
            request,
            400,
            "This login link is not valid",
            "The login's state did not match (it expired, was already used, or came from another "
            "browser or host). Start the login again.",
        )
    code = params.get("code")
    if not code:
        return _callback_error(
            request, 400, "No authorization code", "WHOOP did not send an authorization code back."
        )
    try:
        token = await whoop.oauth.exchange_code(code)
    except WhoopkitError as exc:
        logger.warning("code exchange failed: %s", type(exc).__name__)
        return _callback_error(
            request, 400, "The WHOOP login did not complete", with_local_login(request, exc)
        )
    await anyio.to_thread.run_sync(_save_token, whoop, token)
    whoop.client.clear_cache()
    logger.info("logged in to WHOOP (%s mode)", "demo" if whoop.demo else "real")
    response = RedirectResponse("/dashboard", status_code=303)
    response.delete_cookie(STATE_COOKIE, path="/")
    return response


def _save_token(whoop: runtime.Whoop, token: Token) -> None:
    # Under the inter-process lock: the MCP server may be refreshing the same file right now.
    with whoop.store.lock():
        whoop.store.save(token)


def _same_origin(request: Request) -> bool:
    """Whether a POST comes from our own pages (a CSRF check that needs no token).

    Browsers send Sec-Fetch-Site; with Referrer-Policy no-referrer a form POST's Origin is "null",
    so Origin is only compared when it is a real origin. Clients that send neither (curl) pass.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return urlsplit(origin).netloc == request.url.netloc
    return True


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Revoke WHOOP access (DELETE /v2/user/access) and remove the token cache."""
    if not _same_origin(request):
        return error_page(request, 403, "Cross-site request refused", "Log out from the dashboard itself.")
    whoop = _whoop(request)
    if whoop.store.exists():
        try:
            await whoop.client.revoke_access()
        except WhoopkitError as exc:
            # The local login is removed anyway: the user asked to be logged out.
            logger.warning("revoking WHOOP access failed: %s", type(exc).__name__)
        # TokenStore.delete takes the inter-process token lock itself.
        await anyio.to_thread.run_sync(whoop.store.delete)
    whoop.client.clear_cache()
    return RedirectResponse("/?logged_out=1", status_code=303)


# --------------------------------------------------------------------------- pages


@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    """Today's recovery, HRV, resting HR, strain, last night's sleep, body, 7-day trends."""
    whoop = _whoop(request)
    _ensure_logged_in(whoop)
    client = whoop.client
    start = range_start(7, _web(request).now())
    # One round trip: every request this page needs goes out at once.
    results = await asyncio.gather(
        _optional(client.get_profile()),
        _optional(client.get_body_measurement()),
        client.cycles(start),
        client.recoveries(start),
        client.sleeps(start),
    )
    profile: UserBasicProfile | None = results[0]
    body: UserBodyMeasurement | None = results[1]
    cycles: Collected[Cycle] = results[2]
    recoveries: Collected[Recovery] = results[3]
    sleeps: Collected[Sleep] = results[4]
    context = pages.dashboard(
        profile=profile,
        body=body,
        cycles=cycles.records,
        recoveries=recoveries.records,
        sleeps=sleeps.records,
        today=pages.today_for(_web(request).now()),
    )
    return render(request, "dashboard.html", title="Dashboard", **context)


def _range_query(request: Request) -> tuple[int, WhoopClient, datetime, date]:
    """What every range view starts with: ``?days=``, the logged-in client, the start and today."""
    days = parse_days(request.query_params.getlist("days"))
    whoop = _whoop(request)
    _ensure_logged_in(whoop)
    now = _web(request).now()
    return days, whoop.client, range_start(days, now), pages.today_for(now)


def _range_page(request: Request, days: int, context: dict[str, Any], truncated: bool) -> Response:
    return render(
        request,
        "records.html",
        title=f"{context['heading']}, last {days} days",
        days=days,
        range_choices=RANGE_CHOICES,
        truncated=truncated,
        **context,
    )


@router.get("/cycles-view")
async def cycles_view(request: Request) -> Response:
    """Day strain over 7/30/90 days: a chart and a table."""
    days, client, start, today = _range_query(request)
    got = await client.cycles(start)
    context = pages.cycles_view(got.records, days=days, today=today)
    return _range_page(request, days, context, got.truncated)


@router.get("/workouts-view")
async def workouts_view(request: Request) -> Response:
    """Workouts over 7/30/90 days: a chart and a table."""
    days, client, start, today = _range_query(request)
    got = await client.workouts(start)
    context = pages.workouts_view(got.records, days=days, today=today)
    return _range_page(request, days, context, got.truncated)


@router.get("/sleep-view")
async def sleep_view(request: Request) -> Response:
    """Sleep over 7/30/90 days: stages, performance and a table."""
    days, client, start, today = _range_query(request)
    got = await client.sleeps(start)
    context = pages.sleep_view(got.records, days=days, today=today)
    return _range_page(request, days, context, got.truncated)


@router.get("/recovery-view")
async def recovery_view(request: Request) -> Response:
    """Recovery, HRV and resting HR over 7/30/90 days: charts and a table."""
    days, client, start, today = _range_query(request)
    recs, cycles = await asyncio.gather(client.recoveries(start), client.cycles(start))
    context = pages.recovery_view(recs.records, cycles.records, days=days, today=today)
    return _range_page(request, days, context, recs.truncated or cycles.truncated)


# --------------------------------------------------------------------------- AI insights


async def _insight_input(request: Request, whoop: runtime.Whoop) -> insights_mod.InsightInput:
    client = whoop.client
    now = _web(request).now()
    start = range_start(insights_mod.LOOKBACK_DAYS, now)
    results = await asyncio.gather(
        _optional(client.get_body_measurement()),
        client.cycles(start),
        client.recoveries(start),
        client.sleeps(start),
        client.workouts(start),
    )
    return insights_mod.InsightInput(
        body=results[0],
        cycles=results[1].records,
        recoveries=results[2].records,
        sleeps=results[3].records,
        workouts=results[4].records,
        now=now,
    )


INSIGHT_TTL = 600.0  # a model answer stays good while the numbers it was given are the same


async def _generate(request: Request) -> tuple[insights_mod.InsightResult, list[tuple[str, str]]]:
    web = _web(request)
    whoop = _whoop(request)
    _ensure_logged_in(whoop)
    data = await _insight_input(request, whoop)
    facts = insights_mod.facts(data)
    # Reloading the page must not make a local model think for half a minute again: answers from
    # Ollama are kept for the same prompt (the same numbers) for INSIGHT_TTL seconds.
    key = hashlib.sha256(
        f"{web.settings.ollama_host}|{web.settings.ollama_model}|{insights_mod.build_prompt(data)}".encode()
    ).hexdigest()
    now = time.monotonic()
    cached = web.insight_cache.get(key)
    if cached is not None and now - cached[0] < INSIGHT_TTL:
        return cached[1], facts
    client = web.ollama_client()
    try:
        result = await insights_mod.generate_insights(data, web.settings, client=client)
    finally:
        await _close_ollama(client)
    if result.source == "ollama":
        if len(web.insight_cache) >= 16:
            web.insight_cache.clear()
        web.insight_cache[key] = (now, result)
    return result, facts


async def _close_ollama(client: Any) -> None:
    close = getattr(client, "close", None)
    if close is not None:
        await close()


@router.get("/ai-insights-view")
async def ai_insights_view(request: Request) -> Response:
    """The insights page, at once, with a "thinking…" card that JS fills (``?wait=1``: rendered here)."""
    web = _web(request)
    whoop = _whoop(request)
    _ensure_logged_in(whoop)
    result = None
    facts: list[tuple[str, str]] = []
    if request.query_params.get("wait") == "1":
        result, facts = await _generate(request)
    return render(
        request,
        "insights.html",
        title="AI insights",
        model=web.settings.ollama_model,
        result=result,
        facts=facts,
    )


@router.get("/ai-insights-view/data")
async def ai_insights_data(request: Request) -> Response:
    """The insight as JSON for the page's script (Ollama's answer, or rule-based when it is unavailable)."""
    result, facts = await _generate(request)
    body = result.model_dump(mode="json")
    body["facts"] = facts
    return JSONResponse(body, headers={"cache-control": "no-store"})


def _answer_head_like_get() -> None:
    # HTTP requires HEAD wherever GET works (uptime checks and link checkers use it); FastAPI's
    # routes, unlike Starlette's, do not add it, so HEAD would be a 405. The server drops the body.
    for route in router.routes:
        if isinstance(route, APIRoute) and route.methods and "GET" in route.methods:
            route.methods.add("HEAD")


_answer_head_like_get()
