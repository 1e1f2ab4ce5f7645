"""The history store on a real SQLite file: schema, upserts, corruption, newer schemas, concurrency."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from whoopkit.config import PROJECT_ROOT
from whoopkit.errors import StoreError
from whoopkit.models import Cycle
from whoopkit.store import HEAD_REVISION, Store, SyncState, to_ms
from whoopkit.store.schema import metadata
from whoopkit.store.store import MIGRATIONS

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def cycle(cycle_id: int, *, strain: float = 10.0, updated: datetime = NOW, days_ago: int = 1) -> Cycle:
    start = NOW - timedelta(days=days_ago)
    return Cycle.model_validate(
        {
            "id": cycle_id,
            "user_id": 10129,
            "created_at": start.isoformat(),
            "updated_at": updated.isoformat(),
            "start": start.isoformat(),
            "end": (start + timedelta(hours=23)).isoformat(),
            "timezone_offset": "-05:00",
            "score_state": "SCORED",
            "score": {"strain": strain, "kilojoule": 8000.0, "average_heart_rate": 60, "max_heart_rate": 150},
        }
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "whoop.db"


@pytest.fixture
def store(db_path: Path) -> Store:
    opened = Store.open(f"sqlite:///{db_path}")
    yield opened  # type: ignore[misc]
    opened.close()


def test_the_migrations_create_exactly_the_tables_the_code_describes(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_the_head_revision_constant_names_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_a_new_store_is_at_the_head_revision_with_a_private_file_in_wal_mode(
    store: Store, db_path: Path
) -> None:
    assert store.schema_revision() == HEAD_REVISION
    assert store.integrity_check() is None
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_opening_a_current_database_does_not_import_alembic(store: Store, db_path: Path) -> None:
    code = (
        "import sys; from whoopkit.store import Store; "
        f"Store.open('sqlite:///{db_path}').close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_a_record_delivered_twice_is_stored_once(store: Store) -> None:
    first = store.upsert(1, "cycles", [cycle(1), cycle(2)], NOW)
    again = store.upsert(1, "cycles", [cycle(1), cycle(2)], NOW)
    assert (first.new, first.updated, first.unchanged) == (2, 0, 0)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)
    assert len(store.records(1, "cycles", NOW - timedelta(days=30), NOW)) == 2


def test_a_newer_copy_replaces_the_stored_one_and_an_older_copy_never_does(store: Store) -> None:
    store.upsert(1, "cycles", [cycle(1, strain=10.0)], NOW)
    rescored = store.upsert(1, "cycles", [cycle(1, strain=14.0, updated=NOW + timedelta(hours=1))], NOW)
    stale = store.upsert(1, "cycles", [cycle(1, strain=9.0, updated=NOW - timedelta(hours=1))], NOW)
    assert rescored.updated == 1
    assert stale.unchanged == 1
    [kept] = store.records(1, "cycles", NOW - timedelta(days=30), NOW)
    assert kept.score is not None and kept.score.strain == 14.0


def test_records_missing_from_a_listed_window_are_deleted_and_others_kept(store: Store) -> None:
    store.upsert(1, "cycles", [cycle(1, days_ago=1), cycle(2, days_ago=2), cycle(3, days_ago=20)], NOW)
    deleted = store.delete_missing(1, "cycles", to_ms(NOW - timedelta(days=7)), to_ms(NOW), [1])
    assert deleted == 1
    left = {c.id for c in store.records(1, "cycles", NOW - timedelta(days=30), NOW)}
    assert left == {1, 3}


def test_one_users_rows_are_invisible_to_another_and_deleting_a_user_removes_only_theirs(
    store: Store,
) -> None:
    store.upsert(1, "cycles", [cycle(1)], NOW)
    store.upsert(2, "cycles", [cycle(1), cycle(2)], NOW)
    assert len(store.records(1, "cycles", NOW - timedelta(days=9), NOW)) == 1
    store.delete_user(2)
    assert store.records(2, "cycles", NOW - timedelta(days=9), NOW) == []
    assert len(store.records(1, "cycles", NOW - timedelta(days=9), NOW)) == 1


def test_a_corrupt_database_file_is_moved_aside_and_a_fresh_store_opens(db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database" * 100)
    opened = Store.open(f"sqlite:///{db_path}")
    try:
        assert opened.recovered_from is not None
        assert Path(opened.recovered_from).read_bytes().startswith(b"this is not a database")
        assert opened.schema_revision() == HEAD_REVISION
        assert opened.status(None).recovered_from == opened.recovered_from
    finally:
        opened.close()


def test_a_database_from_a_newer_whoopkit_is_refused_in_one_sentence_and_left_alone(
    store: Store, db_path: Path
) -> None:
    store.close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    before = db_path.read_bytes()
    with pytest.raises(StoreError) as raised:
        Store.open(f"sqlite:///{db_path}")
    message = str(raised.value)
    assert "newer whoopkit" in message and "9999" in message and "\n" not in message
    assert db_path.read_bytes() == before


def test_an_unopenable_location_is_a_store_error_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(StoreError):
        Store.open(f"sqlite:///{blocker}/sub/whoop.db")


def test_readers_are_not_blocked_while_another_connection_holds_a_write_transaction(
    store: Store, db_path: Path
) -> None:
    store.upsert(1, "cycles", [cycle(1)], NOW)
    writer = sqlite3.connect(db_path, timeout=10)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM cycles")
    got: list[int] = []
    reader = threading.Thread(
        target=lambda: got.append(len(store.records(1, "cycles", NOW - timedelta(days=9), NOW)))
    )
    reader.start()
    reader.join(timeout=5)
    try:
        assert not reader.is_alive(), "a reader waited for the writer"
        assert got == [1]  # the snapshot from before the uncommitted delete
    finally:
        writer.rollback()
        writer.close()


def test_two_stores_on_one_file_write_in_turn_without_losing_rows(db_path: Path) -> None:
    a, b = Store.open(f"sqlite:///{db_path}"), Store.open(f"sqlite:///{db_path}")
    try:
        errors: list[BaseException] = []

        def write(s: Store, base: int) -> None:
            try:
                for i in range(40):
                    s.upsert(1, "cycles", [cycle(base + i)], NOW)
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=write, args=(a, 0)),
            threading.Thread(target=write, args=(b, 1000)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert len(a.records(1, "cycles", NOW - timedelta(days=9), NOW)) == 80
    finally:
        a.close()
        b.close()


def test_sync_state_intervals_merge_and_report_their_gaps_newest_first() -> None:
    state = SyncState()
    state.add(10, 20)
    state.add(30, 40)
    state.add(20, 25)
    assert state.intervals == [(10, 25), (30, 40)]
    assert state.gaps(0, 50) == [(40, 50), (25, 30), (0, 10)]
    assert state.gaps(12, 24) == []
    assert (state.covered_from, state.covered_to) == (10, 40)


def test_the_database_file_stays_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        opened = Store.open(f"sqlite:///{tmp_path / 'w.db'}")
        opened.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "w.db").stat().st_mode) == 0o600
