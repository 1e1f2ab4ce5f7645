"""The fake's WHOOP app export: the four CSV files exactly as the WHOOP app writes them."""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from tests.fake_whoop.conftest import NOW, Clock
from whoopkit.fake_whoop import FakeDataset, create_fake_whoop, generate_dataset
from whoopkit.fake_whoop.data import JOURNAL_QUESTIONS, PlantedEffects
from whoopkit.fake_whoop.export import export_files, export_zip, write_export

PROJECT = Path(__file__).resolve().parents[2]

# Written out here (not imported from the module) so the test pins WHOOP's exact column names.
CYCLES = (
    "Cycle start time,Cycle end time,Cycle timezone,Recovery score %,Resting heart rate (bpm),"
    "Heart rate variability (ms),Skin temp (celsius),Blood oxygen %,Day Strain,Energy burned (cal),"
    "Max HR (bpm),Average HR (bpm),Sleep onset,Wake onset,Sleep performance %,Respiratory rate (rpm),"
    "Asleep duration (min),In bed duration (min),Light sleep duration (min),Deep (SWS) duration (min),"
    "REM duration (min),Awake duration (min),Sleep need (min),Sleep debt (min),Sleep efficiency %,"
    "Sleep consistency %"
)
SLEEPS = (
    "Cycle start time,Cycle end time,Cycle timezone,Sleep onset,Wake onset,Sleep performance %,"
    "Respiratory rate (rpm),Asleep duration (min),In bed duration (min),Light sleep duration (min),"
    "Deep (SWS) duration (min),REM duration (min),Awake duration (min),Sleep need (min),Sleep debt (min),"
    "Sleep efficiency %,Sleep consistency %,Nap"
)
WORKOUTS = (
    "Cycle start time,Cycle end time,Cycle timezone,Workout start time,Workout end time,Duration (min),"
    "Activity name,Activity Strain,Energy burned (cal),Max HR (bpm),Average HR (bpm),HR Zone 1 %,"
    "HR Zone 2 %,HR Zone 3 %,HR Zone 4 %,HR Zone 5 %,GPS enabled,Distance (meters),"
    "Altitude gain (meters),Altitude change (meters)"
)
JOURNAL = "Cycle start time,Cycle end time,Cycle timezone,Question text,Answered yes,Notes"


@pytest.fixture(scope="module")
def data() -> FakeDataset:
    return generate_dataset(seed=7, days=180, now=NOW)


@pytest.fixture(scope="module")
def files(data: FakeDataset) -> dict[str, list[dict[str, str]]]:
    return {name: _rows(raw) for name, raw in export_files(data).items()}


def _rows(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))


def _utc(local: str, zone: str) -> datetime:
    """A local cell plus its ``Cycle timezone`` cell (``UTC-05:00``) back to UTC."""
    assert zone.startswith("UTC") and len(zone) == 9, zone
    sign = -1 if zone[3] == "-" else 1
    offset = sign * timedelta(hours=int(zone[4:6]), minutes=int(zone[7:9]))
    moment = datetime.strptime(local, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone(offset))
    return moment.astimezone(UTC)


def _close(local: str, zone: str, iso: str) -> bool:
    return abs(_utc(local, zone) - datetime.fromisoformat(iso)) < timedelta(seconds=1)


def test_the_four_files_carry_whoops_headers_in_whoops_order(data: FakeDataset) -> None:
    raw = export_files(data)
    assert list(raw) == ["physiological_cycles.csv", "sleeps.csv", "workouts.csv", "journal_entries.csv"]
    first_lines = {name: body.decode("utf-8").split("\n", 1)[0] for name, body in raw.items()}
    assert first_lines == {
        "physiological_cycles.csv": CYCLES,
        "sleeps.csv": SLEEPS,
        "workouts.csv": WORKOUTS,
        "journal_entries.csv": JOURNAL,
    }
    for body in raw.values():
        text = body.decode("utf-8")
        assert not text.startswith("\ufeff") and "\r" not in text and text.endswith("\n")


def test_there_is_a_row_for_every_cycle_sleep_workout_and_journal_answer(
    data: FakeDataset, files: dict[str, list[dict[str, str]]]
) -> None:
    assert len(files["physiological_cycles.csv"]) == len(data.cycles)
    assert len(files["sleeps.csv"]) == len(data.sleeps)
    assert len(files["workouts.csv"]) == len(data.workouts)
    assert len(files["journal_entries.csv"]) == len(data.cycles) * len(JOURNAL_QUESTIONS)
    naps = [row for row in files["sleeps.csv"] if row["Nap"] == "true"]
    assert len(naps) == sum(1 for sleep in data.sleeps if sleep["nap"]) > 0


def test_local_times_and_the_timezone_column_give_back_the_records_start_and_end(
    data: FakeDataset, files: dict[str, list[dict[str, str]]]
) -> None:
    zones = set()
    for row, cycle in zip(files["physiological_cycles.csv"], data.cycles, strict=True):
        zone = row["Cycle timezone"]
        zones.add(zone)
        assert _close(row["Cycle start time"], zone, cycle["start"])
        if "end" in cycle:
            assert _close(row["Cycle end time"], zone, cycle["end"])
        else:
            assert row["Cycle end time"] == ""
        main = data.sleep_for_cycle(cycle["id"])
        assert main is not None
        assert _close(row["Sleep onset"], zone, main["start"]) and _close(
            row["Wake onset"], zone, main["end"]
        )
    assert zones == {"UTC-05:00", "UTC+01:00"}  # home and the trip abroad
    for row, sleep in zip(files["sleeps.csv"], data.sleeps, strict=True):
        owner = data.cycle(sleep["cycle_id"])
        assert owner is not None
        assert _close(row["Cycle start time"], row["Cycle timezone"], owner["start"])
        assert _close(row["Sleep onset"], row["Cycle timezone"], sleep["start"])
        assert _close(row["Wake onset"], row["Cycle timezone"], sleep["end"])
    for row, workout in zip(files["workouts.csv"], data.workouts, strict=True):
        start = _utc(row["Workout start time"], row["Cycle timezone"])
        assert _close(row["Workout start time"], row["Cycle timezone"], workout["start"])
        assert _close(row["Workout end time"], row["Cycle timezone"], workout["end"])
        assert _utc(row["Cycle start time"], row["Cycle timezone"]) <= start
        if row["Cycle end time"]:
            assert start < _utc(row["Cycle end time"], row["Cycle timezone"])


def test_the_values_are_the_records_in_whoops_units_and_precision(
    data: FakeDataset, files: dict[str, list[dict[str, str]]]
) -> None:
    for row, cycle in zip(files["physiological_cycles.csv"], data.cycles, strict=True):
        recovery = data.recovery_for_cycle(cycle["id"])
        assert recovery is not None
        if recovery["score_state"] == "SCORED":
            score = recovery["score"]
            assert row["Recovery score %"] == str(round(score["recovery_score"]))
            assert row["Heart rate variability (ms)"] == str(round(score["hrv_rmssd_milli"]))
            assert row["Resting heart rate (bpm)"] == str(round(score["resting_heart_rate"]))
            spo2 = score.get("spo2_percentage")
            assert row["Blood oxygen %"] == ("" if spo2 is None else f"{spo2:.2f}")
        if cycle["score_state"] == "SCORED" and "end" in cycle:
            assert row["Day Strain"] == f"{cycle['score']['strain']:.1f}"
            assert int(row["Energy burned (cal)"]) == round(cycle["score"]["kilojoule"] / 4.184)
            assert row["Max HR (bpm)"] == str(cycle["score"]["max_heart_rate"])
    for row, sleep in zip(files["sleeps.csv"], data.sleeps, strict=True):
        if sleep["score_state"] != "SCORED":
            continue
        stages = sleep["score"]["stage_summary"]
        assert int(row["In bed duration (min)"]) == round(stages["total_in_bed_time_milli"] / 60_000)
        parts = ("Light sleep duration (min)", "Deep (SWS) duration (min)", "REM duration (min)")
        assert abs(sum(int(row[p]) for p in parts) - int(row["Asleep duration (min)"])) <= 2
        assert row["Respiratory rate (rpm)"] == f"{sleep['score']['respiratory_rate']:.1f}"
    names = {"Running", "Cycling", "Weightlifting", "Functional Fitness", "Yoga", "Walking"}
    for row, workout in zip(files["workouts.csv"], data.workouts, strict=True):
        assert row["Activity name"] in names
        minutes = (datetime.fromisoformat(workout["end"]) - datetime.fromisoformat(workout["start"])) / 60
        assert row["Duration (min)"] == str(math.floor(minutes.total_seconds()))
        if workout["score_state"] != "SCORED":
            continue
        score = workout["score"]
        assert row["Activity Strain"] == f"{score['strain']:.1f}"
        assert row["Energy burned (cal)"].endswith(".0")
        assert row["GPS enabled"] == ("true" if "distance_meter" in score else "false")
        assert row["Distance (meters)"] == (
            f"{score['distance_meter']:.2f}" if "distance_meter" in score else ""
        )
        assert 0 <= sum(int(row[f"HR Zone {i} %"]) for i in range(1, 6)) <= 102


def test_unscored_values_and_the_open_cycles_end_are_empty_cells(
    data: FakeDataset, files: dict[str, list[dict[str, str]]]
) -> None:
    cycles = files["physiological_cycles.csv"]
    open_row = cycles[0]
    assert (
        open_row["Cycle end time"] == "" and open_row["Day Strain"] == "" and open_row["Max HR (bpm)"] == ""
    )
    assert open_row["Recovery score %"] != ""
    unscorable = [
        row for row, cycle in zip(cycles, data.cycles, strict=True) if cycle["score_state"] == "UNSCORABLE"
    ]
    assert unscorable and all(row["Day Strain"] == row["Energy burned (cal)"] == "" for row in unscorable)
    assert any(row["Blood oxygen %"] == "" and row["Recovery score %"] != "" for row in cycles)
    unscored_workouts = [
        row
        for row, workout in zip(files["workouts.csv"], data.workouts, strict=True)
        if workout["score_state"] != "SCORED"
    ]
    assert len(unscored_workouts) == 2  # the one still being scored and the unscorable one
    for row in unscored_workouts:
        assert row["Activity Strain"] == row["HR Zone 1 %"] == row["Distance (meters)"] == ""
        assert row["GPS enabled"] == "false" and row["Duration (min)"] != ""
    unscored_sleeps = [
        row
        for row, sleep in zip(files["sleeps.csv"], data.sleeps, strict=True)
        if sleep["score_state"] != "SCORED"
    ]
    assert unscored_sleeps and all(row["Asleep duration (min)"] == "" for row in unscored_sleeps)
    assert all(row["Sleep onset"] and row["Wake onset"] for row in unscored_sleeps)


def test_booleans_are_written_true_or_false_and_the_journal_matches_the_dataset(
    data: FakeDataset, files: dict[str, list[dict[str, str]]]
) -> None:
    assert {row["Nap"] for row in files["sleeps.csv"]} == {"true", "false"}
    assert {row["GPS enabled"] for row in files["workouts.csv"]} == {"true", "false"}
    journal = files["journal_entries.csv"]
    assert {row["Answered yes"] for row in journal} == {"true", "false"}
    assert {row["Question text"] for row in journal} == {question for question, _ in JOURNAL_QUESTIONS}
    assert {row["Notes"] for row in journal} == {""}
    # The cells drop milliseconds, so a cycle is found by its start in whole seconds.
    by_second = {math.floor(datetime.fromisoformat(c["start"]).timestamp()): c["id"] for c in data.cycles}
    for row in journal:
        cycle_id = by_second[int(_utc(row["Cycle start time"], row["Cycle timezone"]).timestamp())]
        assert data.journal[cycle_id][row["Question text"]] == (row["Answered yes"] == "true")
    assert journal[0]["Cycle end time"] == ""  # the open cycle has its answers too


def test_the_export_is_the_same_bytes_for_the_same_dataset_and_a_zip_of_four_files(data: FakeDataset) -> None:
    first = export_zip(data)
    assert export_zip(generate_dataset(seed=7, days=180, now=NOW)) == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == list(export_files(data))
        assert all(archive.read(name) == body for name, body in export_files(data).items())
    assert export_zip(generate_dataset(seed=8, days=180, now=NOW)) != first


def test_write_export_writes_a_zip_for_a_zip_path_and_csv_files_into_a_directory(
    data: FakeDataset, tmp_path: Path
) -> None:
    write_export(data, tmp_path / "nested" / "whoop.zip")
    assert (tmp_path / "nested" / "whoop.zip").read_bytes() == export_zip(data)
    write_export(data, tmp_path / "csvs")
    assert sorted(p.name for p in (tmp_path / "csvs").iterdir()) == sorted(export_files(data))
    assert (tmp_path / "csvs" / "journal_entries.csv").read_bytes() == export_files(data)[
        "journal_entries.csv"
    ]
    (tmp_path / "taken").write_text("a file, not a directory", encoding="utf-8")
    with pytest.raises(OSError):
        write_export(data, tmp_path / "taken")


@pytest.mark.anyio
async def test_the_fake_serves_the_members_current_export_as_a_zip(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, effects=PlantedEffects())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        answer = await client.get("/_fake/export.zip")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/zip"
        assert answer.content == export_zip(fake.data)
        cycle = fake.data.cycles[3]
        rescored = await client.post(
            "/_fake/rescore", json={"kind": "cycle", "id": cycle["id"], "strain": 20.5}
        )
        assert rescored.status_code == 200
        again = await client.get("/_fake/export.zip")
    with zipfile.ZipFile(io.BytesIO(again.content)) as archive:
        rows = _rows(archive.read("physiological_cycles.csv"))
    assert rows[3]["Day Strain"] == "20.5"


@pytest.mark.anyio
async def test_the_export_route_is_absent_without_control_endpoints(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, control_endpoints=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        answer = await client.get("/_fake/export.zip")
    assert answer.status_code == 404


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "whoopkit.fake_whoop", *args],
        cwd=PROJECT,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_the_cli_writes_the_planted_export_as_a_zip(tmp_path: Path) -> None:
    target = tmp_path / "export.zip"
    done = _run(
        "export", str(target), "--days", "40", "--seed", "5", "--planted", "--now", "2026-11-20T15:00:00Z"
    )
    assert done.returncode == 0, done.stderr
    assert b"Wrote the WHOOP export" in done.stderr
    expected = generate_dataset(
        seed=5, days=40, now=datetime(2026, 11, 20, 15, tzinfo=UTC), effects=PlantedEffects()
    )
    assert target.read_bytes() == export_zip(expected)


@pytest.mark.slow
def test_the_cli_says_in_one_sentence_when_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    done = _run("export", str(tmp_path / "file" / "export.zip"), "--days", "3")
    assert done.returncode == 1
    assert b"Cannot write the export" in done.stderr and b"Traceback" not in done.stderr
