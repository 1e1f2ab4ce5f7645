"""``whoopkit export``: CSV with units in the column names, raw JSONL, store only, clear refusals."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli.conftest import Cli
from whoopkit.config import Settings
from whoopkit.tokens import Token

if TYPE_CHECKING:
    from whoopkit.fake_whoop import FakeWhoop
    from whoopkit.service import WhoopService


@pytest.fixture
def synced(cli: Cli, logged_in: Token, fake: FakeWhoop) -> Cli:
    """The CLI after ``sync --days 30``, with the fake's counters zeroed."""
    result = cli("sync", "--days", "30")
    assert result.exit_code == 0, result.stderr
    fake.reset_stats()
    return cli


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def same_instants(value: Any) -> Any:
    """``value`` with ISO timestamps parsed, so ``.872Z`` and ``.872000Z`` compare equal."""
    if isinstance(value, dict):
        return {k: same_instants(v) for k, v in value.items()}
    if isinstance(value, str) and len(value) > 18 and value[10:11] == "T":
        return datetime.fromisoformat(value)
    return value


def test_days_csv_has_one_row_per_day_oldest_first_with_units_in_the_column_names(synced: Cli) -> None:
    result = synced(
        "export", "--kind", "days", "--format", "csv", "--since", "2026-11-14", "--until", "2026-11-20"
    )

    assert result.exit_code == 0, result.stderr
    table = rows(result.stdout)
    assert [r["date"] for r in table] == [f"2026-11-{d}" for d in range(14, 21)]
    for column in ("strain", "energy_kcal", "recovery_pct", "hrv_ms", "resting_hr_bpm", "sleep_hours"):
        assert column in table[0]
    assert float(table[-2]["recovery_pct"]) > 0
    assert "workouts" not in table[0]  # nested rows are summarised as workout_count / workout_sports


@pytest.mark.parametrize(
    ("kind", "columns"),
    [
        ("cycles", {"cycle_id", "day", "strain", "energy_kcal", "avg_hr_bpm"}),
        ("recoveries", {"cycle_id", "day", "recovery_pct", "hrv_ms", "resting_hr_bpm"}),
        ("sleeps", {"sleep_id", "day", "asleep_hours", "in_bed_hours", "rem_minutes"}),
        (
            "workouts",
            {"workout_id", "sport", "duration_minutes", "distance_km", "zone0_minutes", "zone5_minutes"},
        ),
    ],
)
def test_each_kind_exports_one_csv_row_per_record_with_units_in_the_column_names(
    synced: Cli, kind: str, columns: set[str]
) -> None:
    result = synced("export", "--kind", kind, "--format", "csv")

    assert result.exit_code == 0, result.stderr
    table = rows(result.stdout)
    assert len(table) >= 25
    assert columns <= set(table[0])
    assert result.stderr == ""  # fresh store: no note


def test_jsonl_gives_the_raw_whoop_records_with_every_field_whoop_sent(synced: Cli, fake: FakeWhoop) -> None:
    result = synced("export", "--kind", "workouts", "--format", "jsonl", "--since", "2026-11-01")

    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    upstream = {w["id"]: w for w in fake.data.workouts}
    assert records
    assert all(same_instants(r) == same_instants(upstream[r["id"]]) for r in records)
    starts = [r["start"] for r in records]
    assert starts == sorted(starts)  # oldest first
    assert min(starts) >= "2026-10-31"


def test_days_jsonl_gives_one_day_row_per_line(synced: Cli) -> None:
    result = synced("export", "--kind", "days", "--format", "jsonl", "--since", "2026-11-19")

    assert result.exit_code == 0, result.stderr
    days = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["date"] for d in days] == ["2026-11-19", "2026-11-20"]


def test_export_reads_only_the_store_and_never_calls_whoop(synced: Cli, fake: FakeWhoop) -> None:
    fake.set_down(True)
    for kind in ("days", "cycles", "recoveries", "sleeps", "workouts"):
        for fmt in ("csv", "jsonl"):
            assert synced("export", "--kind", kind, "--format", fmt).exit_code == 0
    assert fake.stats.requests == 0 and fake.stats.token_requests == 0


def test_export_writes_to_the_file_given_with_o(synced: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out" / "sleeps.csv"
    target.parent.mkdir()

    result = synced("export", "--kind", "sleeps", "--format", "csv", "-o", str(target))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert rows(target.read_text(encoding="utf-8"))[0]["sleep_id"]
    assert f"to {target}" in result.stderr


def test_an_empty_store_says_to_sync_first_and_exits_1(cli: Cli, logged_in: Token) -> None:
    result = cli("export", "--kind", "days", "--format", "csv")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "whoopkit: nothing synced yet: run `whoopkit sync` first."


def test_data_synced_more_than_a_day_ago_is_exported_with_a_note_on_stderr(
    synced: Cli, fake: FakeWhoop, fake_now: datetime
) -> None:
    from whoopkit.service import build_service

    def later(settings: Settings, demo: bool | None) -> WhoopService:
        return build_service(settings, demo=False, fake=fake, clock=lambda: fake_now + timedelta(days=3))

    result = dataclasses.replace(synced, deps=dataclasses.replace(synced.deps, service=later))(
        "export", "--kind", "cycles", "--format", "csv"
    )

    assert result.exit_code == 0
    assert rows(result.stdout)
    assert "local store (last synced 2026-11-20 15:00 UTC, 3 days ago)" in result.stderr
    assert "whoopkit sync" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-13-01"], "'2026-13-01' is not a date like 2026-11-20"),
        (["--until", "yesterday"], "'yesterday' is not a date like 2026-11-20"),
        (["--since", "20261101"], "is not a date like"),
        (
            ["--since", "2026-11-10", "--until", "2026-11-01"],
            "--since 2026-11-10 is after --until 2026-11-01",
        ),
    ],
)
def test_bad_dates_are_usage_errors_with_exit_code_2(synced: Cli, args: list[str], message: str) -> None:
    result = synced("export", "--kind", "days", "--format", "csv", *args)

    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["--kind", "steps", "--format", "csv"],
        ["--kind", "days", "--format", "xlsx"],
        ["--format", "csv"],
        ["--kind", "days"],
    ],
)
def test_unknown_or_missing_kind_and_format_are_usage_errors(cli: Cli, args: list[str]) -> None:
    result = cli("export", *args)

    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
