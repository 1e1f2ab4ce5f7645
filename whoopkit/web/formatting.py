"""Human units for the pages: hours and minutes, kcal, km, percentages; ``None`` shows as a dash."""

from __future__ import annotations

import math
from datetime import date, datetime

from whoopkit.analytics import KJ_PER_KCAL, recovery_zone
from whoopkit.analytics.units import day_text, duration_text
from whoopkit.models import ScoreState

DASH = "–"


def duration_ms(milli: float | None) -> str:
    """``27_000_000`` → ``7 h 30 min``."""
    return DASH if milli is None else duration_text(milli)


def percent(value: float | None, digits: int = 0) -> str:
    """``67.4`` → ``67%``."""
    return DASH if value is None else f"{value:.{digits}f}%"


def number(value: float | None, digits: int = 0, unit: str = "") -> str:
    """A rounded number with an optional unit, e.g. ``52 ms``."""
    if value is None:
        return DASH
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}" if unit else text


def kcal(kilojoule: float | None) -> str:
    """Energy in kcal, as the WHOOP app shows it."""
    return DASH if kilojoule is None else f"{kilojoule / KJ_PER_KCAL:,.0f} kcal"


def km(meters: float | None) -> str:
    """A distance in km."""
    return DASH if meters is None else f"{meters / 1000:.2f} km"


def day(value: date | None) -> str:
    """``Mon 3 Mar``."""
    return DASH if value is None else day_text(value)


def short_day(value: date | None) -> str:
    """``3/3`` for chart axes."""
    return "" if value is None else f"{value.day}/{value.month}"


def clock(value: datetime | None) -> str:
    """``22:41``."""
    return DASH if value is None else f"{value:%H:%M}"


def state_label(state: ScoreState | str) -> str:
    """What to show for a record WHOOP has not scored: never a zero."""
    state = str(state)
    if state == ScoreState.PENDING_SCORE:
        return "pending"
    if state == ScoreState.UNSCORABLE:
        return "unscorable"
    return ""


def zone(recovery: float | None) -> str:
    """WHOOP's recovery colour as a CSS class: green 67-100, yellow 34-66, red 0-33, else ``none``."""
    if recovery is None or math.isnan(recovery):
        return "none"
    return recovery_zone(recovery)


# Only what the templates use; pages.py formats everything else before it reaches a template.
FILTERS = {
    "duration_ms": duration_ms,
    "percent": percent,
    "number": number,
    "kcal": kcal,
    "state_label": state_label,
}
