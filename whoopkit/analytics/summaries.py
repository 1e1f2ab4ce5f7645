"""Single-record summaries: one recovery, sleep, workout or cycle in plain, unit-named fields."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from whoopkit.analytics.dates import local_date, local_end, recovery_date, whoop_day
from whoopkit.analytics.units import kj_to_kcal, meters_to_km, ms_to_hours, ms_to_minutes, round_or_none
from whoopkit.analytics.zones import RecoveryZone, State, StrainLevel, recovery_zone, state_of, strain_level
from whoopkit.models import Cycle, Recovery, ScoreState, Sleep, Workout


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
        state=state_of(recovery.score_state),
        recovery_pct=round_or_none(s.recovery_score) if s else None,
        zone=recovery_zone(s.recovery_score) if s else None,
        hrv_ms=round_or_none(s.hrv_rmssd_milli) if s else None,
        resting_hr_bpm=round_or_none(s.resting_heart_rate) if s else None,
        spo2_pct=round_or_none(s.spo2_percentage) if s else None,
        skin_temp_c=round_or_none(s.skin_temp_celsius, 2) if s else None,
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
        "state": state_of(sleep.score_state),
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
        respiratory_rate_per_min=round_or_none(s.respiratory_rate),
        performance_pct=round_or_none(s.sleep_performance_percentage),
        consistency_pct=round_or_none(s.sleep_consistency_percentage),
        efficiency_pct=round_or_none(s.sleep_efficiency_percentage),
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
        state=state_of(workout.score_state),
        local_date=local_date(workout),
        start_local=workout.local_start,
        end_local=end_local,
        duration_minutes=ms_to_minutes((workout.end - workout.start).total_seconds() * 1000),
        strain=round_or_none(s.strain) if s else None,
        strain_level=strain_level(s.strain) if s else None,
        avg_hr_bpm=float(s.average_heart_rate) if s else None,
        max_hr_bpm=float(s.max_heart_rate) if s else None,
        energy_kj=round_or_none(s.kilojoule) if s else None,
        energy_kcal=kj_to_kcal(s.kilojoule) if s else None,
        distance_km=meters_to_km(s.distance_meter) if s and s.distance_meter is not None else None,
        altitude_gain_m=round_or_none(s.altitude_gain_meter) if s else None,
        zone_minutes=zones,
        percent_recorded_pct=round_or_none(s.percent_recorded) if s else None,
    )


def summarize_strain(cycle: Cycle) -> StrainSummary:
    """Summarize one cycle's strain."""
    s = cycle.score if cycle.score_state is ScoreState.SCORED else None
    return StrainSummary(
        cycle_id=cycle.id,
        day=whoop_day(cycle),
        state=state_of(cycle.score_state),
        open=cycle.end is None,
        start_local=cycle.local_start,
        end_local=local_end(cycle),
        strain=round_or_none(s.strain) if s else None,
        strain_level=strain_level(s.strain) if s else None,
        energy_kj=round_or_none(s.kilojoule) if s else None,
        energy_kcal=kj_to_kcal(s.kilojoule) if s else None,
        avg_hr_bpm=float(s.average_heart_rate) if s else None,
        max_hr_bpm=float(s.max_heart_rate) if s else None,
        steps=cycle.step_count,
    )
