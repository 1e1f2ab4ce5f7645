"""Unit conversions and the rounding helpers every analytics result uses."""

from __future__ import annotations

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


def mean_or_none(values: Sequence[float], nd: int) -> float | None:
    """The mean of ``values`` rounded to ``nd`` decimals, or None when there are none."""
    return round(statistics.fmean(values), nd) if values else None
