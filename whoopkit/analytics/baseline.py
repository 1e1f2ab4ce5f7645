"""Personal baselines: 7-, 28- and 30-day means before a day, and the acute:chronic load ratio."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from whoopkit.analytics.days import DaySummary
from whoopkit.analytics.trends import METRICS, MetricName, TrendPoint, TrendReport, metric_series
from whoopkit.analytics.units import mean_or_none


class Baselines(BaseModel):
    """7/28/30-day means before ``as_of`` (that day excluded, so it is compared with its own past)."""

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
    respiratory_rate_per_min_30d: float | None = None
    spo2_pct_30d: float | None = None
    skin_temp_c_30d: float | None = None


MIN_ACUTE_DAYS = 4
MIN_CHRONIC_DAYS = 14


def _baselines_from_series(
    series: Mapping[MetricName, Sequence[TrendPoint]], as_of: dt.date | None
) -> Baselines:
    if as_of is None:
        return Baselines()

    def window(metric: MetricName, n: int) -> list[float]:
        start = as_of - dt.timedelta(days=n)
        return [p.value for p in series.get(metric, ()) if start <= p.date < as_of]

    def dates(n: int) -> int:
        start = as_of - dt.timedelta(days=n)
        return len({p.date for pts in series.values() for p in pts if start <= p.date < as_of})

    out: dict[str, Any] = {"as_of": as_of, "days_7d": dates(7), "days_30d": dates(30)}
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
        out[f"{metric}_30d"] = mean_or_none(window(metric, 30), nd)
    health: tuple[MetricName, ...] = ("respiratory_rate_per_min", "spo2_pct", "skin_temp_c")
    for metric in health:
        out[f"{metric}_30d"] = mean_or_none(window(metric, 30), METRICS[metric].decimals + 1)
    acute, chronic = window("strain", 7), window("strain", 28)
    out["strain_28d"] = mean_or_none(chronic, 1)
    if len(acute) >= MIN_ACUTE_DAYS and len(chronic) >= MIN_CHRONIC_DAYS:
        chronic_mean = statistics.fmean(chronic)
        if chronic_mean > 0:
            out["acute_chronic_ratio"] = round(statistics.fmean(acute) / chronic_mean, 2)
    return Baselines(**out)


def baselines(days: Sequence[DaySummary], as_of: dt.date | None = None) -> Baselines:
    """7-, 28- and 30-day means of the main metrics over the days before ``as_of`` (default: newest day)."""
    if as_of is None and days:
        as_of = max(d.date for d in days)
    return _baselines_from_series({m: metric_series(days, m) for m in METRICS}, as_of)


def baselines_from_trends(trends: TrendReport, as_of: dt.date) -> Baselines:
    """Baselines as of ``as_of`` from the points a trend report already holds."""
    return _baselines_from_series({t.metric: t.points for t in trends.metrics()}, as_of)
