"""Output models of the MCP tools: what clients see as ``outputSchema`` and ``structuredContent``.

The records themselves are ``whoopkit.analytics`` summaries, whose field names carry their unit
(``_hours``, ``_minutes``, ``_pct``, ``_bpm``, ``_ms``, ``_kj``, ``_kcal``); these models wrap them
with what every result says: where the data came from, how fresh it is and a sentence a person can read.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from whoopkit.analytics import (
    DaySummary,
    PeriodComparison,
    Readiness,
    RecoverySummary,
    SleepSummary,
    StrainSummary,
    TrendReport,
    WeeklyReport,
    WorkoutSummary,
)

DEMO_SOURCE = "demo (simulated)"
REAL_SOURCE = "WHOOP API"

HistoryKind = Literal["days", "cycles", "recoveries", "sleeps", "workouts"]


class ToolOutput(BaseModel):
    """Fields every tool result carries."""

    data_source: str = Field(description=f'"{REAL_SOURCE}" for your account, or "{DEMO_SOURCE}" in demo mode')
    summary: str = Field(description="A few sentences a person can read")
    as_of: str | None = Field(
        description="When the data used was last synced from WHOOP (ISO 8601 UTC); null if never"
    )
    stale: bool = Field(
        description="True when WHOOP could not be asked for newer data, so this is older stored data "
        "(the summary says how old and why)"
    )


class ProfileOut(ToolOutput):
    """The WHOOP member's basic profile."""

    user_id: int
    first_name: str
    last_name: str
    email: str


class BodyOut(ToolOutput):
    """Body measurements as entered in the WHOOP app."""

    height_cm: float
    weight_kg: float
    max_heart_rate_bpm: int
    bmi: float = Field(description="Body-mass index, kg/m²")


class RecoveryOut(ToolOutput):
    """Latest recovery, with the newest scored one when the latest is not scored yet."""

    latest: RecoverySummary
    latest_scored: RecoverySummary | None = Field(
        default=None, description="The most recent SCORED recovery when `latest` is not scored"
    )


class StrainOut(ToolOutput):
    """The current cycle's day strain so far (0-21 scale)."""

    cycle: StrainSummary


class CyclesOut(ToolOutput):
    """Recent cycles (≈ days), newest first."""

    count: int
    cycles: list[StrainSummary]


class SleepOut(ToolOutput):
    """The latest main sleep (naps skipped)."""

    sleep: SleepSummary


class WorkoutsOut(ToolOutput):
    """Recent workouts, newest first."""

    count: int
    workouts: list[WorkoutSummary]


class HealthSummaryOut(ToolOutput):
    """Today at a glance: the last days' records of every collection, from one service read."""

    name: str | None = None
    recovery: RecoverySummary | None = None
    strain: StrainSummary | None = None
    sleep: SleepSummary | None = None
    recent_workouts: list[WorkoutSummary] = []
    body: BodyOut | None = None
    problems: list[str] = Field(default=[], description="Parts that are missing, and why")


class HistoryOut(ToolOutput):
    """Records over a date range, newest first; only the list named by `kind` is filled."""

    kind: HistoryKind
    start: dt.date
    end: dt.date
    count: int
    truncated: bool = Field(description="True when more records exist than were returned")
    days: list[DaySummary] = Field(default=[], description="One joined row per WHOOP day (kind=days)")
    cycles: list[StrainSummary] = []
    recoveries: list[RecoverySummary] = []
    sleeps: list[SleepSummary] = []
    workouts: list[WorkoutSummary] = []


class TrendsOut(ToolOutput):
    """Recovery, HRV, resting HR, sleep and strain over a window: mean, baseline, slope, outliers."""

    truncated: bool
    trends: TrendReport


class CompareOut(ToolOutput):
    """Per-metric means of two periods and whether the later one is better or worse."""

    truncated: bool
    comparison: PeriodComparison


class WeeklyOut(ToolOutput):
    """A week's averages, extremes, sleep, strain and workouts, vs the week before."""

    truncated: bool
    report: WeeklyReport


class ReadinessOut(ToolOutput):
    """Whether to push, maintain or recover today, with a strain target and the reasons."""

    readiness: Readiness
    today: DaySummary


class AuthStatusOut(ToolOutput):
    """Whether the server can read WHOOP, and with which token."""

    logged_in: bool
    demo: bool
    token_file: str
    expires_at: str | None = Field(description="When the access token expires, ISO 8601 UTC")
    seconds_left: float | None = Field(description="Seconds until the access token expires")
    expired: bool
    can_refresh: bool = Field(description="Whether a refresh token is stored")
    scopes: list[str]
    has_offline_scope: bool = Field(description="Without `offline` WHOOP gives no refresh token")
    missing_scopes: list[str]
    problem: str | None = Field(description="Why the token cache is unusable, if it is")
    login_url: str
    start_web_app: str = Field(description="The command that starts the web app, where the login page is")
