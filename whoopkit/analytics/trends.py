"""Metrics of day rows, their series, and trend statistics over a window of days."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from whoopkit.analytics.dates import day_window
from whoopkit.analytics.days import DaySummary
from whoopkit.analytics.zones import Direction, Polarity

MetricName = Literal[
    "recovery_pct",
    "hrv_ms",
    "resting_hr_bpm",
    "sleep_hours",
    "sleep_performance_pct",
    "strain",
    "workouts",
    "respiratory_rate_per_min",
    "spo2_pct",
    "skin_temp_c",
]


@dataclass(frozen=True)
class MetricSpec:
    """How one day-row metric is read, labelled, rounded and judged."""

    key: MetricName
    label: str
    unit: str
    polarity: Polarity
    decimals: int
    min_change: float  # smallest change over a window/between periods that is worth calling a change
    extract: Callable[[DaySummary], float | None]
    outliers: bool = True  # small counts (workouts a day) have no meaningful outliers


def format_value(value: float | None, spec: MetricSpec, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    text = f"{value:+.{spec.decimals}f}" if signed else f"{value:.{spec.decimals}f}"
    if spec.unit == "%":
        return text + ("%" if not signed else " pts")
    return f"{text} {spec.unit}" if spec.unit else text


METRICS: dict[MetricName, MetricSpec] = {
    m.key: m
    for m in (
        MetricSpec("recovery_pct", "Recovery", "%", "higher_better", 1, 3.0, lambda d: d.recovery_pct),
        MetricSpec("hrv_ms", "HRV", "ms", "higher_better", 1, 2.0, lambda d: d.hrv_ms),
        MetricSpec(
            "resting_hr_bpm", "Resting heart rate", "bpm", "lower_better", 1, 1.0, lambda d: d.resting_hr_bpm
        ),
        MetricSpec("sleep_hours", "Sleep", "h", "higher_better", 2, 0.25, lambda d: d.sleep_hours),
        MetricSpec(
            "sleep_performance_pct",
            "Sleep performance",
            "%",
            "higher_better",
            1,
            3.0,
            lambda d: d.sleep_performance_pct,
        ),
        # the open cycle's strain is still accumulating, so it would drag every statistic down
        MetricSpec(
            "strain", "Day strain", "", "neutral", 1, 1.0, lambda d: None if d.cycle_open else d.strain
        ),
        MetricSpec(
            "workouts",
            "Workouts per day",
            "",
            "neutral",
            2,
            0.3,
            lambda d: None if d.cycle_open else float(d.workout_count),
            outliers=False,
        ),
        MetricSpec(
            "respiratory_rate_per_min",
            "Respiratory rate",
            "breaths/min",
            "neutral",
            1,
            0.5,
            lambda d: d.respiratory_rate_per_min,
        ),
        MetricSpec("spo2_pct", "Blood oxygen", "%", "higher_better", 1, 1.0, lambda d: d.spo2_pct),
        MetricSpec("skin_temp_c", "Skin temperature", "°C", "neutral", 2, 0.3, lambda d: d.skin_temp_c),
    )
}


class TrendPoint(BaseModel):
    """One dated value of a series."""

    date: dt.date
    value: float


class Outlier(BaseModel):
    """A day whose value is at least 2 standard deviations from the reference mean."""

    date: dt.date
    value: float
    z: float


class MetricTrend(BaseModel):
    """Statistics and direction of one metric over a window of days."""

    metric: MetricName
    label: str
    unit: str
    polarity: Polarity
    window_days: int | None = None
    n: int
    mean: float | None = None
    median: float | None = None
    min: float | None = None
    max: float | None = None
    std: float | None = Field(None, description="sample standard deviation over the window")
    latest: float | None = None
    latest_date: dt.date | None = None
    baseline: float | None = Field(None, description="mean of the 30 days before latest_date")
    baseline_source: Literal["window", "history"] | None = None
    latest_vs_baseline_pct: float | None = None
    slope_per_week: float | None = Field(None, description="least-squares slope on day index, times 7")
    change_over_window: float | None = Field(None, description="fitted change from first to last day")
    direction: Direction = "insufficient data"
    outliers: list[Outlier] = Field(default_factory=list)
    points: list[TrendPoint] = Field(default_factory=list)
    summary: str = ""


MIN_TREND_POINTS = 3
# The personal baseline is the mean of this many days before the day it is compared with.
BASELINE_DAYS = 30
_T_SIGNIFICANT = 2.0
OUTLIER_Z = 2.0


def metric_series(days: Iterable[DaySummary], metric: MetricName) -> list[TrendPoint]:
    """The (date, value) points of a metric over day rows, oldest first, skipping days without a value."""
    extract = METRICS[metric].extract
    points = {d.date: v for d in days if (v := extract(d)) is not None}
    return [TrendPoint(date=k, value=points[k]) for k in sorted(points)]


def baseline_mean(points: Iterable[TrendPoint], as_of: dt.date, decimals: int) -> float | None:
    """The personal baseline as of ``as_of``: the mean of the ``BASELINE_DAYS`` days before it.

    ``as_of`` itself is left out, so a day is compared with its own past. This is the one baseline
    every face shows (the trends' ``baseline``, readiness, insights); None when those days have no value.
    """
    start = as_of - dt.timedelta(days=BASELINE_DAYS)
    values = [p.value for p in points if start <= p.date < as_of]
    return round(statistics.fmean(values), decimals) if values else None


def _fit(points: Sequence[TrendPoint]) -> tuple[float, float] | None:
    """Least-squares slope per day on day index and its t statistic (inf for a perfect line)."""
    if len(points) < 2:
        return None
    x0 = points[0].date
    xs = [float((p.date - x0).days) for p in points]
    ys = [p.value for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    if len(points) < 3:
        return slope, 0.0
    ssr = sum((y - (my + slope * (x - mx))) ** 2 for x, y in zip(xs, ys, strict=True))
    se = math.sqrt(ssr / (len(points) - 2) / sxx)
    # a perfect line leaves rounding noise in ssr; treat a negligible error as exact
    if se <= 1e-9 * max(1.0, abs(slope)):
        return slope, (math.inf if slope != 0 else 0.0)
    return slope, slope / se


def metric_trend(
    points: Sequence[TrendPoint],
    metric: MetricName,
    *,
    window_days: int | None = None,
    history: Sequence[TrendPoint] | None = None,
) -> MetricTrend:
    """Trend statistics of one metric's points; a longer ``history`` sets the baseline and outlier scale."""
    spec = METRICS[metric]
    pts = sorted(points, key=lambda p: p.date)
    base: dict[str, Any] = {
        "metric": metric,
        "label": spec.label,
        "unit": spec.unit,
        "polarity": spec.polarity,
        "window_days": window_days,
        "n": len(pts),
        "points": pts,
    }
    span = f"the last {window_days} days" if window_days else "this period"
    if not pts:
        return MetricTrend(**base, summary=f"No {spec.label.lower()} data in {span}.")
    d = spec.decimals
    values = [p.value for p in pts]
    ref = [p.value for p in history] if history is not None and len(history) > len(pts) else values
    latest = pts[-1]
    known = history if history is not None and len(history) > len(pts) else pts
    baseline = baseline_mean(known, latest.date, d)
    since = latest.date - dt.timedelta(days=BASELINE_DAYS)
    baseline_source: Literal["window", "history"] | None = None
    if baseline is not None:
        before_window = any(since <= p.date < pts[0].date for p in known)
        baseline_source = "history" if before_window else "window"
    base.update(
        mean=round(statistics.fmean(values), d),
        median=round(statistics.median(values), d),
        min=round(min(values), d),
        max=round(max(values), d),
        std=round(statistics.stdev(values), d + 1) if len(values) >= 2 else None,
        latest=round(latest.value, d),
        latest_date=latest.date,
        baseline=baseline,
        baseline_source=baseline_source,
        latest_vs_baseline_pct=round(100 * latest.value / baseline, 1) if baseline else None,
    )
    outliers: list[Outlier] = []
    if spec.outliers and len(ref) >= MIN_TREND_POINTS:
        ref_mean, ref_sd = statistics.fmean(ref), statistics.stdev(ref)
        if ref_sd > 0:
            for p in pts:
                z = (p.value - ref_mean) / ref_sd
                if abs(z) >= OUTLIER_Z:
                    outliers.append(Outlier(date=p.date, value=round(p.value, d), z=round(z, 2)))
    base["outliers"] = outliers
    fit = _fit(pts)
    direction: Direction = "insufficient data"
    if fit is not None:
        slope, t = fit
        change = slope * (pts[-1].date - pts[0].date).days
        base.update(slope_per_week=round(slope * 7, d + 1), change_over_window=round(change, d))
        if len(pts) >= MIN_TREND_POINTS:
            if abs(t) < _T_SIGNIFICANT or abs(change) < spec.min_change:
                direction = "stable"
            elif spec.polarity == "neutral":
                direction = "rising" if slope > 0 else "falling"
            elif (slope > 0) == (spec.polarity == "higher_better"):
                direction = "improving"
            else:
                direction = "declining"
    base["direction"] = direction
    trend = MetricTrend(**base)
    trend.summary = _trend_sentence(trend, spec, span)
    return trend


def _trend_sentence(t: MetricTrend, spec: MetricSpec, span: str) -> str:
    if t.n == 1:
        return (
            f"Only one day of {spec.label.lower()} data in {span} "
            f"({format_value(t.latest, spec)} on {t.latest_date}); not enough for a trend."
        )
    text = (
        f"{spec.label} averaged {format_value(t.mean, spec)} over {span} ({t.n} days with data; "
        f"baseline {format_value(t.baseline, spec)})"
    )
    if t.direction == "insufficient data":
        text += "; too few days for a trend"
    elif t.direction == "stable":
        text += "; stable"
    else:
        text += f"; {t.direction} ({format_value(t.slope_per_week, spec, signed=True)}/week)"
    text += f"; latest {format_value(t.latest, spec)} on {t.latest_date}."
    if t.outliers:
        shown = ", ".join(f"{o.date} ({format_value(o.value, spec)})" for o in t.outliers[:3])
        more = f" and {len(t.outliers) - 3} more" if len(t.outliers) > 3 else ""
        text += f" Unusual: {shown}{more}."
    return text


class TrendReport(BaseModel):
    """Trends of the main metrics over the ``window_days`` ending ``end_date``."""

    window_days: int
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    days_in_window: int = 0
    recovery: MetricTrend
    hrv: MetricTrend
    resting_hr: MetricTrend
    sleep_hours: MetricTrend
    sleep_performance: MetricTrend
    strain: MetricTrend
    workouts: MetricTrend
    respiratory_rate: MetricTrend
    spo2: MetricTrend
    skin_temp: MetricTrend
    highlights: list[str] = Field(default_factory=list, description="summaries of metrics that changed")

    def metrics(self) -> list[MetricTrend]:
        """All metric trends, in report order."""
        return [getattr(self, name) for name in _TREND_FIELDS]


_TREND_FIELDS: dict[str, MetricName] = {
    "recovery": "recovery_pct",
    "hrv": "hrv_ms",
    "resting_hr": "resting_hr_bpm",
    "sleep_hours": "sleep_hours",
    "sleep_performance": "sleep_performance_pct",
    "strain": "strain",
    "workouts": "workouts",
    "respiratory_rate": "respiratory_rate_per_min",
    "spo2": "spo2_pct",
    "skin_temp": "skin_temp_c",
}


def days_in_window(days: Iterable[DaySummary], end: dt.date, n_days: int) -> list[DaySummary]:
    """The day rows of the last ``n_days`` days ending ``end`` (``dates.day_window``)."""
    start, end = day_window(end, n_days)
    return [d for d in days if start <= d.date <= end]


def compute_trends(
    days: Sequence[DaySummary], window_days: int = 30, *, end: dt.date | None = None
) -> TrendReport:
    """Trends over the ``window_days`` ending ``end`` (default: the newest day); older days set baselines.

    Raises:
        ValueError: if ``window_days`` < 1.
    """
    if window_days < 1:
        raise ValueError("window_days must be at least 1")
    if end is None and days:
        end = max(d.date for d in days)
    history = [d for d in days if end is None or d.date <= end]
    window = days_in_window(history, end, window_days) if end is not None else []
    fields: dict[str, MetricTrend] = {}
    for name, metric in _TREND_FIELDS.items():
        fields[name] = metric_trend(
            metric_series(window, metric),
            metric,
            window_days=window_days,
            history=metric_series(history, metric),
        )
    highlights = [t.summary for t in fields.values() if t.direction not in ("stable", "insufficient data")]
    return TrendReport(
        window_days=window_days,
        start_date=day_window(end, window_days)[0] if end is not None else None,
        end_date=end,
        days_in_window=len(window),
        highlights=highlights,
        **fields,
    )
