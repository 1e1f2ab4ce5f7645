"""Unit conversions and the rounding helpers every analytics result uses."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence

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


def round_or_none(value: float | None, ndigits: int = 1) -> float | None:
    """``value`` rounded to ``ndigits``, or None when there is no value."""
    return None if value is None else round(value, ndigits)


def duration_text(ms: float) -> str:
    """A duration as every face writes it: ``27_000_000`` → ``7 h 30 min``, under an hour ``59 min``."""
    hours, minutes = divmod(round(ms / MS_PER_MINUTE), 60)
    return f"{minutes} min" if hours == 0 else f"{hours} h {minutes:02d} min"


def hours_text(hours: float) -> str:
    """Hours as a duration: ``7.9`` → ``7 h 54 min``."""
    return duration_text(hours * MS_PER_HOUR)


def day_text(day: dt.date) -> str:
    """A day as every face writes it: ``Tue 1 Dec``."""
    return f"{day:%a} {day.day} {day:%b}"


def mean_or_none(values: Sequence[float], nd: int) -> float | None:
    """The mean of ``values`` rounded to ``nd`` decimals, or None when there are none."""
    return round(statistics.fmean(values), nd) if values else None
