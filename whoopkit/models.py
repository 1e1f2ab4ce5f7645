"""Typed models of WHOOP API v2 responses (the official OpenAPI spec's schemas).

Optional fields in the spec are optional here; ``score`` is present only when
``score_state`` is ``SCORED``. Unknown fields are ignored so that WHOOP can add some.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from functools import lru_cache
from typing import Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ScoreState(StrEnum):
    """Whether WHOOP has scored a record yet."""

    SCORED = "SCORED"
    PENDING_SCORE = "PENDING_SCORE"
    UNSCORABLE = "UNSCORABLE"


@lru_cache(maxsize=256)
def parse_offset(offset: str) -> timezone:
    """Turn a WHOOP ``timezone_offset`` such as ``-05:00`` or ``Z`` into a tzinfo."""
    if offset in ("Z", "z", ""):
        return UTC
    sign = -1 if offset[0] == "-" else 1
    hours, _, minutes = offset.lstrip("+-").partition(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))


class _Timed(_Model):
    timezone_offset: str
    start: datetime

    @property
    def local_start(self) -> datetime:
        """``start`` in the record's own timezone, as the user lived it."""
        return self.start.astimezone(parse_offset(self.timezone_offset))


class UserBasicProfile(_Model):
    """GET /v2/user/profile/basic."""

    user_id: int
    email: str
    first_name: str
    last_name: str


class UserBodyMeasurement(_Model):
    """GET /v2/user/measurement/body."""

    height_meter: float
    weight_kilogram: float
    max_heart_rate: int


class CycleScore(_Model):
    """Day strain and heart rate of a physiological cycle."""

    strain: float
    kilojoule: float
    average_heart_rate: int
    max_heart_rate: int


class Cycle(_Timed):
    """A physiological cycle (roughly a day, from sleep to sleep); the current one has no ``end``."""

    id: int
    user_id: int
    created_at: datetime
    updated_at: datetime
    end: datetime | None = None
    score_state: ScoreState
    score: CycleScore | None = None
    step_count: int | None = None


class RecoveryScore(_Model):
    """Recovery, HRV and resting heart rate; SpO2 and skin temperature are optional."""

    user_calibrating: bool
    recovery_score: float
    resting_heart_rate: float
    hrv_rmssd_milli: float
    spo2_percentage: float | None = None
    skin_temp_celsius: float | None = None


class Recovery(_Model):
    """The recovery of one cycle, computed from its main sleep."""

    cycle_id: int
    sleep_id: UUID
    user_id: int
    created_at: datetime
    updated_at: datetime
    score_state: ScoreState
    score: RecoveryScore | None = None


class SleepStageSummary(_Model):
    """Time in each sleep stage, in milliseconds."""

    total_in_bed_time_milli: int
    total_awake_time_milli: int
    total_no_data_time_milli: int
    total_light_sleep_time_milli: int
    total_slow_wave_sleep_time_milli: int
    total_rem_sleep_time_milli: int
    sleep_cycle_count: int
    disturbance_count: int

    @property
    def asleep_milli(self) -> int:
        """Time asleep: light + slow-wave + REM sleep."""
        return (
            self.total_light_sleep_time_milli
            + self.total_slow_wave_sleep_time_milli
            + self.total_rem_sleep_time_milli
        )


class SleepNeeded(_Model):
    """How much sleep WHOOP thinks was needed, in milliseconds."""

    baseline_milli: int
    need_from_sleep_debt_milli: int
    need_from_recent_strain_milli: int
    need_from_recent_nap_milli: int


class SleepScore(_Model):
    """Stages, need and performance of one sleep."""

    stage_summary: SleepStageSummary
    sleep_needed: SleepNeeded
    respiratory_rate: float | None = None
    sleep_performance_percentage: float | None = None
    sleep_consistency_percentage: float | None = None
    sleep_efficiency_percentage: float | None = None


class Sleep(_Timed):
    """One sleep or nap."""

    id: UUID
    cycle_id: int
    v1_id: int | None = None
    user_id: int
    created_at: datetime
    updated_at: datetime
    end: datetime
    nap: bool
    score_state: ScoreState
    score: SleepScore | None = None


class ZoneDurations(_Model):
    """Time in each heart-rate zone, in milliseconds."""

    zone_zero_milli: int
    zone_one_milli: int
    zone_two_milli: int
    zone_three_milli: int
    zone_four_milli: int
    zone_five_milli: int


class WorkoutScore(_Model):
    """Strain, heart rate, energy and (for some sports) distance of one workout."""

    strain: float
    average_heart_rate: int
    max_heart_rate: int
    kilojoule: float
    percent_recorded: float
    distance_meter: float | None = None
    altitude_gain_meter: float | None = None
    altitude_change_meter: float | None = None
    zone_durations: ZoneDurations


class Workout(_Timed):
    """One workout (the spec's ``WorkoutV2``)."""

    id: UUID
    v1_id: int | None = None
    user_id: int
    created_at: datetime
    updated_at: datetime
    end: datetime
    sport_name: str
    sport_id: int | None = None
    score_state: ScoreState
    score: WorkoutScore | None = None


RecordT = TypeVar("RecordT", Cycle, Recovery, Sleep, Workout)


class Page(_Model, Generic[RecordT]):
    """One page of a collection endpoint, newest first."""

    records: list[RecordT] = []
    next_token: str | None = None
