"""The WHOOP MCP server: tools, resources and prompts over one shared WhoopClient.

Built with the official SDK's ``MCPServer``. Every tool returns ``Annotated[CallToolResult, Model]``:
clients get the model's JSON schema as ``outputSchema``, the data as ``structuredContent`` and a short
readable text. Records are summarised and analysed by ``whoopkit.analytics``; this module only fetches
(concurrently, through the client's TTL cache), calls analytics and words the result.

No ``from __future__ import annotations`` here: the SDK evaluates the tool signatures at registration.
"""

import asyncio
import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from mcp.types import Tool as MCPTool
from pydantic import Field

from whoopkit import analytics
from whoopkit.analytics import DaySummary, RecoverySummary
from whoopkit.config import Settings, get_settings
from whoopkit.errors import LOGIN_URL, AuthError, ConfigError, NotLoggedInError, RateLimitedError
from whoopkit.mcp_server.arguments import ArgumentChecker
from whoopkit.mcp_server.errors import (
    PENDING_SCORE_EXPLANATION,
    UNSCORABLE_EXPLANATION,
    explain,
    resource_errors,
    tool_errors,
)
from whoopkit.mcp_server.schemas import (
    DEMO_SOURCE,
    REAL_SOURCE,
    AuthStatusOut,
    BodyOut,
    CompareOut,
    CyclesOut,
    HealthSummaryOut,
    HistoryKind,
    HistoryOut,
    ProfileOut,
    ReadinessOut,
    RecoveryOut,
    SleepOut,
    StrainOut,
    ToolOutput,
    TrendsOut,
    WeeklyOut,
    WorkoutsOut,
)
from whoopkit.models import UserBodyMeasurement

if TYPE_CHECKING:
    from whoopkit.client import WhoopClient
    from whoopkit.runtime import Whoop

logger = logging.getLogger(__name__)

SERVER_NAME = "whoop"
INSTRUCTIONS = (
    "Read-only access to the user's WHOOP data (recovery, strain, sleep, workouts, trends). "
    "Start with get_health_summary for 'how am I today' and should_i_train_today for training advice; "
    "use get_trends, compare_periods and get_weekly_report for longer views and get_history for raw "
    "records. Units are in the field names: hours, minutes, %, bpm, ms (HRV), kJ and kcal. WHOOP days "
    "run from falling asleep to falling asleep, labelled with the day woken into. If data_source is "
    f"'{DEMO_SOURCE}', tell the user the data is simulated, not theirs."
)
READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)

# Fixed page sizes, so that different tools hit the same cache entries.
RECENT = 3  # cycles and recoveries: today, and enough to find the newest scored one
RECENT_SLEEPS = 10  # WhoopClient.latest_sleep asks for 10 too, so they share one request
SUMMARY_WORKOUTS = 3
MAX_HISTORY_RECORDS = 500
MAX_RANGE_RECORDS = 1000
BASELINE_DAYS = 30
BASELINE_HISTORY_DAYS = 60

Limit = Annotated[int, Field(description="How many records, newest first (1-25)", ge=1, le=25)]
Days = Annotated[
    int,
    Field(
        description="How many days, counting back from `end` (default today) and including it (1-365); "
        "ignored when `start` is given",
        ge=1,
        le=365,
    ),
]
TrendDays = Annotated[int, Field(description="Window in days, ending today (7-365)", ge=7, le=365)]
PeriodDays = Annotated[int, Field(description="Length of each period in days (1-182)", ge=1, le=182)]
WeeksAgo = Annotated[
    int, Field(description="0 = the last 7 days, 1 = the 7 days before, … (0-52)", ge=0, le=52)
]
StartDay = Annotated[
    date | None, Field(description="First day, YYYY-MM-DD; omit to count `days` back from `end`")
]
EndDay = Annotated[date | None, Field(description="Last day, YYYY-MM-DD (included); omit for today")]
PeriodDay = Annotated[
    date | None, Field(description="A day as YYYY-MM-DD; give all four period dates or none of them")
]
Kind = Annotated[
    HistoryKind,
    Field(description="days (joined day rows), cycles (strain), recoveries, sleeps or workouts"),
]
MaxRecords = Annotated[
    int,
    Field(
        description=f"Cap on returned records (1-{MAX_HISTORY_RECORDS}); `truncated` tells if more exist",
        ge=1,
        le=MAX_HISTORY_RECORDS,
    ),
]
IncludePoints = Annotated[bool, Field(description="Also return every daily value (long output)")]


class WhoopMCPServer(MCPServer[Any]):
    """``MCPServer`` that checks tool arguments strictly before the SDK's lenient validation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.argument_checkers: dict[str, ArgumentChecker] = {}

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Call a tool once its arguments pass :class:`ArgumentChecker`.

        Raises:
            ToolError: unknown tool, bad arguments, or the tool failed (the server turns it into isError).
        """
        checker = self.argument_checkers.get(name)
        if checker is not None:
            checker.check(arguments)
        return await super().call_tool(name, arguments, context)

    async def list_tools(self) -> list[MCPTool]:
        """The tools, each input schema closed to unknown arguments (``call_tool`` rejects them)."""
        tools = await super().list_tools()
        for tool in tools:
            if tool.name in self.argument_checkers:
                tool.input_schema = {**tool.input_schema, "additionalProperties": False}
        return tools


class WhoopProvider:
    """The process's one WHOOP stack, built on first use and closed with the server."""

    def __init__(self, settings: Settings, whoop: "Whoop | None" = None) -> None:
        self.settings = settings
        self._whoop = whoop
        self._owned = False
        self._lock = asyncio.Lock()

    @property
    def demo(self) -> bool:
        """Whether results come from the embedded fake."""
        if self._whoop is not None:
            return self._whoop.demo
        from whoopkit.runtime import is_demo

        return is_demo(self.settings)

    async def get(self) -> "Whoop":
        """The WHOOP stack; in demo mode, logged in to the embedded fake.

        Raises:
            ConfigError: the settings cannot build a client.
            OAuthError: the demo login failed.
        """
        if self._whoop is not None:
            return self._whoop
        async with self._lock:
            if self._whoop is None:
                from whoopkit import runtime  # deferred: keeps initialize/list_tools fast

                whoop = runtime.build_whoop(self.settings)
                if whoop.demo:
                    try:
                        await runtime.demo_login(whoop)
                    except BaseException:
                        await whoop.aclose()
                        raise
                self._whoop, self._owned = whoop, True
                _warm_up_models()
        return self._whoop

    async def client(self) -> "WhoopClient":
        """The shared API client (one per process, so its TTL cache serves every tool).

        Raises:
            NotLoggedInError: the token cache is gone or unusable, e.g. after a logout in the web app.
        """
        whoop = await self.get()
        try:
            # A cheap local check (like the web pages'): the client's cache would otherwise keep
            # answering for up to a minute after the user logged out in the web app.
            whoop.tokens.current()
        except NotLoggedInError:
            whoop.client.clear_cache()
            raise
        return whoop.client

    async def aclose(self) -> None:
        """Close the stack if this provider built it (an injected one belongs to the caller)."""
        if self._owned and self._whoop is not None:
            whoop, self._whoop, self._owned = self._whoop, None, False
            await whoop.aclose()


def _warm_up_models() -> None:
    """Build the parametrised page models once, with the stack, rather than inside the first data call."""
    from whoopkit.client import Collected
    from whoopkit.models import Cycle, Page, Recovery, Sleep, Workout

    for record in (Cycle, Recovery, Sleep, Workout):
        Page[record]  # type: ignore[valid-type]  # pydantic caches each parametrisation
        Collected[record]  # type: ignore[valid-type]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def resolve_range(days: int, start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The inclusive day range a tool covers: the last ``days`` days, or ``start``..``end``.

    Raises:
        ToolError: the dates are reversed, in the future or span more than 365 days.
    """
    # Local time runs up to 14 h ahead of UTC, so the user's "today" may be UTC's tomorrow.
    latest = today + timedelta(days=1)
    if end is None:
        end = today if start is None or start <= today else start
    if start is None:
        start = end - timedelta(days=days - 1)
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


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def query_window(start: date, end: date, today: date) -> tuple[datetime, datetime | None]:
    """UTC bounds that surely contain every record whose WHOOP day is in ``start..end``.

    A day of slack on each side covers any timezone and the sleep-onset shift of WHOOP days; an end
    that reaches today stays open, so repeated calls hit the same cache entries.
    """
    lo = _midnight(start - timedelta(days=1))
    hi = None if end >= today else _midnight(end + timedelta(days=2))
    return lo, hi


@dataclass
class DayRows:
    """Joined day rows of a range, newest first."""

    rows: list[DaySummary]
    truncated: bool


async def fetch_days(client: "WhoopClient", start: date, end: date, today: date) -> DayRows:
    """Every WHOOP day in ``start..end`` with cycle, recovery, sleep and workouts, in one concurrent round."""
    lo, hi = query_window(start, end, today)
    cycles, recoveries, sleeps, workouts = await asyncio.gather(
        client.cycles(lo, hi, max_records=MAX_RANGE_RECORDS),
        client.recoveries(lo, hi, max_records=MAX_RANGE_RECORDS),
        client.sleeps(lo, hi, max_records=MAX_RANGE_RECORDS),
        client.workouts(lo, hi, max_records=MAX_RANGE_RECORDS),
    )
    rows = analytics.build_days(cycles.records, recoveries.records, sleeps.records, workouts.records)
    truncated = cycles.truncated or recoveries.truncated or sleeps.truncated or workouts.truncated
    return DayRows([r for r in rows if start <= r.date <= end], truncated)


def _content(out: ToolOutput) -> CallToolResult:
    """The readable text first, then the same data as JSON for clients that ignore structuredContent."""
    data = out.model_dump(mode="json")
    return CallToolResult(
        content=[
            TextContent(type="text", text=out.summary),
            TextContent(type="text", text=json.dumps(data, separators=(",", ":"), ensure_ascii=False)),
        ],
        structured_content=data,
    )


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def _score(value: float | None, state: str, unit: str = "", digits: int = 0) -> str:
    """A score, or why there is none: WHOOP may not have scored the record yet."""
    if value is not None:
        return f"{value:.{digits}f}{unit}"
    return {"PENDING_SCORE": "pending score", "UNSCORABLE": "unscorable"}.get(state, "n/a")


def _state_sentence(what: str, state: str) -> str:
    if state == "PENDING_SCORE":
        return f"{what} is PENDING_SCORE. {PENDING_SCORE_EXPLANATION}"
    if state == "UNSCORABLE":
        return f"{what} is UNSCORABLE. {UNSCORABLE_EXPLANATION}"
    return f"{what} is missing."


def _recovery_sentence(item: RecoverySummary) -> str:
    day = item.day or "the latest cycle"
    if item.state != "SCORED":
        return _state_sentence(f"Recovery for {day}", item.state)
    return (
        f"Recovery {_fmt(item.recovery_pct, '%')} ({item.zone}) for {day}: "
        f"HRV {_fmt(item.hrv_ms, ' ms', 1)}, "
        f"resting HR {_fmt(item.resting_hr_bpm, ' bpm')}."
    )


def _body_out(source: str, summary_suffix: str, body: UserBodyMeasurement) -> BodyOut:
    return BodyOut(
        data_source=source,
        summary=(
            f"Height {body.height_meter * 100:.0f} cm, weight {body.weight_kilogram:.1f} kg, "
            f"max heart rate {body.max_heart_rate} bpm." + summary_suffix
        ),
        height_cm=round(body.height_meter * 100, 1),
        weight_kg=round(body.weight_kilogram, 1),
        max_heart_rate_bpm=body.max_heart_rate,
        bmi=round(body.weight_kilogram / body.height_meter**2, 1),
    )


def _strip_points(report: analytics.TrendReport) -> None:
    for trend in report.metrics():
        trend.points = []


ToolFn = Callable[..., Awaitable[CallToolResult]]


def create_server(
    settings: Settings | None = None,
    whoop: "Whoop | None" = None,
    *,
    clock: Callable[[], datetime] = _utc_now,
) -> MCPServer[Any]:
    """Build the WHOOP MCP server; ``whoop`` injects a ready stack (tests), else one is built on first use.

    ``clock`` says what "today" is for day ranges (tests pin it to the fake's clock).

    Raises:
        ConfigError: ``WHOOP_MCP_TOOLS`` names a tool that does not exist.
    """
    settings = settings or get_settings()
    provider = WhoopProvider(settings, whoop)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[WhoopProvider]:
        try:
            yield provider
        finally:
            await provider.aclose()

    server = WhoopMCPServer(
        SERVER_NAME, title="WHOOP", instructions=INSTRUCTIONS, version="0.1.0", lifespan=lifespan
    )

    def source() -> tuple[str, str]:
        """(data_source, the note every summary ends with)."""
        if provider.demo:
            return DEMO_SOURCE, " (Demo mode: simulated data, not your WHOOP account.)"
        return REAL_SOURCE, ""

    def today() -> date:
        return clock().astimezone(UTC).date()

    # ------------------------------------------------------------------ the brief's eight tools

    async def get_user_profile() -> Annotated[CallToolResult, ProfileOut]:
        """Your WHOOP profile: name, email and user id."""
        profile = await (await provider.client()).get_profile()
        src, note = source()
        return _content(
            ProfileOut(
                data_source=src,
                summary=f"WHOOP member {profile.first_name} {profile.last_name} ({profile.email}).{note}",
                user_id=profile.user_id,
                first_name=profile.first_name,
                last_name=profile.last_name,
                email=profile.email,
            )
        )

    async def get_recovery_score() -> Annotated[CallToolResult, RecoveryOut]:
        """Today's recovery: score %, green/yellow/red zone, HRV (ms), resting HR (bpm), SpO2 %, skin temp °C.

        If it is not scored yet (PENDING_SCORE) the newest scored recovery is included as well.
        """
        client = await provider.client()
        recoveries, cycles = await asyncio.gather(
            client.list_recoveries(limit=RECENT), client.list_cycles(limit=RECENT)
        )
        if not recoveries.records:
            raise ToolError(
                "WHOOP has no recovery yet: recovery is computed from a night's sleep, so wear the strap "
                "overnight and sync it in the WHOOP app."
            )
        items = [analytics.summarize_recovery(r, cycles.records) for r in recoveries.records]
        latest = items[0]
        scored = next((i for i in items if i.state == "SCORED"), None)
        text = _recovery_sentence(latest)
        if latest.state != "SCORED" and scored is not None:
            text += " Newest scored: " + _recovery_sentence(scored)
        src, note = source()
        return _content(
            RecoveryOut(
                data_source=src,
                summary=text + note,
                latest=latest,
                latest_scored=scored if latest.state != "SCORED" else None,
            )
        )

    async def get_current_strain() -> Annotated[CallToolResult, StrainOut]:
        """Day strain so far in the current cycle (0-21 scale), energy (kJ, kcal), heart rate (bpm)."""
        page = await (await provider.client()).list_cycles(limit=RECENT)
        if not page.records:
            raise ToolError("WHOOP has no cycle yet: wear the strap and sync it in the WHOOP app.")
        item = analytics.summarize_strain(page.records[0])
        if item.strain is None:
            text = _state_sentence(f"The current cycle (since {item.start_local:%Y-%m-%d %H:%M})", item.state)
        else:
            when = "so far today" if item.open else "for the last cycle"
            text = (
                f"Day strain {item.strain:.1f}/21 ({item.strain_level}) {when}, since "
                f"{item.start_local:%Y-%m-%d %H:%M}: {_fmt(item.energy_kcal, ' kcal')} "
                f"({_fmt(item.energy_kj, ' kJ')}), average HR {_fmt(item.avg_hr_bpm, ' bpm')}."
            )
        src, note = source()
        return _content(StrainOut(data_source=src, summary=text + note, cycle=item))

    async def get_recent_cycles(limit: Limit = 7) -> Annotated[CallToolResult, CyclesOut]:
        """The last `limit` physiological cycles (≈ days): day strain, energy, heart rate; newest first."""
        page = await (await provider.client()).list_cycles(limit=limit)
        items = [analytics.summarize_strain(c) for c in page.records]
        strains = [i.strain for i in items if i.strain is not None]
        text = f"{len(items)} cycles"
        if strains:
            text += (
                f", day strain {min(strains):.1f}-{max(strains):.1f} (mean {sum(strains) / len(strains):.1f})"
            )
        pending = sum(1 for i in items if i.state == "PENDING_SCORE")
        if pending:
            text += f", {pending} pending score"
        src, note = source()
        return _content(CyclesOut(data_source=src, summary=text + "." + note, count=len(items), cycles=items))

    async def get_latest_sleep() -> Annotated[CallToolResult, SleepOut]:
        """Last night's sleep (naps skipped): hours asleep vs needed, stages in minutes, performance %."""
        sleep = await (await provider.client()).latest_sleep(include_naps=False)
        if sleep is None:
            raise ToolError(
                "WHOOP has no recent main sleep: wear the strap overnight and sync it in the WHOOP app."
            )
        item = analytics.summarize_sleep(sleep)
        if item.asleep_hours is None:
            text = _state_sentence(f"The sleep ending {item.end_local:%Y-%m-%d %H:%M}", item.state)
        else:
            text = (
                f"Slept {item.asleep_hours:.1f} h of {_fmt(item.need_hours, ' h', 1)} needed "
                f"(performance {_fmt(item.performance_pct, '%')}), deep {_fmt(item.sws_minutes, ' min')}, "
                f"REM {_fmt(item.rem_minutes, ' min')}, woke {item.end_local:%Y-%m-%d %H:%M}."
            )
        src, note = source()
        return _content(SleepOut(data_source=src, summary=text + note, sleep=item))

    async def get_recent_workouts(limit: Limit = 5) -> Annotated[CallToolResult, WorkoutsOut]:
        """The last `limit` workouts: sport, minutes, strain, heart rate (bpm), energy (kJ, kcal), zones."""
        page = await (await provider.client()).list_workouts(limit=limit)
        items = [analytics.summarize_workout(w) for w in page.records]
        text = f"{len(items)} workouts"
        if items:
            text += ": " + "; ".join(
                f"{w.local_date} {w.sport} {w.duration_minutes:.0f} min "
                f"strain {_score(w.strain, w.state, '', 1)}"
                for w in items[:5]
            )
        src, note = source()
        return _content(
            WorkoutsOut(data_source=src, summary=text + "." + note, count=len(items), workouts=items)
        )

    async def get_body_measurements() -> Annotated[CallToolResult, BodyOut]:
        """Height (cm), weight (kg), BMI and max heart rate (bpm) as set in the WHOOP app."""
        body = await (await provider.client()).get_body_measurement()
        src, note = source()
        return _content(_body_out(src, note, body))

    async def get_health_summary() -> Annotated[CallToolResult, HealthSummaryOut]:
        """Today at a glance: recovery, day strain so far, last night's sleep, recent workouts, body, name."""
        client = await provider.client()
        # One round trip: independent collection requests, all at once (no cycle → recovery chains).
        got = await asyncio.gather(
            client.get_profile(),
            client.list_recoveries(limit=RECENT),
            client.list_cycles(limit=RECENT),
            client.list_sleeps(limit=RECENT_SLEEPS),
            client.list_workouts(limit=SUMMARY_WORKOUTS),
            client.get_body_measurement(),
            return_exceptions=True,
        )
        profile_r, recoveries_r, cycles_r, sleeps_r, workouts_r, body_r = got
        failures = [r for r in got if isinstance(r, BaseException)]
        for failure in failures:
            # These hit every part alike: one clear error beats six copies of it.
            if isinstance(failure, AuthError | RateLimitedError | ConfigError) or len(failures) == len(got):
                raise failure
        names = ("profile", "recovery", "strain", "sleep", "workouts", "body measurements")
        src, note = source()
        out = HealthSummaryOut(
            data_source=src,
            summary="",
            problems=[
                f"{n}: {explain(r)}" for n, r in zip(names, got, strict=True) if isinstance(r, BaseException)
            ],
        )
        parts: list[str] = []
        if not isinstance(profile_r, BaseException):
            out.name = f"{profile_r.first_name} {profile_r.last_name}"
        cycles = [] if isinstance(cycles_r, BaseException) else cycles_r.records
        if not isinstance(recoveries_r, BaseException) and recoveries_r.records:
            out.recovery = analytics.summarize_recovery(recoveries_r.records[0], cycles)
            parts.append(_recovery_sentence(out.recovery))
        if cycles:
            out.strain = analytics.summarize_strain(cycles[0])
            if out.strain.strain is None:
                parts.append(f"Day strain so far: {_score(None, out.strain.state)}.")
            else:
                parts.append(
                    f"Day strain so far {out.strain.strain:.1f}/21, {_fmt(out.strain.energy_kcal, ' kcal')}."
                )
        if not isinstance(sleeps_r, BaseException):
            main = next((s for s in sleeps_r.records if not s.nap), None)
            if main is not None:
                out.sleep = analytics.summarize_sleep(main)
                if out.sleep.asleep_hours is None:
                    parts.append(f"Last night's sleep: {_score(None, out.sleep.state)}.")
                else:
                    parts.append(
                        f"Slept {out.sleep.asleep_hours:.1f} h of {_fmt(out.sleep.need_hours, ' h', 1)} "
                        f"needed (performance {_fmt(out.sleep.performance_pct, '%')})."
                    )
        if not isinstance(workouts_r, BaseException):
            out.recent_workouts = [analytics.summarize_workout(w) for w in workouts_r.records]
            if out.recent_workouts:
                w = out.recent_workouts[0]
                parts.append(
                    f"Last workout: {w.sport} on {w.local_date}, {w.duration_minutes:.0f} min, "
                    f"strain {_score(w.strain, w.state, '', 1)}."
                )
        if not isinstance(body_r, BaseException):
            out.body = _body_out(src, note, body_r)
        if out.problems:
            parts.append("Could not fetch: " + ", ".join(p.split(":")[0] for p in out.problems) + ".")
        out.summary = (" ".join(parts) or "No WHOOP data yet.") + note
        return _content(out)

    # ------------------------------------------------------------------ ranges and analytics

    async def get_history(
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
        now = today()
        first, last = resolve_range(days, start, end, now)
        client = await provider.client()
        lo, hi = query_window(first, last, now)
        cap = max_records + 10  # the slack days hold a few records outside the range
        src, _ = source()
        out = HistoryOut(
            data_source=src, summary="", kind=kind, start=first, end=last, count=0, truncated=False
        )
        items: list[Any]
        if kind == "days":
            # At most one row per day: days older than the newest max_records cannot be returned, so
            # they are not fetched (a year of four collections would cost a minute of rate limit).
            newest = max(first, last - timedelta(days=max_records - 1))
            got_days = await fetch_days(client, newest, last, now)
            out.days, truncated = got_days.rows, got_days.truncated or newest > first
            items = out.days
        elif kind == "cycles":
            got_c = await client.cycles(lo, hi, max_records=cap)
            out.cycles = [s for s in map(analytics.summarize_strain, got_c.records) if first <= s.day <= last]
            items, truncated = out.cycles, got_c.truncated
        elif kind == "sleeps":
            got_s = await client.sleeps(lo, hi, max_records=cap)
            out.sleeps = [s for s in map(analytics.summarize_sleep, got_s.records) if first <= s.day <= last]
            items, truncated = out.sleeps, got_s.truncated
        elif kind == "workouts":
            got_w = await client.workouts(lo, hi, max_records=cap)
            out.workouts = [
                s for s in map(analytics.summarize_workout, got_w.records) if first <= s.local_date <= last
            ]
            items, truncated = out.workouts, got_w.truncated
        else:
            got_r, got_cy = await asyncio.gather(
                client.recoveries(lo, hi, max_records=cap), client.cycles(lo, hi, max_records=cap)
            )
            dated = [analytics.summarize_recovery(r, got_cy.records) for r in got_r.records]
            out.recoveries = [s for s in dated if s.day is None or first <= s.day <= last]
            items, truncated = out.recoveries, got_r.truncated
        if len(items) > max_records:
            del items[max_records:]
            truncated = True
        out.count, out.truncated = len(items), truncated
        text = f"{out.count} {kind} from {first} to {last}"
        if truncated:
            text += f" (truncated at {max_records}: raise max_records or narrow the range for the rest)"
        out.summary = text + "." + source()[1]
        return _content(out)

    async def get_trends(
        days: TrendDays = 30, include_points: IncludePoints = False
    ) -> Annotated[CallToolResult, TrendsOut]:
        """Trends over the last `days` days: recovery, HRV, resting HR, sleep, strain, workouts and more.

        Per metric: mean, median, min/max, personal baseline (median over at least the last 60 days),
        slope per week with a direction (improving / declining / stable) and outlier days.
        """
        now = today()
        # The personal baseline (median) and outlier scale come from at least BASELINE_HISTORY_DAYS of
        # data: a short window is extended into the days before it, a long one is its own baseline.
        first = now - timedelta(days=max(days, BASELINE_HISTORY_DAYS) - 1)
        got = await fetch_days(await provider.client(), first, now, now)
        report = analytics.compute_trends(got.rows, window_days=days, end=now)
        if not include_points:
            _strip_points(report)
        main = (report.recovery, report.hrv, report.resting_hr, report.sleep_hours, report.strain)
        text = f"Trends over {days} days ({report.days_in_window} days with data): " + " ".join(
            t.summary for t in main
        )
        if got.truncated:
            text += " Some records were left out (too many in the range)."
        src, note = source()
        return _content(
            TrendsOut(data_source=src, summary=text + note, truncated=got.truncated, trends=report)
        )

    async def compare_periods(
        days: PeriodDays = 7,
        first_start: PeriodDay = None,
        first_end: PeriodDay = None,
        second_start: PeriodDay = None,
        second_end: PeriodDay = None,
    ) -> Annotated[CallToolResult, CompareOut]:
        """Compare two periods: by default the last `days` days with the `days` before them.

        Or give all four of first_start, first_end, second_start, second_end (YYYY-MM-DD). Per metric:
        both means, the change and whether the second period is better, worse or unchanged.
        """
        now = today()
        explicit = (first_start, first_end, second_start, second_end)
        if any(d is not None for d in explicit):
            if any(d is None for d in explicit):
                raise ToolError(
                    "Give all four of first_start, first_end, second_start and second_end, or none of them "
                    "(then the last `days` days are compared with the `days` before)."
                )
            a = resolve_range(days, first_start, first_end, now)
            b = resolve_range(days, second_start, second_end, now)
        else:
            b = (now - timedelta(days=days - 1), now)
            a = (b[0] - timedelta(days=days), b[0] - timedelta(days=1))
        span = (min(a[0], b[0]), max(a[1], b[1]))
        if (span[1] - span[0]).days + 1 > 365:
            raise ToolError("The two periods together span more than 365 days; choose closer periods.")
        client = await provider.client()
        if max(a[0], b[0]) - min(a[1], b[1]) <= timedelta(days=7):
            got = await fetch_days(client, span[0], span[1], now)
        else:
            # Far-apart periods: fetching the months between them would only spend rate limit.
            got_a, got_b = await asyncio.gather(
                fetch_days(client, a[0], a[1], now), fetch_days(client, b[0], b[1], now)
            )
            got = DayRows(got_a.rows + got_b.rows, got_a.truncated or got_b.truncated)
        rows_a = [r for r in got.rows if a[0] <= r.date <= a[1]]
        rows_b = [r for r in got.rows if b[0] <= r.date <= b[1]]
        label_a, label_b = f"{a[0]}..{a[1]}", f"{b[0]}..{b[1]}"
        comparison = analytics.compare_periods(rows_a, rows_b, label_a, label_b)
        changed = comparison.highlights or ["No metric changed noticeably."]
        src, note = source()
        return _content(
            CompareOut(
                data_source=src,
                summary=f"{label_b} compared with {label_a}: " + " ".join(changed) + note,
                truncated=got.truncated,
                comparison=comparison,
            )
        )

    async def get_weekly_report(weeks_ago: WeeksAgo = 0) -> Annotated[CallToolResult, WeeklyOut]:
        """A week in review: recovery (average, zones, best/worst day), sleep, strain, workouts by sport.

        Includes the comparison with the week before.
        """
        now = today()
        week_end = now - timedelta(days=7 * weeks_ago)
        got = await fetch_days(await provider.client(), week_end - timedelta(days=13), week_end, now)
        report = analytics.weekly_report(got.rows, week_end=week_end)
        src, note = source()
        text = f"Week {report.week_start}..{report.week_end}: " + " ".join(report.highlights)
        return _content(
            WeeklyOut(data_source=src, summary=text + note, truncated=got.truncated, report=report)
        )

    async def should_i_train_today() -> Annotated[CallToolResult, ReadinessOut]:
        """Should I train today? Push, maintain or recover, with a day-strain target and the reasons.

        Uses today's recovery zone, HRV and resting HR against your 30-day baselines, last night's sleep
        and the acute:chronic strain ratio.
        """
        now = today()
        got = await fetch_days(await provider.client(), now - timedelta(days=BASELINE_DAYS), now, now)
        if not got.rows:
            raise ToolError(
                "WHOOP has no data for the last 30 days: wear the strap and sync it in the WHOOP app."
            )
        today_row = got.rows[0]
        readiness = analytics.training_readiness(
            today_row, baselines=analytics.baselines(got.rows, today_row.date)
        )
        src, note = source()
        text = readiness.recommendation + " " + " ".join(readiness.rationale)
        return _content(
            ReadinessOut(data_source=src, summary=text + note, readiness=readiness, today=today_row)
        )

    async def get_auth_status() -> Annotated[CallToolResult, AuthStatusOut]:
        """Is the server connected to WHOOP? Token expiry, scopes (offline?), demo or real, token file."""
        whoop = await provider.get()
        status = whoop.tokens.status()
        if status.logged_in:
            expires = f"{status.expires_at:%Y-%m-%d %H:%M} UTC" if status.expires_at else "at an unknown time"
            text = f"Connected to WHOOP; the access token expires {expires}"
            text += " and is refreshed automatically." if status.can_refresh else " and cannot be refreshed."
            if not status.has_offline_scope:
                text += (
                    f" The `offline` scope is missing: you will have to log in again hourly at {LOGIN_URL}."
                )
        else:
            text = f"Not connected to WHOOP: start the web app (python whoop_simple.py) and open {LOGIN_URL}."
        src, note = source()
        return _content(
            AuthStatusOut(
                data_source=src,
                summary=text + note,
                logged_in=status.logged_in,
                demo=whoop.demo,
                token_file=str(status.path),
                expires_at=status.expires_at.isoformat() if status.expires_at else None,
                seconds_left=status.seconds_left,
                expired=status.expired,
                can_refresh=status.can_refresh,
                scopes=status.scopes,
                has_offline_scope=status.has_offline_scope,
                missing_scopes=status.missing_scopes,
                problem=status.error,
                login_url=LOGIN_URL,
            )
        )

    tools: list[tuple[ToolFn, str]] = [
        (get_user_profile, "User profile"),
        (get_recovery_score, "Recovery score"),
        (get_current_strain, "Current strain"),
        (get_recent_cycles, "Recent cycles"),
        (get_latest_sleep, "Latest sleep"),
        (get_recent_workouts, "Recent workouts"),
        (get_body_measurements, "Body measurements"),
        (get_health_summary, "Health summary"),
        (get_history, "History"),
        (get_trends, "Trends"),
        (compare_periods, "Compare periods"),
        (get_weekly_report, "Weekly report"),
        (should_i_train_today, "Should I train today?"),
        (get_auth_status, "Connection status"),
    ]
    _register_tools(server, tools, settings.mcp_tool_allowlist)

    # ------------------------------------------------------------------ resources

    @server.resource(
        "whoop://status", name="status", title="WHOOP connection status", mime_type="application/json"
    )
    @resource_errors
    async def status_resource() -> str:
        """Connection status: logged in, token expiry, scopes, demo or real."""
        return _structured_json(await get_auth_status())

    @server.resource("whoop://profile", name="profile", title="WHOOP profile", mime_type="application/json")
    @resource_errors
    async def profile_resource() -> str:
        """Your WHOOP profile."""
        return _structured_json(await get_user_profile())

    @server.resource("whoop://today", name="today", title="WHOOP today", mime_type="application/json")
    @resource_errors
    async def today_resource() -> str:
        """Today's recovery, strain, sleep and recent workouts (the health summary)."""
        return _structured_json(await get_health_summary())

    # ------------------------------------------------------------------ prompts

    @server.prompt(name="morning_check", title="Should I train today?")
    def morning_prompt() -> str:
        """Morning check: recovery, sleep and recent load → how hard to train today."""
        return (
            "Using my WHOOP data, tell me whether I should train hard, train moderately or rest today. "
            "Call should_i_train_today (and get_health_summary if you need more detail). Answer in at most "
            "five sentences: the recommendation and day-strain target first, then the numbers behind it "
            "(recovery %, HRV vs my baseline, resting HR, hours slept vs needed, recent strain). "
            "If the data is simulated, say so."
        )

    @server.prompt(name="weekly_review", title="Weekly review")
    def weekly_prompt(weeks_ago: str = "0") -> str:
        """Review of a week (0 = the last 7 days): recovery, sleep, strain, workouts and what to change."""
        return (
            f"Give me a weekly WHOOP review (weeks_ago={weeks_ago}; 0 means the last 7 days). Call "
            f"get_weekly_report with weeks_ago={weeks_ago}, and get_trends with days=30 for context. Cover "
            "average recovery and HRV, sleep hours vs need and bedtime consistency, strain and workouts, "
            "the best and worst day, what changed from the week before, and end with two concrete "
            "suggestions for next week."
        )

    @server.prompt(name="compare_recent_workouts", title="Compare recent workouts")
    def workouts_prompt(count: str = "5", sport: str = "") -> str:
        """Compare the last few workouts (optionally of one sport): strain, heart rate, zones, energy."""
        which = f"{sport} workouts" if sport else "workouts"
        return (
            f"Compare my last {count} {which} from WHOOP. Call get_recent_workouts with limit={count} "
            "(or get_history with kind=workouts for more). Show a table (date, sport, minutes, strain, "
            "average/max bpm, kcal, minutes in zones 4-5), say which was hardest, and whether my heart rate "
            "at similar strain is trending down (fitter) or up (fatigue). Use get_history with kind=days "
            "to see how I recovered the next morning."
        )

    return server


def _structured_json(result: CallToolResult) -> str:
    return json.dumps(result.structured_content, indent=2, ensure_ascii=False)


def _register_tools(
    server: WhoopMCPServer, tools: list[tuple[ToolFn, str]], allowlist: frozenset[str] | None
) -> None:
    """Register the tools ``WHOOP_MCP_TOOLS`` allows (all when unset), each read-only and error-wrapped.

    Raises:
        ConfigError: the allowlist names an unknown tool.
    """
    names = [fn.__name__ for fn, _ in tools]
    if allowlist is not None:
        unknown = sorted(allowlist - set(names))
        if unknown:
            raise ConfigError(
                f"WHOOP_MCP_TOOLS names unknown tool(s) {', '.join(unknown)}; "
                f"valid names: {', '.join(names)}."
            )
    for fn, title in tools:
        if allowlist is None or fn.__name__ in allowlist:
            wrapped = tool_errors(fn)
            server.argument_checkers[fn.__name__] = ArgumentChecker(fn.__name__, wrapped)
            server.add_tool(
                wrapped,
                name=fn.__name__,
                description=inspect.cleandoc(fn.__doc__ or ""),
                title=title,
                annotations=READ_ONLY.model_copy(update={"title": title}),
                structured_output=True,
            )
