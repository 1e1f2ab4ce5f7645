"""FastAPI dependencies and their ``Annotated`` aliases, as in FastAPI's full-stack template.

Routes declare what they need (``service: ServiceDep``, ``days: DaysDep``) instead of digging in
``request.app.state``; the app's lifespan builds what these hand out. ``WebDep`` is the app's own
state (templates, login states, the insight cache), ``ServiceDep`` the one data service.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import Depends, Request

from whoopkit.config import Settings
from whoopkit.errors import NotLoggedInError
from whoopkit.service import WhoopService
from whoopkit.web.errors import BadRequestError
from whoopkit.web.state import WebState

SESSION_COOKIE = "whoopkit_sid"  # hosted mode's session (whoopkit.hosted.accounts.SESSION_COOKIE)

RANGE_CHOICES = (7, 30, 90, 365)
DEFAULT_DAYS = 30
MAX_DAYS = 365
_DAYS_RE = re.compile(r"[0-9]{1,3}")

Format = Literal["html", "csv"]


def get_web(request: Request) -> WebState:
    """The app's shared state (settings, service, templates, login states)."""
    web: WebState = request.app.state.web
    return web


WebDep = Annotated[WebState, Depends(get_web)]


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return get_web(request).settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_optional_service(request: Request) -> WhoopService | None:
    """The service of this request, or None when hosted and nobody is signed in on this browser.

    Locally that is the one data service built in the lifespan; hosted, it is the signed-in user's own
    (pinned to their user id, so no route can reach another user's rows).

    Raises:
        WhoopkitError: it could not be built at start-up (the error page says why), or the session store
            is unreachable.
    """
    web = get_web(request)
    if not web.hosted:
        return web.require_service()
    accounts = web.require_accounts()
    user_id = await accounts.user_for_session(request.cookies.get(SESSION_COOKIE))
    if user_id is None:
        return None
    service = accounts.runtime.service_for(user_id)
    request.state.service = service
    request.state.user_id = user_id
    return service


async def get_service(request: Request) -> WhoopService:
    """The data service of this request (the routes' only way to WHOOP data).

    Raises:
        WhoopkitError: it could not be built at start-up (the error page says why).
        NotLoggedInError: hosted, and this browser is not signed in.
    """
    service = await get_optional_service(request)
    if service is None:
        raise NotLoggedInError("You are not signed in.")
    return service


ServiceDep = Annotated[WhoopService, Depends(get_service)]
OptionalServiceDep = Annotated[WhoopService | None, Depends(get_optional_service)]


def parse_days(raw: str | list[str] | None) -> int:
    """``?days=``: one of 7/30/90/365 or any whole number 1..365; anything else is a 400.

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
            f"The range must be 7, 30, 90, 365 or a whole number of days from 1 to {MAX_DAYS}; "
            f"got {raw[:20]!r}."
        )
    return int(raw)


def get_days(request: Request) -> int:
    """The range view's ``?days=`` (see :func:`parse_days`).

    Raises:
        BadRequestError: the value is not a whole number of days from 1 to 365.
    """
    return parse_days(request.query_params.getlist("days"))


DaysDep = Annotated[int, Depends(get_days)]


def get_format(request: Request) -> Format:
    """``?format=``: ``html`` (the default) or ``csv`` (a download of the table).

    Raises:
        BadRequestError: any other value, or conflicting repeats.
    """
    values = request.query_params.getlist("format")
    if len(set(values)) > 1:
        raise BadRequestError("The format was given more than once with different values; give it once.")
    value = values[0].lower() if values else ""
    if value in ("", "html"):
        return "html"
    if value == "csv":
        return "csv"
    raise BadRequestError(f"The format must be html or csv; got {values[0][:20]!r}.")


FormatDep = Annotated[Format, Depends(get_format)]
