"""Migration 0002 on a real database written at revision 0001: upgraded on open, one score version back-filled
per stored record, and every row that was there still there."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from tests.conftest import FAKE_NOW
from whoopkit.fake_whoop import create_fake_whoop
from whoopkit.models import Cycle, Recovery, Sleep, Workout
from whoopkit.store import HEAD_REVISION, Store, to_ms
from whoopkit.store.schema import metadata
from whoopkit.store.store import MIGRATIONS

USER = 10129
SYNCED = FAKE_NOW - timedelta(days=1)
OLD_TABLES = (
    "cycles",
    "recoveries",
    "sleeps",
    "workouts",
    "profiles",
    "body_measurements",
    "sync_state",
    "meta",
)
MODELS: dict[str, Any] = {"cycles": Cycle, "recoveries": Recovery, "sleeps": Sleep, "workouts": Workout}
KEYS = {"cycles": "id", "recoveries": "cycle_id", "sleeps": "id", "workouts": "id"}


def compact(raw: dict[str, Any]) -> str:
    return json.dumps(raw, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def old_row(kind: str, raw: dict[str, Any], sleep_starts: dict[str, int]) -> dict[str, Any]:
    """A row as whoopkit at revision 0001 stored it (metric columns left empty: nothing reads them here)."""
    record = MODELS[kind].model_validate(raw)
    row: dict[str, Any] = {
        "user_id": USER,
        "score_state": str(record.score_state),
        "created_ms": to_ms(record.created_at),
        "updated_ms": to_ms(record.updated_at),
        "raw": compact(raw),
        "synced_ms": to_ms(SYNCED),
    }
    if kind == "recoveries":
        row |= {"cycle_id": record.cycle_id, "sleep_id": str(record.sleep_id)}
        row["start_ms"] = sleep_starts[str(record.sleep_id)]
        return row
    row |= {
        "id": record.id if kind == "cycles" else str(record.id),
        "start_ms": to_ms(record.start),
        "timezone_offset": record.timezone_offset,
    }
    if kind == "cycles":
        row["end_ms"] = to_ms(record.end) if record.end else None
    elif kind == "sleeps":
        row |= {"end_ms": to_ms(record.end), "cycle_id": record.cycle_id, "nap": record.nap}
    else:
        row |= {"end_ms": to_ms(record.end), "sport_name": record.sport_name}
    return row


@pytest.fixture
def old_database(tmp_path: Path) -> tuple[Path, dict[str, list[dict[str, Any]]]]:
    """A SQLite file migrated to 0001 only, holding 30 days of the fake's records; and those records."""
    path = tmp_path / "whoop.db"
    engine = create_engine(f"sqlite:///{path}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    fake = create_fake_whoop(now=FAKE_NOW, days=30)
    data = {kind: list(getattr(fake.data, kind)) for kind in KEYS}
    data["recoveries"][0] = {**data["recoveries"][0], "score_state": "PENDING_SCORE"}
    data["recoveries"][0].pop("score", None)
    sleep_starts = {s["id"]: to_ms(Sleep.model_validate(s).start) for s in data["sleeps"]}
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        for kind, raws in data.items():
            table = metadata.tables[kind]
            conn.execute(table.insert(), [old_row(kind, raw, sleep_starts) for raw in raws])
        conn.execute(metadata.tables["meta"].insert(), [{"key": "local_user_id", "value": str(USER)}])
    engine.dispose()
    return path, data


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        return {name: sorted(conn.execute(f"SELECT * FROM {name}").fetchall()) for name in OLD_TABLES}


def test_a_0001_database_is_upgraded_on_open_with_one_version_per_record_and_nothing_lost(
    old_database: tuple[Path, dict[str, list[dict[str, Any]]]],
) -> None:
    path, data = old_database
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    before = dump(path)
    store = Store.open(f"sqlite:///{path}")
    try:
        assert store.schema_revision() == HEAD_REVISION
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            assert conn.execute(text("SELECT count(*) FROM imported_records")).scalar() == 0
            assert conn.execute(text("SELECT count(*) FROM journal_entries")).scalar() == 0
        after = dump(path)
        after["meta"] = [row for row in after["meta"] if row[0] != "data_version"]
        assert after == before

        versions = store.score_versions(USER, FAKE_NOW - timedelta(days=60), FAKE_NOW + timedelta(days=1))
        for kind, raws in data.items():
            mine = {v.record_key: v for v in versions if v.kind == kind}
            assert len([v for v in versions if v.kind == kind]) == len(raws) == len(mine), kind
            for raw in raws:
                v = mine[str(raw[KEYS[kind]])]
                assert (v.score_state, v.score) == (raw["score_state"], raw.get("score")), (kind, raw)
                assert v.seen_ms == to_ms(SYNCED)
                assert v.updated_ms == to_ms(MODELS[kind].model_validate(raw).updated_at)
    finally:
        store.close()


def test_a_record_touched_without_a_new_score_after_the_upgrade_adds_no_version(
    old_database: tuple[Path, dict[str, list[dict[str, Any]]]],
) -> None:
    path, data = old_database
    store = Store.open(f"sqlite:///{path}")
    try:
        span = (FAKE_NOW - timedelta(days=60), FAKE_NOW + timedelta(days=1))
        count = len(store.score_versions(USER, *span))
        # WHOOP moved updated_at but kept the score: the back-filled version's text must match sync's.
        later = FAKE_NOW + timedelta(hours=1)
        touched = [
            {**raw, "updated_at": later.isoformat()}
            for raw in data["sleeps"]
            if raw["score_state"] == "SCORED"
        ][:5]
        done = store.upsert(USER, "sleeps", [Sleep.model_validate(r) for r in touched], later, touched)
        assert done.updated == 5
        assert len(store.score_versions(USER, *span)) == count
        rescored = [{**touched[0], "updated_at": (later + timedelta(hours=1)).isoformat()}]
        rescored[0]["score"] = {**rescored[0]["score"], "sleep_performance_percentage": 12.0}
        store.upsert(USER, "sleeps", [Sleep.model_validate(r) for r in rescored], later, rescored)
        assert len(store.score_versions(USER, *span)) == count + 1
    finally:
        store.close()
