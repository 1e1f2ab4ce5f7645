"""``whoopkit sync`` and ``whoopkit status``, in-process on the fake WHOOP."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest

from tests.cli.conftest import Cli
from whoopkit.tokens import Token

if TYPE_CHECKING:
    from whoopkit.fake_whoop import FakeWhoop

COLLECTIONS = ("cycles", "recoveries", "sleeps", "workouts")
SUMMARY = re.compile(r"Synced in [\d.]+ s: (\d+) new, (\d+) updated, (\d+) deleted, (\d+) requests used\.")


def summary(stdout: str) -> tuple[int, ...]:
    match = SUMMARY.search(stdout)
    assert match, stdout
    return tuple(int(n) for n in match.groups())


def test_sync_draws_a_bar_per_collection_and_ends_with_a_summary_line(
    cli: Cli, logged_in: Token, fake: FakeWhoop
) -> None:
    result = cli("sync", "--days", "30")

    assert result.exit_code == 0, result.stderr
    for name in COLLECTIONS:
        assert re.search(rf"^{name}\s+━+\s+\d+/\d+ \d+ records", result.stderr, re.M), result.stderr
        assert re.search(rf"^  {name}\s+\d+ new, 0 updated, 0 deleted, \d+ requests$", result.stdout, re.M)
    new, updated, deleted, requests = summary(result.stdout)
    assert new > 100 and updated == 0 and deleted == 0
    assert 0 < requests <= fake.stats.requests


def test_a_second_sync_reports_a_rescored_record_as_updated_and_a_vanished_one_as_deleted(
    cli: Cli, logged_in: Token, fake: FakeWhoop
) -> None:
    assert cli("sync", "--days", "30").exit_code == 0
    cycles = fake.data.cycles
    fake.rescore("cycle", cycles[2]["id"], strain=12.5)
    fake.delete_record("workout", fake.data.workouts[1]["id"])

    result = cli("sync", "--days", "30")

    assert result.exit_code == 0, result.stderr
    new, updated, deleted, _ = summary(result.stdout)
    assert (new, updated, deleted) == (0, 1, 1)


def test_sync_needs_a_positive_day_count_and_says_so_with_exit_code_2(cli: Cli, logged_in: Token) -> None:
    result = cli("sync", "--days", "0")

    assert result.exit_code == 2
    assert "--days" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_sync_without_a_login_fails_in_one_sentence_with_exit_code_1(cli: Cli) -> None:
    result = cli("sync")

    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("whoopkit: Not logged in to WHOOP")
    assert "whoopkit setup" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


def test_sync_while_whoop_is_down_fails_in_one_sentence_with_exit_code_1(
    cli: Cli, logged_in: Token, fake: FakeWhoop
) -> None:
    fake.set_down(True)

    result = cli("sync", "--days", "3")

    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("whoopkit: ")
    assert "WHOOP" in result.stderr


def test_status_shows_the_login_the_store_and_the_rate_budget(cli: Cli, logged_in: Token) -> None:
    assert cli("sync", "--days", "30").exit_code == 0

    result = cli("status")

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "logged in" in out and "renews itself: yes (offline granted)" in out
    assert "scopes: offline read:body_measurement" in out
    assert str(cli.settings.whoop_data_dir / "whoop.db") in out
    for name in COLLECTIONS:
        assert re.search(
            rf"^  {name}\s+\d+ rows\s+2026-\d\d-\d\d → 2026-11-\d\d\s+synced 2026-11-20 15:00 UTC", out, re.M
        )
    assert re.search(r"\d+ of 100 requests in the last minute, \d+ of 10000 today", out)


def test_status_json_is_one_object_with_login_store_and_rate_budget(cli: Cli, logged_in: Token) -> None:
    assert cli("sync", "--days", "30").exit_code == 0

    result = cli("status", "--json")

    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    data = json.loads(result.stdout)
    assert data["demo"] is False
    assert data["login"]["logged_in"] is True and data["login"]["has_offline_scope"] is True
    assert data["login"]["expires_at"]
    assert "access_token" not in result.stdout and logged_in.access_token not in result.stdout
    store = data["store"]
    assert set(store["collections"]) == set(COLLECTIONS)
    assert all(c["rows"] > 0 for c in store["collections"].values())
    assert store["last_sync"] == "2026-11-20T15:00:00+00:00"
    assert store["size_bytes"] > 0
    assert data["rate_budget"]["per_minute"] == 100 and data["rate_budget"]["last_minute"] > 0


def test_status_before_any_login_says_how_to_log_in_and_succeeds(cli: Cli) -> None:
    result = cli("status")

    assert result.exit_code == 0, result.stderr
    assert "not logged in" in result.stdout and "whoopkit setup" in result.stdout
    assert re.search(r"^  cycles\s+0 rows\s+—\s+synced never", result.stdout, re.M)


@pytest.mark.parametrize("command", ["sync", "status", "doctor", "setup", "export"])
def test_every_command_has_help(cli: Cli, command: str) -> None:
    result = cli(command, "--help")

    assert result.exit_code == 0
    assert f"Usage: whoopkit {command}" in " ".join(result.stdout.split()) or "Usage:" in result.stdout


def test_an_unknown_command_is_a_usage_error(cli: Cli) -> None:
    result = cli("frobnicate")

    assert result.exit_code == 2
    assert "No such command" in result.stderr
