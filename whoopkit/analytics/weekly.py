"""The weekly report: averages, extremes, sleep, strain and workouts of seven WHOOP days."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, Field

from whoopkit.analytics.comparison import PeriodComparison, compare_periods
from whoopkit.analytics.days import WEEKDAYS, DaySummary
from whoopkit.analytics.summaries import WorkoutSummary
from whoopkit.analytics.trends import days_in_window
from whoopkit.analytics.units import mean_or_none
from whoopkit.analytics.window import window_stats
from whoopkit.text import one_line


class DayValue(BaseModel):
    """A value on a given day."""

    date: dt.date
    value: float


class SportTotal(BaseModel):
    """Workouts of one sport within a period."""

    sport: str
    count: int
    minutes: float
    strain_total: float | None = None
    energy_kcal: int | None = None


class WeeklyReport(BaseModel):
    """The 7 WHOOP days ending ``week_end``: averages, extremes, sleep, strain and workouts."""

    week_start: dt.date
    week_end: dt.date
    days_with_data: int
    avg_recovery_pct: float | None = None
    avg_hrv_ms: float | None = None
    avg_resting_hr_bpm: float | None = None
    green_days: int = 0
    yellow_days: int = 0
    red_days: int = 0
    best_recovery: DayValue | None = None
    worst_recovery: DayValue | None = None
    total_strain: float | None = Field(None, description="sum of day strain (today's so far included)")
    avg_strain: float | None = Field(None, description="mean day strain of the completed days")
    max_strain: DayValue | None = None
    total_energy_kcal: int | None = None
    nights_scored: int = 0
    total_sleep_hours: float | None = None
    avg_sleep_hours: float | None = None
    avg_sleep_performance_pct: float | None = None
    avg_sleep_consistency_pct: float | None = None
    avg_sleep_need_hours: float | None = None
    nights_under_7h: int = 0
    bedtime_spread_minutes: float | None = Field(None, description="std dev of sleep-onset clock time")
    total_nap_hours: float | None = None
    workouts_total: int = 0
    workout_minutes_total: float = 0.0
    workouts_by_sport: list[SportTotal] = Field(default_factory=list)
    vs_previous_week: PeriodComparison | None = None
    highlights: list[str] = Field(default_factory=list)


def _bedtime_minutes(t: dt.datetime) -> float:
    """Clock time as minutes after noon, so that 23:30 and 00:30 are an hour apart."""
    return float((t.hour * 60 + t.minute - 720) % 1440)


def weekly_report(days: Sequence[DaySummary], week_end: dt.date | None = None) -> WeeklyReport:
    """Report on the 7 WHOOP days ending ``week_end`` (default: the newest day), vs the 7 days before."""
    if week_end is None:
        week_end = max((d.date for d in days), default=dt.date(1970, 1, 7))
    week = sorted(days_in_window(days, week_end, 7), key=lambda d: d.date)
    prev = days_in_window(days, week_end - dt.timedelta(days=7), 7)
    stats = window_stats(week, week_end, 7)
    rep = WeeklyReport(
        week_start=stats.start,
        week_end=week_end,
        days_with_data=stats.days_with_data,
        avg_recovery_pct=stats.avg_recovery_pct,
        avg_hrv_ms=stats.avg_hrv_ms,
        avg_resting_hr_bpm=stats.avg_resting_hr_bpm,
        green_days=stats.green_days,
        yellow_days=stats.yellow_days,
        red_days=stats.red_days,
        avg_strain=stats.avg_strain,
        avg_sleep_hours=stats.avg_sleep_hours,
    )
    recs = [(d.date, d.recovery_pct) for d in week if d.recovery_pct is not None]
    if recs:
        best = max(recs, key=lambda r: r[1])
        worst = min(recs, key=lambda r: r[1])
        rep.best_recovery = DayValue(date=best[0], value=best[1])
        rep.worst_recovery = DayValue(date=worst[0], value=worst[1])
    strains = [(d.date, d.strain) for d in week if d.strain is not None]
    if strains:
        rep.total_strain = round(sum(v for _, v in strains), 1)
        top = max(strains, key=lambda s: s[1])
        rep.max_strain = DayValue(date=top[0], value=top[1])
    kcals = [d.energy_kcal for d in week if d.energy_kcal is not None]
    rep.total_energy_kcal = sum(kcals) if kcals else None
    nights = [d for d in week if d.sleep_hours is not None]
    rep.nights_scored = len(nights)
    if nights:
        hours = [d.sleep_hours for d in nights if d.sleep_hours is not None]
        rep.total_sleep_hours = round(sum(hours), 2)
        rep.nights_under_7h = sum(h < 7 for h in hours)
    rep.avg_sleep_performance_pct = mean_or_none(
        [d.sleep_performance_pct for d in week if d.sleep_performance_pct is not None], 1
    )
    rep.avg_sleep_consistency_pct = mean_or_none(
        [d.sleep_consistency_pct for d in week if d.sleep_consistency_pct is not None], 1
    )
    rep.avg_sleep_need_hours = mean_or_none(
        [d.sleep_need_hours for d in week if d.sleep_need_hours is not None], 2
    )
    onsets = [_bedtime_minutes(d.sleep_start_local) for d in week if d.sleep_start_local is not None]
    rep.bedtime_spread_minutes = round(statistics.pstdev(onsets), 1) if len(onsets) >= 2 else None
    naps = [d.nap_hours for d in week if d.nap_count and d.nap_hours is not None]
    rep.total_nap_hours = round(sum(naps), 2) if naps else None
    by_sport: dict[str, list[WorkoutSummary]] = defaultdict(list)
    for d in week:
        for w in d.workouts:
            by_sport[w.sport].append(w)
    rep.workouts_total = sum(d.workout_count for d in week)
    rep.workout_minutes_total = round(sum(d.workout_minutes for d in week), 1)
    rep.workouts_by_sport = sorted(
        (
            SportTotal(
                sport=sport,
                count=len(ws),
                minutes=round(sum(w.duration_minutes for w in ws), 1),
                strain_total=round(sum(s), 1)
                if (s := [w.strain for w in ws if w.strain is not None])
                else None,
                energy_kcal=sum(k)
                if (k := [w.energy_kcal for w in ws if w.energy_kcal is not None])
                else None,
            )
            for sport, ws in by_sport.items()
        ),
        key=lambda s: (-s.count, s.sport),
    )
    if prev:
        rep.vs_previous_week = compare_periods(prev, week, "the previous week", "this week")
    rep.highlights = _weekly_highlights(rep)
    return rep


def _weekly_highlights(rep: WeeklyReport) -> list[str]:
    out: list[str] = []
    if rep.days_with_data == 0:
        return [f"No WHOOP data for {rep.week_start} to {rep.week_end}."]
    if rep.avg_recovery_pct is not None:
        out.append(
            f"Average recovery {rep.avg_recovery_pct:.0f}% ({rep.green_days} green, "
            f"{rep.yellow_days} yellow, {rep.red_days} red)."
        )
    if rep.best_recovery and rep.worst_recovery and rep.best_recovery.date != rep.worst_recovery.date:
        b, w = rep.best_recovery, rep.worst_recovery
        out.append(
            f"Best recovery {WEEKDAYS[b.date.weekday()]} {b.date} ({b.value:.0f}%), "
            f"lowest {WEEKDAYS[w.date.weekday()]} {w.date} ({w.value:.0f}%)."
        )
    if rep.avg_sleep_hours is not None and rep.total_sleep_hours is not None:
        perf = (
            f", sleep performance {rep.avg_sleep_performance_pct:.0f}%"
            if rep.avg_sleep_performance_pct is not None
            else ""
        )
        out.append(
            f"Slept {rep.total_sleep_hours:.1f} h over {rep.nights_scored} nights, "
            f"{rep.avg_sleep_hours:.1f} h a night on average{perf}; {rep.nights_under_7h} under 7 h."
        )
    if rep.bedtime_spread_minutes is not None:
        out.append(f"Bedtimes varied by ±{rep.bedtime_spread_minutes:.0f} minutes.")
    if rep.total_strain is not None and rep.avg_strain is not None:
        top = f", peak {rep.max_strain.value:.1f} on {rep.max_strain.date}" if rep.max_strain else ""
        out.append(f"Total strain {rep.total_strain:.1f} (avg {rep.avg_strain:.1f} a completed day{top}).")
    if rep.workouts_total:
        sports = ", ".join(f"{s.count} {one_line(s.sport)}" for s in rep.workouts_by_sport)
        out.append(
            f"{rep.workouts_total} workouts ({sports}), {rep.workout_minutes_total / 60:.1f} h in total."
        )
    else:
        out.append("No workouts recorded.")
    if rep.vs_previous_week is not None:
        out.extend(rep.vs_previous_week.highlights[:3])
    return out
