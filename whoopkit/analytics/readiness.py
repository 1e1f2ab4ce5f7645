"""Training readiness: a strain target for today from its recovery zone, baselines and recent load."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from whoopkit.analytics.baseline import Baselines, baselines_from_trends
from whoopkit.analytics.days import DaySummary
from whoopkit.analytics.trends import TrendReport
from whoopkit.analytics.zones import RecoveryZone, State

ReadinessLevel = Literal["push", "maintain", "recover"]
_TIERS: tuple[tuple[ReadinessLevel, float, float], ...] = (
    ("recover", 0.0, 10.0),
    ("maintain", 10.0, 14.0),
    ("push", 14.0, 18.0),
)
_ZONE_TIER: dict[RecoveryZone, int] = {"red": 0, "yellow": 1, "green": 2}

HRV_LOW_RATIO = 0.80
RHR_HIGH_DELTA_BPM = 5.0
SHORT_SLEEP_HOURS = 6.5
SLEEP_DEBT_HOURS = 1.0
ACWR_HIGH = 1.5
ACWR_LOW = 0.8
SPO2_LOW_PCT = 94.0
SPO2_ALERT_PCT = 90.0
SKIN_TEMP_DELTA_C = 1.0
RESP_RATE_DELTA = 1.0


class Readiness(BaseModel):
    """Should I train today: the recovery zone adjusted for HRV, RHR, sleep and recent load."""

    date: dt.date
    recovery_state: State
    recovery_pct: float | None = None
    recovery_zone: RecoveryZone | None = None
    level: ReadinessLevel
    recommendation: str
    target_strain_min: float
    target_strain_max: float
    strain_so_far: float | None = Field(None, description="today's day strain when the cycle is open")
    hrv_ms: float | None = None
    hrv_baseline_ms: float | None = Field(None, description="mean HRV of the 30 days before this day")
    hrv_vs_7d_pct: float | None = None
    hrv_vs_30d_pct: float | None = Field(None, description="HRV as a percentage of hrv_baseline_ms")
    resting_hr_bpm: float | None = None
    resting_hr_baseline_bpm: float | None = Field(None, description="mean of the 30 days before this day")
    rhr_vs_7d_bpm: float | None = None
    rhr_vs_30d_bpm: float | None = Field(None, description="resting HR minus resting_hr_baseline_bpm")
    sleep_hours: float | None = None
    sleep_need_hours: float | None = None
    sleep_vs_need_pct: float | None = None
    acute_strain_7d: float | None = None
    chronic_strain_28d: float | None = None
    acute_chronic_ratio: float | None = None
    rationale: list[str] = Field(default_factory=list)


def _pct_of(value: float | None, ref: float | None) -> float | None:
    return round(100 * value / ref, 1) if value is not None and ref else None


def _diff(value: float | None, ref: float | None) -> float | None:
    return round(value - ref, 1) if value is not None and ref is not None else None


def training_readiness(
    today: DaySummary, trends: TrendReport | None = None, *, baselines: Baselines | None = None
) -> Readiness:
    """Recommend a strain target for ``today`` from its recovery zone, baselines (or trends) and load.

    Green starts at strain 14–18, yellow 10–14, red 0–10; each caution (HRV < 80% of baseline,
    resting HR > baseline + 5 bpm, sleep < 6.5 h, acute:chronic strain > 1.5) moves one band down.
    """
    b = baselines
    if b is None:
        b = baselines_from_trends(trends, today.date) if trends is not None else Baselines()
    hrv_ref, rhr_ref = b.hrv_baseline_ms, b.resting_hr_baseline_bpm
    r = Readiness(
        date=today.date,
        recovery_state=today.recovery_state,
        recovery_pct=today.recovery_pct,
        recovery_zone=today.recovery_zone,
        level="maintain",
        recommendation="",
        target_strain_min=10.0,
        target_strain_max=14.0,
        strain_so_far=today.strain if today.cycle_open else None,
        hrv_ms=today.hrv_ms,
        hrv_baseline_ms=hrv_ref,
        hrv_vs_7d_pct=_pct_of(today.hrv_ms, b.hrv_ms_7d),
        hrv_vs_30d_pct=_pct_of(today.hrv_ms, hrv_ref),
        resting_hr_bpm=today.resting_hr_bpm,
        resting_hr_baseline_bpm=rhr_ref,
        rhr_vs_7d_bpm=_diff(today.resting_hr_bpm, b.resting_hr_bpm_7d),
        rhr_vs_30d_bpm=_diff(today.resting_hr_bpm, rhr_ref),
        sleep_hours=today.sleep_hours,
        sleep_need_hours=today.sleep_need_hours,
        sleep_vs_need_pct=_pct_of(today.sleep_hours, today.sleep_need_hours),
        acute_strain_7d=b.strain_7d,
        chronic_strain_28d=b.strain_28d,
        acute_chronic_ratio=b.acute_chronic_ratio,
    )
    why: list[str] = []
    if today.recovery_zone is not None and today.recovery_pct is not None:
        tier = _ZONE_TIER[today.recovery_zone]
        why.append(f"Recovery {today.recovery_pct:.0f}% is in the {today.recovery_zone} zone.")
    else:
        tier = 1
        state = today.recovery_state.lower().replace("_", " ")
        why.append(f"Today's recovery is not scored ({state}), so the target is a moderate default.")
    if today.calibrating:
        why.append("WHOOP is still calibrating to you, so scores are less certain.")
    cautions = 0
    if today.hrv_ms is not None and hrv_ref:
        ratio = today.hrv_ms / hrv_ref
        if ratio < HRV_LOW_RATIO:
            cautions += 1
            why.append(f"HRV {today.hrv_ms:.1f} ms is only {ratio:.1%} of your baseline {hrv_ref:.1f} ms.")
        else:
            why.append(f"HRV {today.hrv_ms:.1f} ms is {ratio:.1%} of your baseline {hrv_ref:.1f} ms.")
    if today.resting_hr_bpm is not None and rhr_ref is not None:
        delta = today.resting_hr_bpm - rhr_ref
        if delta > RHR_HIGH_DELTA_BPM:
            cautions += 1
            why.append(
                f"Resting HR {today.resting_hr_bpm:.0f} bpm is {delta:.1f} bpm above your baseline "
                f"{rhr_ref:.1f}."
            )
        else:
            why.append(f"Resting HR {today.resting_hr_bpm:.0f} bpm is {delta:+.1f} bpm vs your baseline.")
    if today.sleep_hours is not None:
        need = f" of a {today.sleep_need_hours:.1f} h need" if today.sleep_need_hours else ""
        if today.sleep_hours < SHORT_SLEEP_HOURS:
            cautions += 1
            why.append(f"Short sleep: {today.sleep_hours:.1f} h{need}.")
        else:
            why.append(f"Slept {today.sleep_hours:.1f} h{need}.")
    acwr = b.acute_chronic_ratio
    if acwr is not None:
        load = f"(7-day avg strain {b.strain_7d:.1f} vs 28-day {b.strain_28d:.1f})"
        if acwr > ACWR_HIGH:
            cautions += 1
            why.append(
                f"Acute:chronic strain ratio {acwr:.2f} is above {ACWR_HIGH} {load}: load is ramping fast."
            )
        elif acwr < ACWR_LOW:
            why.append(f"Acute:chronic strain ratio {acwr:.2f} {load}: recent load is light, room to build.")
        else:
            why.append(f"Acute:chronic strain ratio {acwr:.2f} {load} is in a sustainable range.")
    tier = max(0, tier - cautions)
    level, lo, hi = _TIERS[tier]
    r.level, r.target_strain_min, r.target_strain_max = level, lo, hi
    r.recommendation = {
        "push": f"Good day to push: a hard session fits, aim for day strain {lo:.0f}–{hi:.0f}.",
        "maintain": f"Train moderately: aim for day strain {lo:.0f}–{hi:.0f} and skip all-out efforts.",
        "recover": f"Prioritise recovery: keep day strain under {hi:.0f}; easy movement, mobility and sleep.",
    }[level]
    if r.strain_so_far is not None and r.strain_so_far >= hi:
        why.append(f"You are already at strain {r.strain_so_far:.1f}, the top of today's target.")
    r.rationale = why
    return r
