"""The history store on a real PostgreSQL server (a fresh database per test): migrations, upserts, windows,
deletions, sync state, score versions, the app export's tables, and a real sync from the fake giving the
same records and day rows as SQLite. Plus a smoke test of the throwaway Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from tests.conftest import FAKE_NOW, make_settings
from tests.store.test_migration_0002 import KEYS, MODELS, SYNCED, USER, old_row
from tests.store.test_score_history import export_records, journal_rows
from tests.store.test_store import NOW, cycle
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop
from whoopkit.models import Sleep
from whoopkit.service import WhoopService, build_service
from whoopkit.store import COLLECTIONS, HEAD_REVISION, Store, SyncState, to_ms
from whoopkit.store.schema import metadata
from whoopkit.store.store import MIGRATIONS
from whoopkit.tokens import Token, TokenStore

WEEK = (NOW - timedelta(days=30), NOW + timedelta(days=1))


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    opened = Store.open(postgres_url)
    yield opened
    opened.close()


def test_a_new_postgres_database_is_migrated_to_head_with_exactly_the_tables_the_code_describes(
    store: Store,
) -> None:
    assert store.schema_revision() == HEAD_REVISION
    assert store.engine.dialect.name == "postgresql"
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    assert store.integrity_check() is None
    assert store.status(None).size_bytes is None


def test_reopening_a_current_postgres_database_keeps_its_rows(store: Store, postgres_url: str) -> None:
    store.upsert(1, "cycles", [cycle(1)], NOW)
    again = Store.open(postgres_url)
    try:
        assert again.schema_revision() == HEAD_REVISION
        assert [c.id for c in again.records(1, "cycles", *WEEK)] == [1]
    finally:
        again.close()


def test_a_postgres_database_at_0001_is_upgraded_on_open_with_one_score_version_per_record(
    postgres_url: str,
) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    fake = create_fake_whoop(now=FAKE_NOW, days=30)
    data = {kind: list(getattr(fake.data, kind)) for kind in KEYS}
    sleep_starts = {s["id"]: to_ms(Sleep.model_validate(s).start) for s in data["sleeps"]}
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            for kind, raws in data.items():
                conn.execute(metadata.tables[kind].insert(), [old_row(kind, r, sleep_starts) for r in raws])
            conn.execute(metadata.tables["meta"].insert(), [{"key": "local_user_id", "value": str(USER)}])
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    finally:
        engine.dispose()

    store = Store.open(postgres_url)
    try:
        assert store.schema_revision() == HEAD_REVISION
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        versions = store.score_versions(USER, FAKE_NOW - timedelta(days=60), FAKE_NOW + timedelta(days=1))
        for kind, raws in data.items():
            mine = {v.record_key: v for v in versions if v.kind == kind}
            assert len(mine) == len(raws) == len([v for v in versions if v.kind == kind]), kind
            for raw in raws:
                v = mine[str(raw[KEYS[kind]])]
                assert (v.score_state, v.score) == (raw["score_state"], raw.get("score")), (kind, raw)
                assert v.seen_ms == to_ms(SYNCED)
                assert v.updated_ms == to_ms(MODELS[kind].model_validate(raw).updated_at)
        assert store.local_user_id() == USER
    finally:
        store.close()


def test_on_postgres_a_record_is_stored_once_and_only_a_newer_copy_replaces_it(store: Store) -> None:
    first = store.upsert(1, "cycles", [cycle(1), cycle(2)], NOW)
    again = store.upsert(1, "cycles", [cycle(1), cycle(2)], NOW)
    rescored = store.upsert(1, "cycles", [cycle(1, strain=14.0, updated=NOW + timedelta(hours=1))], NOW)
    stale = store.upsert(1, "cycles", [cycle(1, strain=9.0, updated=NOW - timedelta(hours=1))], NOW)
    assert (first.new, first.updated, first.unchanged) == (2, 0, 0)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)
    assert (rescored.updated, stale.unchanged) == (1, 1)
    kept = {c.id: c for c in store.records(1, "cycles", *WEEK)}
    assert set(kept) == {1, 2}
    assert kept[1].score is not None and kept[1].score.strain == 14.0


def test_on_postgres_records_missing_from_a_listed_window_are_deleted_and_users_stay_apart(
    store: Store,
) -> None:
    store.upsert(1, "cycles", [cycle(1, days_ago=1), cycle(2, days_ago=2), cycle(3, days_ago=20)], NOW)
    store.upsert(2, "cycles", [cycle(1), cycle(2)], NOW)
    assert store.delete_missing(1, "cycles", to_ms(NOW - timedelta(days=7)), to_ms(NOW), [1]) == 1
    assert {c.id for c in store.records(1, "cycles", *WEEK)} == {1, 3}
    assert {c.id for c in store.records(2, "cycles", *WEEK)} == {1, 2}
    store.delete_user(2)
    assert store.records(2, "cycles", *WEEK) == []
    assert {c.id for c in store.records(1, "cycles", *WEEK)} == {1, 3}


def test_on_postgres_committed_windows_upsert_delete_and_advance_the_sync_state_and_status(
    store: Store,
) -> None:
    store.upsert(1, "cycles", [cycle(9, days_ago=3)], NOW)
    lo, mid, hi = (to_ms(NOW - timedelta(days=d)) for d in (10, 5, 0))
    results = store.commit_windows(
        1,
        "cycles",
        [
            (mid, hi, [cycle(1, days_ago=1), cycle(2, days_ago=2)], None, True, None),
            (lo, mid, [cycle(7, days_ago=7)], None, False, None),
        ],
        NOW,
    )
    assert [(done.new, deleted) for done, deleted in results] == [(2, 1), (1, 0)]
    state = store.sync_state(1, "cycles")
    assert state.intervals == [(lo, hi)]
    assert state.last_success_ms == to_ms(NOW)
    state.complete = True
    store.save_sync_state(1, "cycles", state)
    assert store.sync_state(1, "cycles") == SyncState([(lo, hi)], True, to_ms(NOW), to_ms(NOW), None)
    status = store.status(1).collections["cycles"]
    assert (status.rows, status.complete, status.last_sync) == (3, True, NOW)
    assert status.oldest == NOW - timedelta(days=7) and status.newest == NOW - timedelta(days=1)
    assert store.data_version() >= 2


def test_on_postgres_a_re_score_keeps_both_score_versions_oldest_first(store: Store) -> None:
    store.upsert(1, "cycles", [cycle(1, strain=10.0)], NOW)
    store.upsert(1, "cycles", [cycle(1, strain=10.0)], NOW)
    later = NOW + timedelta(hours=2)
    store.upsert(1, "cycles", [cycle(1, strain=15.5, updated=later)], later)
    [first, second] = store.score_versions(1, *WEEK)
    assert (first.record_key, second.record_key) == ("1", "1")
    assert first.score is not None and first.score["strain"] == 10.0
    assert second.score is not None and second.score["strain"] == 15.5
    [changed] = {v.record_key for v in store.score_versions(1, *WEEK, rescored_only=True)}
    assert changed == "1"


def test_on_postgres_an_app_export_imported_twice_is_stored_once_with_its_journal(store: Store) -> None:
    start = NOW - timedelta(days=20)
    first = store.save_import(1, export_records(start, 10), journal_rows(start, 10), "export.zip", start)
    again = store.save_import(1, export_records(start, 10), journal_rows(start, 10), "export.zip", start)
    assert (first.new["cycles"], first.new["journal"]) == (10, 20)
    assert again.unchanged == {"cycles": 10, "recoveries": 0, "sleeps": 0, "workouts": 0, "journal": 20}
    assert len(store.imported_records(1, "cycles", start, start + timedelta(days=30))) == 10
    journal = store.journal(1, start, start + timedelta(days=30))
    assert len(journal) == 20
    assert sum(row.answered_yes for row in journal) == 10


def test_two_stores_on_one_postgres_database_write_at_once_without_losing_rows(postgres_url: str) -> None:
    a, b = Store.open(postgres_url), Store.open(postgres_url)
    try:
        errors: list[BaseException] = []

        def write(s: Store, base: int) -> None:
            try:
                for i in range(40):
                    s.upsert(1, "cycles", [cycle(base + i)], NOW)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(s, base)) for s, base in ((a, 0), (b, 1000))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert len(a.records(1, "cycles", *WEEK)) == 80
    finally:
        a.close()
        b.close()


# ------------------------------------------------------------------ a real sync from the fake


def _service(root: Path, fake: FakeWhoop, **overrides: object) -> WhoopService:
    settings = make_settings(root, **overrides)
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    return build_service(settings, demo=False, fake=fake, clock=lambda: FAKE_NOW)


def _everything(service: WhoopService) -> dict[str, Any]:
    today = service.today()
    raws = {
        kind: sorted(service.stored_raw(kind, None, None), key=lambda r: str(r.get("id", r.get("cycle_id"))))
        for kind in COLLECTIONS
    }
    versions = service.store.score_versions(
        int(raws["cycles"][0]["user_id"]), FAKE_NOW - timedelta(days=60), FAKE_NOW + timedelta(days=1)
    )
    return {
        "raw": raws,
        "days": service.stored_days(today - timedelta(days=40), today),
        "versions": sorted((v.kind, v.record_key, v.updated_ms, v.score_state) for v in versions),
    }


@pytest.mark.anyio
async def test_a_sync_from_the_fake_into_postgres_stores_the_same_records_and_day_rows_as_sqlite(
    tmp_path: Path, fake: FakeWhoop, postgres_url: str, clean_env: None
) -> None:
    on_pg = _service(tmp_path / "pg", fake, WHOOP_DATABASE_URL=postgres_url)
    on_sqlite = _service(tmp_path / "sqlite", fake)
    try:
        assert on_pg.store.engine.dialect.name == "postgresql"
        assert on_sqlite.store.engine.dialect.name == "sqlite"
        first = await on_pg.sync(days=30)
        await on_sqlite.sync(days=30)
        got, want = _everything(on_pg), _everything(on_sqlite)
        assert first.new > 0 and len(got["days"]) >= 29
        assert got == want

        recovery = next(r for r in fake.data.recoveries[2:] if r["score_state"] == "SCORED")
        fake.rescore("recovery", recovery["cycle_id"], recovery_score=recovery["score"]["recovery_score"] / 2)
        again = await on_pg.sync(days=30)
        await on_sqlite.sync(days=30)
        assert again.updated >= 1
        assert _everything(on_pg) == _everything(on_sqlite) != got
        status = on_pg.store_status()
        assert all(status.collections[k].rows == len(got["raw"][k]) for k in COLLECTIONS)
        assert postgres_url.split("@")[1] in status.location
    finally:
        await on_pg.aclose()
        await on_sqlite.aclose()


# ------------------------------------------------------------------ Redis


def test_the_throwaway_redis_answers_ping_and_runs_an_atomic_lua_script(redis_url: str) -> None:
    import redis

    # The shape of a shared rate budget: take one token if any are left, atomically.
    take = """
    local left = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
    if left <= 0 then return -1 end
    redis.call('SET', KEYS[1], left - 1, 'EX', 60)
    return left - 1
    """
    with redis.Redis.from_url(redis_url, socket_timeout=5) as client:
        assert client.ping() is True
        assert client.dbsize() == 0
        script = client.register_script(take)
        assert [script(keys=["budget"], args=[3]) for _ in range(5)] == [2, 1, 0, -1, -1]
        assert 0 < int(client.ttl("budget")) <= 60
