"""Typed models of WHOOP API v2 responses (the official OpenAPI spec's schemas).

Optional fields in the spec are optional here; ``score`` is present only when
``score_state`` is ``SCORED``. Unknown fields are ignored so that WHOOP can add some.

This is the edge where upstream data is checked, so that nothing downstream has to (issue 9.3).
A record is first validated as it is (all in pydantic-core, so a good record costs nothing extra);
only one that fails is repaired, in Python, and validated again:

- a ``timezone_offset`` that is not a real offset (``+ab:cd``, ``+99:00``) becomes UTC;
- numbers the spec's formats cannot hold (``Infinity``, ``NaN``, floats beyond float32) become
  missing, and so do ints beyond int32/int64;
- lone surrogates in text (which UTF-8 cannot encode) become U+FFFD;
- an optional part that still does not validate (a ``score`` whose ``strain`` was infinite, a
  ``step_count`` of ``"many"``) becomes ``None``;
- a record whose required fields are unusable (no id, a date-time without an offset or outside
  1970..2199) stays invalid: a page skips it and keeps the rest (``Page``), the store skips it on
  read (``validate_or_none``).

Each repair and skip is logged as a warning (once per distinct problem).
"""

from __future__ import annotations

import logging
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

logger = logging.getLogger(__name__)

FLOAT32_MAX = 3.4028234663852886e38
"""The largest finite ``number/float`` of the spec; anything beyond it cannot be a WHOOP value."""
MAX_OFFSET = timedelta(hours=18)
"""The widest UTC offset accepted (ISO 8601's and Java's limit; real zones stay within ±14:00)."""
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""Record date-times before this are unusable (WHOOP started in 2012; far dates overflow arithmetic)."""
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Record date-times from this on are unusable."""
UTC_OFFSET = "+00:00"
"""What an unusable ``timezone_offset`` is replaced by."""

_OFFSET_RE = re.compile(r"([+-])(\d{2})(?::?(\d{2}))?")
# The same offsets as offset_or_none accepts, for pydantic-core's fast first pass.
_OFFSET_PATTERN = r"^(?:[Zz]?|[+-](?:(?:0\d|1[0-7])(?::?[0-5]\d)?|18(?::?00)?))$"
_SURROGATES = re.compile("[\ud800-\udfff]")
# Never kept when invalid: an open cycle is one without an end, so a broken end must not become None.
_NEVER_DROPPED = frozenset({"end"})


@lru_cache(maxsize=1024)
def _warn_once(message: str) -> None:
    # Stored records are re-validated on every read; one line per distinct problem is enough.
    logger.warning("%s", message)


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_context=False, include_input=False)[:1]
    if not first:
        return "invalid"
    where = ".".join(str(part) for part in first[0]["loc"]) or "value"
    return f"{where}: {first[0]['msg']}"[:200]


def offset_or_none(offset: object) -> timezone | None:
    """The tzinfo of a usable WHOOP offset (``Z``, ``-05:00``, ``+0530``, ``+01``), else ``None``."""
    if not isinstance(offset, str):
        return None
    if offset in ("Z", "z", ""):
        return UTC
    match = _OFFSET_RE.fullmatch(offset)
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if int(minutes or 0) >= 60 or delta > MAX_OFFSET:
        return None
    return timezone(-delta if sign == "-" else delta)


@lru_cache(maxsize=256)
def parse_offset(offset: str) -> timezone:
    """Turn a WHOOP ``timezone_offset`` such as ``-05:00`` or ``Z`` into a tzinfo (UTC if unusable)."""
    return offset_or_none(offset) or UTC


def clean_text(value: str) -> str:
    """``value`` with lone surrogates (which no UTF-8 encoder accepts) replaced by U+FFFD."""
    return _SURROGATES.sub("\ufffd", value)


def storable_json(value: Any) -> Any:
    """A record as WHOOP sent it, made valid JSON text: lone surrogates become U+FFFD and
    non-finite numbers null (neither UTF-8 nor JSON can hold them)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {storable_json(k): storable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable_json(v) for v in value]
    return value


def _repaired(value: Any, where: str = "") -> Any:
    """``value`` with unusable numbers as None and lone surrogates as U+FFFD, all the way down."""
    if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= FLOAT32_MAX):
        _warn_once(f"WHOOP sent a non-finite or out-of-range {where or 'number'} ({value!r}); it is missing")
        return None
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_repaired(k): _repaired(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_repaired(v, where) for v in value]
    return value


Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Float32 = Annotated[float, Field(allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)]
Moment = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST)]
# Any pattern makes pydantic-core read the string as UTF-8, which refuses lone surrogates.
Text = Annotated[str, Field(pattern=r"(?s).*")]
Offset = Annotated[str, Field(pattern=_OFFSET_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Checked(_Model):
    """A top-level object from WHOOP: validated as sent, else repaired once (see the module docstring)."""

    @model_validator(mode="wrap")
    @classmethod
    def _repair(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError:
            if not isinstance(data, dict):
                raise
        fixed = _repaired(data)
        if "timezone_offset" in fixed and offset_or_none(fixed["timezone_offset"]) is None:
            _warn_once(f"WHOOP sent an unusable timezone_offset {fixed['timezone_offset']!r:.40}; using UTC")
            fixed["timezone_offset"] = UTC_OFFSET
        droppable = {n for n, f in cls.model_fields.items() if not f.is_required()} - _NEVER_DROPPED
        while True:
            try:
                return handler(fixed)
            except ValidationError as exc:
                bad: dict[str, str] = {}
                for error in exc.errors(include_url=False, include_input=False):
                    name = str(error["loc"][0]) if error["loc"] else ""
                    if name in droppable and fixed.get(name) is not None:
                        bad.setdefault(name, error["msg"])
                if not bad:
                    raise
                for name, why in bad.items():
                    _warn_once(f"WHOOP sent an unusable {cls.__name__}.{name} ({why}); it is missing")
                    fixed[name] = None


class ScoreState(StrEnum):
    """Whether WHOOP has scored a record yet."""

    SCORED = "SCORED"
    PENDING_SCORE = "PENDING_SCORE"
    UNSCORABLE = "UNSCORABLE"


class _Timed(_Checked):
    timezone_offset: Offset
    start: Moment

    @property
    def local_start(self) -> datetime:
        """``start`` in the record's own timezone, as the user lived it."""
        return self.start.astimezone(parse_offset(self.timezone_offset))


class UserBasicProfile(_Checked):
    """GET /v2/user/profile/basic."""

    user_id: Int64
    email: Text
    first_name: Text
    last_name: Text


class UserBodyMeasurement(_Checked):
    """GET /v2/user/measurement/body."""

    height_meter: Float32
    weight_kilogram: Float32
    max_heart_rate: Int32


class CycleScore(_Model):
    """Day strain and heart rate of a physiological cycle."""

    strain: Float32
    kilojoule: Float32
    average_heart_rate: Int32
    max_heart_rate: Int32


class Cycle(_Timed):
    """A physiological cycle (roughly a day, from sleep to sleep); the current one has no ``end``."""

    id: Int64
    user_id: Int64
    created_at: Moment
    updated_at: Moment
    end: Moment | None = None
    score_state: ScoreState
    score: CycleScore | None = None
    step_count: Int32 | None = None


class RecoveryScore(_Model):
    """Recovery, HRV and resting heart rate; SpO2 and skin temperature are optional."""

    user_calibrating: bool
    recovery_score: Float32
    resting_heart_rate: Float32
    hrv_rmssd_milli: Float32
    spo2_percentage: Float32 | None = None
    skin_temp_celsius: Float32 | None = None


class Recovery(_Checked):
    """The recovery of one cycle, computed from its main sleep."""

    cycle_id: Int64
    sleep_id: UUID
    user_id: Int64
    created_at: Moment
    updated_at: Moment
    score_state: ScoreState
    score: RecoveryScore | None = None


class SleepStageSummary(_Model):
    """Time in each sleep stage, in milliseconds."""

    total_in_bed_time_milli: Int32
    total_awake_time_milli: Int32
    total_no_data_time_milli: Int32
    total_light_sleep_time_milli: Int32
    total_slow_wave_sleep_time_milli: Int32
    total_rem_sleep_time_milli: Int32
    sleep_cycle_count: Int32
    disturbance_count: Int32

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

    baseline_milli: Int64
    need_from_sleep_debt_milli: Int64
    need_from_recent_strain_milli: Int64
    need_from_recent_nap_milli: Int64


class SleepScore(_Model):
    """Stages, need and performance of one sleep."""

    stage_summary: SleepStageSummary
    sleep_needed: SleepNeeded
    respiratory_rate: Float32 | None = None
    sleep_performance_percentage: Float32 | None = None
    sleep_consistency_percentage: Float32 | None = None
    sleep_efficiency_percentage: Float32 | None = None


class Sleep(_Timed):
    """One sleep or nap."""

    id: UUID
    cycle_id: Int64
    v1_id: Int64 | None = None
    user_id: Int64
    created_at: Moment
    updated_at: Moment
    end: Moment
    nap: bool
    score_state: ScoreState
    score: SleepScore | None = None


class ZoneDurations(_Model):
    """Time in each heart-rate zone, in milliseconds."""

    zone_zero_milli: Int64
    zone_one_milli: Int64
    zone_two_milli: Int64
    zone_three_milli: Int64
    zone_four_milli: Int64
    zone_five_milli: Int64


class WorkoutScore(_Model):
    """Strain, heart rate, energy and (for some sports) distance of one workout."""

    strain: Float32
    average_heart_rate: Int32
    max_heart_rate: Int32
    kilojoule: Float32
    percent_recorded: Float32
    distance_meter: Float32 | None = None
    altitude_gain_meter: Float32 | None = None
    altitude_change_meter: Float32 | None = None
    zone_durations: ZoneDurations


class Workout(_Timed):
    """One workout (the spec's ``WorkoutV2``)."""

    id: UUID
    v1_id: Int64 | None = None
    user_id: Int64
    created_at: Moment
    updated_at: Moment
    end: Moment
    sport_name: Text
    sport_id: Int32 | None = None
    score_state: ScoreState
    score: WorkoutScore | None = None


RecordT = TypeVar("RecordT", Cycle, Recovery, Sleep, Workout)
_ModelT = TypeVar("_ModelT", bound=BaseModel)


class Page(_Model, Generic[RecordT]):
    """One page of a collection endpoint, newest first."""

    records: list[RecordT] = []
    next_token: Text | None = None

    @field_validator("records", mode="wrap")
    @classmethod
    def _skip_unusable(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # One malformed record must not cost the user the rest of the page.
        try:
            return handler(value)
        except ValidationError:
            if not isinstance(value, list):
                raise
        kept: list[Any] = []
        for index, item in enumerate(value):
            try:
                kept.extend(handler([item]))
            except ValidationError as exc:
                ident = item.get("id", item.get("cycle_id")) if isinstance(item, dict) else None
                logger.warning(
                    "skipping unusable WHOOP record #%d (id %.40r): %s",
                    index,
                    ident,
                    _describe(exc).removeprefix("0."),
                )
        return kept


def validate_or_none(model: type[_ModelT], raw: str | bytes) -> _ModelT | None:
    """``raw`` JSON as ``model``, or ``None`` (logged) if it is not a usable record."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        _warn_once(f"skipping an unusable stored {model.__name__} ({_describe(exc)})")
        return None
