"""``whoopkit import``: per-file rows and columns, store counts, dry runs, and one-sentence refusals."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cli.conftest import Cli
from whoopkit.config import PROJECT_ROOT
from whoopkit.fake_whoop.export import export_files, export_zip
from whoopkit.models import UserBasicProfile
from whoopkit.store import Store
from whoopkit.tokens import Token

if TYPE_CHECKING:
    from whoopkit.config import Settings
    from whoopkit.fake_whoop import FakeWhoop
    from whoopkit.service import WhoopService


@pytest.fixture
def export(tmp_path: Path, fake: FakeWhoop) -> Path:
    """The fake member's export zip (180 days)."""
    path = tmp_path / "my_whoop_data.zip"
    path.write_bytes(export_zip(fake.data))
    return path


@pytest.fixture
def broken(tmp_path: Path, fake: FakeWhoop) -> Path:
    """The export with a time on line 5 of sleeps.csv that is no time."""
    files = export_files(fake.data)
    rows = list(csv.reader(io.StringIO(files["sleeps.csv"].decode("utf-8"), newline="")))
    rows[4][rows[0].index("Sleep onset")] = "yesterday"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path = tmp_path / "broken.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in {**files, "sleeps.csv": out.getvalue().encode("utf-8")}.items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def synced(cli: Cli, logged_in: Token, fake: FakeWhoop) -> Cli:
    """The CLI after ``sync --days 30``, counters zeroed."""
    result = cli("sync", "--days", "30")
    assert result.exit_code == 0, result.stderr
    fake.reset_stats()
    return cli


def journal_known(cli: Cli, factory: Callable[[Settings, bool | None], WhoopService]) -> bool:
    """Whether the CLI's store holds a journal (asked through the service, as the faces do)."""
    import anyio

    async def ask() -> bool:
        service = factory(cli.settings, False)
        try:
            return service.has_journal()
        finally:
            await service.aclose()

    return anyio.run(ask)


def test_import_shows_per_file_rows_columns_questions_and_what_the_store_gained(
    synced: Cli, export: Path, fake: FakeWhoop
) -> None:
    result = synced("import", str(export))

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert f"{export}/physiological_cycles.csv" in out and "180 rows read → 180 cycles, 180 recoveries" in out
    assert "columns used (26): Cycle start time, Cycle end time, Cycle timezone, Recovery score %" in out
    assert "columns ignored (1): GPS enabled" in out
    assert "journal questions (6): Ate food close to bedtime?; Have any alcoholic drinks?;" in out
    assert "cycles      180 new, 0 updated, 0 unchanged; 33 matched to API records" in out
    assert "journal     1080 new, 0 updated, 0 unchanged; 198 tied to API cycles" in out
    assert "the API's numbers are the ones shown" in result.stderr
    assert fake.stats.requests == 0  # the account was known: WHOOP was not needed

    again = synced("import", str(export))
    assert "cycles      0 new, 0 updated, 180 unchanged; 33 matched to API records" in again.stdout


def test_a_dry_run_reports_the_same_files_and_writes_nothing(
    synced: Cli, export: Path, service_factory: Callable[[Settings, bool | None], WhoopService]
) -> None:
    result = synced("import", "--dry-run", str(export))

    assert result.exit_code == 0, result.stderr
    assert "Dry run: nothing was written" in result.stdout
    assert "journal     1080 read; 198 tied to API cycles" in result.stdout
    assert not journal_known(synced, service_factory)

    assert synced("import", str(export)).exit_code == 0
    assert journal_known(synced, service_factory)


def test_json_prints_one_object_with_the_files_counts_and_matches(synced: Cli, export: Path) -> None:
    result = synced("import", "--json", str(export))

    assert result.exit_code == 0, result.stderr
    [line] = result.stdout.splitlines()
    report = json.loads(line)
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert files["workouts.csv"]["columns_ignored"] == ["GPS enabled"]
    assert files["physiological_cycles.csv"]["rows"] == 180
    assert report["new"]["journal"] == 1080 and report["matched"]["cycles"] == 33
    assert report["dry_run"] is False and report["skipped"] == 0


def test_a_malformed_file_exits_1_with_one_sentence_naming_file_and_line_and_imports_nothing(
    synced: Cli,
    broken: Path,
    export: Path,
    service_factory: Callable[[Settings, bool | None], WhoopService],
) -> None:
    result = synced("import", str(broken))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.replace("\n", " ").strip() == (
        f"whoopkit: cannot import {broken}/sleeps.csv, line 5: 'yesterday' in column 'Sleep onset' is not "
        "a time like 2026-11-20 07:15:00; nothing was imported."
    )
    assert not journal_known(synced, service_factory)
    # Nothing half-written: the good export afterwards is entirely new.
    assert "journal     1080 new" in synced("import", str(export)).stdout


def test_a_missing_path_and_an_unknown_account_exit_1_with_one_sentence(cli: Cli, export: Path) -> None:
    missing = cli("import", str(export.with_name("nope.zip")))
    assert missing.exit_code == 1
    assert missing.stderr.strip() == (
        f"whoopkit: cannot import {export.with_name('nope.zip')}: there is no such file or directory; "
        "nothing was imported."
    )

    unknown = cli("import", str(export))
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("whoopkit: No WHOOP account is known yet")
    assert "Traceback" not in unknown.stderr


@pytest.mark.slow
def test_python_m_whoopkit_import_runs_as_a_process_without_reaching_whoop(
    tmp_path: Path, export: Path, broken: Path
) -> None:
    data = tmp_path / "data"
    store = Store.open(f"sqlite:///{data / 'whoop.db'}")
    try:
        profile = UserBasicProfile(user_id=10129, email="a@example.com", first_name="A", last_name="R")
        store.save_profile(profile, datetime.now().astimezone())
    finally:
        store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHOOP_", "OLLAMA_", "WHOOPKIT_"))}
    env.update(
        # Nothing listens there: the import must not need WHOOP once the account is known.
        WHOOP_API_BASE_URL="http://127.0.0.1:9/developer",
        WHOOP_OAUTH_BASE_URL="http://127.0.0.1:9/oauth/oauth2",
        WHOOP_CLIENT_ID="client",
        WHOOP_CLIENT_SECRET="secret",
        WHOOP_TOKEN_CACHE=str(tmp_path / "token.json"),
        WHOOP_DATA_DIR=str(data),
        WHOOP_DATABASE_URL="",
        WHOOP_DEMO="0",
        COLUMNS="200",
    )

    def whoopkit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "whoopkit", *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
            check=False,
        )

    bad = whoopkit("import", str(broken))
    assert bad.returncode == 1
    assert f"{broken}/sleeps.csv, line 5:" in bad.stderr and "nothing was imported" in bad.stderr
    assert "Traceback" not in bad.stderr

    good = whoopkit("import", str(export))
    assert good.returncode == 0, good.stderr
    assert "journal     1080 new, 0 updated, 0 unchanged; 0 tied to API cycles" in good.stdout
    assert "workouts    144 new" in good.stdout
