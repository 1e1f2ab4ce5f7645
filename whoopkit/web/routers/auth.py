"""The OAuth round trip: ``/login`` (to WHOOP's consent page), ``/callback`` (back) and ``/logout``.

Also ``POST /token-file/move-aside``, which renames an unusable token cache out of the way so the
user can log in again (it is never deleted). Every POST needs the page's CSRF token
(``security.csrf_refusal``); a callback changes nothing unless it carries the state signed into this
browser's cookie (``oauth.LoginStates``), so no other site can spoil or forge a login.
"""

from __future__ import annotations

import logging
import re
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from whoopkit import runtime
from whoopkit.errors import (
    AuthError,
    ConfigError,
    OAuthError,
    RateLimitedError,
    TokenFileError,
    WhoopkitError,
    WhoopUnavailableError,
)
from whoopkit.web.deps import SESSION_COOKIE, SettingsDep, WebDep
from whoopkit.web.errors import error_page, oauth_hints, with_login_url
from whoopkit.web.security import CSRF_FIELD, FAKE_PREFIX, LOOPBACK_NAMES, csrf_refusal
from whoopkit.web.state import WebState

logger = logging.getLogger(__name__)

router = APIRouter()

STATE_COOKIE = "whoopkit_oauth_state"
# WHOOP's member cap as its refusal words it ("This app has reached its user limit and must be approved…").
MEMBER_CAP_PHRASE = "user limit"


def _port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)


def canonical_login(request: Request, redirect_uri: str) -> str | None:
    """The login URL on the redirect URI's host, when the user opened a different loopback name.

    The state cookie is bound to the host it was set on; if the user opened 127.0.0.1 but WHOOP
    redirects back to localhost, the cookie would be missing at /callback.

    Raises:
        ConfigError: the redirect URI points at another port on this machine, so WHOOP would send
            the browser back to a different program.
    """
    target = urlsplit(redirect_uri)
    here = request.url
    if (
        not target.hostname
        or target.hostname not in LOOPBACK_NAMES
        or (here.hostname or "") not in LOOPBACK_NAMES
    ):
        return None
    if _port(target.scheme, target.port) != _port(here.scheme, here.port):
        raise ConfigError(
            f"WHOOP_REDIRECT_URI is {redirect_uri}, but the dashboard runs on "
            f"port {_port(here.scheme, here.port)}: set WHOOP_REDIRECT_URI=http://localhost:"
            f"{_port(here.scheme, here.port)}/callback (and register exactly that URI in the WHOOP developer "
            "dashboard), or run the dashboard on the redirect URI's port."
        )
    if target.hostname == here.hostname:
        return None
    return f"{target.scheme}://{target.netloc}/login"


@router.get("/login")
async def login(request: Request, web: WebDep, settings: SettingsDep) -> Response:
    """Redirect to WHOOP's consent page with every scope and a fresh single-use state."""
    canonical = None if web.hosted else canonical_login(request, settings.whoop_redirect_uri)
    if canonical is not None:
        return RedirectResponse(canonical, status_code=303)
    if web.hosted:
        oauth = web.require_accounts().runtime.oauth
        authorize_url, demo = oauth.authorize_url, False
    else:
        service = web.require_service()
        authorize_url, demo = service.authorize_url, service.demo
    state, cookie_value = web.states.issue()
    url = authorize_url(state)
    if demo:
        # The runtime talks to the fake in-process; the browser reaches it under /_fake_whoop.
        origin = f"{request.url.scheme}://{request.url.netloc}"
        url = url.replace(runtime.DEMO_HOST, origin + FAKE_PREFIX, 1)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        cookie_value,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=web.hosted or request.url.scheme == "https",
        path="/",
    )
    response.headers["cache-control"] = "no-store"
    return response


def _callback_error(
    request: Request, status: int, heading: str, message: str, *, end_login: bool = True
) -> Response:
    hints = oauth_hints(request, check_credentials=False)
    response = error_page(request, status, heading, message, hints=hints, show_login=True)
    if end_login:
        response.delete_cookie(STATE_COOKIE, path="/")
    return response


@router.get("/callback")
async def callback(request: Request, web: WebDep) -> Response:
    """Check the state (once), exchange the code and save the token (the service), go to the dashboard."""
    params = request.query_params
    state = params.get("state")
    cookie = request.cookies.get(STATE_COOKIE)
    if not web.states.matches(state, cookie):
        # Not this browser's login (forged, replayed, expired or from another site): change nothing,
        # so a link planted elsewhere cannot spoil the login this browser has in progress.
        return _callback_error(
            request,
            400,
            "This login link is not valid",
            "The login's state did not match (it expired, was already used, or came from another "
            "browser or host). Start the login again.",
            end_login=False,
        )
    # Consume before anything else, so a state can never be replayed.
    state_ok = web.states.consume(state, cookie)
    error = params.get("error")
    if error:
        description = params.get("error_description") or ""
        if error == "access_denied" and MEMBER_CAP_PHRASE in description.lower():
            return _callback_error(
                request,
                403,
                "This WHOOP app is full for now",
                "WHOOP lets a new app have at most 10 members until WHOOP approves it, and this one has "
                "reached that limit, so WHOOP did not let you connect. Nothing was changed. Ask whoever runs "
                "this site to apply for WHOOP's approval (or to free a place), then sign in again.",
            )
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
    if web.hosted:
        return await _hosted_sign_in(request, web, code)
    service = web.require_service()
    try:
        await service.login_with_code(code)
    except TokenFileError:
        raise  # a local problem with its own page (what to move or remove), not a failed login
    except WhoopkitError as exc:
        logger.warning("code exchange failed: %s", type(exc).__name__)
        return _callback_error(request, 400, "The WHOOP login did not complete", with_login_url(request, exc))
    logger.info("logged in to WHOOP (%s mode)", "demo" if service.demo else "real")
    web.sync_wake.set()  # fetch the history now rather than at the next interval
    response = RedirectResponse("/dashboard", status_code=303)
    response.delete_cookie(STATE_COOKIE, path="/")
    return response


async def _hosted_sign_in(request: Request, web: WebState, code: str) -> Response:
    """Find or create the user, open their session (a Secure cookie) and queue their sync."""
    from whoopkit.hosted import jobs

    accounts = web.require_accounts()
    try:
        signed = await accounts.sign_in(code)
    except (OAuthError, AuthError) as exc:
        logger.warning("sign-in failed: %s", type(exc).__name__)
        return _callback_error(
            request, 400, "The WHOOP sign-in did not complete", with_login_url(request, exc)
        )
    except (RateLimitedError, WhoopUnavailableError) as exc:
        # Not the user's doing: the general handler's 429 or 503 page says to try again in a minute.
        logger.warning("sign-in could not finish now: %s", type(exc).__name__)
        raise
    kind: Literal["backfill", "on_demand"] = "backfill" if signed.new_user else "on_demand"
    try:
        await jobs.enqueue(accounts.runtime.redis, kind, signed.user_id)
    except WhoopUnavailableError as exc:
        # Signed in all the same: the periodic refresh queues the sync once Redis is back.
        logger.warning("could not queue the %s of a sign-in: %s", kind, type(exc).__name__)
    response = RedirectResponse("/dashboard", status_code=303)
    response.delete_cookie(STATE_COOKIE, path="/")
    response.set_cookie(
        SESSION_COOKIE,
        signed.session_id,
        max_age=accounts.session_ttl,
        httponly=True,
        secure=True,
        samesite="lax",
        path="/",
    )
    response.headers["cache-control"] = "no-store"
    return response


DELETE_DATA_VALUES = frozenset({"1", "on", "true", "yes"})
MAX_FORM_BYTES = 4096  # the forms have a checkbox and the CSRF token


async def read_form(request: Request) -> dict[str, list[str]]:
    """A small urlencoded form (empty for anything else or anything larger).

    Parsed here rather than with FastAPI's ``Form()``, which needs python-multipart for a few
    urlencoded fields.
    """
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    return parse_qs(body.decode("latin-1"), keep_blank_values=True)


def wants_data_deleted(form: dict[str, list[str]]) -> bool:
    """Whether the logout form's "also delete my local data" box (``delete_data``) was ticked."""
    return any(v.strip().lower() in DELETE_DATA_VALUES for v in form.get("delete_data", []))


def refused_post(request: Request, form: dict[str, list[str]], what: str) -> Response | None:
    """A 403 page when the POST did not come from one of this browser's own pages, else None."""
    why = csrf_refusal(request.scope, (form.get(CSRF_FIELD) or [""])[0])
    if why is None:
        return None
    logger.warning("refused a POST to %s: %s", request.url.path, why)
    return error_page(
        request,
        403,
        "Request refused",
        f"whoopkit did not {what}, because the request did not come from its own page ({why}). "
        f"Use the button on the dashboard.",
    )


@router.post("/logout")
async def logout(request: Request, web: WebDep) -> Response:
    """Remove the token file, then revoke WHOOP access; delete the local history only if ticked.

    Hosted: end this browser's session only (the account, its data and its sync stay; ``/account``
    deletes them).
    """
    form = await read_form(request)
    refusal = refused_post(request, form, "log you out")
    if refusal is not None:
        return refusal
    if web.hosted:
        await web.require_accounts().end_session(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/?signed_out=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return response
    service = web.require_service()
    delete = wants_data_deleted(form)
    await service.logout(delete_local_data=delete)
    logger.info("logged out of WHOOP (%s)", "local history deleted" if delete else "local history kept")
    return RedirectResponse("/?logged_out=1" + ("&deleted=1" if delete else ""), status_code=303)


@router.post("/token-file/move-aside")
async def move_token_file_aside(request: Request, web: WebDep) -> Response:
    """Rename an unusable token cache to ``<name>.corrupt-<time>`` and go to the login."""
    form = await read_form(request)
    refusal = refused_post(request, form, "move the saved login file")
    if refusal is not None:
        return refusal
    if web.hosted:
        return error_page(request, 404, "Not found", "Hosted whoopkit keeps no login file.")
    if web.token_file.problem() is None:
        return RedirectResponse("/", status_code=303)  # already fixed (another tab, or by hand)
    moved = await anyio.to_thread.run_sync(web.token_file.move_aside)
    logger.warning("the unusable token cache was moved to %s", moved)
    return RedirectResponse("/login", status_code=303)
