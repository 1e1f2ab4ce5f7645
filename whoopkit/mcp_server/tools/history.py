"""``get_history``: the records of a date range, newest first, from the local store.

Day rows carry ``score_changes``: the sentences of WHOOP's later re-scores of that day's records.

No ``from __future__ import annotations`` here: the SDK evaluates the tool signatures at registration.
"""

from datetime import date, timedelta
from typing import Annotated, Any

from mcp.types import CallToolResult

from whoopkit import analytics
from whoopkit.mcp_server.common import (
    Ctx,
    Days,
    EndDay,
    Kind,
    MaxRecords,
    StartDay,
    ToolFn,
    content,
    envelope,
    note,
    on_today,
    resolve_range,
)
from whoopkit.mcp_server.schemas import HistoryDay, HistoryKind, HistoryOut
from whoopkit.mcp_server.state import service_of


async def get_history(
    ctx: Ctx,
    kind: Kind = "days",
    days: Days = 7,
    start: StartDay = None,
    end: EndDay = None,
    max_records: MaxRecords = 100,
) -> Annotated[CallToolResult, HistoryOut]:
    """Records of the last `days` days, or of `start`..`end` (YYYY-MM-DD, both included), newest first.

    kind=days gives one joined row per WHOOP day (strain, recovery, sleep, workouts); the other kinds
    give the raw records in plain units. Fetched in concurrent date windows; `truncated` is true when
    more than `max_records` matched.
    """
    service = await service_of(ctx)
    resolve_range(days, start, end, service.today())  # bad dates fail before anything is synced

    async def read(today: date) -> HistoryOut:
        first, last = resolve_range(days, start, end, today)
        return await _history(service, kind, first, last, max_records)

    out = await on_today(service, read)
    return content(out)


async def _history(service: Any, kind: HistoryKind, first: date, last: date, max_records: int) -> HistoryOut:
    items: list[Any]
    truncated = False
    if kind == "days":
        # At most one row per day: days older than the newest max_records cannot be returned, so they
        # are not read (nor synced, which for a year of four collections would cost rate limit).
        newest = max(first, last - timedelta(days=max_records - 1))
        answer: Any = await service.days(newest, last)
        changes = service.score_changes(newest, last)
        items = [
            HistoryDay(**dict(day), score_changes=[c.sentence for c in changes.get(day.date, [])])
            for day in answer.data
        ]
        truncated = newest > first
        fields: dict[str, Any] = {"days": items}
    elif kind == "cycles":
        answer = await service.cycles(first, last)
        items = [analytics.summarize_strain(c) for c in answer.data]
        fields = {"cycles": items}
    elif kind == "sleeps":
        answer = await service.sleeps(first, last)
        items = [analytics.summarize_sleep(s) for s in answer.data]
        fields = {"sleeps": items}
    elif kind == "workouts":
        answer = await service.workouts(first, last)
        items = [analytics.summarize_workout(w) for w in answer.data]
        fields = {"workouts": items}
    else:
        answer = await service.recoveries(first, last)
        # The recoveries' read refreshed their cycles too; these date them.
        cycles = service.stored_cycles(first - timedelta(days=1), last + timedelta(days=1))
        items = [analytics.summarize_recovery(r, cycles) for r in answer.data]
        fields = {"recoveries": items}
    if len(items) > max_records:
        del items[max_records:]
        truncated = True
    text = f"{len(items)} {kind} from {first} to {last}"
    if truncated:
        text += f" (truncated at {max_records}: raise max_records or narrow the range for the rest)"
    rescored = sum(1 for item in items if isinstance(item, HistoryDay) and item.score_changes)
    if rescored:
        text += f"; WHOOP re-scored {rescored} of these days after first scoring them (see score_changes)"
    return HistoryOut(
        **envelope(service, answer.freshness),
        summary=text + "." + note(service, answer.freshness),
        kind=kind,
        start=first,
        end=last,
        count=len(items),
        truncated=truncated,
        **fields,
    )


TOOLS: list[tuple[ToolFn, str]] = [(get_history, "History")]
