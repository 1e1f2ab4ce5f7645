"""``/`` (log in, or go to the dashboard) and ``/dashboard`` (today at a glance)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from whoopkit.service import RECENT_DAYS
from whoopkit.web import pages
from whoopkit.web.deps import OptionalServiceDep, ServiceDep, SettingsDep
from whoopkit.web.errors import render
from whoopkit.web.routers.common import freshness_of

router = APIRouter()


@router.get("/")
async def home(request: Request, settings: SettingsDep, maybe: OptionalServiceDep) -> Response:
    """Log in, or go to the dashboard when already logged in (hosted: signed in on this browser)."""
    params = request.query_params
    if request.app.state.web.hosted:
        if maybe is not None and "deleted" not in params:
            return RedirectResponse("/dashboard", status_code=303)
        note = None
        if "deleted" in params:
            note = "Your account is deleted: WHOOP access was revoked, and your data and login are gone."
        elif "signed_out" in params:
            note = "You are signed out on this browser. Your data keeps syncing for your next sign-in."
        return render(
            request, "home.html", title="Welcome", redirect_uri=settings.whoop_redirect_uri, notice=note
        )
    assert maybe is not None  # locally there is always the one service
    service = maybe
    if "logged_out" not in params and service.auth_status().logged_in:
        return RedirectResponse("/dashboard", status_code=303)
    note = None
    if "logged_out" in params:
        note = (
            "You are logged out, and your WHOOP history on this computer was deleted."
            if "deleted" in params
            else "You are logged out. Your WHOOP history stays on this computer for your next login."
        )
    return render(
        request, "home.html", title="Welcome", redirect_uri=settings.whoop_redirect_uri, notice=note
    )


@router.get("/dashboard")
async def dashboard(request: Request, service: ServiceDep) -> Response:
    """Today's recovery, HRV, resting HR, strain, last night's sleep, body, 7-day trends."""
    service.require_login()  # a cheap local check, so a logged-out page fails fast with the banner
    answer = await service.recent()
    # recent() has just brought these days up to date: the day rows come from the store alone.
    start, today = service.window(RECENT_DAYS)
    rows = service.stored_days(start, today)
    context = pages.dashboard(profile=answer.data.profile, body=answer.data.body, days=rows, today=today)
    return render(
        request, "dashboard.html", title="Dashboard", freshness=freshness_of(service, answer), **context
    )
