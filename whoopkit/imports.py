"""Reading the WHOOP app's data export, and merging what it holds with what the API synced.

The API has no journal and the app's export has no ids, so this module builds v2-shaped records
from the export's rows (``physiological_cycles.csv``, ``sleeps.csv``, ``workouts.csv``,
``journal_entries.csv``) that validate as :mod:`whoopkit.models`, and decides which of them the API
already has (a record of the same kind starting within :data:`MATCH_WINDOW`, or else covering the
same span for the most part: :func:`match_spans`). It does no I/O beyond
reading the files it is given, and never touches the store (the service commits what it returns).

Design notes (the WHY):

* **Ids are synthesized deterministically**, so importing the same export twice yields the same
  rows: a cycle's id is minus its start in epoch seconds (never a WHOOP id, which is positive),
  sleeps and workouts get a UUID5 of user, kind and start, and a recovery is keyed by its cycle.
* **Files are known by their exact names** (any case): in a zip at any depth, in a directory directly
  or one folder down (an unzipped export), never by a walk of the tree; every other file there is
  ignored and listed. A CSV named explicitly must carry one of the four names.
* **Columns are matched by meaning, not spelling.** A header is split into a name and a trailing
  ``(unit)``, lower-cased and stripped of punctuation; known aliases and units are converted
  (``Energy burned (cal)`` and ``(kcal)`` are both kilocalories; WHOOP's "cal" are kcal). Every other
  column is ignored and reported by its exact header; a missing required column is an error.
* **Times are local wall-clock** with the offset in ``Cycle timezone`` (``UTC-05:00``; also seen:
  ``UTC+01:00``, ``UTCZ`` and bare ``UTC``; ``UTC+0530``, ``+05:30``, ``GMT-5`` and IANA names such
  as ``Europe/Paris`` are accepted too).
* **Malformed content stops the import** (:class:`~whoopkit.errors.ImportFileError`, naming the file
  and line): a time or number that does not parse, a row with too few fields, a missing required
  column, an empty, non-UTF-8 or oversized file, a zip without any of the four files. **A row whose
  values parse but cannot be a WHOOP record** (a recovery of 150 %, a sleep ending before it starts,
  a repeated start) is skipped, and counted with its line and reason in the file's summary.
"""

from __future__ import annotations

import csv
import io
import math
import re
import uuid
import zipfile
import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from whoopkit.errors import ImportFileError
from whoopkit.models import Cycle, Recovery, Sleep, Workout, parse_offset
from whoopkit.text import one_line

__all__ = [
    "KINDS",
    "MATCH_WINDOW",
    "MAX_QUESTION_CHARS",
    "ChangedQuestion",
    "FileSummary",
    "ImportBatch",
    "ImportReport",
    "ImportedRecord",
    "JournalAnswer",
    "Pairing",
    "SkippedRow",
    "check_paths",
    "cycle_day",
    "cycle_id_for",
    "match_spans",
    "match_starts",
    "merge_records",
    "open_span",
    "pair_records",
    "read_export",
    "read_zip_bytes",
]

Kind = Literal["cycles", "recoveries", "sleeps", "workouts"]
KINDS: tuple[Kind, ...] = ("cycles", "recoveries", "sleeps", "workouts")
FileKind = Literal["physiological_cycles", "sleeps", "workouts", "journal_entries"]
FILE_NAMES: dict[FileKind, str] = {
    "physiological_cycles": "physiological_cycles.csv",
    "sleeps": "sleeps.csv",
    "workouts": "workouts.csv",
    "journal_entries": "journal_entries.csv",
}
MODELS: dict[Kind, type[BaseModel]] = {
    "cycles": Cycle,
    "recoveries": Recovery,
    "sleeps": Sleep,
    "workouts": Workout,
}

MAX_QUESTION_CHARS = 300
"""The longest journal question kept (the store's column); a longer one is cut, ending in "…"."""
MATCH_WINDOW = timedelta(minutes=10)
"""An imported record and an API record of the same kind starting this close are the same record.

Failing that, they are the same when their spans overlap by more than half of the shorter one (see
:func:`match_spans`): a bedtime edited in the app after the export moves a start by far more."""
# A decade of WHOOP history is a few MB of CSV; anything far larger is not an export (or is a zip bomb).
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
_NAMESPACE = uuid.UUID("5d7a1c1e-8f0b-5c7e-9a55-77686f6f706b")
_KJ_PER_KCAL = 4.184
_MINUTE_MS = 60_000
_DAY_MS = 86_400_000
# A cycle starts at sleep onset; shifting by 12 h lands on the day woken into (as analytics.whoop_day).
_WAKE_SHIFT = timedelta(hours=12)

# ---------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SkippedRow:
    """A row that parsed but could not be a WHOOP record: its 1-based line and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class ChangedQuestion:
    """A journal question kept in another form than the file's: its 1-based line, the form kept, why."""

    line: int
    question: str
    reason: str


@dataclass
class FileSummary:
    """What one file held: rows read, the columns used and ignored (exact headers), skipped rows."""

    path: str
    kind: FileKind
    rows: int = 0
    columns_used: list[str] = field(default_factory=list)
    columns_ignored: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    questions_changed: list[ChangedQuestion] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportedRecord:
    """One record built from the export: its start (epoch ms; a recovery's is its cycle's), raw and model."""

    start_ms: int
    raw: dict[str, Any]
    model: Any


@dataclass(frozen=True)
class JournalAnswer:
    """One journal answer as the export gives it (the service adds the matched API cycle)."""

    cycle_start_ms: int
    question: str
    answered_yes: bool
    notes: str | None
    cycle_end_ms: int | None
    timezone_offset: str


@dataclass
class ImportBatch:
    """Everything read from one import: records per kind (by start), journal answers, file summaries."""

    source: str
    user_id: int
    records: dict[Kind, list[ImportedRecord]] = field(default_factory=dict)
    journal: list[JournalAnswer] = field(default_factory=list)
    files: list[FileSummary] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)

    @property
    def questions(self) -> list[str]:
        """The journal questions found, sorted."""
        return sorted({a.question for a in self.journal})

    def raw_records(self) -> dict[Kind, list[tuple[int, dict[str, Any]]]]:
        """Per kind, ``(start_ms, raw)`` pairs as ``Store.save_import`` takes them."""
        return {kind: [(r.start_ms, r.raw) for r in self.records.get(kind, [])] for kind in KINDS}

    def models(self) -> dict[Kind, list[Any]]:
        """Per kind, the validated models."""
        return {kind: [r.model for r in self.records.get(kind, [])] for kind in KINDS}


@dataclass
class ImportReport:
    """The outcome of ``whoopkit import``: per file what was read, and per kind what it did to the store.

    ``new``/``updated``/``unchanged`` are empty for a dry run (nothing was written). ``matched``
    counts imported records that the API also has (the API's copy is the one shown).
    """

    source: str
    dry_run: bool
    files: list[FileSummary]
    ignored_files: list[str]
    records: dict[str, int]
    matched: dict[str, int]
    new: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    journal_answers: int = 0
    journal_matched: int = 0
    questions: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        """Rows skipped over all files."""
        return sum(len(f.skipped) for f in self.files)


# ---------------------------------------------------------------------------------------- columns


Parse = Literal["time", "number", "text", "bool", "zone"]
Convert = Callable[[float], float]


def _same(value: float) -> float:
    return value


def _times(factor: float) -> Convert:
    return lambda value: value * factor


_PERCENT: dict[str, Convert] = {"": _same, "%": _same, "pct": _same, "percent": _same, "% in zone": _same}
_MINUTES: dict[str, Convert] = {
    "": _times(_MINUTE_MS),
    "min": _times(_MINUTE_MS),
    "mins": _times(_MINUTE_MS),
    "minutes": _times(_MINUTE_MS),
    "h": _times(3_600_000),
    "hr": _times(3_600_000),
    "hrs": _times(3_600_000),
    "hours": _times(3_600_000),
    "s": _times(1000),
    "sec": _times(1000),
    "seconds": _times(1000),
    "ms": _same,
}
# WHOOP's "cal" are kilocalories (a day of ~2,400 "cal"); kJ are what the API reports.
_ENERGY: dict[str, Convert] = {
    "": _times(_KJ_PER_KCAL),
    "cal": _times(_KJ_PER_KCAL),
    "kcal": _times(_KJ_PER_KCAL),
    "calories": _times(_KJ_PER_KCAL),
    "kilocalories": _times(_KJ_PER_KCAL),
    "kj": _same,
    "kilojoules": _same,
}
_BPM: dict[str, Convert] = {"": _same, "bpm": _same, "beats/min": _same, "beats per minute": _same}
_MS: dict[str, Convert] = {"": _same, "ms": _same, "milliseconds": _same}
_RPM: dict[str, Convert] = {"": _same, "rpm": _same, "brpm": _same, "breaths/min": _same}
_CELSIUS: dict[str, Convert] = {
    "": _same,
    "celsius": _same,
    "c": _same,
    "fahrenheit": lambda f: (f - 32) * 5 / 9,
    "f": lambda f: (f - 32) * 5 / 9,
}
_METERS: dict[str, Convert] = {
    "": _same,
    "meters": _same,
    "metres": _same,
    "m": _same,
    "km": _times(1000),
    "kilometers": _times(1000),
    "miles": _times(1609.344),
    "mi": _times(1609.344),
    "feet": _times(0.3048),
    "ft": _times(0.3048),
}
_PLAIN: dict[str, Convert] = {"": _same}


@dataclass(frozen=True)
class _Spec:
    key: str
    label: str  # WHOOP's header, for messages
    parse: Parse
    aliases: tuple[str, ...] = ()
    units: Mapping[str, Convert] = field(default_factory=dict)
    lo: float | None = None
    hi: float | None = None
    required: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (_split(self.label)[0], *self.aliases)


def _spec(
    key: str,
    label: str,
    parse: Parse,
    *aliases: str,
    units: Mapping[str, Convert] | None = None,
    lo: float | None = None,
    hi: float | None = None,
    required: bool = False,
) -> _Spec:
    return _Spec(key, label, parse, aliases, units or {}, lo, hi, required)


_CYCLE_START = _spec(
    "cycle_start", "Cycle start time", "time", "cycle start", "cycle start date", required=True
)
_CYCLE_END = _spec("cycle_end", "Cycle end time", "time", "cycle end", "cycle end date")
_ZONE = _spec("zone", "Cycle timezone", "zone", "timezone", "time zone", "cycle time zone", required=True)
_SLEEP_COLUMNS = (
    _spec("sleep_onset", "Sleep onset", "time", "sleep start", "sleep start time", "bedtime"),
    _spec("wake_onset", "Wake onset", "time", "sleep end", "sleep end time", "wake time", "wake up time"),
    _spec("performance", "Sleep performance %", "number", "sleep performance", units=_PERCENT, lo=0, hi=100),
    _spec("respiratory", "Respiratory rate (rpm)", "number", "respiratory rate", units=_RPM, lo=1, hi=80),
    _spec(
        "asleep", "Asleep duration (min)", "number", "asleep", "time asleep", units=_MINUTES, lo=0, hi=_DAY_MS
    ),
    _spec("in_bed", "In bed duration (min)", "number", "time in bed", units=_MINUTES, lo=0, hi=_DAY_MS),
    _spec(
        "light", "Light sleep duration (min)", "number", "light duration", units=_MINUTES, lo=0, hi=_DAY_MS
    ),
    _spec(
        "sws",
        "Deep (SWS) duration (min)",
        "number",
        "deep sws sleep duration",
        "deep sleep duration",
        "deep duration",
        "sws duration",
        "slow wave sleep duration",
        units=_MINUTES,
        lo=0,
        hi=_DAY_MS,
    ),
    _spec("rem", "REM duration (min)", "number", "rem sleep duration", units=_MINUTES, lo=0, hi=_DAY_MS),
    _spec("awake", "Awake duration (min)", "number", "awake time", units=_MINUTES, lo=0, hi=_DAY_MS),
    _spec("need", "Sleep need (min)", "number", "sleep needed", units=_MINUTES, lo=0, hi=_DAY_MS),
    _spec("debt", "Sleep debt (min)", "number", units=_MINUTES, lo=0, hi=_DAY_MS),
    _spec("efficiency", "Sleep efficiency %", "number", "sleep efficiency", units=_PERCENT, lo=0, hi=100),
    _spec("consistency", "Sleep consistency %", "number", "sleep consistency", units=_PERCENT, lo=0, hi=100),
)
_HEART = (
    _spec(
        "max_hr", "Max HR (bpm)", "number", "max heart rate", "maximum heart rate", units=_BPM, lo=20, hi=260
    ),
    _spec(
        "avg_hr",
        "Average HR (bpm)",
        "number",
        "avg hr",
        "average heart rate",
        "avg heart rate",
        units=_BPM,
        lo=20,
        hi=260,
    ),
)
_ENERGY_COLUMN = _spec(
    "energy",
    "Energy burned (cal)",
    "number",
    "energy",
    "calories",
    "calories burned",
    units=_ENERGY,
    lo=0,
    hi=1e5,
)

_SPECS: dict[FileKind, tuple[_Spec, ...]] = {
    "physiological_cycles": (
        _CYCLE_START,
        _CYCLE_END,
        _ZONE,
        _spec(
            "recovery",
            "Recovery score %",
            "number",
            "recovery",
            "recovery score",
            units=_PERCENT,
            lo=0,
            hi=100,
        ),
        _spec("rhr", "Resting heart rate (bpm)", "number", "rhr", "resting hr", units=_BPM, lo=20, hi=200),
        _spec("hrv", "Heart rate variability (ms)", "number", "hrv", "hrv rmssd", units=_MS, lo=0, hi=1000),
        _spec("skin", "Skin temp (celsius)", "number", "skin temperature", units=_CELSIUS, lo=20, hi=45),
        _spec("spo2", "Blood oxygen %", "number", "spo2", "blood oxygen", units=_PERCENT, lo=50, hi=100),
        _spec("strain", "Day Strain", "number", "strain", "day strain score", units=_PLAIN, lo=0, hi=21),
        _ENERGY_COLUMN,
        *_HEART,
        *_SLEEP_COLUMNS,
    ),
    "sleeps": (
        _CYCLE_START,
        _CYCLE_END,
        _ZONE,
        *(
            _spec(s.key, s.label, s.parse, *s.aliases, units=s.units, lo=s.lo, hi=s.hi, required=True)
            if s.key in ("sleep_onset", "wake_onset")
            else s
            for s in _SLEEP_COLUMNS
        ),
        _spec("nap", "Nap", "bool", "is nap"),
    ),
    "workouts": (
        _spec(
            "cycle_start", "Cycle start time", "time", "cycle start", "cycle start date"
        ),  # v2 workouts have no cycle id
        _CYCLE_END,
        _ZONE,
        _spec("start", "Workout start time", "time", "workout start", "start time", required=True),
        _spec("end", "Workout end time", "time", "workout end", "end time"),
        _spec("duration", "Duration (min)", "number", "workout duration", units=_MINUTES, lo=0, hi=_DAY_MS),
        _spec(
            "sport", "Activity name", "text", "activity", "sport", "sport name", "workout type", required=True
        ),
        _spec("strain", "Activity Strain", "number", "strain", "workout strain", units=_PLAIN, lo=0, hi=21),
        _ENERGY_COLUMN,
        *_HEART,
        *(
            _spec(
                f"zone{i}", f"HR Zone {i} %", "number", f"heart rate zone {i}", units=_PERCENT, lo=0, hi=100
            )
            for i in range(1, 6)
        ),
        _spec("distance", "Distance (meters)", "number", "distance", units=_METERS, lo=0, hi=2e6),
        _spec("gain", "Altitude gain (meters)", "number", "elevation gain", units=_METERS, lo=0, hi=2e4),
        _spec(
            "change", "Altitude change (meters)", "number", "elevation change", units=_METERS, lo=-2e4, hi=2e4
        ),
    ),
    "journal_entries": (
        _CYCLE_START,
        _CYCLE_END,
        _ZONE,
        _spec("question", "Question text", "text", "question", "journal question", "behavior", required=True),
        _spec(
            "answer",
            "Answered yes",
            "bool",
            "answered yes no",
            "answered",
            "answer",
            "answered yes or no",
            "response",
            required=True,
        ),
        _spec("notes", "Notes", "text", "note", "comment", "comments"),
    ),
}


_BY_KEY: dict[FileKind, dict[str, _Spec]] = {
    kind: {spec.key: spec for spec in specs} for kind, specs in _SPECS.items()
}


def _split(header: str) -> tuple[str, str]:
    """A header as (name, unit), normalised: ``Deep (SWS) duration (min)`` → (deep sws duration, min)."""
    text = header.strip().lstrip("\ufeff")
    unit = ""
    trailing = re.search(r"\(([^()]*)\)\s*$", text)
    if trailing is not None:
        unit, text = trailing.group(1), text[: trailing.start()]
    if "%" in text:
        unit, text = unit or "%", text.replace("%", " ")
    name = re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
    unit = re.sub(r"\s*/\s*", "/", re.sub(r"\s+", " ", unit.lower().replace("°", "").strip()))
    return name, unit


@dataclass
class _Columns:
    index: dict[str, tuple[int, str, Convert | None]]  # key -> (column, header, converter)
    used: list[str]
    ignored: list[str]


def _resolve(kind: FileKind, header: Sequence[str], path: str) -> _Columns:
    """Which column feeds which field; everything else is ignored (reported by its exact header).

    Raises:
        ImportFileError: a required column is missing.
    """
    specs = _SPECS[kind]
    by_name = {name: spec for spec in specs for name in spec.names}
    index: dict[str, tuple[int, str, Convert | None]] = {}
    used: list[str] = []
    ignored: list[str] = []
    for i, raw in enumerate(header):
        name, unit = _split(raw)
        spec = by_name.get(name)
        convert: Convert | None = None
        if spec is not None and spec.parse == "number":
            convert = spec.units.get(unit)
            if convert is None:
                spec = None  # a unit we cannot convert: the values would be wrong, so the column is unused
        if spec is None or spec.key in index:
            ignored.append(raw)
            continue
        index[spec.key] = (i, raw, convert)
        used.append(raw)
    for spec in specs:
        if spec.required and spec.key not in index:
            raise ImportFileError(
                f"there is no {spec.label!r} column, which a {FILE_NAMES[kind]} needs (the header has "
                f"{len(header)} columns).",
                path=path,
                line=1,
                column=spec.label,
            )
    return _Columns(index, used, ignored)


# ---------------------------------------------------------------------------------------- values


class _Skip(Exception):
    """This row parses but is not a usable record (the reason is the message)."""


_OFFSET = re.compile(r"(?:utc|gmt)?\s*(z|[+-]\s*\d{1,2}(?::?\d{2})?)?", re.IGNORECASE)


def _zone(value: str) -> tzinfo | None:
    """The zone of a ``Cycle timezone`` value (``UTC-05:00``, ``UTC+0530``, ``UTCZ``, ``Europe/Paris``)."""
    text = value.strip()
    match = _OFFSET.fullmatch(text)
    if match is not None and text:
        given = (match.group(1) or "z").replace(" ", "").lower()
        if given == "z":
            return UTC
        sign, digits = given[0], given[1:].replace(":", "")
        if len(digits) <= 2:
            hours, minutes = int(digits), 0
        elif len(digits) in (3, 4):
            hours, minutes = int(digits[:-2]), int(digits[-2:])
        else:
            return None
        if minutes >= 60 or hours * 60 + minutes > 18 * 60:
            return None
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(-delta if sign == "-" else delta)
    if "/" in text and ".." not in text:
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    return None


def _offset_text(local: datetime) -> str:
    offset = local.utcoffset() or timedelta(0)
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _local_time(value: str) -> datetime | None:
    text = value.strip()
    if not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?", text
    ):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _number(text: str) -> float | None:
    cleaned = text.strip().removesuffix("%").strip()
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", cleaned):
        return None
    value = float(cleaned)
    return value if math.isfinite(value) else None


_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f"})


@dataclass
class _Row:
    """One data row's values by field key (None when blank), parsed and range-checked."""

    line: int
    values: dict[str, Any]
    zone: tzinfo | None

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def time(self, key: str) -> datetime | None:
        value: datetime | None = self.values.get(key)
        return value


def _parse_row(cols: _Columns, kind: FileKind, cells: Sequence[str], line: int, path: str) -> _Row:
    """Parse every used cell of a row.

    Raises:
        ImportFileError: a cell does not parse (not a time, number, yes/no or offset).
        _Skip: a value parses but is outside what WHOOP can record.
    """
    specs = _BY_KEY[kind]
    values: dict[str, Any] = {}
    zone: tzinfo | None = None
    zone_col = cols.index.get("zone")
    if zone_col is not None:
        text = cells[zone_col[0]].strip()
        if text:
            zone = _zone(text)
            if zone is None:
                raise ImportFileError(
                    f"{text!r} in column {zone_col[1]!r} is not a UTC offset like UTC-05:00.",
                    path=path,
                    line=line,
                    column=zone_col[1],
                )
    for key, (i, header, convert) in cols.index.items():
        spec = specs[key]
        text = cells[i].strip()
        if not text or spec.parse == "zone":
            continue
        if spec.parse == "time":
            when = _local_time(text)
            if when is None:
                raise ImportFileError(
                    f"{text!r} in column {header!r} is not a time like 2026-11-20 07:15:00.",
                    path=path,
                    line=line,
                    column=header,
                )
            if when.tzinfo is None:
                if zone is None:
                    raise _Skip(f"it has a {header} but no Cycle timezone")
                when = when.replace(tzinfo=zone)
            values[key] = when
        elif spec.parse == "number":
            number = _number(text)
            if number is None:
                raise ImportFileError(
                    f"{text!r} in column {header!r} is not a number.", path=path, line=line, column=header
                )
            assert convert is not None  # numeric columns are only used with a known unit
            if (spec.lo is not None and convert(number) < spec.lo) or (
                spec.hi is not None and convert(number) > spec.hi
            ):
                raise _Skip(f"{header} {text} is outside what WHOOP records")
            values[key] = convert(number)
        elif spec.parse == "bool":
            word = text.lower()
            if word not in _TRUE and word not in _FALSE:
                raise ImportFileError(
                    f"{text!r} in column {header!r} is not true or false.",
                    path=path,
                    line=line,
                    column=header,
                )
            values[key] = word in _TRUE
        else:
            values[key] = " ".join(text.split())
    return _Row(line, values, zone)


# ---------------------------------------------------------------------------------------- files


@dataclass(frozen=True)
class _Source:
    path: str  # as shown in messages
    name: str  # the file's own name
    read: Callable[[], bytes]


_BY_FILE_NAME: dict[str, FileKind] = {name: kind for kind, name in FILE_NAMES.items()}
_KNOWN_NAMES = ", ".join(FILE_NAMES.values())


def _kind_from_name(name: str) -> FileKind | None:
    # Only the export's own four names: a folder like ~/Downloads holds other apps' CSVs too
    # (Strava's activities.csv), and guessing from a name or a header would import them as WHOOP's.
    return _BY_FILE_NAME.get(name.lower())


def _is_junk(name: str) -> bool:
    parts = Path(name).parts
    return any(p == "__MACOSX" or p.startswith("._") for p in parts)


def _decode(data: bytes, path: str) -> str:
    if not data.strip():
        raise ImportFileError("the file is empty, so it is not a WHOOP export file.", path=path)
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise ImportFileError("the file holds binary data, not CSV text.", path=path, line=line)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x}), as the WHOOP app writes it.",
            path=path,
            line=line,
        ) from None


def _read_limited(handle: Any, path: str) -> bytes:
    data: bytes = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(
            f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB, far more than a WHOOP export.",
            path=path,
        )
    return data


def _table(text: str, path: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and the data rows (with the line each starts on) of a CSV text.

    Raises:
        ImportFileError: the text is not CSV (bad quoting) or has no header.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):
            header = next(reader)
    except StopIteration:
        raise ImportFileError("the file has no header row.", path=path) from None
    except csv.Error as exc:
        raise ImportFileError(
            f"the file is not valid CSV ({exc}).", path=path, line=reader.line_num
        ) from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFileError(f"the row is not valid CSV ({exc}).", path=path, line=start) from None
            if not any(cell.strip() for cell in row):
                continue
            yield start, row

    return header, rows()


# ---------------------------------------------------------------------------------------- records


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _uuid(user_id: int, kind: str, start_ms: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{user_id}:{kind}:{start_ms}"))


def cycle_id_for(start_ms: int) -> int:
    """The id of an imported cycle: minus its start in epoch seconds (WHOOP's own ids are positive)."""
    return -max(1, start_ms // 1000)


def cycle_day(start_ms: int, timezone_offset: str) -> date:
    """The WHOOP day of a cycle starting at ``start_ms`` in ``timezone_offset`` (as analytics.whoop_day)."""
    local = datetime.fromtimestamp(start_ms / 1000, UTC).astimezone(parse_offset(timezone_offset))
    return (local + _WAKE_SHIFT).date()


def _int(value: float) -> int:
    return round(value)


class _Builder:
    """Turns parsed rows into v2-shaped raw records, keyed by kind and start."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.records: dict[Kind, dict[int, ImportedRecord]] = {k: {} for k in KINDS}
        self.origin: dict[tuple[Kind, int], tuple[str, int]] = {}  # (kind, start) -> (path, line)
        self.journal: dict[tuple[int, str], JournalAnswer] = {}

    def check(self, kind: Kind, start_ms: int, raw: dict[str, Any], where: tuple[str, int]) -> ImportedRecord:
        """``raw`` validated as its model.

        Raises:
            _Skip: the same file already gave a record of this kind and start, or ``raw`` is invalid.
        """
        first = self.origin.get((kind, start_ms))
        if first is not None and first[0] == where[0]:
            raise _Skip(f"it repeats the {_ONE[kind]} start of line {first[1]}")
        try:
            model = MODELS[kind].model_validate(raw)
        except ValidationError as exc:
            problem = exc.errors(include_url=False, include_input=False)[:1]
            detail = (
                (".".join(str(p) for p in problem[0]["loc"]) + f": {problem[0]['msg']}") if problem else ""
            )
            raise _Skip(f"it is not a valid {_ONE[kind]} ({detail})") from None
        return ImportedRecord(start_ms, raw, model)

    def keep(self, kind: Kind, record: ImportedRecord, where: tuple[str, int]) -> None:
        """Keep ``record`` (a later file's copy of the same start replaces an earlier file's)."""
        self.records[kind][record.start_ms] = record
        self.origin[(kind, record.start_ms)] = where

    def cycle(self, row: _Row, where: tuple[str, int]) -> list[tuple[Kind, int, dict[str, Any]]]:
        start = row.time("cycle_start")
        if start is None:
            raise _Skip("it has no Cycle start time")
        end = row.time("cycle_end")
        if end is not None and end <= start:
            raise _Skip("its Cycle end time is not after its Cycle start time")
        start_ms = _ms(start)
        cycle_id = cycle_id_for(start_ms)
        offset = _offset_text(start)
        stamp = _iso(end or start)
        out: list[tuple[Kind, int, dict[str, Any]]] = []
        cycle: dict[str, Any] = {
            "id": cycle_id,
            "user_id": self.user_id,
            "created_at": stamp,
            "updated_at": stamp,
            "start": _iso(start),
            "timezone_offset": offset,
        }
        if end is not None:
            cycle["end"] = _iso(end)
        strain, energy, avg_hr, max_hr = (row.get(k) for k in ("strain", "energy", "avg_hr", "max_hr"))
        if None not in (strain, energy, avg_hr, max_hr):
            cycle["score_state"] = "SCORED"
            cycle["score"] = {
                "strain": strain,
                "kilojoule": round(energy, 3),
                "average_heart_rate": _int(avg_hr),
                "max_heart_rate": _int(max_hr),
            }
        else:
            cycle["score_state"] = "UNSCORABLE"
        out.append(("cycles", start_ms, cycle))

        onset, wake = row.time("sleep_onset"), row.time("wake_onset")
        recovery_values = [row.get(k) for k in ("recovery", "rhr", "hrv", "spo2", "skin")]
        if onset is not None or any(v is not None for v in recovery_values):
            sleep_key = _ms(onset) if onset is not None else start_ms
            sleep_kind = "sleeps" if onset is not None else "sleep-of-cycle"
            rec_stamp = _iso(wake or end or start)
            recovery: dict[str, Any] = {
                "cycle_id": cycle_id,
                "sleep_id": _uuid(self.user_id, sleep_kind, sleep_key),
                "user_id": self.user_id,
                "created_at": rec_stamp,
                "updated_at": rec_stamp,
            }
            score, rhr, hrv, spo2, skin = recovery_values
            if None not in (score, rhr, hrv):
                recovery["score_state"] = "SCORED"
                recovery["score"] = {
                    # The export does not say whether WHOOP was still calibrating.
                    "user_calibrating": False,
                    "recovery_score": score,
                    "resting_heart_rate": rhr,
                    "hrv_rmssd_milli": hrv,
                    **({"spo2_percentage": spo2} if spo2 is not None else {}),
                    **({"skin_temp_celsius": round(skin, 2)} if skin is not None else {}),
                }
            else:
                recovery["score_state"] = "UNSCORABLE"
            out.append(("recoveries", start_ms, recovery))
        if onset is not None and wake is not None:
            out.append(self._sleep(row, onset, wake, cycle_id, nap=False))
        return out

    def sleep(self, row: _Row) -> list[tuple[Kind, int, dict[str, Any]]]:
        cycle_start = row.time("cycle_start")
        if cycle_start is None:
            raise _Skip("it has no Cycle start time")
        onset, wake = row.time("sleep_onset"), row.time("wake_onset")
        if onset is None or wake is None:
            raise _Skip("it has no Sleep onset" if onset is None else "it has no Wake onset")
        return [self._sleep(row, onset, wake, cycle_id_for(_ms(cycle_start)), nap=bool(row.get("nap")))]

    def _sleep(
        self, row: _Row, onset: datetime, wake: datetime, cycle_id: int, *, nap: bool
    ) -> tuple[Kind, int, dict[str, Any]]:
        if wake <= onset:
            raise _Skip("its Wake onset is not after its Sleep onset")
        start_ms = _ms(onset)
        stamp = _iso(wake)
        sleep: dict[str, Any] = {
            "id": _uuid(self.user_id, "sleeps", start_ms),
            "cycle_id": cycle_id,
            "user_id": self.user_id,
            "created_at": stamp,
            "updated_at": stamp,
            "start": _iso(onset),
            "end": _iso(wake),
            "timezone_offset": _offset_text(onset),
            "nap": nap,
        }
        stages = [row.get(k) for k in ("in_bed", "awake", "light", "sws", "rem")]
        if None in stages:
            sleep["score_state"] = "UNSCORABLE"
            return "sleeps", start_ms, sleep
        in_bed, awake, light, sws, rem = (_int(v) for v in stages)
        need, debt = row.get("need"), row.get("debt")
        need_ms, debt_ms = _int(need or 0), _int(debt or 0)
        score: dict[str, Any] = {
            "stage_summary": {
                "total_in_bed_time_milli": in_bed,
                "total_awake_time_milli": awake,
                "total_no_data_time_milli": max(0, in_bed - awake - light - sws - rem),
                "total_light_sleep_time_milli": light,
                "total_slow_wave_sleep_time_milli": sws,
                "total_rem_sleep_time_milli": rem,
                # Not in the export; 0 keeps the record valid.
                "sleep_cycle_count": 0,
                "disturbance_count": 0,
            },
            # The export gives the total need and the debt part of it; the rest is the baseline.
            "sleep_needed": {
                "baseline_milli": max(0, need_ms - debt_ms),
                "need_from_sleep_debt_milli": debt_ms if need is not None else 0,
                "need_from_recent_strain_milli": 0,
                "need_from_recent_nap_milli": 0,
            },
        }
        for key, name in (
            ("respiratory", "respiratory_rate"),
            ("performance", "sleep_performance_percentage"),
            ("consistency", "sleep_consistency_percentage"),
            ("efficiency", "sleep_efficiency_percentage"),
        ):
            if row.get(key) is not None:
                score[name] = row.get(key)
        sleep["score_state"] = "SCORED"
        sleep["score"] = score
        return "sleeps", start_ms, sleep

    def workout(self, row: _Row) -> list[tuple[Kind, int, dict[str, Any]]]:
        start = row.time("start")
        if start is None:
            raise _Skip("it has no Workout start time")
        end = row.time("end")
        duration = row.get("duration")
        if end is None and duration is not None:
            end = start + timedelta(milliseconds=duration)
        if end is None:
            raise _Skip("it has no Workout end time")
        if end <= start:
            raise _Skip("its Workout end time is not after its Workout start time")
        start_ms = _ms(start)
        stamp = _iso(end)
        sport = str(row.get("sport") or "activity")
        workout: dict[str, Any] = {
            "id": _uuid(self.user_id, "workouts", start_ms),
            "user_id": self.user_id,
            "created_at": stamp,
            "updated_at": stamp,
            "start": _iso(start),
            "end": _iso(end),
            "timezone_offset": _offset_text(start),
            # The API names sports in lower case with hyphens ("functional-fitness").
            "sport_name": "-".join(sport.lower().split()),
        }
        strain, energy, avg_hr, max_hr = (row.get(k) for k in ("strain", "energy", "avg_hr", "max_hr"))
        if None in (strain, energy, avg_hr, max_hr):
            workout["score_state"] = "UNSCORABLE"
            return [("workouts", start_ms, workout)]
        span = _ms(end) - start_ms
        shares = [row.get(f"zone{i}") for i in range(1, 6)]
        zone_ms = [0] * 6
        if any(s is not None for s in shares):
            parts = [s or 0.0 for s in shares]
            zone_ms[1:] = [round(span * p / 100) for p in parts]
            zone_ms[0] = max(0, span - sum(zone_ms[1:]))
        names = ("zero", "one", "two", "three", "four", "five")
        score: dict[str, Any] = {
            "strain": strain,
            "average_heart_rate": _int(avg_hr),
            "max_heart_rate": _int(max_hr),
            "kilojoule": round(energy, 3),
            # The export does not say how much of the workout the strap recorded.
            "percent_recorded": 100.0,
            "zone_durations": {f"zone_{n}_milli": ms for n, ms in zip(names, zone_ms, strict=True)},
        }
        for key, name in (
            ("distance", "distance_meter"),
            ("gain", "altitude_gain_meter"),
            ("change", "altitude_change_meter"),
        ):
            if row.get(key) is not None:
                score[name] = round(row.get(key), 3)
        workout["score_state"] = "SCORED"
        workout["score"] = score
        return [("workouts", start_ms, workout)]

    def answer(self, row: _Row, where: tuple[str, int], lines: dict[tuple[int, str], int]) -> JournalAnswer:
        start = row.time("cycle_start")
        if start is None:
            raise _Skip("it has no Cycle start time")
        # Questions are outside text that reaches prompts and tool summaries: one clean, bounded line.
        question = one_line(str(row.get("question") or ""), MAX_QUESTION_CHARS)
        if not question:
            raise _Skip("it has no Question text")
        answered = row.get("answer")
        if answered is None:
            raise _Skip("it has no answer")
        end = row.time("cycle_end")
        key = (_ms(start), question)
        if key in lines:
            raise _Skip(f"it repeats the question and cycle of line {lines[key]}")
        lines[key] = where[1]
        notes = row.get("notes")
        answer = JournalAnswer(
            cycle_start_ms=key[0],
            question=question,
            answered_yes=bool(answered),
            notes=str(notes) if notes else None,
            cycle_end_ms=_ms(end) if end is not None and end > start else None,
            timezone_offset=_offset_text(start),
        )
        self.journal[key] = answer
        return answer


_ONE: dict[Kind, str] = {
    "cycles": "cycle",
    "recoveries": "recovery",
    "sleeps": "sleep",
    "workouts": "workout",
}


def _question_change(given: str) -> str:
    cleaned = one_line(given, None)
    reasons = []
    if cleaned != given:
        reasons.append("invisible or control characters were removed")
    if len(cleaned) > MAX_QUESTION_CHARS:
        reasons.append(f"it was cut to {MAX_QUESTION_CHARS} characters")
    return " and ".join(reasons)


# Cycles first: a sleeps.csv row then replaces the main sleep a cycle row also describes.
_ORDER: dict[FileKind, int] = {"physiological_cycles": 0, "sleeps": 1, "workouts": 2, "journal_entries": 3}


def _read_file(builder: _Builder, source: _Source, kind: FileKind, text: str) -> FileSummary:
    header, rows = _table(text, source.path)
    cols = _resolve(kind, header, source.path)
    summary = FileSummary(source.path, kind, columns_used=cols.used, columns_ignored=cols.ignored)
    counts: dict[str, int] = {}
    journal_lines: dict[tuple[int, str], int] = {}
    questions: set[str] = set()
    changed: set[str] = set()  # each changed question is reported once, at its first line
    width = len(header)
    for line, cells in rows:
        summary.rows += 1
        if len(cells) < width or any(c.strip() for c in cells[width:]):
            raise ImportFileError(
                f"the row has {len(cells)} fields where the header has {width}.", path=source.path, line=line
            )
        where = (source.path, line)
        try:
            row = _parse_row(cols, kind, cells, line, source.path)
            if kind == "journal_entries":
                answer = builder.answer(row, where, journal_lines)
                questions.add(answer.question)
                given = str(row.get("question"))
                if answer.question != given and given not in changed:
                    changed.add(given)
                    summary.questions_changed.append(
                        ChangedQuestion(line, answer.question, _question_change(given))
                    )
                counts["journal"] = counts.get("journal", 0) + 1
                continue
            if kind == "physiological_cycles":
                made = builder.cycle(row, where)
            elif kind == "sleeps":
                made = builder.sleep(row)
            else:
                made = builder.workout(row)
            # A row is imported whole or skipped whole: check every record it makes before keeping any.
            checked = [(k, builder.check(k, start_ms, raw, where)) for k, start_ms, raw in made]
            for record_kind, record in checked:
                builder.keep(record_kind, record, where)
                counts[record_kind] = counts.get(record_kind, 0) + 1
        except _Skip as skip:
            summary.skipped.append(SkippedRow(line, f"{skip}."))
    summary.records = counts
    summary.questions = sorted(questions)
    return summary


Found = list[tuple[_Source, FileKind]]


def _sources_of(path: Path) -> tuple[Found, list[str], Callable[[], None]]:
    """The files to read under ``path`` (a zip, a directory or one CSV), the ignored ones, and a closer.

    Raises:
        ImportFileError: ``path`` is missing, unreadable, not a zip though named one, holds no export
            file, or is a CSV file not named as one of the export's.
    """
    shown = str(path)
    if not path.exists():
        raise ImportFileError("there is no such file or directory.", path=shown)
    if path.is_dir():
        return (*_directory_sources(path), lambda: None)
    if zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ImportFileError(f"the file is not a readable zip archive ({exc}).", path=shown) from None
        try:
            return (*_zip_sources(archive, shown), archive.close)
        except ImportFileError:
            archive.close()
            raise
    kind = _kind_from_name(path.name)
    if kind is None:
        raise ImportFileError(
            f"the file is not one of the WHOOP export's files, which are named {_KNOWN_NAMES}.", path=shown
        )
    return [(_file_source(path), kind)], [], lambda: None


def _entries(folder: Path) -> list[Path]:
    """The visible entries of ``folder``, sorted (hidden files and macOS resource forks left out).

    Raises:
        OSError: the folder cannot be listed.
    """
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and not _is_junk(p.name))


def _directory_sources(path: Path) -> tuple[Found, list[str]]:
    """The export files directly in ``path`` or one folder down (an unzipped export), and the others.

    Never a walk of the whole tree: ``whoopkit import ~/Downloads`` must not read every folder in it.
    Only the files of folders actually looked at are listed as ignored.

    Raises:
        ImportFileError: the directory cannot be listed or holds none of the export's files.
    """
    try:
        top = _entries(path)
    except OSError as exc:
        raise ImportFileError(
            f"the directory cannot be read ({exc.strerror or exc}).", path=str(path)
        ) from None
    found: Found = []
    ignored: list[str] = []
    for entry in top:
        if entry.is_dir():
            try:
                inner = [p for p in _entries(entry) if p.is_file()]
            except OSError:
                continue  # a folder we may not read is not an export
            kinds = [_kind_from_name(p.name) for p in inner]
            if any(kinds):
                for child, kind in zip(inner, kinds, strict=True):
                    if kind is None:
                        ignored.append(str(child))
                    else:
                        found.append((_file_source(child), kind))
        elif entry.is_file():
            kind = _kind_from_name(entry.name)
            if kind is None:
                ignored.append(str(entry))
            else:
                found.append((_file_source(entry), kind))
    if not found:
        raise ImportFileError(
            f"the directory holds none of the WHOOP export's files ({_KNOWN_NAMES}), directly or in a "
            "folder inside it.",
            path=str(path),
        )
    return found, ignored


def _file_source(path: Path) -> _Source:
    def read() -> bytes:
        try:
            with path.open("rb") as handle:
                return _read_limited(handle, str(path))
        except OSError as exc:
            raise ImportFileError(
                f"the file cannot be read ({exc.strerror or exc}).", path=str(path)
            ) from None

    return _Source(str(path), path.name, read)


def _zip_sources(archive: zipfile.ZipFile, shown: str) -> tuple[Found, list[str]]:
    members = archive.infolist()
    if len(members) > MAX_ZIP_MEMBERS:
        raise ImportFileError(
            f"the zip holds {len(members)} files, far more than a WHOOP export.", path=shown
        )
    found: Found = []
    ignored: list[str] = []
    total = 0
    for info in members:
        if info.is_dir() or _is_junk(info.filename):
            continue
        name = Path(info.filename).name
        kind = _kind_from_name(name)
        if kind is None:
            ignored.append(f"{shown}/{info.filename}")
            continue
        where = f"{shown}/{info.filename}"
        total += info.file_size
        if info.file_size > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
            raise ImportFileError(
                f"the file unpacks to more than {MAX_FILE_BYTES // (1024 * 1024)} MB, far more than a WHOOP "
                "export (a zip bomb?).",
                path=where,
            )
        found.append((_Source(where, name, _zip_reader(archive, info, where)), kind))
    if not found:
        raise ImportFileError(f"the zip holds none of the WHOOP export's files ({_KNOWN_NAMES}).", path=shown)
    return found, ignored


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with archive.open(info) as handle:
                # The header's size may lie: read at most the cap, whatever it says.
                return _read_limited(handle, where)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            raise ImportFileError(f"the file cannot be unpacked ({exc}).", path=where) from None

    return read


def _read_sources(sources: Sequence[tuple[_Source, FileKind]], user_id: int, source: str) -> ImportBatch:
    builder = _Builder(user_id)
    texts = [(s, kind, _decode(s.read(), s.path)) for s, kind in sources]

    def order(item: tuple[_Source, FileKind, str]) -> int:
        return _ORDER[item[1]]

    batch = ImportBatch(source=source, user_id=user_id)
    for s, kind, text in sorted(texts, key=order):
        batch.files.append(_read_file(builder, s, kind, text))
    batch.records = {
        kind: sorted(builder.records[kind].values(), key=lambda r: r.start_ms, reverse=True) for kind in KINDS
    }
    batch.journal = sorted(builder.journal.values(), key=lambda a: (a.cycle_start_ms, a.question))
    return batch


def check_paths(paths: Sequence[Path]) -> None:
    """Refuse at once an import of nothing or of a path that does not exist.

    Raises:
        ImportFileError: no path was given, or one does not exist.
    """
    if not paths:
        raise ImportFileError("No file was given to import.", path="")
    for path in paths:
        if not Path(path).exists():
            raise ImportFileError("there is no such file or directory.", path=str(path))


def read_export(paths: Sequence[Path], user_id: int) -> ImportBatch:
    """Read the WHOOP app's export from ``paths`` (zips, directories or CSV files) for ``user_id``.

    Raises:
        ImportFileError: a file is missing, unreadable or malformed (the message names file and line).
    """
    if not paths:
        raise ImportFileError("No file was given to import.", path="")
    sources: Found = []
    ignored: list[str] = []
    closers: list[Callable[[], None]] = []
    try:
        for path in paths:
            found, skipped, close = _sources_of(Path(path))
            sources.extend(found)
            ignored.extend(skipped)
            closers.append(close)
        if len(sources) > MAX_ZIP_MEMBERS:
            raise ImportFileError("too many files to import at once.", path=sources[-1][0].path)
        batch = _read_sources(sources, user_id, _source_name(paths))
    finally:
        for close in closers:
            close()
    batch.ignored_files = ignored
    return batch


def read_zip_bytes(data: bytes, name: str, user_id: int) -> ImportBatch:
    """Read an export zip held in memory (the demo's generated export) for ``user_id``.

    Raises:
        ImportFileError: the bytes are not a zip of the export, or a file in it is malformed.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ImportFileError(f"the data is not a zip archive ({exc}).", path=name) from None
    with archive:
        sources, ignored = _zip_sources(archive, name)
        batch = _read_sources(sources, user_id, name)
    batch.ignored_files = ignored
    return batch


def _source_name(paths: Sequence[Path]) -> str:
    text = ", ".join(Path(p).name or str(p) for p in paths)
    return text if len(text) <= 200 else text[:199] + "…"


# ---------------------------------------------------------------------------------------- matching


def match_starts(
    imported: Sequence[int], api: Sequence[int], window: timedelta = MATCH_WINDOW
) -> list[int | None]:
    """For each imported start (epoch ms), the index in ``api`` of the nearest start within ``window``."""
    order = sorted(range(len(api)), key=lambda i: api[i])
    starts = [api[i] for i in order]
    limit = window.total_seconds() * 1000
    out: list[int | None] = []
    for value in imported:
        at = bisect_left(starts, value)
        best: int | None = None
        for j in (at - 1, at):
            near = 0 <= j < len(starts) and abs(starts[j] - value) <= limit
            if near and (best is None or abs(starts[j] - value) < abs(starts[best] - value)):
                best = j
        out.append(None if best is None else order[best])
    return out


Span = tuple[int, int]


def match_spans(
    imported: Sequence[Span],
    api: Sequence[Span],
    window: timedelta = MATCH_WINDOW,
    *,
    same: Callable[[int, int], bool] | None = None,
) -> list[int | None]:
    """For each imported ``[start, end)`` span (epoch ms), the index in ``api`` of the same record.

    The nearest start within ``window`` first (:func:`match_starts`); failing that, the API span not
    matched yet that overlaps it the most, by more than half of the shorter of the two. Records of a
    kind barely overlap unless they are one, so an edit of the bedtime still matches the night while the
    cycle before it, which it now overlaps by the edit's minutes, does not. ``same(i, j)`` may further
    require imported ``i`` and API ``j`` to agree (a nap is never the night's sleep).
    """
    first = match_starts([lo for lo, _ in imported], [lo for lo, _ in api], window)
    if same is not None:
        first = [j if j is None or same(i, j) else None for i, j in enumerate(first)]
    taken = {j for j in first if j is not None}
    order = sorted(range(len(api)), key=lambda i: api[i][0])
    starts = [api[i][0] for i in order]
    longest = max((hi - lo for lo, hi in api), default=0)
    out = list(first)
    for i, j in enumerate(first):
        if j is not None:
            continue
        lo, hi = imported[i]
        best, most = None, 0
        at = bisect_left(starts, lo - longest)
        while at < len(starts) and starts[at] < hi:
            k = order[at]
            at += 1
            if k in taken or (same is not None and not same(i, k)):
                continue
            their_lo, their_hi = api[k]
            overlap = min(hi, their_hi) - max(lo, their_lo)
            if overlap * 2 > min(hi - lo, their_hi - their_lo) and overlap > most:
                best, most = k, overlap
        if best is not None:
            taken.add(best)
            out[i] = best
    return out


RecordSet = Mapping[Kind, Sequence[Any]]


def _start_ms(record: Any) -> int:
    return _ms(record.start)


def open_span(start_ms: int, end_ms: int | None) -> Span:
    """A ``[start, end)`` span for matching; an open one (the current cycle) is taken as a day long."""
    return start_ms, max(start_ms + 1, end_ms) if end_ms is not None else start_ms + _DAY_MS


def _span(record: Any) -> Span:
    return open_span(_ms(record.start), _ms(record.end) if record.end is not None else None)


def _recovery_starts(
    recoveries: Sequence[Recovery], cycles: Sequence[Cycle], sleeps: Sequence[Sleep]
) -> list[int | None]:
    cycle_start = {c.id: _start_ms(c) for c in cycles}
    sleep_start = {s.id: _start_ms(s) for s in sleeps}
    return [cycle_start.get(r.cycle_id, sleep_start.get(r.sleep_id)) for r in recoveries]


@dataclass
class Pairing:
    """Which imported record each API record stands for: per kind, imported position -> API record."""

    pairs: dict[Kind, dict[int, Any]]
    cycle_ids: dict[int, int]  # imported cycle id -> API cycle id
    sleep_ids: dict[Any, Any]  # imported sleep id -> API sleep id

    def matched(self, kind: Kind) -> int:
        """How many imported records of ``kind`` the API also has."""
        return len(self.pairs.get(kind, {}))


def _same_nap(ours: Sequence[Any], theirs: Sequence[Any]) -> Callable[[int, int], bool]:
    return lambda i, j: bool(ours[i].nap) == bool(theirs[j].nap)


def pair_records(api: RecordSet, imported: RecordSet) -> Pairing:
    """Pair each imported record with the API record of the same kind it is (:func:`match_spans`).

    Sleeps pair only with sleeps of the same nap flag. A recovery follows its cycle's pairing (or,
    failing that, pairs by start: its cycle's, or else its sleep's).
    """
    pairs: dict[Kind, dict[int, Any]] = {}
    api_cycles, api_sleeps = list(api.get("cycles", ())), list(api.get("sleeps", ()))
    imp_cycles, imp_sleeps = list(imported.get("cycles", ())), list(imported.get("sleeps", ()))
    for kind in ("cycles", "sleeps", "workouts"):
        theirs, ours = list(api.get(kind, ())), list(imported.get(kind, ()))
        same = _same_nap(ours, theirs) if kind == "sleeps" else None
        found = match_spans([_span(r) for r in ours], [_span(r) for r in theirs], same=same)
        pairs[kind] = {i: theirs[j] for i, j in enumerate(found) if j is not None}
    cycle_ids = {imp_cycles[i].id: c.id for i, c in pairs["cycles"].items()}
    sleep_ids = {imp_sleeps[i].id: s.id for i, s in pairs["sleeps"].items()}
    api_recs, imp_recs = list(api.get("recoveries", ())), list(imported.get("recoveries", ()))
    api_rec_starts = _recovery_starts(api_recs, api_cycles, api_sleeps)
    known = [(s, r) for s, r in zip(api_rec_starts, api_recs, strict=True) if s is not None]
    by_cycle = {r.cycle_id: r for r in api_recs}
    imp_rec_starts = _recovery_starts(imp_recs, imp_cycles, imp_sleeps)
    found = match_starts([s if s is not None else -1 for s in imp_rec_starts], [s for s, _ in known])
    pairs["recoveries"] = {}
    for i, rec in enumerate(imp_recs):
        twin = by_cycle.get(cycle_ids.get(rec.cycle_id, rec.cycle_id))
        j = found[i]
        if twin is None and j is not None and imp_rec_starts[i] is not None:
            twin = known[j][1]
        if twin is not None:
            pairs["recoveries"][i] = twin
    return Pairing(pairs, cycle_ids, sleep_ids)


def merge_records(api: RecordSet, imported: RecordSet) -> dict[Kind, list[Any]]:
    """The API's records plus the imported ones it lacks (the API's copy wins), as one set per kind.

    Kept imported records that point at an imported cycle or sleep the API also has are re-pointed at
    the API's, so a day joins them to its API cycle.
    """
    pairing = pair_records(api, imported)
    out: dict[Kind, list[Any]] = {}
    for kind in KINDS:
        merged = list(api.get(kind, ()))
        paired = pairing.pairs.get(kind, {})
        for i, record in enumerate(imported.get(kind, ())):
            if i in paired:
                continue
            update: dict[str, Any] = {}
            if kind in ("recoveries", "sleeps") and record.cycle_id in pairing.cycle_ids:
                update["cycle_id"] = pairing.cycle_ids[record.cycle_id]
            if kind == "recoveries" and record.sleep_id in pairing.sleep_ids:
                update["sleep_id"] = pairing.sleep_ids[record.sleep_id]
            merged.append(record.model_copy(update=update) if update else record)
        out[kind] = merged
    return out
