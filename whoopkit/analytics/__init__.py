"""Pure analytics over WHOOP v2 records: day rows, summaries, trends, readiness and rule-based insights.

Nothing here does I/O; every result is a pydantic model whose field names carry their unit
(``_hours``, ``_minutes``, ``_pct``, ``_bpm``, ``_ms``, ``_kj``, ``_kcal``, ``_km``, ``_c``), so the
MCP server can return them as structured output and the web app can render them as they are.

Rounding conventions: hours 2 decimals, minutes 1, percentages 1, heart rate and HRV 1, strain 1,
kJ 1, kcal whole numbers, km 2, °C 2, respiratory rate 1 (breaths per minute).

Scores that WHOOP has not produced (``PENDING_SCORE``, ``UNSCORABLE``, or a missing record) are
``None`` with a ``*_state`` field saying why — never zero.

Dates: ``local_date(record)`` is the calendar day a record starts on in its *own* ``timezone_offset``.
A day row (``DaySummary``) is a WHOOP day: one physiological cycle, which starts when you fall asleep,
so the cycle starting at 23:30 on Monday is Tuesday's row (its recovery and "last night's sleep" are
Tuesday's, like the WHOOP app). Workouts have no ``cycle_id`` and join the cycle whose span contains them.

Modules, each importing only those listed before it: ``units``, ``zones``, ``dates``, ``summaries``
(one record), ``days`` (day rows), ``trends`` (metrics, series, trends), ``window`` (the numbers of
"the last N days"), ``comparison`` (two periods), ``weekly`` (weekly report), ``baseline``,
``readiness`` (training readiness), ``rule_based`` (rule-based insights), ``records`` (personal
records, green streaks and the recovery calendar) and ``drivers`` (what is associated with recovery, HRV
and resting heart rate: tested factors with SciPy, imported on first use). Import the names from this
package; the split is an implementation detail.

Defined once, used by every face: "the last N days" (``day_window``: the N WHOOP days ending the
user's today), the day counts, recovery-zone counts and averages of such a window (``window_stats``;
the average strain leaves out the open cycle), and the personal baseline (``baseline_mean``: the mean
of the 30 days before the day compared).
"""

from __future__ import annotations

from whoopkit.analytics.baseline import Baselines, baselines
from whoopkit.analytics.comparison import MetricComparison, PeriodComparison, compare_periods
from whoopkit.analytics.dates import day_window, local_date, local_end, recovery_date, whoop_day
from whoopkit.analytics.days import DaySummary, build_days
from whoopkit.analytics.drivers import (
    OUTCOMES,
    DateWindow,
    DriverFactor,
    DriversReport,
    NotEnoughData,
    Outcome,
    ScatterPoint,
    drivers_report,
    load_statistics,
)
from whoopkit.analytics.readiness import Readiness, training_readiness
from whoopkit.analytics.records import (
    CalendarDay,
    PersonalRecord,
    RecordsReport,
    SportRecords,
    Streak,
    records_report,
    recovery_calendar,
)
from whoopkit.analytics.rescoring import ScoreChange, Version, score_changes
from whoopkit.analytics.rule_based import INSIGHTS_JSON_SCHEMA, Flag, Insights, rule_based_insights
from whoopkit.analytics.summaries import (
    RecoverySummary,
    SleepSummary,
    StrainSummary,
    WorkoutSummary,
    summarize_recovery,
    summarize_sleep,
    summarize_strain,
    summarize_workout,
)
from whoopkit.analytics.trends import (
    BASELINE_DAYS,
    METRICS,
    MetricSpec,
    MetricTrend,
    Outlier,
    TrendPoint,
    TrendReport,
    baseline_mean,
    compute_trends,
    metric_series,
    metric_trend,
)
from whoopkit.analytics.units import KJ_PER_KCAL, kj_to_kcal, meters_to_km, ms_to_hours, ms_to_minutes
from whoopkit.analytics.weekly import DayValue, SportTotal, WeeklyReport, weekly_report
from whoopkit.analytics.window import WindowStats, window_rows, window_stats
from whoopkit.analytics.zones import recovery_zone, strain_level

__all__ = [
    "BASELINE_DAYS",
    "INSIGHTS_JSON_SCHEMA",
    "KJ_PER_KCAL",
    "METRICS",
    "OUTCOMES",
    "Baselines",
    "CalendarDay",
    "DateWindow",
    "DaySummary",
    "DayValue",
    "DriverFactor",
    "DriversReport",
    "Flag",
    "Insights",
    "MetricComparison",
    "MetricSpec",
    "MetricTrend",
    "NotEnoughData",
    "Outcome",
    "Outlier",
    "PeriodComparison",
    "PersonalRecord",
    "Readiness",
    "RecordsReport",
    "RecoverySummary",
    "ScatterPoint",
    "ScoreChange",
    "SleepSummary",
    "SportRecords",
    "SportTotal",
    "StrainSummary",
    "Streak",
    "TrendPoint",
    "TrendReport",
    "Version",
    "WeeklyReport",
    "WindowStats",
    "WorkoutSummary",
    "baseline_mean",
    "baselines",
    "build_days",
    "compare_periods",
    "compute_trends",
    "day_window",
    "drivers_report",
    "kj_to_kcal",
    "load_statistics",
    "local_date",
    "local_end",
    "meters_to_km",
    "metric_series",
    "metric_trend",
    "ms_to_hours",
    "ms_to_minutes",
    "records_report",
    "recovery_calendar",
    "recovery_date",
    "recovery_zone",
    "rule_based_insights",
    "score_changes",
    "strain_level",
    "summarize_recovery",
    "summarize_sleep",
    "summarize_strain",
    "summarize_workout",
    "training_readiness",
    "weekly_report",
    "whoop_day",
    "window_rows",
    "window_stats",
]
