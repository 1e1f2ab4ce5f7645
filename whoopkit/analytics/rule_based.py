"""Rule-based insights: the deterministic fallback, in the same schema the local LLM must produce."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from whoopkit.analytics.baseline import Baselines, baselines_from_trends
from whoopkit.analytics.days import DaySummary
from whoopkit.analytics.readiness import (
    ACWR_HIGH,
    ACWR_LOW,
    HRV_LOW_RATIO,
    RESP_RATE_DELTA,
    RHR_HIGH_DELTA_BPM,
    SHORT_SLEEP_HOURS,
    SKIN_TEMP_DELTA_C,
    SLEEP_DEBT_HOURS,
    SPO2_ALERT_PCT,
    SPO2_LOW_PCT,
    training_readiness,
)
from whoopkit.analytics.trends import METRICS, TrendReport, format_value
from whoopkit.analytics.units import day_text, hours_text
from whoopkit.analytics.zones import State


class Flag(BaseModel):
    """Something worth the user's attention, with a severity."""

    level: Literal["info", "warning", "alert"] = Field(
        description="info: neutral or positive note; warning: worth acting on; alert: act today"
    )
    message: str = Field(description="one specific sentence, including the numbers")


class Insights(BaseModel):
    """Personal insights for today: a short summary, concrete recommendations and flags."""

    summary: str = Field(description="two or three sentences on today's state, with the key numbers")
    recommendations: list[str] = Field(description="concrete actions for today and tonight")
    flags: list[Flag] = Field(description="notable findings, most important first")


INSIGHTS_JSON_SCHEMA: dict[str, Any] = Insights.model_json_schema()

_UNSCORED_RECOVERY: dict[State, str] = {
    "SCORED": "",
    "PENDING_SCORE": "Today's recovery is still being scored; check back shortly.",
    "UNSCORABLE": "WHOOP could not score today's recovery (too little data from last night).",
    "MISSING": "No recovery recorded for today yet.",
}

_LEVEL_ORDER = {"alert": 0, "warning": 1, "info": 2}


def rule_based_insights(
    today: DaySummary | None, baselines: Baselines | None = None, trends: TrendReport | None = None
) -> Insights:
    """Deterministic insights from today's row, baselines and trends (the fallback when the LLM is down)."""
    if today is None:
        return Insights(
            summary="No WHOOP data yet: wear your strap overnight and check back after a scored sleep.",
            recommendations=["Wear WHOOP through a full night so recovery and sleep can be scored."],
            flags=[Flag(level="info", message="No days with WHOOP data were found.")],
        )
    b = baselines or (baselines_from_trends(trends, today.date) if trends is not None else Baselines())
    ready = training_readiness(today, baselines=b)
    flags: list[Flag] = []
    recs: list[str] = []
    illness_signs = 0

    def flag(level: Literal["info", "warning", "alert"], message: str) -> None:
        flags.append(Flag(level=level, message=message))

    if today.recovery_pct is not None and today.recovery_zone is not None:
        pct, zone = today.recovery_pct, today.recovery_zone
        if zone == "red":
            flag("alert", f"Recovery is {pct:.0f}%, in the red zone (0–33%).")
        elif zone == "yellow":
            flag("info", f"Recovery is {pct:.0f}%, in the yellow zone (34–66%).")
        else:
            flag("info", f"Recovery is {pct:.0f}%, in the green zone (67–100%): your body is ready for load.")
    else:
        flag("info", _UNSCORED_RECOVERY[today.recovery_state])
    if today.calibrating:
        flag("info", "WHOOP is still calibrating to you; scores settle after the first weeks.")

    # The baseline is the mean of whatever the 30 days before hold, so a new user's first week counts.
    hrv_ref = b.hrv_baseline_ms
    if today.hrv_ms is not None and hrv_ref:
        ratio = today.hrv_ms / hrv_ref
        if ratio < HRV_LOW_RATIO:
            illness_signs += 1
            flag(
                "warning",
                f"HRV {today.hrv_ms:.1f} ms is {ratio:.1%} of your baseline {hrv_ref:.1f} ms "
                f"(below {HRV_LOW_RATIO:.0%}).",
            )
            recs.append(
                "HRV is suppressed: favour easy aerobic work, hydrate, skip alcohol, go to bed early."
            )
        elif ratio >= 1.05:
            flag(
                "info", f"HRV {today.hrv_ms:.1f} ms is {ratio - 1:.1%} above your baseline {hrv_ref:.1f} ms."
            )
    rhr_ref = b.resting_hr_baseline_bpm
    if today.resting_hr_bpm is not None and rhr_ref is not None:
        delta = today.resting_hr_bpm - rhr_ref
        if delta > RHR_HIGH_DELTA_BPM:
            illness_signs += 1
            flag(
                "warning",
                f"Resting heart rate {today.resting_hr_bpm:.0f} bpm is {delta:.1f} bpm above your "
                f"baseline {rhr_ref:.1f} bpm.",
            )
        elif delta <= -2:
            flag(
                "info",
                f"Resting heart rate {today.resting_hr_bpm:.0f} bpm is {-delta:.1f} bpm below baseline.",
            )

    if today.sleep_hours is not None:
        need = today.sleep_need_hours
        if today.sleep_hours < SHORT_SLEEP_HOURS:
            flag(
                "warning",
                f"Only {hours_text(today.sleep_hours)} of sleep last night "
                f"(under {hours_text(SHORT_SLEEP_HOURS)}).",
            )
            target = hours_text(need) if need else "7 h 30 min to 9 h"
            recs.append(f"Aim for {target} of sleep tonight: start winding down 30 minutes earlier.")
        elif need and today.sleep_hours >= 0.95 * need:
            flag(
                "info",
                f"Slept {hours_text(today.sleep_hours)}, {today.sleep_hours / need:.0%} of the "
                f"{hours_text(need)} you needed.",
            )
    if today.sleep_debt_hours is not None and today.sleep_debt_hours >= SLEEP_DEBT_HOURS:
        debt = hours_text(today.sleep_debt_hours)
        flag("warning", f"Sleep debt of {debt} is adding to tonight's sleep need.")
        recs.append(f"Pay back the {debt} of sleep debt with an earlier night or a short nap.")

    acwr = b.acute_chronic_ratio
    if acwr is not None and acwr > ACWR_HIGH:
        flag(
            "warning",
            f"Your training load is rising fast: your day strain averaged {b.strain_7d:.1f} over the last "
            f"7 days, {acwr:.2f} times your 4-week average of {b.strain_28d:.1f}; injury risk rises once "
            f"a week's load passes {ACWR_HIGH} times the month's.",
        )
        recs.append("Load is ramping fast: hold or lower strain for a few days before building again.")
    elif acwr is not None and ACWR_LOW <= acwr <= 1.3:
        flag(
            "info",
            f"Training load is steady: your day strain averaged {b.strain_7d:.1f} over the last 7 days, "
            f"close to your 4-week average of {b.strain_28d:.1f}.",
        )

    # health monitor
    if today.spo2_pct is not None and today.spo2_pct < SPO2_LOW_PCT:
        level: Literal["warning", "alert"] = "alert" if today.spo2_pct < SPO2_ALERT_PCT else "warning"
        flag(level, f"Blood oxygen {today.spo2_pct:.1f}% overnight is below {SPO2_LOW_PCT:.0f}%.")
        recs.append("Low SpO2: check the strap fit; if it repeats or you feel unwell, talk to a doctor.")
    if today.skin_temp_c is not None and b.skin_temp_baseline_c is not None:
        dtemp = today.skin_temp_c - b.skin_temp_baseline_c
        if abs(dtemp) > SKIN_TEMP_DELTA_C:
            illness_signs += dtemp > 0
            flag(
                "warning",
                f"Skin temperature {today.skin_temp_c:.1f} °C is {dtemp:+.1f} °C from your baseline "
                f"{b.skin_temp_baseline_c:.1f} °C.",
            )
    if today.respiratory_rate_per_min is not None and b.respiratory_rate_baseline_per_min is not None:
        dresp = today.respiratory_rate_per_min - b.respiratory_rate_baseline_per_min
        if dresp >= RESP_RATE_DELTA:
            illness_signs += 1
            flag(
                "warning",
                f"Respiratory rate {today.respiratory_rate_per_min:.1f}/min is {dresp:+.1f} above your "
                f"baseline {b.respiratory_rate_baseline_per_min:.1f}/min.",
            )
    if illness_signs >= 2:
        recs.insert(
            0, "Several signs of strain on your body (HRV, RHR, temperature, breathing): consider a rest day."
        )

    # trends
    if trends is not None:
        for t in (trends.hrv, trends.recovery, trends.sleep_hours, trends.resting_hr):
            if t.direction == "declining":
                flag(
                    "info",
                    f"{t.label} has been declining over {trends.window_days} days "
                    f"({format_value(t.slope_per_week, METRICS[t.metric], signed=True)}/week).",
                )
            elif t.direction == "improving":
                flag(
                    "info",
                    f"{t.label} has been improving over {trends.window_days} days "
                    f"({format_value(t.slope_per_week, METRICS[t.metric], signed=True)}/week).",
                )

    recs.insert(0 if illness_signs < 2 else 1, ready.recommendation)
    flags.sort(key=lambda f: _LEVEL_ORDER[f.level])  # stable: keeps rule order within a level
    summary = _insights_summary(today, hrv_ref, flags)
    return Insights(summary=summary, recommendations=recs, flags=flags)


def _insights_summary(today: DaySummary, hrv_ref: float | None, flags: list[Flag]) -> str:
    # Today's state only: what to do is the recommendations' job, so the page never says it twice.
    parts: list[str] = []
    if today.recovery_pct is not None:
        parts.append(f"recovery {today.recovery_pct:.0f}% ({today.recovery_zone})")
    if today.hrv_ms is not None:
        rel = f", {today.hrv_ms / hrv_ref:.1%} of baseline" if hrv_ref else ""
        parts.append(f"HRV {today.hrv_ms:.1f} ms{rel}")
    if today.resting_hr_bpm is not None:
        parts.append(f"resting HR {today.resting_hr_bpm:.0f} bpm")
    if today.sleep_hours is not None:
        parts.append(f"{hours_text(today.sleep_hours)} of sleep")
    day = day_text(today.date)
    head = f"{day}: " + ", ".join(parts) + "." if parts else f"{day}: no scored recovery or sleep yet."
    concerns = sum(f.level != "info" for f in flags)
    tail = f" {concerns} thing{'s' if concerns != 1 else ''} to watch." if concerns else " Nothing worrying."
    return f"{head}{tail}"
