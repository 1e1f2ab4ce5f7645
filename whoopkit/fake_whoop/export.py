"""The WHOOP app's data export of a fake dataset: the four CSV files, as a zip or into a directory.

The WHOOP app (Menu -> Export WHOOP Data) mails its member a zip of ``physiological_cycles.csv``,
``sleeps.csv``, ``workouts.csv`` and ``journal_entries.csv``. The API has no journal, so this export
is the only way the journal reaches whoopkit; the fake writes it so the importer can be tested on
files shaped exactly like the real ones.

How WHOOP writes them (and so how this module writes them):

- one header row, then rows newest first; UTF-8, ``\\n`` line ends, RFC 4180 quoting when needed;
- times are the local wall clock of the cycle, ``YYYY-MM-DD HH:MM:SS`` (no milliseconds), with the
  offset in a ``Cycle timezone`` column written ``UTC-05:00``;
- an empty cell for every value WHOOP has not scored (pending or unscorable records, no SpO2, no
  sleep performance in the first nights), and the current open cycle has an empty ``Cycle end time``
  and, in ``physiological_cycles.csv``, empty day strain, energy and heart-rate cells;
- booleans (``Nap``, ``GPS enabled``, ``Answered yes``) as lowercase ``true`` / ``false``;
- integers for scores, percentages, heart rates and minutes; one decimal for strain and respiratory
  rate; two for skin temperature, blood oxygen, distance and altitude; energy in kilocalories
  (an integer in cycles, ``272.0`` in workouts); a workout's ``Duration (min)`` is truncated.

Sources (public material found with the project's search tool; no code was copied):

- support.whoop.com, "How to Export Your Data" (the files and what a cycle's times mean);
- onatsf/whoop: ``physiological_cycles.csv``, ``sleeps.csv``, ``workouts.csv``,
  ``journal_entries.csv`` (a real export from 2026: headers, number formats, empty cells, naps,
  the open cycle; its workouts.csv lacks the three distance/altitude columns);
- TheOneRichy/whoop_data: ``workouts.csv`` and ``journal_entries.csv`` (a real export from 2024:
  the 20-column workouts header with GPS, distance and altitude; journal question wordings);
- NoopApp/noop: ``Packages/StrandImport/Sources/StrandImport/WhoopCsvExporter.swift`` and its
  tests (a parser/exporter pair; confirms the literal ``true``/``false`` answers and the quoting).
"""

from __future__ import annotations

import bisect
import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from whoopkit.fake_whoop.data import FakeDataset, Record, epoch_ms

CYCLES_FILE = "physiological_cycles.csv"
SLEEPS_FILE = "sleeps.csv"
WORKOUTS_FILE = "workouts.csv"
JOURNAL_FILE = "journal_entries.csv"
EXPORT_FILES = (CYCLES_FILE, SLEEPS_FILE, WORKOUTS_FILE, JOURNAL_FILE)

_CYCLE_COLUMNS = ("Cycle start time", "Cycle end time", "Cycle timezone")
_SLEEP_METRICS = (
    "Sleep performance %",
    "Respiratory rate (rpm)",
    "Asleep duration (min)",
    "In bed duration (min)",
    "Light sleep duration (min)",
    "Deep (SWS) duration (min)",
    "REM duration (min)",
    "Awake duration (min)",
    "Sleep need (min)",
    "Sleep debt (min)",
    "Sleep efficiency %",
    "Sleep consistency %",
)
CYCLES_HEADER = (
    *_CYCLE_COLUMNS,
    "Recovery score %",
    "Resting heart rate (bpm)",
    "Heart rate variability (ms)",
    "Skin temp (celsius)",
    "Blood oxygen %",
    "Day Strain",
    "Energy burned (cal)",
    "Max HR (bpm)",
    "Average HR (bpm)",
    "Sleep onset",
    "Wake onset",
    *_SLEEP_METRICS,
)
SLEEPS_HEADER = (*_CYCLE_COLUMNS, "Sleep onset", "Wake onset", *_SLEEP_METRICS, "Nap")
WORKOUTS_HEADER = (
    *_CYCLE_COLUMNS,
    "Workout start time",
    "Workout end time",
    "Duration (min)",
    "Activity name",
    "Activity Strain",
    "Energy burned (cal)",
    "Max HR (bpm)",
    "Average HR (bpm)",
    "HR Zone 1 %",
    "HR Zone 2 %",
    "HR Zone 3 %",
    "HR Zone 4 %",
    "HR Zone 5 %",
    "GPS enabled",
    "Distance (meters)",
    "Altitude gain (meters)",
    "Altitude change (meters)",
)
JOURNAL_HEADER = (*_CYCLE_COLUMNS, "Question text", "Answered yes", "Notes")

# The app shows sports by name, not by the API's slug.
ACTIVITY_NAMES = {
    "running": "Running",
    "cycling": "Cycling",
    "weightlifting": "Weightlifting",
    "functional-fitness": "Functional Fitness",
    "yoga": "Yoga",
    "walking": "Walking",
}
_KJ_PER_KCAL = 4.184
_ZONES = ("zone_one_milli", "zone_two_milli", "zone_three_milli", "zone_four_milli", "zone_five_milli")


def _offset(record: Record) -> timedelta:
    value = str(record["timezone_offset"])
    if value in ("Z", "z"):
        return timedelta(0)
    sign = -1 if value.startswith("-") else 1
    hours, _, minutes = value.lstrip("+-").partition(":")
    return sign * timedelta(hours=int(hours), minutes=int(minutes or 0))


def timezone_label(offset: timedelta) -> str:
    """WHOOP's ``Cycle timezone`` cell for an offset, e.g. ``UTC-05:00``."""
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def local_time(iso_utc: str, offset: timedelta) -> str:
    """An API timestamp as the export's local wall-clock cell (seconds, milliseconds dropped)."""
    moment = datetime.fromisoformat(iso_utc).astimezone(timezone(offset))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _int(value: float | None) -> str:
    return "" if value is None else str(round(value))


def _dec(value: float | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"


def _minutes(milli: float | None) -> str:
    return "" if milli is None else str(round(milli / 60_000))


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _scored(record: Record | None) -> dict[str, Any] | None:
    if record is None or record.get("score_state") != "SCORED":
        return None
    score = record.get("score")
    return score if isinstance(score, dict) else None


def _cycle_cells(cycle: Record) -> list[str]:
    offset = _offset(cycle)
    end = cycle.get("end")
    return [
        local_time(cycle["start"], offset),
        "" if end is None else local_time(end, offset),
        timezone_label(offset),
    ]


def _sleep_cells(sleep: Record | None, offset: timedelta) -> list[str]:
    """Sleep onset and wake onset, then the twelve sleep metrics (empty when not scored)."""
    if sleep is None:
        return [""] * (2 + len(_SLEEP_METRICS))
    times = [local_time(sleep["start"], offset), local_time(sleep["end"], offset)]
    score = _scored(sleep)
    if score is None:
        return times + [""] * len(_SLEEP_METRICS)
    stages = score["stage_summary"]
    needed = score["sleep_needed"]
    asleep = (
        stages["total_light_sleep_time_milli"]
        + stages["total_slow_wave_sleep_time_milli"]
        + stages["total_rem_sleep_time_milli"]
    )
    need = (
        needed["baseline_milli"]
        + needed["need_from_sleep_debt_milli"]
        + needed["need_from_recent_strain_milli"]
        + needed["need_from_recent_nap_milli"]
    )
    return [
        *times,
        _int(score.get("sleep_performance_percentage")),
        _dec(score.get("respiratory_rate"), 1),
        _minutes(asleep),
        _minutes(stages["total_in_bed_time_milli"]),
        _minutes(stages["total_light_sleep_time_milli"]),
        _minutes(stages["total_slow_wave_sleep_time_milli"]),
        _minutes(stages["total_rem_sleep_time_milli"]),
        _minutes(stages["total_awake_time_milli"]),
        _minutes(need),
        _minutes(needed["need_from_sleep_debt_milli"]),
        _int(score.get("sleep_efficiency_percentage")),
        _int(score.get("sleep_consistency_percentage")),
    ]


def _cycle_rows(dataset: FakeDataset) -> Iterable[list[str]]:
    for cycle in dataset.cycles:
        offset = _offset(cycle)
        recovery = _scored(dataset.recovery_for_cycle(cycle["id"]))
        # WHOOP leaves the day's strain out until the cycle has ended.
        strain = _scored(cycle) if "end" in cycle else None
        yield [
            *_cycle_cells(cycle),
            _int(recovery["recovery_score"]) if recovery else "",
            _int(recovery["resting_heart_rate"]) if recovery else "",
            _int(recovery["hrv_rmssd_milli"]) if recovery else "",
            _dec(recovery.get("skin_temp_celsius"), 2) if recovery else "",
            _dec(recovery.get("spo2_percentage"), 2) if recovery else "",
            _dec(strain["strain"], 1) if strain else "",
            _int(strain["kilojoule"] / _KJ_PER_KCAL) if strain else "",
            _int(strain["max_heart_rate"]) if strain else "",
            _int(strain["average_heart_rate"]) if strain else "",
            *_sleep_cells(dataset.sleep_for_cycle(cycle["id"]), offset),
        ]


def _sleep_rows(dataset: FakeDataset) -> Iterable[list[str]]:
    for sleep in dataset.sleeps:
        cycle = dataset.cycle(sleep["cycle_id"])
        if cycle is None:
            continue  # the app has no sleep outside a cycle
        cells = _sleep_cells(sleep, _offset(cycle))
        yield [*_cycle_cells(cycle), *cells, _bool(bool(sleep.get("nap")))]


class _CycleFinder:
    """The cycle a moment falls in (cycles do not overlap; the open one has no end)."""

    def __init__(self, cycles: Sequence[Record]) -> None:
        self._cycles = sorted(cycles, key=lambda c: epoch_ms(datetime.fromisoformat(c["start"])))
        self._starts = [epoch_ms(datetime.fromisoformat(c["start"])) for c in self._cycles]

    def find(self, moment_ms: int) -> Record | None:
        pos = bisect.bisect_right(self._starts, moment_ms) - 1
        if pos < 0:
            return None
        cycle = self._cycles[pos]
        end = cycle.get("end")
        if end is not None and moment_ms >= epoch_ms(datetime.fromisoformat(end)):
            return None
        return cycle


def _workout_rows(dataset: FakeDataset) -> Iterable[list[str]]:
    finder = _CycleFinder(dataset.cycles)
    for workout in dataset.workouts:
        start_ms = epoch_ms(datetime.fromisoformat(workout["start"]))
        end_ms = epoch_ms(datetime.fromisoformat(workout["end"]))
        cycle = finder.find(start_ms)
        if cycle is None:
            continue  # the app files every workout under a cycle
        offset = _offset(cycle)
        sport = str(workout["sport_name"])
        name = ACTIVITY_NAMES.get(sport, sport.replace("-", " ").title())
        head = [
            *_cycle_cells(cycle),
            local_time(workout["start"], offset),
            local_time(workout["end"], offset),
            str((end_ms - start_ms) // 60_000),
            name,
        ]
        score = _scored(workout)
        if score is None:
            yield [*head, "", "", "", "", "", "", "", "", "", _bool(False), "", "", ""]
            continue
        zones = score["zone_durations"]
        duration = max(1, end_ms - start_ms)
        distance = score.get("distance_meter")
        yield [
            *head,
            _dec(score["strain"], 1),
            _dec(float(round(score["kilojoule"] / _KJ_PER_KCAL)), 1),
            _int(score["max_heart_rate"]),
            _int(score["average_heart_rate"]),
            *(_int(zones[zone] / duration * 100) for zone in _ZONES),
            _bool(distance is not None),
            _dec(distance, 2),
            _dec(score.get("altitude_gain_meter"), 2),
            _dec(score.get("altitude_change_meter"), 2),
        ]


def _journal_rows(dataset: FakeDataset) -> Iterable[list[str]]:
    for cycle in dataset.cycles:
        answers = dataset.journal.get(cycle["id"], {})
        for question, yes in answers.items():
            yield [*_cycle_cells(cycle), question, _bool(yes), ""]


def _csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def export_files(dataset: FakeDataset) -> dict[str, bytes]:
    """The four CSV files of the member's export, by file name (bytes, UTF-8)."""
    return {
        CYCLES_FILE: _csv(CYCLES_HEADER, _cycle_rows(dataset)),
        SLEEPS_FILE: _csv(SLEEPS_HEADER, _sleep_rows(dataset)),
        WORKOUTS_FILE: _csv(WORKOUTS_HEADER, _workout_rows(dataset)),
        JOURNAL_FILE: _csv(JOURNAL_HEADER, _journal_rows(dataset)),
    }


def export_zip(dataset: FakeDataset) -> bytes:
    """The export as WHOOP mails it: one zip holding the four CSV files (same dataset, same bytes)."""
    # A fixed member time (the dataset's own "now") keeps the archive byte-for-byte reproducible.
    stamp = dataset.now.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in export_files(dataset).items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def write_export(dataset: FakeDataset, path: Path) -> None:
    """Write the export: a path ending in ``.zip`` gets the zip, any other path is a directory.

    Raises:
        OSError: the path cannot be written (e.g. a directory was asked for where a file exists).
    """
    if path.suffix.lower() == ".zip":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(export_zip(dataset))
        return
    path.mkdir(parents=True, exist_ok=True)
    for name, data in export_files(dataset).items():
        (path / name).write_bytes(data)
