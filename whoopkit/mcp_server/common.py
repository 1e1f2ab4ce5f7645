"""What every tool module shares: argument types, the result envelope, freshness and score wording.

No ``from __future__ import annotations`` here: the argument aliases are evaluated by the SDK.
"""

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from whoopkit.analytics import RecoverySummary, day_window
from whoopkit.mcp_server.errors import PENDING_SCORE_EXPLANATION, UNSCORABLE_EXPLANATION
from whoopkit.mcp_server.schemas import DEMO_SOURCE, REAL_SOURCE, HistoryKind, ToolOutput
from whoopkit.mcp_server.state import StateContext
from whoopkit.text import MAX_NAME_CHARS, one_line

if TYPE_CHECKING:
    from whoopkit.service import Freshness, WhoopService

T = TypeVar("T")

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
DEMO_NOTE = " (Demo mode: simulated data, not your WHOOP account.)"
MAX_HISTORY_RECORDS = 500
WHOOP_EPOCH = date(2015, 1, 1)
"""The earliest day a tool accepts: no WHOOP data is older, and far older dates overflow date arithmetic."""

Ctx = StateContext
ToolFn = Callable[..., Awaitable[CallToolResult]]
# The ranges are the schemas' minimum and maximum, which the descriptions do not repeat.
Limit = Annotated[int, Field(description="How many records, newest first", ge=1, le=25)]
Days = Annotated[
    int,
    Field(
        description="How many days, counting back from `end` (default today) and including it; ignored "
        "when `start` is given",
        ge=1,
        le=365,
    ),
]
TrendDays = Annotated[int, Field(description="Window in days, ending today", ge=7, le=365)]
PeriodDays = Annotated[int, Field(description="Length of each period in days", ge=1, le=182)]
WeeksAgo = Annotated[int, Field(description="0 = the last 7 days, 1 = the 7 days before, …", ge=0, le=52)]
StartDay = Annotated[
    date | None, Field(description="First day, YYYY-MM-DD; omit to count `days` back from `end`")
]
EndDay = Annotated[date | None, Field(description="Last day, YYYY-MM-DD (included); omit for today")]
PeriodDay = Annotated[date | None, Field(description="YYYY-MM-DD; give all four period dates or none")]
Kind = Annotated[
    HistoryKind,
    Field(description="days (joined day rows), cycles (strain), recoveries, sleeps or workouts"),
]
MaxRecords = Annotated[
    int,
    Field(
        description="Cap on returned records; `truncated` tells if more exist",
        ge=1,
        le=MAX_HISTORY_RECORDS,
    ),
]
IncludePoints = Annotated[bool, Field(description="Also return every daily value (long output)")]


def envelope(service: "WhoopService", freshness: "Freshness | None") -> dict[str, Any]:
    """The fields every result carries: data source, ``as_of`` and ``stale`` (see ``ToolOutput``)."""
    return {
        "data_source": DEMO_SOURCE if service.demo else REAL_SOURCE,
        "as_of": freshness.as_of_iso if freshness else None,
        "stale": bool(freshness and freshness.stale),
    }


def note(service: "WhoopService", freshness: "Freshness | None") -> str:
    """What every summary ends with: how old stale data is and why, and the demo notice."""
    text = ""
    if freshness is not None and freshness.stale:
        text = " " + stale_sentence(freshness, service.now())
    return text + (DEMO_NOTE if service.demo else "")


def stale_sentence(freshness: "Freshness", now: datetime) -> str:
    """ "This is stored data from 2 h 5 min ago (…): <why>." for an answer that could not be refreshed."""
    why = (freshness.problem or "WHOOP could not be asked for newer data.").rstrip()
    if freshness.as_of is None:
        return f"This is stored data of unknown age: {why}"
    as_of = freshness.as_of.astimezone(UTC)
    return f"This is stored data last synced {age_words(now - as_of)} ago ({as_of:%Y-%m-%d %H:%M} UTC): {why}"


def age_words(age: timedelta) -> str:
    """A duration the way a person says it: "40 s", "12 min", "3 h 5 min", "2 days 4 h"."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


# Fields that carry WHOOP's free text (sport and member names): capped in every text block.
FREE_TEXT_FIELDS = frozenset({"sport", "sport_name", "first_name", "last_name", "email", "name"})


def _readable(value: Any, key: str = "") -> Any:
    # Clients that ignore structuredContent hand this JSON to the model as text, so outside text in it
    # is cut to one short line like in the summary; the raw value stays in structured_content only.
    if isinstance(value, str):
        return one_line(value, 120 if key == "email" else MAX_NAME_CHARS if key in FREE_TEXT_FIELDS else None)
    if isinstance(value, dict):
        return {k: _readable(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable(v, key) for v in value]
    return value


def content(out: ToolOutput) -> CallToolResult:
    """The readable text first, then the same data as JSON for clients that ignore structuredContent."""
    data = out.model_dump(mode="json")
    text = json.dumps(_readable(data), separators=(",", ":"), ensure_ascii=False)
    return CallToolResult(
        content=[TextContent(type="text", text=out.summary), TextContent(type="text", text=text)],
        structured_content=data,
    )


async def on_today(service: "WhoopService", read: Callable[[date], Awaitable[T]]) -> T:
    """``read(today)``, read again if the first read's sync taught the service the user's zone.

    Before the first sync the service only knows the machine's zone; the sync stores the user's
    cycles, whose offset may put "today" on another date. The second read is served from the store.
    """
    today = service.today()
    result = await read(today)
    corrected = service.today()
    return result if corrected == today else await read(corrected)


def resolve_range(days: int, start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The inclusive day range a tool covers: the last ``days`` days, or ``start``..``end``.

    Raises:
        ToolError: the dates are reversed, before 2015, in the future or span more than 365 days.
    """
    for name, day in (("start", start), ("end", end)):
        if day is not None and day < WHOOP_EPOCH:
            raise ToolError(
                f"{name} {day.isoformat()} is before {WHOOP_EPOCH.isoformat()}; WHOOP has no data that old. "
                f"Use a day from {WHOOP_EPOCH.isoformat()} to {today.isoformat()}."
            )
    # Local time runs up to 14 h ahead of UTC, so a date a day past the user's today is still allowed.
    latest = today + timedelta(days=1)
    if end is None:
        end = today if start is None or start <= today else start
    if start is None:
        # Counted back from an early end, the range stops at WHOOP's first day, not before it.
        start = max(day_window(end, days)[0], WHOOP_EPOCH)
    if start > latest:
        raise ToolError(f"start {start.isoformat()} is in the future (today is {today}); use a past day.")
    if end > latest:
        raise ToolError(f"end {end.isoformat()} is in the future (today is {today}); omit end to mean today.")
    if start > end:
        raise ToolError(
            f"start {start.isoformat()} is after end {end.isoformat()}; put the earlier day first."
        )
    if (end - start).days + 1 > 365:
        raise ToolError(f"{start}..{end} spans more than 365 days; ask for a shorter range.")
    return start, end


def fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    """A number with its unit, or "n/a"."""
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def score(value: float | None, state: str, unit: str = "", digits: int = 0) -> str:
    """A score, or why there is none: WHOOP may not have scored the record yet."""
    if value is not None:
        return f"{value:.{digits}f}{unit}"
    return {"PENDING_SCORE": "pending score", "UNSCORABLE": "unscorable"}.get(state, "n/a")


def state_sentence(what: str, state: str) -> str:
    """Why ``what`` has no score, with WHOOP's meaning of the state."""
    if state == "PENDING_SCORE":
        return f"{what} is PENDING_SCORE. {PENDING_SCORE_EXPLANATION}"
    if state == "UNSCORABLE":
        return f"{what} is UNSCORABLE. {UNSCORABLE_EXPLANATION}"
    return f"{what} is missing."


def recovery_sentence(item: RecoverySummary) -> str:
    """One recovery in words: %, zone, HRV and resting heart rate, or why it has no score."""
    day = item.day or "the latest cycle"
    if item.state != "SCORED":
        return state_sentence(f"Recovery for {day}", item.state)
    return (
        f"Recovery {fmt(item.recovery_pct, '%')} ({item.zone}) for {day}: "
        f"HRV {fmt(item.hrv_ms, ' ms', 1)}, "
        f"resting HR {fmt(item.resting_hr_bpm, ' bpm')}."
    )
