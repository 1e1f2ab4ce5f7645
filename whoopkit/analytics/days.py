"""Day rows: one ``DaySummary`` per WHOOP day, joining its cycle, recovery, sleeps and workouts."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from whoopkit.analytics.dates import local_date, whoop_day
from whoopkit.analytics.summaries import (
    WorkoutSummary,
    summarize_recovery,
    summarize_sleep,
    summarize_strain,
    summarize_workout,
)
from whoopkit.analytics.zones import RecoveryZone, State, StrainLevel
from whoopkit.models import Cycle, Recovery, Sleep, Workout


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


_ModelT = TypeVar("_ModelT", bound=BaseModel)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


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
    parts, _ = _place(cycles, recoveries, sleeps, workouts)
    return [_day_row(day, parts[day]) for day in sorted(parts, reverse=True)]


def record_days(
    cycles: Iterable[Cycle],
    recoveries: Iterable[Recovery] = (),
    sleeps: Iterable[Sleep] = (),
    workouts: Iterable[Workout] = (),
) -> dict[tuple[str, str], dt.date]:
    """The day row ``build_days`` shows each record on, by ``(kind, record key)``.

    Keys are ``("cycles", str(id))``, ``("recoveries", str(cycle_id))``, ``("sleeps", str(id))`` and
    ``("workouts", str(id))``; a recovery that ``build_days`` cannot date is absent.
    """
    _, placed = _place(cycles, recoveries, sleeps, workouts)
    return placed


def _place(
    cycles: Iterable[Cycle],
    recoveries: Iterable[Recovery],
    sleeps: Iterable[Sleep],
    workouts: Iterable[Workout],
) -> tuple[dict[dt.date, _DayParts], dict[tuple[str, str], dt.date]]:
    """Each day's records and each record's day: the one placement rule behind every day row."""
    cycle_list = sorted(_latest_by(cycles, lambda c: c.id).values(), key=lambda c: c.start)
    rec_by_cycle = _latest_by(recoveries, lambda r: r.cycle_id)
    sleep_by_id = _latest_by(sleeps, lambda s: s.id)
    parts: dict[dt.date, _DayParts] = defaultdict(_DayParts)
    placed: dict[tuple[str, str], dt.date] = {}
    day_of_cycle: dict[int, dt.date] = {}

    last_day: dt.date | None = None
    for cycle in cycle_list:
        day = whoop_day(cycle)
        if last_day is not None and day <= last_day:
            # two onsets in one noon-to-noon window (e.g. shift work): keep every cycle on its own row
            day = last_day + dt.timedelta(days=1)
        parts[day].cycle = cycle
        day_of_cycle[cycle.id] = day
        placed["cycles", str(cycle.id)] = day
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
        placed["recoveries", str(cycle_id)] = rec_day
        if main is not None and not main.nap:
            parts[rec_day].sleep = main
            placed["sleeps", str(main.id)] = rec_day
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
        placed["sleeps", str(sleep.id)] = day

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
        placed["workouts", str(workout.id)] = day

    return parts, placed


def _latest_by(records: Iterable[_ModelT], key: Callable[[_ModelT], Any]) -> dict[Any, _ModelT]:
    """Index records by ``key``; a re-scored duplicate (later ``updated_at``) wins."""
    out: dict[Any, _ModelT] = {}
    for record in records:
        k = key(record)
        old = out.get(k)
        if old is None or getattr(record, "updated_at", None) >= getattr(old, "updated_at", None):  # type: ignore[operator]
            out[k] = record
    return out


def _day_row(day: dt.date, p: _DayParts) -> DaySummary:
    row: dict[str, Any] = {"date": day, "weekday": WEEKDAYS[day.weekday()]}
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
