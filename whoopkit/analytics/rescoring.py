"""How WHOOP re-scored records: "WHOOP changed Tue 3 Nov recovery from 54% to 61%".

The input is every version of each record's score that sync saw (the store keeps them); the output is
one :class:`ScoreChange` per metric whose *shown* value changed. A record that goes from
``PENDING_SCORE`` to ``SCORED`` was scored, not changed; a re-score seen with a pending step in between
(``SCORED`` → ``PENDING_SCORE`` → ``SCORED``) is compared with the score before it. ``SCORED`` →
``UNSCORABLE`` is a change of the main metric to "unscorable"; a score coming back after that is a
first score again. Each change is dated on the day row that shows its record (``analytics.record_days``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from whoopkit.analytics.units import day_text
from whoopkit.models import parse_offset

Kind = Literal["cycles", "recoveries", "sleeps", "workouts"]
_KINDS: dict[str, Kind] = {
    "cycles": "cycles",
    "recoveries": "recoveries",
    "sleeps": "sleeps",
    "workouts": "workouts",
}
_WAKE_SHIFT = dt.timedelta(hours=12)  # as analytics.whoop_day: a cycle or main sleep is the day woken into


class Version(Protocol):
    """One stored version of a record's score (``whoopkit.store.ScoreVersion`` is one)."""

    @property
    def kind(self) -> str:
        """``cycles``, ``recoveries``, ``sleeps`` or ``workouts``."""

    @property
    def record_key(self) -> str:
        """The record's id as text (a recovery's is its cycle id)."""

    @property
    def start_ms(self) -> int:
        """When the record starts (a recovery: its sleep), epoch ms."""

    @property
    def timezone_offset(self) -> str:
        """The record's own offset, ``-05:00``."""

    @property
    def updated_ms(self) -> int:
        """WHOOP's ``updated_at`` of this version, epoch ms."""

    @property
    def score_state(self) -> str:
        """``SCORED``, ``PENDING_SCORE`` or ``UNSCORABLE``."""

    @property
    def score(self) -> Mapping[str, Any] | None:
        """The record's ``score`` object in this version."""


@dataclass(frozen=True)
class _Metric:
    name: str  # ScoreChange.metric
    label: str  # in the sentence
    field: str  # in the score object
    unit: str
    digits: int  # as every face shows it


# The main metric first: it alone is reported when a record becomes unscorable.
_METRICS: dict[Kind, tuple[_Metric, ...]] = {
    "recoveries": (
        _Metric("recovery", "recovery", "recovery_score", "%", 0),
        _Metric("hrv", "HRV", "hrv_rmssd_milli", "ms", 0),
        _Metric("rhr", "resting heart rate", "resting_heart_rate", "bpm", 0),
    ),
    "cycles": (_Metric("strain", "day strain", "strain", "", 1),),
    "sleeps": (_Metric("sleep performance", "sleep performance", "sleep_performance_percentage", "%", 0),),
    "workouts": (_Metric("strain", "workout strain", "strain", "", 1),),
}


class ScoreChange(BaseModel):
    """One metric of one record that WHOOP changed after scoring it, as a person would say it."""

    date: dt.date = Field(description="The day row that shows the record (as analytics.build_days places it)")
    kind: Kind
    record_key: str = Field(description="The record's id (a recovery's: its cycle id)")
    metric: str = Field(description='"recovery", "hrv", "rhr", "sleep performance" or "strain"')
    before: float | None = Field(description="The value before, rounded as shown")
    after: float | None = Field(description="The value after, rounded as shown; None: unscorable")
    unit: str = Field(description='"%", "ms", "bpm", or "" for strain')
    changed_at: dt.datetime = Field(description="WHOOP's updated_at of the new version (UTC)")
    sentence: str


def record_day(kind: str, start_ms: int, timezone_offset: str, *, nap: bool = False) -> dt.date:
    """The WHOOP day of a record from its start and offset, as ``analytics.whoop_day`` dates it.

    Cycles, recoveries (dated by their sleep's start) and main sleeps are the day woken into; workouts
    and naps the day they start. An unusable offset counts as UTC.
    """
    local = dt.datetime.fromtimestamp(start_ms / 1000, parse_offset(timezone_offset))
    if kind in ("cycles", "recoveries") or (kind == "sleeps" and not nap):
        local += _WAKE_SHIFT
    return local.date()


def score_changes(
    versions: Iterable[Version],
    *,
    naps: Collection[str] = (),
    days: Mapping[tuple[str, str], dt.date] | None = None,
) -> list[ScoreChange]:
    """The shown-value changes between consecutive scored versions of each record, oldest change first.

    ``versions`` may come in any order. ``days`` (``analytics.record_days`` of the stored records) dates
    each change on the day row that shows its record; a record missing from it falls back to
    :func:`record_day`, with ``naps`` the record keys of sleeps that are naps (dated by their start).
    """
    placed: Mapping[tuple[str, str], dt.date] = days or {}
    by_record: dict[tuple[Kind, str], list[Version]] = {}
    for version in versions:
        kind = _KINDS.get(version.kind)
        if kind is not None:
            by_record.setdefault((kind, version.record_key), []).append(version)
    out: list[ScoreChange] = []
    for (kind, key), history in by_record.items():
        history.sort(key=lambda v: v.updated_ms)
        scored: Version | None = None
        for version in history:
            if version.score_state == "SCORED":
                if scored is not None:
                    out.extend(_changes(kind, key, scored, version, _day(kind, key, version, naps, placed)))
                scored = version
            elif version.score_state == "UNSCORABLE":
                if scored is not None:
                    day = _day(kind, key, version, naps, placed)
                    out.extend(_changes(kind, key, scored, version, day, main_only=True))
                scored = None
    out.sort(key=lambda c: (c.changed_at, c.date, c.kind, c.record_key))
    return out


def _day(
    kind: Kind, key: str, version: Version, naps: Collection[str], placed: Mapping[tuple[str, str], dt.date]
) -> dt.date:
    day = placed.get((kind, key))
    if day is None:
        day = record_day(kind, version.start_ms, version.timezone_offset, nap=key in naps)
    return day


def _changes(
    kind: Kind, key: str, before: Version, after: Version, day: dt.date, *, main_only: bool = False
) -> list[ScoreChange]:
    metrics: Sequence[_Metric] = _METRICS[kind][:1] if main_only else _METRICS[kind]
    changed_at = dt.datetime.fromtimestamp(after.updated_ms / 1000, dt.UTC)
    out: list[ScoreChange] = []
    for metric in metrics:
        old = _shown(before.score, metric)
        new = None if main_only else _shown(after.score, metric)
        if old == new:
            continue
        sentence = (
            f"WHOOP changed {day_text(day)} {metric.label} from {_text(old, metric)} to "
            f"{'unscorable' if main_only else _text(new, metric)}"
        )
        out.append(
            ScoreChange(
                date=day,
                kind=kind,
                record_key=key,
                metric=metric.name,
                before=old,
                after=new,
                unit=metric.unit,
                changed_at=changed_at,
                sentence=sentence,
            )
        )
    return out


def _shown(score: Mapping[str, Any] | None, metric: _Metric) -> float | None:
    value = None if score is None else score.get(metric.field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    # Rounded by the same formatting the faces use, so "changed" means a person would see it change.
    return float(f"{value:.{metric.digits}f}")


def _text(value: float | None, metric: _Metric) -> str:
    if value is None:
        return "no value"
    number = f"{value:.{metric.digits}f}"
    if metric.unit == "%":
        return f"{number}%"
    return f"{number} {metric.unit}" if metric.unit else number
