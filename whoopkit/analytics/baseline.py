"""Baselines of a day: the means of the 7, 28 and 30 days ending it, its personal baselines, the load ratio.

"The last N days" are the N days ending ``as_of`` (``dates.day_window``), so a 7-day mean here is the
7-day average a page or a tool shows for the same days. A personal baseline (``*_baseline_*``) is the
mean of the 30 days *before* ``as_of`` (``trends.baseline_mean``), so the day is compared with its past.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from whoopkit.analytics.dates import day_window
from whoopkit.analytics.days import DaySummary
from whoopkit.analytics.trends import (
    BASELINE_DAYS,
    METRICS,
    MetricName,
    TrendPoint,
    TrendReport,
    baseline_mean,
    metric_series,
)
from whoopkit.analytics.units import mean_or_none


class Baselines(BaseModel):
    """Means of the 7/28/30 days ending ``as_of`` (that day included), and its personal baselines."""

    as_of: dt.date | None = None
    days_7d: int = 0
    days_30d: int = 0
    recovery_pct_7d: float | None = None
    recovery_pct_30d: float | None = None
    hrv_ms_7d: float | None = None
    hrv_ms_30d: float | None = None
    resting_hr_bpm_7d: float | None = None
    resting_hr_bpm_30d: float | None = None
    sleep_hours_7d: float | None = None
    sleep_hours_30d: float | None = None
    sleep_performance_pct_7d: float | None = None
    sleep_performance_pct_30d: float | None = None
    strain_7d: float | None = Field(None, description="acute load: mean day strain, completed days")
    strain_28d: float | None = Field(None, description="chronic load: mean day strain, completed days")
    strain_30d: float | None = None
    acute_chronic_ratio: float | None = Field(None, description="strain_7d / strain_28d")
    hrv_baseline_ms: float | None = Field(None, description="mean HRV of the 30 days before as_of")
    resting_hr_baseline_bpm: float | None = Field(None, description="mean of the 30 days before as_of")
    respiratory_rate_baseline_per_min: float | None = None
    skin_temp_baseline_c: float | None = None


MIN_ACUTE_DAYS = 4
MIN_CHRONIC_DAYS = 14


def _baselines_from_series(
    series: Mapping[MetricName, Sequence[TrendPoint]],
    as_of: dt.date | None,
    row_dates: set[dt.date] | None = None,
) -> Baselines:
    if as_of is None:
        return Baselines()
    # A day counts when it has a row (as in window_stats), even one with no value yet (an open cycle).
    known = row_dates if row_dates is not None else {p.date for pts in series.values() for p in pts}

    def window(metric: MetricName, n: int) -> list[float]:
        start, end = day_window(as_of, n)
        return [p.value for p in series.get(metric, ()) if start <= p.date <= end]

    def dates(n: int) -> int:
        start, end = day_window(as_of, n)
        return sum(1 for d in known if start <= d <= end)

    out: dict[str, Any] = {"as_of": as_of, "days_7d": dates(7), "days_30d": dates(BASELINE_DAYS)}
    for metric in (
        "recovery_pct",
        "hrv_ms",
        "resting_hr_bpm",
        "sleep_hours",
        "sleep_performance_pct",
        "strain",
    ):
        nd = METRICS[metric].decimals
        out[f"{metric}_7d"] = mean_or_none(window(metric, 7), nd)
        out[f"{metric}_30d"] = mean_or_none(window(metric, BASELINE_DAYS), nd)
    personal: dict[str, MetricName] = {
        "hrv_baseline_ms": "hrv_ms",
        "resting_hr_baseline_bpm": "resting_hr_bpm",
        "respiratory_rate_baseline_per_min": "respiratory_rate_per_min",
        "skin_temp_baseline_c": "skin_temp_c",
    }
    for name, metric in personal.items():
        out[name] = baseline_mean(series.get(metric, ()), as_of, METRICS[metric].decimals)
    acute, chronic = window("strain", 7), window("strain", 28)
    out["strain_28d"] = mean_or_none(chronic, 1)
    if len(acute) >= MIN_ACUTE_DAYS and len(chronic) >= MIN_CHRONIC_DAYS:
        chronic_mean = statistics.fmean(chronic)
        if chronic_mean > 0:
            out["acute_chronic_ratio"] = round(statistics.fmean(acute) / chronic_mean, 2)
    return Baselines(**out)


def baselines(days: Sequence[DaySummary], as_of: dt.date | None = None) -> Baselines:
    """The means of the days ending ``as_of`` (default: the newest day) and its personal baselines."""
    if as_of is None and days:
        as_of = max(d.date for d in days)
    return _baselines_from_series({m: metric_series(days, m) for m in METRICS}, as_of, {d.date for d in days})


def baselines_from_trends(trends: TrendReport, as_of: dt.date) -> Baselines:
    """Baselines as of ``as_of`` from the points a trend report already holds."""
    return _baselines_from_series({t.metric: t.points for t in trends.metrics()}, as_of)
