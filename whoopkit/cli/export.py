"""Rows of ``whoopkit export``: CSV from the analytics summaries (units in the column names), JSONL raw."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Any

from pydantic import BaseModel

from whoopkit import analytics

if TYPE_CHECKING:
    from whoopkit.service import WhoopService
    from whoopkit.store import Collection

# Wide enough for any WHOOP history, narrow enough that the service's day arithmetic cannot overflow.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(9999, 1, 1)
ZONES = 6


class Kind(StrEnum):
    """What to export."""

    days = "days"
    cycles = "cycles"
    recoveries = "recoveries"
    sleeps = "sleeps"
    workouts = "workouts"


class Format(StrEnum):
    """How to write it."""

    csv = "csv"
    jsonl = "jsonl"


_SUMMARY: dict[Kind, type[BaseModel]] = {
    Kind.days: analytics.DaySummary,
    Kind.cycles: analytics.StrainSummary,
    Kind.recoveries: analytics.RecoverySummary,
    Kind.sleeps: analytics.SleepSummary,
    Kind.workouts: analytics.WorkoutSummary,
}
_RAW: dict[Kind, Collection] = {
    Kind.cycles: "cycles",
    Kind.recoveries: "recoveries",
    Kind.sleeps: "sleeps",
    Kind.workouts: "workouts",
}
# Nested per-workout rows: a days CSV lists the sports and totals instead.
_SKIPPED = frozenset({"workouts"})


def columns(kind: Kind) -> list[str]:
    """The CSV header of ``kind``: the summary's fields, heart-rate zones spread into one column each."""
    names: list[str] = []
    for name in _SUMMARY[kind].model_fields:
        if name in _SKIPPED:
            continue
        if name == "zone_minutes":
            names.extend(f"zone{i}_minutes" for i in range(ZONES))
        else:
            names.append(name)
    return names


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return str(value)


def _row(summary: BaseModel) -> dict[str, str]:
    row: dict[str, str] = {}
    for name in type(summary).model_fields:
        if name in _SKIPPED:
            continue
        value = getattr(summary, name)
        if name == "zone_minutes":
            zones = list(value or [])
            for i in range(ZONES):
                row[f"zone{i}_minutes"] = _cell(zones[i] if i < len(zones) else None)
        else:
            row[name] = _cell(value)
    return row


def summaries(service: WhoopService, kind: Kind, start: date, end: date) -> list[BaseModel]:
    """The stored records of ``kind`` in ``start..end`` as summaries, oldest first (no WHOOP call)."""
    out: list[BaseModel]
    if kind is Kind.days:
        out = list(service.stored_days(start, end))
    elif kind is Kind.cycles:
        out = [analytics.summarize_strain(c) for c in service.stored_cycles(start, end)]
    elif kind is Kind.recoveries:
        cycles = service.stored_cycles(start - timedelta(days=1), end + timedelta(days=1))
        out = [analytics.summarize_recovery(r, cycles) for r in service.stored_recoveries(start, end)]
    elif kind is Kind.sleeps:
        out = [analytics.summarize_sleep(s) for s in service.stored_sleeps(start, end)]
    else:
        out = [analytics.summarize_workout(w) for w in service.stored_workouts(start, end)]
    out.reverse()
    return out


def raw_lines(service: WhoopService, kind: Kind, start: date | None, end: date | None) -> Iterator[str]:
    """JSONL lines: the raw WHOOP records of ``kind`` (day rows for ``days``), oldest first."""
    if kind is Kind.days:
        for day in reversed(service.stored_days(start or FIRST_DAY, end or LAST_DAY)):
            yield json.dumps(day.model_dump(mode="json"), ensure_ascii=False)
        return
    records = service.stored_raw(_RAW[kind], start, end)
    if start is not None or end is not None:
        # stored_raw's bounds have a day of slack for time zones: keep exactly the records of the range.
        keep = _ids_in_range(service, kind, start or FIRST_DAY, end or LAST_DAY)
        key = "cycle_id" if kind is Kind.recoveries else "id"
        records = [r for r in records if str(r.get(key)) in keep]
    for record in records:
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _ids_in_range(service: WhoopService, kind: Kind, start: date, end: date) -> set[str]:
    if kind is Kind.cycles:
        return {str(c.id) for c in service.stored_cycles(start, end)}
    if kind is Kind.recoveries:
        return {str(r.cycle_id) for r in service.stored_recoveries(start, end)}
    if kind is Kind.sleeps:
        return {str(s.id) for s in service.stored_sleeps(start, end)}
    return {str(w.id) for w in service.stored_workouts(start, end)}


def write_csv(stream: IO[str], kind: Kind, rows: Iterable[BaseModel]) -> int:
    """Write a header and one line per summary; returns the number of rows."""
    writer = csv.DictWriter(stream, fieldnames=columns(kind), lineterminator="\n")
    writer.writeheader()
    count = 0
    for summary in rows:
        writer.writerow(_row(summary))
        count += 1
    return count


def write_jsonl(stream: IO[str], lines: Iterable[str]) -> int:
    """Write one JSON document per line; returns the number of lines."""
    count = 0
    for text in lines:
        stream.write(text + "\n")
        count += 1
    return count
