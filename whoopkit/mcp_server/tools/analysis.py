"""Analysis tools over day rows: trends, period comparison, the weekly report and training readiness.

Day rows come from ``service.days`` (``analytics.build_days`` inside the service), so every tool and
the web app join records to days the same way.

No ``from __future__ import annotations`` here: the SDK evaluates the tool signatures at registration.
"""

from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult

from whoopkit import analytics
from whoopkit.analytics import DaySummary
from whoopkit.mcp_server.common import (
    Ctx,
    IncludePoints,
    PeriodDay,
    PeriodDays,
    ToolFn,
    TrendDays,
    WeeksAgo,
    content,
    envelope,
    note,
    on_today,
    resolve_range,
)
from whoopkit.mcp_server.schemas import CompareOut, ReadinessOut, TrendsOut, WeeklyOut
from whoopkit.mcp_server.state import service_of

if TYPE_CHECKING:
    from whoopkit.service import Answer, Freshness

BASELINE_DAYS = analytics.BASELINE_DAYS  # the personal baseline: the 30 days before today
BASELINE_HISTORY_DAYS = 60
# Periods further apart than this are read separately: the months between would only cost sync.
ADJACENT_GAP_DAYS = 7


def _strip_points(report: analytics.TrendReport) -> None:
    for trend in report.metrics():
        trend.points = []


def _worst(first: "Freshness", second: "Freshness") -> "Freshness":
    """The less fresh of two answers: a stale one, else the one synced longer ago."""
    if first.stale != second.stale:
        return first if first.stale else second
    if first.as_of is None or second.as_of is None:
        return first if first.as_of is None else second
    return first if first.as_of <= second.as_of else second


async def get_trends(
    ctx: Ctx, days: TrendDays = 30, include_points: IncludePoints = False
) -> Annotated[CallToolResult, TrendsOut]:
    """Trends over the last `days` days of recovery, HRV, resting HR, sleep, strain, workouts and more:
    per metric mean, median, min/max, baseline (mean of the 30 days before the latest day), slope per
    week, direction and outlier days.
    """
    service = await service_of(ctx)

    async def read(today: date) -> "tuple[date, Answer[list[DaySummary]]]":
        # The outlier scale comes from at least BASELINE_HISTORY_DAYS of data, and the baseline from the
        # 30 days before the latest day: a short window is extended into the days before it.
        first = today - timedelta(days=max(days, BASELINE_HISTORY_DAYS) - 1)
        return today, await service.days(first, today)

    today, answer = await on_today(service, read)
    report = analytics.compute_trends(answer.data, window_days=days, end=today)
    if not include_points:
        _strip_points(report)
    main = (report.recovery, report.hrv, report.resting_hr, report.sleep_hours, report.strain)
    text = f"Trends over {days} days ({report.days_in_window} days with data): " + " ".join(
        t.summary for t in main
    )
    return content(
        TrendsOut(
            **envelope(service, answer.freshness),
            summary=text + note(service, answer.freshness),
            truncated=False,
            trends=report,
        )
    )


async def compare_periods(
    ctx: Ctx,
    days: PeriodDays = 7,
    first_start: PeriodDay = None,
    first_end: PeriodDay = None,
    second_start: PeriodDay = None,
    second_end: PeriodDay = None,
) -> Annotated[CallToolResult, CompareOut]:
    """Compare two periods, the last `days` days with the `days` before them or first_start..first_end
    with second_start..second_end: per metric both means, the change, better, worse or unchanged.
    """
    explicit = (first_start, first_end, second_start, second_end)
    if any(d is not None for d in explicit) and any(d is None for d in explicit):
        raise ToolError(
            "Give all four of first_start, first_end, second_start and second_end, or none of them "
            "(then the last `days` days are compared with the `days` before)."
        )
    service = await service_of(ctx)
    _periods(days, explicit, service.today())  # bad dates fail before anything is synced

    async def read(today: date) -> "tuple[tuple[date, date], tuple[date, date], list[DaySummary], Freshness]":
        a, b = _periods(days, explicit, today)
        if max(a[0], b[0]) - min(a[1], b[1]) <= timedelta(days=ADJACENT_GAP_DAYS):
            both = await service.days(min(a[0], b[0]), max(a[1], b[1]))
            return a, b, both.data, both.freshness
        got_a = await service.days(*a)
        got_b = await service.days(*b)
        return a, b, got_a.data + got_b.data, _worst(got_a.freshness, got_b.freshness)

    a, b, rows, freshness = await on_today(service, read)
    rows_a = [r for r in rows if a[0] <= r.date <= a[1]]
    rows_b = [r for r in rows if b[0] <= r.date <= b[1]]
    label_a, label_b = f"{a[0]}..{a[1]}", f"{b[0]}..{b[1]}"
    comparison = analytics.compare_periods(rows_a, rows_b, label_a, label_b)
    changed = comparison.highlights or ["No metric changed noticeably."]
    return content(
        CompareOut(
            **envelope(service, freshness),
            summary=f"{label_b} compared with {label_a}: " + " ".join(changed) + note(service, freshness),
            truncated=False,
            comparison=comparison,
        )
    )


def _periods(
    days: int, explicit: tuple[date | None, ...], today: date
) -> tuple[tuple[date, date], tuple[date, date]]:
    """The two inclusive periods to compare.

    Raises:
        ToolError: a date is invalid, or the periods together span more than 365 days.
    """
    first_start, first_end, second_start, second_end = explicit
    if first_start is not None:
        a = resolve_range(days, first_start, first_end, today)
        b = resolve_range(days, second_start, second_end, today)
    else:
        b = analytics.day_window(today, days)
        a = (b[0] - timedelta(days=days), b[0] - timedelta(days=1))
    if (max(a[1], b[1]) - min(a[0], b[0])).days + 1 > 365:
        raise ToolError("The two periods together span more than 365 days; choose closer periods.")
    return a, b


async def get_weekly_report(ctx: Ctx, weeks_ago: WeeksAgo = 0) -> Annotated[CallToolResult, WeeklyOut]:
    """A week in review: recovery (average, zones, best/worst day), sleep, strain, workouts by sport.

    Includes the comparison with the week before.
    """
    service = await service_of(ctx)

    async def read(today: date) -> "tuple[date, Answer[list[DaySummary]]]":
        week_end = today - timedelta(days=7 * weeks_ago)
        return week_end, await service.days(week_end - timedelta(days=13), week_end)

    week_end, answer = await on_today(service, read)
    report = analytics.weekly_report(answer.data, week_end=week_end)
    text = f"Week {report.week_start}..{report.week_end}: " + " ".join(report.highlights)
    return content(
        WeeklyOut(
            **envelope(service, answer.freshness),
            summary=text + note(service, answer.freshness),
            truncated=False,
            report=report,
        )
    )


async def should_i_train_today(ctx: Ctx) -> Annotated[CallToolResult, ReadinessOut]:
    """Push, maintain or recover today, with a day-strain target and the reasons: recovery zone, HRV and
    resting HR vs 30-day baselines, last night's sleep, acute:chronic strain.
    """
    service = await service_of(ctx)
    answer = await on_today(service, lambda today: service.days(today - timedelta(days=BASELINE_DAYS), today))
    if not answer.data:
        raise ToolError(
            "WHOOP has no data for the last 30 days: wear the strap and sync it in the WHOOP app."
        )
    today_row = answer.data[0]
    readiness = analytics.training_readiness(
        today_row, baselines=analytics.baselines(answer.data, today_row.date)
    )
    text = readiness.recommendation + " " + " ".join(readiness.rationale)
    return content(
        ReadinessOut(
            **envelope(service, answer.freshness),
            summary=text + note(service, answer.freshness),
            readiness=readiness,
            today=today_row,
        )
    )


TOOLS: list[tuple[ToolFn, str]] = [
    (get_trends, "Trends"),
    (compare_periods, "Compare periods"),
    (get_weekly_report, "Weekly report"),
    (should_i_train_today, "Should I train today?"),
]
