"""The edge: every ``whoopkit.errors`` exception becomes a clear page (or JSON) with a 4xx/5xx status.

One handler converts the library's error hierarchy; bad query values and unknown paths get pages
too, so a user never sees a traceback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, PlainTextResponse, Response

from whoopkit.errors import (
    AuthError,
    ConfigError,
    InsightsUnavailableError,
    NotFoundError,
    NotLoggedInError,
    OAuthError,
    RateLimitedError,
    StoreError,
    TokenFileError,
    WhoopAPIError,
    WhoopkitError,
    WhoopUnavailableError,
)
from whoopkit.web.security import SecurityMiddleware, csrf_token

if TYPE_CHECKING:
    from whoopkit.service import WhoopService

logger = logging.getLogger(__name__)


class BadRequestError(WhoopkitError):
    """A request value (e.g. ``?days=``) is invalid: a 400 page."""


NAV = (
    ("/dashboard", "Dashboard"),
    ("/recovery-view", "Recovery"),
    ("/sleep-view", "Sleep"),
    ("/cycles-view", "Strain"),
    ("/workouts-view", "Workouts"),
    ("/ai-insights-view", "AI insights"),
    ("/what-affects-my-recovery", "What affects recovery"),
)

LOGIN_BANNER = "You are not connected to WHOOP (or the saved login expired)."


def request_service(request: Request) -> WhoopService | None:
    """The service this request is answered by: the signed-in user's (hosted), else the app's, or None."""
    service: WhoopService | None = getattr(request.state, "service", None)
    if service is None and not request.app.state.web.hosted:
        service = request.app.state.web.service
    return service


def _logged_in(request: Request) -> bool:
    service = request_service(request)
    return bool(service is not None and service.auth_status().logged_in)


def base_context(request: Request, **extra: Any) -> dict[str, Any]:
    """What every page's layout needs: navigation, demo flag, login state, data freshness."""
    web = request.app.state.web
    context: dict[str, Any] = {
        "request": request,
        "nav": NAV,
        "active": request.url.path,
        "demo": web.demo,
        "logged_in": _logged_in(request),
        "login_banner": None,
        "freshness": None,  # pages.freshness(...) on pages that show data
        "title": "whoopkit",
        "csrf_token": csrf_token(request.scope),  # the hidden field of every POST form
        "token_problem": web.token_problem(),  # offer to move it aside
        "hosted": web.hosted,
    }
    context.update(extra)
    return context


def render(request: Request, template: str, status_code: int = 200, **extra: Any) -> Response:
    """Render ``template`` in the base layout."""
    web = request.app.state.web
    response: Response = web.templates.TemplateResponse(
        request, template, base_context(request, **extra), status_code=status_code
    )
    response.headers.setdefault("cache-control", "no-store")
    return response


def error_page(
    request: Request,
    status_code: int,
    heading: str,
    message: str,
    *,
    hints: list[str] | None = None,
    show_login: bool = False,
    login_banner: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    """A page explaining what went wrong and what to do; JSON for the data endpoints."""
    if request.url.path.endswith("/data"):
        body = {"error": heading, "message": message, "hints": hints or [], "login": show_login}
        return JSONResponse(body, status_code=status_code, headers=headers)
    response = render(
        request,
        "error.html",
        status_code,
        title=heading,
        heading=heading,
        message=message,
        hints=hints or [],
        show_login=show_login,
        login_banner=LOGIN_BANNER if login_banner else None,
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def whoopkit_error_response(request: Request, exc: WhoopkitError) -> Response:
    """Map the library's error hierarchy onto statuses and pages (the one place this happens)."""
    message = with_login_url(request, exc)
    if isinstance(exc, BadRequestError):
        return error_page(request, 400, "That request does not make sense", message)
    if isinstance(exc, AuthError) and request.app.state.web.hosted and request_service(request) is None:
        # Hosted, and this browser has no session: nothing expired, the visitor has just not signed in.
        return error_page(
            request,
            401,
            "Sign in with WHOOP",
            "You are not signed in on this browser. Sign in with your WHOOP account to see your own data.",
            show_login=True,
        )
    if isinstance(exc, AuthError):
        return error_page(
            request,
            401,
            "Log in to WHOOP",
            message,
            show_login=True,
            login_banner=True,
        )
    if isinstance(exc, OAuthError):
        return error_page(
            request,
            400,
            "The WHOOP login did not complete",
            message,
            hints=oauth_hints(request),
            show_login=True,
        )
    if isinstance(exc, RateLimitedError):
        return error_page(
            request,
            429,
            "WHOOP asked us to slow down",
            message,
            headers={"Retry-After": str(max(1, round(exc.retry_after)))},
        )
    if isinstance(exc, NotFoundError):
        return error_page(request, 404, "Not found", message)
    if isinstance(exc, WhoopAPIError):
        return error_page(request, 502, "WHOOP answered with an error", message)
    if isinstance(exc, WhoopUnavailableError):
        # Raised only when nothing is stored to answer from: with stored data, pages show a banner.
        return error_page(
            request,
            503,
            "WHOOP is not answering",
            message,
            hints=[
                "whoopkit has no stored data for this page yet, so it needs WHOOP to answer first.",
                "Try again in a minute; once data is stored, pages work even while WHOOP is down.",
            ],
        )
    if isinstance(exc, StoreError):
        return error_page(request, 503, "whoopkit's local history cannot be used", message)
    if isinstance(exc, InsightsUnavailableError):
        return error_page(request, 503, "AI insights are unavailable", message)
    if isinstance(exc, TokenFileError):
        return error_page(request, 503, "whoopkit cannot use its saved login file", message)
    if isinstance(exc, ConfigError):
        return error_page(request, 503, "whoopkit is not configured", message)
    return error_page(request, 500, "Something went wrong", message)


def _token_file_exists(request: Request) -> bool:
    service = request_service(request)
    if service is None:
        return True
    path = service.auth_status().path
    return path is not None and path.exists()


def with_login_url(request: Request, exc: Exception) -> str:
    """The error's message; for a login problem, followed by where to log in (``settings.login_url``)."""
    text = str(exc)
    if isinstance(exc, NotLoggedInError) and not _token_file_exists(request):
        # Nothing saved yet (or logged out): where the token file would be is a developer's detail.
        text = "You are not logged in to WHOOP."
    if isinstance(exc, AuthError | OAuthError):
        text = f"{text} Log in at {request.app.state.web.settings.login_url}."
    return text


def oauth_hints(request: Request, *, check_credentials: bool = True) -> list[str]:
    """What to try after a failed login; the credentials hint only where they may be the cause."""
    settings = request.app.state.web.settings
    hints = [
        "Start again from the login link: each login link works once and for ten minutes.",
        f"The redirect URI ({settings.whoop_redirect_uri}) must match the one registered in the WHOOP "
        "developer dashboard exactly, and you must open the dashboard on that same host.",
    ]
    if check_credentials:
        hints.append("Check WHOOP_CLIENT_ID and WHOOP_CLIENT_SECRET in .env against the developer dashboard.")
    hints.append("Your saved login (if any) was left untouched.")
    return hints


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    async def on_whoopkit_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WhoopkitError)
        logger.info("%s on %s: %s", type(exc).__name__, request.url.path, exc)
        return whoopkit_error_response(request, exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        return error_page(
            request,
            400,
            "That request does not make sense",
            "A value in the address is not valid: the range must be 7, 30, 90, 365 or a whole number "
            "of days from 1 to 365.",
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_page(request, 404, "Page not found", "There is no such page in whoopkit.")
        headers = dict(exc.headers or {})  # keeps the Allow header a 405 must carry
        if exc.status_code == 405:
            message = f"{request.url.path} does not accept {request.method} requests."
            if request.url.path == "/logout":
                message = "Log out with the Log out button on the dashboard (it sends a POST request)."
            return error_page(request, 405, "Method not allowed", message, headers=headers)
        return error_page(request, exc.status_code, "Request failed", str(exc.detail), headers=headers)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unexpected error on %s", request.url.path)
        message = "An unexpected error happened; the details are in the log."
        try:
            response = error_page(request, 500, "Something went wrong", message)
        except Exception:
            # The page's layout reads the login state, which may be what broke: answer in plain text.
            logger.exception("the error page itself failed on %s", request.url.path)
            response = PlainTextResponse(f"Something went wrong. {message}", status_code=500)
        # Starlette runs this handler outside every middleware, so SecurityMiddleware never sees the
        # answer: add its headers here.
        guard = SecurityMiddleware(request.app, request.app.state.web.settings)
        for key, value in guard.headers:
            response.headers.setdefault(key.decode("latin-1"), value.decode("latin-1"))
        return response

    app.add_exception_handler(WhoopkitError, on_whoopkit_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
