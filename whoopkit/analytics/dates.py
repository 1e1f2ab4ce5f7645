"""Which day a record belongs to (its local date, local end, WHOOP day), and what "the last N days" are."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from whoopkit.models import Cycle, Recovery, Sleep, Workout, parse_offset

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


def recovery_date(recovery: Recovery, cycles: Mapping[int, Cycle] | Iterable[Cycle]) -> dt.date | None:
    """The WHOOP day of a recovery, taken from its cycle (``None`` if the cycle is not given)."""
    by_id = cycles if isinstance(cycles, Mapping) else {c.id: c for c in cycles}
    cycle = by_id.get(recovery.cycle_id)
    return None if cycle is None else whoop_day(cycle)


def day_window(end: dt.date, days: int) -> tuple[dt.date, dt.date]:
    """The last ``days`` days ending ``end``: ``end - (days - 1)``..``end``, both ends included.

    Every face asks for its windows through this (with ``end`` the user's today), so a 7-day page and a
    7-day tool cover the same seven WHOOP days.

    Raises:
        ValueError: if ``days`` < 1.
    """
    if days < 1:
        raise ValueError("a window has at least one day")
    return end - dt.timedelta(days=days - 1), end
