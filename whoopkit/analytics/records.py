"""Personal records and green streaks over the stored history, and the recovery calendar (one cell a day).

Records are set on the first day a value was reached: a later equal value does not take the record.
Recovery, HRV and resting-heart-rate records use every scored recovery; the strain record only closed
cycles (today's strain is still accumulating). Sleep records use main sleeps, dated by their WHOOP day
(the day woken into). Workout records are per sport and dated by the workout's local start; the fastest
needs a distance of at least 1 km, and running and walking also give the pace in min/km.

A green streak is a run of consecutive WHOOP days with a green recovery (67 % or more as WHOOP shows
it, whole percent); a day without a scored recovery ends it. The current streak ends today, or yesterday
while today's recovery is not scored yet.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Sequence

from pydantic import BaseModel, Field

from whoopkit.analytics.days import WEEKDAYS, DaySummary
from whoopkit.analytics.summaries import WorkoutSummary
from whoopkit.analytics.units import hours_text
from whoopkit.analytics.zones import RecoveryZone, State

MIN_FASTEST_KM = 1.0
_PACE_SPORTS = ("run", "walk")


class PersonalRecord(BaseModel):
    """One record: what, its value and unit, the day it was set, and a sentence to quote."""

    key: str = Field(description="stable id, e.g. best_recovery, running_farthest")
    label: str
    date: dt.date
    value: float
    unit: str
    sport: str | None = None
    workout_id: str | None = None
    distance_km: float | None = None
    duration_minutes: float | None = None
    pace_min_per_km: float | None = Field(None, description="running and walking: minutes per km")
    sentence: str


class Streak(BaseModel):
    """A run of consecutive green-recovery WHOOP days (``days`` 0: none)."""

    days: int
    start: dt.date | None = None
    end: dt.date | None = None
    sentence: str


class SportRecords(BaseModel):
    """One sport's longest, farthest and fastest workouts."""

    sport: str
    workouts: int
    longest: PersonalRecord
    farthest: PersonalRecord | None = None
    fastest: PersonalRecord | None = None


class RecordsReport(BaseModel):
    """Personal records and green streaks over the given day rows, each with its date and a sentence."""

    first_date: dt.date | None = None
    last_date: dt.date | None = None
    days_with_recovery: int = 0
    best_recovery: PersonalRecord | None = None
    worst_recovery: PersonalRecord | None = None
    highest_hrv: PersonalRecord | None = None
    lowest_resting_hr: PersonalRecord | None = None
    most_strain: PersonalRecord | None = None
    longest_sleep: PersonalRecord | None = None
    best_sleep_performance: PersonalRecord | None = None
    best_sleep_efficiency: PersonalRecord | None = None
    longest_green_streak: Streak
    current_green_streak: Streak
    sports: list[SportRecords] = Field(default_factory=list, description="most workouts first")
    summary: str


class CalendarDay(BaseModel):
    """One day of the recovery calendar, with the tooltip text its cell shows."""

    date: dt.date
    weekday: str
    recovery_state: State = "MISSING"
    recovery_pct: float | None = None
    zone: RecoveryZone | None = None
    hrv_ms: float | None = None
    resting_hr_bpm: float | None = None
    strain: float | None = None
    strain_open: bool = Field(False, description="today's strain, still accumulating")
    tooltip: str


def records_report(days: Sequence[DaySummary], *, today: dt.date) -> RecordsReport:
    """Personal records and the longest and current green streaks of ``days`` (any order)."""
    rows = sorted(days, key=lambda r: r.date)
    scored = [r for r in rows if _recovered(r)]
    by_date = {r.date: r for r in rows}

    def best(
        key: str,
        label: str,
        pool: Sequence[DaySummary],
        get: Callable[[DaySummary], float | None],
        unit: str,
        text: Callable[[float], str],
        *,
        lowest: bool = False,
        night: bool = False,
    ) -> PersonalRecord | None:
        found: tuple[DaySummary, float] | None = None
        for row in pool:
            value = get(row)
            if value is None:
                continue
            if found is None or (value < found[1] if lowest else value > found[1]):
                found = (row, value)
        if found is None:
            return None
        row, value = found
        when = f"the night before {date_text(row.date)}" if night else f"on {date_text(row.date)}"
        return PersonalRecord(
            key=key,
            label=label,
            date=row.date,
            value=value,
            unit=unit,
            sentence=f"{label}: {text(value)} {when}.",
        )

    closed = [r for r in rows if not r.cycle_open and r.cycle_state == "SCORED"]
    sleeps = [r for r in rows if r.sleep_state == "SCORED"]
    longest, current = _streaks(by_date, today)
    report = RecordsReport(
        first_date=rows[0].date if rows else None,
        last_date=rows[-1].date if rows else None,
        days_with_recovery=len(scored),
        best_recovery=best("best_recovery", "Best recovery", scored, _pct, "%", _pct_text),
        worst_recovery=best("worst_recovery", "Worst recovery", scored, _pct, "%", _pct_text, lowest=True),
        highest_hrv=best("highest_hrv", "Highest HRV", scored, lambda r: r.hrv_ms, "ms", _ms_text),
        lowest_resting_hr=best(
            "lowest_resting_hr",
            "Lowest resting heart rate",
            scored,
            lambda r: r.resting_hr_bpm,
            "bpm",
            _bpm_text,
            lowest=True,
        ),
        most_strain=best(
            "most_strain", "Most strain in a day", closed, lambda r: r.strain, "strain", lambda v: f"{v:.1f}"
        ),
        longest_sleep=best(
            "longest_sleep", "Longest sleep", sleeps, lambda r: r.sleep_hours, "h", hours_text, night=True
        ),
        best_sleep_performance=best(
            "best_sleep_performance",
            "Best sleep performance",
            sleeps,
            lambda r: r.sleep_performance_pct,
            "%",
            _pct_text,
            night=True,
        ),
        best_sleep_efficiency=best(
            "best_sleep_efficiency",
            "Best sleep efficiency",
            sleeps,
            lambda r: r.sleep_efficiency_pct,
            "%",
            _pct_text,
            night=True,
        ),
        longest_green_streak=longest,
        current_green_streak=current,
        sports=_sport_records([w for r in rows for w in r.workouts]),
        summary="",
    )
    report.summary = _records_summary(report)
    return report


def recovery_calendar(days: Sequence[DaySummary], *, start: dt.date, end: dt.date) -> list[CalendarDay]:
    """One cell per date ``start..end`` (oldest first): recovery, zone, HRV, RHR, strain and a tooltip."""
    by_date = {r.date: r for r in days}
    out: list[CalendarDay] = []
    day = start
    while day <= end:
        row = by_date.get(day)
        if row is None:
            out.append(
                CalendarDay(date=day, weekday=WEEKDAYS[day.weekday()], tooltip=f"{date_text(day)}: no data")
            )
        else:
            out.append(_cell(row))
        day += dt.timedelta(days=1)
    return out


def date_text(day: dt.date) -> str:
    """A day with its year, as records and tooltips write it: ``Tue 3 Nov 2026``."""
    return f"{day:%a} {day.day} {day:%b} {day.year}"


# ------------------------------------------------------------------------------------------- helpers


def _recovered(row: DaySummary) -> bool:
    return row.recovery_state == "SCORED" and row.recovery_pct is not None


def _green(row: DaySummary | None) -> bool:
    return row is not None and _recovered(row) and row.recovery_zone == "green"


def _pct(row: DaySummary) -> float | None:
    return row.recovery_pct


def _whole(value: float) -> int:
    """Whole units as WHOOP shows them (half up, like ``recovery_zone``)."""
    return math.floor(value + 0.5)


def _pct_text(value: float) -> str:
    return f"{_whole(value)}%"


def _ms_text(value: float) -> str:
    return f"{_whole(value)} ms"


def _bpm_text(value: float) -> str:
    return f"{_whole(value)} bpm"


def _streak(days: int, start: dt.date | None, end: dt.date | None, what: str) -> Streak:
    if days == 0 or start is None or end is None:
        return Streak(days=0, sentence=f"No {what} green streak.")
    span = date_text(end) if start == end else f"{date_text(start)} to {date_text(end)}"
    unit = "day" if days == 1 else "days"
    return Streak(
        days=days, start=start, end=end, sentence=f"{what.capitalize()} green streak: {days} {unit} ({span})."
    )


def _streaks(by_date: dict[dt.date, DaySummary], today: dt.date) -> tuple[Streak, Streak]:
    best: tuple[int, dt.date | None, dt.date | None] = (0, None, None)
    run, run_start = 0, None
    if by_date:
        day, last = min(by_date), max(by_date)
        while day <= last:
            if _green(by_date.get(day)):
                run, run_start = run + 1, run_start or day
                if run > best[0]:
                    best = (run, run_start, day)
            else:
                run, run_start = 0, None
            day += dt.timedelta(days=1)
    today_row = by_date.get(today)
    anchor = today if today_row is not None and _recovered(today_row) else today - dt.timedelta(days=1)
    count, day = 0, anchor
    while _green(by_date.get(day)):
        count += 1
        day -= dt.timedelta(days=1)
    current = _streak(count, anchor - dt.timedelta(days=count - 1), anchor, "current")
    if count == 0:
        shown = by_date.get(anchor)
        if shown is not None and _recovered(shown) and shown.recovery_pct is not None:
            which = "today's recovery is" if anchor == today else "yesterday's recovery was"
            current = Streak(
                days=0,
                sentence=(
                    f"No current green streak: {which} {_pct_text(shown.recovery_pct)} "
                    f"({shown.recovery_zone})."
                ),
            )
    return _streak(best[0], best[1], best[2], "longest"), current


def _sport_records(workouts: Sequence[WorkoutSummary]) -> list[SportRecords]:
    by_sport: dict[str, list[WorkoutSummary]] = defaultdict(list)
    for w in sorted(workouts, key=lambda w: w.start_local):
        by_sport[w.sport].append(w)
    out: list[SportRecords] = []
    for sport, items in by_sport.items():
        name = sport.replace("_", " ")
        longest = items[0]
        for w in items:
            if w.duration_minutes > longest.duration_minutes:
                longest = w
        with_distance = [w for w in items if w.distance_km is not None and w.distance_km > 0]
        farthest = None
        for w in with_distance:
            if farthest is None or (w.distance_km or 0) > (farthest.distance_km or 0):
                farthest = w
        fastest: tuple[WorkoutSummary, float] | None = None
        for w in with_distance:
            if (w.distance_km or 0) >= MIN_FASTEST_KM and w.duration_minutes > 0:
                speed = (w.distance_km or 0) / (w.duration_minutes / 60)
                if fastest is None or speed > fastest[1]:
                    fastest = (w, speed)
        out.append(
            SportRecords(
                sport=sport,
                workouts=len(items),
                longest=_workout_record(
                    f"{sport}_longest",
                    f"Longest {name}",
                    longest,
                    longest.duration_minutes,
                    "min",
                    hours_text(longest.duration_minutes / 60),
                ),
                farthest=None
                if farthest is None
                else _workout_record(
                    f"{sport}_farthest",
                    f"Farthest {name}",
                    farthest,
                    farthest.distance_km or 0.0,
                    "km",
                    f"{farthest.distance_km:.2f} km",
                ),
                fastest=None if fastest is None else _fastest(sport, name, *fastest),
            )
        )
    out.sort(key=lambda s: (-s.workouts, s.sport))
    return out


def _workout_record(
    key: str, label: str, w: WorkoutSummary, value: float, unit: str, text: str, pace: float | None = None
) -> PersonalRecord:
    return PersonalRecord(
        key=key,
        label=label,
        date=w.local_date,
        value=value,
        unit=unit,
        sport=w.sport,
        workout_id=w.workout_id,
        distance_km=w.distance_km,
        duration_minutes=w.duration_minutes,
        pace_min_per_km=pace,
        sentence=f"{label}: {text} on {date_text(w.local_date)}.",
    )


def _fastest(sport: str, name: str, w: WorkoutSummary, speed: float) -> PersonalRecord:
    pace = None
    text = f"{speed:.1f} km/h"
    if any(word in sport.lower() for word in _PACE_SPORTS):
        pace = round(60 / speed, 2)
        minutes, seconds = divmod(round(60 * 60 / speed), 60)
        text += f" ({minutes}:{seconds:02d} min/km)"
    text += f" over {w.distance_km:.2f} km"
    return _workout_record(f"{sport}_fastest", f"Fastest {name}", w, round(speed, 2), "km/h", text, pace)


def _records_summary(report: RecordsReport) -> str:
    if report.first_date is None or report.last_date is None:
        return "No stored days yet, so there are no records."
    parts = [
        f"Records from {date_text(report.first_date)} to {date_text(report.last_date)} "
        f"({report.days_with_recovery} days with a scored recovery)."
    ]
    for record in (report.best_recovery, report.highest_hrv, report.lowest_resting_hr, report.most_strain):
        if record is not None:
            parts.append(record.sentence)
    parts.append(report.longest_green_streak.sentence)
    parts.append(report.current_green_streak.sentence)
    return " ".join(parts)


def _cell(row: DaySummary) -> CalendarDay:
    bits: list[str] = []
    if _recovered(row) and row.recovery_pct is not None:
        bits.append(f"recovery {_pct_text(row.recovery_pct)} ({row.recovery_zone})")
        if row.hrv_ms is not None:
            bits.append(f"HRV {_ms_text(row.hrv_ms)}")
        if row.resting_hr_bpm is not None:
            bits.append(f"RHR {_bpm_text(row.resting_hr_bpm)}")
    elif row.recovery_state == "PENDING_SCORE":
        bits.append("recovery not scored yet")
    elif row.recovery_state == "UNSCORABLE":
        bits.append("recovery could not be scored")
    else:
        bits.append("no recovery")
    if row.strain is not None:
        bits.append(f"strain {row.strain:.1f}" + (" so far" if row.cycle_open else ""))
    return CalendarDay(
        date=row.date,
        weekday=row.weekday,
        recovery_state=row.recovery_state,
        recovery_pct=row.recovery_pct if _recovered(row) else None,
        zone=row.recovery_zone if _recovered(row) else None,
        hrv_ms=row.hrv_ms,
        resting_hr_bpm=row.resting_hr_bpm,
        strain=row.strain,
        strain_open=row.cycle_open,
        tooltip=f"{date_text(row.date)}: " + ", ".join(bits),
    )
