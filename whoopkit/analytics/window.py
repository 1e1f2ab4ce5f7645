"""The numbers of "the last N days" that every page, tool and insight shows, defined once.

- The window is ``dates.day_window(end, n)``: the N WHOOP days ending ``end`` (the user's today).
- A day counts when it has a day row; a recovery zone counts once per day with a scored recovery.
- Averages are the means of the ``trends.METRICS`` values of the window's rows, rounded as the metric
  is: so the average strain leaves out today's open cycle (its strain is still accumulating).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

from whoopkit.analytics.dates import day_window
from whoopkit.analytics.days import DaySummary
from whoopkit.analytics.trends import METRICS, MetricName, metric_series
from whoopkit.analytics.units import mean_or_none


class WindowStats(BaseModel):
    """Days, recovery zones and averages of the last ``days`` WHOOP days ending ``end``."""

    start: dt.date
    end: dt.date
    days: int = Field(description="length of the window")
    days_with_data: int = 0
    recoveries_scored: int = 0
    green_days: int = 0
    yellow_days: int = 0
    red_days: int = 0
    avg_recovery_pct: float | None = None
    avg_hrv_ms: float | None = None
    avg_resting_hr_bpm: float | None = None
    strain_days: int = Field(0, description="completed days with a strain (the open cycle left out)")
    avg_strain: float | None = Field(None, description="mean day strain of the completed days")
    nights_scored: int = 0
    avg_sleep_hours: float | None = None


def _mean(rows: list[DaySummary], metric: MetricName) -> tuple[int, float | None]:
    values = [p.value for p in metric_series(rows, metric)]
    return len(values), mean_or_none(values, METRICS[metric].decimals)


def window_rows(days: Iterable[DaySummary], end: dt.date, n_days: int) -> list[DaySummary]:
    """The day rows of the last ``n_days`` days ending ``end``, newest first."""
    start, end = day_window(end, n_days)
    return sorted((d for d in days if start <= d.date <= end), key=lambda d: d.date, reverse=True)


def window_stats(days: Iterable[DaySummary], end: dt.date, n_days: int) -> WindowStats:
    """Days with data, zone counts and averages of the last ``n_days`` days ending ``end``.

    Raises:
        ValueError: if ``n_days`` < 1.
    """
    start, end = day_window(end, n_days)
    rows = window_rows(days, end, n_days)
    zones = Counter(d.recovery_zone for d in rows if d.recovery_pct is not None and d.recovery_zone)
    recoveries, avg_recovery = _mean(rows, "recovery_pct")
    strain_days, avg_strain = _mean(rows, "strain")
    nights, avg_sleep = _mean(rows, "sleep_hours")
    return WindowStats(
        start=start,
        end=end,
        days=n_days,
        days_with_data=len({d.date for d in rows}),
        recoveries_scored=recoveries,
        green_days=zones["green"],
        yellow_days=zones["yellow"],
        red_days=zones["red"],
        avg_recovery_pct=avg_recovery,
        avg_hrv_ms=_mean(rows, "hrv_ms")[1],
        avg_resting_hr_bpm=_mean(rows, "resting_hr_bpm")[1],
        strain_days=strain_days,
        avg_strain=avg_strain,
        nights_scored=nights,
        avg_sleep_hours=avg_sleep,
    )
