"""The four range views (strain, workouts, sleep, recovery over 1..365 days): charts and a table.

Each renders from the store through the service, and ``?format=csv`` downloads the table it shows.
A value WHOOP re-scored since sync first saw it says so in its row (``service.score_changes``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response

from whoopkit.analytics import ScoreChange
from whoopkit.service import Answer, WhoopService
from whoopkit.web import pages
from whoopkit.web.deps import RANGE_CHOICES, DaysDep, Format, FormatDep, ServiceDep
from whoopkit.web.errors import render
from whoopkit.web.routers.common import freshness_of

router = APIRouter()
T = TypeVar("T")


async def _read(
    service: WhoopService, days: int, fetch: Callable[[date, date], Awaitable[Answer[T]]]
) -> tuple[Answer[T], date]:
    """``fetch`` of the WHOOP days a range view covers (``service.window``), and the user's today.

    Before the first sync "today" is the machine's date; the sync stores the user's cycles, whose zone
    may put today on another date. Then the window is read again (from the store), like the tools do,
    so the first page of a fresh store shows the same days as every later one.
    """
    service.require_login()  # a cheap local check, so a logged-out page fails fast with the banner
    await service.user_id()  # "today" is in the user's zone, known once the user is
    start, today = service.window(days)
    answer = await fetch(start, today)
    if service.today() != today:
        start, today = service.window(days)
        answer = await fetch(start, today)
    return answer, today


def _changes(service: WhoopService, days: int, today: date, fmt: Format) -> dict[date, list[ScoreChange]]:
    """WHOOP's re-scores of the days shown (read from the store only; the CSV has no place for them)."""
    if fmt == "csv":
        return {}
    return service.score_changes(today - timedelta(days=days - 1), today)


def _cell(value: object) -> object:
    if value is None:
        return ""  # a missing or unscored value is empty, never 0
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        # Text from WHOOP (a sport name) must not run as a formula when the file opens in a spreadsheet.
        return "'" + value
    return value


def csv_text(export: dict[str, Any]) -> str:
    """The view's table as CSV: a header row with units in the names, one row per table row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(export["columns"])
    for row in export["rows"]:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _answer(
    request: Request,
    service: WhoopService,
    answer: Answer[Any],
    context: dict[str, Any],
    *,
    days: int,
    fmt: Format,
) -> Response:
    export = context.pop("export")
    if fmt == "csv":
        return Response(
            csv_text(export),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="{export["filename"]}"',
                "cache-control": "no-store",
            },
        )
    return render(
        request,
        "records.html",
        title=f"{context['heading']}, last {days} days",
        days=days,
        range_choices=RANGE_CHOICES,
        csv_href=f"{request.url.path}?days={days}&format=csv",
        freshness=freshness_of(service, answer),
        **context,
    )


@router.get("/cycles-view")
async def cycles_view(request: Request, days: DaysDep, fmt: FormatDep, service: ServiceDep) -> Response:
    """Day strain over the range: a chart and a table (``?format=csv``: the table as CSV)."""
    answer, today = await _read(service, days, service.cycles)
    context = pages.cycles_view(
        answer.data, days=days, today=today, changes=_changes(service, days, today, fmt)
    )
    return _answer(request, service, answer, context, days=days, fmt=fmt)


@router.get("/workouts-view")
async def workouts_view(request: Request, days: DaysDep, fmt: FormatDep, service: ServiceDep) -> Response:
    """Workouts over the range: a chart and a table (``?format=csv``: the table as CSV)."""
    answer, today = await _read(service, days, service.workouts)
    context = pages.workouts_view(
        answer.data, days=days, today=today, changes=_changes(service, days, today, fmt)
    )
    return _answer(request, service, answer, context, days=days, fmt=fmt)


@router.get("/sleep-view")
async def sleep_view(request: Request, days: DaysDep, fmt: FormatDep, service: ServiceDep) -> Response:
    """Sleep over the range: stages, performance and a table (``?format=csv``: the table as CSV)."""
    answer, today = await _read(service, days, service.sleeps)
    context = pages.sleep_view(
        answer.data, days=days, today=today, changes=_changes(service, days, today, fmt)
    )
    return _answer(request, service, answer, context, days=days, fmt=fmt)


@router.get("/recovery-view")
async def recovery_view(request: Request, days: DaysDep, fmt: FormatDep, service: ServiceDep) -> Response:
    """Recovery, HRV and resting HR over the range from the day rows (``?format=csv``: the table)."""
    answer, today = await _read(service, days, service.days)
    context = pages.recovery_view(
        answer.data, days=days, today=today, changes=_changes(service, days, today, fmt)
    )
    return _answer(request, service, answer, context, days=days, fmt=fmt)
