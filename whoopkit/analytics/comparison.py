"""Comparing the per-metric means of two periods of day rows."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from whoopkit.analytics.days import DaySummary
from whoopkit.analytics.trends import METRICS, MetricName, format_value, metric_series
from whoopkit.analytics.units import round_or_none
from whoopkit.analytics.zones import Polarity

Verdict = Literal["better", "worse", "unchanged", "higher", "lower", "n/a"]
_COMPARED: tuple[MetricName, ...] = (
    "recovery_pct",
    "hrv_ms",
    "resting_hr_bpm",
    "sleep_hours",
    "sleep_performance_pct",
    "strain",
    "workouts",
)


class MetricComparison(BaseModel):
    """One metric's mean in two periods; ``change`` is B minus A and the verdict judges B."""

    metric: MetricName
    label: str
    unit: str
    polarity: Polarity
    mean_a: float | None = None
    mean_b: float | None = None
    n_a: int = 0
    n_b: int = 0
    change: float | None = None
    change_pct: float | None = None
    verdict: Verdict = "n/a"
    summary: str = ""


class PeriodComparison(BaseModel):
    """Means of the main metrics in period A and period B, and how B compares."""

    label_a: str
    label_b: str
    start_a: dt.date | None = None
    end_a: dt.date | None = None
    start_b: dt.date | None = None
    end_b: dt.date | None = None
    days_a: int
    days_b: int
    metrics: list[MetricComparison]
    highlights: list[str] = Field(default_factory=list, description="metrics that changed")


def compare_periods(
    days_a: Sequence[DaySummary], days_b: Sequence[DaySummary], label_a: str = "A", label_b: str = "B"
) -> PeriodComparison:
    """Compare per-metric means of two sets of day rows (B relative to A), with metric-aware polarity."""
    out: list[MetricComparison] = []
    for metric in _COMPARED:
        spec = METRICS[metric]
        va = [p.value for p in metric_series(days_a, metric)]
        vb = [p.value for p in metric_series(days_b, metric)]
        ma = statistics.fmean(va) if va else None
        mb = statistics.fmean(vb) if vb else None
        mc = MetricComparison(
            metric=metric,
            label=spec.label,
            unit=spec.unit,
            polarity=spec.polarity,
            mean_a=round_or_none(ma, spec.decimals),
            mean_b=round_or_none(mb, spec.decimals),
            n_a=len(va),
            n_b=len(vb),
        )
        if ma is not None and mb is not None:
            change = mb - ma
            mc.change = round(change, spec.decimals)
            mc.change_pct = round(100 * change / ma, 1) if ma else None
            if abs(change) < spec.min_change:
                mc.verdict = "unchanged"
            elif spec.polarity == "neutral":
                mc.verdict = "higher" if change > 0 else "lower"
            else:
                mc.verdict = "better" if (change > 0) == (spec.polarity == "higher_better") else "worse"
            pct = f", {mc.change_pct:+.1f}%" if mc.change_pct is not None else ""
            mc.summary = (
                f"{spec.label}: {format_value(mc.mean_b, spec)} in {label_b} "
                f"vs {format_value(mc.mean_a, spec)} in {label_a} "
                f"({format_value(mc.change, spec, signed=True)}{pct}; {mc.verdict})."
            )
        else:
            mc.summary = f"{spec.label}: not enough data to compare {label_b} with {label_a}."
        out.append(mc)
    return PeriodComparison(
        label_a=label_a,
        label_b=label_b,
        start_a=min((d.date for d in days_a), default=None),
        end_a=max((d.date for d in days_a), default=None),
        start_b=min((d.date for d in days_b), default=None),
        end_b=max((d.date for d in days_b), default=None),
        days_a=len(days_a),
        days_b=len(days_b),
        metrics=out,
        highlights=[m.summary for m in out if m.verdict not in ("unchanged", "n/a")],
    )
