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
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from whoopkit.models import Cycle, Recovery, ScoreState, Sleep, Workout, parse_offset

__all__ = [
    "INSIGHTS_JSON_SCHEMA",
    "KJ_PER_KCAL",
    "METRICS",
    "Baselines",
    "DaySummary",
    "DayValue",
    "Flag",
    "Insights",
    "MetricComparison",
    "MetricSpec",
    "MetricTrend",
    "Outlier",
    "Overview",
    "PeriodComparison",
    "Readiness",
    "RecoverySummary",
    "SleepSummary",
    "SportTotal",
    "StrainSummary",
    "TrendPoint",
    "TrendReport",
    "WeeklyReport",
    "WorkoutSummary",
    "baselines",
    "build_days",
    "compare_periods",
    "compute_trends",
    "group_by_local_date",
    "join_recoveries",
    "kj_to_kcal",
    "local_date",
    "local_end",
    "meters_to_km",
    "metric_series",
    "metric_trend",
    "ms_to_hours",
    "ms_to_minutes",
    "overview",
    "recovery_date",
    "recovery_zone",
    "rule_based_insights",
    "strain_level",
    "summarize_recovery",
    "summarize_sleep",
    "summarize_strain",
    "summarize_workout",
    "training_readiness",
    "weekly_report",
    "whoop_day",
]

# ---------------------------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------------------------

KJ_PER_KCAL = 4.184
MS_PER_HOUR = 3_600_000
MS_PER_MINUTE = 60_000


def ms_to_hours(ms: float, ndigits: int = 2) -> float:
    """Milliseconds to hours, rounded (2 decimals by default)."""
    return round(ms / MS_PER_HOUR, ndigits)


def ms_to_minutes(ms: float, ndigits: int = 1) -> float:
    """Milliseconds to minutes, rounded (1 decimal by default)."""
    return round(ms / MS_PER_MINUTE, ndigits)


def kj_to_kcal(kj: float) -> int:
    """Kilojoules to whole kilocalories (1 kcal = 4.184 kJ)."""
    return round(kj / KJ_PER_KCAL)


def meters_to_km(meters: float, ndigits: int = 2) -> float:
    """Meters to kilometers, rounded (2 decimals by default)."""
    return round(meters / 1000, ndigits)


def _r(value: float | None, ndigits: int = 1) -> float | None:
    return None if value is None else round(value, ndigits)


# ---------------------------------------------------------------------------------------------
# Zones and levels
# ---------------------------------------------------------------------------------------------

RecoveryZone = Literal["green", "yellow", "red"]
StrainLevel = Literal["light", "moderate", "high", "all out"]
State = Literal["SCORED", "PENDING_SCORE", "UNSCORABLE", "MISSING"]
Polarity = Literal["higher_better", "lower_better", "neutral"]
Direction = Literal["improving", "declining", "stable", "rising", "falling", "insufficient data"]


def recovery_zone(score: float) -> RecoveryZone:
    """WHOOP's recovery zone: green 67–100, yellow 34–66, red 0–33 (judged on the whole percent shown).

    Raises:
        ValueError: if ``score`` is NaN.
    """
    if math.isnan(score):
        raise ValueError("recovery score is NaN")
    shown = math.floor(score + 0.5)  # WHOOP shows whole percentages; classify what the user sees
    if shown >= 67:
        return "green"
    if shown >= 34:
        return "yellow"
    return "red"


def strain_level(strain: float) -> StrainLevel:
    """WHOOP's strain bands on the 0–21 scale: light < 10, moderate 10–14, high 14–18, all out ≥ 18."""
    if strain < 10:
        return "light"
    if strain < 14:
        return "moderate"
    if strain < 18:
        return "high"
    return "all out"


def _state(score_state: ScoreState | None) -> State:
    return "MISSING" if score_state is None else score_state.value


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

_TimedT = TypeVar("_TimedT", Cycle, Sleep, Workout)
_ModelT = TypeVar("_ModelT", bound=BaseModel)

# A cycle starts at sleep onset; shifting by 12 h lands anywhere from ~20:00 to ~11:00 onsets on the
# day the user wakes into, which is the day WHOOP's app labels it with.
_WAKE_SHIFT = dt.timedelta(hours=12)


def local_date(record: Cycle | Sleep | Workout) -> dt.date:
    """The calendar day the record starts on, in the record's own ``timezone_offset``."""
    return record.local_start.date()


def local_end(record: Cycle | Sleep | Workout) -> dt.datetime | None:
    """``end`` in the record's own timezone (``None`` for the current, open cycle)."""
    if record.end is None:
        return None
    return record.end.astimezone(parse_offset(record.timezone_offset))


def whoop_day(record: Cycle | Sleep | Workout) -> dt.date:
    """The WHOOP day of a record: cycles and main sleeps by the day woken into, others by their start."""
    if isinstance(record, Cycle) or (isinstance(record, Sleep) and not record.nap):
        return (record.local_start + _WAKE_SHIFT).date()
    return local_date(record)


def group_by_local_date(records: Iterable[_TimedT]) -> dict[dt.date, list[_TimedT]]:
    """Group records by ``local_date`` (each by its own offset), days newest first, records oldest first."""
    groups: dict[dt.date, list[_TimedT]] = defaultdict(list)
    for record in records:
        groups[local_date(record)].append(record)
    return {day: sorted(groups[day], key=lambda r: r.start) for day in sorted(groups, reverse=True)}


def join_recoveries(
    cycles: Iterable[Cycle], recoveries: Iterable[Recovery]
) -> list[tuple[Cycle, Recovery | None]]:
    """Pair each cycle with its recovery (by ``cycle_id``), newest cycle first."""
    by_cycle = _latest_by(recoveries, lambda r: r.cycle_id)
    return [(c, by_cycle.get(c.id)) for c in sorted(cycles, key=lambda c: c.start, reverse=True)]


def recovery_date(recovery: Recovery, cycles: Mapping[int, Cycle] | Iterable[Cycle]) -> dt.date | None:
    """The WHOOP day of a recovery, taken from its cycle (``None`` if the cycle is not given)."""
    by_id = cycles if isinstance(cycles, Mapping) else {c.id: c for c in cycles}
    cycle = by_id.get(recovery.cycle_id)
    return None if cycle is None else whoop_day(cycle)


def _latest_by(records: Iterable[_ModelT], key: Callable[[_ModelT], Any]) -> dict[Any, _ModelT]:
    """Index records by ``key``; a re-scored duplicate (later ``updated_at``) wins."""
    out: dict[Any, _ModelT] = {}
    for record in records:
        k = key(record)
        old = out.get(k)
        if old is None or getattr(record, "updated_at", None) >= getattr(old, "updated_at", None):  # type: ignore[operator]
            out[k] = record
    return out


# ---------------------------------------------------------------------------------------------
# Single-record summaries
# ---------------------------------------------------------------------------------------------


class RecoverySummary(BaseModel):
    """One recovery in plain units; score fields are None unless ``state`` is SCORED."""

    cycle_id: int
    sleep_id: str
    day: dt.date | None = Field(None, description="WHOOP day, known when the cycle was given")
    state: State
    recovery_pct: float | None = None
    zone: RecoveryZone | None = None
    hrv_ms: float | None = None
    resting_hr_bpm: float | None = None
    spo2_pct: float | None = None
    skin_temp_c: float | None = None
    calibrating: bool | None = None


class SleepSummary(BaseModel):
    """One sleep or nap in plain units; stage/score fields are None unless ``state`` is SCORED."""

    sleep_id: str
    cycle_id: int
    nap: bool
    state: State
    local_date: dt.date = Field(description="calendar day the sleep started on, in its own offset")
    day: dt.date = Field(description="WHOOP day it counts for (main sleeps: the day woken into)")
    start_local: dt.datetime
    end_local: dt.datetime
    timezone_offset: str
    duration_hours: float = Field(description="end minus start, known even when unscored")
    in_bed_hours: float | None = None
    asleep_hours: float | None = Field(None, description="light + slow-wave + REM")
    awake_minutes: float | None = None
    light_minutes: float | None = None
    sws_minutes: float | None = None
    rem_minutes: float | None = None
    no_data_minutes: float | None = None
    light_pct: float | None = Field(None, description="share of time asleep")
    sws_pct: float | None = None
    rem_pct: float | None = None
    sleep_cycles: int | None = None
    disturbances: int | None = None
    respiratory_rate_per_min: float | None = None
    performance_pct: float | None = None
    consistency_pct: float | None = None
    efficiency_pct: float | None = None
    need_hours: float | None = Field(None, description="baseline + debt + strain + nap adjustments")
    debt_hours: float | None = None
    asleep_vs_need_pct: float | None = None


class WorkoutSummary(BaseModel):
    """One workout in plain units; score fields are None unless ``state`` is SCORED."""

    workout_id: str
    sport: str
    sport_id: int | None = None
    state: State
    local_date: dt.date
    start_local: dt.datetime
    end_local: dt.datetime
    duration_minutes: float
    strain: float | None = None
    strain_level: StrainLevel | None = None
    avg_hr_bpm: float | None = None
    max_hr_bpm: float | None = None
    energy_kj: float | None = None
    energy_kcal: int | None = None
    distance_km: float | None = None
    altitude_gain_m: float | None = None
    zone_minutes: list[float] | None = Field(None, description="minutes in heart-rate zones 0..5")
    percent_recorded_pct: float | None = None


class StrainSummary(BaseModel):
    """One cycle's day strain and energy; score fields are None unless ``state`` is SCORED."""

    cycle_id: int
    day: dt.date
    state: State
    open: bool = Field(description="the current cycle: no end yet, strain still accumulating")
    start_local: dt.datetime
    end_local: dt.datetime | None = None
    strain: float | None = None
    strain_level: StrainLevel | None = None
    energy_kj: float | None = None
    energy_kcal: int | None = None
    avg_hr_bpm: float | None = None
    max_hr_bpm: float | None = None
    steps: int | None = None


def summarize_recovery(
    recovery: Recovery, cycles: Mapping[int, Cycle] | Iterable[Cycle] = ()
) -> RecoverySummary:
    """Summarize one recovery; pass cycles to date it."""
    s = recovery.score if recovery.score_state is ScoreState.SCORED else None
    return RecoverySummary(
        cycle_id=recovery.cycle_id,
        sleep_id=str(recovery.sleep_id),
        day=recovery_date(recovery, cycles),
        state=_state(recovery.score_state),
        recovery_pct=_r(s.recovery_score) if s else None,
        zone=recovery_zone(s.recovery_score) if s else None,
        hrv_ms=_r(s.hrv_rmssd_milli) if s else None,
        resting_hr_bpm=_r(s.resting_heart_rate) if s else None,
        spo2_pct=_r(s.spo2_percentage) if s else None,
        skin_temp_c=_r(s.skin_temp_celsius, 2) if s else None,
        calibrating=s.user_calibrating if s else None,
    )


def summarize_sleep(sleep: Sleep) -> SleepSummary:
    """Summarize one sleep or nap."""
    end_local = local_end(sleep)
    assert end_local is not None  # Sleep.end is required
    base: dict[str, Any] = {
        "sleep_id": str(sleep.id),
        "cycle_id": sleep.cycle_id,
        "nap": sleep.nap,
        "state": _state(sleep.score_state),
        "local_date": local_date(sleep),
        "day": whoop_day(sleep),
        "start_local": sleep.local_start,
        "end_local": end_local,
        "timezone_offset": sleep.timezone_offset,
        "duration_hours": ms_to_hours((sleep.end - sleep.start).total_seconds() * 1000),
    }
    s = sleep.score if sleep.score_state is ScoreState.SCORED else None
    if s is None:
        return SleepSummary(**base)
    st, need = s.stage_summary, s.sleep_needed
    asleep_ms = st.asleep_milli
    need_ms = (
        need.baseline_milli
        + need.need_from_sleep_debt_milli
        + need.need_from_recent_strain_milli
        + need.need_from_recent_nap_milli
    )

    def share(ms: int) -> float | None:
        return round(100 * ms / asleep_ms, 1) if asleep_ms else None

    return SleepSummary(
        **base,
        in_bed_hours=ms_to_hours(st.total_in_bed_time_milli),
        asleep_hours=ms_to_hours(asleep_ms),
        awake_minutes=ms_to_minutes(st.total_awake_time_milli),
        light_minutes=ms_to_minutes(st.total_light_sleep_time_milli),
        sws_minutes=ms_to_minutes(st.total_slow_wave_sleep_time_milli),
        rem_minutes=ms_to_minutes(st.total_rem_sleep_time_milli),
        no_data_minutes=ms_to_minutes(st.total_no_data_time_milli),
        light_pct=share(st.total_light_sleep_time_milli),
        sws_pct=share(st.total_slow_wave_sleep_time_milli),
        rem_pct=share(st.total_rem_sleep_time_milli),
        sleep_cycles=st.sleep_cycle_count,
        disturbances=st.disturbance_count,
        respiratory_rate_per_min=_r(s.respiratory_rate),
        performance_pct=_r(s.sleep_performance_percentage),
        consistency_pct=_r(s.sleep_consistency_percentage),
        efficiency_pct=_r(s.sleep_efficiency_percentage),
        need_hours=ms_to_hours(need_ms) if not sleep.nap else None,
        debt_hours=ms_to_hours(need.need_from_sleep_debt_milli) if not sleep.nap else None,
        asleep_vs_need_pct=round(100 * asleep_ms / need_ms, 1) if need_ms > 0 and not sleep.nap else None,
    )


def summarize_workout(workout: Workout) -> WorkoutSummary:
    """Summarize one workout."""
    end_local = local_end(workout)
    assert end_local is not None  # Workout.end is required
    s = workout.score if workout.score_state is ScoreState.SCORED else None
    zones = None
    if s is not None:
        z = s.zone_durations
        zones = [
            ms_to_minutes(ms)
            for ms in (
                z.zone_zero_milli,
                z.zone_one_milli,
                z.zone_two_milli,
                z.zone_three_milli,
                z.zone_four_milli,
                z.zone_five_milli,
            )
        ]
    return WorkoutSummary(
        workout_id=str(workout.id),
        sport=workout.sport_name,
        sport_id=workout.sport_id,
        state=_state(workout.score_state),
        local_date=local_date(workout),
        start_local=workout.local_start,
        end_local=end_local,
        duration_minutes=ms_to_minutes((workout.end - workout.start).total_seconds() * 1000),
        strain=_r(s.strain) if s else None,
        strain_level=strain_level(s.strain) if s else None,
        avg_hr_bpm=float(s.average_heart_rate) if s else None,
        max_hr_bpm=float(s.max_heart_rate) if s else None,
        energy_kj=_r(s.kilojoule) if s else None,
        energy_kcal=kj_to_kcal(s.kilojoule) if s else None,
        distance_km=meters_to_km(s.distance_meter) if s and s.distance_meter is not None else None,
        altitude_gain_m=_r(s.altitude_gain_meter) if s else None,
        zone_minutes=zones,
        percent_recorded_pct=_r(s.percent_recorded) if s else None,
    )


def summarize_strain(cycle: Cycle) -> StrainSummary:
    """Summarize one cycle's strain."""
    s = cycle.score if cycle.score_state is ScoreState.SCORED else None
    return StrainSummary(
        cycle_id=cycle.id,
        day=whoop_day(cycle),
        state=_state(cycle.score_state),
        open=cycle.end is None,
        start_local=cycle.local_start,
        end_local=local_end(cycle),
        strain=_r(s.strain) if s else None,
        strain_level=strain_level(s.strain) if s else None,
        energy_kj=_r(s.kilojoule) if s else None,
        energy_kcal=kj_to_kcal(s.kilojoule) if s else None,
        avg_hr_bpm=float(s.average_heart_rate) if s else None,
        max_hr_bpm=float(s.max_heart_rate) if s else None,
        steps=cycle.step_count,
    )


# ---------------------------------------------------------------------------------------------
# Day rows
# ---------------------------------------------------------------------------------------------


class DaySummary(BaseModel):
    """One WHOOP day: its cycle (strain), recovery, last night's main sleep, naps and workouts."""

    date: dt.date = Field(description="WHOOP day (the day woken into), in the records' own offsets")
    weekday: str = Field(description="Mon..Sun")
    cycle_id: int | None = None
    cycle_state: State = "MISSING"
    cycle_open: bool = Field(False, description="current cycle: strain still accumulating")
    strain: float | None = None
    strain_level: StrainLevel | None = None
    energy_kj: float | None = None
    energy_kcal: int | None = None
    avg_hr_bpm: float | None = None
    max_hr_bpm: float | None = None
    steps: int | None = None
    recovery_state: State = "MISSING"
    recovery_pct: float | None = None
    recovery_zone: RecoveryZone | None = None
    hrv_ms: float | None = None
    resting_hr_bpm: float | None = None
    spo2_pct: float | None = None
    skin_temp_c: float | None = None
    calibrating: bool | None = None
    sleep_state: State = "MISSING"
    sleep_id: str | None = None
    sleep_start_local: dt.datetime | None = None
    sleep_end_local: dt.datetime | None = None
    sleep_hours: float | None = Field(None, description="time asleep: light + slow-wave + REM")
    in_bed_hours: float | None = None
    awake_minutes: float | None = None
    light_minutes: float | None = None
    sws_minutes: float | None = None
    rem_minutes: float | None = None
    sleep_performance_pct: float | None = None
    sleep_efficiency_pct: float | None = None
    sleep_consistency_pct: float | None = None
    respiratory_rate_per_min: float | None = None
    disturbances: int | None = None
    sleep_cycles: int | None = None
    sleep_need_hours: float | None = None
    sleep_debt_hours: float | None = None
    nap_count: int = 0
    nap_hours: float | None = Field(0.0, description="time asleep in scored naps; None if naps are unscored")
    workout_count: int = 0
    workout_minutes: float = 0.0
    workout_strain_max: float | None = None
    workout_kcal: int | None = None
    workout_sports: list[str] = Field(default_factory=list)
    workouts: list[WorkoutSummary] = Field(default_factory=list)


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class _DayParts:
    cycle: Cycle | None = None
    recovery: Recovery | None = None
    sleep: Sleep | None = None
    naps: list[Sleep] | None = None
    workouts: list[Workout] | None = None


def build_days(
    cycles: Iterable[Cycle],
    recoveries: Iterable[Recovery] = (),
    sleeps: Iterable[Sleep] = (),
    workouts: Iterable[Workout] = (),
) -> list[DaySummary]:
    """Join records into one row per WHOOP day, newest first.

    Recoveries and sleeps join their cycle by ``cycle_id`` (a recovery's ``sleep_id`` picks the main
    sleep); workouts join the cycle whose span contains their start, else their own local date.
    Records whose cycle is not given still get a row by their own date (recoveries need their sleep).
    """
    cycle_list = sorted(_latest_by(cycles, lambda c: c.id).values(), key=lambda c: c.start)
    rec_by_cycle = _latest_by(recoveries, lambda r: r.cycle_id)
    sleep_by_id = _latest_by(sleeps, lambda s: s.id)
    parts: dict[dt.date, _DayParts] = defaultdict(_DayParts)
    day_of_cycle: dict[int, dt.date] = {}

    last_day: dt.date | None = None
    for cycle in cycle_list:
        day = whoop_day(cycle)
        if last_day is not None and day <= last_day:
            # two onsets in one noon-to-noon window (e.g. shift work): keep every cycle on its own row
            day = last_day + dt.timedelta(days=1)
        parts[day].cycle = cycle
        day_of_cycle[cycle.id] = day
        last_day = day

    used_sleeps: set[Any] = set()
    for cycle_id, recovery in rec_by_cycle.items():
        main = sleep_by_id.get(recovery.sleep_id)
        rec_day = day_of_cycle.get(cycle_id)
        if rec_day is None:
            if main is None:
                continue  # cannot date a recovery without its cycle or its sleep
            rec_day = whoop_day(main)
        parts[rec_day].recovery = recovery
        if main is not None and not main.nap:
            parts[rec_day].sleep = main
            used_sleeps.add(main.id)

    for sleep in sorted(sleep_by_id.values(), key=lambda s: s.start):
        if sleep.id in used_sleeps:
            continue
        day = day_of_cycle.get(sleep.cycle_id, whoop_day(sleep))
        p = parts[day]
        if not sleep.nap and p.sleep is None:
            p.sleep = sleep
        else:  # naps, and any extra non-nap sleep in the same cycle, count as naps
            p.naps = [*(p.naps or []), sleep]

    spans = [(c.start, c.end, day_of_cycle[c.id]) for c in cycle_list if c.id in day_of_cycle]
    starts = [start for start, _, _ in spans]
    for workout in sorted(workouts, key=lambda w: w.start):
        i = bisect.bisect_right(starts, workout.start) - 1  # the last cycle starting at or before it
        if i >= 0 and (spans[i][1] is None or workout.start < spans[i][1]):  # type: ignore[operator]
            day = spans[i][2]
        else:
            day = local_date(workout)
        p = parts[day]
        p.workouts = [*(p.workouts or []), workout]

    return [_day_row(day, parts[day]) for day in sorted(parts, reverse=True)]


def _day_row(day: dt.date, p: _DayParts) -> DaySummary:
    row: dict[str, Any] = {"date": day, "weekday": _WEEKDAYS[day.weekday()]}
    if p.cycle is not None:
        st = summarize_strain(p.cycle)
        row.update(
            cycle_id=st.cycle_id,
            cycle_state=st.state,
            cycle_open=st.open,
            strain=st.strain,
            strain_level=st.strain_level,
            energy_kj=st.energy_kj,
            energy_kcal=st.energy_kcal,
            avg_hr_bpm=st.avg_hr_bpm,
            max_hr_bpm=st.max_hr_bpm,
            steps=st.steps,
        )
    if p.recovery is not None:
        rc = summarize_recovery(p.recovery)
        row.update(
            recovery_state=rc.state,
            recovery_pct=rc.recovery_pct,
            recovery_zone=rc.zone,
            hrv_ms=rc.hrv_ms,
            resting_hr_bpm=rc.resting_hr_bpm,
            spo2_pct=rc.spo2_pct,
            skin_temp_c=rc.skin_temp_c,
            calibrating=rc.calibrating,
        )
    if p.sleep is not None:
        sl = summarize_sleep(p.sleep)
        row.update(
            sleep_state=sl.state,
            sleep_id=sl.sleep_id,
            sleep_start_local=sl.start_local,
            sleep_end_local=sl.end_local,
            sleep_hours=sl.asleep_hours,
            in_bed_hours=sl.in_bed_hours,
            awake_minutes=sl.awake_minutes,
            light_minutes=sl.light_minutes,
            sws_minutes=sl.sws_minutes,
            rem_minutes=sl.rem_minutes,
            sleep_performance_pct=sl.performance_pct,
            sleep_efficiency_pct=sl.efficiency_pct,
            sleep_consistency_pct=sl.consistency_pct,
            respiratory_rate_per_min=sl.respiratory_rate_per_min,
            disturbances=sl.disturbances,
            sleep_cycles=sl.sleep_cycles,
            sleep_need_hours=sl.need_hours,
            sleep_debt_hours=sl.debt_hours,
        )
    naps = [summarize_sleep(n) for n in p.naps or []]
    if naps:
        scored = [n.asleep_hours for n in naps if n.asleep_hours is not None]
        row.update(nap_count=len(naps), nap_hours=round(sum(scored), 2) if scored else None)
    ws = [summarize_workout(w) for w in p.workouts or []]
    if ws:
        strains = [w.strain for w in ws if w.strain is not None]
        kcals = [w.energy_kcal for w in ws if w.energy_kcal is not None]
        row.update(
            workout_count=len(ws),
            workout_minutes=round(sum(w.duration_minutes for w in ws), 1),
            workout_strain_max=max(strains) if strains else None,
            workout_kcal=sum(kcals) if kcals else None,
            workout_sports=sorted({w.sport for w in ws}),
            workouts=ws,
        )
    return DaySummary(**row)


# ---------------------------------------------------------------------------------------------
# Metrics, series and trends
# ---------------------------------------------------------------------------------------------

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


def _fmt(value: float | None, spec: MetricSpec, *, signed: bool = False) -> str:
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
    baseline: float | None = Field(None, description="personal baseline: median of history or window")
    baseline_source: Literal["window", "history"] | None = None
    latest_vs_baseline_pct: float | None = None
    slope_per_week: float | None = Field(None, description="least-squares slope on day index, times 7")
    change_over_window: float | None = Field(None, description="fitted change from first to last day")
    direction: Direction = "insufficient data"
    outliers: list[Outlier] = Field(default_factory=list)
    points: list[TrendPoint] = Field(default_factory=list)
    summary: str = ""


MIN_TREND_POINTS = 3
_T_SIGNIFICANT = 2.0
OUTLIER_Z = 2.0


def metric_series(days: Iterable[DaySummary], metric: MetricName) -> list[TrendPoint]:
    """The (date, value) points of a metric over day rows, oldest first, skipping days without a value."""
    extract = METRICS[metric].extract
    points = {d.date: v for d in days if (v := extract(d)) is not None}
    return [TrendPoint(date=k, value=points[k]) for k in sorted(points)]


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
    baseline = statistics.median(ref)
    latest = pts[-1]
    base.update(
        mean=round(statistics.fmean(values), d),
        median=round(statistics.median(values), d),
        min=round(min(values), d),
        max=round(max(values), d),
        std=round(statistics.stdev(values), d + 1) if len(values) >= 2 else None,
        latest=round(latest.value, d),
        latest_date=latest.date,
        baseline=round(baseline, d),
        baseline_source="history" if ref is not values else "window",
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
            f"({_fmt(t.latest, spec)} on {t.latest_date}); not enough for a trend."
        )
    text = (
        f"{spec.label} averaged {_fmt(t.mean, spec)} over {span} ({t.n} days with data; "
        f"baseline {_fmt(t.baseline, spec)})"
    )
    if t.direction == "insufficient data":
        text += "; too few days for a trend"
    elif t.direction == "stable":
        text += "; stable"
    else:
        text += f"; {t.direction} ({_fmt(t.slope_per_week, spec, signed=True)}/week)"
    text += f"; latest {_fmt(t.latest, spec)} on {t.latest_date}."
    if t.outliers:
        shown = ", ".join(f"{o.date} ({_fmt(o.value, spec)})" for o in t.outliers[:3])
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


def _window(days: Iterable[DaySummary], end: dt.date, n_days: int) -> list[DaySummary]:
    start = end - dt.timedelta(days=n_days - 1)
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
    window = _window(history, end, window_days) if end is not None else []
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
        start_date=end - dt.timedelta(days=window_days - 1) if end is not None else None,
        end_date=end,
        days_in_window=len(window),
        highlights=highlights,
        **fields,
    )


# ---------------------------------------------------------------------------------------------
# Period comparison
# ---------------------------------------------------------------------------------------------

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
            mean_a=_r(ma, spec.decimals),
            mean_b=_r(mb, spec.decimals),
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
                f"{spec.label}: {_fmt(mc.mean_b, spec)} in {label_b} vs {_fmt(mc.mean_a, spec)} in {label_a} "
                f"({_fmt(mc.change, spec, signed=True)}{pct}; {mc.verdict})."
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


# ---------------------------------------------------------------------------------------------
# Weekly report
# ---------------------------------------------------------------------------------------------


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
    avg_strain: float | None = None
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


def _mean(values: Sequence[float], nd: int) -> float | None:
    return round(statistics.fmean(values), nd) if values else None


def _bedtime_minutes(t: dt.datetime) -> float:
    """Clock time as minutes after noon, so that 23:30 and 00:30 are an hour apart."""
    return float((t.hour * 60 + t.minute - 720) % 1440)


def weekly_report(days: Sequence[DaySummary], week_end: dt.date | None = None) -> WeeklyReport:
    """Report on the 7 WHOOP days ending ``week_end`` (default: the newest day), vs the 7 days before."""
    if week_end is None:
        week_end = max((d.date for d in days), default=dt.date(1970, 1, 7))
    week = sorted(_window(days, week_end, 7), key=lambda d: d.date)
    prev = _window(days, week_end - dt.timedelta(days=7), 7)
    rep = WeeklyReport(
        week_start=week_end - dt.timedelta(days=6), week_end=week_end, days_with_data=len(week)
    )
    recs = [(d.date, d.recovery_pct) for d in week if d.recovery_pct is not None]
    rep.avg_recovery_pct = _mean([v for _, v in recs], 1)
    rep.avg_hrv_ms = _mean([d.hrv_ms for d in week if d.hrv_ms is not None], 1)
    rep.avg_resting_hr_bpm = _mean([d.resting_hr_bpm for d in week if d.resting_hr_bpm is not None], 1)
    zones = Counter(d.recovery_zone for d in week if d.recovery_zone)
    rep.green_days, rep.yellow_days, rep.red_days = zones["green"], zones["yellow"], zones["red"]
    if recs:
        best = max(recs, key=lambda r: r[1])
        worst = min(recs, key=lambda r: r[1])
        rep.best_recovery = DayValue(date=best[0], value=best[1])
        rep.worst_recovery = DayValue(date=worst[0], value=worst[1])
    strains = [(d.date, d.strain) for d in week if d.strain is not None]
    if strains:
        rep.total_strain = round(sum(v for _, v in strains), 1)
        rep.avg_strain = round(rep.total_strain / len(strains), 1)
        top = max(strains, key=lambda s: s[1])
        rep.max_strain = DayValue(date=top[0], value=top[1])
    kcals = [d.energy_kcal for d in week if d.energy_kcal is not None]
    rep.total_energy_kcal = sum(kcals) if kcals else None
    nights = [d for d in week if d.sleep_hours is not None]
    rep.nights_scored = len(nights)
    if nights:
        hours = [d.sleep_hours for d in nights if d.sleep_hours is not None]
        rep.total_sleep_hours = round(sum(hours), 2)
        rep.avg_sleep_hours = _mean(hours, 2)
        rep.nights_under_7h = sum(h < 7 for h in hours)
    rep.avg_sleep_performance_pct = _mean(
        [d.sleep_performance_pct for d in week if d.sleep_performance_pct is not None], 1
    )
    rep.avg_sleep_consistency_pct = _mean(
        [d.sleep_consistency_pct for d in week if d.sleep_consistency_pct is not None], 1
    )
    rep.avg_sleep_need_hours = _mean([d.sleep_need_hours for d in week if d.sleep_need_hours is not None], 2)
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
            f"Best recovery {_WEEKDAYS[b.date.weekday()]} {b.date} ({b.value:.0f}%), "
            f"lowest {_WEEKDAYS[w.date.weekday()]} {w.date} ({w.value:.0f}%)."
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
        out.append(f"Total strain {rep.total_strain:.1f} (avg {rep.avg_strain:.1f} a day{top}).")
    if rep.workouts_total:
        sports = ", ".join(f"{s.count} {s.sport}" for s in rep.workouts_by_sport)
        out.append(
            f"{rep.workouts_total} workouts ({sports}), {rep.workout_minutes_total / 60:.1f} h in total."
        )
    else:
        out.append("No workouts recorded.")
    if rep.vs_previous_week is not None:
        out.extend(rep.vs_previous_week.highlights[:3])
    return out


# ---------------------------------------------------------------------------------------------
# Baselines
# ---------------------------------------------------------------------------------------------


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
        out[f"{metric}_7d"] = _mean(window(metric, 7), nd)
        out[f"{metric}_30d"] = _mean(window(metric, 30), nd)
    health: tuple[MetricName, ...] = ("respiratory_rate_per_min", "spo2_pct", "skin_temp_c")
    for metric in health:
        out[f"{metric}_30d"] = _mean(window(metric, 30), METRICS[metric].decimals + 1)
    acute, chronic = window("strain", 7), window("strain", 28)
    out["strain_28d"] = _mean(chronic, 1)
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


def _baselines_from_trends(trends: TrendReport, as_of: dt.date) -> Baselines:
    return _baselines_from_series({t.metric: t.points for t in trends.metrics()}, as_of)


# ---------------------------------------------------------------------------------------------
# Training readiness
# ---------------------------------------------------------------------------------------------

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
    hrv_vs_7d_pct: float | None = None
    hrv_vs_30d_pct: float | None = None
    resting_hr_bpm: float | None = None
    rhr_vs_7d_bpm: float | None = None
    rhr_vs_30d_bpm: float | None = None
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
        b = _baselines_from_trends(trends, today.date) if trends is not None else Baselines()
    hrv_ref = b.hrv_ms_30d if b.hrv_ms_30d is not None else b.hrv_ms_7d
    rhr_ref = b.resting_hr_bpm_30d if b.resting_hr_bpm_30d is not None else b.resting_hr_bpm_7d
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
        hrv_vs_7d_pct=_pct_of(today.hrv_ms, b.hrv_ms_7d),
        hrv_vs_30d_pct=_pct_of(today.hrv_ms, b.hrv_ms_30d),
        resting_hr_bpm=today.resting_hr_bpm,
        rhr_vs_7d_bpm=_diff(today.resting_hr_bpm, b.resting_hr_bpm_7d),
        rhr_vs_30d_bpm=_diff(today.resting_hr_bpm, b.resting_hr_bpm_30d),
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


# ---------------------------------------------------------------------------------------------
# Insights (rule-based fallback; same schema the local LLM must produce)
# ---------------------------------------------------------------------------------------------


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
    b = baselines or (_baselines_from_trends(trends, today.date) if trends is not None else Baselines())
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

    # A new user has no 30-day baseline yet; a week of data is still better than no comparison.
    hrv_ref = b.hrv_ms_30d if b.hrv_ms_30d is not None else b.hrv_ms_7d
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
    rhr_ref = b.resting_hr_bpm_30d if b.resting_hr_bpm_30d is not None else b.resting_hr_bpm_7d
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
                f"Only {today.sleep_hours:.1f} h of sleep last night (under {SHORT_SLEEP_HOURS} h).",
            )
            target = f"{need:.1f} h" if need else "7.5–9 h"
            recs.append(f"Aim for {target} of sleep tonight: start winding down 30 minutes earlier.")
        elif need and today.sleep_hours >= 0.95 * need:
            flag(
                "info",
                f"Slept {today.sleep_hours:.1f} h, {today.sleep_hours / need:.0%} of your {need:.1f} h need.",
            )
    if today.sleep_debt_hours is not None and today.sleep_debt_hours >= SLEEP_DEBT_HOURS:
        flag("warning", f"Sleep debt of {today.sleep_debt_hours:.1f} h is adding to tonight's sleep need.")
        recs.append(
            f"Pay back the {today.sleep_debt_hours:.1f} h sleep debt with an earlier night or a short nap."
        )

    acwr = b.acute_chronic_ratio
    if acwr is not None and acwr > ACWR_HIGH:
        flag(
            "warning",
            f"Acute:chronic strain ratio is {acwr:.2f} (7-day avg {b.strain_7d:.1f} vs 28-day avg "
            f"{b.strain_28d:.1f}); injury risk rises above {ACWR_HIGH}.",
        )
        recs.append("Load is ramping fast: hold or lower strain for a few days before building again.")
    elif acwr is not None and ACWR_LOW <= acwr <= 1.3:
        flag("info", f"Training load is steady (acute:chronic strain ratio {acwr:.2f}).")

    # health monitor
    if today.spo2_pct is not None and today.spo2_pct < SPO2_LOW_PCT:
        level: Literal["warning", "alert"] = "alert" if today.spo2_pct < SPO2_ALERT_PCT else "warning"
        flag(level, f"Blood oxygen {today.spo2_pct:.1f}% overnight is below {SPO2_LOW_PCT:.0f}%.")
        recs.append("Low SpO2: check the strap fit; if it repeats or you feel unwell, talk to a doctor.")
    if today.skin_temp_c is not None and b.skin_temp_c_30d is not None:
        dtemp = today.skin_temp_c - b.skin_temp_c_30d
        if abs(dtemp) > SKIN_TEMP_DELTA_C:
            illness_signs += dtemp > 0
            flag(
                "warning",
                f"Skin temperature {today.skin_temp_c:.1f} °C is {dtemp:+.1f} °C from your baseline "
                f"{b.skin_temp_c_30d:.1f} °C.",
            )
    if today.respiratory_rate_per_min is not None and b.respiratory_rate_per_min_30d is not None:
        dresp = today.respiratory_rate_per_min - b.respiratory_rate_per_min_30d
        if dresp >= RESP_RATE_DELTA:
            illness_signs += 1
            flag(
                "warning",
                f"Respiratory rate {today.respiratory_rate_per_min:.1f}/min is {dresp:+.1f} above your "
                f"baseline {b.respiratory_rate_per_min_30d:.1f}/min.",
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
                    f"({_fmt(t.slope_per_week, METRICS[t.metric], signed=True)}/week).",
                )
            elif t.direction == "improving":
                flag(
                    "info",
                    f"{t.label} has been improving over {trends.window_days} days "
                    f"({_fmt(t.slope_per_week, METRICS[t.metric], signed=True)}/week).",
                )

    recs.insert(0 if illness_signs < 2 else 1, ready.recommendation)
    flags.sort(key=lambda f: _LEVEL_ORDER[f.level])  # stable: keeps rule order within a level
    summary = _insights_summary(today, ready, hrv_ref, flags)
    return Insights(summary=summary, recommendations=recs, flags=flags)


def _insights_summary(today: DaySummary, ready: Readiness, hrv_ref: float | None, flags: list[Flag]) -> str:
    parts: list[str] = []
    if today.recovery_pct is not None:
        parts.append(f"recovery {today.recovery_pct:.0f}% ({today.recovery_zone})")
    if today.hrv_ms is not None:
        rel = f", {today.hrv_ms / hrv_ref:.1%} of baseline" if hrv_ref else ""
        parts.append(f"HRV {today.hrv_ms:.1f} ms{rel}")
    if today.resting_hr_bpm is not None:
        parts.append(f"resting HR {today.resting_hr_bpm:.0f} bpm")
    if today.sleep_hours is not None:
        parts.append(f"{today.sleep_hours:.1f} h of sleep")
    head = (
        f"{today.weekday} {today.date}: " + ", ".join(parts) + "."
        if parts
        else f"{today.weekday} {today.date}: no scored recovery or sleep yet."
    )
    concerns = sum(f.level != "info" for f in flags)
    tail = f" {concerns} thing{'s' if concerns != 1 else ''} to watch." if concerns else " Nothing worrying."
    return f"{head} {ready.recommendation}{tail}"


# ---------------------------------------------------------------------------------------------
# One-call overview
# ---------------------------------------------------------------------------------------------


class Overview(BaseModel):
    """Today's row, readiness, baselines, trends, this week and insights, from one list of day rows."""

    today: DaySummary | None = None
    readiness: Readiness | None = None
    baselines: Baselines
    trends: TrendReport
    week: WeeklyReport
    insights: Insights


def overview(days: Sequence[DaySummary], window_days: int = 30) -> Overview:
    """Everything a dashboard or a "how am I doing" answer needs; ``today`` is the newest day row.

    Raises:
        ValueError: if ``window_days`` < 1.
    """
    today = max(days, key=lambda d: d.date) if days else None
    base = baselines(days)
    trends = compute_trends(days, window_days)
    return Overview(
        today=today,
        readiness=training_readiness(today, baselines=base) if today is not None else None,
        baselines=base,
        trends=trends,
        week=weekly_report(days),
        insights=rule_based_insights(today, base, trends),
    )
